#include "stack/net/ipv4_reassembler.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "stack/runtime/clock.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kFragOverhead = Ipv4Reassembler::kFragmentOverhead;
constexpr size_t kDgramOverhead = Ipv4Reassembler::kDatagramOverhead;

FragmentKey Key(uint16_t id = 0x1234) {
  return FragmentKey{Ipv4Address::FromOctets(198, 18, 0, 2), Ipv4Address::FromOctets(198, 18, 0, 1),
                     17, id};
}

// Payload bytes that differ by position and datagram, so a misplaced byte shows.
Bytes Pattern(size_t n, uint16_t id = 0x1234) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 7 + (i >> 8) + id) & 0xff);
  return b;
}

Bytes Header(size_t n = 20) {
  Bytes h(n, 0);
  h[0] = static_cast<uint8_t>(0x40 | (n / 4));
  for (size_t i = 1; i < n; ++i) h[i] = static_cast<uint8_t>(0xa0 + i);
  return h;
}

// The fragment of `whole` covering [offset, offset + len).
Fragment Frag(const Bytes& whole, uint32_t offset, uint32_t len, bool mf, FragmentKey key = Key(),
              size_t header_len = 20) {
  Fragment f;
  f.key = key;
  f.offset = offset;
  f.more_fragments = mf;
  if (offset == 0) f.header = PacketBuffer::CopyOf(Header(header_len));
  f.payload = PacketBuffer::CopyOf(std::span(whole).subspan(offset, len));
  return f;
}

// Splits `whole` into fragments of `chunk` bytes (a multiple of 8).
std::vector<Fragment> Split(const Bytes& whole, uint32_t chunk, FragmentKey key = Key()) {
  std::vector<Fragment> out;
  for (uint32_t off = 0; off < whole.size(); off += chunk) {
    const uint32_t len = std::min<uint32_t>(chunk, static_cast<uint32_t>(whole.size()) - off);
    out.push_back(Frag(whole, off, len, off + len < whole.size(), key));
  }
  return out;
}

Bytes ToBytes(const PacketBuffer& b) { return Bytes(b.data(), b.data() + b.size()); }

class Ipv4ReassemblerTest : public ::testing::Test {
 protected:
  explicit Ipv4ReassemblerTest(Ipv4Reassembler::Limits limits = {}) : reasm_(limits, stats_) {}

  // Feeds the fragments in the given order; returns the datagram if the last one completed
  // it (and checks none completed earlier).
  std::optional<ReassembledDatagram> Feed(std::vector<Fragment> frags) {
    std::optional<ReassembledDatagram> out;
    for (size_t i = 0; i < frags.size(); ++i) {
      out = reasm_.Add(std::move(frags[i]), clock_.Now());
      if (i + 1 < frags.size()) {
        EXPECT_FALSE(out.has_value()) << "completed early at " << i;
      }
    }
    return out;
  }

  IpStats stats_;
  ManualClock clock_;
  Ipv4Reassembler reasm_;
};

TEST_F(Ipv4ReassemblerTest, InOrderFragmentsReassembleExactly) {
  const Bytes whole = Pattern(3000);
  auto out = Feed(Split(whole, 1480));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(ToBytes(out->payload), whole);
  EXPECT_EQ(ToBytes(out->header), Header());
  EXPECT_EQ(stats_.ReasmReqds.value(), 3u);
  EXPECT_EQ(stats_.ReasmOKs.value(), 1u);
  EXPECT_EQ(stats_.ReasmFails.value(), 0u);
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 0u);
  EXPECT_FALSE(reasm_.NextDeadline().has_value());
}

TEST_F(Ipv4ReassemblerTest, ResultHasHeadroomForTheHeader) {
  const Bytes whole = Pattern(100);
  std::vector<Fragment> frags = {Frag(whole, 0, 48, true, Key(), 24), Frag(whole, 48, 52, false)};
  auto out = Feed(std::move(frags));
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->header.size(), 24u);
  ASSERT_EQ(out->payload.headroom(), 24u);
  std::copy(out->header.data(), out->header.data() + 24, out->payload.Prepend(24));
  Bytes expect = Header(24);
  expect.insert(expect.end(), whole.begin(), whole.end());
  EXPECT_EQ(ToBytes(out->payload), expect);
}

