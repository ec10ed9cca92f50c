// The stack on its own dispatch thread with the real clock: frames arriving on the link are
// answered without the test driving anything, timers armed from another thread fire on
// time, and Stop() is clean. Waits are bounded polls on conditions, never fixed sleeps.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "stack/link/impair_link.h"
#include "stack/link/impair_spec.h"
#include "stack/runtime/dispatcher.h"
#include "tests/packet/stack_fixture.h"

namespace netshim::testing {
namespace {

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StackOptions o;
    o.address = Ipv4Cidr{kStackIp, 24};
    o.mac = kStackMac;
    auto link = std::make_unique<ChannelLink>(1500);
    link_ = link.get();
    stack_ = StackOnLink(o, std::move(link));
    ASSERT_TRUE(stack_);
    ASSERT_TRUE(stack_->Start().ok());
  }

  // Collects sent frames until `n` have arrived or `limit` passes.
  std::vector<Sent> WaitForSent(size_t n, absl::Duration limit = absl::Seconds(10)) {
    std::vector<Sent> got;
    const absl::Time deadline = absl::Now() + limit;
    while (got.size() < n && absl::Now() < deadline) {
      for (const Bytes& f : link_->TakeSent()) got.push_back(Dissect(f));
      if (got.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return got;
  }

  // Waits until the loop sleeps.
  void WaitIdle() {
    const absl::Time limit = absl::Now() + absl::Seconds(5);
    while (!stack_->dispatcher()->idle() && absl::Now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(stack_->dispatcher()->idle()) << "the loop never went to sleep";
  }

  Bytes PeerArpRequest() {
    return ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp, MacAddress::Zero(),
                    kStackIp);
  }

  ChannelLink* link_ = nullptr;
  std::unique_ptr<Stack> stack_;
};

TEST_F(DispatcherTest, AnnouncesAndAnswersOnItsOwnThread) {
  auto sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_TRUE(sent[0].arp->IsGratuitous());

  link_->Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp,
                         MacAddress::Zero(), kStackIp));
  sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->op, ArpOp::kReply);
  stack_->Stop();
  stack_->Stop();  // idempotent
}

TEST_F(DispatcherTest, TimerArmedFromAnotherThreadWakesTheLoop) {
  ASSERT_EQ(WaitForSent(1).size(), 1u);  // the announcement
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  while (!stack_->dispatcher()->idle() && absl::Now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(stack_->dispatcher()->idle()) << "the loop never went to sleep";
  // Sending to an unknown neighbour from this (application) thread arms ARP's 1 s
  // retransmit timer while the dispatcher sleeps with no deadline: it must wake for it.
  TxFrame f(stack_->pool().Allocate(Nic::kHeadroom));
  f.head.Append(8);
  const absl::Time start = absl::Now();
  ASSERT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kPeerIp, 253, std::move(f)), 0);
  auto sent = WaitForSent(2, absl::Seconds(5));
  ASSERT_EQ(sent.size(), 2u) << "the retransmission never came: the loop slept through it";
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(990)) << "retransmitted early";
  for (const Sent& s : sent) {
    ASSERT_TRUE(s.arp);
    EXPECT_EQ(s.arp->target_ip, kPeerIp);
  }
}

// Counts its polls (`polls`: of the link too; `turns`: either kind); nothing else to do,
// so the loop sleeps with no deadline.
class CountingTarget final : public DispatchTarget {
 public:
  size_t PollOnce(size_t) override {
    polls.fetch_add(1);
    turns.fetch_add(1);
    return 0;
  }
  size_t PollBesidesLink(size_t) override {
    turns.fetch_add(1);
    return 0;
  }
  size_t PollForCaller(size_t budget) override {
    caller_polls.fetch_add(1);
    return PollOnce(budget);
  }
  void AgeHeld() override { ages.fetch_add(1); }
  void ReleaseHeld() override { releases.fetch_add(1); }
  void RunTimers(absl::Time) override {}
  std::optional<absl::Time> NextDeadline() override { return std::nullopt; }
  std::atomic<uint64_t> polls{0};
  std::atomic<uint64_t> turns{0};
  std::atomic<uint64_t> caller_polls{0};
  std::atomic<uint64_t> ages{0};
  std::atomic<uint64_t> releases{0};
};

