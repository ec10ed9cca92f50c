// UDP against crafted frames: datagrams in and out field by field, demux, ICMP both ways,
// checksums, fragments, buffer limits, broadcast, the socket API's errno values, and two
// stacks talking over a channel pair with their dispatcher threads.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "stack/socket/socket_waiter.h"
#include "stack/transport/udp/udp_socket.h"
#include "stack/wire/udp.h"
#include "tests/packet/stack_fixture.h"

namespace netshim::testing {
namespace {

constexpr uint8_t kUdp = 17;
const Ipv4Address kSubnetBroadcast = *Ipv4Address::Parse("198.18.0.255");

Bytes Data(size_t n, uint8_t seed = 3) {
  Bytes d(n);
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(i * 7 + seed);
  return d;
}

Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A UDP header + payload with a correct checksum (or none).
Bytes UdpSegment(Ipv4Address src, Ipv4Address dst, uint16_t sport, uint16_t dport,
                 const Bytes& payload, bool checksum = true) {
  Bytes seg(kUdpHeaderSize);
  UdpHeader{sport, dport, static_cast<uint16_t>(kUdpHeaderSize + payload.size()), 0}.Write(seg);
  seg.insert(seg.end(), payload.begin(), payload.end());
  if (checksum) Store16(&seg[6], UdpChecksum(src, dst, seg));
  return seg;
}

Ipv4Spec UdpSpec(Ipv4Address dst = kStackIp, Ipv4Address src = kPeerIp) {
  Ipv4Spec spec;
  spec.protocol = kUdp;
  spec.src = src;
  spec.dst = dst;
  return spec;
}

struct SentUdp {
  Sent frame;
  UdpHeader udp;
  Bytes payload;
};

// Takes a sent, unfragmented UDP frame apart and checks its length and checksum.
std::optional<SentUdp> AsUdp(const Sent& s) {
  if (!s.ip || s.ip->protocol != kUdp || s.ip->IsFragment()) return std::nullopt;
  SentUdp u{s, {}, {}};
  EXPECT_EQ(UdpHeader::Parse(s.ip_payload, &u.udp), UdpParseError::kOk);
  EXPECT_EQ(u.udp.length, s.ip_payload.size());
  EXPECT_NE(u.udp.checksum, 0) << "we always compute the checksum";
  EXPECT_TRUE(UdpChecksumValid(s.ip->src, s.ip->dst, s.ip_payload)) << "bad UDP checksum sent";
  u.payload.assign(s.ip_payload.begin() + kUdpHeaderSize, s.ip_payload.end());
  return u;
}

ssize_t SendTo(Socket& s, const Bytes& data, std::optional<SocketAddress> to, int flags = 0) {
  iovec v{const_cast<uint8_t*>(data.data()), data.size()};
  MessageInfo info;
  info.peer = to;
  return s.SendMsg({&v, 1}, info, flags);
}

// Receives into a buffer of `capacity`; *out holds what was copied.
ssize_t Recv(Socket& s, size_t capacity, Bytes* out, MessageInfo* info = nullptr, int flags = 0) {
  out->assign(capacity, 0);
  iovec v{out->data(), out->size()};
  MessageInfo local;
  MessageInfo& i = info ? *info : local;
  const ssize_t n = s.RecvMsg({&v, 1}, i, flags);
  out->resize(n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), capacity));
  return n;
}

int SetInt(Socket& s, int level, int name, int value) {
  return s.SetSockOpt(level, name, {reinterpret_cast<const uint8_t*>(&value), sizeof(value)});
}

int GetInt(Socket& s, int level, int name, int* value) {
  socklen_t len = sizeof(*value);
  return s.GetSockOpt(level, name, value, &len);
}

class UdpTest : public StackTest {
 protected:
  void TearDown() override {
    for (auto& s : sockets_) s->Close();
  }

  std::shared_ptr<Socket> NewSocket() {
    int err = 1;
    auto s = stack_->CreateSocket(SOCK_DGRAM, 0, &err);
    EXPECT_EQ(err, 0);
    EXPECT_NE(s, nullptr);
    sockets_.push_back(s);
    return s;
  }
  std::shared_ptr<Socket> BoundSocket(Ipv4Address address, uint16_t port, bool reuse = false) {
    auto s = NewSocket();
    if (reuse) {
      EXPECT_EQ(SetInt(*s, SOL_SOCKET, SO_REUSEADDR, 1), 0);
    }
    EXPECT_EQ(s->Bind({address, port}), 0);
    return s;
  }

  void InjectUdp(uint16_t sport, uint16_t dport, const Bytes& payload,
                 const Ipv4Spec& spec = UdpSpec(), MacAddress eth_dst = kStackMac,
                 bool checksum = true) {
    Inject(EthernetFrame(
        eth_dst, kPeerMac, EtherType::kIpv4,
        Ipv4Packet(spec, UdpSegment(spec.src, spec.dst, sport, dport, payload, checksum))));
  }
  void InjectBroadcast(uint16_t sport, uint16_t dport, const Bytes& payload,
                       Ipv4Address dst = kSubnetBroadcast) {
    InjectUdp(sport, dport, payload, UdpSpec(dst), MacAddress::Broadcast());
  }

  // An ICMP error from the peer quoting the first 28 bytes of a frame the stack sent.
  void InjectIcmpErrorAbout(const Sent& sent, uint8_t type, uint8_t code) {
    Bytes msg(kIcmpHeaderSize);
    msg.insert(msg.end(), sent.raw.begin() + kEthernetHeaderSize,
               sent.raw.begin() + kEthernetHeaderSize + kIpv4MinHeaderSize + kUdpHeaderSize);
    IcmpHeader{type, code, 0, 0}.Write(
        msg, {msg.data() + kIcmpHeaderSize, msg.size() - kIcmpHeaderSize});
    Ipv4Spec spec;  // ICMP from the peer
    Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(spec, msg)));
  }

  // Sends one datagram and returns the frame it became.
  Sent SendAndTake(Socket& s, const Bytes& data, std::optional<SocketAddress> to) {
    EXPECT_EQ(SendTo(s, data, to), static_cast<ssize_t>(data.size()));
    Run();
    auto sent = TakeSent();
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? Sent{} : sent[0];
  }

  std::vector<std::shared_ptr<Socket>> sockets_;
};

// --- datagrams out and in ---

