// Link and network addresses as small value types.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"

namespace netshim {

// An Ethernet MAC address, in wire order.
struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  static constexpr MacAddress Broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  static constexpr MacAddress Zero() { return {}; }

  // Accepts "aa:bb:cc:dd:ee:ff" (case-insensitive); nullopt for anything else.
  static std::optional<MacAddress> Parse(std::string_view text);

  bool IsBroadcast() const { return *this == Broadcast(); }
  bool IsMulticast() const { return (bytes[0] & 0x01) != 0; }  // includes broadcast
  bool IsZero() const { return *this == Zero(); }
  std::string ToString() const;

  friend bool operator==(const MacAddress&, const MacAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const MacAddress& m) {
    return H::combine(std::move(h), m.bytes);
  }
};

// An IPv4 address held in host byte order (so arithmetic and prefix masks read naturally);
// wire code converts at the edge.
struct Ipv4Address {
  uint32_t value = 0;

  static constexpr Ipv4Address Any() { return {0}; }
  static constexpr Ipv4Address Broadcast() { return {0xffffffffu}; }
  static constexpr Ipv4Address FromOctets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return {(uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d};
  }

  // Strict dotted quad ("198.18.0.1"): four decimal octets, no leading '+', no spaces.
  static std::optional<Ipv4Address> Parse(std::string_view text);

  bool IsAny() const { return value == 0; }
  bool IsLimitedBroadcast() const { return value == 0xffffffffu; }
  bool IsMulticast() const { return (value >> 28) == 0xe; }  // 224.0.0.0/4
  bool IsLoopback() const { return (value >> 24) == 127; }
  std::string ToString() const;

  friend auto operator<=>(const Ipv4Address&, const Ipv4Address&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Ipv4Address& a) {
    return H::combine(std::move(h), a.value);
  }
};

// An address with its prefix length, e.g. 198.18.0.2/24.
struct Ipv4Cidr {
  Ipv4Address address;
  uint8_t prefix_len = 32;

  // "a.b.c.d/n" with 0 <= n <= 32; a bare address means /32.
  static std::optional<Ipv4Cidr> Parse(std::string_view text);

  uint32_t Mask() const { return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len); }
  Ipv4Address Network() const { return {address.value & Mask()}; }
  Ipv4Address DirectedBroadcast() const { return {address.value | ~Mask()}; }
  bool Contains(Ipv4Address a) const { return (a.value & Mask()) == Network().value; }
  std::string ToString() const;

  friend bool operator==(const Ipv4Cidr&, const Ipv4Cidr&) = default;
};

}  // namespace netshim
