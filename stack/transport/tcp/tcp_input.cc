// Segment arrival (RFC 9293 3.10.7) in every state but LISTEN (tcp_listen.cc), with the
// RFC 5961 protections (RST and SYN in the window answered by a challenge ACK), PAWS
// (RFC 7323 5), TIME-WAIT's rules (RFC 9293 3.10.7.4, RFC 6191 for SYNs that reopen it),
// ICMP errors (RFC 1122 4.2.3.9, RFC 1191) and Linux's choices where the RFCs leave room.
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>

#include "stack/runtime/log.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {
namespace {
constexpr int kRcvShutdown = 1;
constexpr uint16_t kDefaultMss = 536;  // RFC 9293 3.7.1 / RFC 1122 4.2.2.6
// RFC 7323 5.5: a ts_recent idle this long is no longer trusted for PAWS.
constexpr absl::Duration kPawsIdle = absl::Hours(24 * 24);
constexpr uint16_t kMinPathMtu = 552;  // Linux net.ipv4.route.min_pmtu

// Linux icmp_err_convert for destination unreachable codes.
int UnreachableErrno(int code) {
  switch (code) {
    case 0:
      return ENETUNREACH;
    case 1:
      return EHOSTUNREACH;
    case 2:
      return ENOPROTOOPT;
    case 3:
      return ECONNREFUSED;
    case 5:
      return EOPNOTSUPP;
    case 6:
      return ENETUNREACH;
    case 7:
      return EHOSTDOWN;
    case 8:
      return ENONET;
    case 9:
      return ENETUNREACH;
    case 10:
      return EHOSTUNREACH;
    case 11:
      return ENETUNREACH;
    default:
      return EHOSTUNREACH;
  }
}
}  // namespace

TcpSocket::SegmentVerdict TcpSocket::OnSegment(const TcpSegment& seg) {
  mu_.Lock();
  if (state_ == TcpState::kListen) {
    mu_.Unlock();
    return ListenOnSegment(seg);
  }
  Effects fx;
  const SegmentVerdict verdict = SegmentArrivesLocked(seg, fx);
  Finish(fx);
  return verdict;
}

