#include "stack/runtime/timer_wheel.h"

#include <algorithm>
#include <bit>

namespace netshim {
namespace {

using timer_internal::Link;

constexpr int Shift(int level) { return level * TimerWheel::kLevelShift; }
constexpr uint64_t Granularity(int level) { return uint64_t{1} << Shift(level); }
constexpr uint64_t kSlotMask = (uint64_t{1} << TimerWheel::kSlotBits) - 1;

// Level n holds timers less than 63 * 8^n ticks away (Linux's LVL_START(n + 1)). Rounded up
// to 8^n, such a timer lands at most 64 slot-steps ahead of the wheel's position on that
// level, so its slot cannot alias one the wheel is about to visit for an earlier timer.
constexpr uint64_t LevelLimit(int level) { return kSlotMask << Shift(level); }

// Beyond the top level's range a timer is parked at the top level's far end (Linux's
// WHEEL_TIMEOUT_MAX) and re-inserted from there.
constexpr uint64_t kCapDelta =
    LevelLimit(TimerWheel::kLevels - 1) - Granularity(TimerWheel::kLevels - 1);

// A duration in ticks, rounded up (a timer must never fire before its deadline), clamped to
// [0, kMaxTick] so that InfiniteFuture and friends stay representable.
uint64_t CeilTicks(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  if (d >= static_cast<int64_t>(TimerWheel::kMaxTick) * TimerWheel::kTick) {
    return TimerWheel::kMaxTick;
  }
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(absl::Ceil(d, TimerWheel::kTick)));
}

int LevelFor(uint64_t delta) {
  int level = 0;
  while (level < TimerWheel::kLevels - 1 && delta >= LevelLimit(level)) ++level;
  return level;
}

void LinkBefore(Link* node, Link* at) {
  node->prev = at->prev;
  node->next = at;
  at->prev->next = node;
  at->prev = node;
}

void UnlinkNode(Link* node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = node->next = node;
}

// Moves every node of `from` to the tail of `to`, keeping their order.
void SpliceTail(Link* from, Link* to) {
  if (from->Empty()) return;
  Link* first = from->next;
  Link* last = from->prev;
  first->prev = to->prev;
  to->prev->next = first;
  last->next = to;
  to->prev = last;
  from->prev = from->next = from;
}

}  // namespace

Timer::~Timer() {
  if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  if (wheel_ != nullptr) wheel_->Cancel(this);
}

TimerWheel::TimerWheel(absl::Time now) : base_(now), now_(now) {}

TimerWheel::~TimerWheel() {
  for (Link& head : slots_) {
    while (!head.Empty()) {
      Timer* timer = static_cast<Timer*>(head.next);
      UnlinkNode(timer);
      timer->wheel_ = nullptr;
    }
  }
}

uint64_t TimerWheel::DeadlineTick(absl::Time deadline) const { return CeilTicks(deadline - base_); }

void TimerWheel::Schedule(Timer* timer, absl::Time deadline) {
  if (timer->wheel_ != nullptr) timer->wheel_->Cancel(timer);
  timer->wheel_ = this;
  timer->deadline_ = deadline;
  ++size_;
  if (deadline <= now_) {
    timer->tick_ = 0;
    AppendDue(timer);
    return;
  }
  // deadline > now_ >= clk_ ms, so the tick is in the future.
  timer->tick_ = DeadlineTick(deadline);
  if (advancing_) {
    // It cannot fire in this Advance (its tick is beyond the target), and placing it now,
    // measured from the tick being processed rather than from `now`, could put it on a
    // coarser level than its delay deserves. Advance inserts it once the wheel is at `now`.
    Append(timer, kDeferredSlot);
    return;
  }
  Insert(timer);
}

void TimerWheel::Insert(Timer* timer) {
  // Always in the future (see Schedule); the guard only matters at the kMaxTick clamp.
  uint64_t delta = timer->tick_ > clk_ ? timer->tick_ - clk_ : 1;
  if (delta >= LevelLimit(kLevels - 1)) delta = kCapDelta;
  const int level = LevelFor(delta);
  // Round up to the level's granularity (Linux: calc_index); the slot is visited at
  // tick `bucket << Shift(level)`, which is >= the deadline tick.
  const uint64_t bucket = (clk_ + delta + Granularity(level) - 1) >> Shift(level);
  const int index = static_cast<int>(bucket & kSlotMask);
  pending_[level] |= uint64_t{1} << index;
  Append(timer, static_cast<uint16_t>(level * kSlotsPerLevel + index));
}

void TimerWheel::Append(Timer* timer, uint16_t slot) {
  timer->slot_ = slot;
  LinkBefore(timer, &slots_[slot]);  // FIFO: equal deadlines fire in scheduling order
}

void TimerWheel::AppendDue(Timer* timer) {
  // Kept in deadline order, searching from the tail: O(1) in the usual case of timers armed
  // "now" one after another, and equal deadlines keep their scheduling order.
  Link* at = &slots_[kDueSlot];
  while (at->prev != &slots_[kDueSlot] &&
         static_cast<Timer*>(at->prev)->deadline_ > timer->deadline_) {
    at = at->prev;
  }
  timer->slot_ = kDueSlot;
  LinkBefore(timer, at);
}

