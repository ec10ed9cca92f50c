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
  // Processes what waits besides the link (a loopback queue), up to `budget`; returns how
  // much there was. The loop's turn while a thread holds the link's lease.
  virtual size_t PollBesidesLink(size_t budget) {
    (void)budget;
    return 0;
  }
  // PollOnce for a thread that polls the link between its own application's calls (a
  // lease holder, CallerPoll): what the frames owe that the application's reply may carry
  // (ACKs) may be held back, until an AgeHeld() finds them held for a while, or
  // ReleaseHeld().
  virtual size_t PollForCaller(size_t budget) { return PollOnce(budget); }
  // The holder polls again: sends what has been held for a while. Any thread.
  virtual void AgeHeld() {}
  // Sends everything held back. Any thread, any time.
  virtual void ReleaseHeld() {}
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
  // it), not two (the loop's, then the waiter's); its frames are processed on that thread.
  // The thread keeps the link when its sleep ends (a lease): the loop stops watching the
  // link while a lease is out, and the holder polls it at its next wait (an event loop's
  // next epoll_wait), so an application busy with many connections takes their frames in
  // batches on its own thread with no wake-up at all. Leases cost no syscall to keep or to
  // pass between threads; only taking the link from the loop (and giving it back) changes
  // the loop's epoll set. The loop revokes a lease whose holder has neither polled nor
  // waited on the link for a whole lease period (Onload's EF_HELPER_USEC), so frames never
  // wait longer than that for a holder busy elsewhere, blocked outside the stack, or gone.
  //
  // Takes the link or keeps the caller's lease (`lease`: the one it had, 0: none) and marks
  // the holder attending (it is about to poll or sleep on the link). Returns the lease the
  // caller holds now; 0 when there is no link, another thread attends it, or with
  // `only_if_asleep` the loop owns the link and is awake (an awake loop takes frames at no
  // wake-up cost). A lease whose holder does not attend passes to the caller at no cost.
  uint64_t AttendLink(uint64_t lease, bool only_if_asleep = false);
  // The holder stops attending (its sleep ended) and keeps the lease.
  void LeaveLink(uint64_t lease);
  // Gives the lease back: the loop watches the link again (and sees frames still waiting).
  // Async-signal-safe.
  void ReturnLink(uint64_t lease);
  // Whether `lease` (nonzero) is the lease out now.
  bool HoldsLink(uint64_t lease) const { return lease != 0 && lease_.load() == lease; }
  // Processes the frames waiting, as the loop would (one thread at a time does the loop's
  // work), and re-arms the loop's timer for any deadline they set. Counts as the holder's
  // poll. Any thread may call it; a holder must. What the frames owe that the caller's
  // reply may carry is held (DispatchTarget::PollForCaller) for a while (the caller's next
  // polls age it), until any thread sleeps (ReleaseHeld), or until the lease goes back: at
  // most about a lease period, as a holder that stops polling loses its lease within one.
  size_t CallerPoll();
  // Sends what caller polls held back: a thread about to sleep calls it, its reply (if
  // any) having gone.
  void ReleaseHeld() { target_->ReleaseHeld(); }
  // How long a holder may leave the link unattended before the loop takes it back
  // (default 1 ms). Before Start().
  void set_lease_period(absl::Duration d) { lease_period_nanos_ = absl::ToInt64Nanoseconds(d); }
  int link_fd() const { return link_fd_; }
  // Whether a lease is out (for tests).
  bool link_leased() const { return lease_.load() != kLoopOwns; }
  // Leases the loop took back from holders that left the link unattended.
  uint64_t leases_revoked() const { return leases_revoked_.load(std::memory_order_relaxed); }

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
  // The loop's look at the lease out, due at lease_check_at_: revokes it when its holder
  // left the link unattended for a whole period. Returns when to look next (kNever: no
  // lease out, or its holder attends; the holder schedules the next look as it leaves).
  int64_t CheckLease(int64_t now);
  // Schedules the loop's look at the lease one period from `now` unless one is scheduled.
  void ScheduleLeaseCheck(int64_t now);
  // Moves the link between the loop's epoll set and a lease, through kSwitching so that
  // the set changes before anyone else can see the new owner.
  bool SwitchLink(uint64_t from, uint64_t to);

  // lease_: kLoopOwns (the loop watches the link), kSwitching (the loop's set is changing),
  // or the id of the lease out (unique in the process: a stale id never matches).
  static constexpr uint64_t kLoopOwns = 0;
  static constexpr uint64_t kSwitching = UINT64_MAX;

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
  std::atomic<uint64_t> lease_{kLoopOwns};
  std::atomic<bool> lease_attended_{false};      // the holder polls or sleeps on the link now
  std::atomic<uint64_t> lease_polls_{0};         // the holder's polls and departures
  std::atomic<int64_t> lease_check_at_{kNever};  // the loop's next look at the lease
  uint64_t lease_polls_seen_ = 0;                // at the loop's last look (loop thread only)
  int64_t lease_period_nanos_ = 1'000'000;
  std::atomic<uint64_t> leases_revoked_{0};
  // When the loop will next wake by itself (unix nanos on the clock's scale; kNever;
  // kAwake: it will look at the deadlines again before sleeping). Written under arm_mu_.
  std::atomic<int64_t> planned_wake_nanos_{kAwake};
  absl::Mutex arm_mu_;
  int64_t armed_nanos_ ABSL_GUARDED_BY(arm_mu_) = kNever;  // what the timerfd is set to
};

}  // namespace netshim
