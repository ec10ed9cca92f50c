#include "shim/fd_table.h"

#include <sched.h>

#include <utility>

namespace netshim {
namespace {

// This thread's counter in every ForkGate (threads beyond kSlots share), and how deep it is
// inside gated sections now (a signal handler may re-enter).
thread_local int t_gate_slot = -1;
thread_local int t_gate_depth = 0;
std::atomic<int> g_next_gate_slot{0};

int GateSlot(int slots) {
  if (t_gate_slot < 0) t_gate_slot = g_next_gate_slot.fetch_add(1, std::memory_order_relaxed);
  return t_gate_slot % slots;
}

}  // namespace

void ForkGate::Enter() {
  std::atomic<int>& inside = counters_[GateSlot(kSlots)].inside;
  for (;;) {
    inside.fetch_add(1, std::memory_order_seq_cst);
    if (t_gate_depth > 0 || !pending_.load(std::memory_order_seq_cst)) {
      ++t_gate_depth;
      return;
    }
    // A fork is being prepared: step back out and wait for it.
    inside.fetch_sub(1, std::memory_order_seq_cst);
    while (pending_.load(std::memory_order_acquire)) sched_yield();
  }
}

void ForkGate::Exit() {
  --t_gate_depth;
  counters_[GateSlot(kSlots)].inside.fetch_sub(1, std::memory_order_release);
}

void ForkGate::Close() {
  pending_.store(true, std::memory_order_seq_cst);
  // The forking thread itself may be inside (fork from a signal handler): its own entries
  // are not waited for.
  const int mine = t_gate_slot < 0 ? -1 : t_gate_slot % kSlots;
  for (int i = 0; i < kSlots; ++i) {
    const int own = i == mine ? t_gate_depth : 0;
    while (counters_[i].inside.load(std::memory_order_seq_cst) != own) sched_yield();
  }
}

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

std::shared_ptr<OpenSocket> FdTable::LoadSlot(
    const std::atomic<std::shared_ptr<OpenSocket>>& slot) const {
  ForkGate::Section section(gate_);
  return slot.load(std::memory_order_acquire);
}

std::shared_ptr<OpenSocket> FdTable::Get(int fd) const {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  Chunk* chunk = FindChunk(fd);
  if (chunk == nullptr) return nullptr;
  return LoadSlot(chunk->slots[fd % kChunkSize]);
}

std::shared_ptr<OpenSocket> FdTable::Set(int fd, std::shared_ptr<OpenSocket> socket, bool* ok) {
  if (fd < 0 || fd >= kMaxFds) {
    if (ok) *ok = false;
    return nullptr;
  }
  if (ok) *ok = true;
  const bool adding = socket != nullptr;
  Chunk* chunk = adding ? MakeChunk(fd) : FindChunk(fd);
  if (chunk == nullptr) return nullptr;
  std::shared_ptr<OpenSocket> old;
  {
    // The count changes with the slot, inside the gate: a forked child sees them agree.
    ForkGate::Section section(gate_);
    // Counted before the slot is filled, so Get() never skips a slot that is set.
    if (adding) size_.fetch_add(1, std::memory_order_relaxed);
    old = chunk->slots[fd % kChunkSize].exchange(std::move(socket), std::memory_order_acq_rel);
    if (old) size_.fetch_sub(1, std::memory_order_relaxed);
  }
  return old;
}

std::shared_ptr<OpenSocket> FdTable::Remove(int fd) { return Set(fd, nullptr); }

void FdTable::Drop(std::shared_ptr<OpenSocket> socket) {
  if (socket == nullptr || !forked_child()) return;  // released on return
  std::lock_guard<std::mutex> lock(kept_mu_);
  kept_.push_back(std::move(socket));
}

size_t FdTable::kept_in_child() const {
  std::lock_guard<std::mutex> lock(kept_mu_);
  return kept_.size();
}

}  // namespace netshim
