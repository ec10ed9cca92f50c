// The bytes of a TCP connection the application has written and the peer has not yet
// acknowledged: sent-but-unacknowledged first, then not yet sent (Linux's write queue and
// retransmit queue in one). Bytes live in large heap chunks filled by one copy from the
// application; segments go out as slices of those chunks (no copy on send or resend), and
// acknowledged bytes are dropped from the front.
//
// Not thread-safe: owned by one connection and used under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "stack/buffer/packet_buffer.h"
#include "stack/socket/iov.h"

namespace netshim {

class SendQueue {
 public:
  // Chunks hold from kMinChunkSize to kChunkSize bytes (see NextChunkSize).
  static constexpr size_t kMinChunkSize = 4 * 1024;
  static constexpr size_t kChunkSize = 64 * 1024;

  // Empties the queue; the next byte written will have sequence number `seq`.
  void Reset(uint32_t seq);

  // Copies `n` bytes from `reader` to the end. Returns false (nothing copied) only when
  // memory for a chunk cannot be had.
  bool Append(IovReader& reader, size_t n);

  // Drops every byte before `seq` (which lies within the queue or at its end).
  void AcknowledgeTo(uint32_t seq);

  // Appends slices covering [seq, seq + len) to `out` and adds their checksum sum
  // (positions counted from `seq`) to *sum, unless `sum` is null (a link finishes the
  // checksum). The range must lie within the queue.
  void Slices(uint32_t seq, size_t len, absl::InlinedVector<PacketBuffer, 2>* out,
              uint64_t* sum) const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t start_seq() const { return start_seq_; }
  uint32_t end_seq() const { return start_seq_ + static_cast<uint32_t>(size_); }

 private:
  // The capacity of the chunk to start for a write of `n` more bytes.
  size_t NextChunkSize(size_t n) const;

  // Each chunk's window is exactly its bytes still held. Made on the first write and freed
  // by Reset: an empty std::deque still holds ~600 bytes of heap.
  std::optional<std::deque<PacketBuffer>> chunks_;
  uint32_t start_seq_ = 0;
  size_t size_ = 0;
};

}  // namespace netshim
