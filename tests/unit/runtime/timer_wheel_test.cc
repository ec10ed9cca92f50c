#include "stack/runtime/timer_wheel.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

using absl::Milliseconds;

// An arbitrary start that is not on a round millisecond, so rounding is exercised.
const absl::Time kStart = absl::UnixEpoch() + absl::Hours(1) + absl::Microseconds(123);

// Granularity of level n: 8^n ms.
absl::Duration LevelGranularity(int level) { return Milliseconds(int64_t{1} << (3 * level)); }

// Drives `wheel` the way a dispatch loop does: sleep until NextDeadline, Advance, repeat,
// until nothing is pending or `limit` is passed. `now` follows the loop's time.
void RunUntilIdle(TimerWheel& wheel, absl::Time& now, absl::Time limit) {
  while (auto next = wheel.NextDeadline()) {
    if (*next > limit) break;
    now = *next;
    wheel.Advance(now);
  }
}

TEST(TimerWheelTest, FiresAtDeadlineAndNotBefore) {
  TimerWheel wheel(kStart);
  int fired = 0;
  Timer timer([&] { ++fired; });
  wheel.Schedule(&timer, kStart + Milliseconds(10));
  EXPECT_TRUE(timer.pending());
  EXPECT_EQ(timer.deadline(), kStart + Milliseconds(10));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(10) - absl::Nanoseconds(1)), 0u);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(10)), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timer.pending());
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.NextDeadline(), std::nullopt);
  EXPECT_EQ(wheel.Advance(kStart + absl::Hours(1)), 0u);  // one-shot
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheelTest, SubMillisecondDeadlineRoundsUpToTheTick) {
  TimerWheel wheel(kStart);
  int fired = 0;
  Timer timer([&] { ++fired; });
  const absl::Time deadline = kStart + absl::Microseconds(10'300);
  wheel.Schedule(&timer, deadline);
  const absl::Time next = *wheel.NextDeadline();
  EXPECT_GE(next, deadline);
  EXPECT_LT(next, deadline + Milliseconds(1));
  EXPECT_EQ(wheel.Advance(deadline - absl::Microseconds(1)), 0u);
  EXPECT_EQ(wheel.Advance(next), 1u);
}

TEST(TimerWheelTest, PastAndPresentDeadlinesFireOnTheNextAdvance) {
  TimerWheel wheel(kStart);
  wheel.Advance(kStart + Milliseconds(100));
  std::vector<int> order;
  Timer past([&] { order.push_back(1); });
  Timer present([&] { order.push_back(2); });
  Timer ancient([&] { order.push_back(0); });
  wheel.Schedule(&past, kStart + Milliseconds(50));
  wheel.Schedule(&present, kStart + Milliseconds(100));
  wheel.Schedule(&ancient, absl::InfinitePast());
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(100));
  // Same time as before: the clock did not move, yet they are due.
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(100)), 3u);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));  // by deadline, not scheduling order
}

