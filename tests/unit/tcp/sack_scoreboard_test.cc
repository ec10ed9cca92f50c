// RFC 6675 scoreboard scenarios: IsLost, pipe, NextSeg rules 1-4, cumulative ACK updates,
// D-SACK detection, invalid blocks, the range cap; all near the sequence wrap.
#include "stack/transport/tcp/sack_scoreboard.h"

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

constexpr uint32_t kMss = 1000;
// Sequence numbers straddle the 2^32 wrap so every comparison has to be modular.
constexpr uint32_t kBase = 0xfffff000u;

uint32_t S(uint32_t segment) { return kBase + segment * kMss; }
SackBlock Seg(uint32_t first, uint32_t last_plus_one) { return {S(first), S(last_plus_one)}; }

using Kind = SackScoreboard::NextSegment::Kind;

// Ten segments outstanding, the first lost: three ACKs each SACK one more segment.
TEST(SackScoreboardTest, SingleLossRfc6675Walkthrough) {
  SackScoreboard sb(S(0));
  const uint32_t snd_max = S(10);
  auto r = sb.OnAck(S(0), std::vector{Seg(1, 2)}, snd_max);
  EXPECT_EQ(r.newly_sacked, kMss);
  EXPECT_FALSE(r.dsack);
  EXPECT_FALSE(sb.IsLost(S(0), kMss));
  sb.OnAck(S(0), std::vector{Seg(1, 3)}, snd_max);
  EXPECT_FALSE(sb.IsLost(S(0), kMss));  // 2 SMSS SACKed above: not more than (3-1) SMSS
  r = sb.OnAck(S(0), std::vector{Seg(1, 4)}, snd_max);
  EXPECT_EQ(r.newly_sacked, kMss);
  EXPECT_TRUE(sb.IsLost(S(0), kMss));
  EXPECT_EQ(sb.sacked_bytes(), 3 * kMss);
  EXPECT_EQ(sb.LostBytes(kMss), kMss);
  EXPECT_EQ(*sb.high_sacked(), S(4));

  sb.EnterRecovery(snd_max);
  EXPECT_EQ(sb.recovery_point(), snd_max);
  // Pipe: segment 0 lost (not counted), 1-3 SACKed, 4-9 in flight.
  EXPECT_EQ(sb.Pipe(snd_max, kMss), 6 * kMss);
  // Rule 1: retransmit the lost segment.
  auto next = sb.NextSeg(snd_max, kMss, /*new_data_ok=*/true);
  ASSERT_EQ(next.kind, Kind::kRetransmit);
  EXPECT_EQ(next.range, Seg(0, 1));
  sb.OnRetransmitted(next.range);
  EXPECT_EQ(sb.high_rxt(), S(1));
  EXPECT_EQ(sb.Pipe(snd_max, kMss), 7 * kMss);  // the retransmission is in flight
  // Rule 2: then new data.
  next = sb.NextSeg(snd_max, kMss, true);
  EXPECT_EQ(next.kind, Kind::kNewData);
  EXPECT_EQ(next.range.start, snd_max);
  // No new data allowed, nothing else un-SACKed below HighSACK: rule 4's rescue of the
  // highest outstanding segment, once.
  next = sb.NextSeg(snd_max, kMss, false);
  ASSERT_EQ(next.kind, Kind::kRescue);
  EXPECT_EQ(next.range, Seg(9, 10));
  sb.OnRescueRetransmitted();
  EXPECT_EQ(sb.high_rxt(), S(1));  // rule 4 does not move HighRxt
  EXPECT_EQ(sb.NextSeg(snd_max, kMss, false).kind, Kind::kNone);

  // The retransmission arrives: cumulative ACK to 4, the scoreboard empties.
  r = sb.OnAck(S(4), {}, snd_max);
  EXPECT_TRUE(sb.empty());
  EXPECT_EQ(sb.snd_una(), S(4));
  EXPECT_EQ(sb.Pipe(snd_max, kMss), 6 * kMss);
}