TcpSocket::SegmentVerdict TcpSocket::SegmentArrivesLocked(const TcpSegment& seg, Effects& fx) {
  ++segs_in_;
  const absl::Time now = protocol_.clock().Now();
  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
      protocol_.SendResetFor(seg);
      return SegmentVerdict::kDone;
    case TcpState::kSynSent:
      SynSentLocked(seg, fx);
      FlushAckLocked();
      return SegmentVerdict::kDone;
    case TcpState::kTimeWait:
      return TimeWaitLocked(seg, fx);
    default:
      break;
  }
  last_receive_ = now;
  const TcpHeader& h = seg.header;

  if (state_ == TcpState::kSynReceived && h.syn() && !h.rst()) {
    if (!h.has_ack() && seg.seq() == irs_) {
      // The peer's SYN again: our SYN-ACK was lost (Linux tcp_check_req).
      SendControlLocked(kTcpSyn | kTcpAck, iss_);
      return SegmentVerdict::kDone;
    }
    if (h.has_ack() && seg.seq() == irs_ && seg.ack() == snd_max_ && !passive_ &&
        seg.payload.empty() && !h.fin()) {
      // Simultaneous open: the peer's SYN-ACK acknowledges our SYN (RFC 9293 figure 8).
      // Linux tcp_validate_incoming lets only a bare one through to the ACK processing
      // (seq + 1 == end_seq); one carrying data or a FIN gets the challenge ACK below.
      TcpSegment ack = seg;
      ack.header.flags &= static_cast<uint8_t>(~kTcpSyn);
      ack.header.seq = seg.seq() + 1;
      return SegmentArrivesLocked(ack, fx);
    }
  }
  // RFC 7323 5.3 R1: PAWS.
  if (ts_ok_ && seg.options.timestamps && !h.rst() && PawsRejectsLocked(seg)) {
    stats_.PAWSEstab.Inc();
    SendAckLocked();
    return SegmentVerdict::kDone;
  }
  // First: the sequence number.
  if (!SequenceAcceptableLocked(seg)) {
    if (!h.rst()) {
      // Linux tcp_send_dupack: old data is reported with a D-SACK (RFC 2883 4.1).
      if (!seg.payload.empty() && SeqLt(seg.seq(), rcv_nxt_) && sack_ok_) {
        const uint32_t end = seg.seq() + static_cast<uint32_t>(seg.payload.size());
        dsack_ = SackBlock{seg.seq(), SeqLt(end, rcv_nxt_) ? end : rcv_nxt_};
      }
      SendAckLocked();
    }
    return SegmentVerdict::kDone;
  }
  // Second: RST (RFC 5961 3.2): only the exact next sequence number resets.
  if (h.rst()) {
    if (seg.seq() == rcv_nxt_) {
      ResetReceivedLocked(fx);
    } else {
      SendChallengeAckLocked();
    }
    return SegmentVerdict::kDone;
  }
  // RFC 7323 4.3: remember the timestamp of a segment that covers last_ack_sent.
  if (ts_ok_ && seg.options.timestamps && SeqLeq(seg.seq(), last_ack_sent_)) {
    ts_recent_ = seg.options.timestamps->value;
    ts_recent_stamp_ = now;
  }
  // Fourth: SYN (RFC 5961 4.2): a challenge ACK; a retransmitted SYN in a passive
  // SYN-RECEIVED gets our SYN-ACK again (Linux tcp_check_req). After a simultaneous open
  // Linux's socket is a full one, and tcp_validate_incoming challenges whatever SYN the
  // bare-SYN-ACK exception above did not take.
  if (h.syn()) {
    if (state_ == TcpState::kSynReceived && seg.seq() == irs_ && passive_) {
      SendControlLocked(kTcpSyn | kTcpAck, iss_);
    } else {
      SendChallengeAckLocked();
    }
    return SegmentVerdict::kDone;
  }
  // Fifth: ACK.
  if (!h.has_ack()) return SegmentVerdict::kDone;
  // Our SYN unacknowledged: SYN-RECEIVED, or FIN-WAIT-1 after a close there.
  const bool syn_unacked =
      snd_una_ == iss_ && (state_ == TcpState::kSynReceived || state_ == TcpState::kFinWait1);
  if (syn_unacked) {
    if (!(SeqLt(snd_una_, seg.ack()) && SeqLeq(seg.ack(), snd_max_))) {
      protocol_.SendReset(tuple_, seg.ack(), 0, false, 0);
      return SegmentVerdict::kDone;
    }
    if (!parent_.expired() || in_syn_queue_) {
      // A passive open: it must find room in the listener's accept queue, or the ACK is
      // dropped and the SYN-ACK retransmitted later (Linux listen overflow).
      const int joined = JoinAcceptQueueLocked(fx);
      if (joined < 0) {
        AbortLocked(ECONNRESET, fx);
        return SegmentVerdict::kDone;
      }
      if (joined == 0) return SegmentVerdict::kDone;
    }
    snd_wnd_ = static_cast<uint32_t>(h.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq();
    snd_wl2_ = seg.ack();
    const TcpState before = state_;
    EstablishLocked(fx);
    if (before == TcpState::kFinWait1) SetStateLocked(TcpState::kFinWait1);
  }
  if (!AckLocked(seg, fx)) return SegmentVerdict::kDone;
  const bool fin_acked = fin_queued_ && snd_una_ == write_seq_ + 1;
  switch (state_) {
    case TcpState::kFinWait1:
      if (fin_acked) {
        SetStateLocked(TcpState::kFinWait2);
        fx.notify = true;
        if (closed_) {
          timewait_at_ = now + config_.fin_timeout;
          SyncTimerLocked();
        }
      }
      break;
    case TcpState::kClosing:
      if (fin_acked) {
        EnterTimeWaitLocked(fx);
        return SegmentVerdict::kDone;
      }
      break;
    case TcpState::kLastAck:
      if (fin_acked) {
        DoneLocked(0, fx);
        return SegmentVerdict::kDone;
      }
      break;
    default:
      break;
  }
  // Seventh: data.
  if (!seg.payload.empty()) {
    switch (state_) {
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
        if ((shutdown_ & kRcvShutdown) && closed_ &&
            SeqGt(seg.seq() + static_cast<uint32_t>(seg.payload.size()), rcv_nxt_)) {
          // Linux tcp_rcv_state_process: new data for a closed socket aborts it.
          stats_.TCPAbortOnData.Inc();
          AbortLocked(0, fx);
          return SegmentVerdict::kDone;
        }
        ReceiveDataLocked(seg, fx);
        break;
      default:
        break;  // after the peer's FIN: ignored (RFC 9293 3.10.7.4 seventh)
    }
  }
  // Eighth: FIN, in sequence after the data.
  if (h.fin() && state_ != TcpState::kClosed && !fin_received_) {
    const uint32_t fin_seq = seg.seq() + static_cast<uint32_t>(seg.payload.size());
    if (fin_seq == rcv_nxt_) {
      ReceiveFinLocked(fx);
    } else if (SeqGt(fin_seq, rcv_nxt_) && SeqLt(fin_seq, rcv_adv_ + 1)) {
      ofo_fin_ = fin_seq;
      ScheduleAckLocked(true);
    }
  }
  if (state_ == TcpState::kClosed) return SegmentVerdict::kDone;
  PushLocked();
  FlushAckLocked();
  return SegmentVerdict::kDone;
}

