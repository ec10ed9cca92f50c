// Which file descriptors are stack sockets: fd -> the OpenSocket they share.
//
// Every interposed call asks this table first, including the stack's own reads and writes
// of its TAP and eventfds (they go through our read/write too), so the answer for a kernel
// fd must be quick and take no lock a signal handler could find held: slots are atomic
// shared_ptrs in chunks allocated on first use, and an fd in a chunk never allocated is
// known at once not to be a stack socket. The table is constant-initialized, so it works
// before any constructor has run.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "shim/open_socket.h"

namespace netshim {

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

  // Calls f(fd, socket) for every stack descriptor (a snapshot per slot; used at exit).
  template <typename F>
  void ForEach(F&& f) const {
    for (int c = 0; c < kChunks; ++c) {
      Chunk* chunk = chunks_[c].load(std::memory_order_acquire);
      if (chunk == nullptr) continue;
      for (int i = 0; i < kChunkSize; ++i) {
        std::shared_ptr<OpenSocket> s = chunk->slots[i].load(std::memory_order_acquire);
        if (s) f(c * kChunkSize + i, s);
      }
    }
  }

 private:
  static constexpr int kChunkSize = 1024;
  static constexpr int kChunks = kMaxFds / kChunkSize;

  struct Chunk {
    std::atomic<std::shared_ptr<OpenSocket>> slots[kChunkSize];
  };

  Chunk* FindChunk(int fd) const;
  Chunk* MakeChunk(int fd);

  std::atomic<Chunk*> chunks_[kChunks] = {};
  std::atomic<size_t> size_{0};
};

}  // namespace netshim
