#include "shim/real_calls.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>

namespace netshim::real {
namespace {

// Set while this thread is inside dlsym(): a call made from there must not resolve again.
// Constant-initialized and trivially destructible, so it needs no TLS constructor.
thread_local bool t_resolving = false;

// The function behind `name` in the objects loaded after ours (the C library), cached in
// `slot`; null while this thread is already resolving (the caller then uses a syscall).
template <typename Fn>
Fn Resolve(std::atomic<Fn>& slot, const char* name) {
  Fn f = slot.load(std::memory_order_acquire);
  if (f != nullptr) return f;
  if (t_resolving) return nullptr;
  t_resolving = true;
  f = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
  t_resolving = false;
  if (f != nullptr) slot.store(f, std::memory_order_release);
  return f;
}

// Every function's cache is a function-local constinit atomic: zero before any constructor.
#define NETSHIM_REAL(name, ...)                   \
  using Fn = __VA_ARGS__;                         \
  static constinit std::atomic<Fn> slot{nullptr}; \
  Fn f = Resolve(slot, name)

// The kernel's pselect6 takes the signal mask as {pointer, size}.
struct SigsetArgument {
  const sigset_t* set;
  size_t size;
};
constexpr size_t kKernelSigsetSize = 8;  // _NSIG / 8 on Linux

long Pselect6(int n, fd_set* r, fd_set* w, fd_set* e, timespec* timeout, const sigset_t* sigmask) {
  SigsetArgument arg{sigmask, kKernelSigsetSize};
  return syscall(SYS_pselect6, n, r, w, e, timeout, sigmask != nullptr ? &arg : nullptr);
}

}  // namespace

int socket(int domain, int type, int protocol) {
  NETSHIM_REAL("socket", int (*)(int, int, int));
  if (f) return f(domain, type, protocol);
  return static_cast<int>(syscall(SYS_socket, domain, type, protocol));
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
  NETSHIM_REAL("bind", int (*)(int, const sockaddr*, socklen_t));
  if (f) return f(fd, addr, len);
  return static_cast<int>(syscall(SYS_bind, fd, addr, len));
}

int listen(int fd, int backlog) {
  NETSHIM_REAL("listen", int (*)(int, int));
  if (f) return f(fd, backlog);
  return static_cast<int>(syscall(SYS_listen, fd, backlog));
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  NETSHIM_REAL("accept", int (*)(int, sockaddr*, socklen_t*));
  if (f) return f(fd, addr, len);
  return static_cast<int>(syscall(SYS_accept4, fd, addr, len, 0));
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  NETSHIM_REAL("accept4", int (*)(int, sockaddr*, socklen_t*, int));
  if (f) return f(fd, addr, len, flags);
  return static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags));
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  NETSHIM_REAL("connect", int (*)(int, const sockaddr*, socklen_t));
  if (f) return f(fd, addr, len);
  return static_cast<int>(syscall(SYS_connect, fd, addr, len));
}

ssize_t read(int fd, void* buf, size_t n) {
  NETSHIM_REAL("read", ssize_t(*)(int, void*, size_t));
  if (f) return f(fd, buf, n);
  return syscall(SYS_read, fd, buf, n);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  NETSHIM_REAL("readv", ssize_t(*)(int, const iovec*, int));
  if (f) return f(fd, iov, iovcnt);
  return syscall(SYS_readv, fd, iov, iovcnt);
}