TEST_F(UdpTest, SentDatagramFieldByField) {
  LearnPeer();
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  const Bytes data = Text("hello, world");
  const Sent f = SendAndTake(*s, data, SocketAddress{kPeerIp, 7000});
  EXPECT_EQ(f.eth.dst, kPeerMac);
  EXPECT_EQ(f.eth.src, kStackMac);
  ASSERT_TRUE(f.ip);
  EXPECT_EQ(f.ip->src, kStackIp);
  EXPECT_EQ(f.ip->dst, kPeerIp);
  EXPECT_EQ(f.ip->protocol, kUdp);
  EXPECT_EQ(f.ip->ttl, kDefaultTtl);
  EXPECT_EQ(f.ip->tos, 0);
  EXPECT_EQ(f.ip->total_length, 20 + 8 + data.size());
  EXPECT_FALSE(f.ip->IsFragment());
  auto u = AsUdp(f);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->udp.src_port, 5000);
  EXPECT_EQ(u->udp.dst_port, 7000);
  EXPECT_EQ(u->udp.length, 8 + data.size());
  EXPECT_EQ(u->payload, data);
  EXPECT_EQ(stats().udp.OutDatagrams.value(), 1u);
}

TEST_F(UdpTest, EmptyAndOddDatagramsGoOutWhole) {
  LearnPeer();
  auto s = NewSocket();
  for (size_t n : {0u, 1u, 1471u, 1472u}) {
    const Sent f = SendAndTake(*s, Data(n), SocketAddress{kPeerIp, 9});
    auto u = AsUdp(f);
    ASSERT_TRUE(u) << n;
    EXPECT_EQ(u->payload, Data(n)) << n;
  }
}

TEST_F(UdpTest, ReceivedDatagramFieldByField) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  EXPECT_EQ(s->Poll() & POLLIN, 0u);
  InjectUdp(7000, 5000, Text("ping"));
  Run();
  EXPECT_EQ(s->Poll() & (POLLIN | POLLRDNORM), uint32_t{POLLIN | POLLRDNORM});
  EXPECT_EQ(s->BytesReadable(), 4);
  EXPECT_EQ(stats().udp.InDatagrams.value(), 0u) << "Linux counts at read time";
  Bytes got;
  MessageInfo info;
  EXPECT_EQ(Recv(*s, 100, &got, &info), 4);
  EXPECT_EQ(got, Text("ping"));
  ASSERT_TRUE(info.peer);
  EXPECT_EQ(info.peer->address, kPeerIp);
  EXPECT_EQ(info.peer->port, 7000);
  EXPECT_EQ(info.flags, 0);
  EXPECT_EQ(stats().udp.InDatagrams.value(), 1u);
  EXPECT_EQ(s->Poll() & POLLIN, 0u);
  EXPECT_EQ(Recv(*s, 100, &got), -EAGAIN);
}

TEST_F(UdpTest, ScatterGatherBothWays) {
  LearnPeer();
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  const Bytes a = Text("abc"), b = Text("defgh");
  iovec out[2] = {{const_cast<uint8_t*>(a.data()), a.size()},
                  {const_cast<uint8_t*>(b.data()), b.size()}};
  MessageInfo to;
  to.peer = SocketAddress{kPeerIp, 7};
  ASSERT_EQ(s->SendMsg(out, to, 0), 8);
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(AsUdp(sent[0])->payload, Text("abcdefgh"));

  InjectUdp(7, 5000, Text("0123456789"));
  Run();
  uint8_t x[4], y[3];
  iovec in[2] = {{x, sizeof(x)}, {y, sizeof(y)}};
  MessageInfo info;
  EXPECT_EQ(s->RecvMsg(in, info, 0), 7);
  EXPECT_EQ(info.flags, MSG_TRUNC);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(x), 4), "0123");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(y), 3), "456");
}

TEST_F(UdpTest, AutobindOnFirstSendPicksAnEphemeralPort) {
  LearnPeer();
  auto s = NewSocket();
  SocketAddress name;
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_EQ(name.port, 0);
  const Sent f = SendAndTake(*s, Text("x"), SocketAddress{kPeerIp, 53});
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_GE(name.port, 32768);
  EXPECT_LE(name.port, 60999);
  EXPECT_TRUE(name.address.IsAny()) << "an unconnected autobound socket stays on 0.0.0.0";
  EXPECT_EQ(AsUdp(f)->udp.src_port, name.port);
  // Replies to it are delivered.
  InjectUdp(53, name.port, Text("answer"));
  Run();
  EXPECT_EQ(s->BytesReadable(), 6);
}

TEST_F(UdpTest, DatagramBoundariesPeekAndTrunc) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  InjectUdp(1111, 5000, Text("0123456789"));
  InjectUdp(2222, 5000, Text("abc"));
  InjectUdp(3333, 5000, {});
  Run();
  EXPECT_EQ(s->BytesReadable(), 10) << "FIONREAD is the first datagram's size";
  Bytes got;
  MessageInfo info;
  // Peek at part of it: MSG_TRUNC gives the real length, msg_flags says truncated.
  EXPECT_EQ(Recv(*s, 4, &got, &info, MSG_PEEK | MSG_TRUNC), 10);
  EXPECT_EQ(got, Text("0123"));
  EXPECT_EQ(info.flags, MSG_TRUNC);
  EXPECT_EQ(info.peer->port, 1111);
  EXPECT_EQ(stats().udp.InDatagrams.value(), 0u) << "peeking is not reading";
  // Peeking again sees the same; a short read without MSG_TRUNC returns what was copied
  // and drops the rest of the datagram.
  EXPECT_EQ(Recv(*s, 100, &got, &info, MSG_PEEK), 10);
  EXPECT_EQ(info.flags, 0);
  EXPECT_EQ(Recv(*s, 4, &got, &info), 4);
  EXPECT_EQ(info.flags, MSG_TRUNC);
  EXPECT_EQ(Recv(*s, 100, &got, &info), 3);
  EXPECT_EQ(got, Text("abc"));
  EXPECT_EQ(info.peer->port, 2222);
  // An empty datagram reads as 0 bytes, with its source.
  EXPECT_EQ(s->Poll() & POLLIN, uint32_t{POLLIN});
  EXPECT_EQ(s->BytesReadable(), 0);
  EXPECT_EQ(Recv(*s, 100, &got, &info), 0);
  EXPECT_EQ(info.peer->port, 3333);
  EXPECT_EQ(Recv(*s, 100, &got, &info), -EAGAIN);
  EXPECT_EQ(stats().udp.InDatagrams.value(), 3u);
}

// --- demux ---

TEST_F(UdpTest, ExactMatchBeatsWildcard) {
  auto wildcard = BoundSocket(Ipv4Address::Any(), 5000, true);
  auto exact = BoundSocket(kStackIp, 5000, true);
  auto connected = BoundSocket(kStackIp, 5000, true);
  ASSERT_EQ(connected->Connect({kPeerIp, 7000}), 0);
  InjectUdp(7000, 5000, Text("c"));        // the connected peer
  InjectUdp(7001, 5000, Text("e"));        // someone else: the exact-bound one
  InjectBroadcast(7001, 5000, Text("w"));  // to the broadcast address: only the wildcard
  Run();
  Bytes got;
  EXPECT_EQ(Recv(*connected, 10, &got), 1);
  EXPECT_EQ(got, Text("c"));
  EXPECT_EQ(Recv(*exact, 10, &got), 1);
  EXPECT_EQ(got, Text("e"));
  EXPECT_EQ(Recv(*wildcard, 10, &got), 1);
  EXPECT_EQ(got, Text("w"));
  EXPECT_EQ(connected->BytesReadable() + exact->BytesReadable() + wildcard->BytesReadable(), 0);
  EXPECT_EQ(connected->Poll() & POLLIN, 0u);
}

