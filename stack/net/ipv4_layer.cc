#include "stack/net/ipv4_layer.h"

#include <cerrno>
#include <cstring>

#include "absl/random/random.h"
#include "stack/net/icmp.h"
#include "stack/runtime/log.h"

namespace netshim {

Ipv4Layer::Ipv4Layer(Nic& nic, Arp& arp, BufferPool& pool, const Clock& clock, IpStats& stats,
                     Ipv4Reassembler::Limits reassembly_limits)
    : nic_(nic),
      arp_(arp),
      pool_(pool),
      clock_(clock),
      stats_(stats),
      // A random start keeps IDs from colliding with an earlier run's still-queued fragments.
      next_id_(absl::Uniform<uint16_t>(absl::BitGen())),
      loopback_(stats),
      reassembler_(reassembly_limits, stats) {}

void Ipv4Layer::Receive(PacketBuffer packet, const EthernetHeader& eth) {
  stats_.InReceives.Inc();
  Ipv4Header ip;
  switch (Ipv4Header::Parse(packet.span(), &ip)) {
    case Ipv4ParseError::kOk:
      break;
    case Ipv4ParseError::kTruncated:
      stats_.InTruncatedPkts.Inc();
      return;
    case Ipv4ParseError::kBadChecksum:
      stats_.InCsumErrors.Inc();
      stats_.InHdrErrors.Inc();  // Linux counts a checksum error as both
      return;
    default:
      stats_.InHdrErrors.Inc();
      return;
  }
  packet.Truncate(ip.total_length);  // drop Ethernet padding

  // RFC 1122 3.2.1.3 / Linux's martian source check: a source can never be multicast,
  // broadcast, loopback, or our own address arriving from the wire.
  if (ip.src.IsMulticast() || nic_.IsBroadcast(ip.src) || ip.src.IsLoopback() ||
      nic_.IsOurAddress(ip.src)) {
    stats_.InAddrErrors.Inc();
    return;
  }
  // Linux ip_route_input_slow: a loopback destination from the wire is a martian too
  // (net.ipv4.conf.*.route_localnet = 0); only the loopback queue delivers to 127/8.
  if (ip.dst.IsLoopback()) {
    stats_.InAddrErrors.Inc();
    return;
  }
  const bool to_us = nic_.IsOurAddress(ip.dst);
  if (!to_us && !nic_.IsBroadcast(ip.dst)) {
    stats_.InAddrErrors.Inc();  // a host does not forward (RFC 1122 3.3.1)
    return;
  }
  // RFC 1122 3.3.6: discard a unicast datagram that came in a link-layer broadcast.
  const bool link_broadcast = eth.dst.IsBroadcast();
  if (link_broadcast && to_us) {
    stats_.InAddrErrors.Inc();
    return;
  }

  InboundDatagram dgram{ip, packet.Slice(0, ip.header_length),
                        packet.Slice(ip.header_length, ip.payload_length()), link_broadcast};
  if (!ip.IsFragment()) {
    DeliverLocal(std::move(dgram));
    return;
  }
  std::optional<ReassembledDatagram> whole;
  {
    absl::MutexLock lock(&mu_);
    whole = reassembler_.Add(
        Fragment{FragmentKey{ip.src, ip.dst, ip.protocol, ip.id}, ip.fragment_offset,
                 ip.more_fragments, std::move(dgram.header), std::move(dgram.payload)},
        clock_.Now());
  }
  if (!whole) return;
  if (!Ipv4Header::ParseQuoted(whole->header.span(), &dgram.ip)) return;  // cannot happen
  dgram.ip.more_fragments = false;
  dgram.ip.fragment_offset = 0;
  dgram.ip.total_length = static_cast<uint16_t>(whole->header.size() + whole->payload.size());
  dgram.header = std::move(whole->header);
  dgram.payload = std::move(whole->payload);
  DeliverLocal(std::move(dgram));
}

// Linux ip_rcv for a skb from loopback_xmit: the datagram was built by SendLoopback, so
// only the header is parsed again (for the same InboundDatagram a frame from the link
// gives), with no martian checks: 127/8 and our own source are what loopback carries.
void Ipv4Layer::ReceiveLoopback(PacketBuffer packet) {
  stats_.InReceives.Inc();
  Ipv4Header ip;
  if (Ipv4Header::Parse(packet.span(), &ip) != Ipv4ParseError::kOk) {
    stats_.InHdrErrors.Inc();  // cannot happen: SendLoopback wrote it
    return;
  }
  InboundDatagram dgram{ip, packet.Slice(0, ip.header_length),
                        packet.Slice(ip.header_length, ip.payload_length()), false};
  DeliverLocal(std::move(dgram));
}

size_t Ipv4Layer::PollLoopback(size_t budget) {
  return loopback_.Drain(budget, [this](PacketBuffer p) { ReceiveLoopback(std::move(p)); });
}

void Ipv4Layer::DeliverLocal(InboundDatagram dgram) {
  TransportProtocol* handler = transports_[dgram.ip.protocol];
  if (handler == nullptr) {
    stats_.InUnknownProtos.Inc();
    // RFC 1122 3.2.2.1: a host SHOULD send protocol unreachable (not for broadcasts).
    if (icmp_ && nic_.IsOurAddress(dgram.ip.dst)) {
      icmp_->SendError(IcmpType::kDestUnreachable, static_cast<uint8_t>(IcmpUnreachCode::kProtocol),
                       0, dgram);
    }
    return;
  }
  stats_.InDelivers.Inc();
  handler->Receive(std::move(dgram));
}

void Ipv4Layer::DeliverIcmpError(const IcmpError& error) {
  if (TransportProtocol* handler = transports_[error.original.protocol]) {
    handler->ReceiveIcmpError(error);
  }
}

void Ipv4Layer::AddRoute(const Route& route) {
  absl::MutexLock lock(&mu_);
  routes_.Add(route);
}

std::optional<RouteResult> Ipv4Layer::LookupRoute(Ipv4Address dst) const {
  absl::MutexLock lock(&mu_);
  return routes_.Lookup(dst);
}

Ipv4Address Ipv4Layer::SourceAddressFor(Ipv4Address dst) const {
  return dst.IsLoopback() ? Ipv4Address::FromOctets(127, 0, 0, 1) : nic_.address().address;
}

int Ipv4Layer::CheckRoute(Ipv4Address src, Ipv4Address dst) const {
  if (nic_.IsOurAddress(dst)) return 0;  // the local table: through `lo`
  if (!LookupRoute(dst)) return ENETUNREACH;
  // __mkroute_output: "ipv4_is_loopback(fl4->saddr) && !(dev_out->flags & IFF_LOOPBACK)".
  return src.IsLoopback() ? EINVAL : 0;
}

uint32_t Ipv4Layer::MtuFor(Ipv4Address dst) const {
  return nic_.IsOurAddress(dst) ? LoopbackDelivery::kMtu : nic_.mtu();
}

Ipv4Header Ipv4Layer::MakeHeader(Ipv4Address src, Ipv4Address dst, uint8_t protocol, size_t total,
                                 const Ipv4SendOptions& options) {
  Ipv4Header h;
  h.tos = options.tos;
  h.total_length = static_cast<uint16_t>(total);
  h.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  h.dont_fragment = options.dont_fragment;
  h.ttl = options.ttl;
  h.protocol = protocol;
  h.src = src.IsAny() ? SourceAddressFor(dst) : src;
  h.dst = dst;
  return h;
}

int Ipv4Layer::Send(Ipv4Address src, Ipv4Address dst, uint8_t protocol, TxFrame segment,
                    const Ipv4SendOptions& options) {
  stats_.OutRequests.Inc();
  const size_t total = kIpv4MinHeaderSize + segment.size();
  if (total > kIpv4MaxPacketSize) {
    stats_.OutDiscards.Inc();
    return EMSGSIZE;
  }
  if (nic_.IsOurAddress(dst)) {
    return SendLoopback(MakeHeader(src, dst, protocol, total, options), segment);
  }
  if (src.IsLoopback()) return EINVAL;  // as CheckRoute: 127/8 never leaves by the link
  Ipv4Address next_hop = dst;
  if (!nic_.IsBroadcast(dst) && !dst.IsMulticast()) {
    auto route = LookupRoute(dst);
    if (!route) {
      stats_.OutNoRoutes.Inc();
      return ENETUNREACH;
    }
    next_hop = route->next_hop;
  }
  const Ipv4Header h = MakeHeader(src, dst, protocol, total, options);

  // A GSO frame is longer than the MTU on purpose: the link cuts it into segments that fit
  // (each with this header, its length and checksum fixed up), never into fragments.
  const bool gso = segment.offload.gso_size != 0;
  if (total <= nic_.mtu() || gso) {
    h.Write({segment.head.Prepend(kIpv4MinHeaderSize), kIpv4MinHeaderSize});
    if (segment.offload.needs_checksum) segment.offload.csum_start += kIpv4MinHeaderSize;
    Transmit(dst, next_hop, std::move(segment));
    return 0;
  }
  // A partial checksum would go out unfinished in fragments; only TCP asks for one, and TCP
  // never fragments (DF), so this refuses rather than finishing it here.
  if (options.dont_fragment || segment.offload.needs_checksum) {
    stats_.FragFails.Inc();
    return EMSGSIZE;
  }
  return SendFragmented(h, next_hop, std::move(segment));
}

// Linux loopback_xmit: the datagram goes whole (lo's MTU is 64 KiB and it takes GSO frames
// as they are, so nothing is fragmented or segmented) into the queue the dispatch thread
// drains. One contiguous copy: the receiver parses it like a frame from the link, and the
// sender keeps its buffers (TCP's send queue, for retransmission) to itself.
int Ipv4Layer::SendLoopback(const Ipv4Header& header, const TxFrame& segment) {
  const size_t total = header.total_length;
  PacketBuffer packet = total <= pool_.block_size() ? pool_.Allocate(0) : PacketBuffer::Heap(total);
  if (!packet) {
    stats_.OutDiscards.Inc();
    return ENOBUFS;
  }
  header.Write({packet.Append(kIpv4MinHeaderSize), kIpv4MinHeaderSize});
  auto append = [&packet](const PacketBuffer& b) {
    if (!b.empty()) std::memcpy(packet.Append(b.size()), b.data(), b.size());
  };
  append(segment.head);
  for (const PacketBuffer& p : segment.payload) append(p);
  // loopback_xmit marks every skb CHECKSUM_UNNECESSARY: the bytes never left memory. That
  // also covers a transport checksum left partial for an offloading link to finish
  // (TxOffload::needs_checksum): no device finishes it here, and nobody needs it finished.
  packet.MarkChecksumTrusted();
  loopback_.Enqueue(std::move(packet));  // a full queue drops it, counted, as netif_rx does
  return 0;
}

// RFC 791 3.2 "Fragmentation": every fragment but the last carries a multiple of 8 bytes.
// Each fragment is a fresh header buffer plus slices of the original payload, so the
// payload bytes are never copied.
int Ipv4Layer::SendFragmented(const Ipv4Header& header, Ipv4Address next_hop, TxFrame segment) {
  absl::InlinedVector<PacketBuffer, 4> pieces;
  if (!segment.head.empty()) pieces.push_back(std::move(segment.head));
  for (PacketBuffer& p : segment.payload) {
    if (!p.empty()) pieces.push_back(std::move(p));
  }
  const size_t data_total = header.total_length - kIpv4MinHeaderSize;
  const size_t per_fragment = (nic_.mtu() - kIpv4MinHeaderSize) & ~size_t{7};
  size_t piece = 0, piece_off = 0;
  for (size_t offset = 0; offset < data_total; offset += per_fragment) {
    const size_t len = std::min(per_fragment, data_total - offset);
    TxFrame frag(pool_.Allocate(Nic::kHeadroom));
    if (!frag.head) {
      stats_.OutDiscards.Inc();
      stats_.FragFails.Inc();
      return ENOBUFS;
    }
    for (size_t need = len; need > 0;) {
      const size_t take = std::min(need, pieces[piece].size() - piece_off);
      frag.payload.push_back(pieces[piece].Slice(piece_off, take));
      need -= take;
      piece_off += take;
      if (piece_off == pieces[piece].size()) ++piece, piece_off = 0;
    }
    Ipv4Header fh = header;
    fh.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + len);
    fh.fragment_offset = static_cast<uint16_t>(offset);
    fh.more_fragments = offset + len < data_total;
    fh.Write({frag.head.Prepend(kIpv4MinHeaderSize), kIpv4MinHeaderSize});
    stats_.FragCreates.Inc();
    Transmit(header.dst, next_hop, std::move(frag));
  }
  stats_.FragOKs.Inc();
  return 0;
}

