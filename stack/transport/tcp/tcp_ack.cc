// What an ACK does (RFC 9293 3.10.7.4 fifth, Linux tcp_ack): acceptability with RFC 5961
// 5.2's bounds, the send window update (RFC 9293 3.10.7.4 SND.WL1/SND.WL2), newly acked
// data (RTT by Karn's rule, RFC 6298; congestion growth, RFC 5681 / RFC 9438), duplicate
// ACKs and entry into fast recovery (RFC 5681 3.2, RFC 6582 NewReno, RFC 6675 with SACK).
#include <algorithm>

#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {

bool TcpSocket::AckLocked(const TcpSegment& seg, Effects& fx) {
  const uint32_t ack = seg.ack();
  // RFC 5961 5.2: acceptable when SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
  if (SeqGt(ack, snd_max_)) {
    SendChallengeAckLocked();
    return false;
  }
  if (SeqLt(ack, snd_una_ - std::max(max_snd_wnd_, 1u))) {
    SendChallengeAckLocked();
    return false;
  }
  probes_out_ = 0;
  persist_probing_ = false;
  SackScoreboard::AckResult sack;
  if (sack_ok_ && SeqGeq(ack, snd_una_)) {
    sack = scoreboard_.OnAck(ack, seg.options.sacks(), snd_max_);
    if (sack.dsack) stats_.TCPDSACKRecv.Inc();
  }
  const bool window_changed = UpdateSendWindowLocked(seg);
  if (SeqGt(ack, snd_una_)) {
    NewDataAckedLocked(seg, sack, fx);
  } else if (ack == snd_una_ && snd_una_ != snd_max_ &&
             ((seg.payload.empty() && !seg.header.fin() && !window_changed) ||
              sack.newly_sacked > 0)) {
    DuplicateAckLocked(sack);
  }
  if (window_changed && snd_wnd_ > 0) {
    persist_at_ = absl::InfiniteFuture();
    persist_backoff_ = 0;  // Linux tcp_ack_probe: the window opened
  }
  return true;
}

bool TcpSocket::UpdateSendWindowLocked(const TcpSegment& seg) {
  // Linux tcp_may_update_window: RFC 9293's SND.WL1/SND.WL2 rule, and also any ACK that
  // moves snd_una (a retransmitted old segment can carry a new ACK and a smaller window,
  // which must not be ignored while snd_una advances).
  const uint32_t wnd = static_cast<uint32_t>(seg.header.window) << snd_wscale_;
  if (!(SeqGt(seg.ack(), snd_una_) || SeqGt(seg.seq(), snd_wl1_) ||
        (seg.seq() == snd_wl1_ && (wnd > snd_wnd_ || wnd == 0)))) {
    return false;
  }
  const bool changed = wnd != snd_wnd_;
  snd_wnd_ = wnd;
  snd_wl1_ = seg.seq();
  snd_wl2_ = seg.ack();
  max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
  return changed;
}

