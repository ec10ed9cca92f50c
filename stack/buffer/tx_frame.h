// A frame on its way out: a header buffer followed by payload slices that reference other
// buffers, written with one writev() so payload bytes are never copied to be sent.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "stack/buffer/packet_buffer.h"

namespace netshim {

struct TxFrame {
  PacketBuffer head;                             // link + network + transport headers
  absl::InlinedVector<PacketBuffer, 2> payload;  // zero or more slices after the head

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
