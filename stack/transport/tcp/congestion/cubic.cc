#include "stack/transport/tcp/congestion/cubic.h"

#include <algorithm>
#include <cmath>

namespace netshim {
namespace {

// Linux counts in jiffies; at HZ=1000 that is milliseconds.
int64_t ToMs(absl::Time t) { return absl::ToInt64Milliseconds(t - absl::UnixEpoch()); }

// Linux beta_scale: the Reno estimate grows one segment per cwnd * 15 / 8 acked, i.e. by
// 3(1 - beta)/(1 + beta) ~ 0.53 segments per RTT (RFC 9438 4.3 alpha_cubic).
constexpr uint32_t kRenoBetaScale =
    8 * (Cubic::kBetaScale + Cubic::kBeta) / 3 / (Cubic::kBetaScale - Cubic::kBeta);

}  // namespace

uint32_t Cubic::SsthreshAfterLoss(uint32_t /*flight_size*/, absl::Time /*now*/) {
  epoch_start_ms_.reset();  // the next ACK starts a new curve
  const uint32_t w = cwnd();
  if (w < last_max_cwnd_) {
    // Fast convergence: a flow whose window keeps shrinking yields bandwidth to new ones.
    last_max_cwnd_ = static_cast<uint32_t>(uint64_t{w} * (kBetaScale + kBeta) / (2 * kBetaScale));
  } else {
    last_max_cwnd_ = w;
  }
  return std::max<uint32_t>(static_cast<uint32_t>(uint64_t{w} * kBeta / kBetaScale), 2);
}

void Cubic::Grow(const AckSample& ack) {
  uint32_t acked = ack.acked;
  if (InSlowStart()) {
    acked = SlowStart(acked);
    if (acked == 0) return;
  }
  Update(cwnd(), acked, ToMs(ack.now));
  AdditiveIncrease(cnt_, acked);
}

void Cubic::Update(uint32_t cwnd, uint32_t acked, int64_t now_ms) {
  ack_cnt_ += acked;
  // The curve changes slowly: skip the arithmetic when nothing moved in 1/32 s.
  if (last_cwnd_ == cwnd && now_ms - last_time_ms_ <= 1000 / 32) return;
  // At most once per millisecond; a reduction (new epoch) always recomputes.
  if (epoch_start_ms_ && now_ms == last_time_ms_) {
    TcpFriendliness(cwnd);
    return;
  }
  last_cwnd_ = cwnd;
  last_time_ms_ = now_ms;

  if (!epoch_start_ms_) {
    epoch_start_ms_ = now_ms;
    ack_cnt_ = acked;
    tcp_cwnd_ = cwnd;
    if (last_max_cwnd_ <= cwnd) {
      k_seconds_ = 0;
      origin_ = cwnd;
    } else {
      k_seconds_ = std::cbrt((last_max_cwnd_ - cwnd) / kC);  // RFC 9438 eq. 2
      origin_ = last_max_cwnd_;
    }
  }

  // RFC 9438 eq. 1 evaluated one minimum RTT ahead (Linux adds delay_min in jiffies).
  const int64_t t_ms = now_ms - *epoch_start_ms_ + (delay_min_us_ + 999) / 1000;
  const double t = static_cast<double>(t_ms) / 1000.0;
  const double offs = std::abs(t - k_seconds_);
  const double delta_d = std::min(kC * offs * offs * offs, double{kMaxWindow} * 4);
  const uint32_t delta = static_cast<uint32_t>(delta_d);
  uint32_t target;
  if (t < k_seconds_) {
    target = origin_ > delta ? origin_ - delta : 0;
  } else {
    target = origin_ + delta;
  }

  if (target > cwnd) {
    cnt_ = cwnd / (target - cwnd);
  } else {
    cnt_ = 100 * cwnd;  // at or above the target: creep
  }
  // With no Wmax yet, do not be too timid: at least 5% per RTT.
  if (last_max_cwnd_ == 0 && cnt_ > 20) cnt_ = 20;
  TcpFriendliness(cwnd);
}

void Cubic::TcpFriendliness(uint32_t cwnd) {
  const uint32_t per_segment = std::max<uint32_t>((cwnd * kRenoBetaScale) >> 3, 1);
  while (ack_cnt_ > per_segment) {
    ack_cnt_ -= per_segment;
    ++tcp_cwnd_;
  }
  if (tcp_cwnd_ > cwnd) {
    // Reno would be ahead: grow at least as fast as it (RFC 9438 4.3).
    const uint32_t max_cnt = cwnd / (tcp_cwnd_ - cwnd);
    cnt_ = std::min(cnt_, max_cnt);
  }
  // At most one segment per two acked: 1.5x per RTT (RFC 9438 4.4 bound).
  cnt_ = std::max<uint32_t>(cnt_, 2);
}

void Cubic::OnAcked(const AckSample& ack) {
  if (!ack.rtt) return;
  // Linux: ignore delay samples for a second after a reduction (they carry the queue).
  if (epoch_start_ms_ && ToMs(ack.now) - *epoch_start_ms_ < 1000) return;
  const int64_t delay = std::max<int64_t>(absl::ToInt64Microseconds(*ack.rtt), 1);
  if (delay_min_us_ == 0 || delay < delay_min_us_) delay_min_us_ = delay;
}

void Cubic::OnLoss() {
  // Linux bictcp_reset: everything, Wmax and the minimum RTT included, starts over.
  cnt_ = 0;
  last_max_cwnd_ = 0;
  last_cwnd_ = 0;
  last_time_ms_ = 0;
  origin_ = 0;
  k_seconds_ = 0;
  delay_min_us_ = 0;
  epoch_start_ms_.reset();
  ack_cnt_ = 0;
  tcp_cwnd_ = 0;
}

void Cubic::OnTxStart(absl::Duration idle, absl::Time now) {
  // Application-limited for a while: shift the epoch so cwnd keeps to the curve instead of
  // jumping by the idle time.
  const int64_t delta = absl::ToInt64Milliseconds(idle);
  if (epoch_start_ms_ && delta > 0) {
    *epoch_start_ms_ = std::min(*epoch_start_ms_ + delta, ToMs(now));
  }
}

}  // namespace netshim
