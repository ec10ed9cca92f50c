// The socket calls on a stack socket, with the blocking the stack leaves to its caller:
// every Socket method is non-blocking, so a call on a blocking socket retries after
// sleeping in a real ppoll (waiter.h) until the socket is ready, SO_RCVTIMEO/SO_SNDTIMEO
// run out or a signal arrives. Results are Linux's: >= 0, or a negative errno.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <memory>
#include <span>

#include "shim/open_socket.h"
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
int SetSocketOption(OpenSocket& s, int level, int name, const void* value, socklen_t len);
int GetSocketOption(OpenSocket& s, int level, int name, void* value, socklen_t* len);

// Linux's UIO_MAXIOV: more iovecs is EINVAL for readv/writev, EMSGSIZE for sendmsg/recvmsg.
inline constexpr int kMaxIov = 1024;

}  // namespace netshim
