// Address translation and its errno values, as Linux's net/socket.c and af_inet.c give them.
#include "shim/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "gtest/gtest.h"

namespace netshim {
namespace {

sockaddr_in Inet(const char* ip, uint16_t port, sa_family_t family = AF_INET) {
  sockaddr_in in{};
  in.sin_family = family;
  in.sin_port = htons(port);
  inet_pton(AF_INET, ip, &in.sin_addr);
  return in;
}

int Read(const sockaddr_in& in, socklen_t len, AddressUse use, ParsedAddress* out) {
  return ReadSocketAddress(reinterpret_cast<const sockaddr*>(&in), len, use, out);
}

TEST(ShimSockaddr, ReadsAnInetAddress) {
  ParsedAddress p;
  ASSERT_EQ(Read(Inet("198.18.0.1", 8080), sizeof(sockaddr_in), AddressUse::kConnect, &p), 0);
  EXPECT_EQ(p.address.address, Ipv4Address::FromOctets(198, 18, 0, 1));
  EXPECT_EQ(p.address.port, 8080);
  EXPECT_FALSE(p.disconnect);
  // Longer is fine (a sockaddr_storage), up to sizeof(sockaddr_storage).
  ASSERT_EQ(Read(Inet("1.2.3.4", 1), sizeof(sockaddr_storage), AddressUse::kBind, &p), 0);
}

TEST(ShimSockaddr, LengthErrors) {
  ParsedAddress p;
  const sockaddr_in in = Inet("1.2.3.4", 5);
  EXPECT_EQ(Read(in, sizeof(in) - 1, AddressUse::kBind, &p), -EINVAL);
  EXPECT_EQ(Read(in, sizeof(in) - 1, AddressUse::kConnect, &p), -EINVAL);
  EXPECT_EQ(Read(in, sizeof(in) - 1, AddressUse::kSendTo, &p), -EINVAL);
  EXPECT_EQ(Read(in, 1, AddressUse::kConnect, &p), -EINVAL) << "not even sa_family";
  EXPECT_EQ(Read(in, sizeof(sockaddr_storage) + 1, AddressUse::kBind, &p), -EINVAL);
  EXPECT_EQ(Read(in, static_cast<socklen_t>(-1), AddressUse::kBind, &p), -EINVAL);
  EXPECT_EQ(ReadSocketAddress(nullptr, sizeof(in), AddressUse::kBind, &p), -EFAULT);
  EXPECT_EQ(ReadSocketAddress(nullptr, 0, AddressUse::kBind, &p), -EINVAL);
}

TEST(ShimSockaddr, FamilyErrors) {
  ParsedAddress p;
  const sockaddr_in v6ish = Inet("1.2.3.4", 5, AF_INET6);
  EXPECT_EQ(Read(v6ish, sizeof(v6ish), AddressUse::kBind, &p), -EAFNOSUPPORT);
  EXPECT_EQ(Read(v6ish, sizeof(v6ish), AddressUse::kConnect, &p), -EAFNOSUPPORT);
  EXPECT_EQ(Read(v6ish, sizeof(v6ish), AddressUse::kSendTo, &p), -EAFNOSUPPORT);
}

TEST(ShimSockaddr, AfUnspecMeansSomethingDifferentToEachCall) {
  ParsedAddress p;
  // bind: accepted for INADDR_ANY only (inet_bind's "compatibility games").
  EXPECT_EQ(Read(Inet("0.0.0.0", 80, AF_UNSPEC), sizeof(sockaddr_in), AddressUse::kBind, &p), 0);
  EXPECT_EQ(p.address.port, 80);
  EXPECT_EQ(Read(Inet("1.2.3.4", 80, AF_UNSPEC), sizeof(sockaddr_in), AddressUse::kBind, &p),
            -EAFNOSUPPORT);
  // connect: disconnect, and only the family needs to be there.
  EXPECT_EQ(Read(Inet("1.2.3.4", 80, AF_UNSPEC), sizeof(sa_family_t), AddressUse::kConnect, &p), 0);
  EXPECT_TRUE(p.disconnect);
  // sendto (UDP): read like AF_INET.
  EXPECT_EQ(Read(Inet("1.2.3.4", 80, AF_UNSPEC), sizeof(sockaddr_in), AddressUse::kSendTo, &p), 0);
  EXPECT_EQ(p.address.address, Ipv4Address::FromOctets(1, 2, 3, 4));
}

TEST(ShimSockaddr, WritesTruncatingAndReportingTheFullLength) {
  const SocketAddress a{Ipv4Address::FromOctets(10, 0, 0, 9), 4242};
  sockaddr_storage out;
  std::memset(&out, 0xab, sizeof(out));
  socklen_t len = sizeof(out);
  ASSERT_EQ(WriteSocketAddress(a, reinterpret_cast<sockaddr*>(&out), &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  const auto& in = reinterpret_cast<const sockaddr_in&>(out);
  EXPECT_EQ(in.sin_family, AF_INET);
  EXPECT_EQ(ntohs(in.sin_port), 4242);
  EXPECT_EQ(ntohl(in.sin_addr.s_addr), a.address.value);

  // A short buffer gets the first bytes only; the length says how long it really was.
  uint8_t small[4];
  std::memset(small, 0xcd, sizeof(small));
  len = 2;
  ASSERT_EQ(WriteSocketAddress(a, reinterpret_cast<sockaddr*>(small), &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(small[2], 0xcd) << "nothing past the given length";

  len = 0;
  EXPECT_EQ(WriteSocketAddress(a, nullptr, &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in));
}

TEST(ShimSockaddr, WriteErrors) {
  const SocketAddress a{Ipv4Address::FromOctets(10, 0, 0, 9), 1};
  sockaddr_in out;
  EXPECT_EQ(WriteSocketAddress(a, reinterpret_cast<sockaddr*>(&out), nullptr), -EFAULT);
  socklen_t len = static_cast<socklen_t>(-1);
  EXPECT_EQ(WriteSocketAddress(a, reinterpret_cast<sockaddr*>(&out), &len), -EINVAL);
  len = sizeof(out);
  EXPECT_EQ(WriteSocketAddress(a, nullptr, &len), -EFAULT);
  len = sizeof(out);
  ASSERT_EQ(WriteNoAddress(reinterpret_cast<sockaddr*>(&out), &len), 0);
  EXPECT_EQ(len, 0u);
}

// --- AF_INET6 sockets: dual-stack over the IPv4 stack, no IPv6 address or route ---

sockaddr_in6 Inet6(const char* ip, uint16_t port, uint32_t scope = 0) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_scope_id = scope;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1) << ip;
  return in6;
}

template <typename T>
int Read6(const T& a, socklen_t len, AddressUse use, ParsedAddress* out, bool stream = true,
          bool local_mapped = false) {
  return ReadSocketAddress6(reinterpret_cast<const sockaddr*>(&a), len, use,
                            {.stream = stream, .local_mapped = local_mapped}, out);
}

constexpr socklen_t kIn6 = sizeof(sockaddr_in6);

TEST(ShimSockaddr6, BindMapsTheWildcardAndMappedAddresses) {
  ParsedAddress p;
  ASSERT_EQ(Read6(Inet6("::", 5201), kIn6, AddressUse::kBind, &p), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address{0}, 5201}));
  EXPECT_FALSE(p.mapped);
  ASSERT_EQ(Read6(Inet6("::ffff:198.18.0.2", 80), kIn6, AddressUse::kBind, &p), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 2), 80}));
  EXPECT_TRUE(p.mapped);
  ASSERT_EQ(Read6(Inet6("::ffff:0.0.0.0", 81), kIn6, AddressUse::kBind, &p), 0);
  EXPECT_TRUE(p.mapped) << "bound mapped: the wildcard then shows as ::ffff:0.0.0.0";
  // SIN6_LEN_RFC2133: a sockaddr_in6 without sin6_scope_id is enough.
  EXPECT_EQ(Read6(Inet6("::", 1), kSin6LenRfc2133, AddressUse::kBind, &p), 0);
}

