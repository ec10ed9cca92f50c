// The stack's loopback (Linux `lo`): TCP and UDP to 127.0.0.0/8 and to the stack's own
// address are delivered to the stack itself through the loopback queue, byte-exact, with
// nothing on the link and no ARP; the errors Linux gives (ECONNREFUSED by RST or ICMP port
// unreachable, EINVAL for a 127/8 source towards the link, EADDRNOTAVAIL); the martian
// checks that keep 127/8 off the wire; the bounded queue's drops; and the same with the
// dispatch thread and blocking application threads.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stack/net/loopback_delivery.h"
#include "stack/socket/socket_waiter.h"
#include "stack/wire/udp.h"
#include "tests/packet/stack_fixture.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

const Ipv4Address kLo = *Ipv4Address::Parse("127.0.0.1");
const Ipv4Address kLo5 = *Ipv4Address::Parse("127.0.0.5");
constexpr uint8_t kUdp = 17;

uint8_t PatternByte(uint64_t i, uint32_t seed) {
  uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t{seed} << 32);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return static_cast<uint8_t>(x >> (8 * (i % 8)));
}

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = PatternByte(i, seed);
  return v;
}

int GetInt(Socket& s, int level, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(s.GetSockOpt(level, name, &value, &len), 0);
  return value;
}

SocketAddress SockName(const Socket& s) {
  SocketAddress a;
  EXPECT_EQ(s.GetSockName(&a), 0);
  return a;
}

SocketAddress PeerName(const Socket& s) {
  SocketAddress a;
  EXPECT_EQ(s.GetPeerName(&a), 0);
  return a;
}

ssize_t SendTo(Socket& s, const std::vector<uint8_t>& data, std::optional<SocketAddress> to) {
  iovec v{const_cast<uint8_t*>(data.data()), data.size()};
  MessageInfo info;
  info.peer = to;
  return s.SendMsg({&v, 1}, info, MSG_DONTWAIT);
}

ssize_t RecvFrom(Socket& s, std::vector<uint8_t>* out, SocketAddress* from) {
  out->assign(70000, 0);
  iovec v{out->data(), out->size()};
  MessageInfo info;
  const ssize_t n = s.RecvMsg({&v, 1}, info, MSG_DONTWAIT);
  out->resize(n < 0 ? 0 : static_cast<size_t>(n));
  if (from && info.peer) *from = *info.peer;
  return n;
}

// A stack on a ChannelLink of its own; `offloads` makes the link claim checksum offload and
// TSO, so TCP leaves partial checksums and sends 64 KiB GSO frames, which loopback must
// deliver whole and unchecked (Linux: CHECKSUM_UNNECESSARY).
class LoopbackTest : public StackTest {
 protected:
  void TearDown() override {
    for (auto& s : sockets_) s->Close();
    sockets_.clear();
  }

  void BuildWithOffloads() {
    stack_.reset();
    StackOptions options;
    options.address = Ipv4Cidr{kStackIp, 24};
    options.gateway = kGatewayIp;
    options.mac = kStackMac;
    options.clock = &clock_;
    auto link = std::make_unique<ChannelLink>(options.mtu);
    link->SetOffloads(LinkOffloads{.tx_checksum = true, .tso_max_packet = 65535});
    link_ = link.get();
    stack_ = StackOnLink(options, std::move(link));
    ASSERT_TRUE(stack_);
  }

  std::shared_ptr<Socket> New(int type) {
    int err = 1;
    auto s = stack_->CreateSocket(type, 0, &err);
    EXPECT_EQ(err, 0);
    EXPECT_NE(s, nullptr);
    sockets_.push_back(s);
    return s;
  }

  std::shared_ptr<Socket> Listener(SocketAddress at) {
    auto l = New(SOCK_STREAM);
    EXPECT_EQ(l->Bind(at), 0);
    EXPECT_EQ(l->Listen(16), 0);
    return l;
  }

