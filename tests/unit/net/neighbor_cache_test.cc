#include "stack/net/neighbor_cache.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stack/runtime/clock.h"

namespace netshim {
namespace {

constexpr size_t kEthHeadroom = 14;

Ipv4Address Ip(uint8_t last) { return Ipv4Address::FromOctets(198, 18, 0, last); }
MacAddress Mac(uint8_t last) { return MacAddress{{0x02, 0x00, 0x00, 0x00, 0x00, last}}; }

// An IPv4 packet stand-in: `size` bytes of `tag`, with room for an Ethernet header.
TxFrame Frame(uint8_t tag, size_t size = 100) {
  PacketBuffer head = PacketBuffer::Heap(kEthHeadroom + size, kEthHeadroom);
  std::fill_n(head.Append(size), size, tag);
  return TxFrame(std::move(head));
}
uint8_t TagOf(const TxFrame& f) { return f.head.data()[0]; }

ArpSender Reply(uint8_t host, MacAddress mac) {
  return ArpSender{Ip(host), mac, ArpOrigin::kReplyToUs, false};
}
ArpSender RequestForUs(uint8_t host, MacAddress mac) {
  return ArpSender{Ip(host), mac, ArpOrigin::kRequestForUs, false};
}

class NeighborCacheTest : public ::testing::Test {
 protected:
  explicit NeighborCacheTest(NeighborConfig config = {}) : cache_(stats_, config) {}

  absl::Time now() const { return clock_.Now(); }
  NudState StateOf(uint8_t host) {
    auto info = cache_.Lookup(Ip(host));
    return info ? info->state : NudState::kNone;
  }
  // Resolves host .5 through a reply at the current time: REACHABLE with Mac(5).
  void MakeReachable(uint8_t host = 5) {
    ResolveResult r = cache_.Resolve(Ip(host), Frame(1), now());
    ASSERT_FALSE(r.mac.has_value());
    NeighborActions a = cache_.OnArpReceived(Reply(host, Mac(host)), now());
    ASSERT_EQ(a.ready.size(), 1u);
    ASSERT_EQ(StateOf(host), NudState::kReachable);
  }
  // REACHABLE, then aged into STALE without use.
  void MakeStale(uint8_t host = 5) {
    MakeReachable(host);
    clock_.Advance(cache_.reachable_time());
    cache_.OnTimer(now());
    ASSERT_EQ(StateOf(host), NudState::kStale);
  }

