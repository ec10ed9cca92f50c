// The socket calls on a stack socket, with the blocking the stack leaves to its caller:
// every Socket method is non-blocking, so a call on a blocking socket retries after
// sleeping in a real ppoll (waiter.h) until the socket is ready, SO_RCVTIMEO/SO_SNDTIMEO
// run out or a signal arrives. Results are Linux's: >= 0, or a negative errno.
//
// An AF_INET6 socket (OpenSocket::family()) is dual-stack, as Linux's with IPV6_V6ONLY off
// (its default): its IPv4 traffic is the stack's, every address it takes or shows is a
// sockaddr_in6 holding a v4-mapped address (sockaddr.h), and native IPv6 is what a host
// without an IPv6 address or route makes of it (-EADDRNOTAVAIL to bind, -ENETUNREACH to
// reach). IPV6_V6ONLY on makes a socket the stack can never serve: the shim hands it to
// the kernel (HandToKernelV6Only), where it is what it would have been without the shim.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <memory>
#include <span>

#include "shim/fd_table.h"
#include "shim/open_socket.h"
#include "shim/sockaddr.h"
#include "stack/socket/socket.h"

namespace netshim {

int BindSocket(OpenSocket& s, const sockaddr* addr, socklen_t len);
int ListenSocket(OpenSocket& s, int backlog);

// connect(2). A blocking stream socket waits for the handshake (bounded by SO_SNDTIMEO, then
// -EINPROGRESS as Linux's __inet_stream_connect) and asks Connect() again for the result.
int ConnectSocket(OpenSocket& s, const sockaddr* addr, socklen_t len);

// The next connection, waiting for one when `s` is blocking (bounded by SO_RCVTIMEO, then
// -EAGAIN as inet_csk_accept). Null with *error set when there is none.
std::shared_ptr<Socket> AcceptConnection(OpenSocket& s, SocketAddress* peer, int* error);

// accept(2)'s address for a connection from `listener` (a sockaddr_in6 when it is AF_INET6),
// and what the new socket takes from it: the family and IPv6 options (Linux's
// tcp_v6_syn_recv_sock copies the listener's ipv6_pinfo).
int WriteAcceptedAddress(const OpenSocket& listener, const SocketAddress& peer, sockaddr* out,
                         socklen_t* len);
void InheritFamily(const OpenSocket& listener, OpenSocket& child);

// sendmsg(2) and its kin. `to` as msg_name (null: none). A blocking stream socket sends
// everything before returning, unless interrupted or timed out after some was sent (then
// the count). -EPIPE on a stream socket raises SIGPIPE in the calling thread unless
// MSG_NOSIGNAL, as Linux's sk_stream_error.
ssize_t SendMessage(OpenSocket& s, std::span<const iovec> data, const sockaddr* to,
                    socklen_t to_len, int flags);

// recvmsg(2) and its kin. When `from_len` is not null the sender's address is written as
// move_addr_to_user does (nothing for a stream socket: *from_len becomes 0). `msg_flags`
// (may be null) gets MSG_TRUNC and friends. MSG_WAITALL on a blocking stream socket
// gathers the whole length unless EOF, an error, a timeout or a signal comes first.
ssize_t ReceiveMessage(OpenSocket& s, std::span<const iovec> data, int flags, sockaddr* from,
                       socklen_t* from_len, int* msg_flags);

int ShutdownSocket(OpenSocket& s, int how);
// getsockname(2) (peer = false) and getpeername(2).
int SocketName(OpenSocket& s, bool peer, sockaddr* out, socklen_t* len);
// setsockopt(2)/getsockopt(2). An AF_INET6 socket answers IPPROTO_IPV6 here (IPV6_V6ONLY
// reads 0; IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP and
// IPV6_MTU_DISCOVER are kept with Linux's checks; others -ENOPROTOOPT) and SO_DOMAIN
// (AF_INET6); IPPROTO_IP and the rest are the stack's, as ipv6_setsockopt hands them to
// ip_setsockopt. Turning IPV6_V6ONLY on is checked as do_ipv6_setsockopt (-EINVAL for
// fewer than sizeof(int) bytes or a socket with a local port) and, when allowed, returns
// kHandToKernel: the stack cannot serve an IPv6-only socket, so the caller makes the
// descriptor the kernel's (HandToKernelV6Only).
int SetSocketOption(OpenSocket& s, int level, int name, const void* value, socklen_t len);
int GetSocketOption(OpenSocket& s, int level, int name, void* value, socklen_t* len);
inline constexpr int kHandToKernel = 1;

// Makes descriptor `fd` of the unbound stack socket `s` a new kernel AF_INET6 socket of the
// same type with IPV6_V6ONLY on, as it would be had the kernel made it: the handover of
// shim/loopback.h (O_NONBLOCK, FD_CLOEXEC, every option the program set replayed as it
// passed it, epoll registrations moved). 0, or the kernel's errno (-EAFNOSUPPORT without
// IPv6) leaving all as it was.
int HandToKernelV6Only(FdTable& table, int fd, OpenSocket& s);

// The socket has a local port (Linux's inet_num): bound, or given one by connect or listen.
bool HasLocalPort(const OpenSocket& s);
// How an AF_INET6 socket reads addresses (sockaddr.h): its type, and whether its own
// address is v4-mapped.
Inet6Context AddressContext(const OpenSocket& s);

// Linux's UIO_MAXIOV: more iovecs is EINVAL for readv/writev, EMSGSIZE for sendmsg/recvmsg.
inline constexpr int kMaxIov = 1024;

}  // namespace netshim
