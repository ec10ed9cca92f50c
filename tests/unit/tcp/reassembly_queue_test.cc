// Receiver reassembly: in-order and out-of-order delivery, overlap trimming, duplicates
// and D-SACK ranges, RFC 2018 SACK block order, the byte and segment bounds, and random
// insertion orders checked against a byte-level reference model.
#include "stack/transport/tcp/reassembly_queue.h"

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

constexpr uint32_t kIsn = 0xffffff00u;  // close to the wrap

uint8_t StreamByte(uint64_t offset) { return static_cast<uint8_t>(offset * 31 + (offset >> 8)); }

// The payload for stream bytes [off, off + len) of a stream starting at kIsn.
PacketBuffer Payload(uint32_t off, uint32_t len) {
  PacketBuffer b = PacketBuffer::Heap(len + 16, 8);
  uint8_t* p = b.Append(len);
  for (uint32_t i = 0; i < len; ++i) p[i] = StreamByte(off + i);
  return b;
}

ReassemblyQueue::InsertResult Put(ReassemblyQueue& q, uint32_t off, uint32_t len) {
  return q.Insert(kIsn + off, Payload(off, len));
}

std::vector<uint8_t> PopAll(ReassemblyQueue& q) {
  std::vector<uint8_t> out;
  q.PopInOrder([&](PacketBuffer b) { out.insert(out.end(), b.data(), b.data() + b.size()); });
  return out;
}

std::vector<uint8_t> Expected(uint32_t off, uint32_t len) {
  std::vector<uint8_t> v(len);
  for (uint32_t i = 0; i < len; ++i) v[i] = StreamByte(off + i);
  return v;
}

SackBlock Block(uint32_t start, uint32_t end) { return {kIsn + start, kIsn + end}; }

std::vector<SackBlock> Sacks(const ReassemblyQueue& q, size_t n = 4) {
  std::vector<SackBlock> out(n);
  out.resize(q.SackBlocks(out));
  return out;
}

TEST(ReassemblyQueueTest, InOrderDataIsReadyAtOnce) {
  ReassemblyQueue q(kIsn);
  auto r = Put(q, 0, 100);
  EXPECT_TRUE(r.in_order);
  EXPECT_EQ(r.new_bytes, 100u);
  EXPECT_EQ(PopAll(q), Expected(0, 100));
  EXPECT_EQ(q.rcv_nxt(), kIsn + 100);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_TRUE(Sacks(q).empty());
}

TEST(ReassemblyQueueTest, OutOfOrderWaitsForTheGap) {
  ReassemblyQueue q(kIsn);
  auto r = Put(q, 200, 100);
  EXPECT_FALSE(r.in_order);
  EXPECT_TRUE(PopAll(q).empty());
  Put(q, 100, 100);
  EXPECT_EQ(Sacks(q), (std::vector{Block(100, 300)}));
  r = Put(q, 0, 100);  // crosses the wrap of the sequence space
  EXPECT_TRUE(r.in_order);
  EXPECT_EQ(PopAll(q), Expected(0, 300));
  EXPECT_EQ(q.rcv_nxt(), kIsn + 300);
  EXPECT_TRUE(Sacks(q).empty());
}

TEST(ReassemblyQueueTest, PayloadIsSlicedNotCopied) {
  ReassemblyQueue q(kIsn);
  PacketBuffer p = Payload(0, 100);
  const uint8_t* data = p.data();
  q.Insert(kIsn - 20, p);  // 20 bytes old, 80 new
  std::vector<const uint8_t*> seen;
  q.PopInOrder([&](PacketBuffer b) { seen.push_back(b.data()); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], data + 20);
}

TEST(ReassemblyQueueTest, CoveringSegmentReplacesHeldOnes) {
  ReassemblyQueue q(kIsn);
  Put(q, 110, 10);
  Put(q, 130, 10);
  auto r = Put(q, 100, 50);
  EXPECT_EQ(r.new_bytes, 30u);
  EXPECT_EQ(r.duplicate_bytes, 20u);
  ASSERT_TRUE(r.dsack);
  EXPECT_EQ(*r.dsack, Block(110, 120));
  EXPECT_EQ(q.segments(), 1u);
  EXPECT_EQ(q.bytes(), 50u);
}

