// IPv4 and ICMP against crafted frames: echo, fragments both ways, errors, and bad input
// dropped and counted.
#include <algorithm>
#include <cerrno>

#include "tests/packet/stack_fixture.h"

namespace netshim::testing {
namespace {

class Ipv4IcmpTest : public StackTest {
 protected:
  Bytes Data(size_t n) {
    Bytes d(n);
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(i * 7 + 3);
    return d;
  }
  void InjectIp(const Bytes& ip_packet, MacAddress dst = kStackMac) {
    Inject(EthernetFrame(dst, kPeerMac, EtherType::kIpv4, ip_packet));
  }
  // Reassembles what the stack sent as fragments (in any order) into one payload.
  Bytes Reassemble(const std::vector<Sent>& frags) {
    Bytes out;
    for (const Sent& s : frags) {
      EXPECT_TRUE(s.ip);
      const size_t end = s.ip->fragment_offset + s.ip_payload.size();
      if (out.size() < end) out.resize(end);
      std::copy(s.ip_payload.begin(), s.ip_payload.end(), out.begin() + s.ip->fragment_offset);
    }
    return out;
  }
};

TEST_F(Ipv4IcmpTest, EchoRequestGetsExactReply) {
  LearnPeer();
  const Bytes data = Data(56);
  InjectIp(Ipv4Packet({}, EchoRequest(0x77, 5, data)));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  const Sent& r = sent[0];
  EXPECT_EQ(r.eth.dst, kPeerMac);
  EXPECT_EQ(r.eth.src, kStackMac);
  ASSERT_TRUE(r.ip);
  EXPECT_EQ(r.ip->src, kStackIp);
  EXPECT_EQ(r.ip->dst, kPeerIp);
  EXPECT_EQ(r.ip->ttl, kDefaultTtl);
  EXPECT_EQ(r.ip->protocol, 1);
  EXPECT_FALSE(r.ip->IsFragment());
  ASSERT_TRUE(r.icmp);
  EXPECT_EQ(r.icmp->type, 0);
  EXPECT_EQ(r.icmp->code, 0);
  EXPECT_EQ(r.icmp->echo_id(), 0x77);
  EXPECT_EQ(r.icmp->echo_sequence(), 5);
  EXPECT_EQ(Bytes(r.ip_payload.begin() + kIcmpHeaderSize, r.ip_payload.end()), data);
  EXPECT_EQ(stats().icmp.InEchos.value(), 1u);
  EXPECT_EQ(stats().icmp.OutEchoReps.value(), 1u);
  EXPECT_EQ(stats().ip.InDelivers.value(), 1u);
}

TEST_F(Ipv4IcmpTest, EchoFromUnknownPeerResolvesFirst) {
  InjectIp(Ipv4Packet({}, EchoRequest(1, 1, Data(8))));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp) << "the reply must wait for ARP";
  Inject(ArpFrame(ArpOp::kReply, kStackMac, kPeerMac, kPeerIp, kStackMac, kStackIp));
  Run();
  sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].icmp);
  EXPECT_EQ(sent[0].icmp->type, 0);
}

TEST_F(Ipv4IcmpTest, FragmentedEchoIsReassembledAndAnsweredInFragments) {
  LearnPeer();
  const Bytes data = Data(4000);
  const Bytes message = EchoRequest(9, 2, data);
  Ipv4Spec spec;
  spec.id = 0x4242;
  auto frags = Fragments(spec, message, 1480);
  ASSERT_EQ(frags.size(), 3u);
  std::reverse(frags.begin(), frags.end());  // out of order
  InjectIp(frags[1]);                        // and a duplicate
  for (const Bytes& f : frags) InjectIp(f);
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 3u) << "4008 bytes of ICMP need 3 fragments at MTU 1500";
  uint16_t id = sent[0].ip->id;
  for (const Sent& s : sent) {
    ASSERT_TRUE(s.ip);
    EXPECT_EQ(s.ip->id, id);
    EXPECT_LE(s.ip->total_length, 1500);
    EXPECT_EQ(s.ip->fragment_offset % 8, 0);
  }
  EXPECT_TRUE(sent.back().ip->fragment_offset > 0 && !sent.back().ip->more_fragments);
  const Bytes reply = Reassemble(sent);
  ASSERT_EQ(reply.size(), message.size());
  EXPECT_EQ(InternetChecksum(reply), 0);
  EXPECT_EQ(reply[0], 0);  // echo reply
  EXPECT_TRUE(std::equal(data.begin(), data.end(), reply.begin() + kIcmpHeaderSize));
  EXPECT_EQ(stats().ip.ReasmOKs.value(), 1u);
  EXPECT_EQ(stats().ip.FragCreates.value(), 3u);
  EXPECT_EQ(stats().ip.FragOKs.value(), 1u);
}

TEST_F(Ipv4IcmpTest, ReassemblyTimeoutSendsTimeExceeded) {
  LearnPeer();
  Ipv4Spec spec;
  spec.id = 0x5151;
  auto frags = Fragments(spec, EchoRequest(1, 1, Data(2000)), 1480);
  InjectIp(frags[0]);  // the second never comes
  Run();
  Advance(absl::Seconds(29));
  EXPECT_TRUE(TakeSent().empty());
  Advance(absl::Seconds(1));
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].icmp);
  EXPECT_EQ(sent[0].icmp->type, 11);
  EXPECT_EQ(sent[0].icmp->code, 1);  // fragment reassembly time exceeded
  // The quote starts with the first fragment's header.
  Ipv4Header quoted;
  ASSERT_TRUE(Ipv4Header::ParseQuoted(
      {sent[0].ip_payload.data() + kIcmpHeaderSize, sent[0].ip_payload.size() - 8}, &quoted));
  EXPECT_EQ(quoted.id, 0x5151);
  EXPECT_EQ(stats().ip.ReasmTimeout.value(), 1u);
}

