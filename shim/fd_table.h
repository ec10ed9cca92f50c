// Which file descriptors are stack sockets: fd -> the OpenSocket they share.
//
// Every interposed call asks this table first, including the stack's own reads and writes
// of its TAP and eventfds (they go through our read/write too), so the answer for a kernel
// fd must be quick and take no lock a signal handler could find held: slots are atomic
// shared_ptrs in chunks allocated on first use, and an fd in a chunk never allocated is
// known at once not to be a stack socket. The table is constant-initialized, so it works
// before any constructor has run.
//
// fork(2): a slot is briefly locked while it is read or written (std::atomic<shared_ptr>
// keeps a lock bit in it), and a child made while another thread held one would find it
// locked forever. The table's ForkGate lets fork wait, in pthread_atfork's prepare handler,
// until no thread is inside a slot operation (shim/runtime.cc); in the child the table
// then keeps the parent's sockets alive rather than closing them (MarkForkedChild).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "shim/open_socket.h"

namespace netshim {

// Lets one thread (the one calling fork) wait until no other thread is inside a guarded
// section, and keeps them out until it is done: the classic fork quiesce, without a lock
// on the fast path. Each thread counts its entries in a counter of its own cache line
// (shared by threads beyond kSlots); the forking thread raises `pending` and waits for every
// counter to drain. Entering is a locked increment on a line no other thread writes, and a
// load of `pending` (seq_cst on both sides, so one of the two always sees the other).
// Re-entry from a signal handler on a thread already inside never waits.
class ForkGate {
 public:
  constexpr ForkGate() = default;

  void Enter();
  void Exit();
  // In pthread_atfork's prepare: returns once no other thread is inside; until Open(),
  // threads that try to enter wait.
  void Close();
  // In the parent and child handlers.
  void Open() { pending_.store(false, std::memory_order_seq_cst); }

  // RAII for one section.
  class Section {
   public:
    explicit Section(ForkGate& gate) : gate_(gate) { gate_.Enter(); }
    ~Section() { gate_.Exit(); }
    Section(const Section&) = delete;
    Section& operator=(const Section&) = delete;

   private:
    ForkGate& gate_;
  };

 private:
  static constexpr int kSlots = 64;
  struct alignas(64) Counter {
    std::atomic<int> inside{0};
  };

  Counter counters_[kSlots] = {};
  std::atomic<bool> pending_{false};
};

class FdTable {
 public:
  // Descriptors at or above this are never stack sockets (the default hard RLIMIT_NOFILE
  // of fs.nr_open is 1048576); a stack socket placed there fails with EMFILE.
  static constexpr int kMaxFds = 1 << 20;

  constexpr FdTable() = default;
  ~FdTable();
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // The socket behind `fd`, or null for a kernel fd (or one out of range).
  std::shared_ptr<OpenSocket> Get(int fd) const;
  // Makes `fd` a descriptor of `socket`; returns what was there (null if nothing). False in
  // `*ok` when fd is out of range. The previous socket is returned rather than dropped here
  // so the caller decides when its last reference goes.
  std::shared_ptr<OpenSocket> Set(int fd, std::shared_ptr<OpenSocket> socket, bool* ok = nullptr);
  // Forgets `fd`; returns its socket (null if it was not one).
  std::shared_ptr<OpenSocket> Remove(int fd);

  // How many descriptors refer to stack sockets now.
  size_t size() const { return size_.load(std::memory_order_relaxed); }

  // Calls f(fd, socket) for every stack descriptor (a snapshot per slot; used at exit). f
  // runs outside the fork gate: it may block.
  template <typename F>
  void ForEach(F&& f) const {
    for (int c = 0; c < kChunks; ++c) {
      Chunk* chunk = chunks_[c].load(std::memory_order_acquire);
      if (chunk == nullptr) continue;
      for (int i = 0; i < kChunkSize; ++i) {
        std::shared_ptr<OpenSocket> s = LoadSlot(chunk->slots[i]);
        if (s) f(c * kChunkSize + i, s);
      }
    }
  }

  // fork(2): between QuiesceForFork() (prepare) and ResumeAfterFork() (parent and child) no
  // other thread is inside a slot operation.
  void QuiesceForFork() { gate_.Close(); }
  void ResumeAfterFork() { gate_.Open(); }

  // In a child forked from a process with stack sockets: they belong to the parent's stack,
  // which does not run here, so a descriptor the child closes (or dup2s over) only leaves
  // the table; its socket is kept, never closed from here (Drop).
  void MarkForkedChild() { forked_child_.store(true, std::memory_order_release); }
  bool forked_child() const { return forked_child_.load(std::memory_order_acquire); }
  // Lets go of a reference taken out of the table: released now, or kept for good in a
  // forked child (closing it would run the parent's teardown: epoll links, the close hook).
  void Drop(std::shared_ptr<OpenSocket> socket);
  // How many references a forked child kept (Drop), one per descriptor it let go of.
  size_t kept_in_child() const;

 private:
  static constexpr int kChunkSize = 1024;
  static constexpr int kChunks = kMaxFds / kChunkSize;

  struct Chunk {
    std::atomic<std::shared_ptr<OpenSocket>> slots[kChunkSize];
  };

  Chunk* FindChunk(int fd) const;
  Chunk* MakeChunk(int fd);
  std::shared_ptr<OpenSocket> LoadSlot(const std::atomic<std::shared_ptr<OpenSocket>>& slot) const;

  std::atomic<Chunk*> chunks_[kChunks] = {};
  std::atomic<size_t> size_{0};
  mutable ForkGate gate_;
  std::atomic<bool> forked_child_{false};
  mutable std::mutex kept_mu_;
  std::vector<std::shared_ptr<OpenSocket>> kept_;  // guarded by kept_mu_
};

}  // namespace netshim
