// The connection's timers, all folded into one wheel timer at the earliest deadline:
// retransmission (RFC 6298 5, SYN and SYN-ACK retries, Linux's give-up counts), delayed
// ACK (RFC 1122 4.2.3.2), persist / zero-window probes (RFC 9293 3.8.6.1), keepalive
// (RFC 1122 4.2.3.6, Linux's probe semantics), TIME-WAIT (2MSL, Linux's 60 s) and the
// FIN-WAIT-2 timeout of orphans (tcp_fin_timeout).
#include <algorithm>
#include <cerrno>

#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {

std::optional<absl::Time> TcpSocket::NextDeadlineLocked() const {
  if (state_ == TcpState::kClosed || retired_) return std::nullopt;
  absl::Time t = std::min({rto_at_, probe_at_, persist_at_, keepalive_at_, timewait_at_});
  if (ack_pending_) t = std::min(t, delack_at_);
  if (t == absl::InfiniteFuture()) return std::nullopt;
  return t;
}

void TcpSocket::SyncTimerLocked() {
  const std::optional<absl::Time> deadline = NextDeadlineLocked();
  if (!deadline || *deadline >= scheduled_at_) return;  // an early firing re-syncs itself
  if (!timer_queued_) {
    timer_queued_ = true;
    protocol_.RequestTimerSync(shared_from_this(), *deadline);
  } else {
    protocol_.RequestWake(*deadline);
  }
}

void TcpSocket::ForceTimerSyncLocked() {
  if (timer_queued_ || scheduled_at_ == absl::InfiniteFuture()) {
    SyncTimerLocked();
    return;
  }
  timer_queued_ = true;
  protocol_.RequestTimerSync(shared_from_this(), NextDeadlineLocked().value_or(scheduled_at_));
}

void TcpSocket::ArmRetransmitLocked() {
  rto_at_ = protocol_.clock().Now() + rtt_.rto();
  SyncTimerLocked();
}

void TcpSocket::OnTimer(absl::Time now) {
  mu_.Lock();
  Effects fx;
  if (state_ != TcpState::kClosed) {
    if (now >= rto_at_) RetransmitTimeoutLocked(fx);
    if (now >= probe_at_ && state_ != TcpState::kClosed) ProbeTimeoutLocked();
    if (ack_pending_ && now >= delack_at_ && state_ != TcpState::kClosed) {
      stats_.DelayedACKs.Inc();
      SendAckLocked();
    }
    if (now >= persist_at_ && state_ != TcpState::kClosed) PersistTimeoutLocked(fx);
    if (now >= keepalive_at_ && state_ != TcpState::kClosed) KeepaliveTimeoutLocked(fx);
    if (now >= timewait_at_ && state_ != TcpState::kClosed) {
      timewait_at_ = absl::InfiniteFuture();
      if (state_ == TcpState::kTimeWait || state_ == TcpState::kFinWait2) DoneLocked(0, fx);
    }
  }
  Finish(fx);
}

void TcpSocket::RetransmitTimeoutLocked(Effects& fx) {
  const absl::Time now = protocol_.clock().Now();
  rto_at_ = absl::InfiniteFuture();
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived || snd_una_ == iss_) {
    // The SYN (or SYN-ACK) itself is unacknowledged, also after a close in SYN-RECEIVED.
    const bool active = state_ == TcpState::kSynSent;
    const int limit = active ? (options_.syn_count > 0 ? options_.syn_count : config_.syn_retries)
                             : config_.synack_retries;
    if (static_cast<int>(syn_retransmits_) >= limit) {
      stats_.TCPAbortOnTimeout.Inc();
      DoneLocked(active ? (soft_error_ != 0 ? soft_error_ : ETIMEDOUT) : 0, fx);
      return;
    }
    ++syn_retransmits_;
    rtt_.Backoff();
    rtt_seq_.reset();
    stats_.RetransSegs.Inc();
    ++total_retrans_;
    SendControlLocked(active ? kTcpSyn : (kTcpSyn | kTcpAck), iss_);
    rto_at_ = now + rtt_.rto();
    return;
  }
  if (snd_una_ == snd_max_) return;
  // When the oldest unacknowledged data went out: the timer was armed then (Linux
  // retrans_stamp), which TCP_USER_TIMEOUT counts from.
  if (first_rto_ == absl::InfiniteFuture()) first_rto_ = now - rtt_.rto();
  ++retransmits_;
  // Linux tcp_write_timeout: tcp_retries2 (tcp_orphan_retries for orphans), or
  // TCP_USER_TIMEOUT measured from the first unanswered retransmission.
  const int limit = closed_ ? config_.orphan_retries : config_.retries2;
  const bool user_timeout_hit =
      options_.user_timeout > absl::ZeroDuration() && now - first_rto_ >= options_.user_timeout;
  if (static_cast<int>(retransmits_) > limit || user_timeout_hit) {
    stats_.TCPAbortOnTimeout.Inc();
    DoneLocked(soft_error_ != 0 ? soft_error_ : ETIMEDOUT, fx);
    return;
  }
  stats_.TCPTimeouts.Inc();
  probe_at_ = absl::InfiniteFuture();
  // RFC 5681 3.1 (4), RFC 6298 5.5-5.6: ssthresh from the flight, cwnd one segment,
  // doubled RTO, and the first unacknowledged segment again.
  cc_->OnRto(InFlightLocked() / send_mss_, retransmits_ > 1, now);
  in_recovery_ = false;
  scoreboard_.ExitRecovery();
  in_loss_ = true;
  loss_high_ = snd_max_;
  recover_ = snd_max_;  // RFC 6582 4.1
  dupacks_ = 0;
  rtt_seq_.reset();
  rtt_.Backoff();
  // RFC 2018 8: a timeout may mean the receiver reneged; when the first unacknowledged
  // byte is marked SACKed it certainly did, and every mark is forgotten so go-back-N
  // resends what the receiver no longer holds (Linux tcp_timeout_mark_lost).
  if (sack_ok_ && scoreboard_.IsSacked(snd_una_)) scoreboard_.Reset(snd_una_);
  snd_nxt_ = snd_una_;
  PushLocked();
  rto_at_ = now + rtt_.rto();
  if (options_.user_timeout > absl::ZeroDuration()) {
    // Linux tcp_clamp_rto_to_user_timeout: never sleep past the user timeout.
    rto_at_ = std::min(rto_at_, first_rto_ + options_.user_timeout);
  }
}

