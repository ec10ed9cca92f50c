// A received TCP segment, parsed and checked, as the connection's handlers see it.
#pragma once

#include <cstdint>

#include "stack/buffer/packet_buffer.h"
#include "stack/transport/tcp/four_tuple.h"
#include "stack/wire/tcp.h"

namespace netshim {

struct TcpSegment {
  FourTuple tuple;  // from our side: local = the segment's destination
  TcpHeader header;
  TcpOptions options;
  PacketBuffer payload;
  uint8_t tos = 0;

  uint32_t seq() const { return header.seq; }
  uint32_t ack() const { return header.ack; }
  // SEG.LEN (RFC 9293 3.4): data plus one for each of SYN and FIN.
  uint32_t length() const {
    return static_cast<uint32_t>(payload.size()) + (header.syn() ? 1 : 0) +
           (header.fin() ? 1 : 0);
  }
  uint32_t end_seq() const { return seq() + length(); }
};

}  // namespace netshim