  struct Conn {
    std::shared_ptr<Socket> client, server;
  };
  // Connects a new client (bound first to `bind_to` if given) to `to`, where `listener`
  // listens, driving the stack by hand.
  Conn Connect(Socket& listener, SocketAddress to, std::optional<SocketAddress> bind_to = {}) {
    Conn c;
    c.client = New(SOCK_STREAM);
    if (bind_to) {
      EXPECT_EQ(c.client->Bind(*bind_to), 0);
    }
    EXPECT_EQ(c.client->Connect(to), -EINPROGRESS);
    Run();
    EXPECT_TRUE(c.client->Poll() & POLLOUT);
    EXPECT_EQ(GetInt(*c.client, SOL_SOCKET, SO_ERROR), 0);
    int err = 0;
    SocketAddress peer;
    c.server = listener.Accept(&peer, &err);
    EXPECT_NE(c.server, nullptr) << err;
    if (c.server) {
      sockets_.push_back(c.server);
      EXPECT_EQ(peer, SockName(*c.client)) << "accept()'s peer is the client's name";
    }
    return c;
  }

  // Sends `total` pattern bytes from tx to rx and back from rx to tx (a short reply), then
  // closes both ways; checks every byte. Single-threaded: the stack runs between calls,
  // and the clock moves only when nothing moved (delayed ACKs, window updates).
  void Transfer(Socket& tx, Socket& rx, size_t total) {
    const std::vector<uint8_t> data = Pattern(total, 7);
    std::vector<uint8_t> got;
    got.reserve(total);
    std::vector<uint8_t> buf(256 * 1024);
    size_t sent = 0;
    bool shut = false, eof = false;
    for (int round = 0; round < 200000 && !eof; ++round) {
      bool moved = false;
      while (sent < total) {
        const ssize_t n = SendBytes(tx, data.data() + sent, total - sent);
        if (n <= 0) {
          ASSERT_EQ(n, -EAGAIN) << strerror(static_cast<int>(-n));
          break;
        }
        sent += static_cast<size_t>(n);
        moved = true;
      }
      if (sent == total && !shut) {
        ASSERT_EQ(tx.Shutdown(SHUT_WR), 0);
        shut = true;
      }
      Run();
      for (;;) {
        const ssize_t n = RecvBytes(rx, buf.data(), buf.size());
        if (n == -EAGAIN) break;
        ASSERT_GE(n, 0) << strerror(static_cast<int>(-n));
        if (n == 0) {
          eof = true;
          break;
        }
        got.insert(got.end(), buf.begin(), buf.begin() + n);
        moved = true;
      }
      if (!moved) Advance(absl::Milliseconds(50));
    }
    ASSERT_TRUE(eof) << "received " << got.size() << " of " << total;
    ASSERT_EQ(got.size(), total);
    EXPECT_TRUE(got == data) << "bytes differ";
    // The reply, the other way.
    const std::string reply = "done";
    ASSERT_EQ(SendBytes(rx, reinterpret_cast<const uint8_t*>(reply.data()), reply.size()),
              static_cast<ssize_t>(reply.size()));
    Run();
    char back[16] = {};
    ASSERT_EQ(RecvBytes(tx, reinterpret_cast<uint8_t*>(back), sizeof(back)), 4);
    EXPECT_EQ(std::string(back, 4), reply);
  }

  // The link saw nothing at all: no frame written, no ARP.
  void ExpectNothingOnLink() {
    EXPECT_EQ(link_->total_sent(), 0u);
    EXPECT_TRUE(link_->TakeSent().empty());
    EXPECT_EQ(stats().arp.OutRequests.value(), 0u);
    EXPECT_EQ(stats().link.TxFrames.value(), 0u);
  }

  std::vector<std::shared_ptr<Socket>> sockets_;
};

// --- TCP ---

