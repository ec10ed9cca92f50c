// Sleeping until stack sockets become ready, inside a real epoll_pwait2(2) or ppoll(2) so
// that signals interrupt (EINTR), timeouts are the kernel's and pthread_cancel works (both
// are cancellation points in the C library); no stack lock is held while asleep.
//
// Each waiting thread has its own eventfd (Waiter), and each socket it waits on gets a
// Watch: a readiness listener that writes that eventfd when the socket becomes ready for
// what *this* waiter asked. Waking only the waiters whose events happened is what Linux's
// per-waiter wait-queue entries do; one eventfd shared by every waiter of a socket would
// keep a thread blocked in send() spinning while another thread's recv() interest holds
// the shared eventfd readable.
#pragma once

#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/time/time.h"
#include "stack/socket/socket.h"

namespace netshim {

// An absolute deadline on the monotonic clock; nullopt = wait forever.
using Deadline = std::optional<absl::Time>;

absl::Time MonotonicNow();
// The deadline `timeout` from now (nullopt stays forever).
Deadline DeadlineAfter(std::optional<absl::Duration> timeout);
// Time left until `deadline`, clamped at zero, as a timespec for ppoll.
timespec TimeLeft(absl::Time deadline);

// POLLERR and POLLHUP end every wait, as they end every poll(2).
inline constexpr uint32_t kAlwaysReported = POLLERR | POLLHUP;

// A Signal() costs a write(2) only while its owner sleeps, and a wake-up costs no read(2):
// the owner publishes "sleeping" in an atomic state before it sleeps, a Signal() writes the
// eventfd only when it is the first to see that state, and the owner sleeps in
// epoll_pwait2(2) on an epoll instance that holds the eventfd edge-triggered, so every write
// is one event and the counter never needs emptying. Where the C library has no
// epoll_pwait2 the owner sleeps in ppoll(2) on the eventfd and reads it after a wake-up.
// The argument that no wake-up is lost is in waiter.cc.
class Waiter {
 public:
  // `use_epoll` false: always ppoll, as without epoll_pwait2 (for tests).
  explicit Waiter(bool use_epoll = true);
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // The eventfd, for a caller that polls it itself among other descriptors (poll, select):
  // from this call until the end of the WaiterLease, every Signal() writes it and Drain()
  // empties it, as a plain eventfd. Call it after Drain() and before checking readiness.
  int fd();
  void Signal();
  // Forgets earlier Signal()s: call before registering Watches and checking readiness, so
  // any change after the check is seen.
  void Drain();

  // For an owner that polls fd() itself and is awake, about to check readiness anyway
  // (after taking the link's frames on its thread): Signal()s meanwhile write nothing.
  void Quiet(bool on);

  // Sleeps until Signal(), `deadline` (-ETIMEDOUT) or a signal handler ran (-EINTR).
  // `sigmask` as ppoll's. Returns 0 when signalled, at once when a Signal() came after the
  // last Drain().
  int Sleep(const Deadline& deadline, const sigset_t* sigmask = nullptr);

 private:
  friend class WaiterLease;
  // Bits of state_.
  static constexpr uint32_t kSleeping = 1;   // the owner is in (or entering) its sleep
  static constexpr uint32_t kSignalled = 2;  // a Signal() since the last Drain()
  static constexpr uint32_t kPolled = 4;     // fd() was handed out: every Signal() writes
  static constexpr uint32_t kQuiet = 16;     // Quiet(true): a polled owner is awake
  static constexpr uint32_t kWritten = 8;    // the counter may be non-zero (a write since
                                             // the last read)

  // One sleep in the kernel: > 0 woken by a write, 0 timed out, < 0 errno set.
  int WaitOnce(const timespec* timeout, const sigset_t* sigmask);
  // One sleep on the eventfd and the link's fd (the thread holds the link's turn): as
  // WaitOnce, or kLinkReady when frames wait on the link.
  static constexpr int kLinkReady = 2;
  int WaitWithLink(int link_fd, const timespec* timeout, const sigset_t* sigmask);
  // Empties the eventfd's counter.
  void ReadCounter();
  // The lease is over: back from fd()'s plain-eventfd use to the sleeping protocol.
  void EndLease();

  int fd_ = -1;    // the eventfd
  int epfd_ = -1;  // epoll instance holding fd_ edge-triggered; -1: ppoll fallback
  std::atomic<uint32_t> state_{0};
  // Owner-only: fd() is in use (mirrors kPolled).
  bool polled_ = false;
};

// The calling thread's Waiter, for the duration of one wait. A signal handler that blocks
// on a socket while the thread is already waiting gets a Waiter of its own.
class WaiterLease {
 public:
  WaiterLease();
  ~WaiterLease();
  WaiterLease(const WaiterLease&) = delete;
  WaiterLease& operator=(const WaiterLease&) = delete;
  Waiter* operator->() const { return waiter_; }
  Waiter& operator*() const { return *waiter_; }

 private:
  Waiter* waiter_;
  bool owned_;  // a private Waiter (nested use), deleted at the end
};

// Wakes `waiter` whenever `socket` is ready for any of `events` (plus POLLERR|POLLHUP) while
// it exists.
class Watch final : public ReadinessListener {
 public:
  Watch(Waiter& waiter, Socket& socket, uint32_t events);
  ~Watch() override;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  void OnReadinessChanged(uint32_t mask) override;

 private:
  Waiter& waiter_;
  Socket& socket_;
  const uint32_t events_;
};

// Blocks until `socket` is ready for `events` (0), `deadline` passes (-ETIMEDOUT) or a
// signal arrives (-EINTR). Returns 0 at once when it is ready already. A 0 only means
// "try again": another thread may take the data first.
//
// `restartable`: the call would be restarted by Linux after an SA_RESTART handler (it has
// no timeout and has moved no data yet); then such a handler makes this return 0 ("try
// again") instead of -EINTR, which is the restart.
int WaitForSocket(Socket& socket, uint32_t events, const Deadline& deadline,
                  bool restartable = false);

}  // namespace netshim