TEST(ReassemblyQueueTest, PartialOverlapsTrimmed) {
  ReassemblyQueue q(kIsn);
  Put(q, 100, 50);           // [100, 150)
  auto r = Put(q, 140, 30);  // [140, 170): 10 duplicate
  EXPECT_EQ(r.new_bytes, 20u);
  EXPECT_EQ(*r.dsack, Block(140, 150));
  r = Put(q, 90, 20);  // [90, 110): 10 duplicate
  EXPECT_EQ(r.new_bytes, 10u);
  EXPECT_EQ(*r.dsack, Block(100, 110));
  EXPECT_EQ(q.bytes(), 80u);
  EXPECT_EQ(Sacks(q), (std::vector{Block(90, 170)}));
  Put(q, 0, 90);
  EXPECT_EQ(PopAll(q), Expected(0, 170));
}

TEST(ReassemblyQueueTest, DuplicatesBelowRcvNxtAndHeld) {
  ReassemblyQueue q(kIsn);
  Put(q, 0, 100);
  PopAll(q);
  // Wholly old: RFC 2883 D-SACK of the segment.
  auto r = Put(q, 20, 50);
  EXPECT_EQ(r.duplicate_bytes, 50u);
  EXPECT_EQ(r.new_bytes, 0u);
  EXPECT_EQ(*r.dsack, Block(20, 70));
  // Partly old: the old part is reported, the rest kept and ready.
  r = Put(q, 90, 20);
  EXPECT_EQ(*r.dsack, Block(90, 100));
  EXPECT_EQ(r.new_bytes, 10u);
  EXPECT_TRUE(r.in_order);
  EXPECT_EQ(PopAll(q), Expected(100, 10));
  // A duplicate of held out-of-order data: reported, and its block goes first
  // (RFC 2883 4.1.2: the D-SACK's containing block follows it).
  Put(q, 200, 10);
  Put(q, 300, 10);
  r = Put(q, 202, 5);
  EXPECT_EQ(r.new_bytes, 0u);
  EXPECT_EQ(*r.dsack, Block(202, 207));
  EXPECT_EQ(Sacks(q), (std::vector{Block(200, 210), Block(300, 310)}));
}

TEST(ReassemblyQueueTest, SackBlocksMostRecentFirst) {
  // RFC 2018 4: the first block holds the segment that triggered the ACK; then the most
  // recently reported others.
  ReassemblyQueue q(kIsn);
  Put(q, 100, 10);
  Put(q, 200, 10);
  Put(q, 300, 10);
  Put(q, 400, 10);
  Put(q, 500, 10);
  EXPECT_EQ(Sacks(q),
            (std::vector{Block(500, 510), Block(400, 410), Block(300, 310), Block(200, 210)}));
  EXPECT_EQ(Sacks(q, 3).size(), 3u);  // beside timestamps only 3 fit
  Put(q, 210, 10);                    // extends [200, 210): that block first
  EXPECT_EQ(Sacks(q),
            (std::vector{Block(200, 220), Block(500, 510), Block(400, 410), Block(300, 310)}));
  Put(q, 220, 80);  // bridges [200,220) and [300,310)
  EXPECT_EQ(Sacks(q),
            (std::vector{Block(200, 310), Block(500, 510), Block(400, 410), Block(100, 110)}));
  Put(q, 0, 200);  // fills to 310: in-order data leaves the SACK list
  PopAll(q);
  EXPECT_EQ(Sacks(q), (std::vector{Block(500, 510), Block(400, 410)}));
}