class LoopbackTcpTest : public LoopbackTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    LoopbackTest::SetUp();
    if (GetParam()) BuildWithOffloads();
  }
};

TEST_P(LoopbackTcpTest, TransferOver127001) {
  auto listener = Listener({Ipv4Address::Any(), 5000});
  Conn c = Connect(*listener, {kLo, 5000});
  ASSERT_TRUE(c.server);
  // Linux picks the source from the lo route ("src 127.0.0.1").
  const SocketAddress client_name = SockName(*c.client);
  EXPECT_EQ(client_name.address, kLo);
  EXPECT_NE(client_name.port, 0);
  EXPECT_EQ(PeerName(*c.client), (SocketAddress{kLo, 5000}));
  EXPECT_EQ(SockName(*c.server), (SocketAddress{kLo, 5000}));
  EXPECT_EQ(PeerName(*c.server), client_name);

  Transfer(*c.client, *c.server, 4 << 20);
  ExpectNothingOnLink();
  EXPECT_GT(stats().ip.LoopbackPackets.value(), 100u);
  EXPECT_EQ(stats().ip.LoopbackDrops.value(), 0u);
  EXPECT_EQ(stats().tcp.InCsumErrors.value(), 0u);
  EXPECT_EQ(stats().tcp.InErrs.value(), 0u);
  if (GetParam()) {
    // Partial checksums were never finished, and big GSO frames went through whole.
    EXPECT_LT(stats().ip.LoopbackPackets.value(), (4u << 20) / 1448);
  }
}

TEST_P(LoopbackTcpTest, TransferToOwnAddress) {
  auto listener = Listener({Ipv4Address::Any(), 5000});
  Conn c = Connect(*listener, {kStackIp, 5000});
  ASSERT_TRUE(c.server);
  const SocketAddress client_name = SockName(*c.client);
  EXPECT_EQ(client_name.address, kStackIp) << "the own address's route has it as source";
  EXPECT_EQ(PeerName(*c.client), (SocketAddress{kStackIp, 5000}));
  EXPECT_EQ(SockName(*c.server), (SocketAddress{kStackIp, 5000}));
  EXPECT_EQ(PeerName(*c.server), client_name);

  Transfer(*c.server, *c.client, 3 << 20);
  ExpectNothingOnLink();
  EXPECT_EQ(stats().tcp.InCsumErrors.value(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Offloads, LoopbackTcpTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "WithOffloads" : "NoOffloads";
                         });

TEST_F(LoopbackTest, TcpClosedPortIsRefused) {
  for (Ipv4Address dst : {kLo, kLo5, kStackIp}) {
    auto s = New(SOCK_STREAM);
    ASSERT_EQ(s->Connect({dst, 5999}), -EINPROGRESS);
    Run();  // the SYN, and the RST it provokes, both through the loopback queue
    EXPECT_TRUE(s->Poll() & POLLERR) << dst.ToString();
    EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR), ECONNREFUSED) << dst.ToString();
  }
  EXPECT_EQ(stats().tcp.OutRsts.value(), 3u);
  ExpectNothingOnLink();
}