TEST_F(Ipv4ReassemblerTest, ReversedFragmentsReassemble) {
  const Bytes whole = Pattern(5000);
  std::vector<Fragment> frags = Split(whole, 512);
  std::reverse(frags.begin(), frags.end());
  auto out = Feed(std::move(frags));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(ToBytes(out->payload), whole);
  EXPECT_EQ(ToBytes(out->header), Header());
}

TEST_F(Ipv4ReassemblerTest, ShuffledFragmentsReassemble) {
  const Bytes whole = Pattern(8000);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<Fragment> frags = Split(whole, 8 * (1 + round * 7 % 60));
    std::shuffle(frags.begin(), frags.end(), rng);
    auto out = Feed(std::move(frags));
    ASSERT_TRUE(out.has_value()) << round;
    EXPECT_EQ(ToBytes(out->payload), whole) << round;
  }
  EXPECT_EQ(stats_.ReasmOKs.value(), 20u);
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
}

TEST_F(Ipv4ReassemblerTest, UnfragmentedDatagramPassesThrough) {
  const Bytes whole = Pattern(64);
  auto out = reasm_.Add(Frag(whole, 0, 64, false), clock_.Now());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(ToBytes(out->payload), whole);
}

TEST_F(Ipv4ReassemblerTest, ExactDuplicatesAreDroppedQuietly) {
  const Bytes whole = Pattern(3000);
  std::vector<Fragment> frags = Split(whole, 1000);  // 0, 1000, 2000 — 1000 % 8 == 0
  ASSERT_EQ(frags.size(), 3u);
  EXPECT_FALSE(reasm_.Add(Frag(whole, 1000, 1000, true), clock_.Now()));
  EXPECT_FALSE(reasm_.Add(Frag(whole, 1000, 1000, true), clock_.Now()));
  EXPECT_FALSE(reasm_.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
  EXPECT_FALSE(reasm_.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
  const size_t held = reasm_.bytes_in_use();
  EXPECT_EQ(held, kDgramOverhead + 2 * (1000 + kFragOverhead)) << "duplicates are not held";
  auto out = reasm_.Add(Frag(whole, 0, 1000, true), clock_.Now());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(ToBytes(out->payload), whole);
  EXPECT_EQ(stats_.ReasmReqds.value(), 5u);
  EXPECT_EQ(stats_.ReasmOKs.value(), 1u);
  EXPECT_EQ(stats_.ReasmFails.value(), 0u);
  EXPECT_EQ(stats_.ReasmOverlaps.value(), 0u);
}

TEST_F(Ipv4ReassemblerTest, OverlapWithDifferentExtentsFailsTheDatagram) {
  const Bytes whole = Pattern(4000);
  struct Case {
    uint32_t off, len;
  };
  // Held: [1000, 2000). Each case overlaps it differently.
  for (Case c : {Case{1000, 504}, Case{992, 16}, Case{1992, 16}, Case{1008, 504}, Case{0, 4000}}) {
    SCOPED_TRACE(testing::Message() << c.off << "+" << c.len);
    IpStats stats;
    Ipv4Reassembler reasm({}, stats);
    ASSERT_FALSE(reasm.Add(Frag(whole, 1000, 1000, true), clock_.Now()));
    const bool last = c.off + c.len == whole.size();
    EXPECT_FALSE(reasm.Add(Frag(whole, c.off, c.len, !last), clock_.Now()));
    EXPECT_EQ(stats.ReasmOverlaps.value(), 1u);
    EXPECT_EQ(stats.ReasmFails.value(), 1u);
    EXPECT_EQ(reasm.datagrams_in_progress(), 0u);
    EXPECT_EQ(reasm.bytes_in_use(), 0u);
  }
}

TEST_F(Ipv4ReassemblerTest, AfterAnOverlapTheRestCannotComplete) {
  const Bytes whole = Pattern(3000);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true), clock_.Now()));
  ASSERT_FALSE(reasm_.Add(Frag(whole, 992, 1008, true), clock_.Now()));  // overlaps
  EXPECT_EQ(stats_.ReasmOverlaps.value(), 1u);
  // The remaining fragments start a fresh datagram that lacks its start.
  EXPECT_FALSE(reasm_.Add(Frag(whole, 1000, 1000, true), clock_.Now()));
  EXPECT_FALSE(reasm_.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
  EXPECT_EQ(stats_.ReasmOKs.value(), 0u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 1u);
}

