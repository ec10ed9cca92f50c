#include "stack/wire/udp.h"

#include <cassert>

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"

namespace netshim {
namespace {

constexpr uint8_t kProtocolUdp = static_cast<uint8_t>(IpProtocol::kUdp);

// RFC 768: "If the computed checksum is zero, it is transmitted as all ones".
uint16_t FinishUdp(uint64_t sum) {
  const uint16_t c = ChecksumFinish(sum);
  return c == 0 ? 0xffff : c;
}

}  // namespace

UdpParseError UdpHeader::Parse(std::span<const uint8_t> segment, UdpHeader* out) {
  if (segment.size() < kUdpHeaderSize) return UdpParseError::kTruncated;
  const uint8_t* p = segment.data();
  out->src_port = Load16(p);
  out->dst_port = Load16(p + 2);
  out->length = Load16(p + 4);
  out->checksum = Load16(p + 6);
  // Linux __udp4_lib_rcv: "ulen > skb->len" or "ulen < sizeof(*uh)" is a short packet.
  if (out->length < kUdpHeaderSize || out->length > segment.size()) {
    return UdpParseError::kBadLength;
  }
  return UdpParseError::kOk;
}

void UdpHeader::Write(std::span<uint8_t> out) const {
  assert(out.size() >= kUdpHeaderSize);
  uint8_t* p = out.data();
  Store16(p, src_port);
  Store16(p + 2, dst_port);
  Store16(p + 4, length);
  Store16(p + 6, checksum);
}

void UdpHeader::WriteWithChecksum(std::span<uint8_t> out, Ipv4Address src, Ipv4Address dst,
                                  uint64_t payload_sum) const {
  UdpHeader h = *this;
  h.checksum = 0;
  h.Write(out);
  uint64_t sum = PseudoHeaderSum(src, dst, kProtocolUdp, length);
  sum = ChecksumAdd(out.first(kUdpHeaderSize), sum) + payload_sum;
  Store16(out.data() + 6, FinishUdp(sum));
}

uint16_t UdpChecksum(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment) {
  const auto length = static_cast<uint16_t>(segment.size());
  return FinishUdp(ChecksumAdd(segment, PseudoHeaderSum(src, dst, kProtocolUdp, length)));
}

bool UdpChecksumValid(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment) {
  if (segment.size() < kUdpHeaderSize) return false;
  if (Load16(segment.data() + 6) == 0) return true;  // RFC 768: no checksum was computed
  const auto length = static_cast<uint16_t>(segment.size());
  // A correct datagram sums to all ones with its checksum included (0 after Finish); a
  // transmitted 0xffff standing for 0 sums the same way.
  return ChecksumFinish(ChecksumAdd(segment, PseudoHeaderSum(src, dst, kProtocolUdp, length))) == 0;
}

}  // namespace netshim
