// The interposed epoll calls: epoll_create, epoll_create1, epoll_ctl, epoll_wait,
// epoll_pwait, epoll_pwait2. Kernel fds are registered in the kernel instance exactly as
// asked; stack sockets go to the set's side table (shim/epoll_set.h). An epoll fd that
// never held a stack socket is the kernel's alone, untouched.
#undef _FORTIFY_SOURCE
#include <sys/epoll.h>

#include <climits>

#include "shim/epoll_set.h"
#include "shim/interpose_common.h"
#include "shim/poll_set.h"
#include "shim/real_calls.h"

using netshim::shim::CallResult;
using netshim::shim::Epolls;
using netshim::shim::StackSocket;

namespace {

// fs/eventpoll.c EP_MAX_EVENTS.
constexpr int kMaxEvents = INT_MAX / static_cast<int>(sizeof(epoll_event));

// A fresh epoll fd may reuse the number of one whose close we did not see (a raw syscall):
// its old side table must not apply.
int Fresh(int epfd) {
  if (epfd >= 0) Epolls().Forget(epfd);
  return epfd;
}

int Wait(int epfd, epoll_event* events, int maxevents, const netshim::Deadline& deadline,
         const sigset_t* sigmask, const std::shared_ptr<netshim::EpollSet>& set) {
  CallResult result;
  if (maxevents <= 0 || maxevents > kMaxEvents) return result(-EINVAL);
  (void)epfd;
  return result(netshim::EpollWaitMerged(*set, events, maxevents, deadline, sigmask));
}

}  // namespace

extern "C" {

int epoll_create(int size) noexcept {
  if (size <= 0) {
    errno = EINVAL;
    return -1;
  }
  return Fresh(netshim::real::epoll_create1(0));
}

int epoll_create1(int flags) noexcept { return Fresh(netshim::real::epoll_create1(flags)); }

int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::EpollControlKernel(Epolls(), epfd, op, fd, event);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::EpollControlSocket(Epolls(), epfd, op, fd, s, event));
}

int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask) {
  std::shared_ptr<netshim::EpollSet> set = Epolls().Get(epfd);
  if (!set) return netshim::real::epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask);
  return Wait(epfd, events, maxevents, netshim::DeadlineFromMillis(timeout_ms), sigmask, set);
}

int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout_ms) {
  return epoll_pwait(epfd, events, maxevents, timeout_ms, nullptr);
}

int epoll_pwait2(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                 const sigset_t* sigmask) {
  std::shared_ptr<netshim::EpollSet> set = Epolls().Get(epfd);
  if (!set) return netshim::real::epoll_pwait2(epfd, events, maxevents, timeout, sigmask);
  netshim::Deadline deadline;
  if (const int e = netshim::DeadlineFromTimespec(timeout, &deadline); e < 0) {
    errno = -e;
    return -1;
  }
  return Wait(epfd, events, maxevents, deadline, sigmask, set);
}

}  // extern "C"
