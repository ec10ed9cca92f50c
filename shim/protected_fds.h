// The shim's own descriptors — the stack's TAP, epoll and wake fds, each thread's Waiter
// eventfd, each epoll set's wake fd — guarded against a program that closes descriptors it
// does not know about (daemons closing "all fds", close_range(3, ~0U), dup2 onto a number
// it thinks free). To the program they do not exist: close(2) answers EBADF,
// close_range(2) skips them, dup2/dup3 onto one fail with EBUSY (Linux's answer when the
// target is being set up), all with a log line. Reads and writes are not guarded: the
// stack's own calls go through the same interposed functions.
//
// A bitmap of atomics, constant-initialized: safe before constructors and in handlers.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace netshim {

class ProtectedFds {
 public:
  static constexpr int kMaxFds = 1 << 20;

  void Protect(int fd);
  void Release(int fd);
  bool Contains(int fd) const;
  // The protected fds in [first, last], ascending.
  std::vector<int> InRange(unsigned first, unsigned last) const;
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }

 private:
  static constexpr int kBits = 64;
  std::atomic<uint64_t> words_[kMaxFds / kBits] = {};
  std::atomic<int> count_{0};
};

// The process's set.
ProtectedFds& OwnFds();

}  // namespace netshim