TEST(ShimSockaddr6, BindRefusesNativeAddressesAsAHostWithoutIpv6Addresses) {
  ParsedAddress p;
  EXPECT_EQ(Read6(Inet6("::1", 80), kIn6, AddressUse::kBind, &p), -EADDRNOTAVAIL);
  EXPECT_EQ(Read6(Inet6("2001:db8::1", 80), kIn6, AddressUse::kBind, &p), -EADDRNOTAVAIL);
  EXPECT_EQ(Read6(Inet6("::1.2.3.4", 80), kIn6, AddressUse::kBind, &p), -EADDRNOTAVAIL)
      << "v4-compatible is not v4-mapped";
  // Link-local needs an interface; with one, the address is still not ours.
  EXPECT_EQ(Read6(Inet6("fe80::1", 80), kIn6, AddressUse::kBind, &p), -EINVAL);
  EXPECT_EQ(Read6(Inet6("fe80::1", 80, 2), kIn6, AddressUse::kBind, &p), -EADDRNOTAVAIL);
  EXPECT_EQ(Read6(Inet6("fe80::1", 80, 2), kSin6LenRfc2133, AddressUse::kBind, &p), -EINVAL)
      << "a 24-byte address has no scope id";
  // Multicast: never for a stream socket.
  EXPECT_EQ(Read6(Inet6("ff0e::1", 80), kIn6, AddressUse::kBind, &p, /*stream=*/true), -EINVAL);
  EXPECT_EQ(Read6(Inet6("ff0e::1", 80), kIn6, AddressUse::kBind, &p, /*stream=*/false),
            -EADDRNOTAVAIL);
}