void TcpSocket::FlushAckLocked() {
  if (ack_pending_ && ack_now_) {
    // A reply the application is about to send may carry it (TcpProtocol's held ACKs),
    // unless the sender counts on it: a duplicate or out-of-order ACK, or one of the
    // every-second-full-segment rule that clocks a bulk sender (RFC 5681 4.2).
    if (!ack_urgent_ && TcpProtocol::HoldingAcks() &&
        config_.ack_hold_time > absl::ZeroDuration() &&
        SeqDiff(rcv_nxt_, last_ack_sent_) < 2 * int32_t{rcv_mss_}) {
      if (!ack_held_) {
        ack_held_ = true;
        protocol_.HoldAck(shared_from_this());
      }
      return;
    }
    SendAckLocked();
  } else if (ack_pending_ && delack_at_ != absl::InfiniteFuture()) {
    SyncTimerLocked();
  }
}

bool TcpSocket::PawsRejectsLocked(const TcpSegment& seg) const {
  const uint32_t tsval = seg.options.timestamps->value;
  if (!SeqLt(tsval, ts_recent_)) return false;
  // RFC 7323 5.5: an old ts_recent is invalid after 24 days of idleness.
  return protocol_.clock().Now() - ts_recent_stamp_ < kPawsIdle;
}

bool TcpSocket::SequenceAcceptableLocked(const TcpSegment& seg) const {
  // RFC 9293 3.10.7.4, table of four cases.
  const uint32_t wnd = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ - rcv_nxt_ : 0;
  const uint32_t len = seg.length();
  const uint32_t seq = seg.seq();
  if (wnd == 0) {
    // "special allowance should be made to accept valid ACKs, URGs, and RSTs": the
    // segment at rcv_nxt passes; its data is trimmed away later.
    return seq == rcv_nxt_;
  }
  if (len == 0) return SeqInRange(seq, rcv_nxt_, rcv_nxt_ + wnd);
  return SeqInRange(seq, rcv_nxt_, rcv_nxt_ + wnd) ||
         SeqInRange(seq + len - 1, rcv_nxt_, rcv_nxt_ + wnd);
}

void TcpSocket::ResetReceivedLocked(Effects& fx) {
  // RFC 9293 3.10.7.4 second; errno as Linux tcp_reset chooses.
  int error = ECONNRESET;
  switch (state_) {
    case TcpState::kSynReceived:
      // A passive open goes back to LISTEN: the child just disappears.
      error = in_syn_queue_ ? 0 : ECONNREFUSED;
      break;
    case TcpState::kCloseWait:
      error = EPIPE;
      break;
    case TcpState::kClosing:
    case TcpState::kLastAck:
      error = 0;
      break;
    default:
      break;
  }
  reset_seen_ = true;
  DoneLocked(closed_ ? 0 : error, fx);
}

