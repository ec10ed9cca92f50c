// TCP with real threads: both stacks run their dispatch threads on the real clock, and
// application threads block in SocketWaiter as a program behind the shim would. This is
// where lock order, timers armed from application threads and wake-ups are exercised
// (the other TCP tests drive everything from one thread on a manual clock).
#include <netinet/in.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stack/link/channel_link.h"
#include "stack/socket/socket_waiter.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "tests/packet/stack_fixture.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

constexpr absl::Duration kWaitLimit = absl::Seconds(30);

// Blocking send of everything, as a blocking write(2) would.
bool SendAll(Socket& s, const uint8_t* data, size_t len) {
  SocketWaiter waiter(s, POLLOUT);
  while (len > 0) {
    const ssize_t n = SendBytes(s, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n != -EAGAIN) return false;
    if (waiter.Wait(kWaitLimit) != 0) return false;
  }
  return true;
}

// Blocking receive until EOF; returns the bytes, or nullopt on error or timeout.
std::optional<std::vector<uint8_t>> RecvAll(Socket& s) {
  SocketWaiter waiter(s, POLLIN);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    const ssize_t n = RecvBytes(s, buf.data(), buf.size());
    if (n > 0) {
      out.insert(out.end(), buf.begin(), buf.begin() + n);
    } else if (n == 0) {
      return out;
    } else if (n != -EAGAIN || waiter.Wait(kWaitLimit) != 0) {
      return std::nullopt;
    }
  }
}

std::vector<uint8_t> Bytes(size_t n, uint8_t salt) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + salt + (i >> 12));
  return v;
}

class ThreadedPair {
 public:
  ThreadedPair() {
    auto [la, lb] = ChannelLink::CreatePair(1500);
    StackOptions oa;
    oa.address = Ipv4Cidr{TcpPair::AddressA(), 24};
    StackOptions ob;
    ob.address = Ipv4Cidr{TcpPair::AddressB(), 24};
    a = StackOnLink(oa, std::move(la));
    b = StackOnLink(ob, std::move(lb));
    EXPECT_TRUE(a->Start().ok());
    EXPECT_TRUE(b->Start().ok());
  }
  ~ThreadedPair() {
    a->Stop();
    b->Stop();
  }
  std::unique_ptr<Stack> a;
  std::unique_ptr<Stack> b;
};

// Several connections at once, each echoing a few MiB: the server side runs one thread per
// connection (accepting on a blocking listener), the client side one per connection.
TEST(TcpThreaded, ConcurrentEchoConnections) {
  ThreadedPair pair;
  constexpr int kConnections = 4;
  constexpr size_t kBytes = 3 << 20;
  auto listener = NewTcpSocket(*pair.b);
  ASSERT_EQ(listener->Bind({Ipv4Address::Any(), 7}), 0);
  ASSERT_EQ(listener->Listen(kConnections), 0);

  std::atomic<int> server_failures{0};
  std::vector<std::thread> servers;
  std::thread acceptor([&] {
    SocketWaiter waiter(*listener, POLLIN);
    for (int i = 0; i < kConnections; ++i) {
      std::shared_ptr<Socket> conn;
      int err = 0;
      while (!(conn = listener->Accept(nullptr, &err))) {
        if (err != -EAGAIN || waiter.Wait(kWaitLimit) != 0) {
          ++server_failures;
          return;
        }
      }
      servers.emplace_back([conn, &server_failures] {
        // Echo: read everything, then send it all back and close.
        auto data = RecvAll(*conn);
        if (!data || !SendAll(*conn, data->data(), data->size())) ++server_failures;
        conn->Close();
      });
    }
  });

  std::vector<std::thread> clients;
  std::atomic<int> client_failures{0};
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      auto s = NewTcpSocket(*pair.a);
      ASSERT_EQ(s->Connect({TcpPair::AddressB(), 7}), -EINPROGRESS);
      {
        SocketWaiter waiter(*s, POLLOUT);
        while (!(s->Poll() & (POLLOUT | POLLERR))) {
          if (waiter.Wait(kWaitLimit) != 0) break;
        }
      }
      ASSERT_EQ(s->Connect({TcpPair::AddressB(), 7}), 0);
      const auto data = Bytes(kBytes, static_cast<uint8_t>(i));
      std::optional<std::vector<uint8_t>> echoed;
      std::thread reader([&] { echoed = RecvAll(*s); });
      const bool sent = SendAll(*s, data.data(), data.size());
      EXPECT_TRUE(sent);
      EXPECT_EQ(s->Shutdown(SHUT_WR), 0);
      reader.join();
      if (!sent || !echoed || *echoed != data) ++client_failures;
      s->Close();
    });
  }
  for (auto& t : clients) t.join();
  acceptor.join();
  for (auto& t : servers) t.join();
  listener->Close();
  EXPECT_EQ(client_failures.load(), 0);
  EXPECT_EQ(server_failures.load(), 0);
  EXPECT_EQ(pair.a->stats().tcp.ActiveOpens.value(), static_cast<uint64_t>(kConnections));
  EXPECT_EQ(pair.b->stats().tcp.PassiveOpens.value(), static_cast<uint64_t>(kConnections));
}

}  // namespace
}  // namespace netshim::testing
