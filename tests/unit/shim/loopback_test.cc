// The loopback handover: which addresses go to the kernel, the option log and its replay,
// and real handovers onto kernel sockets on 127.0.0.1 / ::1 (the unit test binary is not
// preloaded, so ::socket and friends are the kernel's).
#include "shim/loopback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "shim/epoll_set.h"
#include "shim/fd_ops.h"
#include "shim/socket_ops.h"
#include "tests/unit/shim/fake_socket.h"

namespace netshim {
namespace {

using testing::FakeSocket;
constexpr Config::Loopback kKernel = Config::Loopback::kKernel;
constexpr Config::Loopback kStack = Config::Loopback::kStack;

sockaddr_in In4(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

sockaddr_in6 In6(const char* ip, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

template <typename T>
const sockaddr* Sa(const T& a) {
  return reinterpret_cast<const sockaddr*>(&a);
}

bool Loop4(const char* ip, uint16_t port, AddressUse use) {
  const sockaddr_in a = In4(ip, port);
  return IsLoopbackAddress(AF_INET, {}, Sa(a), sizeof(a), use);
}

bool Loop6(const char* ip, uint16_t port, AddressUse use, bool stream = true) {
  const sockaddr_in6 a = In6(ip, port);
  return IsLoopbackAddress(AF_INET6, {.stream = stream}, Sa(a), sizeof(a), use);
}

TEST(ShimLoopbackDecision, Ipv4Addresses) {
  EXPECT_TRUE(Loop4("127.0.0.1", 80, AddressUse::kBind));
  EXPECT_TRUE(Loop4("127.1.2.3", 0, AddressUse::kBind)) << "all of 127/8";
  EXPECT_FALSE(Loop4("0.0.0.0", 80, AddressUse::kBind)) << "the wildcard stays on the stack";
  EXPECT_FALSE(Loop4("198.18.0.2", 80, AddressUse::kBind));
  EXPECT_FALSE(Loop4("128.0.0.1", 80, AddressUse::kBind));

  EXPECT_TRUE(Loop4("127.0.0.1", 80, AddressUse::kConnect));
  EXPECT_TRUE(Loop4("127.255.255.254", 80, AddressUse::kConnect));
  EXPECT_TRUE(Loop4("0.0.0.0", 80, AddressUse::kConnect)) << "Linux routes INADDR_ANY to lo";
  EXPECT_FALSE(Loop4("198.18.0.1", 80, AddressUse::kConnect));

  EXPECT_TRUE(Loop4("127.0.0.1", 53, AddressUse::kSendTo));
  EXPECT_FALSE(Loop4("127.0.0.1", 0, AddressUse::kSendTo)) << "udp_sendmsg: port 0 is EINVAL";
  EXPECT_FALSE(Loop4("198.18.0.1", 53, AddressUse::kSendTo));
}

TEST(ShimLoopbackDecision, BadArgumentsStayForTheStacksErrno) {
  sockaddr_in a = In4("127.0.0.1", 80);
  EXPECT_FALSE(IsLoopbackAddress(AF_INET, {}, Sa(a), sizeof(a) - 1, AddressUse::kConnect));
  EXPECT_FALSE(IsLoopbackAddress(AF_INET, {}, nullptr, sizeof(a), AddressUse::kConnect));
  EXPECT_FALSE(
      IsLoopbackAddress(AF_INET, {}, Sa(a), static_cast<socklen_t>(-1), AddressUse::kConnect));
  a.sin_family = AF_UNSPEC;  // connect(AF_UNSPEC) disconnects
  EXPECT_FALSE(IsLoopbackAddress(AF_INET, {}, Sa(a), sizeof(a), AddressUse::kConnect));
  a.sin_family = AF_INET6;  // an AF_INET socket: EAFNOSUPPORT
  EXPECT_FALSE(IsLoopbackAddress(AF_INET, {}, Sa(a), sizeof(a), AddressUse::kConnect));
  sockaddr_in6 b = In6("::1", 80);
  EXPECT_FALSE(IsLoopbackAddress(AF_INET6, {}, Sa(b), kSin6LenRfc2133 - 1, AddressUse::kConnect));
}

TEST(ShimLoopbackDecision, Ipv6Addresses) {
  EXPECT_TRUE(Loop6("::1", 80, AddressUse::kBind)) << "native loopback: the kernel's";
  EXPECT_TRUE(Loop6("::ffff:127.0.0.1", 80, AddressUse::kBind));
  EXPECT_FALSE(Loop6("::", 80, AddressUse::kBind));
  EXPECT_FALSE(Loop6("::ffff:0.0.0.0", 80, AddressUse::kBind));
  EXPECT_FALSE(Loop6("::ffff:198.18.0.2", 80, AddressUse::kBind));
  EXPECT_FALSE(Loop6("2001:db8::1", 80, AddressUse::kBind));

  EXPECT_TRUE(Loop6("::1", 80, AddressUse::kConnect));
  EXPECT_TRUE(Loop6("::", 80, AddressUse::kConnect)) << "`::` means ::1 (or 127.0.0.1)";
  EXPECT_TRUE(Loop6("::ffff:127.0.0.2", 80, AddressUse::kConnect));
  EXPECT_FALSE(Loop6("::ffff:198.18.0.1", 80, AddressUse::kConnect));
  EXPECT_FALSE(Loop6("2001:db8::1", 80, AddressUse::kConnect));
  EXPECT_FALSE(Loop6("fe80::1", 80, AddressUse::kConnect));

  EXPECT_TRUE(Loop6("::1", 53, AddressUse::kSendTo, false));
  EXPECT_FALSE(Loop6("::1", 0, AddressUse::kSendTo, false)) << "udpv6_sendmsg: port 0 EINVAL";
  // A UDP AF_INET6 socket takes a sockaddr_in for connect and sendto.
  const sockaddr_in a = In4("127.0.0.1", 53);
  EXPECT_TRUE(
      IsLoopbackAddress(AF_INET6, {.stream = false}, Sa(a), sizeof(a), AddressUse::kConnect));
  EXPECT_TRUE(
      IsLoopbackAddress(AF_INET6, {.stream = false}, Sa(a), sizeof(a), AddressUse::kSendTo));
}

TEST(ShimOptionLog, KeepsTheLatestValueOfEachInOrder) {
  OptionLog log;
  const int one = 1, big = 65536, two = 2;
  ASSERT_TRUE(log.Record(SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)));
  ASSERT_TRUE(log.Record(IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
  ASSERT_TRUE(log.Record(SOL_SOCKET, SO_RCVBUF, &two, sizeof(two)));
  const std::vector<RecordedOption> all = log.Snapshot();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, TCP_NODELAY);
  EXPECT_EQ(all[1].name, SO_RCVBUF) << "re-set options move to the end";
  int v = 0;
  ASSERT_EQ(all[1].value.size(), sizeof(v));
  std::memcpy(&v, all[1].value.data(), sizeof(v));
  EXPECT_EQ(v, 2);
}

TEST(ShimOptionLog, IsBounded) {
  OptionLog log;
  std::string huge(OptionLog::kMaxValueBytes + 1, 'x');
  EXPECT_FALSE(log.Record(IPPROTO_TCP, TCP_MD5SIG, huge.data(), huge.size()));
  for (size_t i = 0; i < OptionLog::kMaxOptions; ++i) {
    ASSERT_TRUE(log.Record(1000, static_cast<int>(i), nullptr, 0));
  }
  EXPECT_FALSE(log.Record(1000, 99999, nullptr, 0)) << "full";
  EXPECT_TRUE(log.Record(1000, 3, nullptr, 0)) << "an option already kept can change";
  EXPECT_EQ(log.Snapshot().size(), OptionLog::kMaxOptions);
}

TEST(ShimOptionLog, SetSocketOptionRecordsWhatTheSocketAccepted) {
  OpenSocket s(std::make_shared<FakeSocket>(), false);
  s.set_family(AF_INET6);
  const int v = 5, bad = 300;
  ASSERT_EQ(SetSocketOption(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof(v)), 0);
  ASSERT_EQ(SetSocketOption(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &bad, sizeof(bad)), -EINVAL);
  ASSERT_EQ(SetSocketOption(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
  const std::vector<RecordedOption> all = s.options().Snapshot();
  ASSERT_EQ(all.size(), 2u);
  int got = 0;
  std::memcpy(&got, all[0].value.data(), sizeof(got));
  EXPECT_EQ(got, 5) << "the refused value was not kept";
  EXPECT_EQ(all[1].name, SO_SNDBUF);
}

// The fake answers TCP_INFO with whatever state the test puts there.
void SetTcpState(FakeSocket& fake, int state) {
  tcp_info info{};
  info.tcpi_state = static_cast<uint8_t>(state);
  fake.SetSockOpt(IPPROTO_TCP, TCP_INFO, {reinterpret_cast<const uint8_t*>(&info), sizeof(info)});
}

TEST(ShimLoopbackDecision, TheSocketsStateDecidesToo) {
  auto fake = std::make_shared<FakeSocket>();
  OpenSocket s(fake, false);
  const sockaddr_in lo = In4("127.0.0.1", 80);
  auto should = [&](Config::Loopback mode, AddressUse use, int flags = 0) {
    return ShouldHandOver(mode, s, Sa(lo), sizeof(lo), use, flags);
  };
  EXPECT_TRUE(should(kKernel, AddressUse::kConnect));
  EXPECT_FALSE(should(kStack, AddressUse::kConnect)) << "NETSHIM_LOOPBACK=stack";
  EXPECT_FALSE(should(kStack, AddressUse::kBind));
  EXPECT_FALSE(should(kKernel, AddressUse::kSendTo)) << "tcp_sendmsg ignores the address";
  EXPECT_TRUE(should(kKernel, AddressUse::kSendTo, MSG_FASTOPEN)) << "but TFO connects";
  SetTcpState(*fake, TCP_ESTABLISHED);
  EXPECT_FALSE(should(kKernel, AddressUse::kConnect)) << "the stack says EISCONN";
  SetTcpState(*fake, TCP_SYN_SENT);
  EXPECT_FALSE(should(kKernel, AddressUse::kConnect)) << "the stack says EALREADY";
  SetTcpState(*fake, TCP_LISTEN);
  EXPECT_FALSE(should(kKernel, AddressUse::kConnect));
  SetTcpState(*fake, TCP_CLOSE);
  EXPECT_TRUE(should(kKernel, AddressUse::kConnect)) << "after a failed attempt, again";
  EXPECT_TRUE(should(kKernel, AddressUse::kBind));
  fake->SetBound({Ipv4Address{0}, 4000});
  EXPECT_FALSE(should(kKernel, AddressUse::kBind)) << "bound: the stack says EINVAL";
  EXPECT_TRUE(should(kKernel, AddressUse::kConnect)) << "bound, not connected: Linux connects";

  auto udp_fake = std::make_shared<FakeSocket>(SOCK_DGRAM);
  OpenSocket udp(udp_fake, false);
  udp_fake->SetPeer(SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), 53});
  EXPECT_TRUE(ShouldHandOver(kKernel, udp, Sa(lo), sizeof(lo), AddressUse::kSendTo, 0));
  EXPECT_TRUE(ShouldHandOver(kKernel, udp, Sa(lo), sizeof(lo), AddressUse::kConnect, 0))
      << "a UDP socket may connect elsewhere";
  const sockaddr_in remote = In4("198.18.0.1", 53);
  EXPECT_FALSE(ShouldHandOver(kKernel, udp, Sa(remote), sizeof(remote), AddressUse::kSendTo, 0));
}

// A fixture with a descriptor table, a stack socket installed in it, and kernel peers.
class ShimLoopbackHandover : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : kernel_fds_) ::close(fd);
  }
  // A stack socket (fake) under a placeholder descriptor.
  int Install(int type = SOCK_STREAM, int family = AF_INET, bool nonblocking = false,
              bool cloexec = true) {
    fake_ = std::make_shared<FakeSocket>(type);
    open_ = std::make_shared<OpenSocket>(fake_, nonblocking);
    open_->set_family(family);
    const int fd = InstallSocket(table_, open_, cloexec);
    EXPECT_GE(fd, 0);
    return fd;
  }
  int SetInt(int level, int name, int v) {
    return SetSocketOption(*open_, level, name, &v, sizeof(v));
  }
  int Kernel(int fd) {
    if (fd >= 0) kernel_fds_.push_back(fd);
    return fd;
  }
  // A kernel TCP listener on 127.0.0.1; its port.
  uint16_t Listen(int* listener) {
    *listener = Kernel(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = In4("127.0.0.1", 0);
    EXPECT_EQ(::bind(*listener, Sa(a), sizeof(a)), 0);
    EXPECT_EQ(::listen(*listener, 4), 0);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::getsockname(*listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    return ntohs(a.sin_port);
  }
  static int IntOption(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    EXPECT_EQ(::getsockopt(fd, level, name, &v, &len), 0) << level << "/" << name;
    return v;
  }
  static uint16_t LocalPort(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);  // same offset in sin6
  }

  FdTable table_;
  std::shared_ptr<FakeSocket> fake_;
  std::shared_ptr<OpenSocket> open_;
  std::vector<int> kernel_fds_;
};

TEST_F(ShimLoopbackHandover, ConnectReplaysWhatTheProgramSet) {
  int listener;
  const uint16_t port = Listen(&listener);
  const int fd = Install(SOCK_STREAM, AF_INET, /*nonblocking=*/false, /*cloexec=*/true);
  ASSERT_EQ(SetInt(IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(SetInt(SOL_SOCKET, SO_RCVBUF, 65536), 0);
  ASSERT_EQ(SetInt(SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  ASSERT_EQ(SetInt(IPPROTO_TCP, TCP_KEEPIDLE, 77), 0);
  ASSERT_EQ(SetInt(IPPROTO_IP, IP_TOS, 0x10), 0);
  const timeval tv{3, 500000};  // whole jiffies at any HZ: read back exactly
  ASSERT_EQ(SetSocketOption(*open_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);

  const sockaddr_in to = In4("127.0.0.1", port);
  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(to), sizeof(to), AddressUse::kConnect),
            0);
  EXPECT_EQ(table_.Get(fd), nullptr) << "the descriptor is the kernel's";
  ASSERT_EQ(::connect(fd, Sa(to), sizeof(to)), 0) << strerror(errno);
  const int conn = Kernel(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(conn, 0);
  ASSERT_EQ(::write(fd, "ping", 4), 4);
  char buf[8] = {};
  ASSERT_EQ(::read(conn, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_EQ(::write(conn, "pong", 4), 4);
  ASSERT_EQ(::read(fd, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");

  // What a kernel socket given the same SO_RCVBUF reports (Linux doubles it).
  const int probe = Kernel(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int want = 65536;
  ASSERT_EQ(::setsockopt(probe, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)), 0);
  EXPECT_EQ(IntOption(fd, SOL_SOCKET, SO_RCVBUF), IntOption(probe, SOL_SOCKET, SO_RCVBUF))
      << "replayed as passed, not as read back";
  EXPECT_EQ(IntOption(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(IntOption(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(IntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE), 77);
  EXPECT_EQ(IntOption(fd, IPPROTO_IP, IP_TOS), 0x10);
  EXPECT_EQ(IntOption(fd, SOL_SOCKET, SO_REUSEADDR), 0) << "only what was set";
  timeval got{};
  socklen_t len = sizeof(got);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
  EXPECT_EQ(got.tv_sec, 3);
  EXPECT_EQ(got.tv_usec, 500000);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);

  open_.reset();
  EXPECT_EQ(fake_->closes(), 1) << "the stack socket went with its last descriptor";
  EXPECT_EQ(::close(fd), 0);
}

TEST_F(ShimLoopbackHandover, NonblockingAndNoCloexecAreKept) {
  int listener;
  const uint16_t port = Listen(&listener);
  const int fd = Install(SOCK_STREAM, AF_INET, /*nonblocking=*/true, /*cloexec=*/false);
  const sockaddr_in to = In4("127.0.0.1", port);
  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(to), sizeof(to), AddressUse::kConnect),
            0);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  const int r = ::connect(fd, Sa(to), sizeof(to));
  EXPECT_TRUE(r == 0 || errno == EINPROGRESS) << strerror(errno);
  pollfd p{fd, POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(IntOption(fd, SOL_SOCKET, SO_ERROR), 0);
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, BindIsTheKernelsAndARefusalChangesNothing) {
  int listener;
  const uint16_t taken = Listen(&listener);
  const int fd = Install();
  const sockaddr_in busy = In4("127.0.0.1", taken);
  EXPECT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(busy), sizeof(busy), AddressUse::kBind),
            -EADDRINUSE);
  EXPECT_EQ(table_.Get(fd), open_) << "still the stack's after a refused bind";

  const sockaddr_in any_port = In4("127.0.0.1", 0);
  ASSERT_EQ(
      RouteLoopback(table_, kKernel, fd, *open_, Sa(any_port), sizeof(any_port), AddressUse::kBind),
      0);
  EXPECT_EQ(table_.Get(fd), nullptr);
  sockaddr_in name{};
  socklen_t len = sizeof(name);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &len), 0);
  EXPECT_EQ(name.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_NE(name.sin_port, 0);
  ASSERT_EQ(::listen(fd, 1), 0) << "a kernel listener now";
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, StackModeAndOtherAddressesStay) {
  const int fd = Install();
  const sockaddr_in lo = In4("127.0.0.1", 80);
  EXPECT_EQ(RouteLoopback(table_, kStack, fd, *open_, Sa(lo), sizeof(lo), AddressUse::kConnect),
            kServeOnStack);
  const sockaddr_in remote = In4("198.18.0.1", 80);
  EXPECT_EQ(
      RouteLoopback(table_, kKernel, fd, *open_, Sa(remote), sizeof(remote), AddressUse::kConnect),
      kServeOnStack);
  EXPECT_EQ(table_.Get(fd), open_);
  EXPECT_EQ(CloseFd(table_, fd), 0);
}

TEST_F(ShimLoopbackHandover, AStackPortIsKeptOnTheWildcard) {
  // A free kernel port, for the fake stack socket to be "bound" to.
  const int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = In4("0.0.0.0", 0);
  ASSERT_EQ(::bind(probe, Sa(a), sizeof(a)), 0);
  const uint16_t port = LocalPort(probe);
  ::close(probe);

  const int peer = Kernel(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in peer_addr = In4("127.0.0.1", 0);
  ASSERT_EQ(::bind(peer, Sa(peer_addr), sizeof(peer_addr)), 0);
  peer_addr.sin_port = htons(LocalPort(peer));

  const int fd = Install(SOCK_DGRAM);
  fake_->SetBound({Ipv4Address{0}, port});
  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(peer_addr), sizeof(peer_addr),
                          AddressUse::kSendTo),
            0);
  EXPECT_EQ(LocalPort(fd), port) << "the port the program had";
  ASSERT_EQ(::sendto(fd, "x", 1, 0, Sa(peer_addr), sizeof(peer_addr)), 1);
  sockaddr_in from{};
  socklen_t len = sizeof(from);
  char c = 0;
  ASSERT_EQ(::recvfrom(peer, &c, 1, 0, reinterpret_cast<sockaddr*>(&from), &len), 1);
  EXPECT_EQ(ntohs(from.sin_port), port);
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, SendToLoopbackIsTheKernelsSend) {
  const int peer = Kernel(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in peer_addr = In4("127.0.0.1", 0);
  ASSERT_EQ(::bind(peer, Sa(peer_addr), sizeof(peer_addr)), 0);
  peer_addr.sin_port = htons(LocalPort(peer));
  const int fd = Install(SOCK_DGRAM);
  char payload[] = "datagram";
  iovec iov{payload, 8};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  EXPECT_EQ(LoopbackSend(table_, kKernel, fd, *open_, msg, 0), std::nullopt)
      << "no address: the socket's own peer, the stack's";
  sockaddr_in remote = In4("198.18.0.1", 9);
  msg.msg_name = &remote;
  msg.msg_namelen = sizeof(remote);
  EXPECT_EQ(LoopbackSend(table_, kKernel, fd, *open_, msg, 0), std::nullopt);
  msg.msg_name = &peer_addr;
  msg.msg_namelen = sizeof(peer_addr);
  EXPECT_EQ(LoopbackSend(table_, kStack, fd, *open_, msg, 0), std::nullopt);
  EXPECT_EQ(fake_->sent(), "") << "nothing was sent by these";
  ASSERT_EQ(LoopbackSend(table_, kKernel, fd, *open_, msg, 0), std::optional<ssize_t>(8));
  char buf[16];
  ASSERT_EQ(::recv(peer, buf, sizeof(buf), 0), 8);
  EXPECT_EQ(std::string(buf, 8), "datagram");
  EXPECT_EQ(table_.Get(fd), nullptr);
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, AKernelPortClashFailsTheCallAndKeepsTheSocket) {
  int listener;
  const uint16_t taken = Listen(&listener);
  int other;
  const uint16_t target = Listen(&other);
  const int fd = Install();
  fake_->SetBound({Ipv4Address{0}, taken});
  const sockaddr_in to = In4("127.0.0.1", target);
  EXPECT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(to), sizeof(to), AddressUse::kConnect),
            -EADDRINUSE);
  EXPECT_EQ(table_.Get(fd), open_);
  EXPECT_EQ(CloseFd(table_, fd), 0);
}

TEST_F(ShimLoopbackHandover, EpollRegistrationsMoveToTheKernel) {
  const int peer = Kernel(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in peer_addr = In4("127.0.0.1", 0);
  ASSERT_EQ(::bind(peer, Sa(peer_addr), sizeof(peer_addr)), 0);
  peer_addr.sin_port = htons(LocalPort(peer));

  const int fd = Install(SOCK_DGRAM);
  const int epfd = Kernel(::epoll_create1(EPOLL_CLOEXEC));
  EpollTable epolls;
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 0xfeed;
  ASSERT_EQ(EpollControlSocket(epolls, epfd, EPOLL_CTL_ADD, fd, open_, &e), 0);
  std::shared_ptr<EpollSet> set = epolls.Get(epfd);
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->size(), 1u);

  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(peer_addr), sizeof(peer_addr),
                          AddressUse::kConnect),
            0);
  ASSERT_EQ(::connect(fd, Sa(peer_addr), sizeof(peer_addr)), 0);
  EXPECT_EQ(set->size(), 0u) << "out of the side table";
  sockaddr_in mine = In4("127.0.0.1", LocalPort(fd));
  ASSERT_EQ(::sendto(peer, "hi", 2, 0, Sa(mine), sizeof(mine)), 2);
  epoll_event got[4];
  const int n = EpollWaitMerged(*set, got, 4, DeadlineAfter(absl::Seconds(5)), nullptr);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(got[0].data.u64, 0xfeedu);
  EXPECT_NE(got[0].events & EPOLLIN, 0u);
  // The program's own EPOLL_CTL_MOD/DEL now reach the kernel instance, which knows the fd.
  EXPECT_EQ(::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr), 0);
  open_.reset();
  set.reset();
  epolls.Forget(epfd);
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, EveryDescriptorOfTheSocketGoesTogether) {
  const int fd = Install(SOCK_STREAM, AF_INET, false, /*cloexec=*/true);
  const int copy = DupFd(table_, fd);  // dup(2): no FD_CLOEXEC on the copy
  ASSERT_GE(copy, 0);
  const sockaddr_in lo = In4("127.0.0.1", 0);
  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(lo), sizeof(lo), AddressUse::kBind), 0);
  EXPECT_EQ(table_.Get(fd), nullptr);
  EXPECT_EQ(table_.Get(copy), nullptr) << "a dup shares the socket, as on Linux";
  EXPECT_EQ(LocalPort(copy), LocalPort(fd)) << "one kernel socket under both numbers";
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(copy, F_GETFD) & FD_CLOEXEC, 0) << "FD_CLOEXEC stays per descriptor";
  open_.reset();
  EXPECT_EQ(fake_->closes(), 1);
  ::close(fd);
  ::close(copy);
}

