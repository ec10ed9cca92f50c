// The interposed readiness calls: poll, ppoll, select, pselect and the _FORTIFY_SOURCE
// variants (__poll_chk, __ppoll_chk). A set without stack sockets is the kernel's business
// alone and goes to the C library untouched.
#undef _FORTIFY_SOURCE
#include <poll.h>
#include <sys/select.h>

#include "shim/interpose_common.h"
#include "shim/poll_set.h"
#include "shim/real_calls.h"

extern "C" [[noreturn]] void __chk_fail(void);

using netshim::shim::CallResult;
using netshim::shim::Fds;

namespace {

// Nothing to merge: no stack socket exists, or this is a forked child, where the sockets
// belong to the parent's stack (its placeholders just never become ready here).
bool KernelOnly() { return Fds().size() == 0 || netshim::shim::InForkedChild(); }

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout_ms) {
  if (KernelOnly()) return netshim::real::poll(fds, n, timeout_ms);
  CallResult result;
  const std::optional<int> r =
      netshim::PollMerged(Fds(), fds, n, netshim::DeadlineFromMillis(timeout_ms), nullptr);
  if (!r) return netshim::real::poll(fds, n, timeout_ms);
  return result(*r);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask) {
  if (KernelOnly()) return netshim::real::ppoll(fds, n, timeout, sigmask);
  CallResult result;
  netshim::Deadline deadline;
  if (const int e = netshim::DeadlineFromTimespec(timeout, &deadline); e < 0) return result(e);
  const std::optional<int> r = netshim::PollMerged(Fds(), fds, n, deadline, sigmask);
  if (!r) return netshim::real::ppoll(fds, n, timeout, sigmask);
  return result(*r);
}

int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, timeval* timeout) {
  if (KernelOnly()) return netshim::real::select(nfds, readfds, writefds, exceptfds, timeout);
  CallResult result;
  netshim::Deadline deadline;
  if (const int e = netshim::DeadlineFromTimeval(timeout, &deadline); e < 0) return result(e);
  const std::optional<int> r =
      netshim::SelectMerged(Fds(), nfds, readfds, writefds, exceptfds, deadline, nullptr);
  if (!r) return netshim::real::select(nfds, readfds, writefds, exceptfds, timeout);
  // Linux's select (not pselect) writes back the time that was left.
  if (timeout != nullptr && deadline) {
    const timespec left = netshim::TimeLeft(*deadline);
    *timeout = timeval{left.tv_sec, left.tv_nsec / 1000};
  }
  return result(*r);
}

int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, const timespec* timeout,
            const sigset_t* sigmask) {
  if (KernelOnly()) {
    return netshim::real::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
  }
  CallResult result;
  netshim::Deadline deadline;
  if (const int e = netshim::DeadlineFromTimespec(timeout, &deadline); e < 0) return result(e);
  const std::optional<int> r =
      netshim::SelectMerged(Fds(), nfds, readfds, writefds, exceptfds, deadline, sigmask);
  if (!r) return netshim::real::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
  return result(*r);
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return poll(fds, n, timeout_ms);
}

int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask,
                size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return ppoll(fds, n, timeout, sigmask);
}

}  // extern "C"
