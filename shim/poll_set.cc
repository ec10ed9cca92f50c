#include "shim/poll_set.h"

#include <cerrno>
#include <memory>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "shim/link_turn.h"
#include "shim/real_calls.h"
#include "shim/signals.h"

namespace netshim {
namespace {

struct StackEntry {
  nfds_t index;
  std::shared_ptr<OpenSocket> socket;
};
using StackEntries = absl::InlinedVector<StackEntry, 8>;

// Fills revents of the stack entries from their sockets; returns how many are ready.
int PollStack(pollfd* fds, const StackEntries& stack) {
  int ready = 0;
  for (const StackEntry& e : stack) {
    pollfd& p = fds[e.index];
    p.revents = PollRevents(e.socket->socket().Poll(), p.events);
    if (p.revents != 0) ++ready;
  }
  return ready;
}

// Copies the kernel's answers for the kernel entries; returns how many are ready.
int TakeKernelRevents(pollfd* fds, nfds_t n, const pollfd* kernel) {
  int ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    if (kernel[i].fd < 0 && fds[i].fd >= 0) continue;  // a stack entry
    fds[i].revents = kernel[i].revents;
    if (fds[i].revents != 0) ++ready;
  }
  return ready;
}

// The kernel's answer for the kernel fds right now, without sleeping.
int PollKernelNow(pollfd* fds, nfds_t n, absl::InlinedVector<pollfd, 16>& kernel) {
  bool any = false;
  for (nfds_t i = 0; i < n && !any; ++i) any = kernel[i].fd >= 0;
  if (!any) return 0;
  const timespec zero{0, 0};
  if (real::ppoll(kernel.data(), n, &zero, nullptr) < 0) return -errno;
  return TakeKernelRevents(fds, n, kernel.data());
}

// fd_set bits by hand: the FD_* macros are checked against FD_SETSIZE under
// _FORTIFY_SOURCE, while select(2) takes sets of any size up to nfds.
constexpr int kBitsPerWord = 8 * sizeof(unsigned long);

bool FdBit(const fd_set* set, int fd) {
  if (set == nullptr) return false;
  const auto* words = reinterpret_cast<const unsigned long*>(set);
  return (words[fd / kBitsPerWord] >> (fd % kBitsPerWord)) & 1UL;
}

void SetFdBit(fd_set* set, int fd, bool on) {
  if (set == nullptr) return;
  auto* words = reinterpret_cast<unsigned long*>(set);
  const unsigned long bit = 1UL << (fd % kBitsPerWord);
  if (on) {
    words[fd / kBitsPerWord] |= bit;
  } else {
    words[fd / kBitsPerWord] &= ~bit;
  }
}

// At most this many stack sockets in one poll: a latency-bound wait (one connection, or a
// control connection and a data one) that takes the link's turn whatever the dispatch
// thread does.
constexpr size_t kFewSockets = 2;

}  // namespace

short PollRevents(uint32_t mask, short events) {
  if (mask & POLLIN) mask |= POLLRDNORM;
  if (mask & POLLOUT) mask |= POLLWRNORM;
  const uint32_t filter = static_cast<uint16_t>(events) | POLLERR | POLLHUP;
  return static_cast<short>(mask & filter);
}

std::optional<int> PollMerged(const FdTable& table, pollfd* fds, nfds_t n, const Deadline& deadline,
                              const sigset_t* sigmask) {
  StackEntries stack;
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].fd < 0) continue;
    if (std::shared_ptr<OpenSocket> s = table.Get(fds[i].fd)) stack.push_back({i, std::move(s)});
  }
  if (stack.empty()) return std::nullopt;
  LinkTurn::PollLeasedLink();  // what came since this thread last waited, if it holds the link

  // The kernel's copy: stack entries disabled (a negative fd is skipped by the kernel),
  // one more slot at the end for the Waiter.
  absl::InlinedVector<pollfd, 16> kernel(fds, fds + n);
  for (const StackEntry& e : stack) kernel[e.index].fd = -1;
  for (pollfd& p : kernel) p.revents = 0;

  int ready = PollStack(fds, stack);
  const bool expired = deadline && *deadline <= MonotonicNow();
  if (ready > 0 || expired) {
    const int k = PollKernelNow(fds, n, kernel);
    return k < 0 ? k : ready + k;
  }

  WaiterLease waiter;
  waiter->Drain();
  absl::InlinedVector<std::unique_ptr<Watch>, 8> watches;
  for (const StackEntry& e : stack) {
    watches.push_back(std::make_unique<Watch>(*waiter, e.socket->socket(), fds[e.index].events));
  }
  kernel.push_back(pollfd{waiter->fd(), POLLIN, 0});
  kernel.push_back(pollfd{-1, POLLIN, 0});  // the link, while this thread holds its turn
  std::optional<LinkTurn> turn;             // taken before the first sleep
  const SignalMark mark = CurrentSignalMark();
  for (;;) {
    // With the Watches in place, a change after this look signals the Waiter.
    ready = PollStack(fds, stack);
    if (ready > 0) {
      kernel.resize(n);
      const int k = PollKernelNow(fds, n, kernel);
      return k < 0 ? k : ready + k;
    }
    timespec left{};
    if (deadline) left = TimeLeft(*deadline);
    // Over more than two stack sockets (a program driving several connections, such as
    // iperf3 -P 4's select()), only from a sleeping dispatch thread: see epoll_set.cc.
    if (!turn) turn.emplace(/*only_if_loop_asleep=*/stack.size() > kFewSockets);
    kernel[n + 1].fd = turn->held() ? turn->fd() : -1;
    if (!deadline || left.tv_sec != 0 || left.tv_nsec != 0) LinkTurn::BeforeSleep();
    const int r = real::ppoll(kernel.data(), n + 2, deadline ? &left : nullptr, sigmask);
    if (r < 0) return -errno;
    if (kernel[n + 1].revents != 0) {
      // Our own sockets' changes are seen by the readiness check below: no eventfd write.
      waiter->Quiet(true);
      const bool interrupted = turn->Poll(mark);
      waiter->Quiet(false);
      if (interrupted) return -EINTR;  // poll(2) is never restarted
    }
    const bool woken = kernel[n].revents != 0;
    if (woken) waiter->Drain();
    const int k = TakeKernelRevents(fds, n, kernel.data());
    ready = PollStack(fds, stack);
    if (k + ready > 0) return k + ready;
    if (r == 0 && (!deadline || *deadline <= MonotonicNow())) return 0;
    for (pollfd& p : kernel) p.revents = 0;
  }
}