TEST_F(LoopbackTest, TcpBindAnywhereIn127Slash8) {
  // Linux puts all of 127/8 on lo, so any of it can be bound.
  auto listener = Listener({kLo5, 6000});
  EXPECT_EQ(SockName(*listener), (SocketAddress{kLo5, 6000}));
  Conn c = Connect(*listener, {kLo5, 6000});
  ASSERT_TRUE(c.server);
  EXPECT_EQ(SockName(*c.client).address, kLo) << "source from the lo route, not the dst";
  EXPECT_EQ(SockName(*c.server), (SocketAddress{kLo5, 6000}));
  EXPECT_EQ(PeerName(*c.server), SockName(*c.client));
  Transfer(*c.client, *c.server, 256 * 1024);

  // A client bound to 127.0.0.5 keeps that source.
  Conn d = Connect(*listener, {kLo5, 6000}, SocketAddress{kLo5, 0});
  ASSERT_TRUE(d.server);
  EXPECT_EQ(SockName(*d.client).address, kLo5);
  EXPECT_EQ(PeerName(*d.server).address, kLo5);

  // The listener took 127.0.0.5 only: 127.0.0.1:6000 has nobody.
  auto other = New(SOCK_STREAM);
  ASSERT_EQ(other->Connect({kLo, 6000}), -EINPROGRESS);
  Run();
  EXPECT_EQ(GetInt(*other, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
  ExpectNothingOnLink();
}

TEST_F(LoopbackTest, BindToForeignAddressStaysUnavailable) {
  const Ipv4Address foreign = *Ipv4Address::Parse("198.18.0.77");
  EXPECT_EQ(New(SOCK_STREAM)->Bind({foreign, 0}), -EADDRNOTAVAIL);
  EXPECT_EQ(New(SOCK_DGRAM)->Bind({foreign, 0}), -EADDRNOTAVAIL);
  EXPECT_EQ(New(SOCK_STREAM)->Bind({kLo, 0}), 0);
  EXPECT_EQ(New(SOCK_DGRAM)->Bind({*Ipv4Address::Parse("127.255.255.254"), 0}), 0);
}

TEST_F(LoopbackTest, LoopbackSourceNeverLeavesByTheLink) {
  // __mkroute_output: a 127/8 source towards a non-loopback device is EINVAL.
  auto t = New(SOCK_STREAM);
  ASSERT_EQ(t->Bind({kLo, 0}), 0);
  EXPECT_EQ(t->Connect({kPeerIp, 80}), -EINVAL);
  auto u = New(SOCK_DGRAM);
  ASSERT_EQ(u->Bind({kLo, 0}), 0);
  EXPECT_EQ(SendTo(*u, {1, 2, 3}, SocketAddress{kPeerIp, 53}), -EINVAL);
  EXPECT_EQ(u->Connect({kPeerIp, 53}), -EINVAL);
  Run();
  EXPECT_EQ(link_->total_sent(), 0u);
  // ...but it may send to our own address (still loopback).
  auto v = New(SOCK_DGRAM);
  ASSERT_EQ(v->Bind({kStackIp, 7100}), 0);
  EXPECT_EQ(SendTo(*u, {1, 2, 3}, SocketAddress{kStackIp, 7100}), 3);
  Run();
  std::vector<uint8_t> got;
  SocketAddress from;
  EXPECT_EQ(RecvFrom(*v, &got, &from), 3);
  EXPECT_EQ(from.address, kLo);
  ExpectNothingOnLink();
}

TEST_F(LoopbackTest, TcpConnectsToItself) {
  // Linux allows a socket to connect to its own address and port (simultaneous open with
  // itself): every segment it sends comes back to the same socket, under the dispatcher.
  auto s = New(SOCK_STREAM);
  ASSERT_EQ(s->Bind({kLo, 6100}), 0);
  ASSERT_EQ(s->Connect({kLo, 6100}), -EINPROGRESS);
  Run();
  ASSERT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR), 0);
  EXPECT_EQ(PeerName(*s), (SocketAddress{kLo, 6100}));
  const std::vector<uint8_t> data = Pattern(100000, 3);
  std::vector<uint8_t> got(data.size() + 1);
  size_t have = 0, sent = 0;
  for (int i = 0; i < 1000 && have < data.size(); ++i) {
    if (sent < data.size()) {
      const ssize_t n = SendBytes(*s, data.data() + sent, data.size() - sent);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    Run();
    const ssize_t n = RecvBytes(*s, got.data() + have, got.size() - have);
    if (n > 0) {
      have += static_cast<size_t>(n);
    } else {
      ASSERT_EQ(n, -EAGAIN);
      Advance(absl::Milliseconds(50));
    }
  }
  got.resize(have);
  EXPECT_TRUE(got == data);
  ExpectNothingOnLink();
}

// --- UDP ---

TEST_F(LoopbackTest, UdpBothWays) {
  for (Ipv4Address server_at : {kLo, kStackIp}) {
    SCOPED_TRACE(server_at.ToString());
    auto server = New(SOCK_DGRAM);
    ASSERT_EQ(server->Bind({Ipv4Address::Any(), 7000}), 0);
    auto client = New(SOCK_DGRAM);
    const std::vector<uint8_t> ping = Pattern(1000, 1);
    // Bigger than the link's MTU: loopback's 64 KiB MTU carries it unfragmented.
    const std::vector<uint8_t> big = Pattern(60000, 2);
    ASSERT_EQ(SendTo(*client, ping, SocketAddress{server_at, 7000}), 1000);
    ASSERT_EQ(SendTo(*client, big, SocketAddress{server_at, 7000}), 60000);
    Run();
    std::vector<uint8_t> got;
    SocketAddress from;
    ASSERT_EQ(RecvFrom(*server, &got, &from), 1000);
    EXPECT_TRUE(got == ping);
    EXPECT_EQ(from, (SocketAddress{server_at, SockName(*client).port}))
        << "source: 127.0.0.1 towards 127/8, the own address towards it";
    ASSERT_EQ(RecvFrom(*server, &got, &from), 60000);
    EXPECT_TRUE(got == big);

    const std::vector<uint8_t> pong = Pattern(500, 9);
    ASSERT_EQ(SendTo(*server, pong, from), 500);
    Run();
    SocketAddress reply_from;
    ASSERT_EQ(RecvFrom(*client, &got, &reply_from), 500);
    EXPECT_TRUE(got == pong);
    EXPECT_EQ(reply_from, (SocketAddress{server_at, 7000}));
    server->Close();
    client->Close();
  }
  EXPECT_EQ(stats().ip.FragCreates.value(), 0u);
  EXPECT_EQ(stats().udp.InCsumErrors.value(), 0u);
  ExpectNothingOnLink();
}

TEST_F(LoopbackTest, UdpConnectedNames) {
  auto a = New(SOCK_DGRAM);
  ASSERT_EQ(a->Bind({kLo5, 7001}), 0);
  auto b = New(SOCK_DGRAM);
  ASSERT_EQ(b->Connect({kLo5, 7001}), 0);
  EXPECT_EQ(SockName(*b).address, kLo) << "connect() takes the lo route's source";
  EXPECT_EQ(PeerName(*b), (SocketAddress{kLo5, 7001}));
  ASSERT_EQ(a->Connect(SockName(*b)), 0);
  ASSERT_EQ(SendTo(*b, {1, 2, 3}, std::nullopt), 3);
  ASSERT_EQ(SendTo(*a, {4, 5}, std::nullopt), 2);
  Run();
  std::vector<uint8_t> got;
  EXPECT_EQ(RecvFrom(*a, &got, nullptr), 3);
  EXPECT_EQ(RecvFrom(*b, &got, nullptr), 2);
  ExpectNothingOnLink();
}

TEST_F(LoopbackTest, UdpConnectedWithoutPeerIsRefused) {
  for (Ipv4Address dst : {kLo, kStackIp}) {
    SCOPED_TRACE(dst.ToString());
    auto s = New(SOCK_DGRAM);
    ASSERT_EQ(s->Connect({dst, 7002}), 0);
    ASSERT_EQ(SendTo(*s, {1, 2, 3}, std::nullopt), 3);
    Run();  // the datagram, then ICMP port unreachable, both through the loopback queue
    EXPECT_TRUE(s->Poll() & POLLERR);
    std::vector<uint8_t> got;
    EXPECT_EQ(RecvFrom(*s, &got, nullptr), -ECONNREFUSED);
    // An unconnected socket is not told (Linux without IP_RECVERR).
    auto u = New(SOCK_DGRAM);
    ASSERT_EQ(SendTo(*u, {1}, SocketAddress{dst, 7002}), 1);
    Run();
    EXPECT_FALSE(u->Poll() & POLLERR);
    EXPECT_EQ(SendTo(*u, {1}, SocketAddress{dst, 7002}), 1);
  }
  EXPECT_GE(stats().udp.NoPorts.value(), 2u);
  EXPECT_GE(stats().icmp.OutDestUnreachs.value(), 2u);
  ExpectNothingOnLink();
}

// --- the wire side ---

TEST_F(LoopbackTest, WireDatagramsNaming127AreMartians) {
  auto s = New(SOCK_DGRAM);
  ASSERT_EQ(s->Bind({Ipv4Address::Any(), 7003}), 0);
  auto udp = [](Ipv4Address src, Ipv4Address dst) {
    Bytes seg(kUdpHeaderSize);
    const Bytes payload = {'h', 'i'};
    UdpHeader{1234, 7003, static_cast<uint16_t>(kUdpHeaderSize + payload.size()), 0}.Write(seg);
    seg.insert(seg.end(), payload.begin(), payload.end());
    Store16(&seg[6], UdpChecksum(src, dst, seg));
    Ipv4Spec spec;
    spec.protocol = kUdp;
    spec.src = src;
    spec.dst = dst;
    return EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(spec, seg));
  };
  const uint64_t addr_errors = stats().ip.InAddrErrors.value();
  Inject(udp(kLo, kStackIp));       // martian source
  Inject(udp(kPeerIp, kLo));        // martian destination
  Inject(udp(kLo, kLo));            // both
  Inject(udp(kStackIp, kStackIp));  // our own address from the wire
  Run();
  EXPECT_EQ(stats().ip.InAddrErrors.value(), addr_errors + 4);
  std::vector<uint8_t> got;
  EXPECT_EQ(RecvFrom(*s, &got, nullptr), -EAGAIN);
  EXPECT_EQ(stats().ip.LoopbackPackets.value(), 0u);
  // A control: the same from the peer to our address is delivered.
  Inject(udp(kPeerIp, kStackIp));
  Run();
  EXPECT_EQ(RecvFrom(*s, &got, nullptr), 2);
}

