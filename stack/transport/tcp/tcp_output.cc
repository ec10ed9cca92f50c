// Sending: the send loop (Linux tcp_write_xmit with RFC 9293 3.8.6.2.1 sender SWS
// avoidance and Nagle's algorithm, RFC 896 / RFC 1122 4.2.3.4 with Minshall's variant as in
// Linux tcp_nagle_check), retransmissions after a timeout and in SACK recovery (RFC 6675
// NextSeg), building segments with their options, and the receive window we advertise
// (RFC 9293 3.8.6.2.2 receiver SWS avoidance, Linux __tcp_select_window).
#include <netinet/in.h>

#include <algorithm>

#include "stack/net/nic.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ipv4.h"

namespace netshim {
namespace {
constexpr uint8_t kProtocolTcp = static_cast<uint8_t>(IpProtocol::kTcp);
constexpr uint32_t kIpTcpHeaders = 40;         // IPv4 + TCP without options
constexpr uint32_t kTimestampOptionSize = 12;  // TCPOLEN_TSTAMP_ALIGNED
constexpr uint32_t kMinSndMss = 48;            // Linux net.ipv4.tcp_min_snd_mss (before options)
constexpr uint16_t kMinMss = 36;               // the smallest data a segment carries (48 less TS)
}  // namespace

uint32_t TcpSocket::TsNowLocked() const {
  // A millisecond clock (Linux TCP_TS_HZ = 1000), offset per address pair (RFC 7323 7.1).
  const int64_t ms = absl::ToInt64Milliseconds(protocol_.clock().Now() - absl::UnixEpoch());
  return static_cast<uint32_t>(ms) + ts_offset_;
}

uint16_t TcpSocket::AdvertisedMssLocked() const {
  uint32_t mss = protocol_.ipv4().nic().mtu() - kIpTcpHeaders;
  if (options_.user_mss != 0) mss = std::min<uint32_t>(mss, options_.user_mss);
  return static_cast<uint16_t>(mss);
}

void TcpSocket::UpdateSendMssLocked() {
  // Linux tcp_sync_mss / tcp_current_mss: the path MTU, the peer's MSS, TCP_MAXSEG, less
  // the options every segment carries.
  // Linux __tcp_mtu_to_mss floors at tcp_min_snd_mss before the options come off.
  uint32_t mtu = std::min<uint32_t>(path_mtu_, protocol_.ipv4().nic().mtu());
  uint32_t mss = mtu - kIpTcpHeaders;
  mss = std::min<uint32_t>(mss, peer_mss_);
  if (options_.user_mss != 0) mss = std::min<uint32_t>(mss, options_.user_mss);
  mss = std::max(mss, kMinSndMss);
  if (ts_ok_) mss -= kTimestampOptionSize;
  send_mss_ = static_cast<uint16_t>(mss);
}

uint8_t TcpSocket::ReceiveWindowScaleLocked() const {
  // Linux tcp_select_initial_window: room for the largest buffer autotuning may reach,
  // or only for SO_RCVBUF when the user fixed it.
  uint32_t space = options_.rcvbuf_locked
                       ? static_cast<uint32_t>(options_.rcvbuf) / 2
                       : static_cast<uint32_t>(std::max(config_.rmem_max, config_.core_rmem_max));
  uint8_t scale = 0;
  while (scale < kTcpMaxWindowScale && (space >> scale) > 0xffff) ++scale;
  return scale;
}

uint32_t TcpSocket::ReceiveSpaceLocked() const {
  // Half the buffer holds payload (Linux's tcp_adv_win_scale default).
  return static_cast<uint32_t>(options_.rcvbuf) / 2;
}

uint32_t TcpSocket::FreeReceiveSpaceLocked() const {
  const size_t used = receive_queue_.size() + ofo_.bytes();
  const uint32_t space = ReceiveSpaceLocked();
  return used >= space ? 0 : space - static_cast<uint32_t>(used);
}

uint32_t TcpSocket::OfferedWindowLocked() const {
  const uint32_t space = ReceiveSpaceLocked();
  const uint32_t free = FreeReceiveSpaceLocked();
  const uint32_t mss = std::min<uint32_t>(rcv_mss_, space);
  // RFC 9293 3.8.6.2.2: do not open the window by less than min(buffer / 2, MSS).
  if (free < space / 2 && free < mss) return 0;
  if (rcv_wscale_ > 0) {
    const uint32_t unit = 1u << rcv_wscale_;
    return free & ~(unit - 1);
  }
  return free > mss ? free - free % mss : free;
}

uint32_t TcpSocket::SynWindowLocked() const {
  // RFC 7323 2.2: a SYN's window is never scaled. Linux: the space rounded to the MSS.
  const uint32_t mss = AdvertisedMssLocked();
  const uint32_t win = ReceiveSpaceLocked();
  return std::min<uint32_t>(win - win % mss, 0xffff);
}

uint16_t TcpSocket::SelectWindowLocked(bool syn) {
  if (syn) {
    // An active opener's rcv_nxt_ is not known yet: SynSentLocked sets the edge again.
    const uint32_t win = SynWindowLocked();
    rcv_adv_ = rcv_nxt_ + win;
    return static_cast<uint16_t>(win);
  }
  uint32_t win = OfferedWindowLocked();
  // Never shrink the window already offered (RFC 9293 3.8.6.2.2, Linux tcp_select_window).
  const uint32_t current = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ - rcv_nxt_ : 0;
  const uint32_t unit = 1u << rcv_wscale_;
  if (win < current) win = (current + unit - 1) & ~(unit - 1);
  win = std::min<uint32_t>(win, uint32_t{0xffff} << rcv_wscale_);
  const uint32_t field = win >> rcv_wscale_;
  const uint32_t edge = rcv_nxt_ + (field << rcv_wscale_);
  if (SeqGt(edge, rcv_adv_)) rcv_adv_ = edge;
  return static_cast<uint16_t>(field);
}

void TcpSocket::MaybeWindowUpdateLocked() {
  if (!IsSynchronized(state_) || fin_received_ || state_ == TcpState::kTimeWait) return;
  // Linux tcp_cleanup_rbuf: announce the window once it can at least double.
  const uint32_t current = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ - rcv_nxt_ : 0;
  if (2 * current > ReceiveSpaceLocked()) return;
  const uint32_t offered = OfferedWindowLocked();
  if (offered > 0 && offered >= 2 * current) SendAckLocked();
}

void TcpSocket::AdjustReceiveBufferLocked(size_t copied) {
  // Linux tcp_rcv_space_adjust: once per round trip, grow the buffer to twice what the
  // application read in the last one (plus slack), up to tcp_rmem[2].
  if (options_.rcvbuf_locked) return;
  space_copied_ += copied;
  const absl::Time now = protocol_.clock().Now();
  absl::Duration rtt = rtt_.has_sample() ? rtt_.srtt() : rcv_rtt_;
  rtt = std::max(rtt, absl::Milliseconds(1));
  if (now - space_time_ < rtt) return;
  if (space_copied_ > space_target_) {
    const size_t window = 2 * space_copied_ + 16 * size_t{rcv_mss_};
    const size_t buffer = std::min<size_t>(2 * window, static_cast<size_t>(config_.rmem_max));
    if (buffer > static_cast<size_t>(options_.rcvbuf)) {
      options_.rcvbuf = static_cast<int>(buffer);
      ofo_.SetMaxBytes(ReceiveSpaceLocked());
    }
    space_target_ = space_copied_;
  }
  space_copied_ = 0;
  space_time_ = now;
}

// ---------------------------------------------------------------------------------------
// Segments

bool TcpSocket::TransmitLocked(uint32_t seq, uint8_t flags, size_t len, bool retransmit,
                               uint16_t gso_size) {
  const bool syn = flags & kTcpSyn;
  TcpOptions options;
  if (syn) {
    options.mss = AdvertisedMssLocked();
    const bool active = !(flags & kTcpAck);
    // Our SYN offers everything (Linux's defaults); a SYN-ACK answers what was offered.
    if (active || ts_ok_) {
      uint32_t tsval = TsNowLocked();
      if (cookie_tsval_options_) tsval = SynCookies::EncodeTsval(tsval, *cookie_tsval_options_);
      options.timestamps = TcpTimestamps{tsval, active ? 0 : ts_recent_};
    }
    options.sack_permitted = active || sack_ok_;
    if (active || wscale_ok_) options.window_scale = rcv_wscale_;
  } else {
    if (ts_ok_) options.timestamps = TcpTimestamps{TsNowLocked(), ts_recent_};
    if (sack_ok_ && (flags & kTcpAck)) {
      // As many blocks as the option space, and the MTU beside this segment's data, allow.
      const size_t mtu = std::min<uint32_t>(path_mtu_, protocol_.ipv4().nic().mtu());
      // A TSO frame's segments each carry gso_size bytes beside the options.
      const size_t used = kIpTcpHeaders + options.WrittenSize() + (gso_size ? gso_size : len);
      const size_t room = mtu > used + 4 ? (mtu - used - 4) / 8 : 0;
      const size_t fit = std::min(options.SackBlocksThatFit(), room);
      if (dsack_) options.AddSack(*dsack_);
      std::array<SackBlock, kTcpMaxSackBlocks> blocks;
      const size_t n = ofo_.SackBlocks({blocks.data(), fit - options.sack_block_count});
      for (size_t i = 0; i < n; ++i) options.AddSack(blocks[i]);
    }
  }
  const size_t header_size = kTcpMinHeaderSize + options.WrittenSize();
  PacketBuffer head = protocol_.pool().Allocate(Nic::kHeadroom);
  if (!head || head.tailroom() < header_size) return false;
  uint8_t* at = head.Append(header_size);

  TcpHeader h;
  h.src_port = tuple_.local_port;
  h.dst_port = tuple_.remote_port;
  h.seq = seq;
  h.flags = flags;
  h.ack = (flags & kTcpAck) ? rcv_nxt_ : 0;
  h.header_length = static_cast<uint8_t>(header_size);
  h.window = (flags & kTcpRst) ? 0 : SelectWindowLocked(syn);
  h.Write({at, kTcpMinHeaderSize});
  options.Write({at + kTcpMinHeaderSize, header_size - kTcpMinHeaderSize});

  TxFrame frame(std::move(head));
  if (protocol_.ipv4().nic().offloads().tx_checksum) {
    // The link finishes the checksum (Linux CHECKSUM_PARTIAL): the field holds the
    // pseudo-header sum over the whole TCP length, and the payload is never read here.
    // A TSO frame's segments get theirs from it (Linux tcp_gso_segment adjusts the length).
    if (len > 0) send_queue_.Slices(seq, len, &frame.payload, nullptr);
    const uint64_t pseudo = PseudoHeaderSum(tuple_.local_address, tuple_.remote_address,
                                            kProtocolTcp, static_cast<uint16_t>(header_size + len));
    Store16(at + 16, static_cast<uint16_t>(~ChecksumFinish(pseudo)));
    frame.offload.needs_checksum = true;
    frame.offload.csum_start = 0;  // the TCP header's start; IPv4 and Ethernet add theirs
    frame.offload.csum_offset = 16;
    frame.offload.gso_size = gso_size;
  } else {
    uint64_t payload_sum = 0;
    if (len > 0) send_queue_.Slices(seq, len, &frame.payload, &payload_sum);
    Store16(at + 16, TcpChecksumWithPayloadSum(tuple_.local_address, tuple_.remote_address,
                                               {at, header_size}, payload_sum, len));
  }
  Ipv4SendOptions ip;
  ip.ttl = static_cast<uint8_t>(options_.ttl < 0 ? kDefaultTtl : options_.ttl);
  ip.tos = options_.tos;
  ip.dont_fragment = true;  // path MTU discovery (RFC 1191), as Linux by default
  protocol_.ipv4().Send(tuple_.local_address, tuple_.remote_address, kProtocolTcp, std::move(frame),
                        ip);

  // Counted as the wire sees them: a TSO frame is as many segments as it is cut into.
  const uint32_t segs = gso_size ? static_cast<uint32_t>((len + gso_size - 1) / gso_size) : 1;
  stats_.OutSegs.Add(segs);
  segs_out_ += segs;
  if (retransmit) {
    stats_.RetransSegs.Add(segs);
    total_retrans_ += segs;
  }
  bytes_sent_ += len;
  last_send_ = protocol_.clock().Now();
  if (flags & kTcpAck) {
    // Every segment carries the ACK: nothing more is owed (Linux tcp_event_ack_sent).
    ack_pending_ = false;
    ack_now_ = false;
    ack_urgent_ = false;
    delack_at_ = absl::InfiniteFuture();
    last_ack_sent_ = rcv_nxt_;
    if (quickacks_ > 0) --quickacks_;
    dsack_.reset();
  }
  return true;
}

void TcpSocket::SendControlLocked(uint8_t flags, uint32_t seq) {
  TransmitLocked(seq, flags, 0, false);
}

void TcpSocket::SendAckLocked() {
  if (state_ == TcpState::kClosed || state_ == TcpState::kListen || state_ == TcpState::kSynSent) {
    return;
  }
  // The next new byte, not a retransmission's sequence number: after a timeout snd_nxt_
  // is wound back, and an ACK numbered below the peer's rcv_nxt would be unacceptable to
  // it (RFC 9293 3.10.7.4), its ACK field never read.
  SendControlLocked(kTcpAck, snd_max_);
}

void TcpSocket::SendChallengeAckLocked() {
  // RFC 5961 7: at most tcp_challenge_ack_limit (Linux: 1000, randomised) a second.
  const absl::Time now = protocol_.clock().Now();
  if (now - challenge_second_ >= absl::Seconds(1)) {
    challenge_second_ = now;
    challenge_acks_ = 0;
  }
  if (++challenge_acks_ > 1000) return;
  stats_.TCPChallengeACK.Inc();
  SendAckLocked();
}

void TcpSocket::SendResetLocked() {
  // Linux tcp_send_active_reset: RST|ACK at snd_nxt... of what was sent.
  stats_.OutRsts.Inc();
  TransmitLocked(snd_max_, kTcpRst | kTcpAck, 0, false);
}

bool TcpSocket::SendDataSegmentLocked(uint32_t seq, size_t len, bool fin, bool retransmit,
                                      uint16_t gso_size) {
  uint8_t flags = kTcpAck;
  if (fin) flags |= kTcpFin;
  // Linux sets PSH on the last segment of what the application wrote (tcp_mark_push).
  if (len > 0 && seq + len == write_seq_) flags |= kTcpPsh;
  return TransmitLocked(seq, flags, len, retransmit, len > gso_size ? gso_size : 0);
}

bool TcpSocket::ResendRangeLocked(SackBlock range) {
  const uint32_t data_stop = SeqMin(range.end, write_seq_);
  const size_t len = SeqGt(data_stop, range.start) ? data_stop - range.start : 0;
  return SendDataSegmentLocked(range.start, len, fin_queued_ && SeqGt(range.end, write_seq_), true);
}

SackBlock TcpSocket::ResendHeadLocked(uint32_t mss) {
  const SackBlock head{snd_una_, SeqMin(snd_una_ + mss, snd_max_)};
  ResendRangeLocked(head);
  return head;
}

uint32_t TcpSocket::InFlightLocked() const {
  if (sack_ok_ && in_recovery_) return scoreboard_.Pipe(snd_max_, send_mss_);
  if (SeqLt(snd_nxt_, snd_max_)) return SeqDiff(snd_nxt_, snd_una_);  // after a timeout
  uint32_t out = SeqDiff(snd_max_, snd_una_);
  if (sack_ok_) out -= std::min(out, scoreboard_.sacked_bytes());
  return out;
}

uint32_t TcpSocket::SendBurstLimitLocked(uint32_t mss, uint32_t cwnd_room) const {
  const uint32_t tso_packet = protocol_.ipv4().nic().offloads().tso_max_packet;
  // Recovery sends segment by segment, as the scoreboard decides (Linux too keeps
  // retransmissions to one MSS).
  if (tso_packet == 0 || in_recovery_ || in_loss_) return mss;
  // Room for the largest headers (IPv4 20, TCP 60) in the 64 KiB packet.
  constexpr uint32_t kMaxHeaders = 20 + 60;
  const uint32_t by_packet = (tso_packet - kMaxHeaders) / mss * mss;
  // Linux tcp_cwnd_test: as many segments as the window has room for, the last one
  // allowed to overshoot (the window counts segments).
  const uint32_t by_cwnd = (cwnd_room + mss - 1) / mss * mss;
  return std::max(mss, std::min(by_packet, by_cwnd));
}

uint32_t TcpSocket::CurrentMssLocked() const {
  // Linux tcp_current_mss: while SACK blocks ride on every segment, data makes room.
  uint32_t mss = send_mss_;
  if (sack_ok_ && (dsack_ || !ofo_.empty())) {
    const size_t blocks = std::min<size_t>(ofo_.segments() + (dsack_ ? 1 : 0), ts_ok_ ? 3 : 4);
    mss -= std::min<uint32_t>(mss > kMinMss ? mss - kMinMss : 0,
                              static_cast<uint32_t>(4 + 8 * blocks));
  }
  return mss;
}

void TcpSocket::PushLocked() {
  switch (state_) {
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
    case TcpState::kFinWait1:
    case TcpState::kClosing:
    case TcpState::kLastAck:
      break;
    default:
      return;
  }
  if (snd_una_ == iss_) return;  // nothing goes out before our SYN is acknowledged
  const absl::Time now = protocol_.clock().Now();
  const uint32_t mss = CurrentMssLocked();
  const uint32_t data_end = write_seq_;
  const bool fin_unsent = fin_queued_ && SeqLeq(snd_max_, data_end);
  if (snd_una_ == snd_max_ && (SeqLt(snd_max_, data_end) || fin_unsent)) {
    // Sending resumes after silence (RFC 5681 4.1, Linux tcp_cwnd_restart).
    cc_->OnResumeSending(now - last_send_, rtt_.rto(), now);
  }
  bool window_blocked = false;
  cwnd_limited_ = false;
  for (int guard = 0; guard < 4096; ++guard) {
    const uint32_t cwnd_bytes = cc_->cwnd() * mss;
    const uint32_t wnd_end = snd_una_ + snd_wnd_;

    // RFC 6675 5 (C): in SACK recovery NextSeg decides, while pipe leaves room.
    if (in_recovery_ && sack_ok_) {
      if (scoreboard_.Pipe(snd_max_, mss) + mss > cwnd_bytes) {
        cwnd_limited_ = true;
        break;
      }
      const bool new_ok = SeqLt(snd_max_, data_end) && SeqLt(snd_max_, wnd_end);
      const SackScoreboard::NextSegment next = scoreboard_.NextSeg(snd_max_, mss, new_ok);
      if (next.kind == SackScoreboard::NextSegment::Kind::kRetransmit ||
          next.kind == SackScoreboard::NextSegment::Kind::kRescue) {
        if (!ResendRangeLocked(next.range)) break;
        if (next.kind == SackScoreboard::NextSegment::Kind::kRetransmit) {
          scoreboard_.OnRetransmitted(next.range);
        } else {
          scoreboard_.OnRescueRetransmitted();
        }
        continue;
      }
      if (next.kind == SackScoreboard::NextSegment::Kind::kNone) break;
      // kNewData: fall through to send one new segment below.
    } else if (SeqLt(snd_nxt_, snd_max_)) {
      // Go-back-N after a timeout, skipping what the receiver SACKed.
      if (InFlightLocked() >= cwnd_bytes) {
        cwnd_limited_ = true;
        break;
      }
      std::optional<SackBlock> hole;
      if (sack_ok_) {
        hole = scoreboard_.NextHole(snd_nxt_, snd_max_, mss);
      } else {
        hole = SackBlock{snd_nxt_, SeqMin(snd_nxt_ + mss, snd_max_)};
      }
      if (!hole) {
        snd_nxt_ = snd_max_;
        continue;
      }
      if (!ResendRangeLocked(*hole)) break;
      snd_nxt_ = hole->end;
      continue;
    }

    // New data from snd_max_.
    const uint32_t unsent = SeqGt(data_end, snd_max_) ? data_end - snd_max_ : 0;
    const bool fin_pending = fin_queued_ && snd_max_ == data_end;
    if (unsent == 0 && !fin_pending) break;
    const uint32_t wnd_room = SeqGt(wnd_end, snd_max_) ? wnd_end - snd_max_ : 0;
    const uint32_t flight = InFlightLocked();
    // The congestion window counts segments, as Linux's does: while any room is left,
    // one more segment may go.
    if (flight >= cwnd_bytes) {
      cwnd_limited_ = true;
      break;
    }
    uint32_t len = std::min({unsent, SendBurstLimitLocked(mss, cwnd_bytes - flight), wnd_room});
    if (len > mss && len % mss != 0) {
      // A TSO frame is whole segments, with one exception: the tail of what was written
      // rides along unless cork, MSG_MORE or Nagle would hold it on its own (Linux
      // tcp_mss_split_point).
      const bool hold_tail = len < unsent || options_.cork || more_ ||
                             (!options_.nodelay && SeqGt(snd_sml_, snd_una_));
      if (hold_tail) len -= len % mss;
    }
    const bool fin = fin_queued_ && snd_max_ + len == data_end && wnd_room > len;
    if (len == 0 && !fin) {
      window_blocked = wnd_room == 0;
      break;
    }
    if (len < mss && len < unsent) {
      // Cut by the peer's window: sent as it is (Linux splits at the window; only the
      // receiver's SWS avoidance keeps such segments from being silly), unless corked.
      if (options_.cork || more_) break;
    } else if (len < mss && !fin) {
      // The tail of what was written: cork and MSG_MORE hold it; Nagle holds it while a
      // small segment is unacknowledged (Minshall's variant, Linux tcp_nagle_check).
      if (options_.cork || more_) break;
      if (!options_.nodelay && SeqGt(snd_sml_, snd_una_)) break;
    }
    if (!SendDataSegmentLocked(snd_max_, len, fin, false, static_cast<uint16_t>(mss))) break;
    if (!rtt_seq_ && !in_recovery_ && !in_loss_) {
      rtt_seq_ = snd_max_ + len;
      rtt_start_ = now;
    }
    snd_max_ += len + (fin ? 1 : 0);
    snd_nxt_ = snd_max_;
    // Minshall's small segment: a TSO frame's short tail counts (Linux tcp_minshall_update).
    if (len < mss || len % mss != 0) snd_sml_ = snd_max_;
    if (fin) break;
  }

  if (snd_una_ != snd_max_) {
    persist_at_ = absl::InfiniteFuture();
    persist_probing_ = false;
    if (rto_at_ == absl::InfiniteFuture()) ArmRetransmitLocked();
    if (probe_at_ == absl::InfiniteFuture()) ArmProbeLocked();
  } else if ((SeqLt(snd_max_, data_end) || (fin_queued_ && snd_max_ == data_end)) &&
             persist_at_ == absl::InfiniteFuture()) {
    // Nothing in flight and something held back — by the peer's window, or by cork or
    // MSG_MORE: the probe timer (Linux tcp_check_probe_timer) probes a closed window
    // (RFC 9293 3.8.6.1) and pushes out what fits once it fires, which is also what gives
    // TCP_CORK its 200 ms ceiling. Without it a held tail under a small window would sit
    // forever. It backs off as the retransmission timer does.
    persist_probing_ = window_blocked;
    const absl::Duration interval = std::min(
        rtt_.rto() * (1 << std::min<uint32_t>(persist_backoff_, 10)), RttEstimator::kMaxRto);
    persist_at_ = now + interval;
    SyncTimerLocked();
  }
}

}  // namespace netshim
