#include "shim/socket_ops.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "shim/link_turn.h"
#include "shim/loopback.h"
#include "shim/real_calls.h"
#include "shim/signals.h"
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

bool Inet6(const OpenSocket& s) { return s.family() == AF_INET6; }

// A destination or bind address as the socket's family reads it.
int ReadAddress(const OpenSocket& s, const sockaddr* addr, socklen_t len, AddressUse use,
                ParsedAddress* out) {
  if (!Inet6(s)) return ReadSocketAddress(addr, len, use, out);
  return ReadSocketAddress6(addr, len, use, AddressContext(s), out);
}

// A peer's address (accept, getpeername, recvfrom) as the socket's family shows it.
int WritePeerAddress(const OpenSocket& s, const SocketAddress& peer, sockaddr* out,
                     socklen_t* len) {
  if (!Inet6(s)) return WriteSocketAddress(peer, out, len);
  return WriteSocketAddress6(peer, /*wildcard_unspecified=*/false, out, len);
}

// sock_getsockopt / do_ipv6_getsockopt for an int: min(len, sizeof(int)) bytes copied and
// that length written back (*len >= 0 was checked).
int PutOptionInt(int v, void* value, socklen_t* len) {
  const socklen_t n = std::min<socklen_t>(*len, sizeof(v));
  if (n > 0) std::memcpy(value, &v, n);
  *len = n;
  return 0;
}

// do_ipv6_setsockopt reads an int when there are sizeof(int) bytes, else takes 0; each
// int option then wants the whole int ("if (optlen < sizeof(int)) goto e_inval").
int ReadOptionInt(const void* value, socklen_t len, int* v) {
  if (len < sizeof(int)) return -EINVAL;
  std::memcpy(v, value, sizeof(int));
  return 0;
}

// The IPPROTO_IPV6 options of an AF_INET6 stack socket other than IPV6_V6ONLY: those Linux
// keeps in ipv6_pinfo for IPv6 packets only, stored and read back with its checks; the rest
// is -ENOPROTOOPT, as for the IPv4 options the stack does not implement (IPV6_RECVPKTINFO
// like IP_PKTINFO: no control messages are produced).
int SetIpv6Option(OpenSocket& s, int name, const void* value, socklen_t len) {
  int v = 0;
  switch (name) {
    case IPV6_TCLASS:
      if (ReadOptionInt(value, len, &v) < 0 || v < -1 || v > 0xff) return -EINVAL;
      if (v == -1) v = 0;  // RFC 3542 6.5: the default traffic class is 0
      s.UpdateInet6([&](Inet6State& st) {
        // A stream socket's ECN bits are TCP's (INET_ECN_MASK kept).
        st.tclass = s.stream() ? (v & ~3) | (st.tclass & 3) : v;
      });
      return 0;
    case IPV6_UNICAST_HOPS:
      if (ReadOptionInt(value, len, &v) < 0 || v < -1 || v > 255) return -EINVAL;
      s.UpdateInet6([&](Inet6State& st) { st.unicast_hops = v; });
      return 0;
    case IPV6_MULTICAST_HOPS:
      if (s.stream()) return -ENOPROTOOPT;
      if (ReadOptionInt(value, len, &v) < 0 || v < -1 || v > 255) return -EINVAL;
      s.UpdateInet6([&](Inet6State& st) { st.multicast_hops = v == -1 ? 1 : v; });
      return 0;
    case IPV6_MULTICAST_LOOP:
      if (ReadOptionInt(value, len, &v) < 0 || (v != 0 && v != 1)) return -EINVAL;
      s.UpdateInet6([&](Inet6State& st) { st.multicast_loop = v != 0; });
      return 0;
    case IPV6_MTU_DISCOVER:
      if (ReadOptionInt(value, len, &v) < 0 || v < IPV6_PMTUDISC_DONT || v > IPV6_PMTUDISC_OMIT) {
        return -EINVAL;
      }
      s.UpdateInet6([&](Inet6State& st) { st.mtu_discover = v; });
      return 0;
    default:
      return -ENOPROTOOPT;
  }
}

