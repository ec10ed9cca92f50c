#include "stack/buffer/buffer_pool.h"

#include <new>

namespace netshim {

BufferPool::BufferPool(size_t block_size, size_t max_blocks)
    : block_size_(block_size), max_blocks_(max_blocks) {}

BufferPoolPtr BufferPool::Create(size_t block_size, size_t max_blocks) {
  return BufferPoolPtr(new BufferPool(block_size, max_blocks));
}

void BufferPoolDeleter::operator()(BufferPool* pool) const { pool->Orphan(); }

void BufferPool::FreeBlock(internal::BufferBlock* block) {
  block->~BufferBlock();
  ::operator delete(block);
}

void BufferPool::Orphan() {
  bool last;
  {
    absl::MutexLock lock(&mu_);
    while (free_list_ != nullptr) {
      internal::BufferBlock* b = free_list_;
      free_list_ = b->next_free;
      FreeBlock(b);
      --created_;
    }
    orphaned_ = true;
    last = created_ == 0;
  }
  if (last) delete this;
}

PacketBuffer BufferPool::Allocate(size_t headroom) {
  assert(headroom <= block_size_);
  internal::BufferBlock* block = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (free_list_ != nullptr) {
      block = free_list_;
      free_list_ = block->next_free;
    } else if (created_ < max_blocks_) {
      ++created_;
    } else {
      failures_.fetch_add(1, std::memory_order_relaxed);
      return PacketBuffer();
    }
  }
  if (block == nullptr) {
    void* raw = ::operator new(sizeof(internal::BufferBlock) + block_size_);
    block = new (raw) internal::BufferBlock();
    block->capacity = static_cast<uint32_t>(block_size_);
    block->pool = this;
  }
  block->refs.store(1, std::memory_order_relaxed);
  block->next_free = nullptr;
  block->rx_flags = 0;
  in_use_.fetch_add(1, std::memory_order_relaxed);
  return PacketBuffer(block, static_cast<uint32_t>(headroom), 0);
}

void BufferPool::Release(internal::BufferBlock* block) {
  in_use_.fetch_sub(1, std::memory_order_relaxed);
  bool last = false;
  {
    absl::MutexLock lock(&mu_);
    if (!orphaned_) {
      block->next_free = free_list_;
      free_list_ = block;
      return;
    }
    FreeBlock(block);
    last = --created_ == 0;
  }
  if (last) delete this;
}

}  // namespace netshim