void TcpSocket::SynSentLocked(const TcpSegment& seg, Effects& fx) {
  // RFC 9293 3.10.7.3.
  const TcpHeader& h = seg.header;
  const absl::Time now = protocol_.clock().Now();
  bool ack_ok = false;
  if (h.has_ack()) {
    if (SeqLeq(seg.ack(), iss_) || SeqGt(seg.ack(), snd_max_)) {
      if (!h.rst()) protocol_.SendReset(tuple_, seg.ack(), 0, false, 0);
      return;
    }
    ack_ok = true;
  }
  if (h.rst()) {
    if (ack_ok) DoneLocked(ECONNREFUSED, fx);
    return;
  }
  if (!h.syn()) return;
  irs_ = seg.seq();
  rcv_nxt_ = irs_ + 1;
  // The window our SYN offered starts here (RFC 9293 3.10.7.3 sets RCV.NXT now). Left
  // relative to the unknown rcv_nxt of SYN time, the edge was arbitrary: half of all
  // active opens advertised the largest window (65535 << wscale, 8 MiB) whatever their
  // buffer, and a peer filling it made the reassembly queue evict data already SACKed.
  rcv_adv_ = rcv_nxt_ + SynWindowLocked();
  ofo_.Reset(rcv_nxt_);
  last_receive_ = now;
  AdoptPeerOptionsLocked(seg);
  if (ts_ok_) {
    ts_recent_ = seg.options.timestamps->value;
    ts_recent_stamp_ = now;
  }
  // The window of a SYN is never scaled (RFC 7323 2.2).
  snd_wnd_ = h.window;
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = seg.seq();
  snd_wl2_ = seg.ack();
  if (ack_ok) {
    bytes_acked_ += 1;  // the SYN (Linux tcp_snd_una_update)
    snd_una_ = seg.ack();
    if (SeqLt(snd_nxt_, snd_una_)) snd_nxt_ = snd_una_;
    scoreboard_.Reset(snd_una_);
    if (rtt_seq_ && syn_retransmits_ == 0) rtt_.AddSample(now - rtt_start_, snd_una_, snd_max_);
    rtt_seq_.reset();
    rto_at_ = absl::InfiniteFuture();
    EstablishLocked(fx);
    last_ack_sent_ = seg.seq();  // nothing acknowledged yet: the SYN is what is owed
    // The handshake's ACK may ride on the application's first data (Linux delays it when
    // a write is pending, tcp_rcv_synsent_state_process); a held one goes at the latest
    // when the connecting thread sleeps or polls again.
    ScheduleAckLocked(true, /*holdable=*/true);
    PushLocked();
  } else {
    // Simultaneous open (RFC 9293 3.5 figure 8).
    SetStateLocked(TcpState::kSynReceived);
    SendControlLocked(kTcpSyn | kTcpAck, iss_);
    rto_at_ = now + rtt_.rto();
    SyncTimerLocked();
  }
}

void TcpSocket::AdoptPeerOptionsLocked(const TcpSegment& seg) {
  const TcpOptions& o = seg.options;
  peer_mss_ = o.mss.value_or(kDefaultMss);
  ts_ok_ = o.timestamps.has_value();
  sack_ok_ = o.sack_permitted;
  wscale_ok_ = o.window_scale.has_value();
  if (wscale_ok_) {
    snd_wscale_ = std::min(*o.window_scale, kTcpMaxWindowScale);
  } else {
    snd_wscale_ = 0;
    rcv_wscale_ = 0;  // RFC 7323 2.2: both sides or neither
  }
  UpdateSendMssLocked();
}

void TcpSocket::EstablishLocked(Effects& fx) {
  const absl::Time now = protocol_.clock().Now();
  SetStateLocked(TcpState::kEstablished);
  UpdateSendMssLocked();
  // Linux tcp_initialize_rcv_mss: no more than the default MSS until segments show more.
  rcv_mss_ = std::min<uint16_t>({kDefaultMss, AdvertisedMssLocked(), send_mss_});
  cc_->OnEstablished(syn_retransmits_, now);
  if (syn_retransmits_ > 0 && !rtt_.has_sample()) rtt_.UseFallbackRto();
  ExpandSendBufferLocked();
  ofo_.SetMaxBytes(ReceiveSpaceLocked());
  quickacks_ = config_.quickack_segments;
  last_receive_ = now;
  last_data_receive_ = now;
  space_time_ = now;
  retransmits_ = 0;
  ArmKeepaliveLocked();
  fx.notify = true;
}

