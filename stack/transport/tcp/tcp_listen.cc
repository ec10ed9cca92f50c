// The listening side (RFC 9293 3.10.7.2, Linux tcp_v4_conn_request / tcp_check_req /
// inet_csk_accept): a SYN makes a child connection in SYN-RECEIVED (the SYN queue, bounded
// by the backlog); when that queue is full, a SYN cookie answers instead and no state is
// kept (Linux net/ipv4/syncookies.c); a completed handshake moves the child to the accept
// queue, bounded by the backlog too, where accept() finds it.
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>

#include "stack/net/nic.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {
namespace {
// Linux tcp_synq_no_recent_overflow: cookies are only checked for a while after one was
// sent, so random ACKs to a listener are not run through the hash.
constexpr absl::Duration kCookieWindow = absl::Minutes(2);
}  // namespace

TcpSocket::SegmentVerdict TcpSocket::ListenOnSegment(const TcpSegment& seg) {
  const TcpHeader& h = seg.header;
  if (h.rst()) return SegmentVerdict::kDone;  // RFC 9293 3.10.7.2: ignore
  if (h.has_ack()) {
    if (!h.syn() && HandleCookieAck(seg)) return SegmentVerdict::kDone;
    protocol_.SendResetFor(seg);  // <SEQ=SEG.ACK><CTL=RST>
    return SegmentVerdict::kDone;
  }
  if (!h.syn() || h.fin()) return SegmentVerdict::kDone;  // Linux drops SYN+FIN too
  HandleSyn(seg);
  return SegmentVerdict::kDone;
}

void TcpSocket::HandleSyn(const TcpSegment& seg) {
  const absl::Time now = protocol_.clock().Now();
  Options inherited;
  PortTable::Id listener_binding;
  bool use_cookie = false;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != TcpState::kListen) return;
    // Linux sk_acceptq_is_full: more than `backlog` waiting to be accepted.
    if (static_cast<int>(accept_queue_.size()) > backlog_) {
      stats_.ListenOverflows.Inc();
      stats_.ListenDrops.Inc();
      return;
    }
    // inet_csk_reqsk_queue_is_full: the SYN queue holds at most `backlog`.
    if (syn_queue_ >= std::max(backlog_, 1)) {
      if (!config_.syncookies) {
        stats_.ListenDrops.Inc();
        return;
      }
      use_cookie = true;
      last_cookie_ = now;
    } else {
      ++syn_queue_;
    }
    inherited = options_;
    listener_binding = binding_;
  }
  if (use_cookie) {
    SendCookieSynAck(seg);
    return;
  }
  auto child = protocol_.CreateSocket();
  absl::MutexLock lock(&child->mu_);
  child->parent_ = weak_from_this();
  child->in_syn_queue_ = true;
  child->options_ = inherited;
  child->binding_ = protocol_.ports().Inherit(listener_binding, seg.tuple.local_address);
  child->tuple_ = seg.tuple;
  child->port_locked_ = true;
  child->irs_ = seg.seq();
  child->rcv_nxt_ = seg.seq() + 1;
  child->ofo_.Reset(child->rcv_nxt_);
  child->InitSendSequenceLocked(protocol_.isn().Isn(seg.tuple, now));
  child->ts_offset_ =
      protocol_.isn().TimestampOffset(seg.tuple.local_address, seg.tuple.remote_address);
  child->rcv_wscale_ = child->ReceiveWindowScaleLocked();
  child->AdoptPeerOptionsLocked(seg);
  if (child->ts_ok_) {
    child->ts_recent_ = seg.options.timestamps->value;
    child->ts_recent_stamp_ = now;
  }
  child->snd_wnd_ = seg.header.window;  // unscaled in a SYN
  child->max_snd_wnd_ = child->snd_wnd_;
  child->snd_wl1_ = seg.seq();
  child->last_receive_ = now;
  child->passive_ = true;
  child->rtt_seq_ = child->iss_ + 1;  // the handshake gives the first RTT sample
  child->rtt_start_ = now;
  child->SetStateLocked(TcpState::kSynReceived);
  if (!protocol_.AddConnection(seg.tuple, child)) {
    child->LeaveListenerLocked();
    return;
  }
  child->in_table_ = true;
  child->SendControlLocked(kTcpSyn | kTcpAck, child->iss_);
  child->rto_at_ = now + child->rtt_.rto();
  child->SyncTimerLocked();
}