TEST(ShimSockaddr6, BindLengthAndFamilyErrors) {
  ParsedAddress p;
  const sockaddr_in6 any = Inet6("::", 1);
  EXPECT_EQ(Read6(any, kSin6LenRfc2133 - 1, AddressUse::kBind, &p), -EINVAL);
  // A sockaddr_in is too short before its family is even looked at (inet6_bind_sk).
  const sockaddr_in in = Inet("0.0.0.0", 1);
  EXPECT_EQ(Read6(in, sizeof(in), AddressUse::kBind, &p), -EINVAL);
  sockaddr_storage big{};
  std::memcpy(&big, &in, sizeof(in));
  EXPECT_EQ(Read6(big, kIn6, AddressUse::kBind, &p), -EAFNOSUPPORT);
  big.ss_family = AF_UNSPEC;  // no "compatibility games" for AF_INET6
  EXPECT_EQ(Read6(big, kIn6, AddressUse::kBind, &p), -EAFNOSUPPORT);
  EXPECT_EQ(Read6(big, sizeof(big) + 1, AddressUse::kBind, &p), -EINVAL);
  EXPECT_EQ(ReadSocketAddress6(nullptr, kIn6, AddressUse::kBind, {}, &p), -EFAULT);
}

TEST(ShimSockaddr6, StreamConnect) {
  ParsedAddress p;
  ASSERT_EQ(Read6(Inet6("::ffff:198.18.0.1", 5201), kIn6, AddressUse::kConnect, &p), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 5201}));
  // No route to native IPv6 (ip6_dst_lookup_flow), nor to multicast (tcp_v6_connect).
  EXPECT_EQ(Read6(Inet6("2001:db8::1", 80), kIn6, AddressUse::kConnect, &p), -ENETUNREACH);
  EXPECT_EQ(Read6(Inet6("::1", 80), kIn6, AddressUse::kConnect, &p), -ENETUNREACH);
  EXPECT_EQ(Read6(Inet6("ff02::1", 80), kIn6, AddressUse::kConnect, &p), -ENETUNREACH);
  EXPECT_EQ(Read6(Inet6("fe80::1", 80), kIn6, AddressUse::kConnect, &p), -EINVAL);
  EXPECT_EQ(Read6(Inet6("fe80::1", 80, 3), kIn6, AddressUse::kConnect, &p), -ENETUNREACH);
  // `::` is loopback: ::1 (unreachable), or 127.0.0.1 once the socket's own address is mapped.
  EXPECT_EQ(Read6(Inet6("::", 80), kIn6, AddressUse::kConnect, &p), -ENETUNREACH);
  ASSERT_EQ(Read6(Inet6("::", 80), kIn6, AddressUse::kConnect, &p, true, /*local_mapped=*/true), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address::FromOctets(127, 0, 0, 1), 80}));
  // AF_UNSPEC disconnects with only the family there; AF_INET is no AF_INET6 for TCP.
  sockaddr_in unspec = Inet("0.0.0.0", 0, AF_UNSPEC);
  ASSERT_EQ(Read6(unspec, sizeof(sa_family_t), AddressUse::kConnect, &p), 0);
  EXPECT_TRUE(p.disconnect);
  EXPECT_EQ(Read6(unspec, 1, AddressUse::kConnect, &p), -EINVAL);
  const sockaddr_in in = Inet("198.18.0.1", 80);
  EXPECT_EQ(Read6(in, sizeof(in), AddressUse::kConnect, &p), -EINVAL);
  sockaddr_storage big{};
  std::memcpy(&big, &in, sizeof(in));
  EXPECT_EQ(Read6(big, kIn6, AddressUse::kConnect, &p), -EAFNOSUPPORT);
  EXPECT_EQ(Read6(Inet6("::ffff:1.2.3.4", 80), kSin6LenRfc2133 - 1, AddressUse::kConnect, &p),
            -EINVAL);
}

TEST(ShimSockaddr6, DatagramConnectAlsoTakesSockaddrIn) {
  ParsedAddress p;
  const sockaddr_in in = Inet("198.18.0.1", 53);
  ASSERT_EQ(Read6(in, sizeof(in), AddressUse::kConnect, &p, /*stream=*/false), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 53}));
  EXPECT_EQ(Read6(in, sizeof(in) - 1, AddressUse::kConnect, &p, false), -EINVAL);
  ASSERT_EQ(Read6(Inet6("::ffff:198.18.0.1", 53), kIn6, AddressUse::kConnect, &p, false), 0);
  EXPECT_EQ(p.address.port, 53);
  // Link-local multicast needs an interface too; other multicast has no route.
  EXPECT_EQ(Read6(Inet6("ff02::1", 53), kIn6, AddressUse::kConnect, &p, false), -EINVAL);
  EXPECT_EQ(Read6(Inet6("ff0e::1", 53), kIn6, AddressUse::kConnect, &p, false), -ENETUNREACH);
  EXPECT_EQ(Read6(Inet6("2001:db8::1", 53), kIn6, AddressUse::kConnect, &p, false), -ENETUNREACH);
}

