#include "stack/buffer/packet_buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "stack/buffer/buffer_pool.h"

namespace netshim {
namespace internal {

void ReleaseBlock(BufferBlock* block) {
  if (block->pool != nullptr) {
    block->pool->Release(block);
  } else {
    block->~BufferBlock();
    ::operator delete(block);
  }
}

}  // namespace internal

PacketBuffer::PacketBuffer(const PacketBuffer& other)
    : block_(other.block_), offset_(other.offset_), size_(other.size_) {
  if (block_) block_->refs.fetch_add(1, std::memory_order_relaxed);
}

PacketBuffer& PacketBuffer::operator=(const PacketBuffer& other) {
  if (this != &other) {
    if (other.block_) other.block_->refs.fetch_add(1, std::memory_order_relaxed);
    Reset();
    block_ = other.block_;
    offset_ = other.offset_;
    size_ = other.size_;
  }
  return *this;
}

PacketBuffer::PacketBuffer(PacketBuffer&& other) noexcept
    : block_(other.block_), offset_(other.offset_), size_(other.size_) {
  other.block_ = nullptr;
  other.offset_ = other.size_ = 0;
}

PacketBuffer& PacketBuffer::operator=(PacketBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    block_ = other.block_;
    offset_ = other.offset_;
    size_ = other.size_;
    other.block_ = nullptr;
    other.offset_ = other.size_ = 0;
  }
  return *this;
}

void PacketBuffer::Reset() {
  if (block_ && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    internal::ReleaseBlock(block_);
  }
  block_ = nullptr;
  offset_ = size_ = 0;
}

PacketBuffer PacketBuffer::Heap(size_t capacity, size_t headroom) {
  assert(headroom <= capacity);
  void* raw = ::operator new(sizeof(internal::BufferBlock) + capacity);
  auto* block = new (raw) internal::BufferBlock();
  block->capacity = static_cast<uint32_t>(capacity);
  return PacketBuffer(block, static_cast<uint32_t>(headroom), 0);
}

PacketBuffer PacketBuffer::CopyOf(std::span<const uint8_t> bytes, size_t headroom) {
  PacketBuffer buf = Heap(headroom + bytes.size(), headroom);
  if (!bytes.empty()) std::memcpy(buf.Append(bytes.size()), bytes.data(), bytes.size());
  return buf;
}

PacketBuffer PacketBuffer::Slice(size_t off, size_t len) const {
  assert(off + len <= size_);
  PacketBuffer view(*this);
  view.offset_ += static_cast<uint32_t>(off);
  view.size_ = static_cast<uint32_t>(len);
  return view;
}

}  // namespace netshim
