// Which UDP socket an arriving datagram is for: Linux's lookup (net/ipv4/udp.c
// udp4_lib_lookup2 / compute_score for unicast, __udp4_lib_mcast_deliver for broadcast).
//
// A plain table of endpoint keys, named by the protocol's socket ids; not locked (the
// protocol's demux lock guards it).
#pragma once

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "stack/transport/port_index.h"
#include "stack/wire/address.h"

namespace netshim {

// What the lookup needs to know of a socket.
struct UdpEndpointKey {
  Ipv4Address local;         // inet_rcv_saddr; 0.0.0.0 = every local address
  uint16_t local_port = 0;   // bound port (never 0 in the table)
  Ipv4Address remote;        // connected peer; 0.0.0.0 = any
  uint16_t remote_port = 0;  // 0 = any (connect() to port 0 sets only the address)
  bool connected = false;    // connect()ed: skips SO_REUSEPORT selection
  bool reuse_port = false;
};

class UdpDemux {
 public:
  using Id = uint64_t;
  static constexpr Id kNone = 0;
  using IdList = absl::InlinedVector<Id, 4>;

  // Adds a bound socket (newer entries win ties, as Linux adds to the head of its chain).
  void Insert(Id id, const UdpEndpointKey& key);
  // Replaces a socket's key (after connect, disconnect, SO_REUSEPORT); keeps its age.
  void Update(Id id, const UdpEndpointKey& key);
  void Remove(Id id);

  // The socket a unicast datagram from src:sport to dst:dport goes to, or kNone. The best
  // score wins: a socket bound to dst beats one bound to 0.0.0.0 (Linux looks up the exact
  // address first), then a connected peer address and port add 4 each (compute_score);
  // ties go to the newest socket, and a tie among unconnected SO_REUSEPORT sockets is
  // broken by a hash of the 4-tuple so that one flow always reaches one socket
  // (reuseport_select_sock).
  Id Lookup(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport) const;

  // Every socket a broadcast datagram is delivered to (__udp_is_mcast_sock): bound to the
  // port and to 0.0.0.0 or the destination itself, and either unconnected or connected to
  // the sender. In binding order.
  IdList LookupAll(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport) const;

  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    Id id;
    UdpEndpointKey key;
  };

  // -1 when the entry cannot take the datagram.
  static int Score(const UdpEndpointKey& k, Ipv4Address src, uint16_t sport, Ipv4Address dst);

  PortIndex<Entry> index_;  // oldest first on each port
};

}  // namespace netshim
