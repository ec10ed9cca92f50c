#include "stack/transport/tcp/sack_scoreboard.h"

#include <algorithm>

#include "stack/transport/tcp/seq.h"

namespace netshim {
namespace {

uint32_t Size(const SackBlock& b) { return b.end - b.start; }

// RFC 6675 IsLost, for a byte with `count` SACKed ranges and `bytes` SACKed bytes above it.
bool LostGiven(size_t count, uint64_t bytes, uint32_t smss) {
  return count >= SackScoreboard::kDupThresh ||
         bytes > uint64_t{SackScoreboard::kDupThresh - 1} * smss;
}

}  // namespace

SackScoreboard::SackScoreboard(uint32_t snd_una, size_t max_ranges)
    : snd_una_(snd_una), max_ranges_(std::max<size_t>(max_ranges, 1)), high_rxt_(snd_una) {}

void SackScoreboard::Reset(uint32_t snd_una) {
  snd_una_ = snd_una;
  ranges_.clear();
  in_recovery_ = false;
  recovery_point_ = snd_una;
  high_rxt_ = snd_una;
  rescue_rxt_.reset();
}

bool SackScoreboard::BlockValid(const SackBlock& b, uint32_t snd_max) const {
  // Linux tcp_is_sackblock_valid: not beyond what was sent, not reversed or empty, and
  // starting above the cumulative ACK point.
  return !SeqGt(b.end, snd_max) && SeqLt(b.start, b.end) && SeqLt(b.start, snd_max) &&
         SeqGt(b.start, snd_una_);
}

SackScoreboard::AckResult SackScoreboard::OnAck(uint32_t ack, std::span<const SackBlock> blocks,
                                                uint32_t snd_max) {
  AckResult result;
  size_t first = 0;
  if (!blocks.empty()) {
    // RFC 2883 4 / Linux tcp_check_dsack: a first block below the cumulative ACK, or
    // inside the second block, reports a duplicate.
    const SackBlock& b0 = blocks[0];
    if (SeqLt(b0.start, ack) ||
        (blocks.size() > 1 && SeqLeq(b0.end, blocks[1].end) && SeqGeq(b0.start, blocks[1].start))) {
      if (SeqLt(b0.start, b0.end)) result.dsack = b0;
      first = 1;
    }
  }
  // Blocks are judged against the snd_una before this ACK, as Linux tags SACKs before it
  // cleans the retransmit queue.
  SackBlock valid[kTcpMaxSackBlocks];
  size_t valid_count = 0;
  for (size_t i = first; i < blocks.size(); ++i) {
    if (valid_count < kTcpMaxSackBlocks && BlockValid(blocks[i], snd_max)) {
      valid[valid_count++] = blocks[i];
    } else {
      ++result.invalid_blocks;
    }
  }
  if (SeqGt(ack, snd_una_) && SeqLeq(ack, snd_max)) AdvanceUna(ack);
  for (size_t i = 0; i < valid_count; ++i) {
    SackBlock b = valid[i];
    if (SeqLeq(b.end, snd_una_)) continue;  // covered by this very ACK
    b.start = SeqMax(b.start, snd_una_);
    result.newly_sacked += Insert(b);
  }
  while (ranges_.size() > max_ranges_) {
    ranges_.pop_back();
    ++result.dropped_ranges;
  }
  return result;
}

void SackScoreboard::AdvanceUna(uint32_t ack) {
  const uint32_t advance = ack - snd_una_;
  size_t keep_from = 0;
  while (keep_from < ranges_.size() && Offset(ranges_[keep_from].end) <= advance) ++keep_from;
  ranges_.erase(ranges_.begin(), ranges_.begin() + static_cast<ptrdiff_t>(keep_from));
  if (!ranges_.empty() && Offset(ranges_[0].start) < advance) ranges_[0].start = ack;
  snd_una_ = ack;
  if (SeqLt(high_rxt_, snd_una_)) high_rxt_ = snd_una_;
}

uint32_t SackScoreboard::Insert(SackBlock b) {
  const uint32_t start = Offset(b.start), end = Offset(b.end);
  // The first range that ends at or after the block's start (touching counts: merge).
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), start,
                             [this](const SackBlock& r, uint32_t s) { return Offset(r.end) < s; });
  uint32_t merged_start = start, merged_end = end;
  uint32_t already = 0;
  auto last = it;
  while (last != ranges_.end() && Offset(last->start) <= end) {
    merged_start = std::min(merged_start, Offset(last->start));
    merged_end = std::max(merged_end, Offset(last->end));
    // Bytes of this range inside the new block were SACKed before.
    const uint32_t lo = std::max(start, Offset(last->start));
    const uint32_t hi = std::min(end, Offset(last->end));
    if (hi > lo) already += hi - lo;
    ++last;
  }
  const SackBlock merged{snd_una_ + merged_start, snd_una_ + merged_end};
  if (it == last) {
    ranges_.insert(it, merged);
  } else {
    *it = merged;
    ranges_.erase(it + 1, last);
  }
  return (end - start) - already;
}

