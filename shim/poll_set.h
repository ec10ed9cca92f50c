// poll(2)/ppoll(2)/select(2)/pselect(2) over any mix of stack sockets and kernel fds.
//
// Stack sockets are answered from Socket::Poll(). When nothing is ready the call sleeps in
// one real ppoll over the kernel fds plus the calling thread's Waiter eventfd, which a Watch
// on each stack socket signals when that socket becomes ready for what was asked; then
// everything is looked at again. The caller's timeout and signal mask go to that ppoll,
// so EINTR and timeouts are the kernel's.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/select.h>

#include <cstdint>
#include <optional>

#include "shim/fd_table.h"
#include "shim/waiter.h"

namespace netshim {

// What poll(2) reports for a socket whose readiness is `mask` when `events` were asked:
// POLLRDNORM/POLLWRNORM ride with POLLIN/POLLOUT, and POLLERR/POLLHUP come unasked
// (Linux do_pollfd: "mask &= filter", filter = events | EPOLLERR | EPOLLHUP).
short PollRevents(uint32_t mask, short events);

// select(2)'s sets from poll bits (Linux fs/select.c POLLIN_SET, POLLOUT_SET, POLLEX_SET).
inline constexpr short kSelectRead = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
inline constexpr short kSelectWrite = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
inline constexpr short kSelectExcept = POLLPRI;

// poll over `fds`: the count of entries with revents, 0 on timeout, or a negative errno.
// nullopt when no entry is a stack socket (the caller makes the real call itself, exactly
// as the program asked).
std::optional<int> PollMerged(const FdTable& table, pollfd* fds, nfds_t n, const Deadline& deadline,
                              const sigset_t* sigmask);

// select over the three sets (any may be null), in place: the number of bits set, 0 on
// timeout, or a negative errno (-EBADF for a set fd that is not open). nullopt when no set
// fd is a stack socket.
std::optional<int> SelectMerged(const FdTable& table, int nfds, fd_set* readfds, fd_set* writefds,
                                fd_set* exceptfds, const Deadline& deadline,
                                const sigset_t* sigmask);

// Validates and converts timeouts as Linux's poll_select_set_timeout: -EINVAL when out of
// range.
int DeadlineFromTimespec(const timespec* timeout, Deadline* out);
int DeadlineFromTimeval(const timeval* timeout, Deadline* out);
Deadline DeadlineFromMillis(int timeout_ms);

}  // namespace netshim
