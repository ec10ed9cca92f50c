#include "stack/net/icmp_rate_limiter.h"

#include <algorithm>

namespace netshim {

bool IcmpRateLimiter::Take(Bucket& b, double rate_per_second, double burst, absl::Time now) {
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.last));
  b.tokens = std::min(burst, b.tokens + elapsed * rate_per_second);
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool IcmpRateLimiter::Allow(Ipv4Address dst, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!global_started_) {
    global_ = {limits_.global_burst, now};
    global_started_ = true;
  }
  auto it = per_destination_.find(dst);
  if (it == per_destination_.end()) {
    if (per_destination_.size() >= limits_.max_destinations) per_destination_.clear();
    it = per_destination_.emplace(dst, Bucket{limits_.per_destination_burst, now}).first;
  }
  const double per_dest_rate = 1.0 / absl::ToDoubleSeconds(limits_.per_destination_interval);
  // Check the per-destination bucket without taking, so a refusal there costs no global token.
  Bucket probe = it->second;
  if (!Take(probe, per_dest_rate, limits_.per_destination_burst, now)) {
    it->second = probe;
    return false;
  }
  if (!Take(global_, limits_.global_per_second, limits_.global_burst, now)) return false;
  it->second = probe;
  return true;
}

}  // namespace netshim
