#include "stack/transport/tcp/receive_queue.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace netshim {

void ReceiveQueue::Push(PacketBuffer data) {
  if (data.empty()) return;
  size_ += data.size();
  if (!segments_) segments_.emplace();
  if (data.size() < kCopyBelow) {
    // Append to the last buffer when it is a copy chunk of ours with room, else start one.
    if (segments_->empty() || !tail_is_copy_ || !segments_->back().IsUnique() ||
        segments_->back().tailroom() < data.size()) {
      segments_->push_back(PacketBuffer::Heap(NextCopyChunkSize(data.size())));
      tail_is_copy_ = true;
    }
    std::memcpy(segments_->back().Append(data.size()), data.data(), data.size());
    return;
  }
  segments_->push_back(std::move(data));
  tail_is_copy_ = false;
}

size_t ReceiveQueue::NextCopyChunkSize(size_t n) const {
  // A short request on a short-lived connection gets a small chunk, not 16 KiB (whose
  // malloc and free per connection grow and trim the heap: brk and page faults); each
  // further chunk doubles the last, so a trickle of small segments soon fills full ones.
  size_t size = std::bit_ceil(std::max(n, kMinCopyChunkSize));
  if (tail_is_copy_ && segments_ && !segments_->empty()) {
    size = std::max(size, 2 * segments_->back().capacity());
  }
  return std::min(size, kCopyChunkSize);
}

size_t ReceiveQueue::Read(IovWriter& out, bool peek) {
  if (!segments_) return 0;
  size_t copied = 0;
  for (auto it = segments_->begin(); it != segments_->end();) {
    const size_t n = out.Write(it->span());
    copied += n;
    if (n < it->size()) {
      if (!peek) it->Consume(n);
      break;
    }
    it = peek ? it + 1 : segments_->erase(it);
  }
  if (!peek) size_ -= copied;
  return copied;
}

void ReceiveQueue::Clear() {
  segments_.reset();
  tail_is_copy_ = false;
  size_ = 0;
}

}  // namespace netshim
