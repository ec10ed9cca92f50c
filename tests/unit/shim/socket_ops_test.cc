// Blocking, timeouts, partial sends, MSG_WAITALL, SIGPIPE and connect on a fake socket.
#include "shim/socket_ops.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "shim/fd_ops.h"
#include "shim/fd_table.h"
#include "shim/waiter.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using testing::FakeSocket;

class ShimSocketOps : public ::testing::Test {
 protected:
  OpenSocket& Open(bool nonblocking = false, int type = SOCK_STREAM) {
    fake_ = std::make_shared<FakeSocket>(type);
    open_ = std::make_unique<OpenSocket>(fake_, nonblocking);
    return *open_;
  }
  ssize_t Recv(void* buf, size_t n, int flags = 0) {
    iovec iov{buf, n};
    return ReceiveMessage(*open_, {&iov, 1}, flags, nullptr, nullptr, nullptr);
  }
  ssize_t Send(const std::string& data, int flags = 0) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    return SendMessage(*open_, {&iov, 1}, nullptr, 0, flags);
  }
  std::shared_ptr<FakeSocket> fake_;
  std::unique_ptr<OpenSocket> open_;
};

TEST_F(ShimSocketOps, NonBlockingReceiveSaysEagain) {
  Open(/*nonblocking=*/true);
  char buf[8];
  EXPECT_EQ(Recv(buf, sizeof(buf)), -EAGAIN);
  EXPECT_NE(fake_->last_recv_flags() & MSG_DONTWAIT, 0) << "the stack is told";
  Open(false);
  EXPECT_EQ(Recv(buf, sizeof(buf), MSG_DONTWAIT), -EAGAIN);
}

TEST_F(ShimSocketOps, BlockingReceiveWaitsForData) {
  Open();
  std::thread t([this] { fake_->Deliver("hello"); });
  char buf[16];
  EXPECT_EQ(Recv(buf, sizeof(buf)), 5);
  t.join();
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(fake_->last_recv_flags() & MSG_DONTWAIT, 0)
      << "a blocking call does not pass MSG_DONTWAIT (socket.h)";
}

TEST_F(ShimSocketOps, BlockingReceiveSeesEof) {
  Open();
  std::thread t([this] { fake_->SetEof(); });
  char buf[4];
  EXPECT_EQ(Recv(buf, sizeof(buf)), 0);
  t.join();
}

TEST_F(ShimSocketOps, ReceiveTimeoutGivesEagain) {
  Open();
  fake_->SetReceiveTimeout(absl::Milliseconds(30));
  char buf[4];
  const absl::Time start = MonotonicNow();
  EXPECT_EQ(Recv(buf, sizeof(buf)), -EAGAIN);
  EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(29));
  fake_->SetReceiveTimeout(absl::ZeroDuration());  // what a negative tv_sec sets
  EXPECT_EQ(Recv(buf, sizeof(buf)), -EAGAIN);
}

TEST_F(ShimSocketOps, SignalInterruptsABlockingReceive) {
  Open();
  char buf[4];
  ssize_t r;
  {
    testing::SignalPoker poker(pthread_self());
    r = Recv(buf, sizeof(buf));
  }
  EXPECT_EQ(r, -EINTR);
}

TEST_F(ShimSocketOps, WaitAllGathersTheWholeLength) {
  Open();
  fake_->Deliver("abc");
  std::thread t([this] {
    fake_->Deliver("def");
    fake_->Deliver("ghij");
  });
  char buf[10];
  EXPECT_EQ(Recv(buf, sizeof(buf), MSG_WAITALL), 10);
  t.join();
  EXPECT_EQ(std::string(buf, 10), "abcdefghij");
}

TEST_F(ShimSocketOps, WaitAllStopsAtEofWithWhatItHas) {
  Open();
  fake_->Deliver("abc");
  std::thread t([this] { fake_->SetEof(); });
  char buf[10];
  EXPECT_EQ(Recv(buf, sizeof(buf), MSG_WAITALL), 3);
  t.join();
}

TEST_F(ShimSocketOps, WaitAllOnANonBlockingSocketReturnsWhatIsThere) {
  Open(true);
  fake_->Deliver("abc");
  char buf[10];
  EXPECT_EQ(Recv(buf, sizeof(buf), MSG_WAITALL), 3);
}