// --- the queue ---

TEST_F(LoopbackTest, FullQueueDropsAreCounted) {
  auto server = New(SOCK_DGRAM);
  ASSERT_EQ(server->Bind({kLo, 7004}), 0);
  auto client = New(SOCK_DGRAM);
  // Nothing drains the queue while the stack is not run: past its bound datagrams are
  // dropped, and the sender is not told (loopback_xmit ignores what netif_rx says).
  const uint64_t cap = LoopbackDelivery::Limits{}.max_packets;
  const uint64_t sent = cap + 300;
  for (uint64_t i = 0; i < sent; ++i) {
    ASSERT_EQ(SendTo(*client, {static_cast<uint8_t>(i)}, SocketAddress{kLo, 7004}), 1);
  }
  EXPECT_EQ(stack_->ipv4().loopback().queued(), cap);
  EXPECT_EQ(stats().ip.LoopbackPackets.value(), cap);
  EXPECT_EQ(stats().ip.LoopbackDrops.value(), sent - cap);
  EXPECT_EQ(stats().udp.OutDatagrams.value(), sent);
  Run();
  EXPECT_EQ(stack_->ipv4().loopback().queued(), 0u);
  // The first ones arrived, in order (as many as the receive buffer holds).
  std::vector<uint8_t> got;
  uint64_t received = 0;
  while (RecvFrom(*server, &got, nullptr) == 1) {
    ASSERT_EQ(got[0], static_cast<uint8_t>(received));
    ++received;
  }
  EXPECT_GT(received, 50u);
  EXPECT_EQ(received + stats().udp.RcvbufErrors.value(), cap);
  ExpectNothingOnLink();
}