uint32_t SackScoreboard::sacked_bytes() const {
  uint32_t n = 0;
  for (const SackBlock& r : ranges_) n += Size(r);
  return n;
}

bool SackScoreboard::IsSacked(uint32_t seq) const {
  const uint32_t off = Offset(seq);
  for (const SackBlock& r : ranges_) {
    if (off < Offset(r.start)) return false;
    if (off < Offset(r.end)) return true;
  }
  return false;
}

std::optional<uint32_t> SackScoreboard::high_sacked() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.back().end;
}

bool SackScoreboard::IsLost(uint32_t seq, uint32_t smss) const {
  const uint32_t off = Offset(seq);
  size_t count = 0;
  uint64_t bytes = 0;
  for (auto r = ranges_.rbegin(); r != ranges_.rend() && Offset(r->start) > off; ++r) {
    ++count;
    bytes += Size(*r);
  }
  return LostGiven(count, bytes, smss);
}

template <typename F>
void SackScoreboard::ForEachHoleFromTop(uint32_t smss, F&& visit) const {
  size_t count = 0;
  uint64_t above = 0;
  // Hole i lies just below range i, with ranges i.. above it.
  for (size_t i = ranges_.size(); i-- > 0;) {
    ++count;
    above += Size(ranges_[i]);
    const uint32_t hole_start = i == 0 ? 0 : Offset(ranges_[i - 1].end);
    visit(hole_start, Offset(ranges_[i].start), LostGiven(count, above, smss));
  }
}

uint32_t SackScoreboard::LostBytes(uint32_t smss) const {
  uint64_t lost = 0;
  ForEachHoleFromTop(smss, [&](uint32_t start, uint32_t end, bool is_lost) {
    if (is_lost) lost += end - start;
  });
  return static_cast<uint32_t>(lost);
}

uint32_t SackScoreboard::Pipe(uint32_t snd_max, uint32_t smss) const {
  const uint32_t rxt = Offset(high_rxt_);
  uint64_t pipe = 0;
  auto add_hole = [&](uint32_t start, uint32_t end, bool lost) {
    if (end <= start) return;
    if (!lost) pipe += end - start;                       // (a) not lost: in flight
    if (rxt > start) pipe += std::min(end, rxt) - start;  // (b) retransmitted
  };
  // The tail above the highest SACKed byte has nothing SACKed above it: never lost.
  const uint32_t top = ranges_.empty() ? 0 : Offset(ranges_.back().end);
  add_hole(top, std::max(top, Offset(snd_max)), false);
  ForEachHoleFromTop(smss, add_hole);
  return static_cast<uint32_t>(std::min<uint64_t>(pipe, UINT32_MAX));
}