void TcpSocket::ReceiveDataLocked(const TcpSegment& seg, Effects& fx) {
  const absl::Time now = protocol_.clock().Now();
  uint32_t seq = seg.seq();
  PacketBuffer payload = seg.payload;
  // Trim to the window we offered (RFC 9293 3.10.7.4): bytes beyond it are not kept.
  const uint32_t wnd_end = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ : rcv_nxt_;
  if (SeqGeq(seq, wnd_end)) {
    ScheduleAckLocked(true);
    return;
  }
  const uint32_t end = seq + static_cast<uint32_t>(payload.size());
  if (SeqGt(end, wnd_end)) payload.Truncate(wnd_end - seq);
  if (SeqLeq(end, rcv_nxt_)) {
    // Entirely old: a duplicate, reported with D-SACK (RFC 2883 4.1).
    dsack_ = SackBlock{seq, end};
    ScheduleAckLocked(true);
    return;
  }
  // Quick ACKs after an idle receive (Linux tcp_event_data_recv: longer than the RTO).
  if (now - last_data_receive_ > rtt_.rto()) quickacks_ = config_.quickack_segments;
  last_data_receive_ = now;
  if (payload.size() > rcv_mss_) {
    rcv_mss_ = static_cast<uint16_t>(std::min<size_t>(payload.size(), AdvertisedMssLocked()));
  }
  if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0) {
    const uint32_t rtt_ms = TsNowLocked() - seg.options.timestamps->echo;
    if (rtt_ms < 60000) rcv_rtt_ = absl::Milliseconds(rtt_ms);
  }

  const bool had_holes = !ofo_.empty();
  if (!had_holes && seq == rcv_nxt_) {
    // The common case: the next bytes, nothing held out of order. Straight to the reader.
    const uint32_t n = static_cast<uint32_t>(payload.size());
    receive_queue_.Push(std::move(payload));
    ofo_.Advance(n);
    rcv_nxt_ += n;
    bytes_received_ += n;
    fx.notify = true;
    if (ofo_fin_ && *ofo_fin_ == rcv_nxt_) {
      ReceiveFinLocked(fx);
      return;
    }
    ScheduleAckLocked(false);
    return;
  }
  const ReassemblyQueue::InsertResult result = ofo_.Insert(seq, std::move(payload));
  if (result.dsack && !dsack_) dsack_ = result.dsack;
  if (result.dropped_bytes > 0) stats_.TCPOFODrop.Inc();
  if (result.evicted_bytes > 0) stats_.TCPOFODrop.Inc();
  if (!result.in_order) {
    // Out of order: an immediate duplicate ACK with SACK blocks (RFC 5681 4.2, RFC 2018).
    stats_.TCPOFOQueue.Inc();
    ScheduleAckLocked(true);
    return;
  }
  const size_t moved =
      ofo_.PopInOrder([&](PacketBuffer data) { receive_queue_.Push(std::move(data)); });
  rcv_nxt_ = ofo_.rcv_nxt();
  bytes_received_ += moved;
  fx.notify = true;
  // Filling a hole is acknowledged at once (RFC 5681 4.2), a FIN it reaches included;
  // otherwise delayed.
  ScheduleAckLocked(had_holes || result.dsack.has_value());
  if (ofo_fin_ && *ofo_fin_ == rcv_nxt_) ReceiveFinLocked(fx);
}

void TcpSocket::ScheduleAckLocked(bool now_flag, bool holdable) {
  ack_pending_ = true;
  if (now_flag && !holdable) ack_urgent_ = true;
  // RFC 1122 4.2.3.2 / RFC 5681 4.2: at least every second full-sized segment.
  const bool quick = quickacks_ > 0 && !pingpong_;
  if (now_flag || quick || SeqDiff(rcv_nxt_, last_ack_sent_) >= 2 * int32_t{rcv_mss_}) {
    ack_now_ = true;
    return;
  }
  if (delack_at_ == absl::InfiniteFuture()) {
    delack_at_ = protocol_.clock().Now() + config_.delayed_ack;
  }
}