TEST(TimerWheelTest, TimeNeverGoesBackwards) {
  TimerWheel wheel(kStart);
  wheel.Advance(kStart + Milliseconds(100));
  int fired = 0;
  Timer timer([&] { ++fired; });
  wheel.Advance(kStart + Milliseconds(20));  // ignored
  wheel.Schedule(&timer, kStart + Milliseconds(80));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(20)), 1u);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheelTest, FiresInDeadlineOrderWithinTheFirstLevel) {
  TimerWheel wheel(kStart);
  std::vector<int> order;
  std::vector<std::unique_ptr<Timer>> timers;
  // Distinct whole-millisecond delays under 63 ms, scheduled shuffled.
  std::vector<int> delays;
  for (int i = 1; i < 63; ++i) delays.push_back(i);
  std::shuffle(delays.begin(), delays.end(), std::mt19937(7));
  for (int d : delays) {
    timers.push_back(std::make_unique<Timer>([&order, d] { order.push_back(d); }));
    wheel.Schedule(timers.back().get(), kStart + Milliseconds(d));
  }
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(1)), 62u);
  ASSERT_EQ(order.size(), 62u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST(TimerWheelTest, EqualDeadlinesFireInSchedulingOrder) {
  TimerWheel wheel(kStart);
  std::vector<int> order;
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 0; i < 10; ++i) {
    timers.push_back(std::make_unique<Timer>([&order, i] { order.push_back(i); }));
    wheel.Schedule(timers.back().get(), kStart + Milliseconds(700));
  }
  absl::Time now = kStart;
  RunUntilIdle(wheel, now, kStart + absl::Hours(1));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(TimerWheelTest, OrderAcrossLevelsIsWithinGranularity) {
  TimerWheel wheel(kStart);
  std::vector<absl::Time> fired_deadlines;
  std::vector<std::unique_ptr<Timer>> timers;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> delay_ms(0, 600'000);
  for (int i = 0; i < 2000; ++i) {
    const absl::Time deadline = kStart + Milliseconds(delay_ms(rng));
    timers.push_back(std::make_unique<Timer>(
        [&fired_deadlines, deadline] { fired_deadlines.push_back(deadline); }));
    wheel.Schedule(timers.back().get(), deadline);
  }
  // One big jump: everything fires in a single Advance, in slot order.
  EXPECT_EQ(wheel.Advance(kStart + absl::Hours(1)), 2000u);
  for (size_t i = 1; i < fired_deadlines.size(); ++i) {
    const absl::Duration delay_b = fired_deadlines[i] - kStart;
    EXPECT_LT(fired_deadlines[i - 1], fired_deadlines[i] + TimerWheel::MaxLateness(delay_b)) << i;
  }
}

// For every level: a timer never fires before its deadline and fires less than the level's
// granularity after it, when the loop wakes at NextDeadline.
TEST(TimerWheelTest, FiresWithinGranularityAtEveryLevel) {
  for (int level = 0; level < TimerWheel::kLevels; ++level) {
    // Delays at the start, middle and end of the level's range (63 * 8^(n-1) .. 63 * 8^n ms).
    const int64_t low = level == 0 ? 1 : 63 * (int64_t{1} << (3 * (level - 1)));
    const int64_t high = 63 * (int64_t{1} << (3 * level)) - 2;
    for (int64_t ms : {low, low + 1, (low + high) / 2, high}) {
      for (absl::Duration extra : {absl::ZeroDuration(), absl::Microseconds(999)}) {
        TimerWheel wheel(kStart);
        // Move the wheel to an odd position first so slots do not line up with the start.
        wheel.Advance(kStart + Milliseconds(12'345));
        const absl::Time now = kStart + Milliseconds(12'345);
        const absl::Duration delay = Milliseconds(ms) + extra;
        const absl::Time deadline = now + delay;
        std::optional<absl::Time> fired_at;
        absl::Time wheel_now = now;
        Timer timer([&] { fired_at = wheel_now; });
        wheel.Schedule(&timer, deadline);
        while (!fired_at) {
          auto next = wheel.NextDeadline();
          ASSERT_TRUE(next);
          EXPECT_GE(*next, deadline) << "level " << level << " delay " << delay;
          wheel_now = *next;
          wheel.Advance(wheel_now);
        }
        SCOPED_TRACE(testing::Message() << "level " << level << " delay " << delay);
        EXPECT_GE(*fired_at, deadline);
        EXPECT_LT(*fired_at - deadline, LevelGranularity(level));
        EXPECT_LT(*fired_at - deadline, TimerWheel::MaxLateness(delay));
      }
    }
  }
}

TEST(TimerWheelTest, MaxLatenessIsTheLevelGranularity) {
  EXPECT_EQ(TimerWheel::MaxLateness(absl::ZeroDuration()), Milliseconds(1));
  EXPECT_EQ(TimerWheel::MaxLateness(Milliseconds(40)), Milliseconds(1));   // delayed ACK
  EXPECT_EQ(TimerWheel::MaxLateness(Milliseconds(200)), Milliseconds(8));  // minimum RTO
  EXPECT_EQ(TimerWheel::MaxLateness(absl::Seconds(1)), Milliseconds(64));
  EXPECT_EQ(TimerWheel::MaxLateness(absl::Seconds(60)), Milliseconds(4096));  // TIME_WAIT
  EXPECT_EQ(TimerWheel::MaxLateness(absl::Hours(2)), Milliseconds(262'144));  // keepalive
  EXPECT_EQ(TimerWheel::MaxLateness(absl::Hours(24 * 365)), Milliseconds(16'777'216));
  // Never more than about 1/8 of the delay (plus the tick) below the top level's range.
  for (int64_t ms = 1; ms < 1'000'000'000; ms = ms * 3 + 1) {
    EXPECT_LE(TimerWheel::MaxLateness(Milliseconds(ms)), Milliseconds(ms) / 7 + Milliseconds(1))
        << ms;
  }
}

TEST(TimerWheelTest, TimersDaysAndYearsAwayAreReinsertedNotFiredEarly) {
  for (absl::Duration delay :
       {absl::Hours(24 * 11), absl::Hours(24 * 13), absl::Hours(24 * 30), absl::Hours(24 * 400)}) {
    TimerWheel wheel(kStart);
    const absl::Time deadline = kStart + delay;
    std::optional<absl::Time> fired_at;
    absl::Time now = kStart;
    Timer timer([&] { fired_at = now; });
    wheel.Schedule(&timer, deadline);
    int wakeups = 0;
    while (!fired_at) {
      auto next = wheel.NextDeadline();
      ASSERT_TRUE(next);
      ASSERT_GT(*next, now);
      now = *next;
      wheel.Advance(now);
      ++wakeups;
      if (!fired_at) {
        EXPECT_LT(now, deadline);
        EXPECT_EQ(wheel.size(), 1u);
      }
    }
    SCOPED_TRACE(testing::Message() << "delay " << delay);
    EXPECT_GE(*fired_at, deadline);
    EXPECT_LT(*fired_at - deadline, LevelGranularity(TimerWheel::kLevels - 1));
    // One wake-up per ~12 days of distance, plus the final one.
    EXPECT_LE(wakeups, delay / absl::Hours(24 * 12) + 2);
  }
}

TEST(TimerWheelTest, InfiniteFutureNeverFires) {
  TimerWheel wheel(kStart);
  int fired = 0;
  Timer timer([&] { ++fired; });
  wheel.Schedule(&timer, absl::InfiniteFuture());
  EXPECT_EQ(wheel.Advance(kStart + absl::Hours(24 * 365 * 10)), 0u);
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(timer.pending());
  wheel.Cancel(&timer);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, CancelPreventsFiring) {
  TimerWheel wheel(kStart);
  int fired = 0;
  Timer a([&] { ++fired; });
  Timer b([&] { fired += 10; });
  Timer idle([&] { fired += 100; });
  wheel.Schedule(&a, kStart + Milliseconds(5));
  wheel.Schedule(&b, kStart + absl::Seconds(5));
  wheel.Cancel(&a);
  wheel.Cancel(&a);     // twice: no-op
  wheel.Cancel(&idle);  // never scheduled: no-op
  EXPECT_FALSE(a.pending());
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(10)), 1u);
  EXPECT_EQ(fired, 10);
}

TEST(TimerWheelTest, CancelledDueTimerDoesNotFire) {
  TimerWheel wheel(kStart);
  int fired = 0;
  Timer a([&] { ++fired; });
  wheel.Schedule(&a, kStart);
  wheel.Cancel(&a);
  EXPECT_EQ(wheel.NextDeadline(), std::nullopt);
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(1)), 0u);
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheelTest, RescheduleMovesThePendingTimer) {
  TimerWheel wheel(kStart);
  std::vector<absl::Time> fired;
  absl::Time now = kStart;
  Timer timer([&] { fired.push_back(now); });
  wheel.Schedule(&timer, kStart + absl::Seconds(3));
  wheel.Schedule(&timer, kStart + Milliseconds(20));  // earlier
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(20));
  wheel.Schedule(&timer, kStart + Milliseconds(40));  // later again
  now = kStart + Milliseconds(30);
  EXPECT_EQ(wheel.Advance(now), 0u);
  RunUntilIdle(wheel, now, kStart + absl::Hours(1));
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_GE(fired[0], kStart + Milliseconds(40));
  EXPECT_LT(fired[0], kStart + Milliseconds(41));
}

TEST(TimerWheelTest, TimerMovesBetweenWheels) {
  TimerWheel first(kStart);
  TimerWheel second(kStart);
  int fired = 0;
  Timer timer([&] { ++fired; });
  first.Schedule(&timer, kStart + Milliseconds(5));
  second.Schedule(&timer, kStart + Milliseconds(5));
  EXPECT_EQ(first.size(), 0u);
  EXPECT_EQ(second.size(), 1u);
  first.Cancel(&timer);  // pending elsewhere: cancelled there
  EXPECT_EQ(second.size(), 0u);
}

TEST(TimerWheelTest, DestroyingAPendingTimerCancelsIt) {
  TimerWheel wheel(kStart);
  {
    Timer timer([] { FAIL() << "destroyed timer fired"; });
    wheel.Schedule(&timer, kStart + Milliseconds(5));
    EXPECT_EQ(wheel.size(), 1u);
  }
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.NextDeadline(), std::nullopt);
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(1)), 0u);
}

