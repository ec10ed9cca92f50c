// The interposed batch, file-to-socket and stat calls: sendmmsg, recvmmsg, sendfile and
// sendfile64, socketpair, statx, fstatat and fstatat64. Kernel descriptors go to the C
// library's own functions untouched.
#undef _FORTIFY_SOURCE
// sendfile and fstatat are defined under their own names: with 64-bit offsets the headers
// would rename them to sendfile64 and fstatat64 (one ABI on 64-bit Linux; both are defined
// below).
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "shim/batch_ops.h"
#include "shim/interpose_common.h"
#include "shim/loopback.h"
#include "shim/real_calls.h"

namespace netshim::shim {
namespace {

// The C library's fstatat, which real_calls.h does not carry: found once with
// dlsym(RTLD_NEXT); should dlsym itself stat a file on this thread while resolving, that
// call goes straight to the kernel (newfstatat has struct stat's layout on 64-bit Linux).
thread_local bool t_resolving_fstatat = false;

int RealFstatat(int dirfd, const char* path, struct stat* st, int flags) {
  using Fn = int (*)(int, const char*, struct stat*, int);
  static constinit std::atomic<Fn> slot{nullptr};
  Fn f = slot.load(std::memory_order_acquire);
  if (f == nullptr && !t_resolving_fstatat) {
    t_resolving_fstatat = true;
    f = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "fstatat64"));
    t_resolving_fstatat = false;
    if (f != nullptr) slot.store(f, std::memory_order_release);
  }
  if (f != nullptr) return f(dirfd, path, st, flags);
  return static_cast<int>(syscall(SYS_newfstatat, dirfd, path, st, flags));
}

ssize_t SendFileCall(int out_fd, int in_fd, off_t* offset, size_t count) {
  auto s = StackSocket(out_fd);
  if (!s) return real::sendfile(out_fd, in_fd, offset, count);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(out_fd, result);
  return result(SendFile(Fds(), *s, in_fd, offset, count));
}

int FstatatCall(int dirfd, const char* path, struct stat* st, int flags) {
  if (!NamesDescriptorItself(path, flags) || !StackSocket(dirfd)) {
    return RealFstatat(dirfd, path, st, flags);
  }
  CallResult result;
  return result(FstatatSocket(dirfd, st, flags));
}

}  // namespace
}  // namespace netshim::shim

using netshim::shim::CallResult;
using netshim::shim::StackSocket;

extern "C" {

int sendmmsg(int fd, mmsghdr* msgs, unsigned vlen, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::sendmmsg(fd, msgs, vlen, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  // A first destination on loopback makes the socket the kernel's (shim/loopback.h).
  if (auto k = netshim::shim::LoopbackSendMany(fd, *s, msgs, vlen, flags)) return result(*k);
  return result(netshim::SendMessages(*s, msgs, vlen, flags));
}

int recvmmsg(int fd, mmsghdr* msgs, unsigned vlen, int flags, timespec* timeout) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::recvmmsg(fd, msgs, vlen, flags, timeout);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::ReceiveMessages(*s, msgs, vlen, flags, timeout));
}

ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
  return netshim::shim::SendFileCall(out_fd, in_fd, offset, count);
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) noexcept {
  // One ABI on 64-bit Linux.
  static_assert(sizeof(off_t) == sizeof(off64_t));
  return netshim::shim::SendFileCall(out_fd, in_fd, reinterpret_cast<off_t*>(offset), count);
}

// Socket pairs are AF_UNIX (or, for AF_INET, the kernel's EOPNOTSUPP, which is Linux's
// answer too): always the kernel's.
int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  return netshim::real::socketpair(domain, type, protocol, fds);
}

int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out) noexcept {
  if (!netshim::NamesDescriptorItself(path, flags) || !StackSocket(dirfd)) {
    return netshim::real::statx(dirfd, path, flags, mask, out);
  }
  CallResult result;
  return result(netshim::StatxSocket(dirfd, flags, mask, out));
}

int fstatat(int dirfd, const char* path, struct stat* st, int flags) noexcept {
  return netshim::shim::FstatatCall(dirfd, path, st, flags);
}

int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) noexcept {
  // One layout on 64-bit Linux.
  static_assert(sizeof(struct stat) == sizeof(struct stat64));
  return netshim::shim::FstatatCall(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

}  // extern "C"
