// ARP against crafted frames: replies, learning, resolution with retries, announcements.
#include "tests/packet/stack_fixture.h"

namespace netshim::testing {
namespace {

using ArpPacketTest = StackTest;

TEST_F(ArpPacketTest, AnswersRequestForOurAddress) {
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp, MacAddress::Zero(),
                  kStackIp));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  const Sent& r = sent[0];
  EXPECT_EQ(r.eth.dst, kPeerMac);
  EXPECT_EQ(r.eth.src, kStackMac);
  ASSERT_TRUE(r.arp);
  EXPECT_EQ(r.arp->op, ArpOp::kReply);
  EXPECT_EQ(r.arp->sender_mac, kStackMac);
  EXPECT_EQ(r.arp->sender_ip, kStackIp);
  EXPECT_EQ(r.arp->target_mac, kPeerMac);
  EXPECT_EQ(r.arp->target_ip, kPeerIp);
  EXPECT_EQ(stats().arp.InRequests.value(), 1u);
  EXPECT_EQ(stats().arp.OutReplies.value(), 1u);
  // RFC 826: the requester was learned, so no ARP is needed to answer it.
  EXPECT_EQ(stack_->neighbors().Peek(kPeerIp), kPeerMac);
}

TEST_F(ArpPacketTest, IgnoresRequestForAnotherHost) {
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp, MacAddress::Zero(),
                  *Ipv4Address::Parse("198.18.0.77")));
  Run();
  EXPECT_TRUE(TakeSent().empty());
  EXPECT_EQ(stats().arp.InNotForUs.value(), 1u);
  EXPECT_FALSE(stack_->neighbors().Peek(kPeerIp)) << "created an entry from a stranger's request";
}

TEST_F(ArpPacketTest, AnswersProbeFromZeroAddress) {
  // RFC 5227 2.1.1: a probe (sender 0.0.0.0) for our address gets a reply, and teaches nothing.
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, Ipv4Address::Any(),
                  MacAddress::Zero(), kStackIp));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->op, ArpOp::kReply);
  EXPECT_EQ(sent[0].eth.dst, kPeerMac);
  EXPECT_EQ(stack_->neighbors().size(), 0u);
}

TEST_F(ArpPacketTest, AnnounceSendsGratuitousArp) {
  stack_->arp().Announce();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].eth.dst.IsBroadcast());
  ASSERT_TRUE(sent[0].arp);
  EXPECT_TRUE(sent[0].arp->IsGratuitous());
  EXPECT_EQ(sent[0].arp->sender_ip, kStackIp);
  EXPECT_EQ(sent[0].arp->sender_mac, kStackMac);
  EXPECT_EQ(stats().arp.OutGratuitous.value(), 1u);
}

TEST_F(ArpPacketTest, ConflictingClaimOnOurAddressIsCounted) {
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kStackIp, MacAddress::Zero(),
                  kStackIp));
  Run();
  EXPECT_EQ(stats().arp.AddressConflicts.value(), 1u);
  EXPECT_TRUE(TakeSent().empty());
}

TEST_F(ArpPacketTest, ResolvesNextHopQueuesAndFlushes) {
  // Two datagrams to an unknown neighbour: one broadcast request, both sent on the reply.
  for (int i = 0; i < 2; ++i) {
    TxFrame f(stack_->pool().Allocate(Nic::kHeadroom));
    f.head.Append(8)[0] = static_cast<uint8_t>(i);
    ASSERT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kPeerIp, 253, std::move(f)), 0);
  }
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->op, ArpOp::kRequest);
  EXPECT_TRUE(sent[0].eth.dst.IsBroadcast());
  EXPECT_EQ(sent[0].arp->target_ip, kPeerIp);
  EXPECT_EQ(sent[0].arp->sender_ip, kStackIp);

  Inject(ArpFrame(ArpOp::kReply, kStackMac, kPeerMac, kPeerIp, kStackMac, kStackIp));
  Run();
  sent = TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(sent[i].eth.dst, kPeerMac);
    ASSERT_TRUE(sent[i].ip);
    EXPECT_EQ(sent[i].ip->protocol, 253);
    EXPECT_EQ(sent[i].ip_payload[0], i) << "queued frames must keep their order";
  }
}

TEST_F(ArpPacketTest, UnansweredResolutionRetriesThenDrops) {
  TxFrame f(stack_->pool().Allocate(Nic::kHeadroom));
  f.head.Append(8);
  ASSERT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kPeerIp, 253, std::move(f)), 0);
  EXPECT_EQ(TakeSent().size(), 1u);
  // Linux: mcast_solicit = 3 requests, retrans_time = 1 s apart, then FAILED.
  Advance(absl::Milliseconds(999));
  EXPECT_TRUE(TakeSent().empty()) << "retransmitted early";
  Advance(absl::Milliseconds(1));
  EXPECT_EQ(TakeSent().size(), 1u);
  Advance(absl::Seconds(1));
  EXPECT_EQ(TakeSent().size(), 1u);
  Advance(absl::Seconds(1));
  EXPECT_TRUE(TakeSent().empty());
  EXPECT_EQ(stats().arp.OutRequests.value(), 3u);
  EXPECT_EQ(stats().arp.ResolutionFailures.value(), 1u);
  EXPECT_EQ(stats().arp.UnresolvedDiscards.value(), 1u);
}

TEST_F(ArpPacketTest, OffSubnetTrafficGoesToTheGateway) {
  TxFrame f(stack_->pool().Allocate(Nic::kHeadroom));
  f.head.Append(8);
  ASSERT_EQ(stack_->ipv4().Send(Ipv4Address::Any(), kRemoteIp, 253, std::move(f)), 0);
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  EXPECT_EQ(sent[0].arp->target_ip, kGatewayIp);
  Inject(ArpFrame(ArpOp::kReply, kStackMac, kGatewayMac, kGatewayIp, kStackMac, kStackIp));
  Run();
  sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].eth.dst, kGatewayMac);
  ASSERT_TRUE(sent[0].ip);
  EXPECT_EQ(sent[0].ip->dst, kRemoteIp);
}

TEST_F(ArpPacketTest, MalformedArpIsCountedNotAnswered) {
  Bytes frame = ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp,
                         MacAddress::Zero(), kStackIp);
  Bytes wrong_hw = frame;
  wrong_hw[kEthernetHeaderSize + 1] = 6;  // hardware type 6 (IEEE 802)
  Bytes truncated(frame.begin(), frame.begin() + kEthernetHeaderSize + 20);
  Inject(wrong_hw);
  Inject(truncated);
  Run();
  EXPECT_TRUE(TakeSent().empty());
  EXPECT_EQ(stats().arp.InErrors.value(), 2u);
}

}  // namespace
}  // namespace netshim::testing
