#include "shim/waiter.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "shim/link_turn.h"
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

// Why no wake-up is lost. Signal() and the owner change state_ only by atomic
// read-modify-writes, so they happen in one total order and each sees the one before it.
//  - Drain() (owner, before registering Watches and checking readiness) clears the state.
//  - Sleep() (owner, after the check) sets kSleeping and learns what was there before:
//    kSignalled means a Signal() came after Drain(): return at once. Otherwise every later
//    Signal() sees kSleeping, and the first of them (it sees no kSignalled) writes the
//    eventfd; the later ones see kSignalled and the owner is already woken.
//  - A readiness change before the Watch was registered is seen by the caller's check
//    (Socket's listener lock orders them); one after it calls Signal(), which is either
//    before Sleep()'s read-modify-write (Sleep returns at once) or after it (a write).
// A write can be late: the Signal() that saw kSleeping may write after the sleep ended
// (timeout, EINTR). Its event then wakes a later sleep whose state has no kSignalled, and
// that sleep goes back to sleep; so a late write costs a loop, never a spurious return.
// No write is still on its way once the Watches are gone (RemoveListener() returns only
// when no listener call is in flight), which is when the next Drain() or fd() comes.
// With epoll_pwait2 the eventfd is edge-triggered: every write is one event however high
// the counter is, so it is never read (it would take 2^64 writes to fill).

namespace {

using EpollPwait2Fn = int (*)(int, epoll_event*, int, const timespec*, const sigset_t*);

// The C library's epoll_pwait2 (glibc 2.35): a cancellation point, as ppoll is and a bare
// syscall(2) is not, so pthread_cancel still ends a blocked call. Null before 2.35.
EpollPwait2Fn LibcEpollPwait2() {
  static const EpollPwait2Fn fn = reinterpret_cast<EpollPwait2Fn>(dlsym(RTLD_NEXT, "epoll_pwait2"));
  return fn;
}

}  // namespace