TEST(LoopbackDeliveryTest, BoundedByBytesAndWakesOnFirst) {
  IpStats stats;
  LoopbackDelivery q(stats, LoopbackDelivery::Limits{.max_packets = 10, .max_bytes = 3000});
  int wakes = 0;
  q.SetWakeCallback([&wakes] { ++wakes; });
  auto packet = [](size_t n) {
    PacketBuffer b = PacketBuffer::Heap(n);
    b.Append(n);
    return b;
  };
  EXPECT_TRUE(q.Enqueue(packet(1000)));
  EXPECT_TRUE(q.Enqueue(packet(1000)));
  EXPECT_TRUE(q.Enqueue(packet(1000)));
  EXPECT_FALSE(q.Enqueue(packet(1))) << "over max_bytes";
  EXPECT_EQ(wakes, 1) << "only the first of a burst wakes the dispatcher";
  EXPECT_EQ(stats.LoopbackDrops.value(), 1u);
  std::vector<size_t> sizes;
  EXPECT_EQ(q.Drain(2, [&](PacketBuffer p) { sizes.push_back(p.size()); }), 2u);
  EXPECT_EQ(q.queued(), 1u);
  // Delivering may queue more (a reply): it is taken in the same drain, within the budget.
  EXPECT_EQ(q.Drain(5,
                    [&](PacketBuffer p) {
                      sizes.push_back(p.size());
                      if (sizes.size() < 5) q.Enqueue(packet(10));
                    }),
            3u);
  EXPECT_EQ(sizes, (std::vector<size_t>{1000, 1000, 1000, 10, 10}));
  EXPECT_EQ(wakes, 3) << "each time the queue went empty, then got one again";
  EXPECT_EQ(q.queued(), 0u);
}