ssize_t write(int fd, const void* buf, size_t n) {
  NETSHIM_REAL("write", ssize_t(*)(int, const void*, size_t));
  if (f) return f(fd, buf, n);
  return syscall(SYS_write, fd, buf, n);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  NETSHIM_REAL("writev", ssize_t(*)(int, const iovec*, int));
  if (f) return f(fd, iov, iovcnt);
  return syscall(SYS_writev, fd, iov, iovcnt);
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  NETSHIM_REAL("recv", ssize_t(*)(int, void*, size_t, int));
  if (f) return f(fd, buf, n, flags);
  return syscall(SYS_recvfrom, fd, buf, n, flags, nullptr, nullptr);
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  NETSHIM_REAL("recvfrom", ssize_t(*)(int, void*, size_t, int, sockaddr*, socklen_t*));
  if (f) return f(fd, buf, n, flags, addr, len);
  return syscall(SYS_recvfrom, fd, buf, n, flags, addr, len);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  NETSHIM_REAL("recvmsg", ssize_t(*)(int, msghdr*, int));
  if (f) return f(fd, msg, flags);
  return syscall(SYS_recvmsg, fd, msg, flags);
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  NETSHIM_REAL("send", ssize_t(*)(int, const void*, size_t, int));
  if (f) return f(fd, buf, n, flags);
  return syscall(SYS_sendto, fd, buf, n, flags, nullptr, 0);
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  NETSHIM_REAL("sendto", ssize_t(*)(int, const void*, size_t, int, const sockaddr*, socklen_t));
  if (f) return f(fd, buf, n, flags, addr, len);
  return syscall(SYS_sendto, fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  NETSHIM_REAL("sendmsg", ssize_t(*)(int, const msghdr*, int));
  if (f) return f(fd, msg, flags);
  return syscall(SYS_sendmsg, fd, msg, flags);
}

int close(int fd) {
  NETSHIM_REAL("close", int (*)(int));
  if (f) return f(fd);
  return static_cast<int>(syscall(SYS_close, fd));
}

int close_range(unsigned first, unsigned last, int flags) {
  NETSHIM_REAL("close_range", int (*)(unsigned, unsigned, int));
  if (f) return f(first, last, flags);
  return static_cast<int>(syscall(SYS_close_range, first, last, flags));
}

int shutdown(int fd, int how) {
  NETSHIM_REAL("shutdown", int (*)(int, int));
  if (f) return f(fd, how);
  return static_cast<int>(syscall(SYS_shutdown, fd, how));
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) {
  NETSHIM_REAL("getsockname", int (*)(int, sockaddr*, socklen_t*));
  if (f) return f(fd, addr, len);
  return static_cast<int>(syscall(SYS_getsockname, fd, addr, len));
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) {
  NETSHIM_REAL("getpeername", int (*)(int, sockaddr*, socklen_t*));
  if (f) return f(fd, addr, len);
  return static_cast<int>(syscall(SYS_getpeername, fd, addr, len));
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  NETSHIM_REAL("getsockopt", int (*)(int, int, int, void*, socklen_t*));
  if (f) return f(fd, level, name, value, len);
  return static_cast<int>(syscall(SYS_getsockopt, fd, level, name, value, len));
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  NETSHIM_REAL("setsockopt", int (*)(int, int, int, const void*, socklen_t));
  if (f) return f(fd, level, name, value, len);
  return static_cast<int>(syscall(SYS_setsockopt, fd, level, name, value, len));
}

int fcntl(int fd, int cmd, unsigned long arg) {
  NETSHIM_REAL("fcntl", int (*)(int, int, ...));
  if (f) return f(fd, cmd, arg);
  return static_cast<int>(syscall(SYS_fcntl, fd, cmd, arg));
}

int ioctl(int fd, unsigned long request, unsigned long arg) {
  NETSHIM_REAL("ioctl", int (*)(int, unsigned long, ...));
  if (f) return f(fd, request, arg);
  return static_cast<int>(syscall(SYS_ioctl, fd, request, arg));
}

int dup(int fd) {
  NETSHIM_REAL("dup", int (*)(int));
  if (f) return f(fd);
  return static_cast<int>(syscall(SYS_dup, fd));
}

int dup2(int fd, int fd2) {
  NETSHIM_REAL("dup2", int (*)(int, int));
  if (f) return f(fd, fd2);
  // dup3 refuses fd == fd2; dup2 then only checks that fd is open.
  if (fd == fd2) return syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd2;
  return static_cast<int>(syscall(SYS_dup3, fd, fd2, 0));
}

int dup3(int fd, int fd2, int flags) {
  NETSHIM_REAL("dup3", int (*)(int, int, int));
  if (f) return f(fd, fd2, flags);
  return static_cast<int>(syscall(SYS_dup3, fd, fd2, flags));
}

int poll(pollfd* fds, nfds_t n, int timeout_ms) {
  NETSHIM_REAL("poll", int (*)(pollfd*, nfds_t, int));
  if (f) return f(fds, n, timeout_ms);
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  return static_cast<int>(
      syscall(SYS_ppoll, fds, n, timeout_ms < 0 ? nullptr : &ts, nullptr, kKernelSigsetSize));
}

int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask) {
  NETSHIM_REAL("ppoll", int (*)(pollfd*, nfds_t, const timespec*, const sigset_t*));
  if (f) return f(fds, n, timeout, sigmask);
  // The kernel writes the time left back; the C function's caller keeps its timespec.
  timespec copy{};
  if (timeout != nullptr) copy = *timeout;
  return static_cast<int>(
      syscall(SYS_ppoll, fds, n, timeout != nullptr ? &copy : nullptr, sigmask, kKernelSigsetSize));
}

int select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
  NETSHIM_REAL("select", int (*)(int, fd_set*, fd_set*, fd_set*, timeval*));
  if (f) return f(n, r, w, e, timeout);
  timespec ts{};
  if (timeout != nullptr) ts = {timeout->tv_sec, timeout->tv_usec * 1000};
  const long rc = Pselect6(n, r, w, e, timeout != nullptr ? &ts : nullptr, nullptr);
  if (timeout != nullptr) *timeout = {ts.tv_sec, ts.tv_nsec / 1000};
  return static_cast<int>(rc);
}