void TcpSocket::SendCookieSynAck(const TcpSegment& seg) {
  const absl::Time now = protocol_.clock().Now();
  const TcpOptions& peer = seg.options;
  const SynCookies::Cookie cookie =
      protocol_.cookies().Encode(seg.tuple, seg.seq(), peer.mss.value_or(536), now);
  stats_.SyncookiesSent.Inc();
  // A throwaway connection block answers: it is never entered in any table.
  auto reply = protocol_.CreateSocket();
  absl::MutexLock lock(&reply->mu_);
  {
    absl::MutexLock listener_lock(&mu_);
    reply->options_ = options_;
  }
  reply->tuple_ = seg.tuple;
  reply->iss_ = cookie.isn;
  reply->rcv_nxt_ = seg.seq() + 1;
  reply->ts_offset_ =
      protocol_.isn().TimestampOffset(seg.tuple.local_address, seg.tuple.remote_address);
  reply->rcv_wscale_ = reply->ReceiveWindowScaleLocked();
  reply->AdoptPeerOptionsLocked(seg);
  // Without timestamps there is nowhere to keep window scale and SACK (Linux drops them).
  if (!reply->ts_ok_) {
    reply->sack_ok_ = false;
    reply->wscale_ok_ = false;
    reply->rcv_wscale_ = 0;
  } else {
    reply->ts_recent_ = peer.timestamps->value;
  }
  reply->cookie_tsval_options_ = SynCookies::Options{
      reply->wscale_ok_ ? std::optional<uint8_t>(reply->snd_wscale_) : std::nullopt,
      reply->sack_ok_, false};
  reply->SendControlLocked(kTcpSyn | kTcpAck, cookie.isn);
}