Waiter::Waiter(bool use_epoll) {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Out of descriptors in the middle of a blocking call: there is no errno for "cannot
  // wait", and returning early would turn a blocking call into a busy loop.
  if (fd_ < 0) std::abort();
  OwnFds().Protect(fd_);
  // Once epoll_pwait2 turned out missing, every Waiter sleeps in ppoll.
  if (!use_epoll || LibcEpollPwait2() == nullptr || real::EpollPwait2Missing()) {
    return;
  }
  // Without the epoll instance (out of descriptors) Sleep() uses ppoll: slower, as right.
  const int epfd = real::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = fd_;
  if (real::epoll_ctl(epfd, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    real::close(epfd);
    return;
  }
  epfd_ = epfd;
  OwnFds().Protect(epfd_);
}

Waiter::~Waiter() {
  if (epfd_ >= 0) {
    OwnFds().Release(epfd_);
    real::close(epfd_);
  }
  OwnFds().Release(fd_);
  real::close(fd_);
}

int Waiter::fd() {
  if (!polled_) {
    // Empty the counter of earlier sleeps' writes (none is still on its way: the caller
    // made its Watches after Drain(), and no Signal() writes before kPolled), then make
    // every Signal() write: one that comes between the two is seen by the caller's
    // readiness check, which follows.
    if ((state_.load() & kWritten) != 0) ReadCounter();
    state_.fetch_or(kPolled);
    polled_ = true;
  }
  return fd_;
}

void Waiter::Signal() {
  const uint32_t prev = state_.fetch_or(kSignalled);
  const bool first_while_asleep = (prev & (kSleeping | kSignalled)) == kSleeping;
  if (!first_while_asleep && (prev & (kPolled | kQuiet)) != kPolled) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = real::write(fd_, &one, sizeof(one));
  // After the write: a ReadCounter() that clears the bit before this point either read
  // the write or leaves the bit set for the next one.
  state_.fetch_or(kWritten);
}

void Waiter::Drain() {
  if (polled_) {
    // The caller polls the eventfd itself: it must stop being readable.
    ReadCounter();
    state_.fetch_and(~kSignalled);
    return;
  }
  // Also clears a kSleeping left by a Sleep() that never returned (a handler's longjmp).
  state_.fetch_and(kWritten);
}

void Waiter::Quiet(bool on) {
  if (on) {
    state_.fetch_or(kQuiet);
  } else {
    state_.fetch_and(~kQuiet);
  }
}

void Waiter::ReadCounter() {
  state_.fetch_and(~kWritten);  // before the read: see Signal()
  uint64_t count;
  [[maybe_unused]] ssize_t n = real::read(fd_, &count, sizeof(count));
}

void Waiter::EndLease() {
  if (!polled_) return;
  // The Watches are gone: no Signal() is in flight. Writes after the caller's last
  // Drain() left kWritten set, for the next fd().
  polled_ = false;
  state_.fetch_and(~kPolled);
}

int Waiter::WaitOnce(const timespec* timeout, const sigset_t* sigmask) {
  if (epfd_ >= 0) {
    epoll_event ev;
    const int r = LibcEpollPwait2()(epfd_, &ev, 1, timeout, sigmask);
    if (r >= 0 || !real::NoteEpollPwait2Failure(errno)) return r;
    OwnFds().Release(epfd_);
    real::close(epfd_);
    epfd_ = -1;
    // On to ppoll. Writes the edge-triggered mode never read back may be in the counter:
    // ppoll returns at once, the counter is read, and Sleep() sees no kSignalled and loops.
  }
  pollfd pfd{fd_, POLLIN, 0};
  const int r = real::ppoll(&pfd, 1, timeout, sigmask);
  // Level-triggered: empty the counter, or the next sleep would not block.
  if (r > 0) ReadCounter();
  return r;
}

int Waiter::WaitWithLink(int link_fd, const timespec* timeout, const sigset_t* sigmask) {
  pollfd pfds[2] = {{fd_, POLLIN, 0}, {link_fd, POLLIN, 0}};
  const int r = real::ppoll(pfds, 2, timeout, sigmask);
  if (r <= 0) return r;
  // Level-triggered here, whatever the epoll mode does: empty the counter.
  if (pfds[0].revents != 0) ReadCounter();
  return pfds[1].revents != 0 ? kLinkReady : 1;
}

int Waiter::Sleep(const Deadline& deadline, const sigset_t* sigmask) {
  // Publish "sleeping"; a Signal() since Drain() means there is no need to.
  if ((state_.fetch_or(kSleeping) & kSignalled) != 0) {
    state_.fetch_and(~kSleeping);
    return 0;
  }
  const int saved_errno = errno;
  LinkTurn turn;
  const SignalMark mark = CurrentSignalMark();
  int result = 0;
  for (;;) {
    timespec ts{};
    if (deadline) {
      ts = TimeLeft(*deadline);
      if (ts.tv_sec == 0 && ts.tv_nsec == 0) {
        result = -ETIMEDOUT;
        break;
      }
    }
    const timespec* timeout = deadline ? &ts : nullptr;
    LinkTurn::BeforeSleep();
    const int r =
        turn.held() ? WaitWithLink(turn.fd(), timeout, sigmask) : WaitOnce(timeout, sigmask);
    if (r == kLinkReady) {
      // Frames, for this thread or another. Not "sleeping" while taking them, so that our
      // own socket's Signal() only sets kSignalled (no write).
      state_.fetch_and(~kSleeping);
      // A handler the poll deferred interrupts the wait, as in the kernel's sleep.
      if (turn.Poll(mark)) {
        result = -EINTR;
        break;
      }
      if ((state_.fetch_or(kSleeping) & kSignalled) != 0) break;
      continue;
    }
    if (r > 0) {
      // Our Signal(), or a late write of an earlier sleep (see the top): sleep on.
      if ((state_.load() & kSignalled) != 0) break;
      continue;
    }
    if (r < 0) {
      result = -errno;  // -EINTR when a handler ran
      break;
    }
    // r == 0: the kernel rounds to its clock's granularity; the loop re-checks the deadline.
  }
  // From here Signal() writes nothing. One that saw kSleeping has written (or is writing).
  state_.fetch_and(~kSleeping);
  errno = saved_errno;
  return result;
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
    waiter_->EndLease();
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
