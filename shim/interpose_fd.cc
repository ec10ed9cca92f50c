// The interposed descriptor calls: close, close_range, closefrom, dup, dup2, dup3,
// fcntl/fcntl64, ioctl, fstat/fstat64.
#undef _FORTIFY_SOURCE
// fstat and fcntl are defined under their own names: with 64-bit offsets the headers would
// rename them to fstat64 and fcntl64 (one ABI on 64-bit Linux; both are defined below).
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdarg>

#include "shim/fd_ops.h"
#include "shim/interpose_common.h"
#include "shim/real_calls.h"

namespace netshim::shim {
namespace {

// A copy of an epoll fd shares its side table (dup of a kernel epoll fd shares the instance).
int NoteDup(int fd, int copy) {
  if (copy >= 0) Epolls().Copy(fd, copy);
  return copy;
}

int Fcntl(int fd, int cmd, unsigned long arg) {
  auto s = StackSocket(fd);
  if (!s) {
    const int r = real::fcntl(fd, cmd, arg);
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? NoteDup(fd, r) : r;
  }
  CallResult result;
  return result(FcntlSocket(Fds(), s, fd, cmd, arg));
}

int Fstat(int fd, struct stat* st) {
  if (!StackSocket(fd)) return real::fstat(fd, st);
  CallResult result;
  return result(FstatSocket(fd, st));
}

}  // namespace
}  // namespace netshim::shim

using netshim::shim::CallResult;
using netshim::shim::Epolls;
using netshim::shim::Fds;
using netshim::shim::NoteDup;
using netshim::shim::StackSocket;

extern "C" {

int close(int fd) {
  Epolls().Forget(fd);
  if (Fds().size() == 0) return netshim::real::close(fd);
  CallResult result;
  return result(netshim::CloseFd(Fds(), fd));
}

int close_range(unsigned first, unsigned last, int flags) noexcept {
  // CLOSE_RANGE_CLOEXEC only marks them; otherwise they are gone once the kernel returns.
  const int r = netshim::real::close_range(first, last, flags);
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) {
    netshim::ForgetRange(Fds(), first, last);
    Epolls().ForgetRange(first, last);
  }
  return r;
}

void closefrom(int lowfd) noexcept { close_range(lowfd < 0 ? 0 : lowfd, ~0U, 0); }

int dup(int fd) noexcept {
  if (!StackSocket(fd)) return NoteDup(fd, netshim::real::dup(fd));
  CallResult result;
  return result(netshim::DupFd(Fds(), fd));
}

int dup2(int fd, int fd2) noexcept {
  if (Fds().size() == 0) return NoteDup(fd, netshim::real::dup2(fd, fd2));
  CallResult result;
  return result(NoteDup(fd, netshim::Dup3Fd(Fds(), fd, fd2, 0, /*is_dup2=*/true)));
}

int dup3(int fd, int fd2, int flags) noexcept {
  if (Fds().size() == 0) return NoteDup(fd, netshim::real::dup3(fd, fd2, flags));
  CallResult result;
  return result(NoteDup(fd, netshim::Dup3Fd(Fds(), fd, fd2, flags, /*is_dup2=*/false)));
}

// glibc reads the third argument as a pointer-sized word whatever the command.
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return netshim::shim::Fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return netshim::shim::Fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  auto s = StackSocket(fd);
  if (!s) return netshim::real::ioctl(fd, request, arg);
  CallResult result;
  if (request != FIOCLEX && request != FIONCLEX) NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::IoctlSocket(*s, fd, request, arg));
}

int fstat(int fd, struct stat* st) noexcept { return netshim::shim::Fstat(fd, st); }

int fstat64(int fd, struct stat64* st) noexcept {
  // One layout on 64-bit Linux.
  static_assert(sizeof(struct stat) == sizeof(struct stat64));
  return netshim::shim::Fstat(fd, reinterpret_cast<struct stat*>(st));
}

}  // extern "C"
