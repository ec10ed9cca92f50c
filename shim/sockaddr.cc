#include "shim/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace netshim {

int ReadSocketAddress(const sockaddr* addr, socklen_t len, AddressUse use, ParsedAddress* out) {
  // move_addr_to_kernel: "if (ulen < 0 || ulen > sizeof(struct sockaddr_storage))".
  if (static_cast<int>(len) < 0 || len > sizeof(sockaddr_storage)) return -EINVAL;
  // copy_from_user of a null pointer faults; a zero length copies nothing.
  if (len > 0 && addr == nullptr) return -EFAULT;
  sockaddr_in in{};
  if (len > 0) std::memcpy(&in, addr, std::min<size_t>(len, sizeof(in)));
  *out = ParsedAddress{};
  if (use == AddressUse::kConnect) {
    // inet_stream_connect / inet_dgram_connect look at sa_family first.
    if (len < sizeof(in.sin_family)) return -EINVAL;
    if (in.sin_family == AF_UNSPEC) {
      out->disconnect = true;
      return 0;
    }
  }
  if (len < sizeof(sockaddr_in)) return -EINVAL;
  if (in.sin_family != AF_INET) {
    switch (use) {
      case AddressUse::kBind:
        // inet_bind: "Compatibility games: accept AF_UNSPEC (mapped to AF_INET) only if
        // s_addr is INADDR_ANY".
        if (in.sin_family != AF_UNSPEC || in.sin_addr.s_addr != htonl(INADDR_ANY)) {
          return -EAFNOSUPPORT;
        }
        break;
      case AddressUse::kSendTo:
        if (in.sin_family != AF_UNSPEC) return -EAFNOSUPPORT;
        break;
      case AddressUse::kConnect:
        return -EAFNOSUPPORT;
    }
  }
  out->address.address = Ipv4Address{ntohl(in.sin_addr.s_addr)};
  out->address.port = ntohs(in.sin_port);
  return 0;
}

namespace {

// move_addr_to_kernel's checks, and the bytes (zero-filled past `len`).
int CopyIn(const sockaddr* addr, socklen_t len, sockaddr_in6* in6) {
  if (static_cast<int>(len) < 0 || len > sizeof(sockaddr_storage)) return -EINVAL;
  if (len > 0 && addr == nullptr) return -EFAULT;
  *in6 = sockaddr_in6{};
  if (len > 0) std::memcpy(in6, addr, std::min<size_t>(len, sizeof(*in6)));
  return 0;
}

Ipv4Address MappedIpv4(const in6_addr& a) {
  uint32_t v;
  std::memcpy(&v, &a.s6_addr[12], sizeof(v));
  return Ipv4Address{ntohl(v)};
}

// __ipv6_addr_needs_scope_id: link-local unicast, and multicast of interface- or link-local
// scope.
bool NeedsScopeId(const in6_addr& a) {
  return IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MC_NODELOCAL(&a) || IN6_IS_ADDR_MC_LINKLOCAL(&a);
}

// __inet6_bind.
int ReadBind6(const sockaddr_in6& in6, socklen_t len, bool stream, bool has_scope,
              ParsedAddress* out) {
  // inet6_bind_sk: "if (addr_len < SIN6_LEN_RFC2133) return -EINVAL"; then the family.
  if (len < kSin6LenRfc2133) return -EINVAL;
  if (in6.sin6_family != AF_INET6) return -EAFNOSUPPORT;
  const in6_addr& a = in6.sin6_addr;
  if (IN6_IS_ADDR_MULTICAST(&a) && stream) return -EINVAL;
  out->address.port = ntohs(in6.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    // The IPv4 address: the stack says whether it is ours (-EADDRNOTAVAIL) as inet_bind.
    out->address.address = MappedIpv4(a);
    out->mapped = true;
    return 0;
  }
  if (IN6_IS_ADDR_UNSPECIFIED(&a)) return 0;  // v4addr = INADDR_ANY
  // "Binding to link-local address requires an interface".
  if (NeedsScopeId(a) && !has_scope) return -EINVAL;
  // ipv6_chk_addr: no IPv6 address is this host's. (Linux would accept a multicast one on
  // a datagram socket, which could then receive nothing but IPv6: refused here instead.)
  return -EADDRNOTAVAIL;
}

// Where a destination sockaddr_in6 leads: tcp_v6_connect, __ip6_datagram_connect and
// udpv6_sendmsg with no IPv6 route.
int Destination6(const sockaddr_in6& in6, bool has_scope, AddressUse use,
                 const Inet6Context& context, ParsedAddress* out) {
  in6_addr a = in6.sin6_addr;
  const uint16_t port = ntohs(in6.sin6_port);
  if (IN6_IS_ADDR_UNSPECIFIED(&a)) {
    // "connect() to INADDR_ANY means loopback (BSD'ism)" (udpv6_sendmsg alike).
    if (context.local_mapped) {
      out->address = SocketAddress{Ipv4Address{INADDR_LOOPBACK}, port};
      return 0;
    }
    a = in6addr_loopback;
  }
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    out->address = SocketAddress{MappedIpv4(a), port};
    return 0;
  }
  // A native IPv6 destination: no route to it, after the argument checks that come first.
  if (use == AddressUse::kSendTo) {
    if (port == 0) return -EINVAL;  // udpv6_sendmsg: "if (sin6->sin6_port == 0)"
    return -ENETUNREACH;
  }
  // tcp_v6_connect: "if (addr_type & IPV6_ADDR_MULTICAST) return -ENETUNREACH".
  if (context.stream && IN6_IS_ADDR_MULTICAST(&a)) return -ENETUNREACH;
  // "Connect to link-local address requires an interface".
  if (NeedsScopeId(a) && !has_scope) return -EINVAL;
  // ip6_dst_lookup_flow finds no route: Linux's answer on a host whose only IPv6 address is
  // ::1 (one with none at all fails source selection first: -EADDRNOTAVAIL). Either makes
  // a program try its next address; ENETUNREACH is the one that says "no IPv6 here".
  return -ENETUNREACH;
}

}  // namespace