  ArpStats stats_;
  ManualClock clock_;
  NeighborCache cache_;
};

TEST_F(NeighborCacheTest, EmptyCacheHasNothingToDo) {
  EXPECT_FALSE(cache_.NextDeadline().has_value());
  EXPECT_TRUE(cache_.OnTimer(now()).empty());
  EXPECT_FALSE(cache_.Peek(Ip(5)).has_value());
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(NeighborCacheTest, FirstResolutionBroadcastsRetriesEverySecondThenFails) {
  const absl::Time t0 = now();
  ResolveResult r = cache_.Resolve(Ip(5), Frame(1), t0);
  EXPECT_FALSE(r.mac.has_value());
  ASSERT_EQ(r.actions.requests.size(), 1u);
  EXPECT_EQ(r.actions.requests[0].target, Ip(5));
  EXPECT_FALSE(r.actions.requests[0].unicast());
  EXPECT_EQ(StateOf(5), NudState::kIncomplete);
  // More frames while resolving: queued, no new request.
  ResolveResult r2 = cache_.Resolve(Ip(5), Frame(2), t0 + absl::Milliseconds(100));
  EXPECT_FALSE(r2.mac.has_value());
  EXPECT_TRUE(r2.actions.empty());
  EXPECT_EQ(cache_.NextDeadline(), t0 + absl::Seconds(1));

  EXPECT_TRUE(cache_.OnTimer(t0 + absl::Milliseconds(999)).empty());
  for (int i = 1; i <= 2; ++i) {
    NeighborActions a = cache_.OnTimer(t0 + absl::Seconds(i));
    ASSERT_EQ(a.requests.size(), 1u) << i;
    EXPECT_FALSE(a.requests[0].unicast());
    EXPECT_TRUE(a.failed.empty());
    EXPECT_EQ(cache_.NextDeadline(), t0 + absl::Seconds(i + 1));
  }
  // Third retransmit time: three requests went unanswered.
  NeighborActions fail = cache_.OnTimer(t0 + absl::Seconds(3));
  EXPECT_TRUE(fail.requests.empty());
  ASSERT_EQ(fail.failed.size(), 2u);
  EXPECT_EQ(TagOf(fail.failed[0]), 1);
  EXPECT_EQ(TagOf(fail.failed[1]), 2);
  EXPECT_EQ(StateOf(5), NudState::kFailed);
  EXPECT_EQ(stats_.ResolutionFailures.value(), 1u);
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 2u);
  EXPECT_FALSE(cache_.Peek(Ip(5)).has_value());
  EXPECT_EQ(cache_.Lookup(Ip(5))->queued_frames, 0u);

  // A new use of a FAILED neighbour starts over with a broadcast.
  ResolveResult again = cache_.Resolve(Ip(5), Frame(3), t0 + absl::Seconds(4));
  ASSERT_EQ(again.actions.requests.size(), 1u);
  EXPECT_FALSE(again.actions.requests[0].unicast());
  EXPECT_EQ(StateOf(5), NudState::kIncomplete);
}

TEST_F(NeighborCacheTest, ReplyFlushesTheQueueInOrder) {
  for (uint8_t tag = 1; tag <= 3; ++tag) {
    ASSERT_FALSE(cache_.Resolve(Ip(5), Frame(tag), now()).mac.has_value());
  }
  clock_.Advance(absl::Milliseconds(300));
  NeighborActions a = cache_.OnArpReceived(Reply(5, Mac(5)), now());
  ASSERT_EQ(a.ready.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.ready[i].dst_mac, Mac(5));
    EXPECT_EQ(TagOf(a.ready[i].frame), i + 1);
    EXPECT_EQ(a.ready[i].frame.head.headroom(), kEthHeadroom);
  }
  EXPECT_TRUE(a.requests.empty());
  EXPECT_EQ(StateOf(5), NudState::kReachable);
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(5));
  EXPECT_EQ(cache_.NextDeadline(), now() + cache_.reachable_time());
  // Now resolved directly, the frame handed back.
  ResolveResult r = cache_.Resolve(Ip(5), Frame(9), now());
  ASSERT_TRUE(r.mac.has_value());
  EXPECT_EQ(*r.mac, Mac(5));
  EXPECT_EQ(TagOf(r.frame), 9);
  EXPECT_TRUE(r.actions.empty());
  // No retransmits are left.
  EXPECT_TRUE(cache_.OnTimer(now() + absl::Seconds(5)).requests.empty());
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 0u);
}

TEST_F(NeighborCacheTest, ReachableTimeIsRandomisedAroundTheBase) {
  std::vector<absl::Duration> seen;
  for (int i = 0; i < 20; ++i) {
    ArpStats stats;
    NeighborCache cache(stats);
    const absl::Duration rt = cache.reachable_time();
    EXPECT_GE(rt, absl::Seconds(15));
    EXPECT_LT(rt, absl::Seconds(45));
    seen.push_back(rt);
  }
  EXPECT_NE(*std::min_element(seen.begin(), seen.end()),
            *std::max_element(seen.begin(), seen.end()));
}

TEST_F(NeighborCacheTest, ReachableTimeIsRedrawnEvery300Seconds) {
  const absl::Time t0 = now();
  cache_.OnTimer(t0);
  const absl::Duration first = cache_.reachable_time();
  cache_.OnTimer(t0 + absl::Seconds(299));
  EXPECT_EQ(cache_.reachable_time(), first);
  cache_.OnTimer(t0 + absl::Seconds(300));
  EXPECT_NE(cache_.reachable_time(), first);  // equal draws of a double: never in practice
  EXPECT_GE(cache_.reachable_time(), absl::Seconds(15));
  EXPECT_LT(cache_.reachable_time(), absl::Seconds(45));
}

