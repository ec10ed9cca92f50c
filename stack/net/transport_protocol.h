// What the IPv4 layer calls on the protocol a datagram is for (ICMP, UDP, TCP).
#pragma once

#include "stack/buffer/packet_buffer.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"

namespace netshim {

struct InboundDatagram {
  Ipv4Header ip;                // parsed; total_length covers the whole (reassembled) datagram
  PacketBuffer header;          // the header bytes as received, options included
  PacketBuffer payload;         // everything after the header, Ethernet padding trimmed
  bool link_broadcast = false;  // arrived in a link-layer broadcast frame
};

class TransportProtocol {
 public:
  virtual ~TransportProtocol() = default;
  // A datagram addressed to us (reassembled if it came in fragments). Called on the
  // dispatch thread.
  virtual void Receive(InboundDatagram datagram) = 0;
  // An ICMP error about a datagram this protocol sent (RFC 1122 3.2.2: pass it up).
  virtual void ReceiveIcmpError(const IcmpError& /*error*/) {}
};

}  // namespace netshim
