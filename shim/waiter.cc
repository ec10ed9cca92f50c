#include "shim/waiter.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdlib>

#include "shim/protected_fds.h"
#include "shim/real_calls.h"
#include "shim/signals.h"
#include "stack/runtime/clock.h"

namespace netshim {
namespace {

// The thread's Waiter, made on its first wait and closed when the thread exits.
struct ThreadWaiter {
  Waiter* waiter = nullptr;
  bool in_use = false;
  ~ThreadWaiter() {
    delete waiter;
    waiter = nullptr;  // exit handlers that run after this make a new one
  }
};
thread_local ThreadWaiter t_waiter;

}  // namespace

absl::Time MonotonicNow() { return MonotonicClock::Get().Now(); }

Deadline DeadlineAfter(std::optional<absl::Duration> timeout) {
  if (!timeout) return std::nullopt;
  return MonotonicNow() + *timeout;
}

timespec TimeLeft(absl::Time deadline) {
  const absl::Duration left = deadline - MonotonicNow();
  if (left <= absl::ZeroDuration()) return timespec{0, 0};
  return absl::ToTimespec(left);
}

Waiter::Waiter() {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Out of descriptors in the middle of a blocking call: there is no errno for "cannot
  // wait", and returning early would turn a blocking call into a busy loop.
  if (fd_ < 0) std::abort();
  OwnFds().Protect(fd_);
}

Waiter::~Waiter() {
  OwnFds().Release(fd_);
  real::close(fd_);
}

void Waiter::Signal() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = real::write(fd_, &one, sizeof(one));
}

void Waiter::Drain() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = real::read(fd_, &count, sizeof(count));
}

int Waiter::Sleep(const Deadline& deadline, const sigset_t* sigmask) {
  const int saved_errno = errno;
  for (;;) {
    timespec ts{};
    if (deadline) {
      ts = TimeLeft(*deadline);
      if (ts.tv_sec == 0 && ts.tv_nsec == 0) return -ETIMEDOUT;
    }
    pollfd pfd{fd_, POLLIN, 0};
    const int r = real::ppoll(&pfd, 1, deadline ? &ts : nullptr, sigmask);
    if (r > 0) break;
    if (r < 0) {
      const int e = errno;
      errno = saved_errno;
      if (e == EINTR) return -EINTR;
      return -e;
    }
    // r == 0: ppoll rounds to the clock's granularity; the loop re-checks the deadline.
  }
  errno = saved_errno;
  return 0;
}

WaiterLease::WaiterLease() {
  if (t_waiter.in_use) {
    waiter_ = new Waiter;
    owned_ = true;
    return;
  }
  if (t_waiter.waiter == nullptr) t_waiter.waiter = new Waiter;
  t_waiter.in_use = true;
  waiter_ = t_waiter.waiter;
  owned_ = false;
}

WaiterLease::~WaiterLease() {
  if (owned_) {
    delete waiter_;
  } else {
    t_waiter.in_use = false;
  }
}

Watch::Watch(Waiter& waiter, Socket& socket, uint32_t events)
    : waiter_(waiter), socket_(socket), events_(events | kAlwaysReported) {
  socket_.AddListener(this);
}

Watch::~Watch() { socket_.RemoveListener(this); }

void Watch::OnReadinessChanged(uint32_t mask) {
  if ((mask & events_) != 0) waiter_.Signal();
}

int WaitForSocket(Socket& socket, uint32_t events, const Deadline& deadline, bool restartable) {
  const uint32_t wanted = events | kAlwaysReported;
  WaiterLease waiter;
  waiter->Drain();
  Watch watch(*waiter, socket, events);
  // After the Watch is in place: a change from here on signals the eventfd.
  if ((socket.Poll() & wanted) != 0) return 0;
  const SignalMark mark = CurrentSignalMark();
  const int r = waiter->Sleep(deadline);
  // signal(7): restarted only without a timeout (sock_intr_errno) and after SA_RESTART.
  if (r == -EINTR && restartable && !deadline && ShouldRestart(mark)) return 0;
  return r;
}

}  // namespace netshim
