// TCP end to end between two stacks: handshake, bulk transfer both ways (byte-exact), and
// the same over a lossy, reordering, duplicating, delaying link.
#include <netinet/in.h>

#include <cstring>
#include <iostream>

#include "gtest/gtest.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

// A reproducible byte stream: byte i of stream `seed`, computed on the fly so that 100 MiB
// transfers need no 100 MiB buffers.
uint8_t PatternByte(uint64_t i, uint32_t seed) {
  uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t{seed} << 32);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> (8 * (i % 8)));
}

// One direction of a transfer: writes the pattern, shuts down, reads and checks it.
struct Stream {
  Stream(Socket& tx, Socket& rx, uint64_t total, uint32_t seed)
      : tx(tx), rx(rx), total(total), seed(seed) {}
  Socket& tx;
  Socket& rx;
  uint64_t total;
  uint32_t seed;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool shut = false;
  bool eof = false;
  bool mismatch = false;

  // The next bytes to write, generated once (a pump round that cannot write is cheap).
  std::vector<uint8_t> chunk;
  uint64_t chunk_at = 0;

  void Pump(std::vector<uint8_t>& buf) {
    while (sent < total && (tx.Poll() & POLLOUT)) {
      if (chunk.empty() || sent < chunk_at || sent >= chunk_at + chunk.size()) {
        chunk.resize(static_cast<size_t>(std::min<uint64_t>(total - sent, 65536)));
        chunk_at = sent;
        for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = PatternByte(sent + i, seed);
      }
      const size_t off = static_cast<size_t>(sent - chunk_at);
      const ssize_t r = SendBytes(tx, chunk.data() + off, chunk.size() - off);
      if (r <= 0) {
        ASSERT_EQ(r, -EAGAIN) << strerror(static_cast<int>(-r));
        break;
      }
      sent += static_cast<uint64_t>(r);
    }
    if (sent == total && !shut) {
      EXPECT_EQ(tx.Shutdown(SHUT_WR), 0);
      shut = true;
    }
    while (!eof) {
      const ssize_t r = RecvBytes(rx, buf.data(), buf.size());
      if (r == -EAGAIN) break;
      ASSERT_GE(r, 0) << strerror(static_cast<int>(-r));
      if (r == 0) {
        eof = true;
        break;
      }
      for (ssize_t i = 0; i < r && !mismatch; ++i) {
        if (buf[i] != PatternByte(received + i, seed)) {
          ADD_FAILURE() << "byte " << received + i << " differs";
          mismatch = true;
        }
      }
      received += static_cast<uint64_t>(r);
    }
  }
  bool done() const { return eof || mismatch; }
};

// Moves `a_to_b` bytes from client to server and `b_to_a` back, concurrently, each side
// shutting down after its last byte; checks every byte and that both ends finish.
void Transfer(TcpPair& pair, uint64_t a_to_b, uint64_t b_to_a, absl::Duration limit) {
  auto c = pair.Connect();
  ASSERT_TRUE(c.client && c.server);
  Stream up(*c.client, *c.server, a_to_b, 1);
  Stream down(*c.server, *c.client, b_to_a, 2);
  std::vector<uint8_t> buf(256 * 1024);
  const bool done = pair.RunUntil(
      [&] {
        up.Pump(buf);
        down.Pump(buf);
        return up.done() && down.done();
      },
      limit);
  auto* client = static_cast<TcpSocket*>(c.client.get());
  auto* server = static_cast<TcpSocket*>(c.server.get());
  EXPECT_TRUE(done) << "up " << up.sent << "/" << a_to_b << " got " << up.received << "; down "
                    << down.sent << "/" << b_to_a << " got " << down.received << "; client "
                    << TcpStateName(client->state()) << " server " << TcpStateName(server->state())
                    << "\nclient: " << client->DebugString()
                    << "\nserver: " << server->DebugString() << "\nat " << pair.clock().Now()
                    << "\nA:\n"
                    << pair.a().stats().FormatTable() << "B:\n"
                    << pair.b().stats().FormatTable();
  EXPECT_FALSE(up.mismatch || down.mismatch);
  EXPECT_EQ(up.received, a_to_b);
  EXPECT_EQ(down.received, b_to_a);
  EXPECT_EQ(client->CheckInvariants(), "");
  EXPECT_EQ(server->CheckInvariants(), "");
  c.client->Close();
  c.server->Close();
  c.listener->Close();
  // Both ends finish: one after TIME-WAIT, the other at once.
  EXPECT_TRUE(pair.RunUntil(
      [&] { return pair.a().tcp().connections() == 0 && pair.b().tcp().connections() == 0; },
      absl::Minutes(3)));
}

