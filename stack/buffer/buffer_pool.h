// A pool of fixed-size packet blocks with a free list and a hard cap.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/packet_buffer.h"

namespace netshim {

class BufferPool;
struct BufferPoolDeleter {
  void operator()(BufferPool* pool) const;
};
// The owner's handle. Dropping it frees the idle blocks at once; blocks still referenced (a
// frame a test holds, a frame in flight) keep the pool alive until the last one comes back.
using BufferPoolPtr = std::unique_ptr<BufferPool, BufferPoolDeleter>;

class BufferPool {
 public:
  // Every block holds `block_size` bytes; at most `max_blocks` exist at once, so a flood
  // cannot grow memory without bound: Allocate() fails instead, and callers count a drop.
  static BufferPoolPtr Create(size_t block_size, size_t max_blocks);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty window at `headroom` in a fresh block, or a null buffer when the cap is hit.
  PacketBuffer Allocate(size_t headroom);

  size_t block_size() const { return block_size_; }
  size_t max_blocks() const { return max_blocks_; }
  size_t blocks_in_use() const { return in_use_.load(std::memory_order_relaxed); }
  uint64_t allocation_failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  friend void internal::ReleaseBlock(internal::BufferBlock* block);
  friend struct BufferPoolDeleter;
  BufferPool(size_t block_size, size_t max_blocks);
  ~BufferPool() = default;
  void Release(internal::BufferBlock* block);
  void Orphan();
  static void FreeBlock(internal::BufferBlock* block);

  const size_t block_size_;
  const size_t max_blocks_;
  absl::Mutex mu_;
  internal::BufferBlock* free_list_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t created_ ABSL_GUARDED_BY(mu_) = 0;
  bool orphaned_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> in_use_{0};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace netshim