TEST_F(UdpTest, ReusePortGroupSpreadsFlows) {
  std::vector<std::shared_ptr<Socket>> group;
  for (int i = 0; i < 3; ++i) {
    auto s = NewSocket();
    ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_REUSEPORT, 1), 0);
    ASSERT_EQ(s->Bind({Ipv4Address::Any(), 443}), 0);
    group.push_back(s);
  }
  for (uint16_t sport = 2000; sport < 2090; ++sport) InjectUdp(sport, 443, Text("q"));
  InjectUdp(2000, 443, Text("again"));  // the same flow again
  Run();
  size_t total = 0;
  int owners_of_2000 = 0;
  for (auto& s : group) {
    std::vector<uint16_t> ports;
    Bytes got;
    MessageInfo info;
    while (Recv(*s, 10, &got, &info) >= 0) ports.push_back(info.peer->port);
    EXPECT_GT(ports.size(), 10u) << "every member gets a share";
    const auto n2000 = std::count(ports.begin(), ports.end(), 2000);
    if (n2000 > 0) {
      ++owners_of_2000;
      EXPECT_EQ(n2000, 2) << "a flow sticks to one socket";
    }
    total += ports.size();
  }
  EXPECT_EQ(owners_of_2000, 1);
  EXPECT_EQ(total, 91u);
}

TEST_F(UdpTest, ClosedPortGetsPortUnreachable) {
  LearnPeer();
  InjectUdp(4444, 9999, Data(30));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].icmp);
  EXPECT_EQ(sent[0].ip->dst, kPeerIp);
  EXPECT_EQ(sent[0].icmp->type, 3);
  EXPECT_EQ(sent[0].icmp->code, 3);
  // The quote: the whole offending datagram (it is small), starting with its IP header.
  const Bytes& q = sent[0].ip_payload;
  ASSERT_EQ(q.size(), kIcmpHeaderSize + 20 + 8 + 30);
  Ipv4Header quoted;
  ASSERT_TRUE(Ipv4Header::ParseQuoted({q.data() + 8, q.size() - 8}, &quoted));
  EXPECT_EQ(quoted.protocol, kUdp);
  EXPECT_EQ(Load16(&q[28]), 4444);
  EXPECT_EQ(Load16(&q[30]), 9999);
  EXPECT_EQ(stats().udp.NoPorts.value(), 1u);
  // A closed socket's port is closed.
  auto s = BoundSocket(Ipv4Address::Any(), 9999);
  InjectUdp(4444, 9999, Data(3));
  Run();
  EXPECT_TRUE(TakeSent().empty());
  s->Close();
  InjectUdp(4444, 9999, Data(3));
  Run();
  EXPECT_EQ(TakeSent().size(), 1u);
  EXPECT_EQ(stats().udp.NoPorts.value(), 2u);
}

TEST_F(UdpTest, PortUnreachableIsRateLimited) {
  LearnPeer();
  for (int i = 0; i < 20; ++i) InjectUdp(4444, 9999, Data(8));
  Run();
  EXPECT_EQ(TakeSent().size(), 6u) << "Linux's per-destination burst";
  EXPECT_EQ(stats().udp.NoPorts.value(), 20u);
  EXPECT_EQ(stats().icmp.OutRateLimited.value(), 14u);
  Advance(absl::Seconds(1));
  InjectUdp(4444, 9999, Data(8));
  Run();
  EXPECT_EQ(TakeSent().size(), 1u);
}

TEST_F(UdpTest, BroadcastToClosedPortIsIgnoredQuietly) {
  LearnPeer();
  InjectBroadcast(68, 67, Data(8));
  InjectBroadcast(68, 67, Data(8), Ipv4Address::Broadcast());
  Run();
  EXPECT_TRUE(TakeSent().empty()) << "no ICMP about broadcasts (RFC 1122 4.1.3.1)";
  EXPECT_EQ(stats().udp.IgnoredMulti.value(), 2u);
  EXPECT_EQ(stats().udp.NoPorts.value(), 0u);
}

TEST_F(UdpTest, BroadcastReachesEveryWildcardSocket) {
  auto a = BoundSocket(Ipv4Address::Any(), 6000, true);
  auto b = BoundSocket(Ipv4Address::Any(), 6000, true);
  auto unicast = BoundSocket(kStackIp, 6000, true);
  auto bcast = BoundSocket(kSubnetBroadcast, 6000, true);
  InjectBroadcast(68, 6000, Text("all"));
  Run();
  EXPECT_EQ(a->BytesReadable(), 3);
  EXPECT_EQ(b->BytesReadable(), 3);
  EXPECT_EQ(bcast->BytesReadable(), 3);
  EXPECT_EQ(unicast->BytesReadable(), 0) << "Linux: bound to a unicast address, no broadcasts";
  SocketAddress name;
  ASSERT_EQ(bcast->GetSockName(&name), 0);
  EXPECT_EQ(name.address, kSubnetBroadcast);
}

// --- checksums and malformed datagrams ---

TEST_F(UdpTest, ZeroChecksumIsAcceptedBadOneDropped) {
  LearnPeer();
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  InjectUdp(1, 5000, Text("none"), UdpSpec(), kStackMac, /*checksum=*/false);
  Bytes bad = UdpSegment(kPeerIp, kStackIp, 1, 5000, Text("bad!"));
  bad[9] ^= 0x40;
  Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(UdpSpec(), bad)));
  // Bad checksum to a closed port: dropped before the port is looked at, so no ICMP.
  Bytes bad_closed = UdpSegment(kPeerIp, kStackIp, 1, 9999, Text("bad!"));
  bad_closed[6] ^= 0x01;
  Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(UdpSpec(), bad_closed)));
  Run();
  EXPECT_TRUE(TakeSent().empty());
  Bytes got;
  EXPECT_EQ(Recv(*s, 10, &got), 4);
  EXPECT_EQ(got, Text("none"));
  EXPECT_EQ(Recv(*s, 10, &got), -EAGAIN);
  EXPECT_EQ(stats().udp.InCsumErrors.value(), 2u);
  EXPECT_EQ(stats().udp.InErrors.value(), 2u);
  EXPECT_EQ(stats().udp.NoPorts.value(), 0u);
}