void SackScoreboard::EnterRecovery(uint32_t snd_max) {
  in_recovery_ = true;
  recovery_point_ = snd_max;
  high_rxt_ = snd_una_;
  rescue_rxt_.reset();
}

void SackScoreboard::RestartRetransmissions() {
  high_rxt_ = snd_una_;
  rescue_rxt_.reset();
}

void SackScoreboard::ExitRecovery() {
  in_recovery_ = false;
  high_rxt_ = snd_una_;
  rescue_rxt_.reset();
}

SackScoreboard::NextSegment SackScoreboard::NextSeg(uint32_t snd_max, uint32_t smss,
                                                    bool new_data_ok) const {
  NextSegment next;
  const uint32_t rxt = Offset(high_rxt_);
  uint64_t above = 0;
  for (const SackBlock& r : ranges_) above += Size(r);
  // Rule 1: the first un-SACKed byte above HighRxt and below HighSACK that IsLost.
  // Rule 3 candidate: the same without IsLost.
  std::optional<SackBlock> rule3;
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const uint32_t hole_start = std::max(i == 0 ? 0 : Offset(ranges_[i - 1].end), rxt);
    const uint32_t hole_end = Offset(ranges_[i].start);
    if (hole_start < hole_end) {
      const SackBlock seg{snd_una_ + hole_start,
                          snd_una_ + std::min<uint32_t>(hole_end, hole_start + smss)};
      if (LostGiven(ranges_.size() - i, above, smss)) {
        next.kind = NextSegment::Kind::kRetransmit;
        next.range = seg;
        return next;
      }
      if (!rule3) rule3 = seg;
    }
    above -= Size(ranges_[i]);
  }
  // Rule 2: new data.
  if (new_data_ok) {
    next.kind = NextSegment::Kind::kNewData;
    next.range = {snd_max, snd_max + smss};
    return next;
  }
  if (!in_recovery_) return next;
  // Rule 3.
  if (rule3) {
    next.kind = NextSegment::Kind::kRetransmit;
    next.range = *rule3;
    return next;
  }
  // Rule 4: one rescue retransmission per recovery, of the highest un-SACKed data.
  if (rescue_rxt_ && !SeqGt(snd_una_, *rescue_rxt_)) return next;
  const uint32_t top = ranges_.empty() ? 0 : Offset(ranges_.back().end);
  uint32_t hole_start = top, hole_end = std::max(top, Offset(snd_max));
  for (size_t i = ranges_.size(); hole_start >= hole_end && i-- > 0;) {
    hole_start = i == 0 ? 0 : Offset(ranges_[i - 1].end);
    hole_end = Offset(ranges_[i].start);
  }
  if (hole_start < hole_end) {
    next.kind = NextSegment::Kind::kRescue;
    next.range = {snd_una_ + std::max<uint32_t>(hole_start, hole_end > smss ? hole_end - smss : 0),
                  snd_una_ + hole_end};
  }
  return next;
}

void SackScoreboard::OnRetransmitted(SackBlock range) {
  if (SeqGt(range.end, high_rxt_)) high_rxt_ = range.end;
}

void SackScoreboard::OnRescueRetransmitted() { rescue_rxt_ = recovery_point_; }

std::optional<SackBlock> SackScoreboard::NextHole(uint32_t from, uint32_t snd_max,
                                                  uint32_t smss) const {
  uint32_t at = SeqLt(from, snd_una_) ? 0 : Offset(from);
  const uint32_t limit = Offset(snd_max);
  for (const SackBlock& r : ranges_) {
    if (at < Offset(r.start)) {
      return SackBlock{snd_una_ + at, snd_una_ + std::min<uint32_t>(Offset(r.start), at + smss)};
    }
    at = std::max(at, Offset(r.end));
  }
  if (at < limit) return SackBlock{snd_una_ + at, snd_una_ + std::min<uint32_t>(limit, at + smss)};
  return std::nullopt;
}

}  // namespace netshim
