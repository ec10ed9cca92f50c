#include "stack/transport/tcp/congestion/newreno.h"

#include <algorithm>

namespace netshim {

uint32_t NewReno::SsthreshAfterLoss(uint32_t flight_size, absl::Time /*now*/) {
  return std::max<uint32_t>(flight_size / 2, 2);
}

void NewReno::Grow(const AckSample& ack) {
  uint32_t acked = ack.acked;
  if (InSlowStart()) {
    acked = SlowStart(acked);
    if (acked == 0) return;
  }
  AdditiveIncrease(cwnd(), acked);
}

}  // namespace netshim
