// The IPv4 header (RFC 791 3.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "stack/wire/address.h"

namespace netshim {

inline constexpr size_t kIpv4MinHeaderSize = 20;
inline constexpr size_t kIpv4MaxHeaderSize = 60;
inline constexpr size_t kIpv4MaxPacketSize = 65535;
inline constexpr uint8_t kDefaultTtl = 64;  // Linux net.ipv4.ip_default_ttl

enum class IpProtocol : uint8_t { kIcmp = 1, kTcp = 6, kUdp = 17 };

enum class Ipv4ParseError {
  kOk,
  kTruncated,        // fewer bytes than the header or the total length claims
  kBadVersion,       // version != 4
  kBadHeaderLength,  // IHL < 5, or beyond the total length
  kBadTotalLength,   // total length < header length
  kBadChecksum,
};
std::string_view Ipv4ParseErrorName(Ipv4ParseError e);

struct Ipv4Header {
  uint8_t header_length = kIpv4MinHeaderSize;  // bytes, options included
  uint8_t tos = 0;
  uint16_t total_length = 0;
  uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;  // in bytes (the field times 8)
  uint8_t ttl = kDefaultTtl;
  uint8_t protocol = 0;
  uint16_t checksum = 0;
  Ipv4Address src;
  Ipv4Address dst;

  bool IsFragment() const { return more_fragments || fragment_offset != 0; }
  size_t payload_length() const { return total_length - header_length; }

  // Validates version, IHL, total length against the bytes present and the header checksum,
  // in that order. Options are left in place and skipped (header_length covers them); the
  // bytes after total_length (Ethernet padding) are not the packet's.
  static Ipv4ParseError Parse(std::span<const uint8_t> bytes, Ipv4Header* out);

  // Parses a header quoted inside an ICMP error (RFC 792): version and IHL must be sane and
  // the header present, but the checksum and total length are not checked, since the quote
  // is truncated and routers may have rewritten fields.
  static bool ParseQuoted(std::span<const uint8_t> bytes, Ipv4Header* out);

  // Writes a 20-byte header (no options) with its checksum; header_length is taken as 20.
  void Write(std::span<uint8_t> out) const;

 private:
  // Reads every field from a header already known to be at least `ihl` bytes long.
  static void Decode(const uint8_t* p, size_t ihl, Ipv4Header* out);
};

}  // namespace netshim
