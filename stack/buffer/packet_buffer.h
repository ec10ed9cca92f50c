// Reference-counted packet storage with headroom.
//
// A PacketBuffer is a window [offset, offset+size) into a block of memory shared by every
// copy of it. Copies are cheap (one atomic increment): a frame read from the TAP is handed
// up the layers by narrowing its window (Consume), never by copying bytes. Transmit paths
// allocate a fresh buffer with headroom and Prepend each header in front of the payload.
//
// Blocks come from a BufferPool and go back to its free list when the last reference
// drops, so the steady state allocates nothing per packet.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>

namespace netshim {

class BufferPool;

namespace internal {
// Header placed in front of every block's bytes.
struct alignas(alignof(std::max_align_t)) BufferBlock {
  std::atomic<uint32_t> refs{1};
  uint32_t capacity = 0;
  BufferPool* pool = nullptr;  // nullptr: a one-off heap block
  BufferBlock* next_free = nullptr;
  // What the link vouched for about the frame read into this block (kChecksumTrusted). A
  // received frame owns its block, so the mark travels with every slice of it; blocks
  // built by the stack (reassembly, transmit) start without it.
  uint32_t rx_flags = 0;
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
};
static_assert(sizeof(BufferBlock) % alignof(std::max_align_t) == 0);
void ReleaseBlock(BufferBlock* block);
}  // namespace internal

class PacketBuffer {
 public:
  PacketBuffer() = default;
  ~PacketBuffer() { Reset(); }
  PacketBuffer(const PacketBuffer& other);
  PacketBuffer& operator=(const PacketBuffer& other);
  PacketBuffer(PacketBuffer&& other) noexcept;
  PacketBuffer& operator=(PacketBuffer&& other) noexcept;

  // A buffer outside any pool (for rare, large objects such as a reassembled datagram).
  // The window starts empty at `headroom`.
  static PacketBuffer Heap(size_t capacity, size_t headroom = 0);
  // A heap buffer holding a copy of `bytes`, with `headroom` in front.
  static PacketBuffer CopyOf(std::span<const uint8_t> bytes, size_t headroom = 0);

  explicit operator bool() const { return block_ != nullptr; }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  uint8_t* data() { return block_ ? block_->bytes() + offset_ : nullptr; }
  const uint8_t* data() const { return block_ ? block_->bytes() + offset_ : nullptr; }
  std::span<uint8_t> span() { return {data(), size_}; }
  std::span<const uint8_t> span() const { return {data(), size_}; }
  size_t headroom() const { return offset_; }
  size_t tailroom() const { return block_ ? block_->capacity - offset_ - size_ : 0; }
  size_t capacity() const { return block_ ? block_->capacity : 0; }

  // The link vouched for the transport checksum of the frame in this block (a virtio-net
  // header with NEEDS_CSUM or DATA_VALID: the frame came from the local kernel, which
  // checksums on the way out or already checked), so TCP and UDP need not verify it.
  static constexpr uint32_t kChecksumTrusted = 1;
  bool checksum_trusted() const { return block_ && (block_->rx_flags & kChecksumTrusted) != 0; }
  void MarkChecksumTrusted() {
    if (block_) block_->rx_flags |= kChecksumTrusted;
  }

  // True when no other PacketBuffer shares the block, so writing in place is safe.
  bool IsUnique() const { return block_ && block_->refs.load(std::memory_order_acquire) == 1; }

  // Grows the window by n bytes at the front and returns the new start. Needs headroom >= n.
  uint8_t* Prepend(size_t n) {
    assert(n <= offset_);
    offset_ -= static_cast<uint32_t>(n);
    size_ += static_cast<uint32_t>(n);
    return data();
  }
  // Grows the window by n bytes at the back and returns where they start. Needs tailroom >= n.
  uint8_t* Append(size_t n) {
    assert(n <= tailroom());
    uint8_t* at = data() + size_;
    size_ += static_cast<uint32_t>(n);
    return at;
  }
  // Drops n bytes from the front (a parsed header). n <= size().
  void Consume(size_t n) {
    assert(n <= size_);
    offset_ += static_cast<uint32_t>(n);
    size_ -= static_cast<uint32_t>(n);
  }
  // Shrinks the window to its first n bytes (e.g. dropping Ethernet padding). n <= size().
  void Truncate(size_t n) {
    assert(n <= size_);
    size_ = static_cast<uint32_t>(n);
  }
  // Sets the window to [offset, offset+size) within the block.
  void SetWindow(size_t offset, size_t size) {
    assert(offset + size <= capacity());
    offset_ = static_cast<uint32_t>(offset);
    size_ = static_cast<uint32_t>(size);
  }
  // A new window [off, off+len) relative to this one, sharing the storage.
  PacketBuffer Slice(size_t off, size_t len) const;

  void Reset();

 private:
  friend class BufferPool;
  PacketBuffer(internal::BufferBlock* block, uint32_t offset, uint32_t size)
      : block_(block), offset_(offset), size_(size) {}

  internal::BufferBlock* block_ = nullptr;
  uint32_t offset_ = 0;
  uint32_t size_ = 0;
};

}  // namespace netshim