TEST_F(ShimSocketOps, ReceiveWritesTheSenderForDatagramsOnly) {
  Open(false, SOCK_DGRAM);
  fake_->SetFrom({Ipv4Address::FromOctets(198, 18, 0, 1), 53});
  fake_->Deliver("dgram");
  char buf[16];
  sockaddr_in from{};
  socklen_t len = sizeof(from);
  iovec iov{buf, sizeof(buf)};
  ASSERT_EQ(ReceiveMessage(*open_, {&iov, 1}, 0, reinterpret_cast<sockaddr*>(&from), &len, nullptr),
            5);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(from.sin_port), 53);
}

TEST_F(ShimSocketOps, BlockingSendLoopsUntilAllIsSent) {
  Open();
  fake_->SetSpace(3);
  std::atomic<bool> done{false};
  std::thread t([&] {
    // Make room a little at a time until the sender is done.
    while (!done.load()) fake_->SetSpace(4);
  });
  EXPECT_EQ(Send("0123456789abcdef"), 16);
  done = true;
  t.join();
  EXPECT_EQ(fake_->sent(), "0123456789abcdef");
}

TEST_F(ShimSocketOps, NonBlockingSendIsPartial) {
  Open(true);
  fake_->SetSpace(4);
  EXPECT_EQ(Send("0123456789"), 4);
  EXPECT_EQ(Send("0123456789"), -EAGAIN);
}

TEST_F(ShimSocketOps, SendTimeoutAfterAPartialSendReturnsTheCount) {
  Open();
  fake_->SetSpace(4);
  fake_->SetSendTimeout(absl::Milliseconds(20));
  EXPECT_EQ(Send("0123456789"), 4);
  EXPECT_EQ(Send("0123456789"), -EAGAIN);
}

std::atomic<int> g_sigpipes{0};

TEST_F(ShimSocketOps, EpipeRaisesSigpipeOnStreamsUnlessNoSignal) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = [](int) { g_sigpipes.fetch_add(1); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, &old);
  Open();
  fake_->SetSendError(EPIPE);
  g_sigpipes = 0;
  EXPECT_EQ(Send("x"), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1);
  EXPECT_EQ(Send("x", MSG_NOSIGNAL), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1);
  Open(false, SOCK_DGRAM);
  fake_->SetSendError(EPIPE);
  EXPECT_EQ(Send("x"), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1) << "datagram sockets never raise it";
  sigaction(SIGPIPE, &old, nullptr);
}

sockaddr_in Inet(const char* ip, uint16_t port, sa_family_t family = AF_INET) {
  sockaddr_in in{};
  in.sin_family = family;
  in.sin_port = htons(port);
  inet_pton(AF_INET, ip, &in.sin_addr);
  return in;
}

TEST_F(ShimSocketOps, SendToAddressesDatagramsAndChecksThem) {
  Open(false, SOCK_DGRAM);
  fake_->SetSpace(100);
  const sockaddr_in to = Inet("198.18.0.1", 9);
  iovec iov{const_cast<char*>("x"), 1};
  ASSERT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&to), sizeof(to), 0),
            1);
  ASSERT_TRUE(fake_->last_send_peer().has_value());
  EXPECT_EQ(fake_->last_send_peer()->port, 9);
  EXPECT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&to), 4, 0), -EINVAL);
  const sockaddr_in v6 = Inet("1.1.1.1", 9, AF_INET6);
  EXPECT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&v6), sizeof(v6), 0),
            -EAFNOSUPPORT);
  // A stream socket ignores the address (tcp_sendmsg), length checks aside.
  Open(false, SOCK_STREAM);
  fake_->SetSpace(100);
  EXPECT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&v6), sizeof(v6), 0),
            1);
  EXPECT_FALSE(fake_->last_send_peer().has_value());
  EXPECT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&v6), 1000, 0),
            -EINVAL);
}

TEST_F(ShimSocketOps, BlockingConnectWaitsForTheHandshake) {
  Open();
  fake_->SetConnectResults({-EINPROGRESS, 0});
  std::thread t([this] { fake_->SetSpace(10); });  // established: writable
  const sockaddr_in to = Inet("198.18.0.1", 80);
  EXPECT_EQ(ConnectSocket(*open_, reinterpret_cast<const sockaddr*>(&to), sizeof(to)), 0);
  t.join();
  EXPECT_EQ(fake_->connects(), 2) << "the second Connect() gives the result";
}

