#include "shim/fd_table.h"

#include <utility>

namespace netshim {

FdTable::~FdTable() {
  for (auto& c : chunks_) delete c.load(std::memory_order_acquire);
}

FdTable::Chunk* FdTable::FindChunk(int fd) const {
  if (fd < 0 || fd >= kMaxFds) return nullptr;
  return chunks_[fd / kChunkSize].load(std::memory_order_acquire);
}

FdTable::Chunk* FdTable::MakeChunk(int fd) {
  std::atomic<Chunk*>& slot = chunks_[fd / kChunkSize];
  Chunk* chunk = slot.load(std::memory_order_acquire);
  if (chunk != nullptr) return chunk;
  Chunk* fresh = new Chunk;
  if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;  // another thread won; `chunk` holds its
  return chunk;
}

std::shared_ptr<OpenSocket> FdTable::Get(int fd) const {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  Chunk* chunk = FindChunk(fd);
  if (chunk == nullptr) return nullptr;
  return chunk->slots[fd % kChunkSize].load(std::memory_order_acquire);
}

std::shared_ptr<OpenSocket> FdTable::Set(int fd, std::shared_ptr<OpenSocket> socket, bool* ok) {
  if (fd < 0 || fd >= kMaxFds) {
    if (ok) *ok = false;
    return nullptr;
  }
  if (ok) *ok = true;
  const bool adding = socket != nullptr;
  // Counted before the slot is filled, so Get() never skips a slot that is set.
  if (adding) size_.fetch_add(1, std::memory_order_relaxed);
  Chunk* chunk = adding ? MakeChunk(fd) : FindChunk(fd);
  if (chunk == nullptr) return nullptr;
  std::shared_ptr<OpenSocket> old =
      chunk->slots[fd % kChunkSize].exchange(std::move(socket), std::memory_order_acq_rel);
  if (old) size_.fetch_sub(1, std::memory_order_relaxed);
  return old;
}

std::shared_ptr<OpenSocket> FdTable::Remove(int fd) { return Set(fd, nullptr); }

}  // namespace netshim