TEST_F(UdpTest, MalformedLengthsAreCountedAndPaddingTrimmed) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  auto inject_raw = [&](const Bytes& seg) {
    Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(UdpSpec(), seg)));
  };
  inject_raw({0x12, 0x34, 0x13, 0x88});  // 4 bytes: no room for a header
  Bytes too_long = UdpSegment(kPeerIp, kStackIp, 1, 5000, Text("abc"));
  Store16(&too_long[4], 12);  // claims one byte more than there is
  inject_raw(too_long);
  Bytes too_short = UdpSegment(kPeerIp, kStackIp, 1, 5000, Text("abc"));
  Store16(&too_short[4], 7);
  inject_raw(too_short);
  // Trailing bytes after the UDP length (an IP payload longer than the datagram): Linux
  // trims them, and the checksum covers only the datagram.
  Bytes padded = UdpSegment(kPeerIp, kStackIp, 1, 5000, Text("keep"));
  padded.insert(padded.end(), {0xde, 0xad, 0xbe, 0xef});
  inject_raw(padded);
  Run();
  EXPECT_EQ(stats().udp.InErrors.value(), 3u);
  Bytes got;
  EXPECT_EQ(Recv(*s, 100, &got), 4);
  EXPECT_EQ(got, Text("keep"));
  EXPECT_EQ(Recv(*s, 100, &got), -EAGAIN);
}

// --- ICMP errors to sockets ---

TEST_F(UdpTest, ConnectedSocketHearsPortUnreachableOnce) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 7000}), 0);
  const Sent f = SendAndTake(*s, Text("knock"), std::nullopt);
  InjectIcmpErrorAbout(f, 3, 3);
  Run();
  EXPECT_EQ(s->Poll() & POLLERR, uint32_t{POLLERR});
  EXPECT_EQ(SendTo(*s, Text("again"), std::nullopt), -ECONNREFUSED);
  EXPECT_EQ(s->Poll() & POLLERR, 0u);
  EXPECT_EQ(SendTo(*s, Text("again"), std::nullopt), 5) << "reported once";
  Run();
  TakeSent();
  // Through recv, and through SO_ERROR.
  InjectIcmpErrorAbout(f, 3, 3);
  Run();
  Bytes got;
  EXPECT_EQ(Recv(*s, 10, &got), -ECONNREFUSED);
  EXPECT_EQ(Recv(*s, 10, &got), -EAGAIN);
  InjectIcmpErrorAbout(f, 3, 3);
  Run();
  int err = 0;
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR, &err), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR, &err), 0);
  EXPECT_EQ(err, 0);
}

TEST_F(UdpTest, IcmpErrorsFollowLinuxHardSoftRules) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 7000}), 0);
  const Sent f = SendAndTake(*s, Text("x"), std::nullopt);
  // Net and host unreachable (codes 0, 1) and time exceeded are soft: ignored without
  // IP_RECVERR.
  InjectIcmpErrorAbout(f, 3, 0);
  InjectIcmpErrorAbout(f, 3, 1);
  InjectIcmpErrorAbout(f, 11, 0);
  Run();
  EXPECT_EQ(s->Poll() & POLLERR, 0u);
  // Administratively prohibited (13) is hard: EHOSTUNREACH.
  InjectIcmpErrorAbout(f, 3, 13);
  Run();
  int err = 0;
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR, &err), 0);
  EXPECT_EQ(err, EHOSTUNREACH);
  InjectIcmpErrorAbout(f, 3, 9);  // net administratively prohibited
  Run();
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ERROR, &err), 0);
  EXPECT_EQ(err, ENETUNREACH);
}

TEST_F(UdpTest, UnconnectedSocketIgnoresIcmpErrors) {
  LearnPeer();
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  const Sent f = SendAndTake(*s, Text("x"), SocketAddress{kPeerIp, 7000});
  InjectIcmpErrorAbout(f, 3, 3);
  Run();
  EXPECT_EQ(s->Poll() & POLLERR, 0u);
  EXPECT_EQ(SendTo(*s, Text("x"), SocketAddress{kPeerIp, 7000}), 1);
}

TEST_F(UdpTest, IcmpErrorForAnotherPeerIsNotOurs) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 7000}), 0);
  Sent f = SendAndTake(*s, Text("x"), std::nullopt);
  Store16(&f.raw[kEthernetHeaderSize + 22], 7001);  // the quoted destination port
  InjectIcmpErrorAbout(f, 3, 3);
  Run();
  EXPECT_EQ(s->Poll() & POLLERR, 0u);
}

// --- fragments ---

TEST_F(UdpTest, LargeDatagramIsFragmentedOut) {
  LearnPeer();
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  const Bytes data = Data(4000);
  ASSERT_EQ(SendTo(*s, data, SocketAddress{kPeerIp, 7000}), 4000);
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 3u) << "4008 bytes of UDP in 1480-byte fragments";
  Bytes whole;
  for (const Sent& f : sent) {
    ASSERT_TRUE(f.ip);
    EXPECT_LE(f.ip->total_length, 1500);
    EXPECT_EQ(f.ip->id, sent[0].ip->id);
    EXPECT_FALSE(f.ip->dont_fragment);
    const size_t end = f.ip->fragment_offset + f.ip_payload.size();
    if (whole.size() < end) whole.resize(end);
    std::copy(f.ip_payload.begin(), f.ip_payload.end(), whole.begin() + f.ip->fragment_offset);
  }
  ASSERT_EQ(whole.size(), 4008u);
  EXPECT_TRUE(UdpChecksumValid(kStackIp, kPeerIp, whole));
  UdpHeader h;
  ASSERT_EQ(UdpHeader::Parse(whole, &h), UdpParseError::kOk);
  EXPECT_EQ(h.length, 4008);
  EXPECT_EQ(Bytes(whole.begin() + 8, whole.end()), data);
}

TEST_F(UdpTest, LargestDatagramGoesOutAndOneMoreIsRefused) {
  LearnPeer();
  auto s = NewSocket();
  EXPECT_EQ(SendTo(*s, Data(kUdpMaxPayload + 1), SocketAddress{kPeerIp, 9}), -EMSGSIZE);
  EXPECT_EQ(SendTo(*s, Data(70000), SocketAddress{kPeerIp, 9}), -EMSGSIZE);
  ASSERT_EQ(SendTo(*s, Data(kUdpMaxPayload), SocketAddress{kPeerIp, 9}),
            static_cast<ssize_t>(kUdpMaxPayload));
  Run();
  auto sent = TakeSent();
  EXPECT_EQ(sent.size(), 45u);  // ceil(65515 / 1480)
  EXPECT_EQ(sent.back().ip->fragment_offset + sent.back().ip_payload.size(), 65515u);
  EXPECT_EQ(stats().udp.OutDatagrams.value(), 1u);
}