TEST_F(ShimSocketOps, BlockingConnectReportsRefusal) {
  Open();
  fake_->SetConnectResults({-EINPROGRESS, -ECONNREFUSED});
  std::thread t([this] { fake_->SetExtra(POLLERR | POLLHUP); });
  const sockaddr_in to = Inet("198.18.0.1", 81);
  EXPECT_EQ(ConnectSocket(*open_, reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
            -ECONNREFUSED);
  t.join();
}

TEST_F(ShimSocketOps, ConnectTimeoutLeavesItInProgress) {
  Open();
  fake_->SetConnectResults({-EINPROGRESS});
  fake_->SetSendTimeout(absl::Milliseconds(20));
  const sockaddr_in to = Inet("198.18.0.1", 82);
  EXPECT_EQ(ConnectSocket(*open_, reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
            -EINPROGRESS);
}

TEST_F(ShimSocketOps, NonBlockingConnectReturnsInProgress) {
  Open(true);
  fake_->SetConnectResults({-EINPROGRESS});
  const sockaddr_in to = Inet("198.18.0.1", 83);
  EXPECT_EQ(ConnectSocket(*open_, reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
            -EINPROGRESS);
  EXPECT_EQ(fake_->connects(), 1);
}

TEST_F(ShimSocketOps, ConnectAfUnspecDisconnects) {
  Open(false, SOCK_DGRAM);
  const sockaddr_in unspec = Inet("0.0.0.0", 0, AF_UNSPEC);
  EXPECT_EQ(ConnectSocket(*open_, reinterpret_cast<const sockaddr*>(&unspec), sizeof(sa_family_t)),
            0);
  EXPECT_EQ(fake_->disconnects(), 1);
  EXPECT_EQ(fake_->connects(), 0);
}

TEST_F(ShimSocketOps, BindAndNames) {
  Open();
  const sockaddr_in local = Inet("198.18.0.2", 5000);
  ASSERT_EQ(BindSocket(*open_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)), 0);
  EXPECT_EQ(fake_->bound()->port, 5000);
  sockaddr_in out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(SocketName(*open_, false, reinterpret_cast<sockaddr*>(&out), &len), 0);
  EXPECT_EQ(ntohs(out.sin_port), 5000);
  EXPECT_EQ(SocketName(*open_, true, reinterpret_cast<sockaddr*>(&out), &len), -ENOTCONN);
  EXPECT_EQ(SocketName(*open_, false, reinterpret_cast<sockaddr*>(&out), nullptr), -EFAULT);
}

TEST_F(ShimSocketOps, OptionArgumentChecks) {
  Open();
  int v = 1;
  EXPECT_EQ(SetSocketOption(*open_, SOL_SOCKET, SO_KEEPALIVE, &v, static_cast<socklen_t>(-1)),
            -EINVAL);
  EXPECT_EQ(SetSocketOption(*open_, SOL_SOCKET, SO_KEEPALIVE, nullptr, sizeof(v)), -EFAULT);
  EXPECT_EQ(GetSocketOption(*open_, SOL_SOCKET, SO_KEEPALIVE, &v, nullptr), -EFAULT);
  socklen_t len = static_cast<socklen_t>(-4);
  EXPECT_EQ(GetSocketOption(*open_, SOL_SOCKET, SO_KEEPALIVE, &v, &len), -EINVAL);
}

TEST_F(ShimSocketOps, WaitForSocketReturnsAtOnceWhenReady) {
  Open();
  fake_->Deliver("x");
  EXPECT_EQ(WaitForSocket(*fake_, POLLIN, std::nullopt), 0);
  EXPECT_EQ(WaitForSocket(*fake_, POLLOUT, MonotonicNow() + absl::Milliseconds(5)), -ETIMEDOUT);
}

// --- AF_INET6 (dual-stack) sockets ---

class ShimSocketOps6 : public ShimSocketOps {
 protected:
  OpenSocket& Open6(bool nonblocking = false, int type = SOCK_STREAM) {
    Open(nonblocking, type);
    open_->set_family(AF_INET6);
    return *open_;
  }
  static sockaddr_in6 In6(const char* ip, uint16_t port) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6.sin6_addr);
    return in6;
  }
  static const sockaddr* Sa(const sockaddr_in6& a) { return reinterpret_cast<const sockaddr*>(&a); }
  static std::string Text(const sockaddr_in6& a) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
    return text;
  }
  // getsockname (peer = false) or getpeername as text, or the errno.
  std::string Name(bool peer) {
    sockaddr_in6 out{};
    socklen_t len = sizeof(out);
    const int r = SocketName(*open_, peer, reinterpret_cast<sockaddr*>(&out), &len);
    if (r < 0) return "errno " + std::to_string(-r);
    EXPECT_EQ(len, sizeof(sockaddr_in6));
    EXPECT_EQ(out.sin6_family, AF_INET6);
    // fmt, not operator+: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + string.
    return fmt::format("[{}]:{}", Text(out), ntohs(out.sin6_port));
  }
  int GetInt(int level, int name, socklen_t len = sizeof(int)) {
    int v = -12345;
    const int r = GetSocketOption(*open_, level, name, &v, &len);
    return r < 0 ? r : v;
  }
  int SetInt(int level, int name, int v, socklen_t len = sizeof(int)) {
    return SetSocketOption(*open_, level, name, &v, len);
  }
};