TEST(ReassemblyQueueTest, ByteBoundEvictsHigherDataOrDrops) {
  ReassemblyQueue q(kIsn, {.max_bytes = 1000, .max_segments = 100});
  Put(q, 5000, 600);
  // Lower data that does not fit: the higher data is evicted for it (it is nearer to use).
  auto r = Put(q, 3000, 600);
  EXPECT_EQ(r.new_bytes, 600u);
  EXPECT_EQ(r.evicted_bytes, 600u);
  EXPECT_EQ(q.bytes(), 600u);
  EXPECT_EQ(Sacks(q), (std::vector{Block(3000, 3600)}));
  // Higher data that does not fit: dropped, nothing evicted.
  r = Put(q, 8000, 500);
  EXPECT_EQ(r.new_bytes, 0u);
  EXPECT_EQ(r.dropped_bytes, 500u);
  EXPECT_EQ(r.evicted_bytes, 0u);
  EXPECT_EQ(q.bytes(), 600u);
  // In-order data that fits after evicting.
  r = Put(q, 0, 900);
  EXPECT_EQ(r.new_bytes, 900u);
  EXPECT_EQ(r.evicted_bytes, 600u);
  EXPECT_TRUE(r.in_order);
  EXPECT_LE(q.bytes(), 1000u);
  // Bigger than the whole bound: dropped.
  ReassemblyQueue small(kIsn, {.max_bytes = 100, .max_segments = 100});
  r = Put(small, 0, 101);
  EXPECT_EQ(r.dropped_bytes, 101u);
  EXPECT_TRUE(small.empty());
}

TEST(ReassemblyQueueTest, SegmentBound) {
  ReassemblyQueue q(kIsn, {.max_bytes = 1 << 20, .max_segments = 3});
  Put(q, 100, 1);
  Put(q, 200, 1);
  Put(q, 300, 1);
  auto r = Put(q, 400, 1);
  EXPECT_EQ(r.dropped_bytes, 1u);
  EXPECT_EQ(q.segments(), 3u);
  r = Put(q, 50, 1);  // lower: evicts the top one
  EXPECT_EQ(r.evicted_bytes, 1u);
  EXPECT_EQ(q.segments(), 3u);
  EXPECT_EQ(Sacks(q), (std::vector{Block(50, 51), Block(200, 201), Block(100, 101)}));
  // Replacing held segments frees their slots.
  r = Put(q, 40, 200);
  EXPECT_EQ(r.evicted_bytes, 0u);
  EXPECT_EQ(q.segments(), 1u);
}

TEST(ReassemblyQueueTest, SetMaxBytesShrinks) {
  ReassemblyQueue q(kIsn);
  Put(q, 100, 100);
  Put(q, 300, 100);
  q.SetMaxBytes(150);
  EXPECT_EQ(q.bytes(), 100u);
  EXPECT_EQ(Sacks(q), (std::vector{Block(100, 200)}));
}

TEST(ReassemblyQueueTest, AdvancePastFinDropsBelow) {
  ReassemblyQueue q(kIsn);
  Put(q, 0, 10);
  PopAll(q);
  q.Advance(1);
  EXPECT_EQ(q.rcv_nxt(), kIsn + 11);
  ReassemblyQueue r(kIsn);
  Put(r, 5, 10);
  r.Advance(8);
  EXPECT_EQ(r.bytes(), 7u);
  EXPECT_EQ(Sacks(r), (std::vector{Block(8, 15)}));
  EXPECT_EQ(PopAll(r), Expected(8, 7));
}

TEST(ReassemblyQueueTest, EmptyPayloadIgnoredAndResetRestarts) {
  ReassemblyQueue q(kIsn);
  auto r = q.Insert(kIsn + 5, PacketBuffer::Heap(4));
  EXPECT_EQ(r.new_bytes + r.duplicate_bytes + r.dropped_bytes, 0u);
  Put(q, 10, 10);
  q.Reset(7);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.rcv_nxt(), 7u);
  EXPECT_TRUE(Sacks(q).empty());
}

