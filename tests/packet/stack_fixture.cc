#include "tests/packet/stack_fixture.h"

#include <algorithm>

namespace netshim::testing {

Bytes EthernetFrame(MacAddress dst, MacAddress src, EtherType type, const Bytes& payload) {
  Bytes f(kEthernetHeaderSize);
  EthernetHeader{dst, src, static_cast<uint16_t>(type)}.Write(f);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

Bytes ArpFrame(ArpOp op, MacAddress eth_dst, MacAddress sender_mac, Ipv4Address sender_ip,
               MacAddress target_mac, Ipv4Address target_ip) {
  ArpPacket a;
  a.op = op;
  a.sender_mac = sender_mac;
  a.sender_ip = sender_ip;
  a.target_mac = target_mac;
  a.target_ip = target_ip;
  Bytes body(kArpPacketSize);
  a.Write(body);
  return EthernetFrame(eth_dst, sender_mac, EtherType::kArp, body);
}

Bytes Ipv4Packet(const Ipv4Spec& spec, const Bytes& payload) {
  Ipv4Header h;
  h.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + payload.size());
  h.id = spec.id;
  h.fragment_offset = spec.fragment_offset;
  h.more_fragments = spec.more_fragments;
  h.ttl = spec.ttl;
  h.protocol = spec.protocol;
  h.src = spec.src;
  h.dst = spec.dst;
  Bytes p(kIpv4MinHeaderSize);
  h.Write(p);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

Bytes EchoRequest(uint16_t id, uint16_t seq, const Bytes& data) {
  Bytes m(kIcmpHeaderSize);
  m.insert(m.end(), data.begin(), data.end());
  IcmpHeader{static_cast<uint8_t>(IcmpType::kEchoRequest), 0, 0, uint32_t{id} << 16 | seq}.Write(
      m, {m.data() + kIcmpHeaderSize, data.size()});
  return m;
}

std::vector<Bytes> Fragments(const Ipv4Spec& spec, const Bytes& payload, size_t chunk) {
  std::vector<Bytes> out;
  for (size_t off = 0; off < payload.size(); off += chunk) {
    const size_t len = std::min(chunk, payload.size() - off);
    Ipv4Spec f = spec;
    f.fragment_offset = static_cast<uint16_t>(off);
    f.more_fragments = off + len < payload.size();
    out.push_back(Ipv4Packet(f, Bytes(payload.begin() + off, payload.begin() + off + len)));
  }
  return out;
}

Sent Dissect(const Bytes& frame) {
  Sent s;
  s.raw = frame;
  auto eth = EthernetHeader::Parse(frame);
  EXPECT_TRUE(eth) << "the stack sent a frame without an Ethernet header";
  if (!eth) return s;
  s.eth = *eth;
  const std::span<const uint8_t> body(frame.data() + kEthernetHeaderSize,
                                      frame.size() - kEthernetHeaderSize);
  if (eth->ether_type == static_cast<uint16_t>(EtherType::kArp)) {
    s.arp = ArpPacket::Parse(body);
    EXPECT_TRUE(s.arp) << "malformed ARP sent";
  } else if (eth->ether_type == static_cast<uint16_t>(EtherType::kIpv4)) {
    Ipv4Header ip;
    EXPECT_EQ(Ipv4Header::Parse(body, &ip), Ipv4ParseError::kOk) << "malformed IPv4 sent";
    s.ip = ip;
    s.ip_payload.assign(body.begin() + ip.header_length, body.begin() + ip.total_length);
    if (ip.protocol == static_cast<uint8_t>(IpProtocol::kIcmp) && !ip.IsFragment()) {
      s.icmp = IcmpHeader::Parse(s.ip_payload);
      EXPECT_EQ(InternetChecksum(s.ip_payload), 0) << "ICMP checksum wrong";
    }
  }
  return s;
}

std::unique_ptr<Stack> StackOnLink(const StackOptions& options, std::unique_ptr<ChannelLink> link) {
  auto s = Stack::Create(options, [&link](BufferPool*, LinkStats*) {
    return absl::StatusOr<std::unique_ptr<LinkEndpoint>>(std::move(link));
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

void StackTest::Build(StackOptions options, bool default_gateway) {
  stack_.reset();
  options.address = Ipv4Cidr{kStackIp, 24};
  if (!options.gateway && default_gateway) options.gateway = kGatewayIp;
  options.mac = kStackMac;
  options.clock = &clock_;
  auto link = std::make_unique<ChannelLink>(options.mtu);
  link_ = link.get();
  stack_ = StackOnLink(options, std::move(link));
  ASSERT_TRUE(stack_);
}

std::vector<Sent> StackTest::TakeSent() {
  std::vector<Sent> out;
  for (const Bytes& f : link_->TakeSent()) out.push_back(Dissect(f));
  return out;
}

void StackTest::LearnPeer() {
  Inject(ArpFrame(ArpOp::kRequest, MacAddress::Broadcast(), kPeerMac, kPeerIp, MacAddress::Zero(),
                  kStackIp));
  Run();
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].arp);
  ASSERT_EQ(sent[0].arp->op, ArpOp::kReply);
}

}  // namespace netshim::testing
