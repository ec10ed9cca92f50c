// The TCP header (RFC 9293 3.1) and its options: MSS (RFC 9293 3.7.1), window scale and
// timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
//
// Pure functions over bytes: no state, safe from any thread.
//
// Receiving: TcpHeader::Parse checks the fixed header and the data offset; TcpChecksumValid
// checks the checksum with the pseudo header; TcpOptions::Parse reads the option bytes
// (TcpHeader::Options). Sending: TcpOptions::Write lays options out as Linux does
// (tcp_options_write), TcpHeader::Write writes the fixed header, and TcpChecksum fills in
// the checksum over pseudo header + header + payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "stack/wire/address.h"

namespace netshim {

inline constexpr size_t kTcpMinHeaderSize = 20;
inline constexpr size_t kTcpMaxHeaderSize = 60;
inline constexpr size_t kTcpMaxOptionsSize = kTcpMaxHeaderSize - kTcpMinHeaderSize;

// Header flag bits, as in byte 13 of the header.
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

// Option kinds (IANA "TCP Option Kind Numbers").
inline constexpr uint8_t kTcpOptEol = 0;
inline constexpr uint8_t kTcpOptNop = 1;
inline constexpr uint8_t kTcpOptMss = 2;
inline constexpr uint8_t kTcpOptWindowScale = 3;
inline constexpr uint8_t kTcpOptSackPermitted = 4;
inline constexpr uint8_t kTcpOptSack = 5;
inline constexpr uint8_t kTcpOptTimestamps = 8;

// RFC 7323 2.3: a shift above 14 is treated as 14 (Linux TCP_MAX_WSCALE).
inline constexpr uint8_t kTcpMaxWindowScale = 14;
// Linux TCP_NUM_SACKS: at most 4 blocks fit in 40 option bytes (3 beside timestamps).
inline constexpr size_t kTcpMaxSackBlocks = 4;

enum class TcpParseError {
  kOk,
  kTruncated,      // fewer than 20 bytes
  kBadDataOffset,  // data offset < 5, or the header it claims runs past the segment
};
std::string_view TcpParseErrorName(TcpParseError e);

struct TcpHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t header_length = kTcpMinHeaderSize;  // bytes (data offset x 4), options included
  uint8_t flags = 0;                          // kTcpFin | kTcpSyn | ...
  uint16_t window = 0;                        // as on the wire (not scaled)
  uint16_t checksum = 0;
  uint16_t urgent = 0;

  bool fin() const { return flags & kTcpFin; }
  bool syn() const { return flags & kTcpSyn; }
  bool rst() const { return flags & kTcpRst; }
  bool psh() const { return flags & kTcpPsh; }
  bool has_ack() const { return flags & kTcpAck; }
  bool urg() const { return flags & kTcpUrg; }
  bool ece() const { return flags & kTcpEce; }
  bool cwr() const { return flags & kTcpCwr; }

  // Reads the fixed header and checks the data offset (>= 5 and within `segment`). The
  // checksum is not checked here (see TcpChecksumValid); the 4 reserved bits are ignored,
  // as Linux does.
  static TcpParseError Parse(std::span<const uint8_t> segment, TcpHeader* out);

  // The option bytes of a segment already accepted by Parse.
  std::span<const uint8_t> Options(std::span<const uint8_t> segment) const {
    return segment.subspan(kTcpMinHeaderSize, header_length - kTcpMinHeaderSize);
  }

  // Writes the 20-byte fixed header: data offset from header_length (a multiple of 4 in
  // [20, 60]; the caller writes the options after it) and `checksum` as set (0 before
  // TcpChecksum computes it).
  void Write(std::span<uint8_t> out) const;
};

// The checksum to store in a segment whose header (options included, with its checksum
// field zero) and payload are given; src and dst are the IPv4 source and destination.
// The header length must be even (it is a multiple of 4).
uint16_t TcpChecksum(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> header,
                     std::span<const uint8_t> payload);
// Same, with the payload's ChecksumAdd sum and length (payload held in several slices).
uint16_t TcpChecksumWithPayloadSum(Ipv4Address src, Ipv4Address dst,
                                   std::span<const uint8_t> header, uint64_t payload_sum,
                                   size_t payload_length);
// RFC 9293 3.1: a received segment (header + payload) whose checksum over the pseudo
// header is wrong is dropped. Segments longer than 65535 bytes are invalid.
bool TcpChecksumValid(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment);

// A SACK block: the sequence range [start, end) (RFC 2018 3: the right edge is the
// sequence number just past the block).
struct SackBlock {
  uint32_t start = 0;
  uint32_t end = 0;
  friend bool operator==(const SackBlock&, const SackBlock&) = default;
};

struct TcpTimestamps {
  uint32_t value = 0;  // TSval
  uint32_t echo = 0;   // TSecr
  friend bool operator==(const TcpTimestamps&, const TcpTimestamps&) = default;
};

// The options TCP uses. Unknown options are skipped on parse and never written.
struct TcpOptions {
  std::optional<uint16_t> mss;          // never 0 (Linux ignores an MSS of 0)
  std::optional<uint8_t> window_scale;  // <= kTcpMaxWindowScale
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  std::array<SackBlock, kTcpMaxSackBlocks> sack_blocks{};
  uint8_t sack_block_count = 0;

  std::span<const SackBlock> sacks() const { return {sack_blocks.data(), sack_block_count}; }
  // Appends a block when there is room for it (false when kTcpMaxSackBlocks are held).
  bool AddSack(SackBlock block);

  // Parses option bytes as Linux tcp_parse_options does:
  //  - EOL ends the list; NOP is skipped; every other option has a length byte;
  //  - a length < 2, or one running past the end, ends parsing: the rest is ignored
  //    ("silly options", "don't parse partial options") and what came before is kept;
  //  - an option whose length is wrong for its kind is skipped by its length, as is an
  //    unknown kind;
  //  - MSS, window scale and SACK-permitted count only on a SYN (`syn`, Linux: th->syn &&
  //    !estab), so on other segments they are skipped;
  //  - a SACK option needs 2 + 8n bytes (n >= 1); at most 4 blocks are read.
  // A later valid instance of an option replaces an earlier one (Linux overwrites too).
  static TcpOptions Parse(std::span<const uint8_t> options, bool syn);

  // The bytes Write produces: a multiple of 4, at most kTcpMaxOptionsSize.
  size_t WrittenSize() const;
  // How many SACK blocks Write can fit beside the other options (Linux
  // tcp_established_options: 4, or 3 beside timestamps).
  size_t SackBlocksThatFit() const;
  // Writes the options in Linux's order (tcp_options_write), each in a 4-byte word:
  //   MSS;  SACK-permitted + timestamps packed as 04 02 08 0a, or NOP NOP + timestamps;
  //   NOP NOP + SACK-permitted (without timestamps);  NOP + window scale;
  //   NOP NOP + SACK blocks (as many as fit).
  // So Linux's SYN is 02 04 MSS 04 02 08 0a TSval TSecr 01 03 03 WS. `out` must hold
  // WrittenSize() bytes. Returns the bytes written.
  size_t Write(std::span<uint8_t> out) const;

  friend bool operator==(const TcpOptions&, const TcpOptions&);
};

}  // namespace netshim
