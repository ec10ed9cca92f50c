// A hierarchical timing wheel after Linux's kernel/time/timer.c (the non-cascading wheel of
// Linux 4.8+): 9 levels of 64 slots, level n has a granularity of 8^n ms. A timer goes into
// the level whose range covers its distance and is rounded UP to that level's granularity,
// so it fires at most ~1/8 of its distance late (never early) and nothing ever cascades down.
//
//   level  granularity  covers delays up to     level  granularity  covers delays up to
//   0      1 ms         63 ms                   5      32.8 s       ~34 min
//   1      8 ms         504 ms                  6      4.4 min      ~4.6 h
//   2      64 ms        ~4 s                    7      35 min       ~36.7 h
//   3      512 ms       ~32 s                   8      4.66 h       ~12.2 days
//   4      4.1 s        ~4.3 min
//
// Deadlines beyond the top level's range are parked at its far end and re-inserted when that
// slot comes round (Linux instead fires them early, after ~12 days; we never fire early).
//
// Timers are intrusive objects owned by their user, like Linux's timer_list: Schedule and
// Cancel are O(1) and allocate nothing. Time is explicit (absl::Time), so tests drive it by
// hand. Not thread-safe: the owner (a dispatch thread) serialises every call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace netshim {

class TimerWheel;

namespace timer_internal {
// A node of an intrusive circular doubly-linked list; each wheel slot holds a sentinel.
struct Link {
  Link* prev = this;
  Link* next = this;
  bool Empty() const { return next == this; }
};
}  // namespace timer_internal

// A one-shot timer. The callback runs on the thread that calls TimerWheel::Advance. It may
// schedule, cancel or destroy any timer, including this one (destroying it must be the
// callback's last action, as with `delete this`).
class Timer : private timer_internal::Link {
 public:
  explicit Timer(absl::AnyInvocable<void()> callback) : callback_(std::move(callback)) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // Cancels the timer if it is pending.
  ~Timer();

  bool pending() const { return wheel_ != nullptr; }
  // The deadline of the last Schedule; kept after firing, so a periodic timer can re-arm
  // at deadline() + period without drifting.
  absl::Time deadline() const { return deadline_; }

 private:
  friend class TimerWheel;

  absl::AnyInvocable<void()> callback_;
  TimerWheel* wheel_ = nullptr;  // set while pending
  absl::Time deadline_ = absl::InfinitePast();
  uint64_t tick_ = 0;               // deadline in wheel ticks, rounded up; 0 when due now
  uint16_t slot_ = 0;               // list the timer is on (see TimerWheel::kDueSlot etc.)
  bool* destroyed_flag_ = nullptr;  // set while its callback runs
};

class TimerWheel {
 public:
  static constexpr int kLevels = 9;
  static constexpr int kSlotBits = 6;    // 64 slots a level
  static constexpr int kLevelShift = 3;  // each level 8x coarser
  static constexpr absl::Duration kTick = absl::Milliseconds(1);
  // Deadlines are clamped to this many ticks (~146 million years).
  static constexpr uint64_t kMaxTick = uint64_t{1} << 62;

  // `now` is the wheel's starting time; timers are measured from it.
  explicit TimerWheel(absl::Time now);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  // Pending timers are left unscheduled (their callbacks never run).
  ~TimerWheel();

  // Arms `timer` to fire at `deadline`; reschedules it if already pending (on any wheel).
  // A deadline at or before the last Advance time fires on the next Advance.
  void Schedule(Timer* timer, absl::Time deadline);
  // Disarms `timer`; no-op if it is not pending.
  void Cancel(Timer* timer);

  // Moves the wheel to `now` (never backwards) and runs the callbacks of every timer whose
  // slot has expired, in order of slot expiry: by deadline, up to the granularity of the
  // slots involved. Timers that callbacks schedule run no earlier than the next call (ones
  // at or before `now` run then), so a timer that keeps rescheduling itself cannot make
  // Advance loop forever. Returns the number of callbacks run. Calling Advance from a
  // callback does nothing and returns 0.
  size_t Advance(absl::Time now);

  // When the earliest pending timer fires: its deadline rounded up to its slot granularity,
  // never before its deadline, so Advance(*NextDeadline()) runs at least one callback. The
  // one exception is a wheel holding only timers more than ~12 days away: it then names the
  // point where they are re-inserted, and Advance there runs nothing. A bitmap scan of at
  // most kLevels words. nullopt when nothing is pending. Called from a callback, it
  // returns the Advance time (the wheel is mid-way there).
  std::optional<absl::Time> NextDeadline() const;

  // Pending timers.
  size_t size() const { return size_; }

  // The most a timer scheduled `delay` ahead can fire after its deadline when Advance is
  // called at NextDeadline(): its level's granularity (the 1 ms tick for short delays).
  static absl::Duration MaxLateness(absl::Duration delay);

 private:
  static constexpr int kSlotsPerLevel = 1 << kSlotBits;
  static constexpr int kWheelSlots = kLevels * kSlotsPerLevel;
  static constexpr uint16_t kDueSlot = kWheelSlots;           // deadline already passed
  static constexpr uint16_t kFiringSlot = kWheelSlots + 1;    // collected by Advance
  static constexpr uint16_t kDeferredSlot = kWheelSlots + 2;  // scheduled during Advance

  void Insert(Timer* timer);
  void Unlink(Timer* timer);
  void Append(Timer* timer, uint16_t slot);
  void AppendDue(Timer* timer);
  void CollectExpired(uint64_t tick);
  size_t RunFiring();
  std::optional<uint64_t> NextExpiryTick() const;
  uint64_t DeadlineTick(absl::Time deadline) const;

  const absl::Time base_;  // tick 0
  absl::Time now_;         // latest time passed to Advance (or the constructor)
  uint64_t clk_ = 0;       // every slot expiring at or before this tick has been collected
  size_t size_ = 0;
  bool advancing_ = false;
  // One bit per non-empty slot of each level.
  std::array<uint64_t, kLevels> pending_{};
  // The wheel's slots, then the due, firing and deferred lists.
  std::array<timer_internal::Link, kWheelSlots + 3> slots_;
};

}  // namespace netshim
