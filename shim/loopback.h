// Handing a stack socket to the kernel: the one way a descriptor stops being the stack's.
//
// NETSHIM_LOOPBACK=kernel (the default) leaves the host's loopback to the kernel, so local
// services (a database on 127.0.0.1, a resolver on 127.0.0.53, anything on [::1]) keep
// working under the shim: a stack socket that binds to or reaches loopback becomes, under
// the same descriptor number, a kernel socket of the same family and type, as the kernel
// would have made it (O_NONBLOCK, FD_CLOEXEC and every option the program set replayed),
// and the call is then the kernel's. NETSHIM_LOOPBACK=stack hands nothing over: 127/8 is
// the stack's to serve (or refuse). IPV6_V6ONLY on hands over in either mode: the stack has
// no IPv6 (socket_ops.h).
//
// What goes to the kernel in kernel mode (the decision is IsLoopbackAddress and
// ShouldHandOver):
//   bind(2) to 127.0.0.0/8, ::ffff:127.x.x.x or ::1, on a socket without a local port;
//   connect(2) to 127.0.0.0/8, ::ffff:127.x, ::1, or the wildcard 0.0.0.0 / :: (Linux
//     routes a connect to INADDR_ANY to loopback, ip_route_output_key_hash_rcu), for UDP
//     always, for TCP only from the closed state (else the stack says EISCONN/EALREADY);
//   sendto(2)/sendmsg(2) with such a destination on a UDP socket (and on TCP with
//     MSG_FASTOPEN, which connects). A destination with port 0 stays: Linux refuses it
//     before routing (-EINVAL), and so does the stack.
// A bind to the wildcard stays on the stack: such a listener is reached through the TAP,
// not through 127.0.0.1 (the kernel owns lo; answering there too would need a second,
// kernel listener whose connections merge into the stack's accept queue — not done).
// A socket that already has a stack port (bound to 0.0.0.0:P, or a UDP socket that sent
// before) keeps it: the kernel socket is bound to the wildcard on port P before the call,
// as Linux keeps a bound port across connect; if the kernel has that port taken the call
// fails with its errno (EADDRINUSE) and the socket stays the stack's. A socket bound to
// the stack's own address gets the wildcard instead: the kernel does not have that address.
// Once handed over a socket is the kernel's for good (later traffic to remote peers goes
// through the kernel's routes, with the kernel's address).
//
// Threads: the dup3(2) that puts the kernel socket under the number is atomic, so every
// call finds either the placeholder (and the stack socket) or the kernel socket; the
// descriptor leaves the FdTable right after. Concurrent handovers of one socket are
// serialized (OpenSocket::handover_mu): the second finds the work done. Epoll
// registrations of the descriptor (shim/epoll_set.h) move into the kernel's instances with
// the same events and data. Every descriptor of the socket (dup(2) copies) is handed over
// together: they share one socket, as on Linux. A call blocked in the stack on the same descriptor
// in another thread when it is handed over finishes on the stack socket.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>

#include "shim/fd_table.h"
#include "shim/open_socket.h"
#include "shim/sockaddr.h"
#include "stack/runtime/config.h"

namespace netshim {

// True when `addr`, as given to a socket of `family` (AF_INET or AF_INET6) for `use`, is
// the host's loopback in the sense above. An address that fails Linux's argument checks
// (bad length, family, a UDP destination port 0, AF_UNSPEC) is false: the stack's path
// answers it with Linux's errno.
bool IsLoopbackAddress(int family, const Inet6Context& context, const sockaddr* addr, socklen_t len,
                       AddressUse use);

// True when this call on `s` hands it to the kernel in `mode` (its address, the socket's
// type and state, and for kSendTo the call's `flags`).
bool ShouldHandOver(Config::Loopback mode, OpenSocket& s, const sockaddr* addr, socklen_t len,
                    AddressUse use, int flags);

// How the kernel socket is made.
struct KernelSocketSpec {
  bool v6only = false;  // IPV6_V6ONLY on, before anything else
  // bind(2) the kernel socket here before it takes the number (null: keep the stack
  // socket's port, if it has one, on the wildcard). Its failure leaves all as it was.
  const sockaddr* bind_to = nullptr;
  socklen_t bind_len = 0;
};

// Makes descriptor `fd` of `s` a new kernel socket of the same family, type and protocol:
// options replayed from s.options() (not SO_BINDTODEVICE/SO_BINDTOIFINDEX, which name the
// stack's interface, nor IPV6_V6ONLY, which `spec` decides), O_NONBLOCK from `s`,
// FD_CLOEXEC from each placeholder, bound as `spec` says, then dup3(2) onto `fd` and every
// other descriptor of `s` in `table` (dup'ed descriptors share one socket, as on Linux),
// each leaving `table` with its epoll registrations moved to the kernel. 0 when `fd` is the
// kernel's (also when another thread handed it over first), or the kernel's errno with everything
// as it was.
int HandOver(FdTable& table, int fd, OpenSocket& s, const KernelSocketSpec& spec);

// What RouteLoopback returns when the call is the stack's to serve.
inline constexpr int kServeOnStack = 1;

// For bind (kBind), connect (kConnect), sendto/sendmsg (kSendTo) on stack descriptor `fd`:
// kServeOnStack, or -errno when the handover failed (the descriptor is still the stack's),
// or 0 when the descriptor is now the kernel's: the caller makes the real call on it —
// except for kBind, where 0 means the kernel socket is bound already (the bind is done
// before the kernel socket takes the number, so a refused bind changes nothing).
int RouteLoopback(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                  const sockaddr* addr, socklen_t len, AddressUse use, int flags = 0);

// sendmsg(2) (sendto is one with a single iovec) on stack descriptor `fd`: nullopt when
// the stack sends it, else the kernel's answer after the handover (bytes sent, or -errno;
// a failed handover's -errno with the descriptor still the stack's).
std::optional<ssize_t> LoopbackSend(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                                    const msghdr& msg, int flags);
// sendmmsg(2): routed by the first message's address (the datagrams of one call go out of
// one socket; later messages to other places follow it, as they would on the kernel).
std::optional<int> LoopbackSendMany(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                                    mmsghdr* msgs, unsigned vlen, int flags);

namespace shim {

// The process's NETSHIM_LOOPBACK: set at stack start when the runtime says so, else read
// from the environment the first time it is asked (the stack has started then, so the
// value was checked).
Config::Loopback LoopbackMode();
void SetLoopbackMode(Config::Loopback mode);

// RouteLoopback with the process's descriptor table and mode.
int RouteLoopback(int fd, OpenSocket& s, const sockaddr* addr, socklen_t len, AddressUse use,
                  int flags = 0);
// LoopbackSend and LoopbackSendMany with the process's table and mode, for sendto, sendmsg
// and sendmmsg.
std::optional<ssize_t> LoopbackSend(int fd, OpenSocket& s, const msghdr& msg, int flags);
std::optional<int> LoopbackSendMany(int fd, OpenSocket& s, mmsghdr* msgs, unsigned vlen, int flags);

}  // namespace shim
}  // namespace netshim
