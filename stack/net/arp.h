// ARP (RFC 826) on the interface: answers requests for our address, learns from what it
// hears, resolves next hops through the neighbor cache and sends what the cache asks for
// (requests, queued packets now resolved), and announces our address with gratuitous ARP.
#pragma once

#include <functional>

#include "stack/buffer/buffer_pool.h"
#include "stack/net/neighbor_cache.h"
#include "stack/net/nic.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/stats.h"
#include "stack/wire/arp.h"

namespace netshim {

class Arp final : public FrameReceiver {
 public:
  Arp(Nic& nic, NeighborCache& cache, BufferPool& pool, const Clock& clock, ArpStats& stats);

  // FrameReceiver (dispatch thread).
  void Receive(PacketBuffer packet, const EthernetHeader& eth) override;

  // Sends an IPv4 packet (head buffer with Ethernet headroom) to `next_hop` on the link,
  // now if its MAC is known, else once resolution succeeds. Safe from any thread.
  void Resolve(Ipv4Address next_hop, TxFrame packet);

  // Gratuitous ARP for our address (RFC 5227 3): sent when the address comes up.
  void Announce();

  void OnTimer(absl::Time now);
  std::optional<absl::Time> NextDeadline() const { return cache_.NextDeadline(); }

  // Called with each packet dropped because its next hop could not be resolved.
  void SetUnresolvedHandler(std::function<void(TxFrame)> handler) {
    on_unresolved_ = std::move(handler);
  }
  // Called when resolution may have armed a timer earlier than the dispatcher expects.
  void SetDeadlineHook(std::function<void(absl::Time)> hook) { deadline_hook_ = std::move(hook); }

 private:
  void Execute(NeighborActions actions);
  void Send(ArpOp op, MacAddress eth_dst, MacAddress target_mac, Ipv4Address target_ip);

  Nic& nic_;
  NeighborCache& cache_;
  BufferPool& pool_;
  const Clock& clock_;
  ArpStats& stats_;
  std::function<void(TxFrame)> on_unresolved_;
  std::function<void(absl::Time)> deadline_hook_;
};

}  // namespace netshim
