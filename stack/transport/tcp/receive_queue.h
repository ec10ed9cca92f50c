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
#include <optional>
#include <span>

#include "stack/buffer/packet_buffer.h"
#include "stack/socket/iov.h"

namespace netshim {

class ReceiveQueue {
 public:
  // Payloads smaller than this are copied rather than kept by reference.
  static constexpr size_t kCopyBelow = 512;
  // Copy chunks hold from kMinCopyChunkSize to kCopyChunkSize bytes.
  static constexpr size_t kMinCopyChunkSize = 2 * 1024;
  static constexpr size_t kCopyChunkSize = 16 * 1024;

  void Push(PacketBuffer data);
  // Copies up to the iovecs' room into them; consumes what was copied unless `peek`.
  // Returns the bytes copied.
  size_t Read(IovWriter& out, bool peek);
  // Drops every byte, and the queue's storage with them.
  void Clear();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // The capacity of the copy chunk to start for `n` more bytes.
  size_t NextCopyChunkSize(size_t n) const;

  // Made on the first Push and freed by Clear: an empty std::deque still holds ~600 bytes
  // of heap, and a connection in TIME-WAIT has nothing to keep in it.
  std::optional<std::deque<PacketBuffer>> segments_;
  size_t size_ = 0;
  // Whether segments_.back() is a chunk this queue allocated to copy small payloads into
  // (rather than a received buffer kept by reference).
  bool tail_is_copy_ = false;
};

}  // namespace netshim
