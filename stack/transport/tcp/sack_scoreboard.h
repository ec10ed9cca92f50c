// The sender's SACK scoreboard and loss-recovery bookkeeping (RFC 6675, RFC 2018, D-SACK
// detection per RFC 2883).
//
// It remembers which bytes of [snd_una, snd_max) the receiver has SACKed, as a sorted list
// of disjoint ranges, and answers the questions of RFC 6675's algorithm in bytes:
//   IsLost(seq)  DupThresh (3) discontiguous SACKed ranges above seq, or more than
//                (DupThresh - 1) * SMSS SACKed bytes above it;
//   Pipe()       the bytes the network is taken to hold (RFC 6675 SetPipe);
//   NextSeg()    what to send next during recovery (RFC 6675 rules 1-4).
// "snd_max" below is the highest sequence number sent plus one (HighData + 1): pass the
// connection's highest snd_nxt, not one wound back after a timeout.
//
// Incoming SACK blocks are checked as Linux tcp_is_sackblock_valid does (a block must lie
// within (snd_una, snd_max]; anything else is ignored and counted), and the first block is
// reported as a D-SACK when it lies below the cumulative ACK or inside the second block
// (Linux tcp_check_dsack). D-SACKs are reported, not recorded; a caller using one to undo
// a reduction checks it against what it retransmitted first.
//
// Bounded: at most `max_ranges` ranges are kept. Past that the highest ranges are
// forgotten (and counted): forgetting SACK information is safe (those bytes may be
// retransmitted needlessly), inventing it would not be.
//
// Not thread-safe: owned by one connection and used under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/wire/tcp.h"

namespace netshim {

class SackScoreboard {
 public:
  static constexpr uint32_t kDupThresh = 3;  // RFC 6675 DupThresh (Linux tcp_reordering)
  static constexpr size_t kDefaultMaxRanges = 64;

  explicit SackScoreboard(uint32_t snd_una = 0, size_t max_ranges = kDefaultMaxRanges);

  // Forgets everything; the cumulative ACK point becomes snd_una (connection start, or
  // receiver reneging, RFC 2018 8).
  void Reset(uint32_t snd_una);

  struct AckResult {
    uint32_t newly_sacked = 0;       // bytes SACKed by this ACK that were not before
    std::optional<SackBlock> dsack;  // RFC 2883: the duplicate range the receiver reported
    uint32_t invalid_blocks = 0;     // blocks ignored as out of range or reversed
    uint32_t dropped_ranges = 0;     // ranges forgotten because the cap was reached
  };
  // An acceptable ACK: `ack` is its cumulative acknowledgment (it moves snd_una forward
  // when newer and not beyond snd_max) and `blocks` its SACK option, in option order.
  AckResult OnAck(uint32_t ack, std::span<const SackBlock> blocks, uint32_t snd_max);

  uint32_t snd_una() const { return snd_una_; }
  bool empty() const { return ranges_.empty(); }
  // The SACKed ranges, lowest first.
  std::span<const SackBlock> ranges() const { return ranges_; }
  uint32_t sacked_bytes() const;
  bool IsSacked(uint32_t seq) const;
  // One past the highest SACKed byte (RFC 6675 HighSACK + 1); nullopt when none.
  std::optional<uint32_t> high_sacked() const;

  // RFC 6675 IsLost for the byte `seq` (unSACKed, in [snd_una, snd_max)).
  bool IsLost(uint32_t seq, uint32_t smss) const;
  // Un-SACKed bytes IsLost considers lost (Linux tcpi_lost is this / MSS).
  uint32_t LostBytes(uint32_t smss) const;
  // RFC 6675 SetPipe, in bytes: every un-SACKed byte not lost, plus every un-SACKed byte
  // retransmitted in this recovery.
  uint32_t Pipe(uint32_t snd_max, uint32_t smss) const;

  // RFC 6675 5 step (4.1): loss recovery begins; RecoveryPoint = HighData + 1 = snd_max.
  // HighRxt starts at snd_una and RescueRxt is undefined.
  void EnterRecovery(uint32_t snd_max);
  void ExitRecovery();
  // A retransmission was found lost (a loss probe, RFC 8985 spirit): holes may be sent
  // again, from snd_una up (HighRxt back to snd_una; RescueRxt undefined).
  void RestartRetransmissions();
  bool in_recovery() const { return in_recovery_; }
  uint32_t recovery_point() const { return recovery_point_; }

  struct NextSegment {
    enum class Kind {
      kNone,        // rule 5: nothing may be sent
      kRetransmit,  // rules 1 and 3: `range`, then call OnRetransmitted(range)
      kNewData,     // rule 2: up to SMSS new bytes from snd_max (the caller sizes it)
      kRescue,      // rule 4: `range`, then call OnRescueRetransmitted()
    };
    Kind kind = Kind::kNone;
    SackBlock range;
  };
  // RFC 6675 NextSeg. `new_data_ok`: unsent data is queued and the peer's window allows it.
  // Rules 3 and 4 apply only in recovery.
  NextSegment NextSeg(uint32_t snd_max, uint32_t smss, bool new_data_ok) const;
  // A range returned by rule 1 or 3 was sent: HighRxt moves to its end.
  void OnRetransmitted(SackBlock range);
  // Rule 4's rescue was sent: RescueRxt = RecoveryPoint (HighRxt does not move).
  void OnRescueRetransmitted();
  // One past the highest byte retransmitted in this recovery (RFC 6675 HighRxt + 1).
  uint32_t high_rxt() const { return high_rxt_; }

  // The first un-SACKed range of at most `smss` bytes at or after `from` and below
  // snd_max, for retransmitting after a timeout while skipping SACKed data.
  std::optional<SackBlock> NextHole(uint32_t from, uint32_t snd_max, uint32_t smss) const;

 private:
  uint32_t Offset(uint32_t seq) const { return seq - snd_una_; }
  bool BlockValid(const SackBlock& b, uint32_t snd_max) const;
  uint32_t Insert(SackBlock b);  // returns the bytes newly covered
  void AdvanceUna(uint32_t ack);
  // Calls visit(start, end, lost) for each hole below a SACKed range, highest first, in
  // offsets from snd_una; `lost` per RFC 6675 IsLost for the hole.
  template <typename F>
  void ForEachHoleFromTop(uint32_t smss, F&& visit) const;

  uint32_t snd_una_;
  size_t max_ranges_;
  std::vector<SackBlock> ranges_;  // disjoint, non-adjacent, sorted from snd_una
  bool in_recovery_ = false;
  uint32_t recovery_point_ = 0;
  uint32_t high_rxt_ = 0;
  std::optional<uint32_t> rescue_rxt_;
};

}  // namespace netshim
