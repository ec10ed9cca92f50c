// Socket addresses between the program's struct sockaddr and the stack's SocketAddress,
// with the checks and errno values of Linux: move_addr_to_kernel / move_addr_to_user
// (net/socket.c), inet_bind, inet_stream_connect / tcp_v4_connect, inet_dgram_connect /
// ip4_datagram_connect and udp_sendmsg.
#pragma once

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
};

// 0 and *out filled, or -EINVAL (length negative, too long, too short), -EFAULT (null with
// a length), -EAFNOSUPPORT (not AF_INET).
int ReadSocketAddress(const sockaddr* addr, socklen_t len, AddressUse use, ParsedAddress* out);

// The program's buffer-and-length pair for a returned address (accept, getsockname,
// getpeername, recvfrom, recvmsg): copies min(*len, sizeof(sockaddr_in)) bytes and sets *len
// to the full size, as Linux does. -EFAULT for a null length (or a null buffer with room),
// -EINVAL for a negative length.
int WriteSocketAddress(const SocketAddress& address, sockaddr* out, socklen_t* len);
// The same for "no address" (a stream socket's recvfrom): *len becomes 0.
int WriteNoAddress(sockaddr* out, socklen_t* len);

}  // namespace netshim
