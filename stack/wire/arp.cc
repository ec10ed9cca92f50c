#include "stack/wire/arp.h"

#include <algorithm>
#include <cassert>

#include "stack/wire/bytes.h"

namespace netshim {

std::optional<ArpPacket> ArpPacket::Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kArpPacketSize) return std::nullopt;
  const uint8_t* p = bytes.data();
  if (Load16(p) != 1 || Load16(p + 2) != 0x0800 || p[4] != 6 || p[5] != 4) return std::nullopt;
  const uint16_t op = Load16(p + 6);
  if (op != 1 && op != 2) return std::nullopt;
  ArpPacket a;
  a.op = static_cast<ArpOp>(op);
  std::copy_n(p + 8, 6, a.sender_mac.bytes.begin());
  a.sender_ip.value = Load32(p + 14);
  std::copy_n(p + 18, 6, a.target_mac.bytes.begin());
  a.target_ip.value = Load32(p + 24);
  return a;
}

void ArpPacket::Write(std::span<uint8_t> out) const {
  assert(out.size() >= kArpPacketSize);
  uint8_t* p = out.data();
  Store16(p, 1);
  Store16(p + 2, 0x0800);
  p[4] = 6;
  p[5] = 4;
  Store16(p + 6, static_cast<uint16_t>(op));
  std::copy(sender_mac.bytes.begin(), sender_mac.bytes.end(), p + 8);
  Store32(p + 14, sender_ip.value);
  std::copy(target_mac.bytes.begin(), target_mac.bytes.end(), p + 18);
  Store32(p + 24, target_ip.value);
}

ArpPacket ArpPacket::Gratuitous(MacAddress mac, Ipv4Address ip) {
  ArpPacket a;
  a.op = ArpOp::kRequest;
  a.sender_mac = mac;
  a.sender_ip = ip;
  a.target_mac = MacAddress::Zero();
  a.target_ip = ip;
  return a;
}

}  // namespace netshim