TEST_F(UdpTest, FragmentedDatagramIsReassembledIn) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  const Bytes data = Data(3000, 9);
  Ipv4Spec spec = UdpSpec();
  spec.id = 0x7777;
  auto frags = Fragments(spec, UdpSegment(kPeerIp, kStackIp, 1234, 5000, data), 1480);
  ASSERT_EQ(frags.size(), 3u);
  std::reverse(frags.begin(), frags.end());
  for (const Bytes& f : frags) Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, f));
  Run();
  Bytes got;
  MessageInfo info;
  EXPECT_EQ(Recv(*s, 5000, &got, &info), 3000);
  EXPECT_EQ(got, data);
  EXPECT_EQ(info.peer->port, 1234);
}

// --- buffers ---

TEST_F(UdpTest, ReceiveBufferOverflowDropsAndCounts) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_RCVBUF, 0), 0);
  int rcvbuf = 0;
  ASSERT_EQ(GetInt(*s, SOL_SOCKET, SO_RCVBUF, &rcvbuf), 0);
  ASSERT_EQ(rcvbuf, kSockMinRcvbuf);
  for (int i = 0; i < 5; ++i) InjectUdp(1, 5000, Data(1000, static_cast<uint8_t>(i)));
  Run();
  // Each costs 1000 + 768: the second still fits under 2304, the third sees it full.
  EXPECT_EQ(stats().udp.RcvbufErrors.value(), 3u);
  EXPECT_EQ(stats().udp.InErrors.value(), 3u);
  Bytes got;
  EXPECT_EQ(Recv(*s, 2000, &got), 1000);
  EXPECT_EQ(got, Data(1000, 0));
  InjectUdp(1, 5000, Data(1000, 9));
  Run();
  EXPECT_EQ(Recv(*s, 2000, &got), 1000);
  EXPECT_EQ(got, Data(1000, 1));
  EXPECT_EQ(Recv(*s, 2000, &got), 1000);
  EXPECT_EQ(got, Data(1000, 9));
  EXPECT_EQ(static_cast<UdpSocket&>(*s).receive_memory(), 0u);
}

TEST_F(UdpTest, DatagramTooBigForSendBufferIsRefused) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_SNDBUF, 0), 0);  // 4608
  EXPECT_EQ(SendTo(*s, Data(20000), SocketAddress{kPeerIp, 9}), -ENOBUFS);
  EXPECT_EQ(stats().udp.SndbufErrors.value(), 1u);
  EXPECT_EQ(SendTo(*s, Data(4000), SocketAddress{kPeerIp, 9}), 4000) << "three fragments fit";
  EXPECT_EQ(s->Poll() & POLLOUT, uint32_t{POLLOUT});
}

// --- broadcast sending ---

TEST_F(UdpTest, BroadcastNeedsSoBroadcast) {
  auto s = NewSocket();
  for (Ipv4Address dst : {Ipv4Address::Broadcast(), kSubnetBroadcast}) {
    EXPECT_EQ(SendTo(*s, Text("hi"), SocketAddress{dst, 67}), -EACCES);
    EXPECT_EQ(s->Connect({dst, 67}), -EACCES);
  }
  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_BROADCAST, 1), 0);
  int on = 0;
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_BROADCAST, &on), 0);
  EXPECT_EQ(on, 1);
  for (Ipv4Address dst : {Ipv4Address::Broadcast(), kSubnetBroadcast}) {
    const Sent f = SendAndTake(*s, Text("hi"), SocketAddress{dst, 67});
    EXPECT_EQ(f.eth.dst, MacAddress::Broadcast()) << "no ARP for a broadcast";
    EXPECT_EQ(f.ip->dst, dst);
    EXPECT_EQ(f.ip->src, kStackIp);
    EXPECT_EQ(AsUdp(f)->payload, Text("hi"));
  }
  EXPECT_EQ(s->Connect({Ipv4Address::Broadcast(), 67}), 0);
}

// --- options visible on the wire ---

TEST_F(UdpTest, TtlAndTosReachTheHeader) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, 5), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TOS, 0x10), 0);
  Sent f = SendAndTake(*s, Text("x"), SocketAddress{kPeerIp, 9});
  EXPECT_EQ(f.ip->ttl, 5);
  EXPECT_EQ(f.ip->tos, 0x10);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, -1), 0);
  f = SendAndTake(*s, Text("x"), SocketAddress{kPeerIp, 9});
  EXPECT_EQ(f.ip->ttl, 64);
}

// --- the socket API's answers ---

TEST_F(UdpTest, BindErrors) {
  auto s = NewSocket();
  EXPECT_EQ(s->Bind({*Ipv4Address::Parse("198.18.0.9"), 5000}), -EADDRNOTAVAIL);
  EXPECT_EQ(s->Bind({*Ipv4Address::Parse("10.1.2.3"), 5000}), -EADDRNOTAVAIL);
  ASSERT_EQ(s->Bind({kStackIp, 5000}), 0);
  EXPECT_EQ(s->Bind({kStackIp, 5001}), -EINVAL) << "bound already";
  auto t = NewSocket();
  EXPECT_EQ(t->Bind({Ipv4Address::Any(), 5000}), -EADDRINUSE);
  EXPECT_EQ(t->Bind({Ipv4Address::Broadcast(), 5001}), 0) << "broadcast binds are allowed";
  auto m = NewSocket();
  EXPECT_EQ(m->Bind({*Ipv4Address::Parse("239.1.2.3"), 5000}), 0) << "so are multicast ones";
  auto c = NewSocket();
  ASSERT_EQ(c->Connect({kPeerIp, 9}), 0);
  EXPECT_EQ(c->Bind({Ipv4Address::Any(), 0}), -EINVAL) << "connected";
  SocketAddress name;
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_EQ(name, (SocketAddress{kStackIp, 5000}));
}

TEST_F(UdpTest, SendErrors) {
  auto s = NewSocket();
  EXPECT_EQ(SendTo(*s, Text("x"), std::nullopt), -EDESTADDRREQ);
  EXPECT_EQ(SendTo(*s, Text("x"), SocketAddress{kPeerIp, 0}), -EINVAL);
  EXPECT_EQ(SendTo(*s, Text("x"), SocketAddress{kPeerIp, 9}, MSG_OOB), -EOPNOTSUPP);
  EXPECT_EQ(SendTo(*s, Text("x"), SocketAddress{Ipv4Address::Any(), 9}), -ENETUNREACH);
  SocketAddress name;
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_NE(name.port, 0) << "Linux autobinds before it checks anything else";
}

TEST_F(UdpTest, ConnectedSocketMaySendElsewhere) {
  LearnPeer();
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kGatewayMac, kGatewayIp,
                  MacAddress::Zero(), kStackIp));
  Run();
  TakeSent();
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 7000}), 0);
  // Linux allows sendto() with an address on a connected UDP socket (no EISCONN).
  const Sent f = SendAndTake(*s, Text("y"), SocketAddress{kRemoteIp, 8000});
  EXPECT_EQ(f.eth.dst, kGatewayMac);
  EXPECT_EQ(f.ip->dst, kRemoteIp);
  EXPECT_EQ(AsUdp(f)->udp.dst_port, 8000);
}

