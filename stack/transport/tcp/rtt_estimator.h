// The retransmission timeout (RFC 6298) computed as Linux does (net/ipv4/tcp_input.c
// tcp_rtt_estimator, tcp_set_rto; include/net/tcp.h):
//  - SRTT gain 1/8; the deviation uses gain 1/4, but only 1/32 when the RTT falls (Linux's
//    Eifel-like damping), and RTTVAR follows the largest deviation seen in each window of
//    data (it decays once per round trip, tracked with snd_una/snd_nxt);
//  - RTO = SRTT + max(4 * deviation, RTO_min), with RTO_min 200 ms (TCP_RTO_MIN) in place
//    of RFC 6298's 1 s floor on the whole RTO, and at most 120 s (TCP_RTO_MAX);
//  - 1 s before any sample (TCP_TIMEOUT_INIT, RFC 6298 2.1), 3 s after a handshake whose
//    SYN was retransmitted and gave no sample (TCP_TIMEOUT_FALLBACK, RFC 6298 5.7);
//  - each expiry doubles the RTO up to 120 s (RFC 6298 5.5); a new sample recomputes it
//    and clears the backoff (RFC 6298 5.7 note; Linux tcp_ack_update_rtt);
//  - samples are kept in microseconds; the RTO is rounded up to whole milliseconds, as
//    Linux's usecs_to_jiffies does at HZ=1000.
// Karn's algorithm (RFC 6298 3) is the caller's: it passes no sample taken from a
// retransmitted segment (unless timestamps tell which transmission was acknowledged).
//
// A plain value owned by one connection and used under its lock; no internal locking.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace netshim {

class RttEstimator {
 public:
  static constexpr absl::Duration kMinRto = absl::Milliseconds(200);  // TCP_RTO_MIN
  static constexpr absl::Duration kMaxRto = absl::Seconds(120);       // TCP_RTO_MAX
  static constexpr absl::Duration kInitialRto = absl::Seconds(1);     // TCP_TIMEOUT_INIT
  static constexpr absl::Duration kFallbackRto = absl::Seconds(3);    // TCP_TIMEOUT_FALLBACK

  // `min_rto` replaces the 200 ms floor (Linux: the route's rto_min / TCP_BPF_RTO_MIN).
  explicit RttEstimator(absl::Duration min_rto = kMinRto);

  // A round-trip measurement (>= 0; negative ones are ignored). snd_una and snd_nxt are
  // the connection's after the ACK that produced it: RTTVAR decays at most once per window
  // of data, when snd_una passes the snd_nxt of the previous decay.
  void AddSample(absl::Duration rtt, uint32_t snd_una, uint32_t snd_nxt);

  // The retransmission timer expired: double the RTO, at most kMaxRto.
  void Backoff();

  // RFC 6298 5.7: the handshake completed with no sample after a SYN retransmission.
  void UseFallbackRto();

  bool has_sample() const { return srtt_us8_ != 0; }
  // The timer to arm now, backoff included.
  absl::Duration rto() const { return absl::Milliseconds(rto_ms_); }
  // Smoothed RTT and mean deviation (Linux tcpi_rtt, tcpi_rttvar); zero before a sample.
  absl::Duration srtt() const { return absl::Microseconds(srtt_us8_ >> 3); }
  absl::Duration rttvar() const { return absl::Microseconds(mdev_us4_ >> 2); }
  // Expiries since the last sample (Linux icsk_backoff, tcpi_backoff).
  uint32_t backoff_count() const { return backoff_; }

 private:
  void ComputeRto();

  int64_t min_rto_us_;
  int64_t srtt_us8_ = 0;     // SRTT << 3 (Linux srtt_us)
  int64_t mdev_us4_ = 0;     // deviation << 2 (Linux mdev_us)
  int64_t mdev_max_us_ = 0;  // the largest mdev_us4_ in this window (Linux mdev_max_us)
  int64_t rttvar_us_ = 0;    // 4 x RTTVAR as RFC 6298 uses it, floored at min_rto
  uint32_t rtt_seq_ = 0;     // snd_nxt when this window began (Linux rtt_seq)
  int64_t rto_ms_;
  uint32_t backoff_ = 0;
};

}  // namespace netshim
