// The network interface: one link endpoint, its MAC and its IPv4 address. It receives
// frames from the link, keeps what is addressed to it, and hands each to the protocol for
// its EtherType; on transmit it prepends the Ethernet header.
#pragma once

#include <cstdint>

#include "stack/buffer/packet_buffer.h"
#include "stack/buffer/tx_frame.h"
#include "stack/link/link_endpoint.h"
#include "stack/runtime/stats.h"
#include "stack/wire/address.h"
#include "stack/wire/ethernet.h"

namespace netshim {

// A network protocol's receive entry point (ARP, IPv4).
class FrameReceiver {
 public:
  virtual ~FrameReceiver() = default;
  // `packet` starts after the Ethernet header.
  virtual void Receive(PacketBuffer packet, const EthernetHeader& eth) = 0;
};

class Nic final : public FrameSink {
 public:
  // Bytes reserved in front of every transmitted packet: Ethernet (14) + IPv4 (20) + the
  // largest TCP header (60), rounded up.
  static constexpr size_t kHeadroom = 128;

  Nic(LinkEndpoint* link, MacAddress mac, Ipv4Cidr address, LinkStats& stats);

  void SetReceivers(FrameReceiver* arp, FrameReceiver* ipv4) {
    arp_ = arp;
    ipv4_ = ipv4;
  }

  // FrameSink: called by the link on the dispatch thread.
  void DeliverFrame(PacketBuffer frame) override;

  // Prepends the Ethernet header (the head buffer must have kEthernetHeaderSize of headroom)
  // and writes the frame. Safe from any thread. False when the link dropped it.
  bool Send(MacAddress dst, EtherType type, TxFrame frame);

  MacAddress mac() const { return mac_; }
  const Ipv4Cidr& address() const { return address_; }
  uint32_t mtu() const { return link_->mtu(); }
  // What the link finishes for us (checksums, TSO); read once, links do not change it.
  const LinkOffloads& offloads() const { return offloads_; }
  LinkEndpoint* link() const { return link_; }

  // A local address of this host (Linux inet_addr_type() == RTN_LOCAL): the interface's, or
  // any of 127.0.0.0/8, which Linux's local table puts on `lo` ("local 127.0.0.0/8 dev lo").
  // Datagrams to these are delivered through the loopback queue, never onto the link; the
  // IPv4 layer drops wire datagrams naming 127/8 before asking (martians).
  bool IsOurAddress(Ipv4Address a) const { return a == address_.address || a.IsLoopback(); }
  // Limited broadcast or this subnet's directed broadcast (RFC 1122 3.3.6).
  bool IsBroadcast(Ipv4Address a) const {
    return a.IsLimitedBroadcast() ||
           (address_.prefix_len < 31 && a == address_.DirectedBroadcast());
  }

 private:
  LinkEndpoint* const link_;
  const LinkOffloads offloads_;
  const MacAddress mac_;
  const Ipv4Cidr address_;
  LinkStats& stats_;
  FrameReceiver* arp_ = nullptr;
  FrameReceiver* ipv4_ = nullptr;
};

}  // namespace netshim