TEST_F(UdpTest, ConnectFillsInTheSourceAndDisconnectUndoesIt) {
  auto s = NewSocket();
  SocketAddress peer;
  EXPECT_EQ(s->GetPeerName(&peer), -ENOTCONN);
  ASSERT_EQ(s->Connect({kPeerIp, 7000}), 0);
  SocketAddress name;
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_EQ(name.address, kStackIp);
  EXPECT_GE(name.port, 32768);
  ASSERT_EQ(s->GetPeerName(&peer), 0);
  EXPECT_EQ(peer, (SocketAddress{kPeerIp, 7000}));
  // Reconnecting moves the peer.
  ASSERT_EQ(s->Connect({kPeerIp, 7001}), 0);
  ASSERT_EQ(s->GetPeerName(&peer), 0);
  EXPECT_EQ(peer.port, 7001);
  // connect(AF_UNSPEC): the autobound port and the filled-in address are given back.
  ASSERT_EQ(s->Disconnect(), 0);
  EXPECT_EQ(s->GetPeerName(&peer), -ENOTCONN);
  ASSERT_EQ(s->GetSockName(&name), 0);
  EXPECT_EQ(name, (SocketAddress{Ipv4Address::Any(), 0}));
  EXPECT_EQ(stack_->udp().bound_sockets(), 0u);
  // A bind() survives disconnect.
  auto b = BoundSocket(kStackIp, 5555);
  ASSERT_EQ(b->Connect({kPeerIp, 7000}), 0);
  ASSERT_EQ(b->Disconnect(), 0);
  ASSERT_EQ(b->GetSockName(&name), 0);
  EXPECT_EQ(name, (SocketAddress{kStackIp, 5555}));
  // Connect to port 0: allowed, but there is no peer name (Linux inet_getname).
  ASSERT_EQ(b->Connect({kPeerIp, 0}), 0);
  EXPECT_EQ(b->GetPeerName(&peer), -ENOTCONN);
}

TEST_F(UdpTest, NoRouteIsEnetunreach) {
  auto s = NewSocket();
  // (Linux would rewrite 0.0.0.0 to 127.0.0.1; the stack does not.)
  EXPECT_EQ(s->Connect({Ipv4Address::Any(), 9}), -ENETUNREACH);
  EXPECT_EQ(s->Connect({kRemoteIp, 9}), 0) << "via the gateway";
  // 127/8 is the stack's own loopback: routable, with 127.0.0.1 as the source.
  auto l = NewSocket();
  EXPECT_EQ(l->Connect({*Ipv4Address::Parse("127.0.0.1"), 9}), 0);
  s->Close();
  l->Close();
  sockets_.clear();
  s.reset();
  l.reset();  // before Build() replaces the stack these sockets belong to

  // A stack with no gateway has no route off the subnet.
  Build(StackOptions{}, /*default_gateway=*/false);
  auto t = NewSocket();
  EXPECT_EQ(t->Connect({kRemoteIp, 9}), -ENETUNREACH);
  EXPECT_EQ(SendTo(*t, Text("x"), SocketAddress{kRemoteIp, 9}), -ENETUNREACH);
  EXPECT_EQ(stack_->stats().udp.OutDatagrams.value(), 0u);
  EXPECT_EQ(t->Connect({kPeerIp, 9}), 0) << "on-link needs no gateway";
}

TEST_F(UdpTest, ShutdownAsLinux) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  EXPECT_EQ(s->Shutdown(7), -EINVAL);
  EXPECT_EQ(s->Shutdown(-1), -EINVAL);
  // Unconnected: ENOTCONN, yet the receiving side is shut (a blocked recv wakes with 0).
  EXPECT_EQ(s->Shutdown(SHUT_RD), -ENOTCONN);
  EXPECT_EQ(s->Poll(),
            uint32_t{POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT | POLLWRNORM | POLLWRBAND});
  Bytes got;
  EXPECT_EQ(Recv(*s, 10, &got), 0);
  EXPECT_EQ(Recv(*s, 10, &got, nullptr, MSG_DONTWAIT), -EAGAIN);
  // Datagrams still arrive and are read first.
  InjectUdp(1, 5000, Text("late"));
  Run();
  EXPECT_EQ(Recv(*s, 10, &got), 4);
  EXPECT_EQ(Recv(*s, 10, &got), 0);

  auto c = NewSocket();
  ASSERT_EQ(c->Connect({kPeerIp, 7000}), 0);
  EXPECT_EQ(c->Shutdown(SHUT_WR), 0);
  EXPECT_EQ(SendTo(*c, Text("x"), std::nullopt), -EPIPE);
  EXPECT_EQ(SendTo(*c, Text("x"), SocketAddress{kPeerIp, 7000}), -EPIPE);
  EXPECT_EQ(c->Poll(), uint32_t{POLLOUT | POLLWRNORM | POLLWRBAND});
  EXPECT_EQ(c->Shutdown(SHUT_RD), 0);
  EXPECT_EQ(c->Poll() & (POLLHUP | POLLRDHUP | POLLIN), uint32_t{POLLHUP | POLLRDHUP | POLLIN});
}

TEST_F(UdpTest, ShutdownWakesABlockedReader) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  ssize_t result = -1;
  std::thread reader([&] {
    SocketWaiter waiter(*s, POLLIN);
    Bytes got;
    for (;;) {
      result = Recv(*s, 10, &got);
      if (result != -EAGAIN) return;
      ASSERT_EQ(waiter.Wait(absl::Seconds(10)), 0);
    }
  });
  absl::SleepFor(absl::Milliseconds(20));  // not needed for correctness: exercises the wait
  EXPECT_EQ(s->Shutdown(SHUT_RD), -ENOTCONN);
  reader.join();
  EXPECT_EQ(result, 0);
}