TEST(SackScoreboardTest, TwoHolesRetransmittedInOrder) {
  SackScoreboard sb(S(0));
  const uint32_t snd_max = S(10);
  // Segments 0 and 2 lost; 1 and 3-5 SACKed (blocks most recent first, as receivers send).
  sb.OnAck(S(0), std::vector{Seg(3, 6), Seg(1, 2)}, snd_max);
  ASSERT_EQ(sb.ranges().size(), 2u);
  EXPECT_EQ(sb.ranges()[0], Seg(1, 2));
  EXPECT_TRUE(sb.IsLost(S(0), kMss));
  EXPECT_TRUE(sb.IsLost(S(2), kMss));
  EXPECT_FALSE(sb.IsLost(S(6), kMss));
  EXPECT_EQ(sb.LostBytes(kMss), 2 * kMss);
  sb.EnterRecovery(snd_max);
  EXPECT_EQ(sb.Pipe(snd_max, kMss), 4 * kMss);  // segments 6-9
  auto next = sb.NextSeg(snd_max, kMss, true);
  ASSERT_EQ(next.kind, Kind::kRetransmit);
  EXPECT_EQ(next.range, Seg(0, 1));
  sb.OnRetransmitted(next.range);
  next = sb.NextSeg(snd_max, kMss, true);
  ASSERT_EQ(next.kind, Kind::kRetransmit);
  EXPECT_EQ(next.range, Seg(2, 3));
  sb.OnRetransmitted(next.range);
  EXPECT_EQ(sb.Pipe(snd_max, kMss), 6 * kMss);
  // A partial ACK covering the first retransmission.
  auto r = sb.OnAck(S(2), {std::vector{Seg(3, 6)}}, snd_max);
  EXPECT_EQ(r.newly_sacked, 0u);
  EXPECT_EQ(sb.snd_una(), S(2));
  ASSERT_EQ(sb.ranges().size(), 1u);
  EXPECT_EQ(sb.high_rxt(), S(3));
}

TEST(SackScoreboardTest, DiscontiguousSmallBlocksCountAsLoss) {
  // Three separate 100-byte blocks above a hole: DupThresh discontiguous SACKed sequences,
  // though only 300 bytes (< 2 SMSS).
  SackScoreboard sb(1000);
  const uint32_t snd_max = 5000;
  sb.OnAck(1000, std::vector<SackBlock>{{1200, 1300}, {1400, 1500}}, snd_max);
  EXPECT_FALSE(sb.IsLost(1000, kMss));
  sb.OnAck(1000, std::vector<SackBlock>{{1600, 1700}}, snd_max);
  EXPECT_TRUE(sb.IsLost(1000, kMss));
  EXPECT_FALSE(sb.IsLost(1300, kMss));  // only two blocks above it
  EXPECT_EQ(sb.LostBytes(kMss), 200u);
}

TEST(SackScoreboardTest, Rule3RetransmitsUnSackedEvenIfNotLost) {
  SackScoreboard sb(S(0));
  const uint32_t snd_max = S(6);
  sb.OnAck(S(0), std::vector{Seg(1, 2)}, snd_max);  // one segment SACKed: nothing lost
  sb.EnterRecovery(snd_max);
  auto next = sb.NextSeg(snd_max, kMss, false);
  ASSERT_EQ(next.kind, Kind::kRetransmit);  // rule 3
  EXPECT_EQ(next.range, Seg(0, 1));
  // Outside recovery, rule 3 does not apply.
  sb.ExitRecovery();
  EXPECT_EQ(sb.NextSeg(snd_max, kMss, false).kind, Kind::kNone);
}

TEST(SackScoreboardTest, SegmentsSizedToHoleAndSmss) {
  SackScoreboard sb(0);
  sb.OnAck(0, std::vector<SackBlock>{{2500, 9000}}, 10000);
  sb.EnterRecovery(10000);
  auto next = sb.NextSeg(10000, kMss, false);
  EXPECT_EQ(next.range, (SackBlock{0, 1000}));
  sb.OnRetransmitted(next.range);
  sb.OnRetransmitted({1000, 2000});
  next = sb.NextSeg(10000, kMss, false);
  EXPECT_EQ(next.range, (SackBlock{2000, 2500}));  // stops at the SACKed block
}

