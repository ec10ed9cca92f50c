// The stack's own thread: an event loop over the link's fd, a wake eventfd and the next
// timer deadline. Receive processing and timers run here.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "stack/runtime/clock.h"

namespace netshim {

// What the dispatcher drives (the Stack).
class DispatchTarget {
 public:
  virtual ~DispatchTarget() = default;
  // Processes up to `budget` received frames; returns how many there were.
  virtual size_t PollOnce(size_t budget) = 0;
  // Runs everything due at `now`.
  virtual void RunTimers(absl::Time now) = 0;
  // The earliest moment something is due, if anything is.
  virtual std::optional<absl::Time> NextDeadline() = 0;
};

class Dispatcher {
 public:
  // `link_fd` polls readable while frames wait (-1: none, timers only).
  Dispatcher(DispatchTarget* target, const Clock& clock, int link_fd);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  absl::Status Start();
  // Stops and joins the thread; idempotent.
  void Stop();
  // Makes the loop re-read NextDeadline() now (e.g. a timer was armed from another thread).
  void Wake();
  // Wakes the loop only if `deadline` is earlier than when it plans to wake up anyway.
  void WakeIfBefore(absl::Time deadline);

  bool running() const { return running_.load(std::memory_order_acquire); }
  // The descriptors the loop uses (the link's, its epoll and wake fds), for an embedder
  // that must keep a program from closing them.
  std::vector<int> Descriptors() const;
  // True once the loop has decided how long to sleep and is in (or entering) its wait, so
  // only a wake-up or its deadline will run it again. For tests of the wake-up logic.
  bool idle() const { return planned_wake_nanos_.load() != INT64_MIN; }

 private:
  void Loop();

  DispatchTarget* const target_;
  const Clock& clock_;
  const int link_fd_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  // When the loop will next wake by itself (unix nanos on the clock's scale; max = never;
  // min = it is awake and will look at the deadlines again before sleeping).
  std::atomic<int64_t> planned_wake_nanos_{INT64_MIN};
};

}  // namespace netshim
