// Descriptor-level calls on stack sockets: creating the placeholder, close, the dup family,
// fcntl, ioctl and fstat, keeping the kernel's model: the placeholder is a real eventfd, so
// fd numbers never collide with kernel fds and FD_CLOEXEC stays per descriptor in the
// kernel, while dups share one OpenSocket (and its O_NONBLOCK). Results are >= 0 or a
// negative errno; the kernel calls go through real_calls.h.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "shim/fd_table.h"
#include "shim/open_socket.h"

namespace netshim {

// A new descriptor for `socket`: an eventfd made EFD_NONBLOCK (plus EFD_CLOEXEC when
// `cloexec`) entered in `table`. -EMFILE/-ENFILE as socket(2) gives them.
int InstallSocket(FdTable& table, std::shared_ptr<OpenSocket> socket, bool cloexec);

// close(2): the descriptor leaves the table before the kernel frees its number, so a
// kernel fd that reuses it is never taken for a socket. The socket closes with its last fd.
int CloseFd(FdTable& table, int fd);
// close_range(2) without CLOSE_RANGE_CLOEXEC: forgets the stack descriptors in [first, last]
// (the caller then lets the kernel close them all).
void ForgetRange(FdTable& table, unsigned first, unsigned last);

// dup(2), dup2(2), dup3(2) for any descriptor: the copy refers to the same socket (or to
// none when `fd` is a kernel fd, which also drops any socket `fd2` was).
int DupFd(FdTable& table, int fd);
int Dup3Fd(FdTable& table, int fd, int fd2, int flags, bool is_dup2);

// fcntl(2) on a stack descriptor: F_GETFL/F_SETFL see O_NONBLOCK of the shared socket,
// F_DUPFD/F_DUPFD_CLOEXEC copy it, the rest (F_GETFD/F_SETFD, ...) is the placeholder's.
int FcntlSocket(FdTable& table, const std::shared_ptr<OpenSocket>& s, int fd, int cmd,
                unsigned long arg);
// ioctl(2): FIONBIO, FIONREAD/SIOCINQ, SIOCOUTQ, SIOCATMARK from the socket; FIOCLEX and
// FIONCLEX on the placeholder; interface requests (SIOCGIF*) to a kernel socket, since the
// kernel answers them for any socket; -ENOTTY for the rest, as sock_do_ioctl.
int IoctlSocket(OpenSocket& s, int fd, unsigned long request, unsigned long arg);
// fstat(2): the placeholder's, typed S_IFSOCK with mode 0777 as Linux shows sockets.
int FstatSocket(int fd, struct stat* st);

// fdopen(3) of a stack socket. glibc's stdio reads and writes a FILE through its own
// internal syscalls, which no interposer sees: a FILE from the real fdopen would read and
// write the placeholder eventfd (EINVAL, or an 8-byte counter taken for data). Instead the
// stream is a fopencookie(3) one whose read, write and close are ::read, ::write and
// ::close of `fd`, i.e. the interposed calls in the shim: buffering, fgets, fprintf and
// fclose (which closes `fd`, as for any fdopen'ed stream) work; seeking fails (ESPIPE, as
// on a socket); fileno() of the stream is -1, the one visible difference. Null with errno
// (EINVAL for a bad mode) on failure.
FILE* OpenSocketStream(int fd, const char* mode);

}  // namespace netshim
