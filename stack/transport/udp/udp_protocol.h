// UDP (RFC 768, RFC 1122 4.1) for the stack: receives datagrams from IPv4, checks them,
// finds the socket(s) they are for and queues them there; answers datagrams nobody wants
// with ICMP port unreachable; passes ICMP errors to connected sockets; creates sockets and
// keeps their ports.
//
// Threads and locks. Receive() and ReceiveIcmpError() run on the dispatch thread; sockets
// call in from application threads. Lock order:
//   UdpSocket::mu_  ->  UdpProtocol::mu_ (demux)  ->  PortTable's lock.
// The receive path takes mu_ only to find the socket(s), lets go, and then takes each
// socket's lock to queue the datagram; no lock is held while ICMP or IPv4 send.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/net/icmp.h"
#include "stack/net/ipv4_layer.h"
#include "stack/net/transport_protocol.h"
#include "stack/runtime/stats.h"
#include "stack/socket/socket.h"
#include "stack/transport/port_table.h"
#include "stack/transport/udp/udp_demux.h"

namespace netshim {

class UdpSocket;

class UdpProtocol final : public TransportProtocol {
 public:
  UdpProtocol(Ipv4Layer& ipv4, Icmp& icmp, BufferPool& pool, UdpStats& stats,
              PortTable::Range ephemeral = {});
  ~UdpProtocol() override;
  UdpProtocol(const UdpProtocol&) = delete;
  UdpProtocol& operator=(const UdpProtocol&) = delete;

  // A new, unbound socket. Sockets must be closed (or destroyed) before the protocol goes.
  std::shared_ptr<UdpSocket> CreateSocket();

  // TransportProtocol (dispatch thread).
  void Receive(InboundDatagram datagram) override;
  void ReceiveIcmpError(const IcmpError& error) override;

  PortTable& ports() { return ports_; }
  size_t bound_sockets() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class UdpSocket;

  // --- for UdpSocket, called with the socket's lock held ---
  // Reserves a port and enters the socket in the demux. Returns the port or -errno.
  int Bind(uint64_t socket_id, const std::weak_ptr<UdpSocket>& socket, const PortRequest& request,
           PortTable::Id* binding) ABSL_LOCKS_EXCLUDED(mu_);
  // The socket's demux key or reuse flags changed (connect, disconnect, SO_REUSEADDR,
  // SO_REUSEPORT); the binding follows (its address is filled in by connect).
  void Update(uint64_t socket_id, PortTable::Id binding, const UdpEndpointKey& key, bool reuse_addr)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unbind(uint64_t socket_id, PortTable::Id binding) ABSL_LOCKS_EXCLUDED(mu_);

  Ipv4Layer& ipv4() { return ipv4_; }
  BufferPool& pool() { return pool_; }
  UdpStats& stats() { return stats_; }

  // --- receive path helpers ---
  std::shared_ptr<UdpSocket> FindUnicast(Ipv4Address src, uint16_t sport, Ipv4Address dst,
                                         uint16_t dport) ABSL_LOCKS_EXCLUDED(mu_);
  void DeliverBroadcast(const InboundDatagram& dgram, const SocketAddress& from, uint16_t dport,
                        const PacketBuffer& data) ABSL_LOCKS_EXCLUDED(mu_);
  void Enqueue(UdpSocket& socket, const SocketAddress& from, PacketBuffer data);

  Ipv4Layer& ipv4_;
  Icmp& icmp_;
  BufferPool& pool_;
  UdpStats& stats_;
  PortTable ports_;

  mutable absl::Mutex mu_;
  uint64_t next_socket_id_ ABSL_GUARDED_BY(mu_) = 1;
  UdpDemux demux_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::weak_ptr<UdpSocket>> sockets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