int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
            const sigset_t* sigmask) {
  NETSHIM_REAL("pselect",
               int (*)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*));
  if (f) return f(n, r, w, e, timeout, sigmask);
  timespec copy{};
  if (timeout != nullptr) copy = *timeout;
  return static_cast<int>(Pselect6(n, r, w, e, timeout != nullptr ? &copy : nullptr, sigmask));
}

int fstat(int fd, struct stat* st) {
  NETSHIM_REAL("fstat", int (*)(int, struct stat*));
  if (f) return f(fd, st);
  return static_cast<int>(syscall(SYS_fstat, fd, st));
}

int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out) {
  NETSHIM_REAL("statx", int (*)(int, const char*, int, unsigned, struct statx*));
  if (f) return f(dirfd, path, flags, mask, out);
  return static_cast<int>(syscall(SYS_statx, dirfd, path, flags, mask, out));
}

int socketpair(int domain, int type, int protocol, int fds[2]) {
  NETSHIM_REAL("socketpair", int (*)(int, int, int, int*));
  if (f) return f(domain, type, protocol, fds);
  return static_cast<int>(syscall(SYS_socketpair, domain, type, protocol, fds));
}

ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  NETSHIM_REAL("sendfile", ssize_t(*)(int, int, off_t*, size_t));
  if (f) return f(out_fd, in_fd, offset, count);
  return syscall(SYS_sendfile, out_fd, in_fd, offset, count);
}

int sendmmsg(int fd, mmsghdr* msgs, unsigned n, int flags) {
  NETSHIM_REAL("sendmmsg", int (*)(int, mmsghdr*, unsigned, int));
  if (f) return f(fd, msgs, n, flags);
  return static_cast<int>(syscall(SYS_sendmmsg, fd, msgs, n, flags));
}

int recvmmsg(int fd, mmsghdr* msgs, unsigned n, int flags, timespec* timeout) {
  NETSHIM_REAL("recvmmsg", int (*)(int, mmsghdr*, unsigned, int, timespec*));
  if (f) return f(fd, msgs, n, flags, timeout);
  return static_cast<int>(syscall(SYS_recvmmsg, fd, msgs, n, flags, timeout));
}

ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
  NETSHIM_REAL("pread64", ssize_t(*)(int, void*, size_t, off_t));
  if (f) return f(fd, buf, n, offset);
  return syscall(SYS_pread64, fd, buf, n, offset);
}

int epoll_create1(int flags) {
  NETSHIM_REAL("epoll_create1", int (*)(int));
  if (f) return f(flags);
  return static_cast<int>(syscall(SYS_epoll_create1, flags));
}

int epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  NETSHIM_REAL("epoll_ctl", int (*)(int, int, int, epoll_event*));
  if (f) return f(epfd, op, fd, event);
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}

int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask) {
  NETSHIM_REAL("epoll_pwait", int (*)(int, epoll_event*, int, int, const sigset_t*));
  if (f) return f(epfd, events, maxevents, timeout_ms, sigmask);
  return static_cast<int>(
      syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout_ms, sigmask, kKernelSigsetSize));
}

namespace {
constinit std::atomic<bool> g_epoll_pwait2_missing{false};
}  // namespace

bool EpollPwait2Missing() { return g_epoll_pwait2_missing.load(std::memory_order_relaxed); }

bool NoteEpollPwait2Failure(int err) {
  if (err != ENOSYS && err != EPERM) return false;
  g_epoll_pwait2_missing.store(true, std::memory_order_relaxed);
  return true;
}

int epoll_pwait2(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                 const sigset_t* sigmask) {
  // Called straight: glibc 2.36 has the wrapper, but the syscall is the same on older ones.
  if (!EpollPwait2Missing()) {
    const int r = static_cast<int>(
        syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout, sigmask, kKernelSigsetSize));
    if (r >= 0 || !NoteEpollPwait2Failure(errno)) return r;
  }
  // epoll_pwait(2) with the timeout in milliseconds, rounded up so a wait never ends early.
  int ms = -1;
  if (timeout != nullptr) {
    const int64_t ns = int64_t{timeout->tv_sec} * 1'000'000'000 + timeout->tv_nsec;
    ms = static_cast<int>(std::min<int64_t>((ns + 999'999) / 1'000'000, INT32_MAX));
  }
  return static_cast<int>(
      syscall(SYS_epoll_pwait, epfd, events, maxevents, ms, sigmask, kKernelSigsetSize));
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  NETSHIM_REAL("sigaction", int (*)(int, const struct sigaction*, struct sigaction*));
  if (f) return f(sig, act, old);
  errno = ENOSYS;  // the kernel's rt_sigaction wants the C library's restorer: never raw
  return -1;
}

}  // namespace netshim::real
