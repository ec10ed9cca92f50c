// Socket addresses between the program's struct sockaddr and the stack's SocketAddress,
// with the checks and errno values of Linux: move_addr_to_kernel / move_addr_to_user
// (net/socket.c), inet_bind, inet_stream_connect / tcp_v4_connect, inet_dgram_connect /
// ip4_datagram_connect and udp_sendmsg; for AF_INET6 sockets, which are dual-stack and
// served by the IPv4 stack, inet6_bind, tcp_v6_connect, __ip6_datagram_connect and
// udpv6_sendmsg on a host that has IPv6 but neither an IPv6 address nor an IPv6 route.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include "stack/socket/socket.h"

namespace netshim {

// What the address is for: each call checks it its own way.
enum class AddressUse {
  kBind,     // inet_bind: AF_UNSPEC is accepted for INADDR_ANY only
  kConnect,  // AF_UNSPEC means "disconnect" (only sa_family is read)
  kSendTo,   // udp_sendmsg: AF_UNSPEC is read like AF_INET
};

struct ParsedAddress {
  SocketAddress address;
  bool disconnect = false;  // kConnect with AF_UNSPEC
  bool no_address = false;  // AF_INET6 kSendTo with AF_UNSPEC: as if no address was given
  bool mapped = false;      // AF_INET6 kBind of a v4-mapped address (not `::`)
};

// 0 and *out filled, or -EINVAL (length negative, too long, too short), -EFAULT (null with
// a length), -EAFNOSUPPORT (not AF_INET).
int ReadSocketAddress(const sockaddr* addr, socklen_t len, AddressUse use, ParsedAddress* out);

// Linux's SIN6_LEN_RFC2133: the shortest sockaddr_in6 (no sin6_scope_id) an AF_INET6
// socket accepts.
inline constexpr socklen_t kSin6LenRfc2133 = 24;

// What an AF_INET6 socket's address reading depends on besides the address.
struct Inet6Context {
  bool stream = false;
  // The socket's own address is v4-mapped (bound to one, or given one by connect): then a
  // destination `::` means ::ffff:127.0.0.1 rather than ::1 (tcp_v6_connect's "connect()
  // to INADDR_ANY means loopback").
  bool local_mapped = false;
};

// ReadSocketAddress for an AF_INET6 socket. A v4-mapped address (::ffff:a.b.c.d) is the
// IPv4 address a.b.c.d; `::` binds the IPv4 wildcard. What cannot be IPv4 fails as it does
// on Linux for a host with no IPv6 address or route: binding a native IPv6 address is
// -EADDRNOTAVAIL (-EINVAL for a multicast one on a stream socket, or a link-local one
// without sin6_scope_id); a native destination is -ENETUNREACH (connect, sendto; `::`
// means ::1 there), after the checks Linux makes first (a link-local destination without a
// scope id is -EINVAL, a UDP destination port 0 -EINVAL). Lengths: sockaddr_in6 from
// kSin6LenRfc2133 bytes, else -EINVAL; another family is -EAFNOSUPPORT, except that UDP
// takes a sockaddr_in for connect and sendto (-EINVAL for other families in sendto, whose
// AF_UNSPEC means "no address").
int ReadSocketAddress6(const sockaddr* addr, socklen_t len, AddressUse use,
                       const Inet6Context& context, ParsedAddress* out);

// The program's buffer-and-length pair for a returned address (accept, getsockname,
// getpeername, recvfrom, recvmsg): copies min(*len, sizeof(sockaddr_in)) bytes and sets *len
// to the full size, as Linux does. -EFAULT for a null length (or a null buffer with room),
// -EINVAL for a negative length.
int WriteSocketAddress(const SocketAddress& address, sockaddr* out, socklen_t* len);
// The same as an AF_INET6 socket shows it (inet6_getname, udpv6_recvmsg, accept on a v6
// listener): a sockaddr_in6 of 28 bytes holding the v4-mapped address, flow info and scope
// id 0. `wildcard_unspecified`: 0.0.0.0 is shown as `::` (a local address bound to `::`).
int WriteSocketAddress6(const SocketAddress& address, bool wildcard_unspecified, sockaddr* out,
                        socklen_t* len);
// The same for "no address" (a stream socket's recvfrom): *len becomes 0.
int WriteNoAddress(sockaddr* out, socklen_t* len);

}  // namespace netshim