TEST(TimerWheelTest, DestroyingTheWheelUnschedulesItsTimers) {
  Timer timer([] { FAIL() << "fired"; });
  {
    TimerWheel wheel(kStart);
    wheel.Schedule(&timer, kStart + Milliseconds(5));
  }
  EXPECT_FALSE(timer.pending());
}  // ~Timer must not touch the dead wheel (ASan would catch it).

TEST(TimerWheelTest, PeriodicTimerReschedulesItself) {
  TimerWheel wheel(kStart);
  absl::Time now = kStart;
  std::vector<absl::Time> fired;
  Timer timer([&] {
    fired.push_back(now);
    wheel.Schedule(&timer, timer.deadline() + Milliseconds(10));
  });
  wheel.Schedule(&timer, kStart + Milliseconds(10));
  for (int ms = 1; ms <= 100; ++ms) {
    now = kStart + Milliseconds(ms);
    wheel.Advance(now);
  }
  ASSERT_EQ(fired.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fired[i], kStart + Milliseconds(10 * (i + 1)));
  EXPECT_TRUE(timer.pending());
}

TEST(TimerWheelTest, SelfReschedulingAtNowCannotLoopForever) {
  TimerWheel wheel(kStart);
  absl::Time now = kStart + Milliseconds(5);
  int fired = 0;
  Timer timer([&] {
    ++fired;
    wheel.Schedule(&timer, now);  // due again immediately
  });
  wheel.Schedule(&timer, now);
  EXPECT_EQ(wheel.Advance(now), 1u);
  EXPECT_EQ(wheel.Advance(now), 1u);
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(wheel.NextDeadline(), now);
}

