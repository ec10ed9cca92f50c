#include "shim/loopback.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"

#include "shim/epoll_set.h"
#include "shim/real_calls.h"
#include "shim/runtime.h"
#include "shim/socket_ops.h"
#include "stack/runtime/log.h"

namespace netshim {
namespace {

bool Is127(uint32_t v) { return Ipv4Address{v}.IsLoopback(); }

// An AF_INET6 socket's sockaddr_in6 that Linux would read as such: family AF_INET6 and at
// least SIN6_LEN_RFC2133 bytes. False for anything else (left to ReadSocketAddress6).
bool ReadIn6(const sockaddr* addr, socklen_t len, sockaddr_in6* in6) {
  if (addr == nullptr || static_cast<int>(len) < static_cast<int>(kSin6LenRfc2133) ||
      len > sizeof(sockaddr_storage)) {
    return false;
  }
  *in6 = sockaddr_in6{};
  std::memcpy(in6, addr, std::min<size_t>(len, sizeof(*in6)));
  return in6->sin6_family == AF_INET6;
}

// Native IPv6 loopback, which the stack (IPv4 only) cannot serve in any mode: ::1 to bind,
// and ::1 or `::` as a destination (tcp_v6_connect / udpv6_sendmsg: "connect() to
// INADDR_ANY means loopback"; with a v4-mapped local address `::` is 127.0.0.1 instead).
std::optional<bool> Ipv6Loopback(const sockaddr_in6& in6, AddressUse use) {
  const in6_addr& a = in6.sin6_addr;
  if (use == AddressUse::kBind) {
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return std::nullopt;  // mapped, `::` and the rest: as the stack reads them
  }
  // udpv6_sendmsg: "if (sin6->sin6_port == 0) return -EINVAL" comes before routing.
  if (use == AddressUse::kSendTo && in6.sin6_port == 0) return false;
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  if (IN6_IS_ADDR_UNSPECIFIED(&a)) return true;  // ::1, or 127.0.0.1 when local_mapped
  return std::nullopt;
}

// The TCP state through TCP_INFO (Linux numbering), or nullopt when the socket does not say.
std::optional<int> TcpState(OpenSocket& s) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (s.socket().GetSockOpt(IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || len < 1) {
    return std::nullopt;
  }
  return info.tcpi_state;
}

// A stream socket that may still connect: closed (never connected, or a failed attempt),
// not listening, with no connection in progress (Linux __inet_stream_connect answers the
// others itself: EISCONN, EALREADY, EINVAL).
bool MayConnect(OpenSocket& s) {
  if (const std::optional<int> state = TcpState(s)) return *state == TCP_CLOSE;
  SocketAddress peer;
  int listening = 0;
  socklen_t len = sizeof(listening);
  if (s.socket().GetSockOpt(SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) listening = 0;
  return s.socket().GetPeerName(&peer) != 0 && listening == 0;
}

// Options that must not be replayed: the interface a socket is bound to is one of the
// stack's (its TAP), which a loopback socket must not be confined to; IPV6_V6ONLY is the
// spec's.
bool Replayable(const RecordedOption& o) {
  if (o.level == SOL_SOCKET && o.name == SO_BINDTODEVICE) return false;
#ifdef SO_BINDTOIFINDEX
  if (o.level == SOL_SOCKET && o.name == SO_BINDTOIFINDEX) return false;
#endif
  return !(o.level == IPPROTO_IPV6 && o.name == IPV6_V6ONLY);
}

// Best effort: the stack took the option; a kernel that does not (an unknown congestion
// control, a multicast group on an interface it lacks) leaves it unset, as the program
// would have seen on the kernel at its own setsockopt, had it run without the shim.
void ReplayOptions(const OpenSocket& s, int k) {
  for (const RecordedOption& o : s.options().Snapshot()) {
    if (!Replayable(o)) continue;
    if (real::setsockopt(k, o.level, o.name, o.value.data(),
                         static_cast<socklen_t>(o.value.size())) < 0) {
      NETSHIM_LOG(kDebug, "handover: the kernel refused option {}/{}: errno {}", o.level, o.name,
                  errno);
    }
  }
}

// The wildcard on the stack socket's port, to keep the port across the handover: `::` for
// an AF_INET6 socket (::ffff:0.0.0.0 when it was bound to a mapped address). False when
// the socket has no port.
bool KeptPort(const OpenSocket& s, sockaddr_storage* out, socklen_t* len) {
  SocketAddress local;
  if (s.socket().GetSockName(&local) != 0 || local.port == 0) return false;
  *out = sockaddr_storage{};
  if (s.family() == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(local.port);
    if (s.inet6().bound_mapped) {
      in6->sin6_addr.s6_addr[10] = 0xff;
      in6->sin6_addr.s6_addr[11] = 0xff;
    }
    *len = sizeof(sockaddr_in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(local.port);
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    *len = sizeof(sockaddr_in);
  }
  return true;
}

// The kernel socket, made and set up as the spec says; -errno on failure (nothing left).
int MakeKernelSocket(OpenSocket& s, const KernelSocketSpec& spec) {
  Socket& socket = s.socket();
  const int k = real::socket(s.family(), socket.type() | SOCK_CLOEXEC, socket.protocol());
  if (k < 0) return -errno;
  auto fail = [k] {
    const int e = errno;
    real::close(k);
    return -e;
  };
  const int on = 1;
  if (spec.v6only && real::setsockopt(k, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
    return fail();
  }
  ReplayOptions(s, k);
  if (s.nonblocking() && real::fcntl(k, F_SETFL, O_NONBLOCK) < 0) return fail();
  if (spec.bind_to != nullptr) {
    if (real::bind(k, spec.bind_to, spec.bind_len) < 0) return fail();
  } else {
    sockaddr_storage kept;
    socklen_t kept_len = 0;
    if (KeptPort(s, &kept, &kept_len) &&
        real::bind(k, reinterpret_cast<const sockaddr*>(&kept), kept_len) < 0) {
      return fail();
    }
  }
  return k;
}

// Each epoll set that held `fd` as `s` now holds the kernel socket under `fd`, registered
// in the set's kernel instance as the program registered it. ep_insert polls the new file
// at once, so readiness that arrived during the move is not lost.
void MoveEpollRegistrations(int fd, OpenSocket& s) {
  for (const std::shared_ptr<EpollSet>& set : s.TakeEpollLinks(fd)) {
    std::optional<epoll_event> e = set->Release(fd, &s);
    if (!e) continue;
    if (real::epoll_ctl(set->epfd(), EPOLL_CTL_ADD, fd, &*e) < 0) {
      NETSHIM_LOG(kWarn, "handover of fd {}: epoll fd {} refused it (errno {})", fd, set->epfd(),
                  errno);
    } else {
      set->KernelFdAdded();
    }
  }
}

}  // namespace

bool IsLoopbackAddress(int family, const Inet6Context& context, const sockaddr* addr, socklen_t len,
                       AddressUse use) {
  if (family == AF_INET6) {
    sockaddr_in6 in6;
    if (ReadIn6(addr, len, &in6)) {
      if (std::optional<bool> v6 = Ipv6Loopback(in6, use)) return *v6;
    }
  }
  ParsedAddress parsed;
  const int r = family == AF_INET6 ? ReadSocketAddress6(addr, len, use, context, &parsed)
                                   : ReadSocketAddress(addr, len, use, &parsed);
  if (r < 0 || parsed.disconnect || parsed.no_address) return false;
  const uint32_t v = parsed.address.address.value;
  if (use == AddressUse::kBind) return Is127(v);
  // udp_sendmsg: "if (dport == 0) return -EINVAL" before the route.
  if (use == AddressUse::kSendTo && parsed.address.port == 0) return false;
  // A destination 0.0.0.0 is routed to loopback (ip_route_output_key_hash_rcu).
  return Is127(v) || v == INADDR_ANY;
}

bool ShouldHandOver(Config::Loopback mode, OpenSocket& s, const sockaddr* addr, socklen_t len,
                    AddressUse use, int flags) {
  if (mode != Config::Loopback::kKernel) return false;
  if (!IsLoopbackAddress(s.family(), AddressContext(s), addr, len, use)) return false;
  switch (use) {
    case AddressUse::kBind:
      return !HasLocalPort(s);  // a bound socket: the stack says EINVAL, as inet_bind
    case AddressUse::kConnect:
      return !s.stream() || MayConnect(s);
    case AddressUse::kSendTo:
      // tcp_sendmsg ignores the address, except that MSG_FASTOPEN connects to it.
      return !s.stream() || ((flags & MSG_FASTOPEN) != 0 && MayConnect(s));
  }
  return false;
}

int HandOver(FdTable& table, int fd, OpenSocket& s, const KernelSocketSpec& spec) {
  absl::MutexLock lock(&s.handover_mu());
  const std::shared_ptr<OpenSocket> current = table.Get(fd);
  if (current == nullptr) return 0;  // another thread handed it over (or closed it: EBADF next)
  if (current.get() != &s) return -EBADF;  // closed and reused meanwhile
  // Every descriptor of the socket: dup(2) copies share one socket on Linux, so a socket
  // that becomes the kernel's does so under all of its numbers, each keeping its own
  // FD_CLOEXEC. `fd` first: its failure leaves everything as it was.
  absl::InlinedVector<std::pair<int, int>, 2> fds;  // (number, F_GETFD flags)
  const int fd_flags = real::fcntl(fd, F_GETFD, 0);
  if (fd_flags < 0) return -errno;
  fds.emplace_back(fd, fd_flags);
  table.ForEach([&](int other, const std::shared_ptr<OpenSocket>& o) {
    if (other == fd || o.get() != &s) return;
    const int flags = real::fcntl(other, F_GETFD, 0);
    if (flags >= 0) fds.emplace_back(other, flags);
  });
  const int k = MakeKernelSocket(s, spec);
  if (k < 0) return k;
  int result = 0;
  for (const auto& [number, flags] : fds) {
    // dup3 replaces the placeholder under the same number in one step; only then does the
    // number stop being the stack's, so no call ever finds it neither.
    if (real::dup3(k, number, (flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
      if (number == fd) result = -errno;
      break;  // EMFILE cannot happen (the number is open); the rest stay the stack's
    }
    // The stack socket closes with its last descriptor.
    table.Remove(number);
    MoveEpollRegistrations(number, s);
  }
  real::close(k);
  return result;
}

int RouteLoopback(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                  const sockaddr* addr, socklen_t len, AddressUse use, int flags) {
  if (!ShouldHandOver(mode, s, addr, len, use, flags)) return kServeOnStack;
  KernelSocketSpec spec;
  if (use == AddressUse::kBind) {
    spec.bind_to = addr;
    spec.bind_len = len;
  }
  return HandOver(table, fd, s, spec);
}

std::optional<ssize_t> LoopbackSend(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                                    const msghdr& msg, int flags) {
  // copy_msghdr_from_user: a null msg_name means no address, whatever msg_namelen says.
  if (msg.msg_name == nullptr) return std::nullopt;
  const int r = RouteLoopback(table, mode, fd, s, static_cast<const sockaddr*>(msg.msg_name),
                              msg.msg_namelen, AddressUse::kSendTo, flags);
  if (r == kServeOnStack) return std::nullopt;
  if (r < 0) return r;
  const ssize_t n = real::sendmsg(fd, &msg, flags);
  return n < 0 ? -errno : n;
}

std::optional<int> LoopbackSendMany(FdTable& table, Config::Loopback mode, int fd, OpenSocket& s,
                                    mmsghdr* msgs, unsigned vlen, int flags) {
  if (msgs == nullptr || vlen == 0 || msgs[0].msg_hdr.msg_name == nullptr) return std::nullopt;
  const msghdr& first = msgs[0].msg_hdr;
  const int r = RouteLoopback(table, mode, fd, s, static_cast<const sockaddr*>(first.msg_name),
                              first.msg_namelen, AddressUse::kSendTo, flags);
  if (r == kServeOnStack) return std::nullopt;
  if (r < 0) return r;
  const int n = real::sendmmsg(fd, msgs, vlen, flags);
  return n < 0 ? -errno : n;
}

namespace shim {
namespace {

// -1: not known yet.
std::atomic<int> g_mode{-1};

}  // namespace

Config::Loopback LoopbackMode() {
  int mode = g_mode.load(std::memory_order_acquire);
  if (mode < 0) {
    // The stack started before any stack socket existed, so the value was checked there:
    // anything but "stack" is the default.
    const char* v = ::getenv("NETSHIM_LOOPBACK");
    mode = static_cast<int>(v != nullptr && std::string_view(v) == "stack"
                                ? Config::Loopback::kStack
                                : Config::Loopback::kKernel);
    int expected = -1;
    if (!g_mode.compare_exchange_strong(expected, mode, std::memory_order_acq_rel)) {
      mode = expected;
    }
  }
  return static_cast<Config::Loopback>(mode);
}

void SetLoopbackMode(Config::Loopback mode) {
  g_mode.store(static_cast<int>(mode), std::memory_order_release);
}

int RouteLoopback(int fd, OpenSocket& s, const sockaddr* addr, socklen_t len, AddressUse use,
                  int flags) {
  return ::netshim::RouteLoopback(Fds(), LoopbackMode(), fd, s, addr, len, use, flags);
}

std::optional<ssize_t> LoopbackSend(int fd, OpenSocket& s, const msghdr& msg, int flags) {
  return ::netshim::LoopbackSend(Fds(), LoopbackMode(), fd, s, msg, flags);
}

std::optional<int> LoopbackSendMany(int fd, OpenSocket& s, mmsghdr* msgs, unsigned vlen,
                                    int flags) {
  return ::netshim::LoopbackSendMany(Fds(), LoopbackMode(), fd, s, msgs, vlen, flags);
}

}  // namespace shim
}  // namespace netshim