int ReadSocketAddress6(const sockaddr* addr, socklen_t len, AddressUse use,
                       const Inet6Context& context, ParsedAddress* out) {
  sockaddr_in6 in6;
  if (const int r = CopyIn(addr, len, &in6); r < 0) return r;
  *out = ParsedAddress{};
  const bool has_scope = len >= sizeof(sockaddr_in6) && in6.sin6_scope_id != 0;
  switch (use) {
    case AddressUse::kBind:
      return ReadBind6(in6, len, context.stream, has_scope, out);
    case AddressUse::kConnect:
      // __inet_stream_connect / inet_dgram_connect: the family first, AF_UNSPEC disconnects.
      if (len < sizeof(in6.sin6_family)) return -EINVAL;
      if (in6.sin6_family == AF_UNSPEC) {
        out->disconnect = true;
        return 0;
      }
      // __ip6_datagram_connect: "if (usin->sin6_family == AF_INET)" it is
      // __ip4_datagram_connect's address.
      if (!context.stream && in6.sin6_family == AF_INET) {
        return ReadSocketAddress(addr, len, AddressUse::kConnect, out);
      }
      if (len < kSin6LenRfc2133) return -EINVAL;
      if (in6.sin6_family != AF_INET6) return -EAFNOSUPPORT;
      return Destination6(in6, has_scope, use, context, out);
    case AddressUse::kSendTo:
      // udpv6_sendmsg: "if (addr_len < offsetof(struct sockaddr, sa_data)) return -EINVAL".
      if (len < offsetof(sockaddr, sa_data)) return -EINVAL;
      switch (in6.sin6_family) {
        case AF_INET6:
          if (len < kSin6LenRfc2133) return -EINVAL;
          return Destination6(in6, has_scope, use, context, out);
        case AF_INET:  // "goto do_udp_sendmsg": udp_sendmsg reads it
          return ReadSocketAddress(addr, len, AddressUse::kSendTo, out);
        case AF_UNSPEC:  // "msg->msg_name = sin6 = NULL"
          out->no_address = true;
          return 0;
        default:
          return -EINVAL;
      }
  }
  return -EINVAL;
}

namespace {

// move_addr_to_user(kaddr, klen, uaddr, ulen).
int MoveToUser(const void* kaddr, socklen_t klen, sockaddr* out, socklen_t* len) {
  if (len == nullptr) return -EFAULT;
  const int want = static_cast<int>(*len);
  if (want < 0) return -EINVAL;
  const socklen_t n = std::min<socklen_t>(static_cast<socklen_t>(want), klen);
  if (n > 0) {
    if (out == nullptr) return -EFAULT;
    std::memcpy(out, kaddr, n);
  }
  *len = klen;
  return 0;
}

}  // namespace

int WriteSocketAddress(const SocketAddress& address, sockaddr* out, socklen_t* len) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(address.port);
  in.sin_addr.s_addr = htonl(address.address.value);
  return MoveToUser(&in, sizeof(in), out, len);
}

int WriteSocketAddress6(const SocketAddress& address, bool wildcard_unspecified, sockaddr* out,
                        socklen_t* len) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(address.port);
  if (address.address.value != INADDR_ANY || !wildcard_unspecified) {
    // ipv6_addr_set_v4mapped.
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    const uint32_t v = htonl(address.address.value);
    std::memcpy(&in6.sin6_addr.s6_addr[12], &v, sizeof(v));
  }
  return MoveToUser(&in6, sizeof(in6), out, len);
}

int WriteNoAddress(sockaddr* out, socklen_t* len) {
  static constexpr char kNothing = 0;
  return MoveToUser(&kNothing, 0, out, len);
}

}  // namespace netshim