TEST(TimerWheelTest, CallbackCancelsATimerDueInTheSameTick) {
  TimerWheel wheel(kStart);
  std::vector<char> order;
  Timer b([&] { order.push_back('b'); });
  Timer a([&] {
    order.push_back('a');
    wheel.Cancel(&b);
  });
  // Same deadline: a was scheduled first, so it runs first and b is already collected with
  // it when a cancels it.
  wheel.Schedule(&a, kStart + Milliseconds(300));
  wheel.Schedule(&b, kStart + Milliseconds(300));
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(1)), 1u);
  EXPECT_EQ(order, std::vector<char>{'a'});
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, CallbackCancelsAndReschedulesLaterTimersInTheSameAdvance) {
  TimerWheel wheel(kStart);
  std::vector<char> order;
  Timer c([&] { order.push_back('c'); });
  Timer b([&] { order.push_back('b'); });
  Timer a([&] {
    order.push_back('a');
    wheel.Cancel(&b);
    wheel.Schedule(&c, kStart + absl::Seconds(5));  // pushed past this Advance
  });
  wheel.Schedule(&a, kStart + Milliseconds(10));
  wheel.Schedule(&b, kStart + Milliseconds(20));
  wheel.Schedule(&c, kStart + Milliseconds(30));
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(1)), 1u);
  EXPECT_EQ(order, std::vector<char>{'a'});
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + absl::Seconds(6)), 1u);
  EXPECT_EQ(order, (std::vector<char>{'a', 'c'}));
}

