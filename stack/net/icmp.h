// ICMPv4 for a host: answers echo requests, passes received errors to the transport that
// caused them, and sends errors about datagrams we could not deliver, within Linux's rate
// limits and RFC 1122 3.2.2's rules on when not to.
#pragma once

#include <cstdint>

#include "stack/buffer/buffer_pool.h"
#include "stack/net/icmp_rate_limiter.h"
#include "stack/net/transport_protocol.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/stats.h"

namespace netshim {

class Ipv4Layer;

class Icmp final : public TransportProtocol {
 public:
  // RFC 1812 4.3.2.3: an error quotes as much of the datagram as fits in 576 bytes.
  static constexpr size_t kMaxErrorSize = 576;

  Icmp(Ipv4Layer& ipv4, BufferPool& pool, const Clock& clock, IcmpStats& stats);

  void Receive(InboundDatagram datagram) override;

  // Sends an error about `offending` to its source, unless RFC 1122 3.2.2 forbids it (the
  // offending datagram is an ICMP error, a broadcast, a non-first fragment, or from a
  // non-unicast source) or the rate limit says no. `rest` is the header's second word.
  void SendError(IcmpType type, uint8_t code, uint32_t rest, const InboundDatagram& offending);

 private:
  void ReplyToEcho(const InboundDatagram& request, const IcmpHeader& header);

  Ipv4Layer& ipv4_;
  BufferPool& pool_;
  const Clock& clock_;
  IcmpStats& stats_;
  IcmpRateLimiter limiter_;
};

}  // namespace netshim
