#include "shim/socket_ops.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "shim/sockaddr.h"
#include "shim/waiter.h"
#include "stack/socket/iov.h"

namespace netshim {
namespace {

// The part of the caller's iovecs not yet transferred.
class IovCursor {
 public:
  explicit IovCursor(std::span<const iovec> data) : rest_(data.begin(), data.end()) {}
  std::span<const iovec> rest() const { return {rest_.data() + first_, rest_.size() - first_}; }
  void Advance(size_t n) {
    while (n > 0 && first_ < rest_.size()) {
      iovec& v = rest_[first_];
      const size_t take = std::min(n, v.iov_len);
      v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
      v.iov_len -= take;
      n -= take;
      if (v.iov_len == 0) ++first_;
    }
  }

 private:
  absl::InlinedVector<iovec, 8> rest_;
  size_t first_ = 0;
};

// The deadline of a blocking call, fixed when it first has to wait: Linux reads the
// socket's timeout once per call (sock_rcvtimeo / sock_sndtimeo) and counts it down across
// waits.
class CallDeadline {
 public:
  enum Direction { kReceive, kSend };
  CallDeadline(const Socket& socket, Direction direction)
      : socket_(socket), direction_(direction) {}
  const Deadline& Get() {
    if (!started_) {
      deadline_ =
          DeadlineAfter(direction_ == kReceive ? socket_.ReceiveTimeout() : socket_.SendTimeout());
      started_ = true;
    }
    return deadline_;
  }