TEST_F(ShimSocketOps6, BindToTheWildcardServesIpv4AndShowsIpv6) {
  Open6();
  EXPECT_EQ(Name(false), "[::]:0") << "unbound";
  const sockaddr_in6 any = In6("::", 5201);
  ASSERT_EQ(BindSocket(*open_, Sa(any), sizeof(any)), 0);
  EXPECT_EQ(fake_->bound(), (SocketAddress{Ipv4Address{0}, 5201}));
  EXPECT_EQ(Name(false), "[::]:5201");
  EXPECT_EQ(Name(true), "errno " + std::to_string(ENOTCONN));
  // A native address is not this host's; once bound, bind is -EINVAL first (__inet6_bind).
  Open6();
  const sockaddr_in6 lo = In6("::1", 80);
  EXPECT_EQ(BindSocket(*open_, Sa(lo), sizeof(lo)), -EADDRNOTAVAIL);
  fake_->SetBound({Ipv4Address{0}, 80});
  EXPECT_EQ(BindSocket(*open_, Sa(lo), sizeof(lo)), -EINVAL);
  // An IPv4 sockaddr is no address for an AF_INET6 socket.
  const sockaddr_in in = Inet("0.0.0.0", 80);
  EXPECT_EQ(BindSocket(*open_, reinterpret_cast<const sockaddr*>(&in), sizeof(in)), -EINVAL);
}

TEST_F(ShimSocketOps6, BoundToTheMappedWildcardShowsIt) {
  Open6(false, SOCK_DGRAM);
  const sockaddr_in6 mapped_any = In6("::ffff:0.0.0.0", 7);
  ASSERT_EQ(BindSocket(*open_, Sa(mapped_any), sizeof(mapped_any)), 0);
  EXPECT_EQ(Name(false), "[::ffff:0.0.0.0]:7");
  // And `::` as a destination is then 127.0.0.1 (udpv6_sendmsg's loopback BSD'ism).
  fake_->SetSpace(10);
  const sockaddr_in6 any = In6("::", 9);
  iovec iov{const_cast<char*>("x"), 1};
  ASSERT_EQ(SendMessage(*open_, {&iov, 1}, Sa(any), sizeof(any), 0), 1);
  EXPECT_EQ(fake_->last_send_peer(), (SocketAddress{Ipv4Address::FromOctets(127, 0, 0, 1), 9}));
}

TEST_F(ShimSocketOps6, ConnectToAMappedAddressReachesIpv4) {
  Open6(true);
  const sockaddr_in6 to = In6("::ffff:198.18.0.1", 5201);
  ASSERT_EQ(ConnectSocket(*open_, Sa(to), sizeof(to)), 0);
  EXPECT_EQ(fake_->peer(), (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 5201}));
  fake_->SetBound({Ipv4Address::FromOctets(198, 18, 0, 2), 40000});
  EXPECT_EQ(Name(true), "[::ffff:198.18.0.1]:5201");
  EXPECT_EQ(Name(false), "[::ffff:198.18.0.2]:40000");
  // Connected: __inet_stream_connect says -EISCONN before it reads the address.
  const sockaddr_in6 native = In6("2001:db8::1", 80);
  EXPECT_EQ(ConnectSocket(*open_, Sa(native), sizeof(native)), -EISCONN);
}