TEST_F(Ipv4ReassemblerTest, TimeoutWithFirstFragmentReportsHeaderAndFirst8Bytes) {
  const Bytes whole = Pattern(3000);
  const absl::Time t0 = clock_.Now();
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true), t0));
  clock_.Advance(absl::Seconds(10));
  ASSERT_FALSE(reasm_.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
  // The deadline is fixed by the first fragment, not extended by later ones.
  ASSERT_EQ(reasm_.NextDeadline(), t0 + absl::Seconds(30));
  EXPECT_TRUE(reasm_.Expire(t0 + absl::Seconds(30) - absl::Nanoseconds(1)).empty());
  EXPECT_EQ(stats_.ReasmTimeout.value(), 0u);
  std::vector<TimedOutDatagram> out = reasm_.Expire(t0 + absl::Seconds(30));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, Key());
  EXPECT_EQ(ToBytes(out[0].header), Header());
  EXPECT_EQ(ToBytes(out[0].first_bytes), Bytes(whole.begin(), whole.begin() + 8));
  EXPECT_EQ(stats_.ReasmTimeout.value(), 1u);
  EXPECT_EQ(stats_.ReasmFails.value(), 1u);
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
  EXPECT_FALSE(reasm_.NextDeadline().has_value());
}

TEST_F(Ipv4ReassemblerTest, TimeoutWithoutFirstFragmentIsCountedButNotReported) {
  const Bytes whole = Pattern(3000);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 1000, 1000, true), clock_.Now()));
  ASSERT_FALSE(reasm_.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
  EXPECT_TRUE(reasm_.Expire(clock_.Now() + absl::Seconds(31)).empty());
  EXPECT_EQ(stats_.ReasmTimeout.value(), 1u);
  EXPECT_EQ(stats_.ReasmFails.value(), 1u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 0u);
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
}

TEST_F(Ipv4ReassemblerTest, ShortFirstFragmentQuotesWhatItHas) {
  // A first fragment can legally be 8 bytes; quote min(8, size).
  const Bytes whole = Pattern(24);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 8, true), clock_.Now()));
  auto out = reasm_.Expire(clock_.Now() + absl::Seconds(30));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(ToBytes(out[0].first_bytes), Bytes(whole.begin(), whole.begin() + 8));
}

TEST_F(Ipv4ReassemblerTest, ExpiresInArrivalOrder) {
  const Bytes whole = Pattern(2000);
  const absl::Time t0 = clock_.Now();
  for (uint16_t id = 1; id <= 5; ++id) {
    ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true, Key(id)), t0 + absl::Seconds(id)));
  }
  EXPECT_EQ(reasm_.NextDeadline(), t0 + absl::Seconds(31));
  auto out = reasm_.Expire(t0 + absl::Seconds(33));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key.id, 1);
  EXPECT_EQ(out[1].key.id, 2);
  EXPECT_EQ(out[2].key.id, 3);
  EXPECT_EQ(reasm_.NextDeadline(), t0 + absl::Seconds(34));
  // The survivors still complete.
  auto done = reasm_.Add(Frag(whole, 1000, 1000, false, Key(5)), t0 + absl::Seconds(34));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(ToBytes(done->payload), whole);
}