TEST_F(Ipv4IcmpTest, UnknownProtocolGetsProtocolUnreachable) {
  LearnPeer();
  Ipv4Spec spec;
  spec.protocol = 253;
  InjectIp(Ipv4Packet(spec, Data(40)));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].icmp);
  EXPECT_EQ(sent[0].icmp->type, 3);
  EXPECT_EQ(sent[0].icmp->code, 2);
  EXPECT_EQ(sent[0].ip_payload.size(), kIcmpHeaderSize + 20 + 40u) << "quotes the datagram";
  EXPECT_EQ(stats().ip.InUnknownProtos.value(), 1u);
  EXPECT_EQ(stats().icmp.OutDestUnreachs.value(), 1u);
}

TEST_F(Ipv4IcmpTest, ErrorsAreRateLimitedPerDestination) {
  LearnPeer();
  Ipv4Spec spec;
  spec.protocol = 253;
  for (int i = 0; i < 20; ++i) InjectIp(Ipv4Packet(spec, Data(8)));
  Run();
  // Linux's per-destination bucket: burst 6, then one a second.
  EXPECT_EQ(TakeSent().size(), 6u);
  EXPECT_EQ(stats().icmp.OutRateLimited.value(), 14u);
  Advance(absl::Seconds(1));
  InjectIp(Ipv4Packet(spec, Data(8)));
  Run();
  EXPECT_EQ(TakeSent().size(), 1u);
}

TEST_F(Ipv4IcmpTest, BroadcastPingIsIgnored) {
  LearnPeer();
  Ipv4Spec spec;
  spec.dst = *Ipv4Address::Parse("198.18.0.255");
  InjectIp(Ipv4Packet(spec, EchoRequest(1, 1, Data(8))), MacAddress::Broadcast());
  Run();
  EXPECT_TRUE(TakeSent().empty());
  EXPECT_EQ(stats().icmp.InEchos.value(), 1u);
}

TEST_F(Ipv4IcmpTest, BadInputIsDroppedAndCounted) {
  LearnPeer();
  Bytes good = Ipv4Packet({}, EchoRequest(1, 1, Data(16)));
  Bytes bad_ip_sum = good;
  bad_ip_sum[10] ^= 0xff;
  Bytes bad_icmp_sum = good;
  bad_icmp_sum[kIpv4MinHeaderSize + 2] ^= 0xff;
  Bytes truncated(good.begin(), good.begin() + 30);  // total length says 44
  Bytes bad_version = good;
  bad_version[0] = 0x65;
  Ipv4Spec martian;
  martian.src = *Ipv4Address::Parse("224.0.0.5");
  Ipv4Spec elsewhere;
  elsewhere.dst = *Ipv4Address::Parse("198.18.0.9");
  InjectIp(bad_ip_sum);
  InjectIp(bad_icmp_sum);
  InjectIp(truncated);
  InjectIp(bad_version);
  InjectIp(Ipv4Packet(martian, EchoRequest(1, 1, Data(8))));
  InjectIp(Ipv4Packet(elsewhere, EchoRequest(1, 1, Data(8))));
  InjectIp(good, MacAddress::Broadcast());  // unicast IP in a link broadcast
  Inject(EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv6, Data(40)));
  Inject(Bytes{1, 2, 3});
  Inject(EthernetFrame(*MacAddress::Parse("02:00:00:00:00:99"), kPeerMac, EtherType::kIpv4, good));
  Run();
  EXPECT_TRUE(TakeSent().empty());
  EXPECT_EQ(stats().ip.InCsumErrors.value(), 1u);
  EXPECT_EQ(stats().ip.InHdrErrors.value(), 2u);  // checksum + version
  EXPECT_EQ(stats().ip.InTruncatedPkts.value(), 1u);
  EXPECT_EQ(stats().ip.InAddrErrors.value(), 3u);
  EXPECT_EQ(stats().icmp.InCsumErrors.value(), 1u);
  EXPECT_EQ(stats().link.RxUnknownEtherType.value(), 1u);
  EXPECT_EQ(stats().link.RxErrors.value(), 1u);
  EXPECT_EQ(stats().link.RxNotForUs.value(), 1u);
  // And it still answers.
  InjectIp(good);
  Run();
  EXPECT_EQ(TakeSent().size(), 1u);
}

TEST_F(Ipv4IcmpTest, SendErrorsReportErrno) {
  TxFrame big(stack_->pool().Allocate(Nic::kHeadroom));
  big.payload.push_back(PacketBuffer::CopyOf(Data(3000)));
  Ipv4SendOptions df;
  df.dont_fragment = true;
  EXPECT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kPeerIp, 253, std::move(big), df), EMSGSIZE);
  TxFrame huge(stack_->pool().Allocate(Nic::kHeadroom));
  huge.payload.push_back(PacketBuffer::CopyOf(Data(65520)));
  EXPECT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kPeerIp, 253, std::move(huge)), EMSGSIZE);

  Build(StackOptions{}, /*default_gateway=*/false);
  TxFrame f(stack_->pool().Allocate(Nic::kHeadroom));
  f.head.Append(8);
  EXPECT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kRemoteIp, 253, std::move(f)), ENETUNREACH);
  EXPECT_EQ(stack_->stats().ip.OutNoRoutes.value(), 1u);
}

}  // namespace
}  // namespace netshim::testing