TEST(TimerWheelTest, TimersScheduledByCallbacksRunOnALaterAdvance) {
  TimerWheel wheel(kStart);
  std::vector<char> order;
  Timer b([&] { order.push_back('b'); });
  Timer c([&] { order.push_back('c'); });
  Timer a([&] {
    order.push_back('a');
    wheel.Schedule(&b, kStart + Milliseconds(20));  // before the Advance target: due
    wheel.Schedule(&c, kStart + Milliseconds(50));  // after it: on the wheel
  });
  wheel.Schedule(&a, kStart + Milliseconds(10));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(30)), 1u);
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(30));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(30)), 1u);
  EXPECT_EQ(order, (std::vector<char>{'a', 'b'}));
  // c was placed from the Advance target, so it keeps 1 ms precision.
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(50));
}

TEST(TimerWheelTest, TimersScheduledByCallbacksKeepTheirPrecisionAfterALongJump) {
  // The loop slept 10 s; a timer due early in that sleep re-arms 10 ms past the wake-up.
  // Measured from the old slot rather than from `now`, it would land on a coarse level.
  TimerWheel wheel(kStart);
  const absl::Time now = kStart + absl::Seconds(10);
  Timer rearmed([] {});
  Timer first([&] { wheel.Schedule(&rearmed, now + Milliseconds(10)); });
  wheel.Schedule(&first, kStart + Milliseconds(10));
  EXPECT_EQ(wheel.Advance(now), 1u);
  EXPECT_EQ(wheel.NextDeadline(), now + Milliseconds(10));
}

TEST(TimerWheelTest, CallbackMayDestroyItsOwnTimer) {
  TimerWheel wheel(kStart);
  std::unique_ptr<Timer> timer;
  bool ran = false;
  timer = std::make_unique<Timer>([&] {
    ran = true;
    timer.reset();  // like a connection freed from its TIME_WAIT timer
  });
  wheel.Schedule(timer.get(), kStart + Milliseconds(1));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(2)), 1u);
  EXPECT_TRUE(ran);
  EXPECT_EQ(timer, nullptr);
}

TEST(TimerWheelTest, CallbackMayDestroyAnotherCollectedTimer) {
  TimerWheel wheel(kStart);
  auto victim = std::make_unique<Timer>([] { FAIL() << "destroyed timer fired"; });
  Timer killer([&] { victim.reset(); });
  wheel.Schedule(&killer, kStart + Milliseconds(100));
  wheel.Schedule(victim.get(), kStart + Milliseconds(100));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(200)), 1u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, NestedAdvanceIsIgnored) {
  TimerWheel wheel(kStart);
  size_t nested = 99;
  Timer timer([&] { nested = wheel.Advance(kStart + absl::Hours(1)); });
  wheel.Schedule(&timer, kStart + Milliseconds(1));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(1)), 1u);
  EXPECT_EQ(nested, 0u);
}