TEST_F(Ipv4ReassemblerTest, DistinctKeysDoNotMix) {
  const Bytes whole = Pattern(2000);
  FragmentKey a = Key(), b = Key(), c = Key(), d = Key();
  b.protocol = 6;
  c.src = Ipv4Address::FromOctets(198, 18, 0, 3);
  d.dst = Ipv4Address::FromOctets(198, 18, 0, 4);
  for (const FragmentKey& k : {a, b, c, d}) {
    ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true, k), clock_.Now()));
  }
  EXPECT_EQ(reasm_.datagrams_in_progress(), 4u);
  auto out = reasm_.Add(Frag(whole, 1000, 1000, false, c), clock_.Now());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(reasm_.datagrams_in_progress(), 3u);
}

TEST_F(Ipv4ReassemblerTest, ManyInterleavedDatagramsAllComplete) {
  std::vector<Fragment> all;
  std::vector<Bytes> wholes;
  for (uint16_t id = 0; id < 300; ++id) {
    wholes.push_back(Pattern(400 + id * 13, id));
    for (Fragment& f : Split(wholes.back(), 8 * (5 + id % 20), Key(id)))
      all.push_back(std::move(f));
  }
  std::mt19937 rng(99);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<bool> done(300, false);
  for (Fragment& f : all) {
    const uint16_t id = f.key.id;
    auto out = reasm_.Add(std::move(f), clock_.Now());
    if (out.has_value()) {
      ASSERT_FALSE(done[id]);
      done[id] = true;
      EXPECT_EQ(ToBytes(out->payload), wholes[id]) << id;
    }
  }
  EXPECT_EQ(std::count(done.begin(), done.end(), true), 300);
  EXPECT_EQ(stats_.ReasmOKs.value(), 300u);
  EXPECT_EQ(stats_.ReasmReqds.value(), all.size());
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
}

TEST_F(Ipv4ReassemblerTest, LargestLegalDatagramIsAccepted) {
  // 20-byte header + 65515 bytes of payload = 65535.
  const Bytes whole = Pattern(65515);
  auto out = Feed({Frag(whole, 0, 65512, true), Frag(whole, 65512, 3, false)});
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(ToBytes(out->payload), whole);
}

TEST_F(Ipv4ReassemblerTest, PingOfDeathFailsTheDatagram) {
  const Bytes whole = Pattern(65536);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1480, true), clock_.Now()));
  // 65512 + 4 = 65516 > 65535 - 20.
  EXPECT_FALSE(reasm_.Add(Frag(whole, 65512, 4, false), clock_.Now()));
  EXPECT_EQ(stats_.ReasmFails.value(), 1u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 0u);
  EXPECT_EQ(reasm_.bytes_in_use(), 0u);
}

TEST_F(Ipv4ReassemblerTest, LongFirstHeaderArrivingLateStillBoundsTheSize) {
  // Fits with a 20-byte header, not with the 60-byte one the first fragment brings.
  const Bytes whole = Pattern(65515);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 65512, 3, false), clock_.Now()));
  EXPECT_FALSE(reasm_.Add(Frag(whole, 0, 65512, true, Key(), 60), clock_.Now()));
  EXPECT_EQ(stats_.ReasmFails.value(), 1u);
  EXPECT_EQ(stats_.ReasmOKs.value(), 0u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 0u);
}

TEST_F(Ipv4ReassemblerTest, HostileOffsetsNeverWrap) {
  const Bytes whole = Pattern(64);
  Fragment f = Frag(whole, 8, 16, true);
  f.offset = 0xfffffff8u;
  EXPECT_FALSE(reasm_.Add(std::move(f), clock_.Now()));
  Fragment g = Frag(whole, 8, 16, false);
  g.offset = 0xfffffff0u;
  EXPECT_FALSE(reasm_.Add(std::move(g), clock_.Now()));
  EXPECT_EQ(stats_.ReasmFails.value(), 2u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 0u);
}

