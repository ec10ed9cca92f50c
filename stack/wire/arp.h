// ARP for IPv4 over Ethernet (RFC 826).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/address.h"

namespace netshim {

inline constexpr size_t kArpPacketSize = 28;

enum class ArpOp : uint16_t { kRequest = 1, kReply = 2 };

struct ArpPacket {
  ArpOp op = ArpOp::kRequest;
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;
  Ipv4Address target_ip;

  // Accepts only hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4, and
  // operation request or reply; anything else is not ours to answer (RFC 826 "Packet
  // Reception": check hardware and protocol types first). Trailing bytes (padding) are ignored.
  static std::optional<ArpPacket> Parse(std::span<const uint8_t> bytes);
  // Writes 28 bytes at out.
  void Write(std::span<uint8_t> out) const;

  // A gratuitous ARP announces `ip` at `mac`: a request whose sender and target address are
  // both ip (RFC 5227 3, as Linux's arp_send for a new address).
  static ArpPacket Gratuitous(MacAddress mac, Ipv4Address ip);
  bool IsGratuitous() const { return sender_ip == target_ip; }
};

}  // namespace netshim