TEST_F(ShimSocketOps6, NativeDestinationsAreUnreachable) {
  Open6();
  const sockaddr_in6 native = In6("2001:db8::1", 80);
  EXPECT_EQ(ConnectSocket(*open_, Sa(native), sizeof(native)), -ENETUNREACH);
  const sockaddr_in6 any = In6("::", 80);  // ::1 for a socket not bound to a mapped address
  EXPECT_EQ(ConnectSocket(*open_, Sa(any), sizeof(any)), -ENETUNREACH);
  EXPECT_EQ(fake_->connects(), 0) << "the stack never sees them";
  // With its own address mapped, `::` is ::ffff:127.0.0.1, the stack's to answer.
  fake_->SetBound({Ipv4Address::FromOctets(198, 18, 0, 2), 0});
  ASSERT_EQ(ConnectSocket(*open_, Sa(any), sizeof(any)), 0);
  EXPECT_EQ(fake_->peer(), (SocketAddress{Ipv4Address::FromOctets(127, 0, 0, 1), 80}));
}

TEST_F(ShimSocketOps6, DatagramsCarryMappedAddressesBothWays) {
  Open6(false, SOCK_DGRAM);
  fake_->SetSpace(100);
  iovec iov{const_cast<char*>("ping"), 4};
  const sockaddr_in6 to = In6("::ffff:198.18.0.1", 7);
  ASSERT_EQ(SendMessage(*open_, {&iov, 1}, Sa(to), sizeof(to), 0), 4);
  EXPECT_EQ(fake_->last_send_peer(), (SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 7}));
  const sockaddr_in6 native = In6("2001:db8::1", 7);
  EXPECT_EQ(SendMessage(*open_, {&iov, 1}, Sa(native), sizeof(native), 0), -ENETUNREACH);
  // AF_UNSPEC: no address at all (the connected peer, if any).
  sockaddr_in6 unspec{};
  ASSERT_EQ(SendMessage(*open_, {&iov, 1}, Sa(unspec), sizeof(unspec), 0), 4);
  EXPECT_FALSE(fake_->last_send_peer().has_value());
  // AF_INET is taken too (udpv6_sendmsg hands it to udp_sendmsg).
  const sockaddr_in in = Inet("198.18.0.1", 8);
  ASSERT_EQ(SendMessage(*open_, {&iov, 1}, reinterpret_cast<const sockaddr*>(&in), sizeof(in), 0),
            4);
  EXPECT_EQ(fake_->last_send_peer()->port, 8);

  fake_->SetFrom({Ipv4Address::FromOctets(198, 18, 0, 1), 7});
  fake_->Deliver("pong");
  char buf[8];
  iovec in_iov{buf, sizeof(buf)};
  sockaddr_in6 from{};
  socklen_t len = sizeof(from);
  ASSERT_EQ(
      ReceiveMessage(*open_, {&in_iov, 1}, 0, reinterpret_cast<sockaddr*>(&from), &len, nullptr),
      4);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(from.sin6_family, AF_INET6);
  EXPECT_EQ(Text(from), "::ffff:198.18.0.1");
  EXPECT_EQ(ntohs(from.sin6_port), 7);
}

TEST_F(ShimSocketOps6, AcceptedConnectionsAreAfInet6Too) {
  Open6();
  const int tclass = 0x20;
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, tclass), 0);
  OpenSocket child(std::make_shared<FakeSocket>(), false);
  InheritFamily(*open_, child);
  EXPECT_EQ(child.family(), AF_INET6);
  EXPECT_EQ(child.inet6().tclass, tclass);
  sockaddr_in6 out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(WriteAcceptedAddress(*open_, {Ipv4Address::FromOctets(198, 18, 0, 1), 33000},
                                 reinterpret_cast<sockaddr*>(&out), &len),
            0);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(Text(out), "::ffff:198.18.0.1");
  // An AF_INET listener's children stay AF_INET.
  Open();
  OpenSocket child4(std::make_shared<FakeSocket>(), false);
  InheritFamily(*open_, child4);
  EXPECT_EQ(child4.family(), AF_INET);
}