TEST_F(NeighborCacheTest, ReachableExpiresToStaleAfterReachableTime) {
  MakeReachable();
  const absl::Time t1 = now();
  const absl::Duration rt = cache_.reachable_time();
  EXPECT_TRUE(cache_.OnTimer(t1 + rt - absl::Nanoseconds(1)).empty());
  EXPECT_EQ(StateOf(5), NudState::kReachable);
  EXPECT_TRUE(cache_.OnTimer(t1 + rt).empty());
  EXPECT_EQ(StateOf(5), NudState::kStale);
  // STALE still resolves (no request needed to send).
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(5));
}

TEST_F(NeighborCacheTest, ReachableInUseAtExpiryGoesToDelay) {
  MakeReachable();
  const absl::Time t1 = now();
  const absl::Duration rt = cache_.reachable_time();
  ASSERT_TRUE(cache_.Resolve(Ip(5), Frame(2), t1 + rt - absl::Seconds(1)).mac.has_value());
  cache_.OnTimer(t1 + rt);
  EXPECT_EQ(StateOf(5), NudState::kDelay);
  EXPECT_EQ(cache_.NextDeadline(), t1 + rt + absl::Seconds(5));
}

TEST_F(NeighborCacheTest, UpperLayerConfirmationKeepsReachable) {
  MakeReachable();
  const absl::Time t1 = now();
  const absl::Duration rt = cache_.reachable_time();
  cache_.ConfirmReachable(Ip(5), t1 + absl::Seconds(10));
  cache_.OnTimer(t1 + rt);
  EXPECT_EQ(StateOf(5), NudState::kReachable);
  EXPECT_EQ(cache_.NextDeadline(), t1 + absl::Seconds(10) + rt);
  cache_.OnTimer(t1 + absl::Seconds(10) + rt);
  EXPECT_EQ(StateOf(5), NudState::kStale);
}

TEST_F(NeighborCacheTest, StaleUseGoesDelayThenUnicastProbesThenFailed) {
  MakeStale();
  const absl::Time t = now();
  // Linux: a use of a STALE entry sends at once with the cached address.
  ResolveResult r = cache_.Resolve(Ip(5), Frame(7), t);
  ASSERT_TRUE(r.mac.has_value());
  EXPECT_EQ(*r.mac, Mac(5));
  EXPECT_EQ(TagOf(r.frame), 7);
  EXPECT_TRUE(r.actions.requests.empty());
  EXPECT_EQ(StateOf(5), NudState::kDelay);
  EXPECT_EQ(cache_.NextDeadline(), t + absl::Seconds(5));
  // DELAY and PROBE still send with the cached address.
  EXPECT_TRUE(cache_.Resolve(Ip(5), Frame(8), t + absl::Seconds(1)).mac.has_value());

  EXPECT_TRUE(cache_.OnTimer(t + absl::Seconds(5) - absl::Nanoseconds(1)).empty());
  for (int i = 0; i < 3; ++i) {
    NeighborActions a = cache_.OnTimer(t + absl::Seconds(5 + i));
    ASSERT_EQ(a.requests.size(), 1u) << i;
    EXPECT_TRUE(a.requests[0].unicast());
    EXPECT_EQ(a.requests[0].dst_mac, Mac(5));
    EXPECT_EQ(a.requests[0].target, Ip(5));
    EXPECT_EQ(StateOf(5), NudState::kProbe);
    EXPECT_TRUE(cache_.Resolve(Ip(5), Frame(9), t + absl::Seconds(5 + i)).mac.has_value());
  }
  NeighborActions fail = cache_.OnTimer(t + absl::Seconds(8));
  EXPECT_TRUE(fail.requests.empty());
  EXPECT_TRUE(fail.failed.empty());  // nothing was queued: PROBE sends directly
  EXPECT_EQ(StateOf(5), NudState::kFailed);
  EXPECT_EQ(stats_.ResolutionFailures.value(), 1u);
  // Next use: resolution from scratch, by broadcast.
  ResolveResult again = cache_.Resolve(Ip(5), Frame(10), t + absl::Seconds(9));
  EXPECT_FALSE(again.mac.has_value());
  ASSERT_EQ(again.actions.requests.size(), 1u);
  EXPECT_FALSE(again.actions.requests[0].unicast());
}