TEST_F(UdpTest, SocketOptions) {
  auto s = NewSocket();
  int v = 0;
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_TYPE, &v), 0);
  EXPECT_EQ(v, SOCK_DGRAM);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_PROTOCOL, &v), 0);
  EXPECT_EQ(v, IPPROTO_UDP);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_DOMAIN, &v), 0);
  EXPECT_EQ(v, AF_INET);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_ACCEPTCONN, &v), 0);
  EXPECT_EQ(v, 0);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_RCVBUF, &v), 0);
  EXPECT_EQ(v, 212992);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_SNDBUF, &v), 0);
  EXPECT_EQ(v, 212992);
  EXPECT_EQ(GetInt(*s, IPPROTO_IP, IP_TTL, &v), 0);
  EXPECT_EQ(v, 64);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_RCVLOWAT, &v), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_SNDLOWAT, &v), 0);
  EXPECT_EQ(v, 1);

  // Buffer sizes: doubled, clamped to [min, 2 * max] (values measured on Linux).
  struct {
    int set, rcv, snd;
  } const kSizes[] = {{0, 2304, 4608},      {1000, 2304, 4608},       {2000, 4000, 4608},
                      {5000, 10000, 10000}, {300000, 425984, 425984}, {-1, 425984, 425984}};
  for (const auto& c : kSizes) {
    ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_RCVBUF, c.set), 0);
    ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_SNDBUF, c.set), 0);
    EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_RCVBUF, &v), 0);
    EXPECT_EQ(v, c.rcv) << c.set;
    EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_SNDBUF, &v), 0);
    EXPECT_EQ(v, c.snd) << c.set;
  }

  for (int bad : {0, 256, -2}) EXPECT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, bad), -EINVAL) << bad;
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, 255), 0);
  EXPECT_EQ(GetInt(*s, IPPROTO_IP, IP_TTL, &v), 0);
  EXPECT_EQ(v, 255);
  const uint8_t one_byte = 9;
  EXPECT_EQ(s->SetSockOpt(IPPROTO_IP, IP_TTL, {&one_byte, 1}), 0);
  uint8_t small = 0;
  socklen_t len = 1;
  EXPECT_EQ(s->GetSockOpt(IPPROTO_IP, IP_TTL, &small, &len), 0);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(small, 9);
  EXPECT_EQ(s->SetSockOpt(IPPROTO_IP, IP_TTL, {}), -EINVAL);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TOS, 0x1ff), 0);
  EXPECT_EQ(GetInt(*s, IPPROTO_IP, IP_TOS, &v), 0);
  EXPECT_EQ(v, 0xff);

  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_RCVLOWAT, -1), 0);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_RCVLOWAT, &v), 0);
  EXPECT_EQ(v, INT_MAX);
  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_RCVLOWAT, 0), 0);
  EXPECT_EQ(static_cast<UdpSocket&>(*s).receive_low_watermark(), 1);

  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_REUSEADDR, 5), 0);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, SO_REUSEADDR, &v), 0);
  EXPECT_EQ(v, 1);

  // Errors: short values, read-only and unknown options, other levels.
  const uint8_t b = 1;
  EXPECT_EQ(s->SetSockOpt(SOL_SOCKET, SO_RCVBUF, {&b, 1}), -EINVAL);
  EXPECT_EQ(SetInt(*s, SOL_SOCKET, SO_SNDLOWAT, 5), -ENOPROTOOPT);
  EXPECT_EQ(SetInt(*s, SOL_SOCKET, SO_TYPE, 1), -ENOPROTOOPT);
  EXPECT_EQ(SetInt(*s, SOL_SOCKET, 9999, 1), -ENOPROTOOPT);
  EXPECT_EQ(SetInt(*s, IPPROTO_IP, 9999, 1), -ENOPROTOOPT);
  EXPECT_EQ(SetInt(*s, IPPROTO_TCP, 1, 1), -ENOPROTOOPT);
  EXPECT_EQ(GetInt(*s, IPPROTO_TCP, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(GetInt(*s, SOL_SOCKET, 9999, &v), -ENOPROTOOPT);
  EXPECT_EQ(GetInt(*s, IPPROTO_IP, IP_MTU, &v), -ENOTCONN);
  ASSERT_EQ(s->Connect({kPeerIp, 9}), 0);
  EXPECT_EQ(GetInt(*s, IPPROTO_IP, IP_MTU, &v), 0);
  EXPECT_EQ(v, 1500);
  // A negative length is refused before SO_ERROR is read (and cleared).
  len = static_cast<socklen_t>(-1);
  EXPECT_EQ(s->GetSockOpt(SOL_SOCKET, SO_ERROR, &v, &len), -EINVAL);
  EXPECT_EQ(GetInt(*s, IPPROTO_UDP, 1, &v), -ENOPROTOOPT);
  // getsockopt truncates silently to the caller's length.
  len = 1;
  EXPECT_EQ(s->GetSockOpt(SOL_SOCKET, SO_RCVBUF, &small, &len), 0);
  EXPECT_EQ(len, 1u);
}

TEST_F(UdpTest, Timeouts) {
  auto s = NewSocket();
  auto set = [&](int name, long sec, long usec) {
    timeval tv{sec, usec};
    return s->SetSockOpt(SOL_SOCKET, name, {reinterpret_cast<const uint8_t*>(&tv), sizeof(tv)});
  };
  auto get = [&](int name) {
    timeval tv{-1, -1};
    socklen_t len = sizeof(tv);
    EXPECT_EQ(s->GetSockOpt(SOL_SOCKET, name, &tv, &len), 0);
    EXPECT_EQ(len, sizeof(tv));
    return std::make_pair(static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec));
  };
  EXPECT_EQ(s->ReceiveTimeout(), std::nullopt);
  EXPECT_EQ(get(SO_RCVTIMEO), std::make_pair(0L, 0L));
  ASSERT_EQ(set(SO_RCVTIMEO, 1, 500000), 0);
  EXPECT_EQ(s->ReceiveTimeout(), absl::Milliseconds(1500));
  EXPECT_EQ(get(SO_RCVTIMEO), std::make_pair(1L, 500000L));
  ASSERT_EQ(set(SO_SNDTIMEO, 0, 250), 0);
  EXPECT_EQ(s->SendTimeout(), absl::Microseconds(250));
  ASSERT_EQ(set(SO_RCVTIMEO, 0, 0), 0);
  EXPECT_EQ(s->ReceiveTimeout(), std::nullopt) << "{0, 0} is forever";
  ASSERT_EQ(set(SO_RCVTIMEO, -5, 0), 0);
  EXPECT_EQ(s->ReceiveTimeout(), absl::ZeroDuration()) << "negative: do not block";
  EXPECT_EQ(get(SO_RCVTIMEO), std::make_pair(0L, 0L));
  EXPECT_EQ(set(SO_RCVTIMEO, 1, 1000000), -EDOM);
  EXPECT_EQ(set(SO_RCVTIMEO, 1, -1), -EDOM);
  const int four = 4;
  EXPECT_EQ(s->SetSockOpt(SOL_SOCKET, SO_RCVTIMEO,
                          {reinterpret_cast<const uint8_t*>(&four), sizeof(four)}),
            -EINVAL);
}

