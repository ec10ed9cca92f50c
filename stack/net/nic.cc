#include "stack/net/nic.h"

#include "stack/runtime/log.h"

namespace netshim {

Nic::Nic(LinkEndpoint* link, MacAddress mac, Ipv4Cidr address, LinkStats& stats)
    : link_(link), offloads_(link->offloads()), mac_(mac), address_(address), stats_(stats) {}

void Nic::DeliverFrame(PacketBuffer frame) {
  stats_.RxFrames.Inc();
  stats_.RxBytes.Add(frame.size());
  auto eth = EthernetHeader::Parse(frame.span());
  if (!eth) {
    stats_.RxErrors.Inc();
    NETSHIM_LOG(kTrace, "nic: dropped malformed frame of {} bytes", frame.size());
    return;
  }
  // A TAP on a bridge sees frames for other hosts, and multicast we have not joined.
  if (eth->dst != mac_ && !eth->dst.IsBroadcast()) {
    stats_.RxNotForUs.Inc();
    return;
  }
  frame.Consume(kEthernetHeaderSize);
  switch (static_cast<EtherType>(eth->ether_type)) {
    case EtherType::kIpv4:
      if (ipv4_) ipv4_->Receive(std::move(frame), *eth);
      return;
    case EtherType::kArp:
      if (arp_) arp_->Receive(std::move(frame), *eth);
      return;
    default:
      // IPv6 from the kernel side, LLDP, VLAN tags: not spoken here.
      stats_.RxUnknownEtherType.Inc();
      NETSHIM_LOG(kTrace, "nic: dropped EtherType {:#06x}", eth->ether_type);
      return;
  }
}

bool Nic::Send(MacAddress dst, EtherType type, TxFrame frame) {
  EthernetHeader eth{dst, mac_, static_cast<uint16_t>(type)};
  eth.Write({frame.head.Prepend(kEthernetHeaderSize), kEthernetHeaderSize});
  if (frame.offload.needs_checksum) frame.offload.csum_start += kEthernetHeaderSize;
  const size_t size = frame.size();
  const TxOffload offload = frame.offload;
  if (!link_->Write(std::move(frame))) {
    stats_.TxErrors.Inc();
    return false;
  }
  stats_.TxFrames.Inc();
  stats_.TxBytes.Add(size);
  if (offload.gso_size != 0) stats_.TxGsoFrames.Inc();
  if (offload.needs_checksum) stats_.TxChecksumOffloaded.Inc();
  return true;
}

}  // namespace netshim