TEST_F(NeighborCacheTest, ProbeAnsweredReturnsToReachable) {
  MakeStale();
  const absl::Time t = now();
  cache_.Resolve(Ip(5), Frame(7), t);
  ASSERT_EQ(cache_.OnTimer(t + absl::Seconds(5)).requests.size(), 1u);
  ASSERT_EQ(StateOf(5), NudState::kProbe);
  NeighborActions a = cache_.OnArpReceived(Reply(5, Mac(5)), t + absl::Seconds(5.2));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(StateOf(5), NudState::kReachable);
  EXPECT_EQ(cache_.NextDeadline(), t + absl::Seconds(5.2) + cache_.reachable_time());
  EXPECT_TRUE(cache_.OnTimer(t + absl::Seconds(9)).requests.empty());
}

TEST_F(NeighborCacheTest, DelayConfirmedInTimeSkipsProbing) {
  MakeStale();
  const absl::Time t = now();
  cache_.Resolve(Ip(5), Frame(7), t);
  ASSERT_EQ(StateOf(5), NudState::kDelay);
  cache_.ConfirmReachable(Ip(5), t + absl::Seconds(2));
  NeighborActions a = cache_.OnTimer(t + absl::Seconds(5));
  EXPECT_TRUE(a.requests.empty());
  EXPECT_EQ(StateOf(5), NudState::kReachable);
  EXPECT_EQ(cache_.NextDeadline(), t + absl::Seconds(2) + cache_.reachable_time());
}

TEST_F(NeighborCacheTest, StaleHintDoesNotDemoteReachableWithSameAddress) {
  MakeReachable();
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(5), ArpOrigin::kOther, false},
                       now() + absl::Seconds(2));
  EXPECT_EQ(StateOf(5), NudState::kReachable);
}

TEST_F(NeighborCacheTest, GratuitousArpUpdatesAnExistingEntry) {
  MakeReachable();
  // Within the lock time, an ordinary packet naming another MAC is ignored (first wins)...
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(6), ArpOrigin::kOther, false},
                       now() + absl::Milliseconds(500));
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(5));
  // ...but a gratuitous ARP overrides at once: new address, STALE (unconfirmed).
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(7), ArpOrigin::kOther, true},
                       now() + absl::Milliseconds(600));
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(7));
  EXPECT_EQ(StateOf(5), NudState::kStale);
  // After the lock time, an ordinary update is accepted too.
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(8), ArpOrigin::kOther, false},
                       now() + absl::Seconds(2));
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(8));
}

TEST_F(NeighborCacheTest, PacketsForOthersNeverCreateEntries) {
  // RFC 826: merge only; create only when we are the target.
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(5), ArpOrigin::kOther, false}, now());
  cache_.OnArpReceived(ArpSender{Ip(6), Mac(6), ArpOrigin::kOther, true}, now());
  // Linux (arp_accept=0) does not create from unsolicited replies either.
  cache_.OnArpReceived(Reply(7, Mac(7)), now());
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(NeighborCacheTest, RequestForUsCreatesAStaleEntry) {
  NeighborActions a = cache_.OnArpReceived(RequestForUs(5, Mac(5)), now());
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(StateOf(5), NudState::kStale);
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(5));
  // Using it goes through DELAY, as for any STALE entry.
  EXPECT_EQ(cache_.Resolve(Ip(5), Frame(1), now()).mac, Mac(5));
  EXPECT_EQ(StateOf(5), NudState::kDelay);
}

TEST_F(NeighborCacheTest, RequestFromTheResolvingNeighbourReleasesTheQueue) {
  cache_.Resolve(Ip(5), Frame(1), now());
  cache_.Resolve(Ip(5), Frame(2), now());
  NeighborActions a = cache_.OnArpReceived(RequestForUs(5, Mac(5)), now());
  ASSERT_EQ(a.ready.size(), 2u);
  EXPECT_EQ(TagOf(a.ready[0].frame), 1);
  EXPECT_EQ(a.ready[1].dst_mac, Mac(5));
  EXPECT_EQ(StateOf(5), NudState::kStale);
  // The retransmit timer is gone.
  EXPECT_TRUE(cache_.OnTimer(now() + absl::Seconds(1)).requests.empty());
}

