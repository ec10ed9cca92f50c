// The C library's own versions of every function the shim interposes, found with
// dlsym(RTLD_NEXT) the first time each is needed.
//
// Safe before main (another library's constructor may open a socket before ours ran: the
// table is constant-initialized, so it needs no constructor) and safe against re-entry:
// should dlsym itself call one of these functions on the thread that is resolving, that
// call goes straight to the kernel with syscall(2) instead of recursing.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

namespace netshim::real {

int socket(int domain, int type, int protocol);
int bind(int fd, const sockaddr* addr, socklen_t len);
int listen(int fd, int backlog);
int accept(int fd, sockaddr* addr, socklen_t* len);
int accept4(int fd, sockaddr* addr, socklen_t* len, int flags);
int connect(int fd, const sockaddr* addr, socklen_t len);
ssize_t read(int fd, void* buf, size_t n);
ssize_t readv(int fd, const iovec* iov, int iovcnt);
ssize_t write(int fd, const void* buf, size_t n);
ssize_t writev(int fd, const iovec* iov, int iovcnt);
ssize_t recv(int fd, void* buf, size_t n, int flags);
ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len);
ssize_t recvmsg(int fd, msghdr* msg, int flags);
ssize_t send(int fd, const void* buf, size_t n, int flags);
ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len);
ssize_t sendmsg(int fd, const msghdr* msg, int flags);
int close(int fd);
int close_range(unsigned first, unsigned last, int flags);
int shutdown(int fd, int how);
int getsockname(int fd, sockaddr* addr, socklen_t* len);
int getpeername(int fd, sockaddr* addr, socklen_t* len);
int getsockopt(int fd, int level, int name, void* value, socklen_t* len);
int setsockopt(int fd, int level, int name, const void* value, socklen_t len);
// fcntl and ioctl take their third argument as a pointer-sized word, as glibc passes it on.
int fcntl(int fd, int cmd, unsigned long arg);
int ioctl(int fd, unsigned long request, unsigned long arg);
int dup(int fd);
int dup2(int fd, int fd2);
int dup3(int fd, int fd2, int flags);
int poll(pollfd* fds, nfds_t n, int timeout_ms);
int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask);
int select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* timeout);
int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
            const sigset_t* sigmask);
int fstat(int fd, struct stat* st);
int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out);
int socketpair(int domain, int type, int protocol, int fds[2]);
ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count);
int sendmmsg(int fd, mmsghdr* msgs, unsigned n, int flags);
int recvmmsg(int fd, mmsghdr* msgs, unsigned n, int flags, timespec* timeout);
ssize_t pread(int fd, void* buf, size_t n, off_t offset);
int epoll_create1(int flags);
int epoll_ctl(int epfd, int op, int fd, epoll_event* event);
int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask);
int epoll_pwait2(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                 const sigset_t* sigmask);
// Whether epoll_pwait2(2) has turned out missing in this process: a kernel before 5.11 or
// valgrind (ENOSYS), a seccomp filter such as Docker's (EPERM). One flag for every caller,
// so the question is decided once.
bool EpollPwait2Missing();
// After epoll_pwait2 failed with `err`: records and returns whether the failure means the
// call is missing (epoll_wait(2) itself never fails with ENOSYS or EPERM).
bool NoteEpollPwait2Failure(int err);
int sigaction(int sig, const struct sigaction* act, struct sigaction* old);

}  // namespace netshim::real
