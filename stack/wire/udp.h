// The UDP header (RFC 768) and its checksum over the IPv4 pseudo header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/address.h"
#include "stack/wire/ipv4.h"

namespace netshim {

inline constexpr size_t kUdpHeaderSize = 8;
// The largest payload one IPv4 datagram can carry: 65535 - 20 (IP) - 8 (UDP). Linux refuses
// more with EMSGSIZE (net/ipv4/ip_output.c __ip_append_data).
inline constexpr size_t kUdpMaxPayload = kIpv4MaxPacketSize - kIpv4MinHeaderSize - kUdpHeaderSize;

enum class UdpParseError {
  kOk,
  kTruncated,  // fewer than 8 bytes
  kBadLength,  // the length field is below 8 or claims more bytes than there are
};

struct UdpHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t length = 0;    // header + payload
  uint16_t checksum = 0;  // 0 on the wire: the sender computed none (RFC 768)

  // Reads the header from `segment` (the IP payload) and checks the length field against
  // it. Bytes after `length` are not the datagram's (Linux trims them: pskb_trim_rcsum).
  static UdpParseError Parse(std::span<const uint8_t> segment, UdpHeader* out);

  // Writes the 8 bytes as they are (checksum included).
  void Write(std::span<uint8_t> out) const;
  // Writes the header with its checksum over the pseudo header, the header and the payload,
  // whose one's complement sum (ChecksumAdd over its pieces) is `payload_sum`. `length`
  // must already hold 8 + the payload size.
  void WriteWithChecksum(std::span<uint8_t> out, Ipv4Address src, Ipv4Address dst,
                         uint64_t payload_sum) const;
};

// The checksum field value for a datagram (header with a zero checksum field + payload, in
// `segment`): RFC 768 sends a computed 0 as 0xffff, since 0 means "no checksum".
uint16_t UdpChecksum(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment);

// True when `segment` (exactly header + payload) carries no checksum (field 0, RFC 768) or
// a correct one.
bool UdpChecksumValid(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment);

}  // namespace netshim