 private:
  const Socket& socket_;
  const Direction direction_;
  Deadline deadline_;
  bool started_ = false;
};

// sock_intr_errno / the timeout cases: what a wait that did not end in readiness means.
int WaitFailure(int wait_result, int on_timeout) {
  return wait_result == -ETIMEDOUT ? on_timeout : wait_result;
}

void RaiseSigpipe() {
  // Linux send_sig(SIGPIPE, current, 0): to the calling thread.
  pthread_kill(pthread_self(), SIGPIPE);
}

bool NonBlocking(const OpenSocket& s, int flags) {
  return s.nonblocking() || (flags & MSG_DONTWAIT) != 0;
}

}  // namespace

int BindSocket(OpenSocket& s, const sockaddr* addr, socklen_t len) {
  ParsedAddress parsed;
  if (int r = ReadSocketAddress(addr, len, AddressUse::kBind, &parsed); r < 0) return r;
  return s.socket().Bind(parsed.address);
}

int ListenSocket(OpenSocket& s, int backlog) { return s.socket().Listen(backlog); }

int ConnectSocket(OpenSocket& s, const sockaddr* addr, socklen_t len) {
  ParsedAddress parsed;
  if (int r = ReadSocketAddress(addr, len, AddressUse::kConnect, &parsed); r < 0) return r;
  Socket& socket = s.socket();
  if (parsed.disconnect) return socket.Disconnect();
  int r = socket.Connect(parsed.address);
  if (r != -EINPROGRESS || !s.stream() || s.nonblocking()) return r;
  CallDeadline deadline(socket, CallDeadline::kSend);
  for (;;) {
    const int w = WaitForSocket(socket, POLLOUT, deadline.Get(), /*restartable=*/true);
    // __inet_stream_connect: a timeout leaves the handshake running (-EINPROGRESS).
    if (w != 0) return WaitFailure(w, -EINPROGRESS);
    r = socket.Connect(parsed.address);
    if (r != -EALREADY) return r;
  }
}

std::shared_ptr<Socket> AcceptConnection(OpenSocket& s, SocketAddress* peer, int* error) {
  Socket& socket = s.socket();
  CallDeadline deadline(socket, CallDeadline::kReceive);
  for (;;) {
    std::shared_ptr<Socket> child = socket.Accept(peer, error);
    if (child || *error != -EAGAIN || s.nonblocking()) return child;
    const int w = WaitForSocket(socket, POLLIN, deadline.Get(), /*restartable=*/true);
    if (w != 0) {
      *error = WaitFailure(w, -EAGAIN);
      return nullptr;
    }
  }
}

ssize_t SendMessage(OpenSocket& s, std::span<const iovec> data, const sockaddr* to,
                    socklen_t to_len, int flags) {
  Socket& socket = s.socket();
  MessageInfo info;
  if (to != nullptr) {
    ParsedAddress parsed;
    const int r = ReadSocketAddress(to, to_len, AddressUse::kSendTo, &parsed);
    if (s.stream()) {
      // tcp_sendmsg ignores msg_name; only move_addr_to_kernel's checks apply.
      if (r == -EINVAL || r == -EFAULT) {
        if (static_cast<int>(to_len) < 0 || to_len > sizeof(sockaddr_storage)) return -EINVAL;
        if (to_len > 0) return -EFAULT;
      }
    } else {
      if (r < 0) return r;
      info.peer = parsed.address;
    }
  }
  const bool nonblocking = NonBlocking(s, flags);
  const int stack_flags = flags | (nonblocking ? MSG_DONTWAIT : 0);
  const size_t total = IovTotalLength(data);
  IovCursor cursor(data);
  CallDeadline deadline(socket, CallDeadline::kSend);
  size_t sent = 0;
  for (;;) {
    ssize_t r = socket.SendMsg(cursor.rest(), info, stack_flags);
    if (r >= 0) {
      sent += static_cast<size_t>(r);
      // A blocking stream send returns when everything went (Linux tcp_sendmsg loops
      // through sk_stream_wait_memory); a datagram goes whole or not at all.
      if (!s.stream() || nonblocking || sent >= total || r == 0) return static_cast<ssize_t>(sent);
      cursor.Advance(static_cast<size_t>(r));
      continue;
    }
    if (r == -EAGAIN && !nonblocking) {
      // A signal after some bytes went returns the count (tcp_sendmsg "if (copied)").
      const int w = WaitForSocket(socket, POLLOUT, deadline.Get(), /*restartable=*/sent == 0);
      if (w == 0) continue;
      r = WaitFailure(w, -EAGAIN);
    }
    if (sent > 0) return static_cast<ssize_t>(sent);
    if (r == -EPIPE && s.stream() && !(flags & MSG_NOSIGNAL)) RaiseSigpipe();
    return r;
  }
}

ssize_t ReceiveMessage(OpenSocket& s, std::span<const iovec> data, int flags, sockaddr* from,
                       socklen_t* from_len, int* msg_flags) {
  Socket& socket = s.socket();
  const bool nonblocking = NonBlocking(s, flags);
  const int stack_flags = flags | (nonblocking ? MSG_DONTWAIT : 0);
  // tcp_recvmsg: with MSG_WAITALL the target is the whole length (not with MSG_PEEK here:
  // peeking cannot gather past what is queued without consuming it).
  const bool gather = s.stream() && (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && !nonblocking;
  const size_t total = IovTotalLength(data);
  IovCursor cursor(data);
  CallDeadline deadline(socket, CallDeadline::kReceive);
  MessageInfo info;
  size_t got = 0;
  ssize_t result;
  for (;;) {
    ssize_t r = socket.RecvMsg(cursor.rest(), info, stack_flags);
    if (r > 0 && gather) {
      got += static_cast<size_t>(r);
      if (got < total) {
        cursor.Advance(static_cast<size_t>(r));
        continue;
      }
      result = static_cast<ssize_t>(got);
      break;
    }
    if (r >= 0) {
      result = got > 0 ? static_cast<ssize_t>(got) : r;
      break;
    }
    if (r == -EAGAIN && !nonblocking) {
      const int w = WaitForSocket(socket, POLLIN, deadline.Get(), /*restartable=*/got == 0);
      if (w == 0) continue;
      r = WaitFailure(w, -EAGAIN);
    }
    if (got > 0) {
      result = static_cast<ssize_t>(got);
      break;
    }
    return r;
  }
  if (msg_flags != nullptr) *msg_flags = info.flags;
  if (from_len != nullptr) {
    // Linux copies the address after the data is taken: a bad buffer loses the data.
    const int w =
        info.peer ? WriteSocketAddress(*info.peer, from, from_len) : WriteNoAddress(from, from_len);
    if (w < 0) return w;
  }
  return result;
}

int ShutdownSocket(OpenSocket& s, int how) { return s.socket().Shutdown(how); }

int SocketName(OpenSocket& s, bool peer, sockaddr* out, socklen_t* len) {
  SocketAddress address;
  const int r = peer ? s.socket().GetPeerName(&address) : s.socket().GetSockName(&address);
  if (r < 0) return r;
  return WriteSocketAddress(address, out, len);
}

int SetSocketOption(OpenSocket& s, int level, int name, const void* value, socklen_t len) {
  // __sys_setsockopt: "if (optlen < 0) return -EINVAL"; a null value faults when read.
  if (static_cast<int>(len) < 0) return -EINVAL;
  if (value == nullptr && len > 0) return -EFAULT;
  return s.socket().SetSockOpt(level, name,
                               {static_cast<const uint8_t*>(value), static_cast<size_t>(len)});
}

int GetSocketOption(OpenSocket& s, int level, int name, void* value, socklen_t* len) {
  if (len == nullptr) return -EFAULT;
  if (static_cast<int>(*len) < 0) return -EINVAL;
  if (value == nullptr && *len > 0) return -EFAULT;
  return s.socket().GetSockOpt(level, name, value, len);
}

}  // namespace netshim
