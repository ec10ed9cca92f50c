#include "stack/transport/tcp/receive_queue.h"

#include <algorithm>
#include <cstring>

namespace netshim {

void ReceiveQueue::Push(PacketBuffer data) {
  if (data.empty()) return;
  size_ += data.size();
  if (data.size() < kCopyBelow) {
    // Append to the last buffer when it is a copy chunk of ours with room, else start one.
    if (segments_.empty() || !segments_.back().IsUnique() ||
        segments_.back().capacity() != kCopyChunkSize ||
        segments_.back().tailroom() < data.size()) {
      segments_.push_back(PacketBuffer::Heap(kCopyChunkSize));
    }
    std::memcpy(segments_.back().Append(data.size()), data.data(), data.size());
    return;
  }
  segments_.push_back(std::move(data));
}

size_t ReceiveQueue::Read(IovWriter& out, bool peek) {
  size_t copied = 0;
  for (auto it = segments_.begin(); it != segments_.end();) {
    const size_t n = out.Write(it->span());
    copied += n;
    if (n < it->size()) {
      if (!peek) it->Consume(n);
      break;
    }
    it = peek ? it + 1 : segments_.erase(it);
  }
  if (!peek) size_ -= copied;
  return copied;
}

void ReceiveQueue::Clear() {
  segments_.clear();
  size_ = 0;
}

}  // namespace netshim
