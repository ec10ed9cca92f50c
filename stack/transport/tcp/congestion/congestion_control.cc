#include "stack/transport/tcp/congestion/congestion_control.h"

#include <algorithm>

namespace netshim {

void CongestionControl::set_cwnd(uint32_t cwnd) {
  cwnd_ = std::clamp<uint32_t>(cwnd, 1, kMaxWindow);
}

void CongestionControl::OnEstablished(uint32_t syn_retransmits, absl::Time /*now*/) {
  // Linux tcp_init_transfer: "we only reset cwnd when more than 1 SYN/SYN-ACK
  // retransmission has occurred", given RFC 6298's 1 s initial RTO.
  set_cwnd(syn_retransmits > 1 ? 1 : kInitialWindow);
  cwnd_cnt_ = 0;
}

uint32_t CongestionControl::SlowStart(uint32_t acked) {
  const uint64_t grown = std::min<uint64_t>(uint64_t{cwnd_} + acked, ssthresh_);
  const uint32_t used = static_cast<uint32_t>(grown - cwnd_);
  set_cwnd(static_cast<uint32_t>(grown));
  return acked - used;
}

void CongestionControl::AdditiveIncrease(uint32_t w, uint32_t acked) {
  w = std::max<uint32_t>(w, 1);
  // Credits earned while w was larger are applied gently: one segment at most.
  if (cwnd_cnt_ >= w) {
    cwnd_cnt_ = 0;
    set_cwnd(cwnd_ + 1);
  }
  cwnd_cnt_ += acked;
  if (cwnd_cnt_ >= w) {
    const uint32_t delta = cwnd_cnt_ / w;
    cwnd_cnt_ -= delta * w;
    set_cwnd(cwnd_ + delta);
  }
}

void CongestionControl::OnAck(const AckSample& ack) {
  OnAcked(ack);
  if (InRecovery() || !ack.cwnd_limited || ack.acked == 0) return;
  Grow(ack);
}

void CongestionControl::OnEnterRecovery(uint32_t flight_size, bool sack, absl::Time now) {
  ssthresh_ = std::max<uint32_t>(SsthreshAfterLoss(flight_size, now), 2);
  cwnd_cnt_ = 0;
  if (sack) {
    recovery_ = Recovery::kSack;
    set_cwnd(ssthresh_);  // RFC 6675 5 step (4.2)
  } else {
    recovery_ = Recovery::kNewReno;
    set_cwnd(ssthresh_ + 3);  // RFC 6582 3.2 step 3: the three segments that left
  }
}

void CongestionControl::OnDupAck() {
  if (recovery_ == Recovery::kNewReno) set_cwnd(cwnd_ + 1);
}

void CongestionControl::OnPartialAck(const AckSample& ack) {
  OnAcked(ack);
  if (recovery_ != Recovery::kNewReno) return;
  // "Deflate the congestion window by the amount of new data acknowledged ... If the
  // partial ACK acknowledges at least one SMSS of new data, then add back SMSS bytes."
  const uint32_t deflated = cwnd_ > ack.acked ? cwnd_ - ack.acked : 0;
  set_cwnd(deflated + (ack.acked >= 1 ? 1 : 0));
}

void CongestionControl::OnExitRecovery(uint32_t flight_size) {
  if (recovery_ == Recovery::kNewReno) {
    // RFC 6582 3.2 step 5 option (1): no burst larger than one segment on exit.
    set_cwnd(std::min<uint64_t>(ssthresh_, uint64_t{std::max<uint32_t>(flight_size, 1)} + 1));
  } else if (recovery_ == Recovery::kSack) {
    set_cwnd(ssthresh_);
  }
  recovery_ = Recovery::kNone;
  cwnd_cnt_ = 0;
}

void CongestionControl::OnRto(uint32_t flight_size, bool repeated, absl::Time now) {
  // RFC 5681 3.1: "the value of ssthresh is held constant" when the segment already timed
  // out once (Linux tcp_enter_loss reduces once per window).
  if (!repeated) ssthresh_ = std::max<uint32_t>(SsthreshAfterLoss(flight_size, now), 2);
  recovery_ = Recovery::kNone;
  set_cwnd(1);  // the loss window
  cwnd_cnt_ = 0;
  OnLoss();
}

void CongestionControl::OnEcnEcho(uint32_t flight_size, absl::Time now) {
  if (InRecovery()) return;
  ssthresh_ = std::max<uint32_t>(SsthreshAfterLoss(flight_size, now), 2);
  set_cwnd(std::min(cwnd_, ssthresh_));
  cwnd_cnt_ = 0;
}

void CongestionControl::OnResumeSending(absl::Duration idle, absl::Duration rto, absl::Time now) {
  if (!InRecovery() && idle > rto) {
    // Linux tcp_current_ssthresh: remember 3/4 of the window being given up.
    ssthresh_ = std::max(ssthresh_, (cwnd_ >> 1) + (cwnd_ >> 2));
    const uint32_t restart = std::min(kInitialWindow, cwnd_);
    uint32_t cwnd = cwnd_;
    for (absl::Duration left = idle - rto; left > absl::ZeroDuration() && cwnd > restart;
         left -= rto) {
      cwnd >>= 1;
    }
    set_cwnd(std::max(cwnd, restart));
    cwnd_cnt_ = 0;
  }
  OnTxStart(idle, now);
}

}  // namespace netshim
