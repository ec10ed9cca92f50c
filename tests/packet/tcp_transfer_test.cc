// TCP end to end between two stacks: handshake, bulk transfer both ways (byte-exact), and
// the same over a lossy, reordering, duplicating, delaying link.
#include <netinet/in.h>

#include <cstring>
#include <iostream>
#include <random>

#include "gtest/gtest.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Moves `a_to_b` from client to server and `b_to_a` back, concurrently, then closes both
// ends gracefully; checks every byte.
void Transfer(TcpPair& pair, size_t a_to_b, size_t b_to_a, absl::Duration limit) {
  auto c = pair.Connect();
  ASSERT_TRUE(c.client && c.server);
  const auto up = Pattern(a_to_b, 1);
  const auto down = Pattern(b_to_a, 2);
  std::vector<uint8_t> got_up, got_down;
  got_up.reserve(a_to_b);
  got_down.reserve(b_to_a);
  size_t sent_up = 0, sent_down = 0;
  bool shut_up = false, shut_down = false, eof_up = false, eof_down = false;
  std::vector<uint8_t> buf(256 * 1024);
  auto pump = [&](Socket& tx, const std::vector<uint8_t>& data, size_t& sent, bool& shut) {
    while (sent < data.size()) {
      ssize_t n = SendBytes(tx, data.data() + sent, std::min<size_t>(data.size() - sent, 65536));
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    if (sent == data.size() && !shut) {
      EXPECT_EQ(tx.Shutdown(SHUT_WR), 0);
      shut = true;
    }
  };
  auto drain = [&](Socket& rx, std::vector<uint8_t>& got, bool& eof) {
    while (!eof) {
      ssize_t n = RecvBytes(rx, buf.data(), buf.size());
      if (n == -EAGAIN) break;
      ASSERT_GE(n, 0) << strerror(static_cast<int>(-n));
      if (n == 0) {
        eof = true;
        break;
      }
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
  };
  const bool done = pair.RunUntil(
      [&] {
        pump(*c.client, up, sent_up, shut_up);
        pump(*c.server, down, sent_down, shut_down);
        drain(*c.server, got_up, eof_up);
        drain(*c.client, got_down, eof_down);
        return eof_up && eof_down;
      },
      limit);
  EXPECT_TRUE(done) << "sent " << sent_up << "/" << a_to_b << " got " << got_up.size()
                    << "; sent " << sent_down << "/" << b_to_a << " got " << got_down.size();
  if (!done) {
    std::cerr << "client " << TcpStateName(static_cast<TcpSocket*>(c.client.get())->state())
              << " server " << TcpStateName(static_cast<TcpSocket*>(c.server.get())->state())
              << " at " << pair.clock().Now() << "\nA:\n"
              << pair.a().stats().FormatTable() << "B:\n"
              << pair.b().stats().FormatTable();
  }
  EXPECT_TRUE(got_up == up) << "client->server bytes differ";
  EXPECT_TRUE(got_down == down) << "server->client bytes differ";
  auto* client = static_cast<TcpSocket*>(c.client.get());
  auto* server = static_cast<TcpSocket*>(c.server.get());
  EXPECT_EQ(client->CheckInvariants(), "");
  EXPECT_EQ(server->CheckInvariants(), "");
  c.client->Close();
  c.server->Close();
  c.listener->Close();
  // Both sides finish: one in TIME-WAIT until it expires, the other closed.
  EXPECT_TRUE(pair.RunUntil([&] {
    return pair.a().tcp().connections() == 0 && pair.b().tcp().connections() == 0;
  }, absl::Minutes(3)));
}

TEST(TcpTransfer, CleanLinkBothWays) {
  TcpPair pair;
  Transfer(pair, 8 << 20, 8 << 20, absl::Minutes(2));
}

TEST(TcpTransfer, ImpairedLinkBothWays) {
  TcpPair pair("loss=2%,reorder=1%,dup=0.5%,delay=1ms,seed=3");
  Transfer(pair, 4 << 20, 4 << 20, absl::Minutes(20));
}

}  // namespace
}  // namespace netshim::testing
