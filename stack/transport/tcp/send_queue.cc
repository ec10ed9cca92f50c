#include "stack/transport/tcp/send_queue.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "stack/wire/checksum.h"

namespace netshim {

void SendQueue::Reset(uint32_t seq) {
  // Storage goes too: a connection is reset when it starts, and when it ends or enters
  // TIME-WAIT, where thousands may sit for a minute holding nothing to send.
  chunks_.reset();
  start_seq_ = seq;
  size_ = 0;
}

bool SendQueue::Append(IovReader& reader, size_t n) {
  if (n > 0 && !chunks_) chunks_.emplace();
  while (n > 0) {
    // Only the tailroom is written: bytes already queued may be on their way out in
    // slices of this chunk, and are never touched again.
    if (chunks_->empty() || chunks_->back().tailroom() == 0) {
      PacketBuffer chunk = PacketBuffer::Heap(NextChunkSize(n));
      if (!chunk) return false;
      chunks_->push_back(std::move(chunk));
    }
    PacketBuffer& tail = chunks_->back();
    const size_t take = std::min(n, tail.tailroom());
    reader.Read(tail.Append(take), take);
    size_ += take;
    n -= take;
  }
  return true;
}

size_t SendQueue::NextChunkSize(size_t n) const {
  // Sized to the write, so that a short reply on a short-lived connection costs a small
  // allocation rather than a 64 KiB one (whose free at the top of the heap makes malloc
  // give the memory back with brk and fault it in again on the next connection). Each
  // further chunk is at least twice the last, so a stream of small writes soon fills
  // full-sized chunks (Linux sizes skbs by the write too, tcp_sendmsg's size_goal).
  size_t size = std::bit_ceil(std::max(n, kMinChunkSize));
  if (chunks_ && !chunks_->empty()) size = std::max(size, 2 * chunks_->back().capacity());
  return std::min(size, kChunkSize);
}

void SendQueue::AcknowledgeTo(uint32_t seq) {
  size_t drop = static_cast<uint32_t>(seq - start_seq_);
  assert(drop <= size_);
  drop = std::min(drop, size_);
  start_seq_ += static_cast<uint32_t>(drop);
  size_ -= drop;
  while (drop > 0) {
    PacketBuffer& front = chunks_->front();
    const size_t take = std::min(drop, front.size());
    front.Consume(take);
    drop -= take;
    if (front.empty() && (front.tailroom() == 0 || chunks_->size() > 1)) chunks_->pop_front();
  }
}

void SendQueue::Slices(uint32_t seq, size_t len, absl::InlinedVector<PacketBuffer, 2>* out,
                       uint64_t* sum) const {
  size_t offset = static_cast<uint32_t>(seq - start_seq_);
  assert(offset + len <= size_);
  if (len == 0) return;
  size_t position = 0;
  for (const PacketBuffer& chunk : *chunks_) {
    if (len == 0) break;
    if (offset >= chunk.size()) {
      offset -= chunk.size();
      continue;
    }
    const size_t take = std::min(len, chunk.size() - offset);
    PacketBuffer slice = chunk.Slice(offset, take);
    if (sum != nullptr) *sum = ChecksumAddAt(slice.span(), position, *sum);
    out->push_back(std::move(slice));
    position += take;
    len -= take;
    offset = 0;
  }
}

}  // namespace netshim