MacAddress Ipv4Layer::BroadcastMacFor(Ipv4Address dst) const {
  if (!dst.IsMulticast()) return MacAddress::Broadcast();
  // RFC 1112 6.4: 01:00:5e followed by the low 23 bits of the group address.
  return MacAddress{{0x01, 0x00, 0x5e, static_cast<uint8_t>((dst.value >> 16) & 0x7f),
                     static_cast<uint8_t>(dst.value >> 8), static_cast<uint8_t>(dst.value)}};
}

void Ipv4Layer::Transmit(Ipv4Address dst, Ipv4Address next_hop, TxFrame frame) {
  if (nic_.IsBroadcast(dst) || dst.IsMulticast()) {
    nic_.Send(BroadcastMacFor(dst), EtherType::kIpv4, std::move(frame));
    return;
  }
  arp_.Resolve(next_hop, std::move(frame));
}

void Ipv4Layer::OnTimer(absl::Time now) {
  std::vector<TimedOutDatagram> expired;
  {
    absl::MutexLock lock(&mu_);
    expired = reassembler_.Expire(now);
  }
  if (icmp_ == nullptr) return;
  for (TimedOutDatagram& t : expired) {
    // RFC 792 / RFC 1122 3.3.2: "fragment reassembly time exceeded", only when fragment zero
    // arrived (the reassembler reports only those).
    InboundDatagram quoted;
    if (!Ipv4Header::ParseQuoted(t.header.span(), &quoted.ip)) continue;
    quoted.header = std::move(t.header);
    quoted.payload = std::move(t.first_bytes);
    icmp_->SendError(IcmpType::kTimeExceeded, 1, 0, quoted);
  }
}

std::optional<absl::Time> Ipv4Layer::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  return reassembler_.NextDeadline();
}

}  // namespace netshim