TEST(SackScoreboardTest, DsackBelowAckAndInsideSecondBlock) {
  SackScoreboard sb(S(0));
  const uint32_t snd_max = S(10);
  // First block below the cumulative ACK: a D-SACK (RFC 2883 4.1.1).
  auto r = sb.OnAck(S(4), std::vector{Seg(2, 3)}, snd_max);
  ASSERT_TRUE(r.dsack);
  EXPECT_EQ(*r.dsack, Seg(2, 3));
  EXPECT_TRUE(sb.empty());
  EXPECT_EQ(r.invalid_blocks, 0u);
  // First block inside the second: a duplicate of SACKed data (RFC 2883 4.1.2).
  r = sb.OnAck(S(4), std::vector{Seg(6, 7), Seg(5, 8)}, snd_max);
  ASSERT_TRUE(r.dsack);
  EXPECT_EQ(*r.dsack, Seg(6, 7));
  ASSERT_EQ(sb.ranges().size(), 1u);
  EXPECT_EQ(sb.ranges()[0], Seg(5, 8));
  EXPECT_EQ(r.newly_sacked, 3 * kMss);
  // An ordinary first block is not a D-SACK.
  r = sb.OnAck(S(4), std::vector{Seg(9, 10), Seg(5, 8)}, snd_max);
  EXPECT_FALSE(r.dsack);
  EXPECT_EQ(r.newly_sacked, kMss);
}

TEST(SackScoreboardTest, InvalidBlocksIgnored) {
  SackScoreboard sb(S(0));
  const uint32_t snd_max = S(10);
  const std::vector<SackBlock> bad = {
      {S(1), S(11)},   // beyond snd_max
      {S(5), S(4)},    // reversed
      {S(0), S(2)},    // starts at snd_una (Linux: must start above it)
      {S(12), S(13)},  // wholly beyond
  };
  // The first block starts at/after the ACK and is not inside the second: not a D-SACK.
  auto r = sb.OnAck(S(0), bad, snd_max);
  EXPECT_EQ(r.invalid_blocks, 4u);
  EXPECT_TRUE(sb.empty());
  // Far-away garbage, e.g. from the wrong side of the sequence circle.
  r = sb.OnAck(S(0), std::vector<SackBlock>{{S(0) + 0x80000000u, S(0) + 0x80001000u}}, snd_max);
  EXPECT_TRUE(sb.empty());
}

TEST(SackScoreboardTest, BlocksCoveredByThisAckAreNotCounted) {
  SackScoreboard sb(S(0));
  // The ACK advances to 3; a stale second block [1,2) below it is skipped; [4,6) recorded.
  auto r = sb.OnAck(S(3), std::vector{Seg(4, 6), Seg(1, 2)}, S(10));
  EXPECT_FALSE(r.dsack);
  EXPECT_EQ(r.newly_sacked, 2 * kMss);
  EXPECT_EQ(sb.snd_una(), S(3));
  ASSERT_EQ(sb.ranges().size(), 1u);
  // An ACK into the middle of a SACKed range trims it.
  sb.OnAck(S(5), {}, S(10));
  ASSERT_EQ(sb.ranges().size(), 1u);
  EXPECT_EQ(sb.ranges()[0], Seg(5, 6));
  // An ACK beyond snd_max is not taken.
  sb.OnAck(S(11), {}, S(10));
  EXPECT_EQ(sb.snd_una(), S(5));
}

