// Blocking, timeouts, partial sends, MSG_WAITALL, SIGPIPE and connect on a fake socket.
#include "shim/socket_ops.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
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

}  // namespace
}  // namespace netshim