void TcpSocket::ReceiveFinLocked(Effects& fx) {
  rcv_nxt_ += 1;
  bytes_received_ += 1;  // Linux tcp_rcv_nxt_update counts the FIN too
  ofo_.Reset(rcv_nxt_);  // Linux tcp_fin purges the out-of-order queue
  ofo_fin_.reset();
  fin_received_ = true;
  shutdown_ |= kRcvShutdown;
  fx.notify = true;
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      SetStateLocked(TcpState::kCloseWait);
      // Linux tcp_fin: the ACK of the peer's FIN is delayed (pingpong mode), as the
      // application's close() usually follows at once and its FIN carries the ACK: one
      // segment fewer per connection the peer closes first. The delayed-ACK timer bounds it.
      pingpong_ = true;
      ScheduleAckLocked(false);
      break;
    case TcpState::kFinWait1:
      ScheduleAckLocked(true);
      SetStateLocked(TcpState::kClosing);
      break;
    case TcpState::kFinWait2:
      ScheduleAckLocked(true);
      SendAckLocked();
      EnterTimeWaitLocked(fx);
      break;
    default:
      ScheduleAckLocked(true);
      break;
  }
}

TcpSocket::SegmentVerdict TcpSocket::TimeWaitLocked(const TcpSegment& seg, Effects& fx) {
  const TcpHeader& h = seg.header;
  if (h.rst()) {
    // Linux tcp_timewait_state_process (tcp_rfc1337 = 0): a RST at rcv_nxt ends TIME-WAIT
    // early; any other is ignored.
    if (seg.seq() == rcv_nxt_) DoneLocked(0, fx);
    return SegmentVerdict::kDone;
  }
  if (h.syn() && !h.has_ack()) {
    // RFC 6191 / RFC 9293 3.10.7.4: a new incarnation may reuse the tuple when its SYN is
    // beyond what we received (or carries a newer timestamp).
    const bool newer_ts =
        ts_ok_ && seg.options.timestamps && SeqGt(seg.options.timestamps->value, ts_recent_);
    if (SeqGt(seg.seq(), rcv_nxt_) || newer_ts) {
      DoneLocked(0, fx);
      return SegmentVerdict::kToListener;
    }
  }
  const bool paws_reject = ts_ok_ && seg.options.timestamps && PawsRejectsLocked(seg);
  if (paws_reject) stats_.PAWSEstab.Inc();
  // An in-window bare ACK is taken silently and restarts the wait (Linux
  // tcp_timewait_state_process).
  if (!paws_reject && seg.seq() == rcv_nxt_ && seg.length() == 0) {
    timewait_at_ = protocol_.clock().Now() + config_.time_wait;
    return SegmentVerdict::kDone;
  }
  // Anything else, e.g. the peer's FIN again because our ACK was lost, is acknowledged,
  // and an ACK (or a PAWS-rejected segment) restarts the 2MSL wait.
  if (paws_reject || h.has_ack()) timewait_at_ = protocol_.clock().Now() + config_.time_wait;
  SendAckLocked();
  SyncTimerLocked();
  return SegmentVerdict::kDone;
}

void TcpSocket::OnIcmpError(int type, int code, uint16_t mtu, uint32_t seq) {
  mu_.Lock();
  Effects fx;
  const bool relevant = IsSynchronized(state_) || state_ == TcpState::kSynSent
                            ? SeqBetween(seq, snd_una_, snd_max_)
                            : false;
  if (!relevant) {
    stats_.OutOfWindowIcmps.Inc();
    Finish(fx);
    return;
  }
  int error = 0;
  if (type == 3 && code == 4) {
    // Fragmentation needed (RFC 1191): a smaller path MTU, then resend what did not fit.
    if (mtu != 0 && mtu < path_mtu_) {
      path_mtu_ = std::max<uint16_t>(mtu, kMinPathMtu);
      UpdateSendMssLocked();
      if (IsSynchronized(state_) && snd_una_ != iss_ && snd_una_ != snd_max_) {
        snd_nxt_ = snd_una_;  // Linux tcp_simple_retransmit: no congestion response
        PushLocked();
      }
    }
    Finish(fx);
    return;
  }
  if (type == 3) {
    error = UnreachableErrno(code);
  } else if (type == 11) {
    error = EHOSTUNREACH;
  } else if (type == 12) {
    error = EPROTO;
  } else {
    Finish(fx);
    return;
  }
  if (state_ == TcpState::kSynSent) {
    DoneLocked(error, fx);  // Linux tcp_v4_err: a hard error while connecting
  } else if (state_ == TcpState::kSynReceived && in_syn_queue_) {
    DoneLocked(0, fx);
  } else {
    soft_error_ = error;  // RFC 1122 4.2.3.9: soft, reported if the connection times out
  }
  Finish(fx);
}

}  // namespace netshim
