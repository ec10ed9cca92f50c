// The stack's own thread: an event loop over the link's fd, a wake eventfd and a timerfd
// for the next deadline. Receive processing and timers run here, and on an application
// thread that is about to block for a frame (caller polling, below).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
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
  // Frames handled per turn before timers get one, so a flood cannot starve them.
  static constexpr size_t kPollBudget = 64;

  // `link_fd` polls readable while frames wait (-1: none, timers only).
  Dispatcher(DispatchTarget* target, const Clock& clock, int link_fd);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  absl::Status Start();
  // Stops and joins the thread; idempotent.
  void Stop();
  // Makes the loop poll and re-read NextDeadline() now (a frame was queued for it).
  void Wake();
  // Makes the loop wake by `deadline` (a timer was armed from another thread). Earlier
  // than the loop planned, the loop's timerfd is re-armed: no wake-up now, so arming a
  // timer on an application thread costs the loop no context switch.
  void WakeIfBefore(absl::Time deadline);

  // Caller polling (Onload's model): an application thread about to block takes the link
  // and sleeps on its fd itself, so a reply costs one wake-up (of the thread that waits for
  // it), not two (the loop's, then the waiter's). One thread at a time holds the link; the
  // loop stops watching it meanwhile and keeps running timers and wakes.
  // Takes the link; false when another thread holds it or there is no link, and with
  // `only_if_asleep` also while the loop is awake. An awake loop takes frames at no wake-up
  // cost, on another CPU than a caller busy with many connections: taking them from it puts
  // all the stack's work on the caller's thread and costs two epoll_ctl calls per sleep
  // (wrk with 16 connections under the shim: 0.70x of the kernel's rate -> 0.53x).
  bool BeginCallerPoll(bool only_if_asleep = false);
  // Processes the frames waiting, as the loop would (one thread at a time does the loop's
  // work), and re-arms the loop's timer for any deadline they set. Only while held.
  size_t CallerPoll();
  // Gives the link back to the loop, which then sees frames still waiting. Async-signal-safe.
  void EndCallerPoll();
  int link_fd() const { return link_fd_; }
  // Whether a caller holds the link now (for tests).
  bool caller_polling() const { return caller_polls_.load(std::memory_order_acquire); }

  bool running() const { return running_.load(std::memory_order_acquire); }
  // The descriptors the loop uses (the link's, its epoll, wake and timer fds), for an
  // embedder that must keep a program from closing them.
  std::vector<int> Descriptors() const;
  // True once the loop has decided how long to sleep and is in (or entering) its wait, so
  // only a wake-up or its deadline will run it again. For tests of the wake-up logic.
  bool idle() const { return planned_wake_nanos_.load() != kAwake; }

 private:
  static constexpr int64_t kAwake = INT64_MIN;
  static constexpr int64_t kNever = INT64_MAX;

  void Loop();
  // Publishes when the loop will wake by itself (kAwake: it will not sleep before it looks
  // again) and arms the timerfd for it.
  void Plan(int64_t nanos);
  // Sets the timerfd to fire at `nanos` (kNever: disarmed). Needs arm_mu_.
  void ArmTimer(int64_t nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(arm_mu_);

  DispatchTarget* const target_;
  const Clock& clock_;
  const int link_fd_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  // The target is driven by one thread at a time: the loop or a caller polling.
  absl::Mutex work_mu_;
  std::atomic<bool> caller_polls_{false};
  // When the loop will next wake by itself (unix nanos on the clock's scale; kNever;
  // kAwake: it will look at the deadlines again before sleeping). Written under arm_mu_.
  std::atomic<int64_t> planned_wake_nanos_{kAwake};
  absl::Mutex arm_mu_;
  int64_t armed_nanos_ ABSL_GUARDED_BY(arm_mu_) = kNever;  // what the timerfd is set to
};

}  // namespace netshim
