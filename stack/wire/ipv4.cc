#include "stack/wire/ipv4.h"

#include <cassert>

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"

namespace netshim {

std::string_view Ipv4ParseErrorName(Ipv4ParseError e) {
  switch (e) {
    case Ipv4ParseError::kOk:
      return "ok";
    case Ipv4ParseError::kTruncated:
      return "truncated";
    case Ipv4ParseError::kBadVersion:
      return "bad version";
    case Ipv4ParseError::kBadHeaderLength:
      return "bad header length";
    case Ipv4ParseError::kBadTotalLength:
      return "bad total length";
    case Ipv4ParseError::kBadChecksum:
      return "bad checksum";
  }
  return "?";
}

Ipv4ParseError Ipv4Header::Parse(std::span<const uint8_t> bytes, Ipv4Header* out) {
  if (bytes.size() < kIpv4MinHeaderSize) return Ipv4ParseError::kTruncated;
  const uint8_t* p = bytes.data();
  if ((p[0] >> 4) != 4) return Ipv4ParseError::kBadVersion;
  const size_t ihl = size_t{p[0] & 0x0fu} * 4;
  if (ihl < kIpv4MinHeaderSize) return Ipv4ParseError::kBadHeaderLength;
  const uint16_t total = Load16(p + 2);
  if (total < ihl) return Ipv4ParseError::kBadTotalLength;
  if (bytes.size() < ihl || bytes.size() < total) return Ipv4ParseError::kTruncated;
  // RFC 1122 3.2.1.2: silently discard a datagram whose header checksum is wrong.
  if (InternetChecksum(bytes.first(ihl)) != 0) return Ipv4ParseError::kBadChecksum;

  Decode(p, ihl, out);
  return Ipv4ParseError::kOk;
}

bool Ipv4Header::ParseQuoted(std::span<const uint8_t> bytes, Ipv4Header* out) {
  if (bytes.size() < kIpv4MinHeaderSize) return false;
  const uint8_t* p = bytes.data();
  const size_t ihl = size_t{p[0] & 0x0fu} * 4;
  if ((p[0] >> 4) != 4 || ihl < kIpv4MinHeaderSize || bytes.size() < ihl) return false;
  Decode(p, ihl, out);
  return true;
}

void Ipv4Header::Decode(const uint8_t* p, size_t ihl, Ipv4Header* out) {
  Ipv4Header& h = *out;
  h.header_length = static_cast<uint8_t>(ihl);
  h.tos = p[1];
  h.total_length = Load16(p + 2);
  h.id = Load16(p + 4);
  const uint16_t frag = Load16(p + 6);
  h.dont_fragment = (frag & 0x4000) != 0;
  h.more_fragments = (frag & 0x2000) != 0;
  h.fragment_offset = static_cast<uint16_t>((frag & 0x1fff) * 8);
  h.ttl = p[8];
  h.protocol = p[9];
  h.checksum = Load16(p + 10);
  h.src.value = Load32(p + 12);
  h.dst.value = Load32(p + 16);
}

void Ipv4Header::Write(std::span<uint8_t> out) const {
  assert(out.size() >= kIpv4MinHeaderSize);
  assert(fragment_offset % 8 == 0);
  uint8_t* p = out.data();
  p[0] = 0x45;
  p[1] = tos;
  Store16(p + 2, total_length);
  Store16(p + 4, id);
  uint16_t frag = static_cast<uint16_t>(fragment_offset / 8);
  if (dont_fragment) frag |= 0x4000;
  if (more_fragments) frag |= 0x2000;
  Store16(p + 6, frag);
  p[8] = ttl;
  p[9] = protocol;
  Store16(p + 10, 0);
  Store32(p + 12, src.value);
  Store32(p + 16, dst.value);
  Store16(p + 10, InternetChecksum({p, kIpv4MinHeaderSize}));
}

}  // namespace netshim