// Random segmentations of a stream inserted in random order, with duplicates and
// overlaps, against a byte-level model of what is held.
void RandomAgainstModel(uint32_t seed, size_t max_bytes, size_t max_segments) {
  std::mt19937 rng(seed);
  const uint32_t stream = 8000;
  ReassemblyQueue q(kIsn, {.max_bytes = max_bytes, .max_segments = max_segments});
  std::vector<uint8_t> delivered;
  std::vector<bool> held(stream, false);  // model: bytes held above rcv_nxt
  uint32_t rcv = 0;
  int guard = 0;
  while (rcv < stream && ++guard < 200000) {
    // A segment somewhere near the window, sometimes starting below rcv_nxt.
    const uint32_t len = 1 + rng() % 700;
    int64_t start = static_cast<int64_t>(rcv) - 300 + static_cast<int64_t>(rng() % 4000);
    start = std::clamp<int64_t>(start, 0, stream - 1);
    const uint32_t s = static_cast<uint32_t>(start);
    const uint32_t e = std::min(stream, s + len);
    const size_t bytes_before = q.bytes();
    auto r = Put(q, s, e - s);
    ASSERT_LE(q.bytes(), max_bytes);
    ASSERT_LE(q.segments(), max_segments);
    // Accounting balances: every byte of the segment is new, duplicate or dropped.
    ASSERT_EQ(r.new_bytes + r.duplicate_bytes + r.dropped_bytes, e - s);
    ASSERT_EQ(q.bytes(), bytes_before + r.new_bytes - r.evicted_bytes);
    if (r.dropped_bytes == 0) {
      for (uint32_t i = std::max(s, rcv); i < e; ++i) held[i] = true;
    }
    if (r.evicted_bytes > 0) {
      // Eviction takes the highest data: recompute the model from the SACK ranges.
      std::vector<SackBlock> all(max_segments + 1);
      all.resize(q.SackBlocks(all));
      std::fill(held.begin(), held.end(), false);
      for (const SackBlock& b : all) {
        for (uint32_t i = b.start - kIsn; i != b.end - kIsn; ++i) held[i] = true;
      }
    }
    // The SACK ranges are exactly the maximal runs of held bytes above rcv_nxt, and the
    // first one holds the segment just received (when it was kept and not in order).
    std::vector<SackBlock> all(max_segments + 1);
    all.resize(q.SackBlocks(all));
    std::vector<bool> from_sacks(stream, false);
    for (const SackBlock& b : all) {
      ASSERT_TRUE(b.start - kIsn < stream && b.end - kIsn <= stream);
      for (uint32_t i = b.start - kIsn; i != b.end - kIsn; ++i) {
        ASSERT_FALSE(from_sacks[i]) << "overlapping blocks";
        from_sacks[i] = true;
      }
      ASSERT_TRUE(b.start - kIsn == 0 || !held[b.start - kIsn - 1]) << "not maximal";
      ASSERT_TRUE(b.end - kIsn == stream || !held[b.end - kIsn]) << "not maximal";
    }
    for (uint32_t i = rcv; i < stream; ++i) ASSERT_EQ(from_sacks[i], held[i]) << i;
    if (r.new_bytes > 0 && !r.in_order) {
      ASSERT_FALSE(all.empty());
      const uint32_t first_start = all[0].start - kIsn, first_end = all[0].end - kIsn;
      ASSERT_LE(first_start, std::max(s, rcv));
      // Eviction may have taken held data the segment reached into; never the segment.
      if (r.evicted_bytes == 0) {
        ASSERT_LE(e, first_end);
      }
      ASSERT_GT(first_end, std::max(s, rcv));
    }
    ASSERT_EQ(r.in_order, rcv < stream && held[rcv]);
    // Deliver; check bytes against the stream.
    const size_t before = delivered.size();
    q.PopInOrder(
        [&](PacketBuffer b) { delivered.insert(delivered.end(), b.data(), b.data() + b.size()); });
    for (size_t i = before; i < delivered.size(); ++i) ASSERT_EQ(delivered[i], StreamByte(i));
    rcv = static_cast<uint32_t>(delivered.size());
    ASSERT_EQ(q.rcv_nxt(), kIsn + rcv);
    ASSERT_TRUE(rcv == stream || !held[rcv]);
    for (uint32_t i = 0; i < rcv; ++i) held[i] = false;
  }
  EXPECT_EQ(rcv, stream);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(ReassemblyQueueTest, RandomOrderMatchesModel) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(seed);
    RandomAgainstModel(seed, 1 << 20, 4096);
    if (HasFatalFailure()) return;
  }
}

TEST(ReassemblyQueueTest, RandomOrderUnderTightBounds) {
  for (uint32_t seed = 100; seed <= 112; ++seed) {
    SCOPED_TRACE(seed);
    RandomAgainstModel(seed, 2000, 6);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace netshim