TEST(TimerWheelTest, NextDeadlineTracksTheEarliestSlot) {
  TimerWheel wheel(kStart);
  EXPECT_EQ(wheel.NextDeadline(), std::nullopt);
  Timer near([] {});
  Timer mid([] {});
  Timer far([] {});
  // Deadlines relative to the wheel's tick 0 (kStart), so the rounding is easy to state.
  wheel.Schedule(&far, kStart + absl::Seconds(100));  // level 4: 4096 ms slots
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(102'400));
  wheel.Schedule(&mid, kStart + Milliseconds(100));  // level 1: 8 ms slots
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(104));
  wheel.Schedule(&near, kStart + Milliseconds(17));  // level 0: exact
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(17));
  wheel.Cancel(&near);
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(104));
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(103)), 0u);
  EXPECT_EQ(wheel.Advance(kStart + Milliseconds(104)), 1u);
  EXPECT_EQ(wheel.NextDeadline(), kStart + Milliseconds(102'400));
  wheel.Cancel(&far);
  EXPECT_EQ(wheel.NextDeadline(), std::nullopt);
}

TEST(TimerWheelTest, NextDeadlineAfterTheWheelWraps) {
  // Slots are reused every 64 steps of each level; NextDeadline must scan from the wheel's
  // position and wrap, not from slot 0.
  TimerWheel wheel(kStart);
  absl::Time now = kStart;
  for (int round = 0; round < 300; ++round) {
    now += Milliseconds(37);
    wheel.Advance(now);
    Timer timer([] {});
    const absl::Time deadline = now + Milliseconds(1 + (round * 7) % 62);
    wheel.Schedule(&timer, deadline);
    EXPECT_EQ(wheel.NextDeadline(), deadline) << round;
  }
}

TEST(TimerWheelTest, HundredThousandTimers) {
  constexpr int kCount = 100'000;
  TimerWheel wheel(kStart);
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<absl::Duration> delays;
  std::vector<int> fired_count(kCount, 0);
  std::vector<absl::Time> fired_at(kCount);
  absl::Time now = kStart;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> delay_us(0, int64_t{2} * 3600 * 1'000'000);
  timers.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    timers.push_back(std::make_unique<Timer>([&, i] {
      ++fired_count[i];
      fired_at[i] = now;
    }));
    delays.push_back(absl::Microseconds(delay_us(rng)));
    wheel.Schedule(timers.back().get(), kStart + delays.back());
  }
  EXPECT_EQ(wheel.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; i += 3) wheel.Cancel(timers[i].get());
  const size_t expected = kCount - (kCount + 2) / 3;
  EXPECT_EQ(wheel.size(), expected);
  size_t total = 0;
  while (auto next = wheel.NextDeadline()) {
    now = *next;
    total += wheel.Advance(now);
  }
  EXPECT_EQ(total, expected);
  EXPECT_EQ(wheel.size(), 0u);
  for (int i = 0; i < kCount; ++i) {
    if (i % 3 == 0) {
      ASSERT_EQ(fired_count[i], 0) << i;
      continue;
    }
    ASSERT_EQ(fired_count[i], 1) << i;
    const absl::Time deadline = kStart + delays[i];
    ASSERT_GE(fired_at[i], deadline) << i;
    ASSERT_LT(fired_at[i] - deadline, TimerWheel::MaxLateness(delays[i])) << i;
  }
}