int GetIpv6Option(const OpenSocket& s, int name, void* value, socklen_t* len) {
  const Inet6State st = s.inet6();
  switch (name) {
    case IPV6_V6ONLY:
      return PutOptionInt(0, value, len);  // an IPv6-only socket is the kernel's
    case IPV6_TCLASS:
      return PutOptionInt(st.tclass, value, len);
    case IPV6_UNICAST_HOPS:
      // -1: the route's hop limit, else devconf_all->hop_limit (64).
      return PutOptionInt(st.unicast_hops < 0 ? 64 : st.unicast_hops, value, len);
    case IPV6_MULTICAST_HOPS:
      return PutOptionInt(st.multicast_hops, value, len);
    case IPV6_MULTICAST_LOOP:
      return PutOptionInt(st.multicast_loop ? 1 : 0, value, len);
    case IPV6_MTU_DISCOVER:
      return PutOptionInt(st.mtu_discover, value, len);
    default:
      return -ENOPROTOOPT;
  }
}

// IPV6_V6ONLY: do_ipv6_setsockopt's checks; kHandToKernel when it turns on.
int SetV6Only(OpenSocket& s, const void* value, socklen_t len) {
  int v = 0;
  if (ReadOptionInt(value, len, &v) < 0 || HasLocalPort(s)) return -EINVAL;
  return v != 0 ? kHandToKernel : 0;
}

}  // namespace

bool HasLocalPort(const OpenSocket& s) {
  SocketAddress local;
  return s.socket().GetSockName(&local) == 0 && local.port != 0;
}

Inet6Context AddressContext(const OpenSocket& s) {
  // The own address is v4-mapped (sk_v6_rcv_saddr) when bound to a mapped address, or to a
  // specific IPv4 one by bind or connect.
  bool mapped = s.inet6().bound_mapped;
  if (!mapped) {
    SocketAddress local;
    mapped = s.socket().GetSockName(&local) == 0 && local.address.value != INADDR_ANY;
  }
  return {.stream = s.stream(), .local_mapped = mapped};
}

int BindSocket(OpenSocket& s, const sockaddr* addr, socklen_t len) {
  ParsedAddress parsed;
  int r = ReadAddress(s, addr, len, AddressUse::kBind, &parsed);
  // __inet6_bind refuses a bound or active socket (-EINVAL) before it looks for the address.
  if (r == -EADDRNOTAVAIL && Inet6(s) && HasLocalPort(s)) return -EINVAL;
  if (r < 0) return r;
  r = s.socket().Bind(parsed.address);
  if (r == 0 && parsed.mapped) s.UpdateInet6([](Inet6State& st) { st.bound_mapped = true; });
  return r;
}

int ListenSocket(OpenSocket& s, int backlog) { return s.socket().Listen(backlog); }

int ConnectSocket(OpenSocket& s, const sockaddr* addr, socklen_t len) {
  ParsedAddress parsed;
  if (int r = ReadAddress(s, addr, len, AddressUse::kConnect, &parsed); r < 0) {
    // __inet_stream_connect says -EISCONN before tcp_v6_connect reads the address.
    SocketAddress peer;
    if (Inet6(s) && s.stream() && r != -EFAULT && len >= sizeof(sa_family_t) &&
        s.socket().GetPeerName(&peer) == 0) {
      return -EISCONN;
    }
    return r;
  }
  Socket& socket = s.socket();
  if (parsed.disconnect) return socket.Disconnect();
  // The link's turn around the SYN: a peer on this host answers inside our write to the TAP,
  // so its SYN-ACK is queued when the write returns. Taken here, it is processed right
  // away on this thread, instead of waking the dispatch thread (which would then wake us).
  LinkTurn turn(/*only_if_loop_asleep=*/true);
  int r = InStack([&] { return socket.Connect(parsed.address); });
  // A handler this defers runs as it ends; the connection goes on either way.
  if (r == -EINPROGRESS && turn.held()) (void)turn.Poll(CurrentSignalMark());
  if (r != -EINPROGRESS || !s.stream() || s.nonblocking()) return r;
  CallDeadline deadline(socket, CallDeadline::kSend);
  for (;;) {
    const int w = WaitForSocket(socket, POLLOUT, deadline.Get(), /*restartable=*/true);
    // __inet_stream_connect: a timeout leaves the handshake running (-EINPROGRESS).
    if (w != 0) return WaitFailure(w, -EINPROGRESS);
    r = InStack([&] { return socket.Connect(parsed.address); });
    if (r != -EALREADY) return r;
  }
}

