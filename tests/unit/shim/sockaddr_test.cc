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

}  // namespace
}  // namespace netshim
