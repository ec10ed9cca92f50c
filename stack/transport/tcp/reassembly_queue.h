// The receiver's sequence space above rcv_nxt: out-of-order segments wait here until the
// gap before them fills (RFC 9293 3.10.7.4 "segments with higher beginning sequence numbers
// may be held"), and the SACK blocks to advertise come from here (RFC 2018 4, RFC 2883).
//
//  - Insert takes any segment: in order, out of order, overlapping held data or partly
//    below rcv_nxt. Bytes already held or below rcv_nxt are duplicates (reported as a
//    D-SACK range, RFC 2883 4.1); only new bytes are kept. Payloads are kept as
//    PacketBuffer slices (no copy); a segment that covers held segments replaces them.
//  - PopInOrder hands out the data now contiguous from rcv_nxt, advancing rcv_nxt.
//  - SackBlocks lists held ranges (adjacent segments coalesced) as RFC 2018 4 asks: the
//    range holding the most recently received segment first, then the others, most
//    recently touched first.
//  - Bounded: at most `max_bytes` payload bytes and `max_segments` segments are held (the
//    segment cap bounds the buffers pinned by tiny segments). Room for new data is made by
//    evicting the highest held data, as Linux tcp_prune_ofo_queue does, only when that
//    frees enough; otherwise the new segment is dropped. Both are reported.
//
// Segments are placed by their distance from rcv_nxt; the caller drops those outside the
// receive window first (RFC 9293 3.10.7.4), so everything held lies within 2^31 of rcv_nxt.
//
// Not thread-safe: owned by one connection and used under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "stack/buffer/packet_buffer.h"
#include "stack/wire/tcp.h"

namespace netshim {

class ReassemblyQueue {
 public:
  struct Limits {
    size_t max_bytes = 4 * 1024 * 1024;  // the connection sets this from SO_RCVBUF
    size_t max_segments = 4096;
  };

  explicit ReassemblyQueue(uint32_t rcv_nxt = 0);
  ReassemblyQueue(uint32_t rcv_nxt, Limits limits);

  // Drops everything; sequence numbering restarts at rcv_nxt (the peer's ISN + 1).
  void Reset(uint32_t rcv_nxt);
  // A new byte cap (SO_RCVBUF changed); held data above it is evicted from the top.
  void SetMaxBytes(size_t max_bytes);

  struct InsertResult {
    uint32_t new_bytes = 0;          // bytes now held that were not before
    uint32_t duplicate_bytes = 0;    // bytes already held or already below rcv_nxt
    uint32_t dropped_bytes = 0;      // new bytes refused: no room even after eviction
    uint32_t evicted_bytes = 0;      // held bytes given up to make room (reneged SACKs)
    std::optional<SackBlock> dsack;  // the first duplicate range (RFC 2883)
    bool in_order = false;           // data at rcv_nxt is ready: call PopInOrder
  };
  InsertResult Insert(uint32_t seq, PacketBuffer payload);

  // Hands the data contiguous from rcv_nxt to `sink`, in order, and advances rcv_nxt past
  // it. Returns the bytes handed out.
  size_t PopInOrder(absl::FunctionRef<void(PacketBuffer)> sink);

  // rcv_nxt moves forward `n` sequence numbers that carry no data here (a FIN); held data
  // below the new rcv_nxt is discarded.
  void Advance(uint32_t n);

  // Fills `out` with up to out.size() SACK blocks in RFC 2018 4 order; returns how many.
  // (A D-SACK block, when there is one to send, goes before them: RFC 2883 4.)
  size_t SackBlocks(std::span<SackBlock> out) const;

  uint32_t rcv_nxt() const { return rcv_nxt_; }
  size_t bytes() const { return bytes_; }
  size_t segments() const { return segments_.size(); }
  bool empty() const { return segments_.empty(); }
  const Limits& limits() const { return limits_; }

 private:
  // Positions are 64-bit offsets in the byte stream, so ordering never wraps.
  using Pos = int64_t;
  struct Range {
    Pos end;
    uint64_t touched;  // recency stamp for SACK block order
  };

  Pos PosOf(uint32_t seq) const { return base_ + SeqDelta(seq); }
  int64_t SeqDelta(uint32_t seq) const { return static_cast<int32_t>(seq - rcv_nxt_); }
  uint32_t SeqOf(Pos pos) const { return static_cast<uint32_t>(rcv_nxt_ + (pos - base_)); }

  // Frees room for `bytes` more bytes and one more segment (`freed_segments` are about to
  // be replaced) by evicting held data at or above `above`; false, with nothing evicted,
  // when that cannot free enough.
  bool MakeRoom(Pos above, size_t bytes, size_t freed_segments, InsertResult* result);
  Pos TopOfHeld() const;
  void EvictTop(InsertResult* result);
  // Adds [start, end) to the SACK ranges, coalescing, marking it most recent.
  void Touch(Pos start, Pos end);
  void TrimRangesAbove(Pos end);
  void DropBelow(Pos pos);

  Limits limits_;
  uint32_t rcv_nxt_;
  Pos base_ = 0;                          // the position of rcv_nxt
  std::map<Pos, PacketBuffer> segments_;  // disjoint, keyed by start position
  std::map<Pos, Range> ranges_;           // coalesced held ranges, keyed by start
  size_t bytes_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace netshim