void TimerWheel::Cancel(Timer* timer) {
  if (timer->wheel_ == nullptr) return;
  if (timer->wheel_ != this) {
    timer->wheel_->Cancel(timer);
    return;
  }
  Unlink(timer);
}

void TimerWheel::Unlink(Timer* timer) {
  UnlinkNode(timer);
  timer->wheel_ = nullptr;
  --size_;
  const uint16_t slot = timer->slot_;
  if (slot < kWheelSlots && slots_[slot].Empty()) {
    pending_[slot / kSlotsPerLevel] &= ~(uint64_t{1} << (slot % kSlotsPerLevel));
  }
}

std::optional<uint64_t> TimerWheel::NextExpiryTick() const {
  std::optional<uint64_t> best;
  for (int level = 0; level < kLevels; ++level) {
    if (pending_[level] == 0) continue;
    // Slots are visited from the one after the wheel's position on this level, wrapping
    // round (Linux: next_pending_bucket).
    const uint64_t position = clk_ >> Shift(level);
    if (best && ((position + 1) << Shift(level)) >= *best) break;  // coarser levels: later
    const int start = static_cast<int>((position + 1) & kSlotMask);
    const int steps = std::countr_zero(std::rotr(pending_[level], start));
    const uint64_t expiry = (position + 1 + steps) << Shift(level);
    if (!best || expiry < *best) best = expiry;
  }
  return best;
}

std::optional<absl::Time> TimerWheel::NextDeadline() const {
  if (size_ == 0) return std::nullopt;
  if (advancing_ || !slots_[kDueSlot].Empty()) return now_;
  const std::optional<uint64_t> tick = NextExpiryTick();
  if (!tick) return std::nullopt;  // unreachable while size_ > 0
  return base_ + static_cast<int64_t>(*tick) * kTick;
}

void TimerWheel::CollectExpired(uint64_t tick) {
  // Level n's slot for `tick` is due only when tick is a multiple of 8^n (Linux:
  // __collect_expired_timers). Coarser levels first: their deadlines lie earlier in the tick.
  std::array<int, kLevels> due_slots{};
  int count = 0;
  uint64_t position = tick;
  for (int level = 0; level < kLevels; ++level) {
    const int index = static_cast<int>(position & kSlotMask);
    if (pending_[level] & (uint64_t{1} << index)) {
      pending_[level] &= ~(uint64_t{1} << index);
      due_slots[count++] = level * kSlotsPerLevel + index;
    }
    if (position & ((uint64_t{1} << kLevelShift) - 1)) break;
    position >>= kLevelShift;
  }
  while (count > 0) SpliceTail(&slots_[due_slots[--count]], &slots_[kFiringSlot]);
}

size_t TimerWheel::RunFiring() {
  size_t fired = 0;
  Link& firing = slots_[kFiringSlot];
  while (!firing.Empty()) {
    Timer* timer = static_cast<Timer*>(firing.next);
    Unlink(timer);
    if (timer->tick_ > clk_) {
      // Parked at the top level's far end: not due yet, re-insert it nearer.
      timer->wheel_ = this;
      ++size_;
      Insert(timer);
      continue;
    }
    // The callback may destroy the timer; the flag tells us not to touch it afterwards.
    bool destroyed = false;
    timer->destroyed_flag_ = &destroyed;
    if (timer->callback_) timer->callback_();
    if (!destroyed) timer->destroyed_flag_ = nullptr;
    ++fired;
  }
  return fired;
}

size_t TimerWheel::Advance(absl::Time now) {
  if (advancing_) return 0;
  advancing_ = true;
  now_ = std::max(now_, now);
  const uint64_t target = std::min<uint64_t>(
      static_cast<uint64_t>(std::max<int64_t>(absl::ToInt64Milliseconds(now_ - base_), 0)),
      kMaxTick);
  // Timers already due when scheduled; ones that callbacks add to the due list now wait for
  // the next call.
  SpliceTail(&slots_[kDueSlot], &slots_[kFiringSlot]);
  size_t fired = RunFiring();
  // Jump from one expiring slot to the next rather than tick by tick, so a long sleep costs
  // the number of expiring slots, not the number of milliseconds.
  for (std::optional<uint64_t> tick = NextExpiryTick(); tick && *tick <= target;
       tick = NextExpiryTick()) {
    clk_ = *tick;
    CollectExpired(clk_);
    fired += RunFiring();
  }
  clk_ = std::max(clk_, target);
  for (Link& deferred = slots_[kDeferredSlot]; !deferred.Empty();) {
    Timer* timer = static_cast<Timer*>(deferred.next);
    UnlinkNode(timer);
    Insert(timer);
  }
  advancing_ = false;
  return fired;
}

absl::Duration TimerWheel::MaxLateness(absl::Duration delay) {
  // The distance in ticks can exceed the rounded-up delay by one tick, as the wheel's
  // position is the floor of the current time.
  const uint64_t delta = std::min(CeilTicks(delay) + 1, kCapDelta);
  return static_cast<int64_t>(Granularity(LevelFor(delta))) * kTick;
}

}  // namespace netshim