TEST_F(Ipv4ReassemblerTest, BadLengthsFailTheDatagram) {
  const Bytes whole = Pattern(4000);
  struct Case {
    const char* what;
    uint32_t off, len;
    bool mf;
  };
  for (Case c : {Case{"non-last not a multiple of 8", 1000, 1001, true},
                 Case{"empty non-last", 1000, 0, true}, Case{"empty last", 3000, 0, false},
                 Case{"offset not a multiple of 8", 1004, 8, true}}) {
    SCOPED_TRACE(c.what);
    IpStats stats;
    Ipv4Reassembler reasm({}, stats);
    ASSERT_FALSE(reasm.Add(Frag(whole, 0, 1000, true), clock_.Now()));
    EXPECT_FALSE(reasm.Add(Frag(whole, c.off, c.len, c.mf), clock_.Now()));
    EXPECT_EQ(stats.ReasmFails.value(), 1u);
    EXPECT_EQ(reasm.datagrams_in_progress(), 0u);
    EXPECT_EQ(reasm.bytes_in_use(), 0u);
    // Alone (no datagram yet), a bad fragment is still one failure and holds nothing.
    EXPECT_FALSE(reasm.Add(Frag(whole, c.off, c.len, c.mf), clock_.Now()));
    EXPECT_EQ(stats.ReasmFails.value(), 2u);
    EXPECT_EQ(reasm.datagrams_in_progress(), 0u);
  }
}

TEST_F(Ipv4ReassemblerTest, InconsistentEndsFailTheDatagram) {
  const Bytes whole = Pattern(4000);
  struct Case {
    const char* what;
    uint32_t off, len;
    bool mf;
  };
  // Held: [0, 1000) and the last fragment [2000, 3000).
  for (Case c : {Case{"second last with another end", 1000, 8, false},
                 Case{"second last ending further", 3000, 8, false},
                 Case{"data beyond the end", 3000, 1000, true},
                 Case{"last ending before held data", 1000, 5, false}}) {
    SCOPED_TRACE(c.what);
    IpStats stats;
    Ipv4Reassembler reasm({}, stats);
    ASSERT_FALSE(reasm.Add(Frag(whole, 0, 1000, true), clock_.Now()));
    ASSERT_FALSE(reasm.Add(Frag(whole, 2000, 1000, false), clock_.Now()));
    EXPECT_FALSE(reasm.Add(Frag(whole, c.off, c.len, c.mf), clock_.Now()));
    EXPECT_EQ(stats.ReasmFails.value(), 1u);
    EXPECT_EQ(reasm.datagrams_in_progress(), 0u);
  }
  // A last fragment that ends before data already received (no last seen yet).
  IpStats stats;
  Ipv4Reassembler reasm({}, stats);
  ASSERT_FALSE(reasm.Add(Frag(whole, 2000, 1000, true), clock_.Now()));
  EXPECT_FALSE(reasm.Add(Frag(whole, 1000, 8, false), clock_.Now()));
  EXPECT_EQ(stats.ReasmFails.value(), 1u);
}

TEST_F(Ipv4ReassemblerTest, HeaderSharingThePayloadBlockIsChargedOnce) {
  // As on the receive path: header and payload are windows into one frame buffer.
  Bytes frame = Header();
  const Bytes data = Pattern(1000);
  frame.insert(frame.end(), data.begin(), data.end());
  PacketBuffer block = PacketBuffer::CopyOf(frame);
  Fragment f;
  f.key = Key();
  f.offset = 0;
  f.more_fragments = true;
  f.header = block.Slice(0, 20);
  f.payload = block.Slice(20, 1000);
  block.Reset();
  ASSERT_FALSE(reasm_.Add(std::move(f), clock_.Now()));
  EXPECT_EQ(reasm_.bytes_in_use(), kDgramOverhead + frame.size() + kFragOverhead);
  // A separately allocated header is charged on its own.
  Fragment g = Frag(Pattern(1000), 0, 1000, true, Key(2));
  ASSERT_FALSE(reasm_.Add(std::move(g), clock_.Now()));
  EXPECT_EQ(reasm_.bytes_in_use(),
            2 * kDgramOverhead + frame.size() + 2 * kFragOverhead + 1000 + 20);
}

class Ipv4ReassemblerCapTest : public Ipv4ReassemblerTest {
 protected:
  // Room for a bit more than 3 fragments of 1000 bytes (each with a 20-byte header).
  static Ipv4Reassembler::Limits SmallLimits() {
    Ipv4Reassembler::Limits l;
    l.max_bytes = 3 * (kDgramOverhead + 1020 + kFragOverhead) + 100;
    return l;
  }
  Ipv4ReassemblerCapTest() : Ipv4ReassemblerTest(SmallLimits()) {}
};