// --- with the dispatch thread ---

// Blocking application threads (SocketWaiter) and the real dispatcher on the real clock:
// the sender transmits under its socket's lock, the dispatcher delivers; nothing may
// deadlock, and the wake-up must not be lost.
TEST(LoopbackThreadedTest, BlockingTransferOverLoopback) {
  constexpr absl::Duration kLimit = absl::Seconds(30);
  StackOptions options;
  options.address = Ipv4Cidr{kStackIp, 24};
  auto link = std::make_unique<ChannelLink>(1500);
  ChannelLink* raw_link = link.get();
  std::unique_ptr<Stack> stack = StackOnLink(options, std::move(link));
  ASSERT_TRUE(stack);
  ASSERT_TRUE(stack->Start().ok());

  auto listener = NewTcpSocket(*stack);
  ASSERT_EQ(listener->Bind({Ipv4Address::Any(), 8000}), 0);
  ASSERT_EQ(listener->Listen(4), 0);
  constexpr size_t kTotal = 8 << 20;
  std::vector<uint8_t> received;
  std::thread server([&] {
    std::shared_ptr<Socket> conn;
    {
      SocketWaiter waiter(*listener, POLLIN);
      int err = 0;
      for (int i = 0; i < 100 && !conn; ++i) {
        conn = listener->Accept(nullptr, &err);
        if (!conn && waiter.Wait(kLimit) != 0) break;
      }
    }
    if (!conn) return;
    SocketWaiter waiter(*conn, POLLIN);
    std::vector<uint8_t> buf(64 * 1024);
    for (;;) {
      const ssize_t n = RecvBytes(*conn, buf.data(), buf.size());
      if (n > 0) {
        received.insert(received.end(), buf.begin(), buf.begin() + n);
      } else if (n == 0 || n != -EAGAIN || waiter.Wait(kLimit) != 0) {
        break;
      }
    }
    conn->Close();
  });

  auto client = NewTcpSocket(*stack);
  ASSERT_EQ(client->Connect({kLo, 8000}), -EINPROGRESS);
  {
    SocketWaiter waiter(*client, POLLOUT);
    while (!(client->Poll() & POLLOUT)) ASSERT_EQ(waiter.Wait(kLimit), 0);
  }
  EXPECT_EQ(GetInt(*client, SOL_SOCKET, SO_ERROR), 0);
  const std::vector<uint8_t> data = Pattern(kTotal, 11);
  {
    SocketWaiter waiter(*client, POLLOUT);
    size_t sent = 0;
    while (sent < kTotal) {
      const ssize_t n = SendBytes(*client, data.data() + sent, kTotal - sent);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else {
        ASSERT_EQ(n, -EAGAIN);
        ASSERT_EQ(waiter.Wait(kLimit), 0) << "sent " << sent;
      }
    }
  }
  ASSERT_EQ(client->Shutdown(SHUT_WR), 0);
  server.join();
  EXPECT_EQ(received.size(), kTotal);
  EXPECT_TRUE(received == data);
  client->Close();
  listener->Close();
  stack->Stop();
  // Start() announces our address (gratuitous ARP); nothing else may reach the link.
  for (const auto& frame : raw_link->TakeSent()) {
    EXPECT_FALSE(Dissect(frame).ip.has_value()) << "an IPv4 frame reached the link";
  }
  EXPECT_EQ(stack->stats().ip.LoopbackDrops.value(), 0u);
}