void TcpSocket::ArmProbeLocked() {
  // RFC 8985 7.2: the probe timeout is 2 SRTT (plus the peer's delayed ACK when one
  // segment is out), at least 10 ms as Linux; doubled for each probe without progress.
  probe_at_ = absl::InfiniteFuture();
  // Only in SACK recovery, where a lost retransmission would otherwise wait for the RTO.
  // (A tail loss probe in the open state, RFC 8985 7, is not done yet.)
  if (!in_recovery_ || !sack_ok_) return;
  if (!rtt_.has_sample() || snd_una_ == snd_max_ || in_loss_ || !IsSynchronized(state_)) return;
  absl::Duration pto = std::max(2 * rtt_.srtt(), absl::Milliseconds(10));
  if (SeqDiff(snd_max_, snd_una_) <= send_mss_) pto += config_.delayed_ack;
  pto *= 1 << std::min<uint32_t>(probe_backoff_, 6);
  const absl::Time at = protocol_.clock().Now() + pto;
  if (at < rto_at_) probe_at_ = at;
}

void TcpSocket::ProbeTimeoutLocked() {
  probe_at_ = absl::InfiniteFuture();
  if (snd_una_ == snd_max_ || in_loss_) return;
  stats_.TCPLossProbes.Inc();
  ++probe_backoff_;
  rtt_seq_.reset();  // Karn: what is timed may be resent
  const uint32_t mss = CurrentMssLocked();
  if (in_recovery_) {
    // The hole at snd_una outlived its retransmission (a lost retransmission, which SACK
    // recovery alone can only repair with a timeout): send it again, and let the other
    // holes be resent too.
    if (sack_ok_) scoreboard_.RestartRetransmissions();
    const SackBlock head = ResendHeadLocked(mss);
    if (sack_ok_) scoreboard_.OnRetransmitted(head);
  } else {
    // Tail loss probe (RFC 8985 7.3): new data if the windows allow, else the last
    // segment again, so that a lost tail shows up as SACKs and fast recovery, not a
    // timeout.
    const uint32_t wnd_end = snd_una_ + snd_wnd_;
    const uint32_t unsent = SeqGt(write_seq_, snd_max_) ? write_seq_ - snd_max_ : 0;
    const uint32_t room = SeqGt(wnd_end, snd_max_) ? wnd_end - snd_max_ : 0;
    const uint32_t fresh = std::min({unsent, room, mss});
    if (fresh > 0) {
      const bool fin = fin_queued_ && snd_max_ + fresh == write_seq_ && room > fresh;
      SendDataSegmentLocked(snd_max_, fresh, fin, false);
      snd_max_ += fresh + (fin ? 1 : 0);
      snd_nxt_ = snd_max_;
    } else {
      const uint32_t data_end = SeqMin(snd_max_, write_seq_);
      const uint32_t start = SeqGt(data_end, snd_una_ + mss) ? data_end - mss : snd_una_;
      const bool fin = fin_queued_ && SeqGt(snd_max_, write_seq_);
      SendDataSegmentLocked(start, data_end - start, fin, true);
    }
  }
  ArmProbeLocked();
}