TEST(SackScoreboardTest, MergesAndCountsOnlyNewBytes) {
  SackScoreboard sb(0);
  const uint32_t snd_max = 100000;
  EXPECT_EQ(sb.OnAck(0, std::vector<SackBlock>{{1000, 2000}, {3000, 4000}}, snd_max).newly_sacked,
            2000u);
  // A block bridging both, touching and overlapping: one range, 1000 new bytes.
  EXPECT_EQ(sb.OnAck(0, std::vector<SackBlock>{{1500, 3500}}, snd_max).newly_sacked, 1000u);
  ASSERT_EQ(sb.ranges().size(), 1u);
  EXPECT_EQ(sb.ranges()[0], (SackBlock{1000, 4000}));
  // Adjacent blocks coalesce.
  sb.OnAck(0, std::vector<SackBlock>{{4000, 4500}, {500, 1000}}, snd_max);
  ASSERT_EQ(sb.ranges().size(), 1u);
  EXPECT_EQ(sb.ranges()[0], (SackBlock{500, 4500}));
  EXPECT_TRUE(sb.IsSacked(500));
  EXPECT_TRUE(sb.IsSacked(4499));
  EXPECT_FALSE(sb.IsSacked(4500));
  EXPECT_FALSE(sb.IsSacked(499));
}

TEST(SackScoreboardTest, RangeCapForgetsHighest) {
  SackScoreboard sb(0, /*max_ranges=*/4);
  const uint32_t snd_max = 100000;
  uint32_t dropped = 0;
  for (uint32_t i = 1; i <= 6; ++i) {
    dropped +=
        sb.OnAck(0, std::vector<SackBlock>{{i * 1000, i * 1000 + 100}}, snd_max).dropped_ranges;
  }
  EXPECT_EQ(dropped, 2u);
  ASSERT_EQ(sb.ranges().size(), 4u);
  EXPECT_EQ(sb.ranges().back(), (SackBlock{4000, 4100}));
}

TEST(SackScoreboardTest, NextHoleSkipsSackedData) {
  SackScoreboard sb(0);
  sb.OnAck(0, std::vector<SackBlock>{{1000, 3000}, {4000, 4200}}, 6000);
  EXPECT_EQ(*sb.NextHole(0, 6000, kMss), (SackBlock{0, 1000}));
  EXPECT_EQ(*sb.NextHole(1000, 6000, kMss), (SackBlock{3000, 4000}));
  EXPECT_EQ(*sb.NextHole(3500, 6000, kMss), (SackBlock{3500, 4000}));
  EXPECT_EQ(*sb.NextHole(4000, 6000, kMss), (SackBlock{4200, 5200}));
  EXPECT_EQ(*sb.NextHole(5500, 6000, kMss), (SackBlock{5500, 6000}));
  EXPECT_FALSE(sb.NextHole(6000, 6000, kMss));
}

TEST(SackScoreboardTest, ResetForgetsAndRecoveryStateClears) {
  SackScoreboard sb(S(0));
  sb.OnAck(S(0), std::vector{Seg(1, 4)}, S(10));
  sb.EnterRecovery(S(10));
  sb.Reset(S(2));
  EXPECT_TRUE(sb.empty());
  EXPECT_FALSE(sb.in_recovery());
  EXPECT_EQ(sb.snd_una(), S(2));
  EXPECT_EQ(sb.Pipe(S(10), kMss), 8 * kMss);
}

}  // namespace
}  // namespace netshim