std::optional<int> SelectMerged(const FdTable& table, int nfds, fd_set* readfds, fd_set* writefds,
                                fd_set* exceptfds, const Deadline& deadline,
                                const sigset_t* sigmask) {
  if (nfds < 0) return -EINVAL;
  // One pollfd per descriptor named in any set.
  absl::InlinedVector<pollfd, 32> fds;
  bool any_stack = false;
  for (int fd = 0; fd < nfds; ++fd) {
    short events = 0;
    if (FdBit(readfds, fd)) events |= POLLIN;
    if (FdBit(writefds, fd)) events |= POLLOUT;
    if (FdBit(exceptfds, fd)) events |= POLLPRI;
    if (events == 0) continue;
    fds.push_back(pollfd{fd, events, 0});
    if (!any_stack && table.Get(fd)) any_stack = true;
  }
  if (!any_stack) return std::nullopt;

  for (;;) {
    const std::optional<int> r = PollMerged(table, fds.data(), fds.size(), deadline, sigmask);
    if (!r) return std::nullopt;  // the stack descriptors were closed meanwhile
    if (*r < 0) return r;
    bool any_reported = false;
    for (pollfd& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      // Linux do_select: a descriptor that is not open fails the whole call.
      if (p.revents & POLLNVAL) return -EBADF;
      const bool reported = ((p.events & POLLIN) && (p.revents & kSelectRead)) ||
                            ((p.events & POLLOUT) && (p.revents & kSelectWrite)) ||
                            ((p.events & POLLPRI) && (p.revents & kSelectExcept));
      if (reported) {
        any_reported = true;
      } else {
        // poll reports POLLHUP unasked, select does not (a write-only interest in a hung
        // up descriptor): stop asking about it rather than wake up for it again.
        p.fd = -1;
      }
    }
    if (!any_reported && *r > 0) continue;
    // Only now are the program's sets rewritten: the bits of ready descriptors stay.
    for (int fd = 0; fd < nfds; ++fd) {
      SetFdBit(readfds, fd, false);
      SetFdBit(writefds, fd, false);
      SetFdBit(exceptfds, fd, false);
    }
    int count = 0;
    for (const pollfd& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      if ((p.events & POLLIN) && (p.revents & kSelectRead)) {
        SetFdBit(readfds, p.fd, true);
        ++count;
      }
      if ((p.events & POLLOUT) && (p.revents & kSelectWrite)) {
        SetFdBit(writefds, p.fd, true);
        ++count;
      }
      if ((p.events & POLLPRI) && (p.revents & kSelectExcept)) {
        SetFdBit(exceptfds, p.fd, true);
        ++count;
      }
    }
    return count;
  }
}

int DeadlineFromTimespec(const timespec* timeout, Deadline* out) {
  if (timeout == nullptr) {
    *out = std::nullopt;
    return 0;
  }
  // timespec64_valid.
  if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
    return -EINVAL;
  }
  *out = MonotonicNow() + absl::DurationFromTimespec(*timeout);
  return 0;
}

int DeadlineFromTimeval(const timeval* timeout, Deadline* out) {
  if (timeout == nullptr) {
    *out = std::nullopt;
    return 0;
  }
  // kern_select: microseconds past a second are carried, negatives are invalid.
  if (timeout->tv_sec < 0 || timeout->tv_usec < 0) return -EINVAL;
  *out = MonotonicNow() + absl::Seconds(timeout->tv_sec) + absl::Microseconds(timeout->tv_usec);
  return 0;
}

Deadline DeadlineFromMillis(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return MonotonicNow() + absl::Milliseconds(timeout_ms);
}

}  // namespace netshim