TEST_F(ShimSocketOps6, SocketLevelAndIpv4OptionsStillWork) {
  Open6();
  EXPECT_EQ(GetInt(SOL_SOCKET, SO_DOMAIN), AF_INET6);
  int v = 0;
  socklen_t len = 2;  // sock_getsockopt truncates silently
  ASSERT_EQ(GetSocketOption(*open_, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
  EXPECT_EQ(len, 2u);
  // IPPROTO_IP reaches the stack (ipv6_setsockopt hands SOL_IP to ip_setsockopt).
  ASSERT_EQ(SetInt(IPPROTO_IP, IP_TOS, 0x10), 0);
  EXPECT_EQ(GetInt(IPPROTO_IP, IP_TOS), 0x10);
}

TEST_F(ShimSocketOps6, Ipv6OptionsAsLinuxKeepsThem) {
  Open6();
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_V6ONLY), 0) << "dual-stack by default";
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 0), 0);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 1), kHandToKernel);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 1, 2), -EINVAL);
  fake_->SetBound({Ipv4Address{0}, 5201});
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 1), -EINVAL) << "too late once it has a port";
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 0), -EINVAL);

  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_TCLASS), 0);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, 0x2f), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_TCLASS), 0x2c) << "TCP keeps the ECN bits";
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, -1), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_TCLASS), 0);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, 256), -EINVAL);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, 1, 3), -EINVAL);

  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 5), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS), 5);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, -2), -EINVAL);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 3), -ENOPROTOOPT) << "not for TCP";
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 2), -EINVAL);
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_MTU_DISCOVER, 99), -EINVAL);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_MTU_DISCOVER), IPV6_PMTUDISC_DO);
  // No control messages are produced: refused, as IP_PKTINFO is.
  EXPECT_EQ(SetInt(IPPROTO_IPV6, IPV6_RECVPKTINFO, 1), -ENOPROTOOPT);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_RECVPKTINFO), -ENOPROTOOPT);
  // do_ipv6_getsockopt: min(len, sizeof(int)).
  int v = 0;
  socklen_t len = 16;
  ASSERT_EQ(GetSocketOption(*open_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, &len), 0);
  EXPECT_EQ(len, sizeof(int));

  Open6(false, SOCK_DGRAM);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 1);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, -1), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 1);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_TCLASS, 0x2f), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_TCLASS), 0x2f);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
}

TEST_F(ShimSocketOps6, AnAfInetSocketLeavesIpv6OptionsToTheStack) {
  Open();
  // The fake keeps whatever it is given: the point is that it was given it.
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_V6ONLY, 1), 0);
  EXPECT_EQ(GetInt(IPPROTO_IPV6, IPV6_V6ONLY), 1);
}

TEST_F(ShimSocketOps6, V6OnlyHandsTheDescriptorToTheKernel) {
  Open6(/*nonblocking=*/true);
  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) GTEST_SKIP() << "no IPv6 in this kernel";
  ::close(probe);
  ASSERT_EQ(SetInt(SOL_SOCKET, SO_REUSEADDR, 1), 0);
  ASSERT_EQ(SetInt(IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9), 0);
  FdTable table;
  std::shared_ptr<OpenSocket> shared(std::move(open_));
  const int fd = InstallSocket(table, shared, /*cloexec=*/true);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(HandToKernelV6Only(table, fd, *shared), 0);
  EXPECT_EQ(table.Get(fd), nullptr) << "no longer the stack's";
  shared.reset();
  EXPECT_EQ(fake_->closes(), 1) << "the stack socket went with its last descriptor";

  auto kernel_int = [fd](int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    EXPECT_EQ(::getsockopt(fd, level, name, &v, &len), 0) << name;
    return v;
  };
  EXPECT_EQ(kernel_int(SOL_SOCKET, SO_DOMAIN), AF_INET6);
  EXPECT_EQ(kernel_int(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(kernel_int(IPPROTO_IPV6, IPV6_V6ONLY), 1);
  EXPECT_EQ(kernel_int(SOL_SOCKET, SO_REUSEADDR), 1);
  EXPECT_EQ(kernel_int(IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(kernel_int(IPPROTO_IPV6, IPV6_UNICAST_HOPS), 9);
  EXPECT_EQ(kernel_int(SOL_SOCKET, SO_KEEPALIVE), 0) << "only what was set";
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::close(fd), 0);
}

TEST_F(ShimSocketOps6, V6OnlyKeepsAPlainDescriptorPlain) {
  Open6(false, SOCK_DGRAM);
  const int probe = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (probe < 0) GTEST_SKIP() << "no IPv6 in this kernel";
  ::close(probe);
  FdTable table;
  std::shared_ptr<OpenSocket> shared(std::move(open_));
  const int fd = InstallSocket(table, shared, /*cloexec=*/false);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(HandToKernelV6Only(table, fd, *shared), 0);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len), 0);
  EXPECT_EQ(v, SOCK_DGRAM);
  EXPECT_EQ(::close(fd), 0);
}

}  // namespace
}  // namespace netshim