namespace netshim {
namespace {

// Random ACKs with random SACK blocks against a byte-level model of RFC 6675's
// definitions (SACKed bytes, IsLost per byte, SetPipe per byte, NextSeg rule 1).
TEST(SackScoreboardTest, RandomAgainstByteModel) {
  constexpr uint32_t kSmss = 100;
  constexpr uint32_t kWindow = 3000;
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    const uint32_t base = static_cast<uint32_t>(0xffffffffu - rng() % 4000);  // straddle the wrap
    SackScoreboard sb(base);
    std::vector<bool> sacked(kWindow, false);  // indexed from base
    uint32_t una = 0;
    const uint32_t max = kWindow;
    uint32_t rxt = 0;  // model HighRxt + 1, from base
    sb.EnterRecovery(base + max);
    for (int step = 0; step < 300 && una < max; ++step) {
      // Mostly duplicate ACKs, sometimes a cumulative advance.
      const uint32_t ack = (rng() % 5 == 0) ? std::min<uint32_t>(max, una + rng() % 400) : una;
      std::vector<SackBlock> blocks;
      const size_t nblocks = 1 + rng() % 4;
      for (size_t i = 0; i < nblocks; ++i) {
        const uint32_t s = static_cast<uint32_t>(una + 1 + rng() % (max - una));
        const uint32_t e = std::min<uint32_t>(max, s + 1 + rng() % 300);
        if (s < e) blocks.push_back({base + s, base + e});
      }
      // The model: D-SACK rules, validity against the old una, then advance and mark.
      size_t first = 0;
      if (!blocks.empty()) {
        const uint32_t s0 = blocks[0].start - base, e0 = blocks[0].end - base;
        if (s0 < ack ||
            (blocks.size() > 1 && e0 <= blocks[1].end - base && s0 >= blocks[1].start - base)) {
          first = 1;
        }
      }
      uint32_t newly = 0;
      const uint32_t old_una = una;
      una = std::max(una, ack);
      for (size_t i = first; i < blocks.size(); ++i) {
        const uint32_t s = blocks[i].start - base, e = blocks[i].end - base;
        if (!(s > old_una && s < e && e <= max)) continue;
        for (uint32_t b = std::max(s, una); b < e; ++b) {
          if (!sacked[b]) newly++;
          sacked[b] = true;
        }
      }
      for (uint32_t b = 0; b < una; ++b) sacked[b] = false;
      rxt = std::max(rxt, una);

      const auto r = sb.OnAck(base + ack, blocks, base + max);
      ASSERT_EQ(r.newly_sacked, newly);
      ASSERT_EQ(sb.snd_una(), base + una);
      // Ranges are the maximal runs.
      std::vector<bool> from_sb(kWindow, false);
      for (const SackBlock& rg : sb.ranges()) {
        for (uint32_t b = rg.start - base; b != rg.end - base; ++b) from_sb[b] = true;
      }
      ASSERT_EQ(from_sb, sacked);
      // IsLost and pipe, per byte.
      // Suffix counts: SACKed runs and bytes strictly above each byte.
      std::vector<uint32_t> runs_above(kWindow + 1, 0), bytes_above(kWindow + 1, 0);
      for (uint32_t x = max; x-- > 0;) {
        const bool starts_run = x + 1 < max && sacked[x + 1] && !sacked[x];
        runs_above[x] = runs_above[x + 1] + (starts_run ? 1 : 0);
        bytes_above[x] = bytes_above[x + 1] + (x + 1 < max && sacked[x + 1] ? 1 : 0);
      }
      auto model_lost = [&](uint32_t b) {
        // Runs starting above b: the run containing b+1 counts only if it starts there.
        return runs_above[b] >= 3 || bytes_above[b] > 2 * kSmss;
      };
      uint32_t pipe = 0;
      std::optional<uint32_t> rule1;
      uint32_t high_sacked = 0;
      for (uint32_t b = una; b < max; ++b) {
        if (sacked[b]) high_sacked = b + 1;
      }
      for (uint32_t b = una; b < max; ++b) {
        if (sacked[b]) continue;
        const bool lost = model_lost(b);
        ASSERT_EQ(sb.IsLost(base + b, kSmss), lost) << b;
        if (!lost) ++pipe;
        if (b < rxt) ++pipe;
        if (!rule1 && b >= rxt && b < high_sacked && lost) rule1 = b;
      }
      ASSERT_EQ(sb.Pipe(base + max, kSmss), pipe);
      const auto next = sb.NextSeg(base + max, kSmss, false);
      if (rule1) {
        ASSERT_EQ(next.kind, SackScoreboard::NextSegment::Kind::kRetransmit);
        ASSERT_EQ(next.range.start, base + *rule1);
        sb.OnRetransmitted(next.range);
        rxt = next.range.end - base;
      }
    }
  }
}

}  // namespace
}  // namespace netshim
