// Ethernet II framing (IEEE 802.3 clause 3.2.6 with an EtherType >= 0x0600).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/address.h"

namespace netshim {

inline constexpr size_t kEthernetHeaderSize = 14;
// Frames shorter than this (without FCS) are padded on the wire; receivers must ignore
// padding, which is why IPv4 trusts its own total length, not the frame's.
inline constexpr size_t kEthernetMinFrameSize = 60;

enum class EtherType : uint16_t {
  kIpv4 = 0x0800,
  kArp = 0x0806,
  kVlan = 0x8100,
  kIpv6 = 0x86dd,
};

struct EthernetHeader {
  MacAddress dst;
  MacAddress src;
  uint16_t ether_type = 0;

  // nullopt when fewer than 14 bytes, or the type field is an 802.3 length (< 0x0600).
  static std::optional<EthernetHeader> Parse(std::span<const uint8_t> frame);
  // Writes 14 bytes at out (out.size() >= 14).
  void Write(std::span<uint8_t> out) const;
};

}  // namespace netshim