TEST_F(ShimLoopbackHandover, RacingThreadsHandOverOnce) {
  int listener;
  const uint16_t port = Listen(&listener);
  const int fd = Install();
  const sockaddr_in to = In4("127.0.0.1", port);
  int results[2] = {-1, -1};
  std::thread a([&] {
    results[0] =
        RouteLoopback(table_, kKernel, fd, *open_, Sa(to), sizeof(to), AddressUse::kConnect);
  });
  results[1] = RouteLoopback(table_, kKernel, fd, *open_, Sa(to), sizeof(to), AddressUse::kConnect);
  a.join();
  // The loser finds the work done, or (having looked before the winner's Remove) decides
  // for the stack; never an error, never two kernel sockets traded under the number.
  EXPECT_TRUE(results[0] == 0 || results[1] == 0);
  EXPECT_NE(results[0], -EBADF);
  EXPECT_NE(results[1], -EBADF);
  EXPECT_EQ(table_.Get(fd), nullptr);
  ASSERT_EQ(::connect(fd, Sa(to), sizeof(to)), 0) << strerror(errno);
  ::close(fd);
}

TEST_F(ShimLoopbackHandover, Ipv6LoopbackFromAnAfInet6Socket) {
  const int listener = Kernel(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener < 0) GTEST_SKIP() << "no IPv6 in this kernel";
  sockaddr_in6 a = In6("::1", 0);
  if (::bind(listener, Sa(a), sizeof(a)) != 0) GTEST_SKIP() << "no ::1 here";
  ASSERT_EQ(::listen(listener, 1), 0);
  a.sin6_port = htons(LocalPort(listener));

  const int fd = Install(SOCK_STREAM, AF_INET6);
  ASSERT_EQ(SetInt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9), 0);
  ASSERT_EQ(RouteLoopback(table_, kKernel, fd, *open_, Sa(a), sizeof(a), AddressUse::kConnect), 0);
  ASSERT_EQ(::connect(fd, Sa(a), sizeof(a)), 0) << strerror(errno);
  EXPECT_EQ(IntOption(fd, SOL_SOCKET, SO_DOMAIN), AF_INET6);
  EXPECT_EQ(IntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0) << "dual-stack, as it was";
  EXPECT_EQ(IntOption(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 9);
  ::close(fd);
}

}  // namespace
}  // namespace netshim