// Each datagram must be delivered promptly by the running dispatcher, woken by the
// enqueue: UDP has no timers that would wake it otherwise, so a lost wake-up shows as a
// round trip waiting for some unrelated deadline (or forever).
TEST(LoopbackThreadedTest, UdpPingPongIsWokenPromptly) {
  StackOptions options;
  options.address = Ipv4Cidr{kStackIp, 24};
  std::unique_ptr<Stack> stack = StackOnLink(options, std::make_unique<ChannelLink>(1500));
  ASSERT_TRUE(stack);
  ASSERT_TRUE(stack->Start().ok());
  int err = 0;
  auto echo = stack->CreateSocket(SOCK_DGRAM, 0, &err);
  auto client = stack->CreateSocket(SOCK_DGRAM, 0, &err);
  ASSERT_TRUE(echo && client);
  ASSERT_EQ(echo->Bind({kLo, 7500}), 0);
  ASSERT_EQ(client->Connect({kLo, 7500}), 0);
  std::atomic<bool> stop{false};
  std::thread server([&] {
    SocketWaiter waiter(*echo, POLLIN);
    std::vector<uint8_t> buf;
    SocketAddress from;
    while (!stop.load()) {
      if (RecvFrom(*echo, &buf, &from) > 0) {
        SendTo(*echo, buf, from);
      } else {
        waiter.Wait(absl::Seconds(1));
      }
    }
  });
  constexpr int kRounds = 200;
  int done = 0;
  absl::Duration worst;
  {
    SocketWaiter waiter(*client, POLLIN);
    for (; done < kRounds; ++done) {
      const absl::Time start = absl::Now();
      ASSERT_EQ(SendTo(*client, {static_cast<uint8_t>(done)}, std::nullopt), 1);
      std::vector<uint8_t> got;
      while (RecvFrom(*client, &got, nullptr) != 1) {
        if (waiter.Wait(absl::Seconds(2)) != 0) break;
      }
      if (got.size() != 1) break;
      ASSERT_EQ(got[0], static_cast<uint8_t>(done));
      worst = std::max(worst, absl::Now() - start);
    }
  }
  stop.store(true);
  echo->Close();  // wakes the server's waiter (POLLHUP/readiness) or its 1 s timeout ends
  server.join();
  client->Close();
  stack->Stop();
  EXPECT_EQ(done, kRounds) << "a datagram sat in the loopback queue";
  EXPECT_LT(worst, absl::Milliseconds(500)) << "a round trip waited for something else";
}

}  // namespace
}  // namespace netshim::testing
