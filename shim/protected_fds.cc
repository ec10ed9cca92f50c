#include "shim/protected_fds.h"

#include <algorithm>

namespace netshim {

void ProtectedFds::Protect(int fd) {
  if (fd < 0 || fd >= kMaxFds) return;
  const uint64_t bit = uint64_t{1} << (fd % kBits);
  if (!(words_[fd / kBits].fetch_or(bit, std::memory_order_acq_rel) & bit)) {
    count_.fetch_add(1, std::memory_order_relaxed);
  }
}

void ProtectedFds::Release(int fd) {
  if (fd < 0 || fd >= kMaxFds) return;
  const uint64_t bit = uint64_t{1} << (fd % kBits);
  if (words_[fd / kBits].fetch_and(~bit, std::memory_order_acq_rel) & bit) {
    count_.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool ProtectedFds::Contains(int fd) const {
  if (fd < 0 || fd >= kMaxFds || empty()) return false;
  return (words_[fd / kBits].load(std::memory_order_acquire) >> (fd % kBits)) & 1;
}

std::vector<int> ProtectedFds::InRange(unsigned first, unsigned last) const {
  std::vector<int> fds;
  if (empty() || first >= static_cast<unsigned>(kMaxFds)) return fds;
  last = std::min(last, static_cast<unsigned>(kMaxFds - 1));
  for (unsigned w = first / kBits; w <= last / kBits; ++w) {
    uint64_t word = words_[w].load(std::memory_order_acquire);
    while (word != 0) {
      const unsigned fd = w * kBits + static_cast<unsigned>(__builtin_ctzll(word));
      word &= word - 1;
      if (fd >= first && fd <= last) fds.push_back(static_cast<int>(fd));
    }
  }
  return fds;
}

ProtectedFds& OwnFds() {
  static constinit ProtectedFds fds;
  return fds;
}

}  // namespace netshim
