// Time as the stack sees it: a monotonic clock behind an interface so that tests drive
// timers, retransmissions and cache expiry by hand.
//
// Instants are absl::Time values on the monotonic clock's scale (UnixEpoch + CLOCK_MONOTONIC),
// which keeps Abseil's Duration arithmetic without ever reading the wall clock.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace netshim {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// CLOCK_MONOTONIC.
class MonotonicClock final : public Clock {
 public:
  absl::Time Now() const override;
  static MonotonicClock& Get();
};

// A clock that moves only when told to. Safe to read from any thread.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(1))
      : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override {
    return absl::FromUnixNanos(nanos_.load(std::memory_order_acquire));
  }
  void Advance(absl::Duration d) {
    nanos_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }
  void Set(absl::Time t) { nanos_.store(absl::ToUnixNanos(t), std::memory_order_release); }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace netshim