// Random schedules, cancels, reschedules (also from callbacks), destructions and time steps,
// checked against a std::multimap of deadlines after every step.
TEST(TimerWheelTest, MatchesAReferenceModel) {
  constexpr int kTimers = 300;
  std::mt19937_64 rng(20240601);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };

  struct Entry {
    std::multimap<absl::Time, int>::iterator it;
    absl::Duration lateness;  // how late it may fire
    int64_t due_by_advance;   // >0: scheduled in the past, must fire in this Advance
  };
  std::multimap<absl::Time, int> model;
  std::vector<std::optional<Entry>> entries(kTimers);
  std::vector<std::unique_ptr<Timer>> timers(kTimers);
  TimerWheel wheel(kStart);
  absl::Time now = kStart;
  int64_t advances = 0;
  absl::Time max_fired_deadline = absl::InfinitePast();
  size_t fired_in_advance = 0;

  auto model_cancel = [&](int id) {
    if (entries[id]) model.erase(entries[id]->it);
    entries[id].reset();
  };
  auto random_deadline = [&]() -> absl::Time {
    switch (uniform(0, 9)) {
      case 0:
        return now - Milliseconds(uniform(0, 5000));  // past
      case 1:
        return now;
      case 2:
        return now + absl::Microseconds(uniform(1, 3000));
      case 3:
        return now + Milliseconds(uniform(1, 3'600'000));
      case 4:
        return now + Milliseconds(uniform(1, 2 * 86'400'000));
      default:
        return now + Milliseconds(uniform(1, 2000));
    }
  };
  auto schedule = [&](int id, absl::Time deadline) {
    model_cancel(id);
    wheel.Schedule(timers[id].get(), deadline);
    const bool due = deadline <= now;
    entries[id] = Entry{model.emplace(deadline, id),
                        due ? Milliseconds(1) : TimerWheel::MaxLateness(deadline - now),
                        due ? advances + 1 : 0};
  };
  auto cancel = [&](int id) {
    wheel.Cancel(timers[id].get());
    model_cancel(id);
  };
  std::function<void(int)> on_fire;
  auto make_timer = [&](int id) {
    timers[id] = std::make_unique<Timer>([&on_fire, id] { on_fire(id); });
  };
  on_fire = [&](int id) {
    ++fired_in_advance;
    ASSERT_TRUE(entries[id]) << "fired a timer the model says is not pending: " << id;
    const absl::Time deadline = entries[id]->it->first;
    EXPECT_LE(deadline, now) << "fired early: " << id;
    // Deadline order, up to the granularity of the later timer's slot.
    EXPECT_LT(max_fired_deadline, deadline + entries[id]->lateness) << id;
    max_fired_deadline = std::max(max_fired_deadline, deadline);
    model_cancel(id);
    switch (uniform(0, 9)) {
      case 0:
        schedule(id, random_deadline());
        break;  // reschedule itself
      case 1:
        schedule(id, now);
        break;  // again at once
      case 2:
        schedule(uniform(0, kTimers - 1), random_deadline());
        break;
      case 3:
        cancel(uniform(0, kTimers - 1));
        break;
      default:
        break;
    }
  };
  for (int id = 0; id < kTimers; ++id) make_timer(id);

  for (int step = 0; step < 50'000; ++step) {
    const int id = static_cast<int>(uniform(0, kTimers - 1));
    switch (uniform(0, 11)) {
      case 0:
      case 1:
      case 2:
        schedule(id, random_deadline());
        break;
      case 3:
        cancel(id);
        break;
      case 4:  // destroy and recreate: the destructor cancels
        model_cancel(id);
        make_timer(id);
        break;
      default: {
        absl::Time target = now;
        switch (uniform(0, 5)) {
          case 0:
            break;  // same time
          case 1:
            target = wheel.NextDeadline().value_or(now);
            break;
          case 2:
            target = now + Milliseconds(uniform(0, 600'000));
            break;
          default:
            target = now + absl::Microseconds(uniform(0, 20'000));
            break;
        }
        const bool expect_one = wheel.NextDeadline() && target >= *wheel.NextDeadline();
        now = target;
        ++advances;
        max_fired_deadline = absl::InfinitePast();
        fired_in_advance = 0;
        const size_t fired = wheel.Advance(now);
        EXPECT_EQ(fired, fired_in_advance);
        if (expect_one) {
          EXPECT_GE(fired, 1u);
        }
        for (const auto& [deadline, tid] : model) {
          const Entry& e = *entries[tid];
          if (e.due_by_advance > 0) {
            ASSERT_GT(e.due_by_advance, advances) << "due timer not fired: " << tid;
          } else {
            ASSERT_GT(deadline + e.lateness, now) << "timer fired too late: " << tid;
          }
        }
        break;
      }
    }
    ASSERT_EQ(wheel.size(), model.size()) << "step " << step;
    for (int t = 0; t < kTimers; ++t) ASSERT_EQ(timers[t]->pending(), entries[t].has_value());
    const std::optional<absl::Time> next = wheel.NextDeadline();
    ASSERT_EQ(next.has_value(), !model.empty());
    if (next) {
      // Never before the earliest deadline, and no later than any timer's latest firing.
      EXPECT_GE(*next, std::min(model.begin()->first, now));
      for (const auto& [deadline, tid] : model) {
        if (entries[tid]->due_by_advance == 0) {
          ASSERT_LT(*next, deadline + entries[tid]->lateness);
        } else {
          ASSERT_EQ(*next, now);
        }
      }
    }
  }
}

}  // namespace
}  // namespace netshim
