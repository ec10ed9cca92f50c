#include "stack/wire/icmpv4.h"

#include <cassert>

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"

namespace netshim {

std::optional<IcmpHeader> IcmpHeader::Parse(std::span<const uint8_t> message) {
  if (message.size() < kIcmpHeaderSize) return std::nullopt;
  const uint8_t* p = message.data();
  IcmpHeader h;
  h.type = p[0];
  h.code = p[1];
  h.checksum = Load16(p + 2);
  h.rest = Load32(p + 4);
  return h;
}

void IcmpHeader::WriteWithBodySum(std::span<uint8_t> out, uint64_t body_sum) const {
  assert(out.size() >= kIcmpHeaderSize);
  uint8_t* p = out.data();
  p[0] = type;
  p[1] = code;
  Store16(p + 2, 0);
  Store32(p + 4, rest);
  Store16(p + 2, ChecksumFinish(ChecksumAdd({p, kIcmpHeaderSize}, body_sum)));
}

void IcmpHeader::Write(std::span<uint8_t> out, std::span<const uint8_t> body) const {
  WriteWithBodySum(out, ChecksumAdd(body));
}

std::optional<IcmpError> IcmpError::Parse(const IcmpHeader& header, std::span<const uint8_t> body) {
  const auto type = static_cast<IcmpType>(header.type);
  if (type != IcmpType::kDestUnreachable && type != IcmpType::kTimeExceeded &&
      type != IcmpType::kParameterProblem) {
    return std::nullopt;
  }
  IcmpError e;
  if (!Ipv4Header::ParseQuoted(body, &e.original)) return std::nullopt;
  const size_t ihl = e.original.header_length;
  if (body.size() < ihl + 8) return std::nullopt;  // RFC 792: header + 64 bits of data
  e.type = type;
  e.code = header.code;
  if (type == IcmpType::kDestUnreachable &&
      header.code == static_cast<uint8_t>(IcmpUnreachCode::kFragmentationNeeded)) {
    e.next_hop_mtu = static_cast<uint16_t>(header.rest & 0xffff);
  }
  e.original_payload = body.subspan(ihl);
  return e;
}

}  // namespace netshim