TEST_F(Ipv4ReassemblerCapTest, OldestDatagramsAreEvictedToMakeRoom) {
  const Bytes whole = Pattern(2000);
  for (uint16_t id = 1; id <= 3; ++id) {
    ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true, Key(id)), clock_.Now()));
    ASSERT_LE(reasm_.bytes_in_use(), reasm_.limits().max_bytes);
  }
  EXPECT_EQ(stats_.ReasmMemoryDrops.value(), 0u);
  // A fourth datagram needs room: the oldest (id 1) goes.
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true, Key(4)), clock_.Now()));
  EXPECT_LE(reasm_.bytes_in_use(), reasm_.limits().max_bytes);
  EXPECT_EQ(stats_.ReasmMemoryDrops.value(), 1u);
  EXPECT_EQ(stats_.ReasmFails.value(), 1u);
  EXPECT_EQ(reasm_.datagrams_in_progress(), 3u);
  // id 1 lost its first half: its second half only starts a new datagram (evicting id 2).
  EXPECT_FALSE(reasm_.Add(Frag(whole, 1000, 1000, false, Key(1)), clock_.Now()));
  EXPECT_EQ(stats_.ReasmMemoryDrops.value(), 2u);
  // id 3 and 4 are intact and complete: a completing fragment needs no room, so nothing
  // else is evicted for it.
  EXPECT_TRUE(reasm_.Add(Frag(whole, 1000, 1000, false, Key(3)), clock_.Now()).has_value());
  EXPECT_TRUE(reasm_.Add(Frag(whole, 1000, 1000, false, Key(4)), clock_.Now()).has_value());
  EXPECT_EQ(stats_.ReasmOKs.value(), 2u);
  EXPECT_EQ(stats_.ReasmMemoryDrops.value(), 2u);
}

TEST_F(Ipv4ReassemblerCapTest, OneDatagramCanNeverExceedTheCap) {
  const Bytes whole = Pattern(8000);
  ASSERT_FALSE(reasm_.Add(Frag(whole, 0, 1000, true, Key(9)), clock_.Now()));  // older
  std::optional<ReassembledDatagram> out;
  for (uint32_t off = 0; off < 8000; off += 1000) {
    out = reasm_.Add(Frag(whole, off, 1000, off + 1000 < 8000), clock_.Now());
    ASSERT_LE(reasm_.bytes_in_use(), reasm_.limits().max_bytes);
  }
  EXPECT_FALSE(out.has_value());
  // The other datagram was evicted first, then this one failed; later fragments of it
  // start over and fail again.
  EXPECT_GE(stats_.ReasmMemoryDrops.value(), 2u);
  EXPECT_EQ(stats_.ReasmOKs.value(), 0u);
  EXPECT_EQ(reasm_.NextDeadline().has_value(), reasm_.datagrams_in_progress() > 0);
}

TEST_F(Ipv4ReassemblerTest, DatagramCountIsCapped) {
  IpStats stats;
  Ipv4Reassembler::Limits limits;
  limits.max_datagrams = 2;
  Ipv4Reassembler reasm(limits, stats);
  const Bytes whole = Pattern(16);
  for (uint16_t id = 1; id <= 3; ++id) {
    ASSERT_FALSE(reasm.Add(Frag(whole, 0, 8, true, Key(id)), clock_.Now()));
  }
  EXPECT_EQ(reasm.datagrams_in_progress(), 2u);
  EXPECT_EQ(stats.ReasmMemoryDrops.value(), 1u);
  EXPECT_FALSE(reasm.Add(Frag(whole, 8, 8, false, Key(1)), clock_.Now()).has_value())
      << "id 1 was the oldest and was evicted";
  EXPECT_TRUE(reasm.Add(Frag(whole, 8, 8, false, Key(3)), clock_.Now()).has_value());
}

}  // namespace
}  // namespace netshim