bool TcpSocket::HandleCookieAck(const TcpSegment& seg) {
  const absl::Time now = protocol_.clock().Now();
  Options inherited;
  PortTable::Id listener_binding;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != TcpState::kListen || !config_.syncookies) return false;
    if (last_cookie_ == absl::InfinitePast() || now - last_cookie_ > kCookieWindow) return false;
    if (static_cast<int>(accept_queue_.size()) > backlog_) {
      stats_.ListenOverflows.Inc();
      stats_.ListenDrops.Inc();
      return true;  // dropped: the peer retransmits
    }
    inherited = options_;
    listener_binding = binding_;
  }
  const std::optional<uint16_t> mss =
      protocol_.cookies().Check(seg.tuple, seg.seq(), seg.ack(), now);
  if (!mss) {
    stats_.SyncookiesFailed.Inc();
    return false;
  }
  stats_.SyncookiesRecv.Inc();
  auto child = protocol_.CreateSocket();
  child->mu_.Lock();
  Effects fx;
  child->parent_ = weak_from_this();
  child->passive_ = true;
  child->options_ = inherited;
  child->binding_ = protocol_.ports().Inherit(listener_binding, seg.tuple.local_address);
  child->tuple_ = seg.tuple;
  child->port_locked_ = true;
  child->irs_ = seg.seq() - 1;
  child->rcv_nxt_ = seg.seq();
  child->ofo_.Reset(child->rcv_nxt_);
  child->InitSendSequenceLocked(seg.ack() - 1);
  child->snd_una_ = seg.ack();
  child->scoreboard_.Reset(seg.ack());
  child->ts_offset_ =
      protocol_.isn().TimestampOffset(seg.tuple.local_address, seg.tuple.remote_address);
  child->peer_mss_ = *mss;
  if (seg.options.timestamps) {
    const SynCookies::Options o = SynCookies::DecodeTsecr(seg.options.timestamps->echo);
    child->ts_ok_ = true;
    child->ts_recent_ = seg.options.timestamps->value;
    child->ts_recent_stamp_ = now;
    child->sack_ok_ = o.sack_permitted;
    child->wscale_ok_ = o.window_scale.has_value();
    child->snd_wscale_ = o.window_scale.value_or(0);
    child->rcv_wscale_ = child->wscale_ok_ ? child->ReceiveWindowScaleLocked() : 0;
  }
  child->snd_wnd_ = static_cast<uint32_t>(seg.header.window) << child->snd_wscale_;
  child->max_snd_wnd_ = child->snd_wnd_;
  child->snd_wl1_ = seg.seq();
  child->snd_wl2_ = seg.ack();
  // What the SYN-ACK offered, so the window checks accept the peer's next segments.
  child->rcv_adv_ = child->rcv_nxt_ + (child->ReceiveSpaceLocked() & ~((1u << child->rcv_wscale_) - 1));
  child->last_ack_sent_ = child->rcv_nxt_;
  child->UpdateSendMssLocked();
  child->SetStateLocked(TcpState::kSynReceived);
  if (!protocol_.AddConnection(seg.tuple, child)) {
    child->mu_.Unlock();
    return true;
  }
  child->in_table_ = true;
  if (child->JoinAcceptQueueLocked(fx) <= 0) {
    child->DoneLocked(0, fx);
    child->Finish(fx);
    return true;
  }
  child->EstablishLocked(fx);
  // The ACK may carry data: let the connection take it.
  if (!seg.payload.empty() || seg.header.fin()) {
    child->ReceiveDataLocked(seg, fx);
    if (seg.header.fin() && seg.seq() + seg.payload.size() == child->rcv_nxt_) {
      child->ReceiveFinLocked(fx);
    }
    child->FlushAckLocked();
  }
  child->Finish(fx);
  return true;
}

int TcpSocket::JoinAcceptQueueLocked(Effects& fx) {
  std::shared_ptr<TcpSocket> parent = parent_.lock();
  if (!parent) return -1;
  absl::MutexLock lock(&parent->mu_);
  if (parent->state_ != TcpState::kListen) return -1;
  if (static_cast<int>(parent->accept_queue_.size()) > parent->backlog_) {
    stats_.ListenOverflows.Inc();
    return 0;
  }
  if (in_syn_queue_) {
    --parent->syn_queue_;
    in_syn_queue_ = false;
  }
  parent->accept_queue_.push_back(shared_from_this());
  fx.notify_other = std::move(parent);
  return 1;
}

void TcpSocket::LeaveListenerLocked() {
  if (!in_syn_queue_) return;
  in_syn_queue_ = false;
  if (std::shared_ptr<TcpSocket> parent = parent_.lock()) {
    absl::MutexLock lock(&parent->mu_);
    if (parent->syn_queue_ > 0) --parent->syn_queue_;
  }
}

void TcpSocket::CloseListenerLocked(Effects& fx) {
  fx.self = shared_from_this();
  // Linux inet_csk_listen_stop: connections nobody accepted are reset.
  for (auto& child : accept_queue_) fx.abort_children.push_back(std::move(child));
  accept_queue_.clear();
  syn_queue_ = 0;
  protocol_.RemoveListener(tuple_.local_port, this);
  SetStateLocked(TcpState::kClosed);
  if (binding_ != PortTable::kNoId) {
    protocol_.ports().SetListening(binding_, false);
    if (closed_ || !port_locked_) {
      protocol_.ports().Release(binding_);
      binding_ = PortTable::kNoId;
      if (!port_locked_) tuple_.local_port = 0;
    }
  }
  fx.notify = true;
}

}  // namespace netshim
