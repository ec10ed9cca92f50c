// A frame on its way out: a header buffer followed by payload slices that reference other
// buffers, written with one writev() so payload bytes are never copied to be sent.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "stack/buffer/packet_buffer.h"

namespace netshim {

// Work a frame asks of a link that offers offloads (LinkOffloads): the Linux skb's
// CHECKSUM_PARTIAL (csum_start, csum_offset) and GSO (gso_size) fields.
struct TxOffload {
  // The transport checksum field holds only the pseudo-header sum; the link (or the kernel
  // behind it) sums from csum_start to the end and stores the result at
  // csum_start + csum_offset. csum_start counts from the frame's first byte: each layer that
  // prepends a header adds its length.
  bool needs_checksum = false;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  // Non-zero: a TCP/IPv4 segment longer than the MTU, to be cut into segments of this many
  // payload bytes on the way out (TSO), each with the headers replicated and fixed up.
  uint16_t gso_size = 0;
};

struct TxFrame {
  PacketBuffer head;                             // link + network + transport headers
  absl::InlinedVector<PacketBuffer, 2> payload;  // zero or more slices after the head
  TxOffload offload;

  TxFrame() = default;
  explicit TxFrame(PacketBuffer h) : head(std::move(h)) {}

  size_t size() const {
    size_t n = head.size();
    for (const PacketBuffer& p : payload) n += p.size();
    return n;
  }
  // Fills up to `max` iovecs; returns how many were used.
  int ToIovec(iovec* out, int max) const {
    int n = 0;
    if (n < max && !head.empty()) out[n++] = {const_cast<uint8_t*>(head.data()), head.size()};
    for (const PacketBuffer& p : payload) {
      if (n >= max) break;
      if (!p.empty()) out[n++] = {const_cast<uint8_t*>(p.data()), p.size()};
    }
    return n;
  }
  // The frame as one contiguous byte string (pcap, tests, the in-memory link).
  std::vector<uint8_t> Flatten() const {
    std::vector<uint8_t> out;
    out.reserve(size());
    out.insert(out.end(), head.data(), head.data() + head.size());
    for (const PacketBuffer& p : payload) out.insert(out.end(), p.data(), p.data() + p.size());
    return out;
  }
};

}  // namespace netshim