void TcpSocket::PersistTimeoutLocked(Effects& fx) {
  const absl::Time now = protocol_.clock().Now();
  persist_at_ = absl::InfiniteFuture();
  if (snd_una_ != snd_max_) return;  // data in flight: the retransmission timer rules
  const uint32_t unsent = SeqGt(write_seq_, snd_max_) ? write_seq_ - snd_max_ : 0;
  const bool fin_pending = fin_queued_ && snd_max_ == write_seq_;
  if (unsent == 0 && !fin_pending) return;
  // Linux tcp_probe_timer: unanswered probes give up after tcp_retries2 (orphans: their
  // own limit); any acceptable ACK resets the count, so a live zero-window peer is probed
  // for as long as it answers.
  if (static_cast<int>(probes_out_) >= (closed_ ? config_.orphan_retries : config_.retries2)) {
    stats_.TCPAbortOnTimeout.Inc();
    AbortLocked(ETIMEDOUT, fx);
    return;
  }
  if (snd_wnd_ > 0) {
    // The window opened by less than we wanted to send, or cork held the data: send what
    // fits, the FIN too when all of it does (Linux tcp_write_wakeup).
    const uint32_t len = std::min({unsent, snd_wnd_, uint32_t{send_mss_}});
    const bool fin = fin_queued_ && len == unsent && snd_wnd_ > len;
    if (len > 0 || fin) {
      SendDataSegmentLocked(snd_max_, len, fin, false);
      snd_max_ += len + (fin ? 1 : 0);
      snd_nxt_ = snd_max_;
      ArmRetransmitLocked();
      return;
    }
  }
  // A zero-window probe: an ACK one below snd_una that the peer must answer with its
  // current window (Linux tcp_xmit_probe_skb).
  stats_.TCPWindowProbes.Inc();
  SendControlLocked(kTcpAck, snd_una_ - 1);
  ++probes_out_;
  ++persist_backoff_;
  persist_probing_ = true;
  const absl::Duration interval =
      std::min(rtt_.rto() * (1 << std::min<uint32_t>(persist_backoff_, 10)), RttEstimator::kMaxRto);
  persist_at_ = now + interval;
}

absl::Duration TcpSocket::KeepIdleLocked() const {
  return options_.keepidle > absl::ZeroDuration() ? options_.keepidle : config_.keepalive_time;
}
absl::Duration TcpSocket::KeepIntvlLocked() const {
  return options_.keepintvl > absl::ZeroDuration() ? options_.keepintvl : config_.keepalive_intvl;
}
int TcpSocket::KeepCntLocked() const {
  return options_.keepcnt > 0 ? options_.keepcnt : config_.keepalive_probes;
}

void TcpSocket::ArmKeepaliveLocked() {
  const bool on =
      options_.keepalive && (state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait ||
                             state_ == TcpState::kFinWait1 || state_ == TcpState::kFinWait2);
  keepalive_at_ = on ? last_receive_ + KeepIdleLocked() : absl::InfiniteFuture();
  if (on) SyncTimerLocked();
}

void TcpSocket::KeepaliveTimeoutLocked(Effects& fx) {
  // Linux tcp_keepalive_timer.
  const absl::Time now = protocol_.clock().Now();
  keepalive_at_ = absl::InfiniteFuture();
  if (!options_.keepalive || !(state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait ||
                               state_ == TcpState::kFinWait1 || state_ == TcpState::kFinWait2)) {
    return;
  }
  if (snd_una_ != snd_max_ || SeqLt(snd_max_, write_seq_)) {
    // Data outstanding: the retransmission timer watches the peer.
    keepalive_at_ = now + KeepIdleLocked();
    return;
  }
  const absl::Duration idle = now - last_receive_;
  if (idle < KeepIdleLocked()) {
    keepalive_at_ = last_receive_ + KeepIdleLocked();
    probes_out_ = 0;
    return;
  }
  if (static_cast<int>(probes_out_) >= KeepCntLocked()) {
    stats_.TCPAbortOnTimeout.Inc();
    AbortLocked(soft_error_ != 0 ? soft_error_ : ETIMEDOUT, fx);
    return;
  }
  stats_.TCPKeepAliveProbes.Inc();
  SendControlLocked(kTcpAck, snd_una_ - 1);
  ++probes_out_;
  keepalive_at_ = now + KeepIntvlLocked();
}

void TcpSocket::EnterTimeWaitLocked(Effects& fx) {
  if (!protocol_.EnterTimeWait()) {
    stats_.TCPTimeWaitOverflow.Inc();
    DoneLocked(0, fx);
    return;
  }
  SetStateLocked(TcpState::kTimeWait);
  stats_.TW.Inc();
  rto_at_ = probe_at_ = persist_at_ = keepalive_at_ = absl::InfiniteFuture();
  timewait_at_ = protocol_.clock().Now() + config_.time_wait;
  send_queue_.Reset(write_seq_);
  // Bytes still unread stay readable (a half-closed socket reaches TIME-WAIT before the
  // program reads); an empty queue gives its storage back, as Linux's timewait minisock
  // keeps no buffers: a busy server holds thousands of these for a minute.
  if (receive_queue_.empty()) receive_queue_.Clear();
  fx.notify = true;
  SyncTimerLocked();
}

}  // namespace netshim
