// CUBIC (RFC 9438) as Linux runs it (net/ipv4/tcp_cubic.c, its default parameters):
//  - beta 717/1024 (~0.7): ssthresh = max(cwnd * beta, 2) after a loss (Linux uses cwnd,
//    which RFC 9438 4.6 notes some implementations do, rather than the flight size);
//  - C = 410/1024 (~0.4); the window follows W(t) = C (t - K)^3 + Wmax with
//    K = cbrt((Wmax - cwnd) / C), t counted from the first ACK after the reduction plus
//    the minimum RTT seen (the target one RTT ahead, RFC 9438 4.2);
//  - fast convergence (RFC 9438 4.7): a loss below the previous Wmax remembers
//    Wmax = cwnd * (1 + beta) / 2;
//  - the TCP-friendly region (RFC 9438 4.3): an estimate of what Reno would have grows by
//    3(1-beta)/(1+beta) segments per RTT (Linux's integer beta_scale), and cwnd grows at
//    least as fast;
//  - growth is at most one segment per two acked (1.5x per RTT); with no Wmax yet (after a
//    timeout) at least 5% per RTT; the curve is recomputed at most once per millisecond;
//  - an idle period shifts the epoch so the curve does not jump (CA_EVENT_TX_START);
//  - a timeout forgets Wmax and the curve (Linux bictcp_reset on TCP_CA_Loss).
// HyStart (Linux's hybrid slow start exit, on by default there) is NOT implemented: slow
// start runs until a loss or ECN signal ends it, as Linux does with hystart=0.
//
// Not thread-safe: owned by one connection (see CongestionControl).
#pragma once

#include <cstdint>
#include <optional>

#include "stack/transport/tcp/congestion/congestion_control.h"

namespace netshim {

class Cubic final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "cubic";
  static constexpr uint32_t kBetaScale = 1024;
  static constexpr uint32_t kBeta = 717;      // Linux beta (/1024)
  static constexpr double kC = 410.0 / 1024;  // Linux bic_scale 41, x10 (/1024)

  std::string_view name() const override { return kName; }

  // The curve's state, for tests and tcp_info-like reporting.
  uint32_t w_max() const { return last_max_cwnd_; }  // segments (Linux last_max_cwnd)
  double k_seconds() const { return k_seconds_; }    // K of the current epoch
  absl::Duration min_rtt() const { return absl::Microseconds(delay_min_us_); }

 protected:
  uint32_t SsthreshAfterLoss(uint32_t flight_size, absl::Time now) override;
  void Grow(const AckSample& ack) override;
  void OnAcked(const AckSample& ack) override;
  void OnLoss() override;
  void OnTxStart(absl::Duration idle, absl::Time now) override;

 private:
  // Linux bictcp_update: sets cnt_, the segments to ack per one-segment increase.
  void Update(uint32_t cwnd, uint32_t acked, int64_t now_ms);
  void TcpFriendliness(uint32_t cwnd);

  uint32_t cnt_ = 0;
  uint32_t last_max_cwnd_ = 0;  // Wmax
  uint32_t last_cwnd_ = 0;
  int64_t last_time_ms_ = 0;
  uint32_t origin_ = 0;  // the plateau the curve is centred on
  double k_seconds_ = 0;
  int64_t delay_min_us_ = 0;
  std::optional<int64_t> epoch_start_ms_;  // unset: a new epoch starts on the next ACK
  uint32_t ack_cnt_ = 0;                   // segments acked in this epoch, for the Reno estimate
  uint32_t tcp_cwnd_ = 0;                  // what Reno would have (W_est)
};

}  // namespace netshim
