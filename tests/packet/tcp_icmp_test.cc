// ICMP errors reach TCP (RFC 1122 4.2.3.9, RFC 1191, Linux tcp_v4_err): fragmentation needed
// lowers the MSS and resends what did not fit; unreachables are soft errors for an
// established connection (reported only if it times out) and hard ones while connecting;
// errors quoting a sequence number outside the window are ignored.
#include <netinet/in.h>

#include <algorithm>

#include "gtest/gtest.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

class TcpIcmpTest : public TcpPacketTest {
 protected:
  static constexpr uint16_t kPort = 80;

  // An ICMP error from the peer about `about` (a segment the stack sent): its IPv4 header
  // and first 8 TCP bytes quoted, as routers do.
  void InjectIcmpAbout(const ParsedTcp& about, uint8_t type, uint8_t code, uint16_t mtu = 0) {
    Bytes tcp8(8);
    Store16(tcp8.data(), about.header.src_port);
    Store16(tcp8.data() + 2, about.header.dst_port);
    Store32(tcp8.data() + 4, about.seq());
    Ipv4Spec quoted;
    quoted.src = kStackIp;
    quoted.dst = kPeerIp;
    quoted.protocol = static_cast<uint8_t>(IpProtocol::kTcp);
    const Bytes datagram = Ipv4Packet(quoted, tcp8);
    Bytes msg(kIcmpHeaderSize + datagram.size());
    std::copy(datagram.begin(), datagram.end(), msg.begin() + kIcmpHeaderSize);
    IcmpHeader{type, code, 0, mtu}.Write(msg, {msg.data() + kIcmpHeaderSize, datagram.size()});
    Ipv4Spec spec;  // from the peer, to the stack
    Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(spec, msg)));
    Run();
  }
};

TEST_F(TcpIcmpTest, FragmentationNeededLowersTheMssAndResends) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 3000), 3000);
  const std::vector<ParsedTcp> first = peer.TakeAndObserve();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].payload.size(), 1448u);  // 1500 - 40 - 12 of timestamps
  // A router on the path takes 1280 at most.
  InjectIcmpAbout(first[0], 3, 4, 1280);
  const std::vector<ParsedTcp> again = TakeTcp();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].seq(), first[0].seq());
  EXPECT_EQ(again[0].payload.size(), 1280u - 40 - 12) << Describe(again[0]);
  for (const ParsedTcp& seg : again) {
    EXPECT_LE(seg.ip.total_length, 1280u) << Describe(seg);
  }
  EXPECT_EQ(Info(*s).tcpi_snd_mss, 1280u - 40 - 12);
  EXPECT_EQ(Info(*s).tcpi_pmtu, 1280u);
}

TEST_F(TcpIcmpTest, UnreachableIsSoftWhenEstablished) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  InjectIcmpAbout(seg, 3, 1);  // host unreachable
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  EXPECT_EQ(SoError(*s), 0);
  EXPECT_EQ(s->Poll() & POLLERR, 0u);
  // The data is still acknowledged normally and the connection lives on.
  peer.Ack();
  EXPECT_EQ(s->BytesUnsent(), 0);
}

TEST_F(TcpIcmpTest, SoftErrorIsWhatATimeoutReports) {
  TcpConfig config;
  config.retries2 = 2;
  BuildWithTcp(config);
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  InjectIcmpAbout(seg, 3, 1);  // host unreachable, then silence
  RunUntil([&] { return s->state() == TcpState::kClosed; }, absl::Minutes(5));
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(SoError(*s), EHOSTUNREACH);
}

TEST_F(TcpIcmpTest, PortUnreachableWhileConnectingRefuses) {
  TcpPeer peer(this, 40000, kPort);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, peer.port}), -EINPROGRESS);
  Run();
  const ParsedTcp syn = TakeOne();
  ASSERT_TRUE(syn.header.syn());
  InjectIcmpAbout(syn, 3, 3);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_NE(s->Poll() & POLLERR, 0u);
  EXPECT_EQ(SoError(*s), ECONNREFUSED);
}

TEST_F(TcpIcmpTest, ErrorQuotingASequenceOutsideTheWindowIsIgnored) {
  TcpPeer peer(this, 40000, kPort);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, peer.port}), -EINPROGRESS);
  Run();
  ParsedTcp syn = TakeOne();
  syn.header.seq += 100000;  // not a sequence number this connection sent
  InjectIcmpAbout(syn, 3, 3);
  EXPECT_EQ(s->state(), TcpState::kSynSent);
  EXPECT_EQ(stats().tcp.OutOfWindowIcmps.value(), 1u);
}

}  // namespace
}  // namespace netshim::testing
