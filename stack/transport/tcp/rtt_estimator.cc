#include "stack/transport/tcp/rtt_estimator.h"

#include <algorithm>

#include "stack/transport/tcp/seq.h"

namespace netshim {
namespace {

int64_t ToMsRoundUp(int64_t us) { return (us + 999) / 1000; }

}  // namespace

RttEstimator::RttEstimator(absl::Duration min_rto)
    : min_rto_us_(absl::ToInt64Microseconds(min_rto)),
      rto_ms_(absl::ToInt64Milliseconds(kInitialRto)) {}

void RttEstimator::AddSample(absl::Duration rtt, uint32_t snd_una, uint32_t snd_nxt) {
  if (rtt < absl::ZeroDuration()) return;
  // Cap absurd samples so the fixed-point sums cannot overflow.
  int64_t m = std::min(absl::ToInt64Microseconds(rtt), absl::ToInt64Microseconds(kMaxRto));
  int64_t srtt = srtt_us8_;
  if (srtt != 0) {
    m -= srtt >> 3;  // the error of this sample
    srtt += m;       // SRTT = 7/8 SRTT + 1/8 R (RFC 6298 2.3)
    if (m < 0) {
      // The RTT fell: Linux damps the deviation update to 1/32 so that a falling RTT does
      // not raise the RTO.
      m = -m - (mdev_us4_ >> 2);
      if (m > 0) m >>= 3;
    } else {
      m -= mdev_us4_ >> 2;
    }
    mdev_us4_ += m;  // deviation = 3/4 deviation + 1/4 |error|
    if (mdev_us4_ > mdev_max_us_) {
      mdev_max_us_ = mdev_us4_;
      rttvar_us_ = std::max(rttvar_us_, mdev_max_us_);
    }
    if (SeqGt(snd_una, rtt_seq_)) {
      // A window has gone by: let RTTVAR fall a quarter of the way to this window's peak.
      if (mdev_max_us_ < rttvar_us_) rttvar_us_ -= (rttvar_us_ - mdev_max_us_) >> 2;
      rtt_seq_ = snd_nxt;
      mdev_max_us_ = min_rto_us_;
    }
  } else {
    // RFC 6298 2.2: SRTT = R, RTTVAR = R/2 (so RTO = 3R), the deviation term floored.
    srtt = m << 3;
    mdev_us4_ = m << 1;
    rttvar_us_ = std::max(mdev_us4_, min_rto_us_);
    mdev_max_us_ = rttvar_us_;
    rtt_seq_ = snd_nxt;
  }
  srtt_us8_ = std::max<int64_t>(1, srtt);
  ComputeRto();
  backoff_ = 0;
}

void RttEstimator::ComputeRto() {
  const int64_t us = (srtt_us8_ >> 3) + rttvar_us_;
  rto_ms_ = std::min(ToMsRoundUp(us), absl::ToInt64Milliseconds(kMaxRto));
}

void RttEstimator::Backoff() {
  rto_ms_ = std::min(rto_ms_ * 2, absl::ToInt64Milliseconds(kMaxRto));
  ++backoff_;
}

void RttEstimator::UseFallbackRto() {
  if (!has_sample()) rto_ms_ = absl::ToInt64Milliseconds(kFallbackRto);
}

}  // namespace netshim
