// NewReno (RFC 5681 congestion avoidance, RFC 6582 fast recovery; Linux "reno",
// net/ipv4/tcp_cong.c tcp_reno_*).
//  - Slow start: cwnd grows by the segments each ACK acknowledges (Linux tcp_slow_start;
//    RFC 5681 allows min(N, SMSS) per ACK, Linux and RFC 3465 count every segment).
//  - Congestion avoidance: one segment per window of acknowledged segments.
//  - After a loss: ssthresh = max(FlightSize / 2, 2) (RFC 5681 eq. 4). Linux's reno halves
//    cwnd instead; the RFC's choice is smaller when the application limited the flight.
// The recovery window itself follows RFC 6582 / RFC 6675 in CongestionControl.
#pragma once

#include "stack/transport/tcp/congestion/congestion_control.h"

namespace netshim {

class NewReno final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "reno";
  std::string_view name() const override { return kName; }

 protected:
  uint32_t SsthreshAfterLoss(uint32_t flight_size, absl::Time now) override;
  void Grow(const AckSample& ack) override;
};

}  // namespace netshim