TEST_F(NeighborCacheTest, BroadcastReplyResolvesButDoesNotConfirm) {
  cache_.Resolve(Ip(5), Frame(1), now());
  NeighborActions a =
      cache_.OnArpReceived(ArpSender{Ip(5), Mac(5), ArpOrigin::kOther, false}, now());
  ASSERT_EQ(a.ready.size(), 1u);
  EXPECT_EQ(a.ready[0].dst_mac, Mac(5));
  EXPECT_EQ(StateOf(5), NudState::kStale);  // Linux: only a unicast reply proves reachability
}

TEST_F(NeighborCacheTest, BogusSendersAreIgnored) {
  cache_.OnArpReceived(ArpSender{Ipv4Address::Any(), Mac(5), ArpOrigin::kRequestForUs}, now());
  cache_.OnArpReceived(
      ArpSender{Ipv4Address::FromOctets(224, 0, 0, 1), Mac(5), ArpOrigin::kRequestForUs}, now());
  cache_.OnArpReceived(ArpSender{Ip(5), MacAddress::Broadcast(), ArpOrigin::kRequestForUs}, now());
  cache_.OnArpReceived(ArpSender{Ip(6), MacAddress::Zero(), ArpOrigin::kRequestForUs}, now());
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(NeighborCacheTest, BroadcastAndMulticastNeedNoResolution) {
  ResolveResult b = cache_.Resolve(Ipv4Address::Broadcast(), Frame(1), now());
  EXPECT_EQ(b.mac, MacAddress::Broadcast());
  EXPECT_EQ(TagOf(b.frame), 1);
  ResolveResult m = cache_.Resolve(Ipv4Address::FromOctets(239, 129, 2, 3), Frame(2), now());
  // RFC 1112 6.4: the top bit of the second octet is dropped.
  EXPECT_EQ(m.mac, (MacAddress{{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}}));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(NeighborCacheTest, StaticEntriesArePermanent) {
  cache_.Resolve(Ip(5), Frame(1), now());
  auto a = cache_.AddStatic(Ip(5), Mac(50));
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->ready.size(), 1u);  // the waiting frame goes out
  EXPECT_EQ(a->ready[0].dst_mac, Mac(50));
  EXPECT_EQ(StateOf(5), NudState::kPermanent);
  EXPECT_FALSE(cache_.NextDeadline().has_value());
  // ARP cannot change it, time does not age it.
  cache_.OnArpReceived(ArpSender{Ip(5), Mac(6), ArpOrigin::kOther, true}, now());
  cache_.OnArpReceived(Reply(5, Mac(7)), now());
  cache_.OnTimer(now() + absl::Hours(1));
  EXPECT_EQ(cache_.Peek(Ip(5)), Mac(50));
  EXPECT_EQ(cache_.Resolve(Ip(5), Frame(2), now() + absl::Hours(1)).mac, Mac(50));
  EXPECT_EQ(StateOf(5), NudState::kPermanent);
}

TEST_F(NeighborCacheTest, RemoveDropsWaitingFrames) {
  cache_.Resolve(Ip(5), Frame(1), now());
  NeighborActions a = cache_.Remove(Ip(5));
  ASSERT_EQ(a.failed.size(), 1u);
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 1u);
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(cache_.NextDeadline().has_value());
  EXPECT_TRUE(cache_.Remove(Ip(5)).empty());
}

TEST_F(NeighborCacheTest, FailedEntriesAreCollectedAfterGcStaleTime) {
  cache_.Resolve(Ip(5), Frame(1), now());
  for (int i = 1; i <= 3; ++i) cache_.OnTimer(now() + absl::Seconds(i));
  ASSERT_EQ(StateOf(5), NudState::kFailed);
  const absl::Time failed_at = now() + absl::Seconds(3);
  cache_.OnTimer(failed_at + absl::Seconds(59));
  EXPECT_EQ(cache_.size(), 1u);
  cache_.OnTimer(failed_at + absl::Seconds(60));
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(cache_.NextDeadline().has_value());
}

