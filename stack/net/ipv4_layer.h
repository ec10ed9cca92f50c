// IPv4 for a host (RFC 791, RFC 1122 3.2.1): validates and delivers what is addressed to
// us, reassembles fragments, and sends datagrams: route lookup, header, fragmentation when a
// datagram exceeds the MTU, and next-hop resolution through ARP. Datagrams to a local
// address (127.0.0.0/8 or the interface's own) go through the loopback device instead, as
// Linux routes them to `lo`: queued, then delivered to ourselves by the dispatch thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/net/arp.h"
#include "stack/net/ipv4_reassembler.h"
#include "stack/net/loopback_delivery.h"
#include "stack/net/nic.h"
#include "stack/net/route_table.h"
#include "stack/net/transport_protocol.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/stats.h"

namespace netshim {

class Icmp;

struct Ipv4SendOptions {
  uint8_t ttl = kDefaultTtl;
  uint8_t tos = 0;
  bool dont_fragment = false;
};

class Ipv4Layer final : public FrameReceiver {
 public:
  Ipv4Layer(Nic& nic, Arp& arp, BufferPool& pool, const Clock& clock, IpStats& stats,
            Ipv4Reassembler::Limits reassembly_limits);

  void SetIcmp(Icmp* icmp) { icmp_ = icmp; }
  // Registers the handler for an IP protocol number (before the stack starts).
  void RegisterTransport(uint8_t protocol, TransportProtocol* handler) {
    transports_[protocol] = handler;
  }

  // FrameReceiver (dispatch thread).
  void Receive(PacketBuffer packet, const EthernetHeader& eth) override;

  // Sends `segment` (the transport header and payload; its head buffer needs
  // Nic::kHeadroom of headroom) from `src` (Any: SourceAddressFor(dst)) to `dst`.
  // Safe from any thread, with any socket lock held: a datagram to a local address is only
  // queued. Returns 0, or the errno a socket would report: ENETUNREACH (no route), EINVAL
  // (a loopback source towards the link), EMSGSIZE (too big with DF set, or over 65535
  // bytes), ENOBUFS (no buffer for a fragment header or the loopback copy).
  int Send(Ipv4Address src, Ipv4Address dst, uint8_t protocol, TxFrame segment,
           const Ipv4SendOptions& options = {});

  // The source a datagram to `dst` gets when the socket has not chosen one: 127.0.0.1 for
  // 127.0.0.0/8 (Linux's lo route has "src 127.0.0.1"), else the interface address (for
  // our own address too: its local route has it as source).
  Ipv4Address SourceAddressFor(Ipv4Address dst) const;
  // The route check of connect() (Linux ip_route_connect / __mkroute_output) for a unicast
  // `dst` from `src` (Any: not chosen yet): 0, ENETUNREACH when no route leads there, or
  // EINVAL for a loopback source towards a destination that is not local.
  int CheckRoute(Ipv4Address src, Ipv4Address dst) const ABSL_LOCKS_EXCLUDED(mu_);
  // The MTU of the device a datagram to `dst` leaves by: LoopbackDelivery::kMtu for a local
  // destination, else the link's.
  uint32_t MtuFor(Ipv4Address dst) const;

  // Dispatch thread: delivers up to `budget` datagrams waiting in the loopback queue to our
  // own transports; returns how many.
  size_t PollLoopback(size_t budget);
  LoopbackDelivery& loopback() { return loopback_; }

  // Routes: longest prefix match; the interface's subnet is on-link. These are the link's
  // routes only: local destinations (Nic::IsOurAddress) never reach them, as Linux's local
  // table is consulted before the main one.
  void AddRoute(const Route& route) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<RouteResult> LookupRoute(Ipv4Address dst) const ABSL_LOCKS_EXCLUDED(mu_);

  // Hands an ICMP error to the transport that sent the quoted datagram.
  void DeliverIcmpError(const IcmpError& error);

  // Reassembly timeouts (ICMP time exceeded for those that had their first fragment).
  void OnTimer(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Time> NextDeadline() const ABSL_LOCKS_EXCLUDED(mu_);

  const Nic& nic() const { return nic_; }

 private:
  void DeliverLocal(InboundDatagram datagram);
  Ipv4Header MakeHeader(Ipv4Address src, Ipv4Address dst, uint8_t protocol, size_t total,
                        const Ipv4SendOptions& options);
  int SendLoopback(const Ipv4Header& header, const TxFrame& segment);
  void ReceiveLoopback(PacketBuffer packet);
  int SendFragmented(const Ipv4Header& header, Ipv4Address next_hop, TxFrame segment);
  MacAddress BroadcastMacFor(Ipv4Address dst) const;
  void Transmit(Ipv4Address dst, Ipv4Address next_hop, TxFrame frame);

  Nic& nic_;
  Arp& arp_;
  BufferPool& pool_;
  const Clock& clock_;
  IpStats& stats_;
  Icmp* icmp_ = nullptr;
  std::array<TransportProtocol*, 256> transports_{};
  std::atomic<uint16_t> next_id_;
  LoopbackDelivery loopback_;

  mutable absl::Mutex mu_;
  RouteTable routes_ ABSL_GUARDED_BY(mu_);
  Ipv4Reassembler reassembler_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
