// The interposed socket calls: socket, bind, listen, accept, accept4, connect, shutdown,
// getsockname, getpeername, getsockopt, setsockopt. Kernel descriptors go straight to the
// C library.
#undef _FORTIFY_SOURCE
#include <netinet/in.h>
#include <sys/socket.h>

#include "shim/fd_ops.h"
#include "shim/interpose_common.h"
#include "shim/loopback.h"
#include "shim/real_calls.h"
#include "shim/sockaddr.h"
#include "shim/socket_ops.h"

namespace netshim::shim {
namespace {

// IPv4 stream and datagram sockets are the stack's; the flags belong to the descriptor and
// are masked first. So are IPv6 TCP and UDP sockets, dual-stack (socket_ops.h): the stack
// carries their IPv4 traffic. Anything else (AF_UNIX, AF_NETLINK, raw, ICMPv6 ping, a type
// with stray bits the kernel will refuse) is the kernel's.
bool StackServes(int domain, int type, int protocol) {
  const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base != SOCK_STREAM && base != SOCK_DGRAM) return false;
  if (domain == AF_INET) return true;  // the stack checks the protocol as inet_create
  if (domain != AF_INET6) return false;
  return protocol == 0 || protocol == (base == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
}

int OpenStackSocket(int domain, int type, int protocol) {
  if (InForkedChild()) return RefuseInChild(-1);
  int error = 0;
  std::shared_ptr<Socket> socket = EnsureStack().CreateSocket(type, protocol, &error);
  if (!socket) return error;
  std::shared_ptr<OpenSocket> open = MakeOpenSocket(std::move(socket), (type & SOCK_NONBLOCK) != 0);
  open->set_family(domain);
  return InstallSocket(Fds(), std::move(open), (type & SOCK_CLOEXEC) != 0);
}

int Accept(OpenSocket& listener, sockaddr* addr, socklen_t* len, int flags) {
  // __sys_accept4_file: "if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL".
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  SocketAddress peer;
  int error = 0;
  std::shared_ptr<Socket> child = AcceptConnection(listener, &peer, &error);
  if (!child) return error;
  std::shared_ptr<OpenSocket> open = MakeOpenSocket(std::move(child), flags & SOCK_NONBLOCK);
  InheritFamily(listener, *open);
  const int fd = InstallSocket(Fds(), std::move(open), (flags & SOCK_CLOEXEC) != 0);
  if (fd < 0 || addr == nullptr) return fd;
  // do_accept copies the address after accepting: a bad buffer costs the connection.
  if (const int r = WriteAcceptedAddress(listener, peer, addr, len); r < 0) {
    CloseFd(Fds(), fd);
    return r;
  }
  return fd;
}

}  // namespace
}  // namespace netshim::shim

using netshim::shim::CallResult;
using netshim::shim::StackSocket;

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  if (!netshim::shim::StackServes(domain, type, protocol) || netshim::shim::StartingStack()) {
    return netshim::real::socket(domain, type, protocol);
  }
  CallResult result;
  return result(netshim::shim::OpenStackSocket(domain, type, protocol));
}

int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::bind(fd, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  // Loopback is the kernel's (shim/loopback.h): the kernel socket is bound already.
  const int r = netshim::shim::RouteLoopback(fd, *s, addr, len, netshim::AddressUse::kBind);
  if (r != netshim::kServeOnStack) return result(r);
  return result(netshim::BindSocket(*s, addr, len));
}

int listen(int fd, int backlog) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::listen(fd, backlog);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::ListenSocket(*s, backlog));
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::accept(fd, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Accept(*s, addr, len, 0));
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::accept4(fd, addr, len, flags);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::shim::Accept(*s, addr, len, flags));
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::connect(fd, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  // Loopback is the kernel's (shim/loopback.h): the descriptor is a kernel socket now.
  const int r = netshim::shim::RouteLoopback(fd, *s, addr, len, netshim::AddressUse::kConnect);
  if (r < 0) return result(r);
  if (r == 0) {
    const int c = netshim::real::connect(fd, addr, len);
    return result(c < 0 ? -errno : c);
  }
  return result(netshim::ConnectSocket(*s, addr, len));
}

int shutdown(int fd, int how) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::shutdown(fd, how);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::ShutdownSocket(*s, how));
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::getsockname(fd, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::SocketName(*s, false, addr, len));
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::getpeername(fd, addr, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::SocketName(*s, true, addr, len));
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::getsockopt(fd, level, name, value, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  return result(netshim::GetSocketOption(*s, level, name, value, len));
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  auto s = StackSocket(fd);
  if (!s) return netshim::real::setsockopt(fd, level, name, value, len);
  CallResult result;
  NETSHIM_REFUSE_IN_CHILD(fd, result);
  int r = netshim::SetSocketOption(*s, level, name, value, len);
  // IPV6_V6ONLY on: from now on the socket is the kernel's.
  if (r == netshim::kHandToKernel) r = netshim::HandToKernelV6Only(netshim::shim::Fds(), fd, *s);
  return result(r);
}

}  // extern "C"
