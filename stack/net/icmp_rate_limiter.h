// Rate limits for the ICMP errors we generate, with Linux's defaults: a global token bucket
// (net.ipv4.icmp_msgs_per_sec = 1000, icmp_msgs_burst = 50) and one per destination
// (net.ipv4.icmp_ratelimit = 1000 ms, burst 6 as inet_peer_xrlim_allow). Only error types
// are limited (icmp_ratemask 0x1818: unreachable, source quench, time exceeded, parameter
// problem); echo replies are not.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stack/wire/address.h"

namespace netshim {

class IcmpRateLimiter {
 public:
  struct Limits {
    double global_per_second = 1000;
    double global_burst = 50;
    absl::Duration per_destination_interval = absl::Seconds(1);
    double per_destination_burst = 6;
    size_t max_destinations = 1024;  // bounded memory: the table is cleared when full
  };

  IcmpRateLimiter() : IcmpRateLimiter(Limits{}) {}
  explicit IcmpRateLimiter(Limits limits) : limits_(limits) {}

  // True (and a token is taken) when an error to `dst` may be sent now.
  bool Allow(Ipv4Address dst, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  static bool Take(Bucket& b, double rate_per_second, double burst, absl::Time now);

  const Limits limits_;
  absl::Mutex mu_;
  Bucket global_ ABSL_GUARDED_BY(mu_);
  bool global_started_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<Ipv4Address, Bucket> per_destination_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