void TcpSocket::NewDataAckedLocked(const TcpSegment& seg, const SackScoreboard::AckResult& sack,
                                   Effects& fx) {
  const uint32_t ack = seg.ack();
  const absl::Time now = protocol_.clock().Now();
  const uint32_t prior_flight = InFlightLocked();
  // Data bytes acknowledged (the SYN and FIN take sequence numbers, not queue bytes).
  const uint32_t data_ack = SeqMin(ack, write_seq_);
  uint32_t data_acked = 0;
  if (SeqGt(data_ack, send_queue_.start_seq())) {
    data_acked = data_ack - send_queue_.start_seq();
    send_queue_.AcknowledgeTo(data_ack);
  }
  // Linux tcp_snd_una_update counts sequence space (SYN and FIN included), except a
  // passive opener's SYN, which its child socket never had outstanding.
  bytes_acked_ += SeqDiff(ack, snd_una_) - (passive_ && snd_una_ == iss_ ? 1 : 0);
  snd_una_ = ack;
  if (!sack_ok_) scoreboard_.Reset(ack);
  if (SeqLt(snd_nxt_, snd_una_)) snd_nxt_ = snd_una_;
  persist_backoff_ = 0;
  const bool was_retransmitting = retransmits_ > 0;
  retransmits_ = 0;
  first_rto_ = absl::InfiniteFuture();
  if (in_loss_ && SeqGeq(snd_una_, loss_high_)) in_loss_ = false;

  // RTT: the timed segment, unless it was retransmitted (Karn, RFC 6298 3); otherwise the
  // echoed timestamp, which names the transmission acknowledged (RFC 7323 4.1).
  std::optional<absl::Duration> sample;
  if (rtt_seq_ && SeqGeq(ack, *rtt_seq_)) {
    sample = now - rtt_start_;
    rtt_seq_.reset();
  } else if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0 &&
             (in_loss_ || in_recovery_ || was_retransmitting)) {
    const uint32_t ms = TsNowLocked() - seg.options.timestamps->echo;
    if (ms < 60000) sample = absl::Milliseconds(ms);
  }
  if (sample) rtt_.AddSample(*sample, snd_una_, snd_max_);

  // Congestion control counts segments; carry the remainder over.
  acked_carry_ += data_acked + sack.newly_sacked;
  const uint32_t acked_segments = acked_carry_ / send_mss_;
  acked_carry_ %= send_mss_;
  AckSample ack_sample;
  ack_sample.acked = acked_segments;
  ack_sample.rtt = sample;
  ack_sample.now = now;
  const uint32_t cwnd_bytes = cc_->cwnd() * send_mss_;
  ack_sample.cwnd_limited = cwnd_limited_ || prior_flight + send_mss_ >= cwnd_bytes ||
                            (cc_->InSlowStart() && 2 * prior_flight >= cwnd_bytes);
  if (in_recovery_) {
    if (SeqGeq(ack, recover_)) {
      // Full ACK: recovery ends (RFC 6582 3.2 step 5, RFC 6675 5 step (C) exit).
      in_recovery_ = false;
      scoreboard_.ExitRecovery();
      dupacks_ = 0;
      cc_->OnExitRecovery(InFlightLocked() / send_mss_);
    } else {
      cc_->OnPartialAck(ack_sample);
      if (!sack_ok_) {
        // RFC 6582 3.2 step 5: retransmit the first unacknowledged segment at once.
        ResendHeadLocked(send_mss_);
      }
    }
  } else {
    dupacks_ = 0;
    if (acked_segments > 0 || sample) cc_->OnAck(ack_sample);
  }
  ExpandSendBufferLocked();
  // RFC 6298 5.2 / 5.3: stop the timer when everything is acknowledged, else restart it.
  if (snd_una_ == snd_max_) {
    rto_at_ = absl::InfiniteFuture();
  } else {
    rto_at_ = now + rtt_.rto();
    if (sack_ok_ && scoreboard_.IsSacked(snd_una_)) {
      // The cumulative ACK stopped at data the receiver had SACKed: it reneged (threw away
      // out-of-order data, RFC 2018 8). Nothing here would ever resend that data, so time
      // out soon (Linux tcp_check_sack_reneging: half an SRTT, at least 10 ms); the
      // timeout forgets the SACKs.
      stats_.TCPSACKReneging.Inc();
      const absl::Duration half_srtt = rtt_.has_sample() ? rtt_.srtt() / 2 : absl::ZeroDuration();
      rto_at_ = now + std::max(half_srtt, absl::Milliseconds(10));
    }
  }
  probe_backoff_ = 0;
  ArmProbeLocked();
  if (data_acked > 0 && WritableLocked()) fx.notify = true;
}

void TcpSocket::DuplicateAckLocked(const SackScoreboard::AckResult& /*sack*/) {
  ++dupacks_;
  if (in_recovery_) {
    if (!sack_ok_) cc_->OnDupAck();  // RFC 6582 3.2 step 4: inflate
    return;
  }
  if (in_loss_) return;  // after a timeout, go-back-N does the resending
  bool lost = dupacks_ >= SackScoreboard::kDupThresh;
  if (sack_ok_) lost = lost || scoreboard_.IsLost(snd_una_, send_mss_);
  if (!lost) return;
  // RFC 6582 4.1 (without SACK): not again for losses of the window already recovered.
  if (!sack_ok_ && !SeqGt(snd_una_, recover_)) return;
  EnterRecoveryLocked();
}

void TcpSocket::EnterRecoveryLocked() {
  const absl::Time now = protocol_.clock().Now();
  in_recovery_ = true;
  recover_ = snd_max_;
  stats_.TCPFastRetrans.Inc();
  (sack_ok_ ? stats_.TCPSackRecovery : stats_.TCPRenoRecovery).Inc();
  cc_->OnEnterRecovery(InFlightLocked() / send_mss_, sack_ok_, now);
  rtt_seq_.reset();
  // RFC 6675 5 step (4.3) / RFC 5681 3.2 step 2: retransmit the first lost segment now.
  if (sack_ok_) scoreboard_.EnterRecovery(snd_max_);
  const SackBlock head = ResendHeadLocked(send_mss_);
  if (sack_ok_) scoreboard_.OnRetransmitted(head);
  rto_at_ = now + rtt_.rto();
  ArmProbeLocked();
}

void TcpSocket::ExpandSendBufferLocked() {
  // Linux tcp_sndbuf_expand: room for twice the congestion window, payload counted twice
  // as Linux charges buffers.
  if (options_.sndbuf_locked) return;
  const size_t cwnd = std::max<uint32_t>(cc_->cwnd(), CongestionControl::kInitialWindow);
  const size_t want = std::min<size_t>(4 * cwnd * send_mss_, config_.wmem_max);
  if (want > static_cast<size_t>(options_.sndbuf)) options_.sndbuf = static_cast<int>(want);
}

}  // namespace netshim
