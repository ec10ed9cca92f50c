// The interposed data calls: read, readv, write, writev, recv, recvfrom, recvmsg, send,
// sendto, sendmsg, and the _FORTIFY_SOURCE variants programs link (__read_chk, __recv_chk,
// __recvfrom_chk). On a stack socket read/write are recv/send with no flags, as on Linux.
#undef _FORTIFY_SOURCE
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <span>

#include "shim/interpose_common.h"
#include "shim/loopback.h"
#include "shim/real_calls.h"
#include "shim/socket_ops.h"

extern "C" [[noreturn]] void __chk_fail(void);

namespace netshim::shim {
namespace {

ssize_t Receive(OpenSocket& s, void* buf, size_t n, int flags, sockaddr* from,
                socklen_t* from_len) {
  iovec iov{buf, n};
  return ReceiveMessage(s, {&iov, 1}, flags, from, from_len, nullptr);
}

ssize_t Send(OpenSocket& s, const void* buf, size_t n, int flags, const sockaddr* to,
             socklen_t to_len) {
  iovec iov{const_cast<void*>(buf), n};
  return SendMessage(s, {&iov, 1}, to, to_len, flags);
}

// readv/writev: "if (nr_segs > UIO_MAXIOV) return -EINVAL" (and negative counts).
bool BadIovCount(int iovcnt) { return iovcnt < 0 || iovcnt > kMaxIov; }

// ___sys_sendmsg / ___sys_recvmsg: the msghdr's own checks.
int CheckMsghdr(const msghdr* msg) {
  if (msg == nullptr) return -EFAULT;
  if (msg->msg_iovlen > static_cast<size_t>(kMaxIov)) return -EMSGSIZE;
  if (msg->msg_iovlen > 0 && msg->msg_iov == nullptr) return -EFAULT;
  return 0;
}

}  // namespace
}  // namespace netshim::shim

using netshim::shim::CallResult;
using netshim::shim::StackSocket;

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::read(fd, buf, n);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Receive(*s, buf, n, 0, nullptr, nullptr));
}

ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::readv(fd, iov, iovcnt);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  if (netshim::shim::BadIovCount(iovcnt)) return result(ssize_t{-EINVAL});
  return result(netshim::ReceiveMessage(*s, {iov, static_cast<size_t>(iovcnt)}, 0, nullptr, nullptr,
                                        nullptr));
}

ssize_t write(int fd, const void* buf, size_t n) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::write(fd, buf, n);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Send(*s, buf, n, 0, nullptr, 0));
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::writev(fd, iov, iovcnt);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  if (netshim::shim::BadIovCount(iovcnt)) return result(ssize_t{-EINVAL});
  return result(netshim::SendMessage(*s, {iov, static_cast<size_t>(iovcnt)}, nullptr, 0, 0));
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::recv(fd, buf, n, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Receive(*s, buf, n, flags, nullptr, nullptr));
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::recvfrom(fd, buf, n, flags, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  // __sys_recvfrom: the address is written only when the program gave a buffer for it.
  if (addr == nullptr)
    len = nullptr;
  else if (len == nullptr)
    return result(ssize_t{-EFAULT});
  return result(netshim::shim::Receive(*s, buf, n, flags, addr, len));
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::recvmsg(fd, msg, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  if (const int r = netshim::shim::CheckMsghdr(msg); r < 0) return result(ssize_t{r});
  int msg_flags = 0;
  const ssize_t n = netshim::ReceiveMessage(
      *s, {msg->msg_iov, msg->msg_iovlen}, flags, static_cast<sockaddr*>(msg->msg_name),
      msg->msg_name != nullptr ? &msg->msg_namelen : nullptr, &msg_flags);
  if (n >= 0) {
    msg->msg_flags = msg_flags;
    msg->msg_controllen = 0;  // no control messages are produced
  }
  return result(n);
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::send(fd, buf, n, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Send(*s, buf, n, flags, nullptr, 0));
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::sendto(fd, buf, n, flags, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  // A destination on loopback makes the socket the kernel's (shim/loopback.h).
  iovec iov{const_cast<void*>(buf), n};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(addr);
  m.msg_namelen = len;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (auto k = netshim::shim::LoopbackSend(fd, *s, m, flags)) return result(*k);
  return result(netshim::shim::Send(*s, buf, n, flags, addr, len));
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::sendmsg(fd, msg, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  if (const int r = netshim::shim::CheckMsghdr(msg); r < 0) return result(ssize_t{r});
  // A destination on loopback makes the socket the kernel's (shim/loopback.h).
  if (auto k = netshim::shim::LoopbackSend(fd, *s, *msg, flags)) return result(*k);
  // copy_msghdr_from_user: a null msg_name means no address, whatever msg_namelen says.
  const auto* to = static_cast<const sockaddr*>(msg->msg_name);
  return result(netshim::SendMessage(*s, {msg->msg_iov, msg->msg_iovlen}, to,
                                     to != nullptr ? msg->msg_namelen : 0, flags));
}

ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                       socklen_t* len) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, len);
}

}  // extern "C"