TEST_F(NeighborCacheTest, SmallTablesKeepStaleEntries) {
  // Linux only collects unused STALE entries above gc_thresh1 (128).
  MakeStale();
  cache_.OnTimer(now() + absl::Minutes(10));
  EXPECT_EQ(StateOf(5), NudState::kStale);
}

TEST_F(NeighborCacheTest, EntriesListsEveryNeighbourByAddress) {
  cache_.OnArpReceived(RequestForUs(9, Mac(9)), now());
  cache_.Resolve(Ip(3), Frame(1), now());
  ASSERT_TRUE(cache_.AddStatic(Ip(6), Mac(6)).ok());
  std::vector<NeighborInfo> all = cache_.Entries();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].ip, Ip(3));
  EXPECT_EQ(all[0].state, NudState::kIncomplete);
  EXPECT_FALSE(all[0].mac.has_value());
  EXPECT_EQ(all[0].queued_frames, 1u);
  EXPECT_EQ(all[0].queued_bytes, 100u);
  EXPECT_EQ(all[1].state, NudState::kPermanent);
  EXPECT_EQ(all[2].ip, Ip(9));
  EXPECT_EQ(all[2].mac, Mac(9));
  EXPECT_EQ(NudStateName(all[2].state), "STALE");
}

class NeighborCacheGcTest : public NeighborCacheTest {
 protected:
  static NeighborConfig Config() {
    NeighborConfig c;
    c.gc_thresh1 = 0;
    return c;
  }
  NeighborCacheGcTest() : NeighborCacheTest(Config()) {}
};

TEST_F(NeighborCacheGcTest, UnusedStaleEntriesAreCollected) {
  MakeStale();
  const absl::Time stale_at = now();
  cache_.OnTimer(stale_at + absl::Seconds(59));
  EXPECT_EQ(StateOf(5), NudState::kStale);
  cache_.OnTimer(stale_at + absl::Seconds(60));
  EXPECT_EQ(cache_.size(), 0u);
}

class NeighborCacheQueueTest : public NeighborCacheTest {
 protected:
  static NeighborConfig Config() {
    NeighborConfig c;
    c.max_queued_frames = 4;
    c.max_queued_bytes = 1000;
    return c;
  }
  NeighborCacheQueueTest() : NeighborCacheTest(Config()) {}
};

TEST_F(NeighborCacheQueueTest, FrameCapDropsTheOldest) {
  for (uint8_t tag = 1; tag <= 6; ++tag) cache_.Resolve(Ip(5), Frame(tag, 10), now());
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 2u);
  EXPECT_EQ(cache_.Lookup(Ip(5))->queued_frames, 4u);
  NeighborActions a = cache_.OnArpReceived(Reply(5, Mac(5)), now());
  ASSERT_EQ(a.ready.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(TagOf(a.ready[i].frame), i + 3);
}

TEST_F(NeighborCacheQueueTest, ByteCapDropsTheOldest) {
  for (uint8_t tag = 1; tag <= 3; ++tag) cache_.Resolve(Ip(5), Frame(tag, 300), now());
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 0u);
  EXPECT_EQ(cache_.Lookup(Ip(5))->queued_bytes, 900u);
  cache_.Resolve(Ip(5), Frame(4, 300), now());
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 1u);
  EXPECT_EQ(cache_.Lookup(Ip(5))->queued_bytes, 900u);
  // One frame larger than the cap empties the queue but is itself kept (as Linux does).
  cache_.Resolve(Ip(5), Frame(5, 2000), now());
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 4u);
  EXPECT_EQ(cache_.Lookup(Ip(5))->queued_frames, 1u);
  NeighborActions a = cache_.OnArpReceived(Reply(5, Mac(5)), now());
  ASSERT_EQ(a.ready.size(), 1u);
  EXPECT_EQ(TagOf(a.ready[0].frame), 5);
}

class NeighborCacheTableTest : public NeighborCacheTest {
 protected:
  static NeighborConfig Config() {
    NeighborConfig c;
    c.max_entries = 4;
    return c;
  }
  NeighborCacheTableTest() : NeighborCacheTest(Config()) {}
};