constexpr uint64_t kMiB = 1 << 20;

TEST(TcpTransfer, CleanLink100MiBEachWay) {
  TcpPair pair;
  Transfer(pair, 100 * kMiB, 100 * kMiB, absl::Minutes(10));
  EXPECT_EQ(pair.a().stats().tcp.RetransSegs.value(), 0u);
  EXPECT_EQ(pair.b().stats().tcp.RetransSegs.value(), 0u);
}

// With TSO and checksum offload (the links finish checksums and cut 64 KiB frames in
// software, as the kernel does behind a TAP): byte-exact both ways, and the frames really
// were large ones, with every segment the peer got checksummed right (a bad one would be
// dropped and retransmitted).
TEST(TcpTransfer, TsoAndChecksumOffload32MiBEachWay) {
  TcpPair pair("", {}, LinkOffloads{.tx_checksum = true, .tso_max_packet = 65535});
  Transfer(pair, 32 * kMiB, 32 * kMiB, absl::Minutes(10));
  for (Stack* s : {&pair.a(), &pair.b()}) {
    EXPECT_GT(s->stats().link.TxGsoFrames.value(), 100u);
    EXPECT_EQ(s->stats().link.TxChecksumOffloaded.value(), s->stats().link.TxFrames.value() -
                                                               s->stats().arp.OutRequests.value() -
                                                               s->stats().arp.OutReplies.value());
    EXPECT_EQ(s->stats().tcp.InCsumErrors.value(), 0u);
    EXPECT_EQ(s->stats().tcp.RetransSegs.value(), 0u);
    // Segments on the wire far outnumber the frames the stack handed its link.
    EXPECT_GT(s->stats().tcp.OutSegs.value(), 10 * s->stats().link.TxGsoFrames.value());
  }
}

// Checksum offload alone: every frame MTU-sized, checksums finished by the link.
TEST(TcpTransfer, ChecksumOffloadWithoutTso) {
  TcpPair pair("", {}, LinkOffloads{.tx_checksum = true, .tso_max_packet = 0});
  Transfer(pair, 8 * kMiB, 8 * kMiB, absl::Minutes(10));
  for (Stack* s : {&pair.a(), &pair.b()}) {
    EXPECT_EQ(s->stats().link.TxGsoFrames.value(), 0u);
    EXPECT_GT(s->stats().link.TxChecksumOffloaded.value(), 1000u);
    EXPECT_EQ(s->stats().tcp.InCsumErrors.value(), 0u);
  }
}

// Loss, reordering, duplication and delay in both directions (the impaired link is A's,
// which impairs what it sends and what it receives).
TEST(TcpTransfer, Loss2PercentReorderDupDelay100MiBEachWay) {
  TcpPair pair("loss=2%,reorder=1%,dup=0.5%,delay=1ms,seed=3");
  Transfer(pair, 100 * kMiB, 100 * kMiB, absl::Hours(2));
  EXPECT_GT(pair.a().stats().tcp.RetransSegs.value(), 0u);
  EXPECT_GT(pair.b().stats().tcp.RetransSegs.value(), 0u);
}

TEST(TcpTransfer, Loss5PercentBothWays) {
  TcpPair pair("loss=5%,reorder=2%,delay=2ms,jitter=1ms,seed=11");
  Transfer(pair, 20 * kMiB, 20 * kMiB, absl::Hours(2));
}

TEST(TcpTransfer, Loss1PercentOneWay) {
  TcpPair pair("tx.loss=1%,seed=5");
  Transfer(pair, 50 * kMiB, 0, absl::Hours(1));
}

}  // namespace
}  // namespace netshim::testing
