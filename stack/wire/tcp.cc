#include "stack/wire/tcp.h"

#include <algorithm>
#include <cassert>

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ipv4.h"

namespace netshim {
namespace {

// Option lengths (Linux TCPOLEN_*).
constexpr size_t kMssLength = 4;
constexpr size_t kWindowScaleLength = 3;
constexpr size_t kSackPermittedLength = 2;
constexpr size_t kTimestampsLength = 10;
constexpr size_t kSackBaseLength = 2;
constexpr size_t kSackPerBlock = 8;
// Written sizes, each option padded to a 4-byte word as Linux writes them.
constexpr size_t kAlignedTimestamps = 12;
constexpr size_t kAlignedSackBase = 4;

uint8_t* PutWord(uint8_t* p, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  p[0] = a, p[1] = b, p[2] = c, p[3] = d;
  return p + 4;
}

// One option of `kind` with `body` (its bytes after kind and length), known to be in
// bounds. Only options whose length is right for their kind are taken (Linux checks
// opsize == TCPOLEN_* for each).
void ParseOne(uint8_t kind, std::span<const uint8_t> body, bool syn, TcpOptions* out) {
  const size_t length = body.size() + 2;
  switch (kind) {
    case kTcpOptMss:
      if (syn && length == kMssLength) {
        const uint16_t mss = Load16(body.data());
        if (mss != 0) out->mss = mss;  // Linux: "if (in_mss)"
      }
      break;
    case kTcpOptWindowScale:
      if (syn && length == kWindowScaleLength) {
        // RFC 7323 2.3: log a shift above 14 and use 14 (Linux TCP_MAX_WSCALE).
        out->window_scale = std::min(body[0], kTcpMaxWindowScale);
      }
      break;
    case kTcpOptSackPermitted:
      if (syn && length == kSackPermittedLength) out->sack_permitted = true;
      break;
    case kTcpOptTimestamps:
      if (length == kTimestampsLength) {
        out->timestamps = TcpTimestamps{Load32(body.data()), Load32(body.data() + 4)};
      }
      break;
    case kTcpOptSack:
      if (length >= kSackBaseLength + kSackPerBlock &&
          (length - kSackBaseLength) % kSackPerBlock == 0) {
        // Linux tcp_sacktag_write_queue: min(TCP_NUM_SACKS, blocks present).
        const size_t n = std::min(body.size() / kSackPerBlock, kTcpMaxSackBlocks);
        out->sack_block_count = 0;
        for (size_t i = 0; i < n; ++i) {
          const uint8_t* b = body.data() + i * kSackPerBlock;
          out->AddSack({Load32(b), Load32(b + 4)});
        }
      }
      break;
    default:
      break;  // unknown: skipped by its length
  }
}

}  // namespace

std::string_view TcpParseErrorName(TcpParseError e) {
  switch (e) {
    case TcpParseError::kOk:
      return "ok";
    case TcpParseError::kTruncated:
      return "truncated";
    case TcpParseError::kBadDataOffset:
      return "bad data offset";
  }
  return "?";
}

TcpParseError TcpHeader::Parse(std::span<const uint8_t> segment, TcpHeader* out) {
  if (segment.size() < kTcpMinHeaderSize) return TcpParseError::kTruncated;
  const uint8_t* p = segment.data();
  const size_t data_offset = size_t{p[12]} >> 4 << 2;
  // RFC 9293 3.1; Linux tcp_v4_rcv: "if (th->doff < sizeof(struct tcphdr) / 4) goto bad_packet"
  // and the header must lie within the segment (pskb_may_pull).
  if (data_offset < kTcpMinHeaderSize || data_offset > segment.size()) {
    return TcpParseError::kBadDataOffset;
  }
  TcpHeader& h = *out;
  h.src_port = Load16(p);
  h.dst_port = Load16(p + 2);
  h.seq = Load32(p + 4);
  h.ack = Load32(p + 8);
  h.header_length = static_cast<uint8_t>(data_offset);
  h.flags = p[13];
  h.window = Load16(p + 14);
  h.checksum = Load16(p + 16);
  h.urgent = Load16(p + 18);
  return TcpParseError::kOk;
}

void TcpHeader::Write(std::span<uint8_t> out) const {
  assert(out.size() >= kTcpMinHeaderSize);
  assert(header_length >= kTcpMinHeaderSize && header_length <= kTcpMaxHeaderSize &&
         header_length % 4 == 0);
  uint8_t* p = out.data();
  Store16(p, src_port);
  Store16(p + 2, dst_port);
  Store32(p + 4, seq);
  Store32(p + 8, ack);
  p[12] = static_cast<uint8_t>((header_length / 4) << 4);
  p[13] = flags;
  Store16(p + 14, window);
  Store16(p + 16, checksum);
  Store16(p + 18, urgent);
}

uint16_t TcpChecksumWithPayloadSum(Ipv4Address src, Ipv4Address dst,
                                   std::span<const uint8_t> header, uint64_t payload_sum,
                                   size_t payload_length) {
  assert(header.size() % 2 == 0);
  const size_t length = header.size() + payload_length;
  assert(length <= 0xffff);
  uint64_t sum = PseudoHeaderSum(src, dst, static_cast<uint8_t>(IpProtocol::kTcp),
                                 static_cast<uint16_t>(length));
  sum = ChecksumAdd(header, sum);
  // Unfolded 64-bit sums add like one's complement sums as long as neither overflows.
  return ChecksumFinish(sum + payload_sum);
}

uint16_t TcpChecksum(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> header,
                     std::span<const uint8_t> payload) {
  return TcpChecksumWithPayloadSum(src, dst, header, ChecksumAdd(payload), payload.size());
}

bool TcpChecksumValid(Ipv4Address src, Ipv4Address dst, std::span<const uint8_t> segment) {
  if (segment.size() > 0xffff) return false;
  uint64_t sum = PseudoHeaderSum(src, dst, static_cast<uint8_t>(IpProtocol::kTcp),
                                 static_cast<uint16_t>(segment.size()));
  return ChecksumFinish(ChecksumAdd(segment, sum)) == 0;
}

bool TcpOptions::AddSack(SackBlock block) {
  if (sack_block_count >= kTcpMaxSackBlocks) return false;
  sack_blocks[sack_block_count++] = block;
  return true;
}

TcpOptions TcpOptions::Parse(std::span<const uint8_t> options, bool syn) {
  TcpOptions out;
  size_t at = 0;
  while (at < options.size()) {
    const uint8_t kind = options[at];
    if (kind == kTcpOptEol) break;
    if (kind == kTcpOptNop) {
      ++at;
      continue;
    }
    const size_t left = options.size() - at;
    if (left < 2) break;
    const size_t length = options[at + 1];
    if (length < 2) break;     // "silly options": the rest cannot be trusted
    if (length > left) break;  // "don't parse partial options"
    ParseOne(kind, options.subspan(at + 2, length - 2), syn, &out);
    at += length;
  }
  return out;
}

size_t TcpOptions::SackBlocksThatFit() const {
  size_t used = 0;
  if (mss) used += kMssLength;
  if (timestamps) used += kAlignedTimestamps;
  if (sack_permitted && !timestamps) used += 4;
  if (window_scale) used += 4;
  if (used + kAlignedSackBase + kSackPerBlock > kTcpMaxOptionsSize) return 0;
  return std::min(kTcpMaxSackBlocks,
                  (kTcpMaxOptionsSize - used - kAlignedSackBase) / kSackPerBlock);
}

size_t TcpOptions::WrittenSize() const {
  size_t n = 0;
  if (mss) n += kMssLength;
  if (timestamps) n += kAlignedTimestamps;
  if (sack_permitted && !timestamps) n += 4;
  if (window_scale) n += 4;
  const size_t blocks = std::min<size_t>(sack_block_count, SackBlocksThatFit());
  if (blocks > 0) n += kAlignedSackBase + blocks * kSackPerBlock;
  return n;
}

size_t TcpOptions::Write(std::span<uint8_t> out) const {
  assert(out.size() >= WrittenSize());
  uint8_t* p = out.data();
  if (mss) {
    p = PutWord(p, kTcpOptMss, kMssLength, static_cast<uint8_t>(*mss >> 8),
                static_cast<uint8_t>(*mss));
  }
  if (timestamps) {
    // Linux packs SACK-permitted into the two bytes NOPs would otherwise fill.
    if (sack_permitted) {
      p = PutWord(p, kTcpOptSackPermitted, kSackPermittedLength, kTcpOptTimestamps,
                  kTimestampsLength);
    } else {
      p = PutWord(p, kTcpOptNop, kTcpOptNop, kTcpOptTimestamps, kTimestampsLength);
    }
    Store32(p, timestamps->value);
    Store32(p + 4, timestamps->echo);
    p += 8;
  } else if (sack_permitted) {
    p = PutWord(p, kTcpOptNop, kTcpOptNop, kTcpOptSackPermitted, kSackPermittedLength);
  }
  if (window_scale) {
    p = PutWord(p, kTcpOptNop, kTcpOptWindowScale, kWindowScaleLength,
                std::min(*window_scale, kTcpMaxWindowScale));
  }
  const size_t blocks = std::min<size_t>(sack_block_count, SackBlocksThatFit());
  if (blocks > 0) {
    p = PutWord(p, kTcpOptNop, kTcpOptNop, kTcpOptSack,
                static_cast<uint8_t>(kSackBaseLength + blocks * kSackPerBlock));
    for (size_t i = 0; i < blocks; ++i) {
      Store32(p, sack_blocks[i].start);
      Store32(p + 4, sack_blocks[i].end);
      p += kSackPerBlock;
    }
  }
  return static_cast<size_t>(p - out.data());
}

bool operator==(const TcpOptions& a, const TcpOptions& b) {
  if (a.mss != b.mss || a.window_scale != b.window_scale || a.sack_permitted != b.sack_permitted ||
      a.timestamps != b.timestamps) {
    return false;
  }
  const auto sa = a.sacks(), sb = b.sacks();
  return std::equal(sa.begin(), sa.end(), sb.begin(), sb.end());
}

}  // namespace netshim