// A caller that takes the link processes its frames itself; one attends it at a time, and
// a lease whose holder left the link passes to the next caller.
TEST_F(DispatcherTest, CallerPollTakesTheLinksFrames) {
  ASSERT_EQ(WaitForSent(1).size(), 1u);  // the announcement
  Dispatcher* d = stack_->dispatcher();
  const uint64_t lease = d->AttendLink(0);
  ASSERT_NE(lease, 0u);
  EXPECT_EQ(d->AttendLink(0), 0u) << "two threads attended the link";
  link_->Inject(PeerArpRequest());
  // The loop may still poll (a wake, a timer); whoever takes the frame answers it once.
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  while (link_->sent_count() == 0 && absl::Now() < limit) {
    d->CallerPoll();
    std::this_thread::yield();
  }
  auto sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->op, ArpOp::kReply);
  d->LeaveLink(lease);
  EXPECT_TRUE(d->HoldsLink(lease)) << "leaving the link gave up the lease";
  EXPECT_EQ(d->AttendLink(lease), lease) << "the holder could not attend its lease again";
  d->LeaveLink(lease);
  const uint64_t next = d->AttendLink(0);
  EXPECT_NE(next, 0u) << "a lease left unattended did not pass on";
  EXPECT_NE(next, lease);
  EXPECT_FALSE(d->HoldsLink(lease));
  d->LeaveLink(lease);  // the old holder's departure changes nothing
  EXPECT_EQ(d->AttendLink(0), 0u) << "the new holder's lease passed on while it attends";
  d->ReturnLink(next);
  EXPECT_FALSE(d->link_leased());
}

// A frame that arrived while a caller held the link and was not taken by it is the loop's
// once the link is given back: the loop watches the link again and sees it waiting.
TEST_F(DispatcherTest, FramesLeftByTheCallerGoToTheLoop) {
  ASSERT_EQ(WaitForSent(1).size(), 1u);
  Dispatcher* d = stack_->dispatcher();
  WaitIdle();
  const uint64_t lease = d->AttendLink(0);
  ASSERT_NE(lease, 0u);
  link_->Inject(PeerArpRequest());
  d->ReturnLink(lease);
  auto sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u) << "the frame waited on the link with nobody watching it";
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->op, ArpOp::kReply);
}

// A lease whose holder left the link: the loop looks at it once a period (on its clock,
// here a manual one) and takes the link back after a whole period with no poll from the
// holder, which then sees its lease gone. A holder that attends is never revoked.
TEST(DispatcherLease, TheLoopRevokesALeaseLeftUnattendedForAPeriod) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  CountingTarget target;
  ManualClock clock;
  const absl::Duration period = absl::Seconds(10);  // real time never gets there
  Dispatcher d(&target, clock, fds[0]);
  d.set_lease_period(period);
  ASSERT_TRUE(d.Start().ok());
  // Moves the clock and lets the loop run one turn (its poll, then its look).
  auto tick = [&](absl::Duration by) {
    clock.Advance(by);
    const uint64_t before = target.turns.load();
    d.Wake();
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (!(target.turns.load() > before && d.idle()) && absl::Now() < limit) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(target.turns.load() > before && d.idle()) << "the loop did not run";
  };
  const uint64_t lease = d.AttendLink(0);
  ASSERT_NE(lease, 0u);
  const uint64_t link_polls = target.polls.load();
  tick(period * 3);
  EXPECT_TRUE(d.HoldsLink(lease)) << "revoked while its holder attends the link";
  EXPECT_EQ(target.polls.load(), link_polls)
      << "the loop, woken, read the link while a thread held its lease";
  d.LeaveLink(lease);
  tick(period / 2);
  EXPECT_TRUE(d.HoldsLink(lease)) << "revoked before a period passed";
  EXPECT_EQ(target.polls.load(), link_polls) << "the loop read the link its holder left";
  tick(period / 2);  // the first look: the departure counts as a poll
  EXPECT_TRUE(d.HoldsLink(lease));
  d.CallerPoll();  // the holder's next wait polls
  tick(period);
  EXPECT_TRUE(d.HoldsLink(lease)) << "revoked although its holder polled within the period";
  EXPECT_EQ(d.leases_revoked(), 0u);
  tick(period);
  EXPECT_FALSE(d.HoldsLink(lease)) << "a lease left unattended for a period was kept";
  EXPECT_FALSE(d.link_leased());
  EXPECT_EQ(d.leases_revoked(), 1u);
  // The loop watches the link again.
  const uint64_t before = target.polls.load();
  ASSERT_EQ(::write(fds[1], "f", 1), 1);
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (target.polls.load() == before && absl::Now() < limit) std::this_thread::yield();
  EXPECT_GT(target.polls.load(), before) << "nobody watches the link after the revocation";
  d.Stop();
  ::close(fds[0]);
  ::close(fds[1]);
}

