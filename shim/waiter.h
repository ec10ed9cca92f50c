// Sleeping until stack sockets become ready, inside a real ppoll(2) so that signals
// interrupt (EINTR), timeouts are the kernel's and pthread_cancel works (ppoll is a
// cancellation point); no stack lock is held while asleep.
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

class Waiter {
 public:
  Waiter();
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  int fd() const { return fd_; }
  void Signal();
  // Empties the eventfd: call before registering Watches and checking readiness, so any
  // change after the check is seen.
  void Drain();

  // Sleeps until Signal(), `deadline` (-ETIMEDOUT) or a signal handler ran (-EINTR).
  // `sigmask` as ppoll's. Returns 0 when signalled.
  int Sleep(const Deadline& deadline, const sigset_t* sigmask = nullptr);

 private:
  int fd_ = -1;
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