std::shared_ptr<Socket> AcceptConnection(OpenSocket& s, SocketAddress* peer, int* error) {
  Socket& socket = s.socket();
  CallDeadline deadline(socket, CallDeadline::kReceive);
  for (;;) {
    std::shared_ptr<Socket> child = InStack([&] { return socket.Accept(peer, error); });
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
    const int r = s.stream() ? ReadSocketAddress(to, to_len, AddressUse::kSendTo, &parsed)
                             : ReadAddress(s, to, to_len, AddressUse::kSendTo, &parsed);
    if (s.stream()) {
      // tcp_sendmsg ignores msg_name; only move_addr_to_kernel's checks apply.
      if (r == -EINVAL || r == -EFAULT) {
        if (static_cast<int>(to_len) < 0 || to_len > sizeof(sockaddr_storage)) return -EINVAL;
        if (to_len > 0) return -EFAULT;
      }
    } else {
      if (r < 0) return r;
      if (!parsed.no_address) info.peer = parsed.address;
    }
  }
  const bool nonblocking = NonBlocking(s, flags);
  const int stack_flags = flags | (nonblocking ? MSG_DONTWAIT : 0);
  const size_t total = IovTotalLength(data);
  IovCursor cursor(data);
  CallDeadline deadline(socket, CallDeadline::kSend);
  size_t sent = 0;
  for (;;) {
    ssize_t r = InStack([&] { return socket.SendMsg(cursor.rest(), info, stack_flags); });
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
    ssize_t r = InStack([&] { return socket.RecvMsg(cursor.rest(), info, stack_flags); });
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
    const int w = info.peer ? WritePeerAddress(s, *info.peer, from, from_len)
                            : WriteNoAddress(from, from_len);
    if (w < 0) return w;
  }
  return result;
}

int ShutdownSocket(OpenSocket& s, int how) { return s.socket().Shutdown(how); }

int SocketName(OpenSocket& s, bool peer, sockaddr* out, socklen_t* len) {
  SocketAddress address;
  const int r = peer ? s.socket().GetPeerName(&address) : s.socket().GetSockName(&address);
  if (r < 0) return r;
  if (peer || !Inet6(s)) return WritePeerAddress(s, address, out, len);
  // inet6_getname: the wildcard is `::` unless the socket was bound to ::ffff:0.0.0.0.
  return WriteSocketAddress6(address, !s.inet6().bound_mapped, out, len);
}

int WriteAcceptedAddress(const OpenSocket& listener, const SocketAddress& peer, sockaddr* out,
                         socklen_t* len) {
  return WritePeerAddress(listener, peer, out, len);
}

void InheritFamily(const OpenSocket& listener, OpenSocket& child) {
  child.set_family(listener.family());
  if (!Inet6(listener)) return;
  Inet6State st = listener.inet6();
  st.bound_mapped = false;  // the child's own address is the connection's
  child.set_inet6(st);
}

int SetSocketOption(OpenSocket& s, int level, int name, const void* value, socklen_t len) {
  // __sys_setsockopt: "if (optlen < 0) return -EINVAL"; a null value faults when read.
  if (static_cast<int>(len) < 0) return -EINVAL;
  if (value == nullptr && len > 0) return -EFAULT;
  // ipv6_setsockopt: IPPROTO_IP goes on to ip_setsockopt (the stack's), IPPROTO_IPV6 is ours.
  if (Inet6(s) && level == IPPROTO_IPV6 && name == IPV6_V6ONLY) return SetV6Only(s, value, len);
  const int r =
      Inet6(s) && level == IPPROTO_IPV6
          ? SetIpv6Option(s, name, value, len)
          : s.socket().SetSockOpt(level, name,
                                  {static_cast<const uint8_t*>(value), static_cast<size_t>(len)});
  // Kept as passed, for a handover to the kernel (shim/loopback.h) to replay.
  if (r == 0) s.options().Record(level, name, value, len);
  return r;
}

int GetSocketOption(OpenSocket& s, int level, int name, void* value, socklen_t* len) {
  if (len == nullptr) return -EFAULT;
  if (static_cast<int>(*len) < 0) return -EINVAL;
  if (value == nullptr && *len > 0) return -EFAULT;
  if (Inet6(s)) {
    if (level == SOL_SOCKET && name == SO_DOMAIN) return PutOptionInt(AF_INET6, value, len);
    if (level == IPPROTO_IPV6) return GetIpv6Option(s, name, value, len);
  }
  return s.socket().GetSockOpt(level, name, value, len);
}

int HandToKernelV6Only(FdTable& table, int fd, OpenSocket& s) {
  return HandOver(table, fd, s, {.v6only = true});
}

}  // namespace netshim
