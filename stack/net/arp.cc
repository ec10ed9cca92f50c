#include "stack/net/arp.h"

#include "stack/runtime/log.h"

namespace netshim {

Arp::Arp(Nic& nic, NeighborCache& cache, BufferPool& pool, const Clock& clock, ArpStats& stats)
    : nic_(nic), cache_(cache), pool_(pool), clock_(clock), stats_(stats) {}

void Arp::Receive(PacketBuffer packet, const EthernetHeader& eth) {
  auto arp = ArpPacket::Parse(packet.span());
  if (!arp) {
    stats_.InErrors.Inc();
    return;
  }
  if (arp->op == ArpOp::kRequest) {
    stats_.InRequests.Inc();
  } else {
    stats_.InReplies.Inc();
  }
  const Ipv4Address ours = nic_.address().address;
  // RFC 5227 2.1.1: someone else claiming our address. Linux keeps it and only logs; so do we.
  if (arp->sender_ip == ours && arp->sender_mac != nic_.mac()) {
    stats_.AddressConflicts.Inc();
    NETSHIM_LOG(kWarn, "arp: {} claims our address {}", arp->sender_mac.ToString(),
                ours.ToString());
    return;
  }
  // Frames with a sender MAC that is not a host (broadcast, multicast) are bogus.
  if (arp->sender_mac.IsMulticast() || arp->sender_mac.IsZero()) {
    stats_.InErrors.Inc();
    return;
  }
  const bool for_us = arp->target_ip == ours;
  // RFC 826 "Packet Reception": merge the sender into the table (an ARP probe from 0.0.0.0,
  // RFC 5227 2.1.1, teaches nothing), then answer requests for our address.
  if (!arp->sender_ip.IsAny()) {
    ArpOrigin origin = ArpOrigin::kOther;
    if (arp->op == ArpOp::kReply && for_us && eth.dst == nic_.mac()) {
      origin = ArpOrigin::kReplyToUs;
    } else if (arp->op == ArpOp::kRequest && for_us) {
      origin = ArpOrigin::kRequestForUs;
    }
    Execute(cache_.OnArpReceived(
        ArpSender{arp->sender_ip, arp->sender_mac, origin, arp->IsGratuitous()}, clock_.Now()));
  }
  if (!for_us) {
    stats_.InNotForUs.Inc();
    return;
  }
  if (arp->op == ArpOp::kRequest) {
    // A probe's sender address is 0.0.0.0; the reply still goes to its MAC (RFC 5227 2.1.1).
    Send(ArpOp::kReply, arp->sender_mac, arp->sender_mac, arp->sender_ip);
    stats_.OutReplies.Inc();
  }
}

void Arp::Resolve(Ipv4Address next_hop, TxFrame packet) {
  ResolveResult r = cache_.Resolve(next_hop, std::move(packet), clock_.Now());
  if (r.mac) {
    nic_.Send(*r.mac, EtherType::kIpv4, std::move(r.frame));
    return;
  }
  const bool armed = !r.actions.requests.empty();
  Execute(std::move(r.actions));
  // A resolution that started here armed a retransmit timer the dispatcher does not know of.
  if (armed && deadline_hook_) {
    if (auto next = cache_.NextDeadline()) deadline_hook_(*next);
  }
}

void Arp::Announce() {
  const ArpPacket garp = ArpPacket::Gratuitous(nic_.mac(), nic_.address().address);
  Send(garp.op, MacAddress::Broadcast(), garp.target_mac, garp.target_ip);
  stats_.OutGratuitous.Inc();
}

void Arp::OnTimer(absl::Time now) { Execute(cache_.OnTimer(now)); }

void Arp::Execute(NeighborActions actions) {
  for (const ArpRequestToSend& req : actions.requests) {
    Send(ArpOp::kRequest, req.dst_mac, MacAddress::Zero(), req.target);
    stats_.OutRequests.Inc();
  }
  for (ResolvedFrame& r : actions.ready) {
    nic_.Send(r.dst_mac, EtherType::kIpv4, std::move(r.frame));
  }
  for (TxFrame& f : actions.failed) {
    if (on_unresolved_) on_unresolved_(std::move(f));
  }
}

void Arp::Send(ArpOp op, MacAddress eth_dst, MacAddress target_mac, Ipv4Address target_ip) {
  TxFrame frame(pool_.Allocate(Nic::kHeadroom));
  if (!frame.head) return;  // pool exhausted; the pool counts the failure
  ArpPacket a;
  a.op = op;
  a.sender_mac = nic_.mac();
  a.sender_ip = nic_.address().address;
  a.target_mac = target_mac;
  a.target_ip = target_ip;
  a.Write({frame.head.Append(kArpPacketSize), kArpPacketSize});
  nic_.Send(eth_dst, EtherType::kArp, std::move(frame));
}

}  // namespace netshim
