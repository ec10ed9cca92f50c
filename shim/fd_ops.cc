#include "shim/fd_ops.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "shim/real_calls.h"

namespace netshim {
namespace {

int Errno() { return -errno; }

// Puts `value` where an ioctl's int* argument points.
int PutIoctlInt(unsigned long arg, int value) {
  int* out = reinterpret_cast<int*>(arg);
  if (out == nullptr) return -EFAULT;
  *out = value;
  return 0;
}

// Interface and routing requests (SIOCADDRT 0x890B up to the protocol-private range,
// include/uapi/linux/sockios.h), which sock_ioctl hands to dev_ioctl whatever the socket.
bool IsInterfaceRequest(unsigned long request) {
  return request >= SIOCADDRT && request < SIOCPROTOPRIVATE;
}

}  // namespace

int InstallSocket(FdTable& table, std::shared_ptr<OpenSocket> socket, bool cloexec) {
  const int fd = ::eventfd(0, EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
  if (fd < 0) return Errno();
  bool ok = true;
  // A stale entry (a number closed behind our back, e.g. by a raw syscall) is dropped.
  std::shared_ptr<OpenSocket> stale = table.Set(fd, std::move(socket), &ok);
  table.Drop(std::move(stale));
  if (!ok) {
    real::close(fd);
    return -EMFILE;
  }
  return fd;
}

int CloseFd(FdTable& table, int fd) {
  std::shared_ptr<OpenSocket> s = table.Remove(fd);
  const int r = real::close(fd);
  const int saved = errno;
  table.Drop(std::move(s));  // may close the socket: keep close's errno
  errno = saved;
  return r < 0 ? -saved : r;
}

void ForgetRange(FdTable& table, unsigned first, unsigned last) {
  if (table.size() == 0) return;
  const unsigned end = std::min<unsigned>(last, FdTable::kMaxFds - 1);
  for (unsigned fd = first; fd <= end && table.size() > 0; ++fd) {
    table.Drop(table.Remove(static_cast<int>(fd)));
  }
}

int DupFd(FdTable& table, int fd) {
  std::shared_ptr<OpenSocket> s = table.Get(fd);
  const int copy = real::dup(fd);
  if (copy < 0) return Errno();
  if (s) {
    bool ok = true;
    table.Set(copy, std::move(s), &ok);
    if (!ok) {
      real::close(copy);
      return -EMFILE;
    }
  }
  return copy;
}

int Dup3Fd(FdTable& table, int fd, int fd2, int flags, bool is_dup2) {
  std::shared_ptr<OpenSocket> s = table.Get(fd);
  const int r = is_dup2 ? real::dup2(fd, fd2) : real::dup3(fd, fd2, flags);
  if (r < 0) return Errno();
  if (fd == fd2) return r;  // dup2 of a descriptor onto itself changes nothing
  bool ok = true;
  // fd2's previous socket (if any) loses this descriptor, as the kernel closed it.
  std::shared_ptr<OpenSocket> previous = s ? table.Set(fd2, std::move(s), &ok) : table.Remove(fd2);
  if (!ok) {
    real::close(fd2);
    return -EBADF;  // dup2's answer for an fd2 beyond the limit
  }
  table.Drop(std::move(previous));
  return r;
}

int FcntlSocket(FdTable& table, const std::shared_ptr<OpenSocket>& s, int fd, int cmd,
                unsigned long arg) {
  switch (cmd) {
    case F_GETFL:
      // A socket's file is opened O_RDWR (sock_alloc_file).
      return O_RDWR | (s->nonblocking() ? O_NONBLOCK : 0);
    case F_SETFL:
      // setfl: only O_NONBLOCK means anything for a socket here (O_ASYNC/SIGIO is not
      // supported); the placeholder itself stays non-blocking.
      s->set_nonblocking((arg & O_NONBLOCK) != 0);
      return 0;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const int copy = real::fcntl(fd, cmd, arg);
      if (copy < 0) return Errno();
      bool ok = true;
      table.Set(copy, s, &ok);
      if (!ok) {
        real::close(copy);
        return -EMFILE;
      }
      return copy;
    }
    default: {
      const int r = real::fcntl(fd, cmd, arg);
      return r < 0 ? Errno() : r;
    }
  }
}

int IoctlSocket(OpenSocket& s, int fd, unsigned long request, unsigned long arg) {
  switch (request) {
    case FIONBIO: {
      const int* on = reinterpret_cast<const int*>(arg);
      if (on == nullptr) return -EFAULT;
      s.set_nonblocking(*on != 0);
      return 0;
    }
    case FIONREAD: {  // == SIOCINQ
      const int n = s.socket().BytesReadable();
      return n < 0 ? n : PutIoctlInt(arg, n);
    }
    case SIOCOUTQ: {  // == TIOCOUTQ
      const int n = s.socket().BytesUnsent();
      return n < 0 ? n : PutIoctlInt(arg, n);
    }
    case SIOCATMARK:
      // No urgent data is ever queued (MSG_OOB is not supported).
      return PutIoctlInt(arg, 0);
    case FIOCLEX:
    case FIONCLEX: {
      const int r = real::ioctl(fd, request, arg);
      return r < 0 ? Errno() : r;
    }
    default:
      break;
  }
  if (IsInterfaceRequest(request)) {
    const int k = real::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (k < 0) return Errno();
    const int r = real::ioctl(k, request, arg);
    const int e = errno;
    real::close(k);
    return r < 0 ? -e : r;
  }
  return -ENOTTY;
}

namespace {

int CookieFd(void* cookie) { return static_cast<int>(reinterpret_cast<intptr_t>(cookie)); }

ssize_t CookieRead(void* cookie, char* buf, size_t size) {
  return ::read(CookieFd(cookie), buf, size);
}

// stdio takes a short count as a failed write (the stream's error flag is set): keep
// writing until all of it is out, as a blocking socket's write(2) does anyway; a
// non-blocking one that fills reports what went out, or -1 (EAGAIN) when nothing did.
ssize_t CookieWrite(void* cookie, const char* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(CookieFd(cookie), buf + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

int CookieClose(void* cookie) { return ::close(CookieFd(cookie)); }

}  // namespace

FILE* OpenSocketStream(int fd, const char* mode) {
  // A null seek function: fseek/ftell fail, as lseek(2) on a socket does (ESPIPE).
  const cookie_io_functions_t io = {CookieRead, CookieWrite, nullptr, CookieClose};
  return fopencookie(reinterpret_cast<void*>(static_cast<intptr_t>(fd)), mode, io);
}

int FstatSocket(int fd, struct stat* st) {
  if (real::fstat(fd, st) < 0) return Errno();
  st->st_mode = S_IFSOCK | 0777;
  st->st_size = 0;
  return 0;
}

}  // namespace netshim