TEST_F(UdpTest, ReuseAddrSetAfterBindIsHonoured) {
  auto a = BoundSocket(Ipv4Address::Any(), 6000);
  auto b = NewSocket();
  ASSERT_EQ(SetInt(*b, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_EQ(b->Bind({kStackIp, 6000}), -EADDRINUSE);
  ASSERT_EQ(SetInt(*a, SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_EQ(b->Bind({kStackIp, 6000}), 0);
}

TEST_F(UdpTest, ErrqueueIsEmptyAndClosedSocketsRefuse) {
  auto s = BoundSocket(Ipv4Address::Any(), 5000);
  Bytes got;
  EXPECT_EQ(Recv(*s, 10, &got, nullptr, MSG_ERRQUEUE), -EAGAIN);
  s->Close();
  s->Close();
  EXPECT_EQ(Recv(*s, 10, &got), -EBADF);
  EXPECT_EQ(SendTo(*s, Text("x"), SocketAddress{kPeerIp, 9}), -EBADF);
  EXPECT_EQ(s->Bind({Ipv4Address::Any(), 5000}), -EBADF);
  EXPECT_EQ(stack_->udp().ports().size(), 0u);
}

TEST_F(UdpTest, CreateSocketAnswersAsLinux) {
  struct {
    int type, protocol, error;
  } const kCases[] = {
      {SOCK_DGRAM, 0, 0},
      {SOCK_DGRAM, IPPROTO_UDP, 0},
      {SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0},
      {SOCK_DGRAM, IPPROTO_TCP, -EPROTONOSUPPORT},
      {SOCK_DGRAM, 255, -EPROTONOSUPPORT},
      {SOCK_DGRAM, 256, -EPROTONOSUPPORT},
      {SOCK_DGRAM, 263, -EINVAL},
      {SOCK_DGRAM, -1, -EINVAL},
      {SOCK_DGRAM, IPPROTO_ICMP, -EACCES},
      {SOCK_STREAM, IPPROTO_UDP, -EPROTONOSUPPORT},
      {SOCK_SEQPACKET, 0, -ESOCKTNOSUPPORT},
      {6 /* SOCK_DCCP */, 0, -ESOCKTNOSUPPORT},
      {11, 0, -EINVAL},
      {SOCK_RAW, IPPROTO_ICMP, -EPERM},
  };
  for (const auto& c : kCases) {
    int err = 12345;
    auto s = stack_->CreateSocket(c.type, c.protocol, &err);
    EXPECT_EQ(err, c.error) << c.type << "/" << c.protocol;
    EXPECT_EQ(s != nullptr, c.error == 0) << c.type << "/" << c.protocol;
    if (s) {
      EXPECT_EQ(s->type(), SOCK_DGRAM);
      EXPECT_EQ(s->protocol(), IPPROTO_UDP);
      s->Close();
    }
  }
}

TEST_F(UdpTest, StatsAreListed) {
  std::vector<std::string> names;
  stats().ForEach([&](std::string_view group, std::string_view name, uint64_t) {
    if (group == "Udp") names.emplace_back(name);
  });
  EXPECT_EQ(names, (std::vector<std::string>{"InDatagrams", "NoPorts", "InErrors", "OutDatagrams",
                                             "RcvbufErrors", "SndbufErrors", "InCsumErrors",
                                             "IgnoredMulti"}));
}

// --- two stacks, real threads ---

class UdpTwoStacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [l1, l2] = ChannelLink::CreatePair(1500);
    a_ = Make("198.18.0.1", std::move(l1));
    b_ = Make("198.18.0.2", std::move(l2));
    ASSERT_TRUE(a_ && b_);
    ASSERT_TRUE(a_->Start().ok());
    ASSERT_TRUE(b_->Start().ok());
  }
  void TearDown() override {
    for (auto& s : sockets_) s->Close();
    sockets_.clear();
    a_.reset();
    b_.reset();
  }
  static std::unique_ptr<Stack> Make(const char* address, std::unique_ptr<ChannelLink> link) {
    StackOptions o;
    o.address = Ipv4Cidr{*Ipv4Address::Parse(address), 24};
    return StackOnLink(o, std::move(link));
  }
  std::shared_ptr<Socket> Open(Stack& stack) {
    int err;
    auto s = stack.CreateSocket(SOCK_DGRAM, 0, &err);
    sockets_.push_back(s);
    return s;
  }
  // recv(2) as a blocking call would do it: try, sleep in the waiter, try again.
  static ssize_t BlockingRecv(Socket& s, Bytes* out, MessageInfo* info) {
    SocketWaiter waiter(s, POLLIN);
    for (;;) {
      const ssize_t n = Recv(s, 70000, out, info);
      if (n != -EAGAIN) return n;
      if (waiter.Wait(absl::Seconds(10)) != 0) return -ETIMEDOUT;
    }
  }

  std::unique_ptr<Stack> a_, b_;
  std::vector<std::shared_ptr<Socket>> sockets_;
};

TEST_F(UdpTwoStacksTest, EchoOverChannelPair) {
  auto server = Open(*b_);
  ASSERT_EQ(server->Bind({Ipv4Address::Any(), 9000}), 0);
  constexpr int kRounds = 50;
  std::thread echo([&] {
    for (int i = 0; i < kRounds; ++i) {
      Bytes got;
      MessageInfo info;
      const ssize_t n = BlockingRecv(*server, &got, &info);
      ASSERT_GE(n, 0);
      ASSERT_EQ(SendTo(*server, got, info.peer), n);
    }
  });
  auto client = Open(*a_);
  ASSERT_EQ(client->Connect({*Ipv4Address::Parse("198.18.0.2"), 9000}), 0);
  for (int i = 0; i < kRounds; ++i) {
    // Small ones, and every tenth a fragmented one, through both reassemblers.
    const Bytes msg =
        (i % 10 == 9) ? Data(20000, static_cast<uint8_t>(i)) : Text("ping " + std::to_string(i));
    ASSERT_EQ(SendTo(*client, msg, std::nullopt), static_cast<ssize_t>(msg.size()));
    Bytes got;
    MessageInfo info;
    ASSERT_EQ(BlockingRecv(*client, &got, &info), static_cast<ssize_t>(msg.size())) << i;
    EXPECT_EQ(got, msg);
    EXPECT_EQ(info.peer, (SocketAddress{*Ipv4Address::Parse("198.18.0.2"), 9000}));
  }
  echo.join();
  EXPECT_EQ(a_->stats().udp.InDatagrams.value(), static_cast<uint64_t>(kRounds));
  EXPECT_EQ(b_->stats().udp.OutDatagrams.value(), static_cast<uint64_t>(kRounds));
}

TEST_F(UdpTwoStacksTest, ClosedPortRefusesConnectedSender) {
  auto client = Open(*a_);
  ASSERT_EQ(client->Connect({*Ipv4Address::Parse("198.18.0.2"), 9001}), 0);
  ASSERT_EQ(SendTo(*client, Text("anyone?"), std::nullopt), 7);
  SocketWaiter waiter(*client, POLLERR);
  ASSERT_EQ(waiter.Wait(absl::Seconds(10)), 0);
  Bytes got;
  EXPECT_EQ(Recv(*client, 10, &got), -ECONNREFUSED);
  EXPECT_EQ(b_->stats().udp.NoPorts.value(), 1u);
}

}  // namespace
}  // namespace netshim::testing