TEST_F(NeighborCacheTableTest, FullTableEvictsTheOldestIdleEntry) {
  // Two STALE (created by requests), one REACHABLE, one resolving.
  cache_.OnArpReceived(RequestForUs(1, Mac(1)), now());
  clock_.Advance(absl::Seconds(1));
  cache_.OnArpReceived(RequestForUs(2, Mac(2)), now());
  clock_.Advance(absl::Seconds(1));
  MakeReachable(3);
  cache_.Resolve(Ip(4), Frame(4), now());
  ASSERT_EQ(cache_.size(), 4u);
  // A new neighbour evicts the oldest STALE one.
  cache_.Resolve(Ip(10), Frame(10), now());
  EXPECT_EQ(cache_.size(), 4u);
  EXPECT_FALSE(cache_.Lookup(Ip(1)).has_value());
  EXPECT_TRUE(cache_.Lookup(Ip(2)).has_value());
  // Requests for us also create within the cap.
  cache_.OnArpReceived(RequestForUs(11, Mac(11)), now());
  EXPECT_EQ(cache_.size(), 4u);
  EXPECT_FALSE(cache_.Lookup(Ip(2)).has_value());
  EXPECT_EQ(StateOf(11), NudState::kStale);
}

TEST_F(NeighborCacheTableTest, FailedEntriesGoFirst) {
  cache_.OnArpReceived(RequestForUs(1, Mac(1)), now());
  clock_.Advance(absl::Seconds(1));
  cache_.Resolve(Ip(2), Frame(2), now());
  for (int i = 1; i <= 3; ++i) cache_.OnTimer(now() + absl::Seconds(i));
  ASSERT_EQ(StateOf(2), NudState::kFailed);  // newer than .1, but FAILED
  cache_.OnArpReceived(RequestForUs(3, Mac(3)), now());
  cache_.OnArpReceived(RequestForUs(4, Mac(4)), now());
  cache_.Resolve(Ip(10), Frame(10), now());
  EXPECT_FALSE(cache_.Lookup(Ip(2)).has_value());
  EXPECT_TRUE(cache_.Lookup(Ip(1)).has_value());
}

TEST_F(NeighborCacheTableTest, TableOfBusyEntriesRefusesNewOnes) {
  ASSERT_TRUE(cache_.AddStatic(Ip(1), Mac(1)).ok());
  for (uint8_t h = 2; h <= 4; ++h) cache_.Resolve(Ip(h), Frame(h), now());  // INCOMPLETE
  ResolveResult r = cache_.Resolve(Ip(10), Frame(10), now());
  EXPECT_FALSE(r.mac.has_value());
  EXPECT_TRUE(r.actions.requests.empty());
  ASSERT_EQ(r.actions.failed.size(), 1u);
  EXPECT_EQ(TagOf(r.actions.failed[0]), 10);
  EXPECT_EQ(stats_.UnresolvedDiscards.value(), 1u);
  EXPECT_EQ(cache_.size(), 4u);
  EXPECT_FALSE(cache_.AddStatic(Ip(11), Mac(11)).ok());
  cache_.OnArpReceived(RequestForUs(12, Mac(12)), now());
  EXPECT_EQ(cache_.size(), 4u);
  EXPECT_FALSE(cache_.Lookup(Ip(12)).has_value());
}

TEST_F(NeighborCacheTest, ConcurrentUseIsSafe) {
  // Smoke test for the lock (meaningful under TSan/ASan): callers on several threads.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      absl::Time at = absl::UnixEpoch() + absl::Hours(1);
      for (int i = 0; i < 2000; ++i) {
        const uint8_t host = static_cast<uint8_t>(1 + (i * 7 + t) % 50);
        at += absl::Milliseconds(7);
        switch ((i + t) % 4) {
          case 0:
            cache_.Resolve(Ip(host), Frame(host, 40), at);
            break;
          case 1:
            cache_.OnArpReceived(Reply(host, Mac(host)), at);
            break;
          case 2:
            cache_.OnTimer(at);
            break;
          default:
            cache_.ConfirmReachable(Ip(host), at);
            cache_.Entries();
            cache_.NextDeadline();
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_LE(cache_.size(), 50u);
}

}  // namespace
}  // namespace netshim
