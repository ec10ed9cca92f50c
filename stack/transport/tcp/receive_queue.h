// In-order bytes received on a TCP connection and not yet read by the application.
//
// Full-sized segments are kept as the received buffers (no copy); small ones are copied
// into the tail of a shared heap chunk, so a peer trickling one-byte segments cannot pin
// a packet buffer per byte (Linux collapses such queues for the same reason).
//
// Not thread-safe: owned by one connection and used under its lock.
#pragma once

#include <cstddef>
#include <deque>
#include <span>

#include "stack/buffer/packet_buffer.h"
#include "stack/socket/iov.h"

namespace netshim {

class ReceiveQueue {
 public:
  // Payloads smaller than this are copied rather than kept by reference.
  static constexpr size_t kCopyBelow = 512;
  static constexpr size_t kCopyChunkSize = 16 * 1024;

  void Push(PacketBuffer data);
  // Copies up to the iovecs' room into them; consumes what was copied unless `peek`.
  // Returns the bytes copied.
  size_t Read(IovWriter& out, bool peek);
  void Clear();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::deque<PacketBuffer> segments_;
  size_t size_ = 0;
};

}  // namespace netshim
