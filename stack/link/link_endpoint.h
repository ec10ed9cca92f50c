// The interface every link (TAP, in-memory channel, and the pcap and impairment wrappers
// that decorate them) implements. Frames are whole Ethernet II frames without FCS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/time/time.h"
#include "stack/buffer/packet_buffer.h"
#include "stack/buffer/tx_frame.h"

namespace netshim {

// Where a link delivers what it receives (the NIC).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void DeliverFrame(PacketBuffer frame) = 0;
};

// What a link can do for the stack (Linux netdev features). All off unless the link says.
struct LinkOffloads {
  // Frames may leave with TxOffload::needs_checksum (NETIF_F_HW_CSUM).
  bool tx_checksum = false;
  // TCP/IPv4 frames may be up to this many bytes of IP packet with TxOffload::gso_size set
  // (NETIF_F_TSO); 0 without TSO.
  uint32_t tso_max_packet = 0;
};

class LinkEndpoint {
 public:
  virtual ~LinkEndpoint() = default;

  // Largest network-layer packet the link carries (the IP MTU, 1500 on Ethernet).
  virtual uint32_t mtu() const = 0;

  // Sets the receiver of inbound frames. Called once, before the first Poll().
  virtual void Attach(FrameSink* sink) = 0;

  // Sends one frame. Safe to call from any thread. Returns false when the frame was dropped
  // (queue full, device gone, oversized); the caller counts it.
  virtual bool Write(TxFrame frame) = 0;

  // Reads up to `budget` waiting frames and delivers each to the sink, on the caller's
  // thread. Returns how many were delivered; 0 when nothing was waiting. Never blocks.
  virtual size_t Poll(size_t budget) = 0;

  // What frames handed to Write() may ask of the link. Fixed once the link is open.
  virtual LinkOffloads offloads() const { return {}; }

  // A file descriptor that polls readable while frames wait for Poll(), or -1.
  virtual int ReadableFd() const { return -1; }

  // Time-driven work of the link itself (frames an impairment wrapper holds back).
  virtual std::optional<absl::Time> NextDeadline() const { return std::nullopt; }
  virtual void OnTimer(absl::Time /*now*/) {}
  // Set by the dispatcher: called from any thread when NextDeadline() may have moved
  // earlier (a frame held back on transmit), so a sleeping loop re-reads it.
  virtual void SetDeadlineChangedCallback(std::function<void()> /*callback*/) {}
};

}  // namespace netshim