// What a caller's poll holds for its application's reply (DispatchTarget::PollForCaller)
// is aged by its next poll, left alone by the loop while the holder attends the link, and
// released when the lease ends or by the loop's turns once no lease is out.
TEST(DispatcherCallerPoll, WhatACallerHoldsIsReleasedWhenItsLeaseEnds) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  CountingTarget target;
  ManualClock clock;
  const absl::Duration period = absl::Seconds(10);  // real time never gets there
  Dispatcher d(&target, clock, fds[0]);
  d.set_lease_period(period);
  ASSERT_TRUE(d.Start().ok());
  auto tick = [&](absl::Duration by) {
    clock.Advance(by);
    const uint64_t before = target.turns.load();
    d.Wake();
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (!(target.turns.load() > before && d.idle()) && absl::Now() < limit) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(target.turns.load() > before && d.idle()) << "the loop did not run";
  };
  const uint64_t lease = d.AttendLink(0);
  ASSERT_NE(lease, 0u);
  const uint64_t link_polls = target.polls.load();
  d.CallerPoll();
  EXPECT_EQ(target.caller_polls.load(), 1u) << "a caller's poll did not hold for its reply";
  EXPECT_EQ(target.ages.load(), 1u) << "a caller's poll did not age what was held before";
  EXPECT_EQ(target.polls.load(), link_polls + 1);
  const uint64_t releases = target.releases.load();
  tick(period * 3);
  EXPECT_EQ(target.releases.load(), releases) << "the loop released what an attending holder held";
  d.LeaveLink(lease);
  tick(period);  // the departure counts as a poll
  ASSERT_TRUE(d.HoldsLink(lease));
  EXPECT_EQ(target.releases.load(), releases) << "released while the lease was kept";
  tick(period);
  ASSERT_FALSE(d.HoldsLink(lease)) << "the lease was not revoked";
  EXPECT_GT(target.releases.load(), releases) << "the revocation did not release what was held";
  const uint64_t after_revocation = target.releases.load();
  tick(absl::Milliseconds(1));
  EXPECT_GT(target.releases.load(), after_revocation) << "a loop with the link released nothing";
  d.Stop();
  ::close(fds[0]);
  ::close(fds[1]);
}

