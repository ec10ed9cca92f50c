#include "stack/socket/socket.h"

#include <algorithm>

namespace netshim {

void Socket::AddListener(ReadinessListener* l) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.push_back(l);
}

void Socket::RemoveListener(ReadinessListener* l) {
  absl::MutexLock lock(&listeners_mu_);
  auto it = std::find(listeners_.begin(), listeners_.end(), l);
  if (it != listeners_.end()) listeners_.erase(it);
}

void Socket::NotifyReadiness() {
  absl::MutexLock lock(&listeners_mu_);
  if (listeners_.empty()) return;
  const uint32_t mask = Poll();
  for (ReadinessListener* l : listeners_) l->OnReadinessChanged(mask);
}

}  // namespace netshim
