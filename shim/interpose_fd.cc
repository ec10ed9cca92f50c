// The interposed descriptor calls: close, close_range, closefrom, dup, dup2, dup3,
// fcntl/fcntl64, ioctl, fstat/fstat64, fdopen; and vfork.
#undef _FORTIFY_SOURCE
// fstat and fcntl are defined under their own names: with 64-bit offsets the headers would
// rename them to fstat64 and fcntl64 (one ABI on 64-bit Linux; both are defined below).
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "shim/fd_ops.h"
#include "shim/interpose_common.h"
#include "shim/protected_fds.h"
#include "shim/real_calls.h"
#include "stack/runtime/log.h"

namespace netshim::shim {
namespace {

// A copy of an epoll fd shares its side table (dup of a kernel epoll fd shares the instance).
int NoteDup(int fd, int copy) {
  if (copy >= 0) Epolls().Copy(fd, copy);
  return copy;
}

// The shim's own descriptors do not exist for the program (shim/protected_fds.h). Quietly
// in a forked child: closing every descriptor before exec is what children do (CPython's
// subprocess with close_fds), and the copies there are close-on-exec anyway.
int RefuseOwn(int fd, const char* call, int error) {
  if (!InForkedChild()) {
    NETSHIM_LOG(kWarn, "{}({}): the program reached one of netshim's own descriptors; refused",
                call, fd);
  }
  return -error;
}

// close_range(2) over [first, last] minus the shim's own descriptors (`own`: ascending,
// all in the range): one call per gap.
int CloseRangeAround(unsigned first, unsigned last, int flags, const std::vector<int>& own) {
  uint64_t from = first;
  for (int fd : own) {
    if (static_cast<uint64_t>(fd) > from &&
        real::close_range(static_cast<unsigned>(from), static_cast<unsigned>(fd - 1), flags) < 0) {
      return -errno;
    }
    from = static_cast<uint64_t>(fd) + 1;
  }
  if (from <= last && real::close_range(static_cast<unsigned>(from), last, flags) < 0) {
    return -errno;
  }
  return 0;
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

using FdopenFn = FILE* (*)(int, const char*);

FILE* RealFdopen(int fd, const char* mode) {
  static FdopenFn real_fdopen = reinterpret_cast<FdopenFn>(dlsym(RTLD_NEXT, "fdopen"));
  if (real_fdopen == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  return real_fdopen(fd, mode);
}

}  // namespace
}  // namespace netshim::shim

using netshim::OwnFds;
using netshim::shim::CallResult;
using netshim::shim::Epolls;
using netshim::shim::Fds;
using netshim::shim::NoteDup;
using netshim::shim::StackSocket;

extern "C" {

int close(int fd) {
  if (OwnFds().Contains(fd)) {
    CallResult result;
    return result(netshim::shim::RefuseOwn(fd, "close", EBADF));
  }
  Epolls().Forget(fd);
  if (Fds().size() == 0) return netshim::real::close(fd);
  CallResult result;
  return result(netshim::CloseFd(Fds(), fd));
}

int close_range(unsigned first, unsigned last, int flags) noexcept {
  // CLOSE_RANGE_CLOEXEC only marks them; otherwise they are gone once the kernel returns.
  std::vector<int> own;
  if (!(flags & CLOSE_RANGE_CLOEXEC)) own = OwnFds().InRange(first, last);
  int r;
  if (own.empty()) {
    r = netshim::real::close_range(first, last, flags);
  } else {
    netshim::shim::RefuseOwn(own.front(), "close_range", EBADF);
    CallResult result;
    r = result(netshim::shim::CloseRangeAround(first, last, flags, own));
  }
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
  if (OwnFds().Contains(fd2) && fd != fd2) {
    CallResult result;
    return result(netshim::shim::RefuseOwn(fd2, "dup2", EBUSY));
  }
  if (Fds().size() == 0) return NoteDup(fd, netshim::real::dup2(fd, fd2));
  CallResult result;
  return result(NoteDup(fd, netshim::Dup3Fd(Fds(), fd, fd2, 0, /*is_dup2=*/true)));
}

int dup3(int fd, int fd2, int flags) noexcept {
  if (OwnFds().Contains(fd2) && fd != fd2) {
    CallResult result;
    return result(netshim::shim::RefuseOwn(fd2, "dup3", EBUSY));
  }
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

// A stack socket's stream goes through the shim (fd_ops.h, OpenSocketStream); any other fd
// is the C library's.
FILE* fdopen(int fd, const char* mode) noexcept {
  if (!StackSocket(fd)) return netshim::shim::RealFdopen(fd, mode);
  FILE* stream = netshim::OpenSocketStream(fd, mode);
  if (stream != nullptr) {
    NETSHIM_LOG(kInfo,
                "fdopen({}): a stack socket; the stream reads and writes through the "
                "shim, and its fileno() is -1",
                fd);
  }
  return stream;
}

int fstat64(int fd, struct stat64* st) noexcept {
  // One layout on 64-bit Linux.
  static_assert(sizeof(struct stat) == sizeof(struct stat64));
  return netshim::shim::Fstat(fd, reinterpret_cast<struct stat*>(st));
}

// vfork(2) is fork(2) here. A vfork child runs in its parent's memory until it execs, and
// what it may call there (close, close_range, dup2: CPython's subprocess does, on the
// vfork path, to close the fds it does not pass) would change the parent's descriptor
// table and close its sockets. fork gives the child its own copy, and the atfork handlers
// (shim/runtime.cc) make it a forked child that leaves the parent's sockets alone. POSIX
// allows it (vfork's child may only exec or _exit, which it does the same after fork); the
// cost is copying the page tables. posix_spawn(3) and system(3) need nothing: glibc's child
// there calls only internal functions, no interposer, before it execs.
pid_t vfork() noexcept { return fork(); }

}  // extern "C"