// A frame a caller processed can set a deadline that only the loop runs (here the receive
// side of an impaired link holds it 50 ms): the loop, asleep with no deadline, must be
// re-armed for it.
TEST(DispatcherCallerPoll, DeadlinesSetByTheCallersFramesAreKept) {
  StackOptions o;
  o.address = Ipv4Cidr{kStackIp, 24};
  o.mac = kStackMac;
  ChannelLink* channel = nullptr;
  auto spec = ParseImpairSpec("rx.delay=50ms");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto s = Stack::Create(o, [&](BufferPool*, LinkStats*) {
    auto inner = std::make_unique<ChannelLink>(1500);
    channel = inner.get();
    return absl::StatusOr<std::unique_ptr<LinkEndpoint>>(
        std::make_unique<ImpairLink>(std::move(inner), *spec, MonotonicClock::Get()));
  });
  ASSERT_TRUE(s.ok()) << s.status();
  std::unique_ptr<Stack> stack = *std::move(s);
  ASSERT_TRUE(stack->Start().ok());
  Dispatcher* d = stack->dispatcher();
  auto wait_sent = [&](size_t n) {
    std::vector<Bytes> got;
    const absl::Time limit = absl::Now() + absl::Seconds(5);
    while (got.size() < n && absl::Now() < limit) {
      for (Bytes& f : channel->TakeSent()) got.push_back(std::move(f));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return got;
  };
  ASSERT_EQ(wait_sent(1).size(), 1u);  // the announcement
  absl::Time limit = absl::Now() + absl::Seconds(5);
  while (!d->idle() && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(d->idle());
  const uint64_t lease = d->AttendLink(0);
  ASSERT_NE(lease, 0u);
  channel->Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp,
                           MacAddress::Zero(), kStackIp));
  size_t taken = 0;
  limit = absl::Now() + absl::Seconds(5);
  while (taken == 0 && absl::Now() < limit) taken = d->CallerPoll();
  d->ReturnLink(lease);
  ASSERT_EQ(taken, 1u);
  const std::vector<Bytes> sent = wait_sent(1);
  ASSERT_EQ(sent.size(), 1u) << "the delayed frame was never delivered: the loop slept on";
  const Sent reply = Dissect(sent[0]);
  ASSERT_TRUE(reply.arp);
  EXPECT_EQ(reply.arp->op, ArpOp::kReply);
  stack->Stop();
}

// Wake()'s contract: once it returns, the loop polls again before it sleeps; whether the
// loop was asleep or busy, and however many wakes came before (the wake eventfd is
// edge-triggered and never read back, so its counter only grows).
TEST(DispatcherWake, EveryWakeIsFollowedByAPoll) {
  CountingTarget target;
  Dispatcher d(&target, MonotonicClock::Get(), -1);
  ASSERT_TRUE(d.Start().ok());
  for (int i = 0; i < 2000; ++i) {
    absl::Time limit = absl::Now() + absl::Seconds(5);
    if (i % 2 == 0) {
      while (!d.idle() && absl::Now() < limit) std::this_thread::yield();
      ASSERT_TRUE(d.idle()) << "round " << i << ": the loop never went to sleep";
    }
    const uint64_t before = target.polls.load();
    d.Wake();
    limit = absl::Now() + absl::Seconds(5);
    while (target.polls.load() <= before && absl::Now() < limit) std::this_thread::yield();
    ASSERT_GT(target.polls.load(), before) << "round " << i << ": a Wake() was slept through";
  }
  d.Stop();
}

// Holds the loop inside PollOnce (awake) until released.
class BlockingTarget final : public DispatchTarget {
 public:
  size_t PollOnce(size_t) override {
    inside.store(true);
    while (!release.load()) std::this_thread::yield();
    return 0;
  }
  void RunTimers(absl::Time) override {}
  std::optional<absl::Time> NextDeadline() override { return std::nullopt; }
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
};

// An epoll loop over many connections takes the link only from a sleeping loop (an awake
// one takes its frames at no wake-up cost); a blocking call takes it either way.
TEST(DispatcherCallerPoll, OnlyIfAsleepLeavesTheLinkToAnAwakeLoop) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  BlockingTarget target;
  Dispatcher d(&target, MonotonicClock::Get(), fds[0]);
  ASSERT_TRUE(d.Start().ok());
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (!target.inside.load() && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(target.inside.load());
  EXPECT_EQ(d.AttendLink(0, /*only_if_asleep=*/true), 0u) << "taken from an awake loop";
  const uint64_t lease = d.AttendLink(0);
  ASSERT_NE(lease, 0u);
  d.ReturnLink(lease);
  target.release.store(true);
  while (!d.idle() && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(d.idle());
  const uint64_t asleep = d.AttendLink(0, /*only_if_asleep=*/true);
  EXPECT_NE(asleep, 0u) << "not taken from a sleeping loop";
  d.ReturnLink(asleep);
  d.Stop();
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace netshim::testing