TEST(ShimSockaddr6, SendTo) {
  ParsedAddress p;
  ASSERT_EQ(Read6(Inet6("::ffff:198.18.0.1", 7), kIn6, AddressUse::kSendTo, &p, false), 0);
  EXPECT_EQ(p.address, (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 7}));
  EXPECT_FALSE(p.no_address);
  EXPECT_EQ(Read6(Inet6("2001:db8::1", 7), kIn6, AddressUse::kSendTo, &p, false), -ENETUNREACH);
  EXPECT_EQ(Read6(Inet6("2001:db8::1", 0), kIn6, AddressUse::kSendTo, &p, false), -EINVAL)
      << "the port is checked before the route";
  EXPECT_EQ(Read6(Inet6("::", 7), kIn6, AddressUse::kSendTo, &p, false), -ENETUNREACH);
  ASSERT_EQ(Read6(Inet6("::", 7), kIn6, AddressUse::kSendTo, &p, false, /*local_mapped=*/true), 0);
  EXPECT_EQ(p.address.address, Ipv4Address::FromOctets(127, 0, 0, 1));
  // udpv6_sendmsg: AF_INET goes to udp_sendmsg, AF_UNSPEC means no address, others EINVAL.
  const sockaddr_in in = Inet("198.18.0.1", 7);
  ASSERT_EQ(Read6(in, sizeof(in), AddressUse::kSendTo, &p, false), 0);
  EXPECT_EQ(p.address.port, 7);
  EXPECT_EQ(Read6(in, sizeof(in) - 1, AddressUse::kSendTo, &p, false), -EINVAL);
  const sockaddr_in unspec = Inet("0.0.0.0", 0, AF_UNSPEC);
  ASSERT_EQ(Read6(unspec, sizeof(sa_family_t), AddressUse::kSendTo, &p, false), 0);
  EXPECT_TRUE(p.no_address);
  const sockaddr_in unix_family = Inet("0.0.0.0", 0, AF_UNIX);
  EXPECT_EQ(Read6(unix_family, sizeof(unix_family), AddressUse::kSendTo, &p, false), -EINVAL);
  EXPECT_EQ(Read6(unspec, 1, AddressUse::kSendTo, &p, false), -EINVAL);
  EXPECT_EQ(Read6(Inet6("::ffff:1.2.3.4", 7), 20, AddressUse::kSendTo, &p, false), -EINVAL);
}

TEST(ShimSockaddr6, WritesMappedAddressesAsSockaddrIn6) {
  const SocketAddress a{Ipv4Address::FromOctets(198, 18, 0, 1), 4242};
  sockaddr_storage out;
  std::memset(&out, 0xab, sizeof(out));
  socklen_t len = sizeof(out);
  ASSERT_EQ(WriteSocketAddress6(a, true, reinterpret_cast<sockaddr*>(&out), &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(out);
  EXPECT_EQ(in6.sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(in6.sin6_port), 4242);
  EXPECT_EQ(in6.sin6_flowinfo, 0u);
  EXPECT_EQ(in6.sin6_scope_id, 0u);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
  EXPECT_STREQ(text, "::ffff:198.18.0.1");

  const SocketAddress any{Ipv4Address{0}, 80};
  len = sizeof(out);
  ASSERT_EQ(WriteSocketAddress6(any, true, reinterpret_cast<sockaddr*>(&out), &len), 0);
  inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
  EXPECT_STREQ(text, "::");
  ASSERT_EQ(WriteSocketAddress6(any, false, reinterpret_cast<sockaddr*>(&out), &len), 0);
  inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
  EXPECT_STREQ(text, "::ffff:0.0.0.0");

  // Truncated like any address: the first bytes, and the full length reported.
  uint8_t small[sizeof(sockaddr_in)];
  std::memset(small, 0xcd, sizeof(small));
  len = 8;
  ASSERT_EQ(WriteSocketAddress6(a, true, reinterpret_cast<sockaddr*>(small), &len), 0);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(small[8], 0xcd);
  len = static_cast<socklen_t>(-1);
  EXPECT_EQ(WriteSocketAddress6(a, true, reinterpret_cast<sockaddr*>(small), &len), -EINVAL);
  EXPECT_EQ(WriteSocketAddress6(a, true, reinterpret_cast<sockaddr*>(small), nullptr), -EFAULT);
}

}  // namespace
}  // namespace netshim
