// ICMPv4 messages (RFC 792) and the error-message layout RFC 1122 3.2.2 asks receivers to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/ipv4.h"

namespace netshim {

inline constexpr size_t kIcmpHeaderSize = 8;

enum class IcmpType : uint8_t {
  kEchoReply = 0,
  kDestUnreachable = 3,
  kEchoRequest = 8,
  kTimeExceeded = 11,
  kParameterProblem = 12,
};

// Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1).
enum class IcmpUnreachCode : uint8_t {
  kNet = 0,
  kHost = 1,
  kProtocol = 2,
  kPort = 3,
  kFragmentationNeeded = 4,
  kAdminProhibited = 13,
};

struct IcmpHeader {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t checksum = 0;
  uint32_t rest = 0;  // identifier+sequence for echo; next-hop MTU in the low 16 bits for code 4

  uint16_t echo_id() const { return static_cast<uint16_t>(rest >> 16); }
  uint16_t echo_sequence() const { return static_cast<uint16_t>(rest); }

  // nullopt when fewer than 8 bytes.
  static std::optional<IcmpHeader> Parse(std::span<const uint8_t> message);
  // Writes the 8-byte header with the checksum over header + `body` (the rest of the message).
  void Write(std::span<uint8_t> out, std::span<const uint8_t> body) const;
  // Same, when the body is split over several pieces (all but the last of even length).
  void WriteWithBodySum(std::span<uint8_t> out, uint64_t body_sum) const;
};

// A received error message, for the transport that sent the offending datagram.
struct IcmpError {
  IcmpType type = IcmpType::kDestUnreachable;
  uint8_t code = 0;
  uint16_t next_hop_mtu = 0;                  // fragmentation needed (RFC 1191)
  Ipv4Header original;                        // the offending datagram's header
  std::span<const uint8_t> original_payload;  // at least its first 8 bytes (ports)

  // For types 3, 11, 12: checks the quoted header parses (its checksum is not checked, as
  // routers may rewrite it) and at least 8 payload bytes are quoted.
  static std::optional<IcmpError> Parse(const IcmpHeader& header, std::span<const uint8_t> body);
};

}  // namespace netshim
