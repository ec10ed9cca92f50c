// A stack on the in-memory link with a manual clock, and helpers to craft frames for it and
// take apart what it sends: the packet tests inject segments and check emitted fields.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "stack/link/channel_link.h"
#include "stack/stack.h"
#include "stack/wire/arp.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"

namespace netshim::testing {

using Bytes = std::vector<uint8_t>;

inline const MacAddress kStackMac = *MacAddress::Parse("02:00:00:00:00:02");
inline const MacAddress kPeerMac = *MacAddress::Parse("02:00:00:00:00:01");
inline const MacAddress kGatewayMac = *MacAddress::Parse("02:00:00:00:00:fe");
inline const Ipv4Address kStackIp = *Ipv4Address::Parse("198.18.0.2");
inline const Ipv4Address kPeerIp = *Ipv4Address::Parse("198.18.0.1");
inline const Ipv4Address kGatewayIp = *Ipv4Address::Parse("198.18.0.254");
inline const Ipv4Address kRemoteIp = *Ipv4Address::Parse("198.19.7.7");  // off-subnet

Bytes EthernetFrame(MacAddress dst, MacAddress src, EtherType type, const Bytes& payload);
Bytes ArpFrame(ArpOp op, MacAddress eth_dst, MacAddress sender_mac, Ipv4Address sender_ip,
               MacAddress target_mac, Ipv4Address target_ip);

struct Ipv4Spec {
  Ipv4Address src = kPeerIp;
  Ipv4Address dst = kStackIp;
  uint8_t protocol = static_cast<uint8_t>(IpProtocol::kIcmp);
  uint16_t id = 0x1000;
  uint16_t fragment_offset = 0;
  bool more_fragments = false;
  uint8_t ttl = 64;
};
// An IPv4 packet (header with a correct checksum + payload).
Bytes Ipv4Packet(const Ipv4Spec& spec, const Bytes& payload);
// An ICMP echo request message (header + data), checksummed.
Bytes EchoRequest(uint16_t id, uint16_t seq, const Bytes& data);
// Splits an IP datagram's payload into fragments of at most `chunk` bytes (a multiple of 8).
std::vector<Bytes> Fragments(const Ipv4Spec& spec, const Bytes& payload, size_t chunk);

// A frame the stack sent, taken apart.
struct Sent {
  EthernetHeader eth;
  std::optional<ArpPacket> arp;
  std::optional<Ipv4Header> ip;
  Bytes ip_payload;  // after the IP header
  std::optional<IcmpHeader> icmp;
  Bytes raw;
};
Sent Dissect(const Bytes& frame);

// A stack on `link` (address, MAC and the rest from `options`); fails the test if it cannot
// be made.
std::unique_ptr<Stack> StackOnLink(const StackOptions& options, std::unique_ptr<ChannelLink> link);

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(StackOptions{}); }
  // Rebuilds the stack with options (address, MAC and clock are filled in, and the gateway
  // unless told not to).
  void Build(StackOptions options, bool default_gateway = true);

  void Inject(const Bytes& frame) { link_->Inject(frame); }
  // Runs everything the stack has to do now.
  void Run() { stack_->RunUntilIdle(); }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    Run();
  }
  std::vector<Sent> TakeSent();
  // Teaches the stack the peer's MAC the way the kernel would: an ARP request for us.
  void LearnPeer();

  const StackStats& stats() { return stack_->stats(); }

  ManualClock clock_;
  ChannelLink* link_ = nullptr;
  std::unique_ptr<Stack> stack_;
};

}  // namespace netshim::testing
