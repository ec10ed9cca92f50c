// TcpSocket's socket API: Linux net/ipv4/af_inet.c (inet_bind, __inet_stream_connect,
// inet_listen, inet_accept, inet_shutdown, inet_getname) and net/ipv4/tcp.c (tcp_sendmsg,
// tcp_recvmsg, tcp_poll, tcp_close, tcp_disconnect), with their errno choices.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "fmt/format.h"

#include "stack/net/nic.h"
#include "stack/runtime/log.h"
#include "stack/transport/tcp/congestion/registry.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {
namespace {

constexpr int kRcvShutdown = 1;   // RCV_SHUTDOWN
constexpr int kSendShutdown = 2;  // SEND_SHUTDOWN
constexpr int kShutdownMask = 3;

// Linux tcp_need_reset: the states in which an abort tells the peer with RST.
bool NeedsReset(TcpState s) {
  return s == TcpState::kEstablished || s == TcpState::kCloseWait || s == TcpState::kFinWait1 ||
         s == TcpState::kFinWait2 || s == TcpState::kSynReceived;
}

}  // namespace

TcpSocket::TcpSocket(TcpProtocol& protocol, uint64_t id)
    : protocol_(protocol),
      config_(protocol.config()),
      stats_(protocol.stats()),
      id_(id),
      timer_([this] { protocol_.OnSocketTimer(this); }) {
  absl::MutexLock lock(&mu_);
  if (NewCongestionControl(config_.congestion, &cc_) != 0) NewCongestionControl("reno", &cc_);
  options_.rcvbuf = config_.rmem_default;
  options_.sndbuf = config_.wmem_default;
}

TcpSocket::~TcpSocket() {
  // Only reached out of every table (they hold references); give the port back if a
  // socket was dropped without Close().
  if (binding_ != PortTable::kNoId) protocol_.ports().Release(binding_);
}

// ---------------------------------------------------------------------------------------
// Plumbing

void TcpSocket::Finish(Effects& fx) {
  // Whatever this call did to the deadlines, the wheel hears of an earlier one now.
  if (state_ != TcpState::kClosed && !retired_) SyncTimerLocked();
  mu_.Unlock();
  if (fx.notify) NotifyReadiness();
  if (fx.notify_other) fx.notify_other->NotifyReadiness();
  for (const auto& child : fx.abort_children) {
    Effects cfx;
    child->mu_.Lock();
    child->closed_ = true;
    child->AbortLocked(ECONNRESET, cfx);
    child->Finish(cfx);
  }
}

void TcpSocket::SetStateLocked(TcpState s) {
  const TcpState old = state_;
  if (old == s) return;
  state_ = s;
  NETSHIM_LOG(kDebug, "tcp {}: {} -> {}", id_, TcpStateName(old), TcpStateName(s));
  if (s == TcpState::kEstablished && old == TcpState::kSynReceived) stats_.PassiveOpens.Inc();
  if (s == TcpState::kClosed) {
    // Linux tcp_set_state / tcp_done.
    if (old == TcpState::kEstablished || old == TcpState::kCloseWait) stats_.EstabResets.Inc();
    if (old == TcpState::kSynSent || old == TcpState::kSynReceived) stats_.AttemptFails.Inc();
  }
}

void TcpSocket::DoneLocked(int error, Effects& fx) {
  if (in_syn_queue_) LeaveListenerLocked();
  if (error != 0) error_ = error;
  if (state_ == TcpState::kTimeWait) protocol_.LeaveTimeWait();
  SetStateLocked(TcpState::kClosed);
  shutdown_ = kShutdownMask;
  done_ = true;
  rto_at_ = probe_at_ = delack_at_ = persist_at_ = keepalive_at_ = timewait_at_ =
      absl::InfiniteFuture();
  ack_pending_ = false;
  ack_now_ = false;
  send_queue_.Reset(write_seq_);
  if (closed_) {
    receive_queue_.Clear();
    ofo_.Reset(rcv_nxt_);
  }
  fx.self = shared_from_this();  // the table's reference may be the last but ours
  fx.notify = true;
  if (in_table_) {
    protocol_.RemoveConnection(tuple_, this);
    in_table_ = false;
  }
  // Linux tcp_set_state(TCP_CLOSE): the port goes back unless bind() chose it.
  if (binding_ != PortTable::kNoId && (closed_ || !port_locked_)) {
    protocol_.ports().Release(binding_);
    binding_ = PortTable::kNoId;
    if (!port_locked_) tuple_.local_port = 0;
  }
  if (closed_) retired_ = true;
  ForceTimerSyncLocked();
}

void TcpSocket::AbortLocked(int error, Effects& fx) {
  if (NeedsReset(state_)) SendResetLocked();
  DoneLocked(error, fx);
}

// ---------------------------------------------------------------------------------------
// bind, connect, listen, accept

int TcpSocket::Bind(const SocketAddress& local) {
  absl::MutexLock lock(&mu_);
  if (closed_) return -EBADF;
  return BindLocked(local);
}

int TcpSocket::BindLocked(const SocketAddress& local) {
  // inet_bind: the address must be ours (or any) before the state is looked at.
  const Nic& nic = protocol_.ipv4().nic();
  if (!local.address.IsAny() && !nic.IsOurAddress(local.address)) return -EADDRNOTAVAIL;
  if (state_ != TcpState::kClosed || binding_ != PortTable::kNoId) return -EINVAL;
  PortRequest request;
  request.address = local.address;
  request.port = local.port;
  request.reuse_addr = options_.reuse_addr;
  request.reuse_port = options_.reuse_port;
  PortTable::Id id = PortTable::kNoId;
  const int port = protocol_.ports().Bind(request, &id);
  if (port < 0) return port;
  binding_ = id;
  tuple_.local_address = local.address;
  tuple_.local_port = static_cast<uint16_t>(port);
  port_locked_ = local.port != 0;
  return 0;
}

int TcpSocket::Connect(const SocketAddress& remote) {
  mu_.Lock();
  Effects fx;
  const int result = ConnectLocked(remote, fx);
  Finish(fx);
  return result;
}

int TcpSocket::ConnectLocked(const SocketAddress& remote, Effects& fx) {
  if (closed_) return -EBADF;
  switch (sock_state_) {
    case SockState::kConnected:
      return -EISCONN;
    case SockState::kDisconnecting:
      return -EINVAL;  // __inet_stream_connect's default case
    case SockState::kConnecting:
      if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) return -EALREADY;
      if (state_ == TcpState::kClosed) {
        // The attempt failed (RST, timeout, ICMP): report it once (sock_error), and
        // disconnect so the socket can try again.
        const int e = error_ != 0 ? error_ : ECONNABORTED;
        error_ = 0;
        sock_state_ = SockState::kUnconnected;
        DisconnectLocked(fx);
        error_ = 0;
        return -e;
      }
      sock_state_ = SockState::kConnected;
      return 0;
    case SockState::kUnconnected:
      break;
  }
  if (state_ != TcpState::kClosed) return -EISCONN;
  // tcp_v4_connect: a route to a unicast destination.
  const Ipv4Address dst = remote.address;
  const Nic& nic = protocol_.ipv4().nic();
  if (dst.IsAny() || dst.IsMulticast() || nic.IsBroadcast(dst)) return -ENETUNREACH;
  // 127/8 and our own address route through the loopback queue.
  if (const int err = protocol_.ipv4().CheckRoute(tuple_.local_address, dst)) return -err;
  FourTuple tuple;
  tuple.local_address =
      tuple_.local_address.IsAny() ? protocol_.ipv4().SourceAddressFor(dst) : tuple_.local_address;
  tuple.remote_address = dst;
  tuple.remote_port = remote.port;
  if (binding_ == PortTable::kNoId) {
    PortTable::Id id = PortTable::kNoId;
    const int port = protocol_.ports().BindForConnect(
        tuple.local_address,
        [&](uint16_t p) {
          FourTuple t = tuple;
          t.local_port = p;
          return !protocol_.ConnectionExists(t);
        },
        &id);
    if (port < 0) return port;
    binding_ = id;
    tuple.local_port = static_cast<uint16_t>(port);
  } else {
    tuple.local_port = tuple_.local_port;
  }
  if (!protocol_.AddConnection(tuple, shared_from_this())) {
    if (!port_locked_) {
      protocol_.ports().Release(binding_);
      binding_ = PortTable::kNoId;
    }
    return -EADDRNOTAVAIL;
  }
  in_table_ = true;
  tuple_ = tuple;
  protocol_.ports().SetAddress(binding_, tuple.local_address);

  const absl::Time now = protocol_.clock().Now();
  error_ = 0;
  done_ = false;
  shutdown_ = 0;
  InitSendSequenceLocked(protocol_.isn().Isn(tuple_, now));
  ts_offset_ = protocol_.isn().TimestampOffset(tuple_.local_address, tuple_.remote_address);
  rcv_wscale_ = ReceiveWindowScaleLocked();
  SetStateLocked(TcpState::kSynSent);
  sock_state_ = SockState::kConnecting;
  stats_.ActiveOpens.Inc();
  rtt_seq_ = snd_max_;
  rtt_start_ = now;
  SendControlLocked(kTcpSyn, iss_);
  rto_at_ = now + rtt_.rto();
  SyncTimerLocked();
  fx.notify = true;
  return -EINPROGRESS;
}

void TcpSocket::InitSendSequenceLocked(uint32_t iss) {
  iss_ = iss;
  snd_una_ = iss;
  snd_nxt_ = iss + 1;
  snd_max_ = iss + 1;
  write_seq_ = iss + 1;
  snd_sml_ = iss + 1;  // no small segment outstanding (Nagle)
  recover_ = iss;
  send_queue_.Reset(iss + 1);
  scoreboard_.Reset(iss + 1);
}

int TcpSocket::Disconnect() {
  mu_.Lock();
  Effects fx;
  int result = 0;
  if (closed_) {
    result = -EBADF;
  } else {
    // inet_dgram_connect with AF_UNSPEC -> tcp_disconnect.
    DisconnectLocked(fx);
    sock_state_ = SockState::kUnconnected;
  }
  Finish(fx);
  return result;
}

void TcpSocket::DisconnectLocked(Effects& fx) {
  const TcpState old = state_;
  int error = error_;
  if (old == TcpState::kListen) {
    CloseListenerLocked(fx);
  } else if (NeedsReset(old) ||
             (write_seq_ != snd_max_ && (old == TcpState::kClosing || old == TcpState::kLastAck))) {
    SendResetLocked();
    error = ECONNRESET;
  } else if (old == TcpState::kSynSent) {
    error = ECONNRESET;
  }
  if (state_ != TcpState::kClosed) DoneLocked(0, fx);
  error_ = error;
  shutdown_ = 0;
  done_ = false;
  fin_received_ = false;
  fin_queued_ = false;
  reset_seen_ = false;
  receive_queue_.Clear();
  ofo_.Reset(rcv_nxt_);
  ofo_fin_.reset();
  tuple_.remote_address = Ipv4Address::Any();
  tuple_.remote_port = 0;
  syn_retransmits_ = 0;
  retransmits_ = 0;
  in_recovery_ = false;
  in_loss_ = false;
  rtt_ = RttEstimator();
  NewCongestionControl(std::string(cc_->name()), &cc_);
  fx.notify = true;
}

int TcpSocket::Listen(int backlog) {
  mu_.Lock();
  Effects fx;
  int result = 0;
  if (closed_) {
    result = -EBADF;
  } else if ((sock_state_ != SockState::kUnconnected && sock_state_ != SockState::kDisconnecting) ||
             (state_ != TcpState::kClosed && state_ != TcpState::kListen)) {
    result = -EINVAL;
  } else {
    // inet_listen: a negative or huge backlog means somaxconn.
    const int max = config_.somaxconn;
    backlog_ = (backlog < 0 || backlog > max) ? max : backlog;
    if (state_ != TcpState::kListen) {
      if (binding_ == PortTable::kNoId && BindLocked({Ipv4Address::Any(), 0}) != 0) {
        result = -EADDRINUSE;
      } else if ((result = protocol_.ports().SetListening(binding_, true)) == 0) {
        SetStateLocked(TcpState::kListen);
        protocol_.AddListener(tuple_.local_port, shared_from_this());
        fx.notify = true;
      }
    }
  }
  Finish(fx);
  return result;
}

std::shared_ptr<Socket> TcpSocket::Accept(SocketAddress* peer, int* error) {
  std::shared_ptr<TcpSocket> child;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != TcpState::kListen) {
      *error = -EINVAL;
      return nullptr;
    }
    if (accept_queue_.empty()) {
      *error = -EAGAIN;
      return nullptr;
    }
    child = std::move(accept_queue_.front());
    accept_queue_.pop_front();
  }
  {
    absl::MutexLock lock(&child->mu_);
    child->sock_state_ = SockState::kConnected;
    child->parent_.reset();
    if (peer) *peer = {child->tuple_.remote_address, child->tuple_.remote_port};
  }
  *error = 0;
  return child;
}

// ---------------------------------------------------------------------------------------
// send and receive

size_t TcpSocket::SendSpaceLocked() const {
  // Half of SO_SNDBUF holds payload: Linux charges about twice the payload to sk_wmem_queued.
  const size_t limit = static_cast<size_t>(options_.sndbuf) / 2;
  return limit > send_queue_.size() ? limit - send_queue_.size() : 0;
}

bool TcpSocket::WritableLocked() const {
  // sk_stream_is_writeable: free space at least half of what is queued.
  return SendSpaceLocked() >= send_queue_.size() / 2 && SendSpaceLocked() > 0;
}

ssize_t TcpSocket::SendMsg(std::span<const iovec> data, MessageInfo& /*info*/, int flags) {
  mu_.Lock();
  Effects fx;
  const ssize_t result = SendLocked(data, flags, fx);
  Finish(fx);
  return result;
}

ssize_t TcpSocket::SendLocked(std::span<const iovec> data, int flags, Effects& fx) {
  if (closed_) return -EBADF;
  if (flags & MSG_OOB) return -EOPNOTSUPP;  // urgent data is not supported
  if (state_ == TcpState::kListen) return -EPIPE;
  // tcp_sendmsg_locked: wait for the connection (sk_stream_wait_connect), then errors.
  if (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait) {
    if (error_ != 0) {
      const int e = error_;
      error_ = 0;
      return -e;
    }
    if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) return -EAGAIN;
    return -EPIPE;
  }
  if (error_ != 0 || (shutdown_ & kSendShutdown)) {
    // do_error -> sk_stream_error: a pending error wins over EPIPE.
    const int e = error_ != 0 ? error_ : EPIPE;
    error_ = 0;
    return -e;
  }
  const size_t len = IovTotalLength(data);
  if (len == 0) return 0;
  const size_t space = SendSpaceLocked();
  if (space == 0) return -EAGAIN;
  const size_t n = std::min(len, space);
  IovReader reader(data);
  if (!send_queue_.Append(reader, n)) return -ENOBUFS;
  write_seq_ += static_cast<uint32_t>(n);
  more_ = (flags & MSG_MORE) != 0;
  PushLocked();
  more_ = false;
  fx.notify = !WritableLocked();  // edge: the socket stopped being writable
  return static_cast<ssize_t>(n);
}

ssize_t TcpSocket::RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) {
  mu_.Lock();
  Effects fx;
  ssize_t result;
  if (closed_) {
    result = -EBADF;
  } else if (state_ == TcpState::kListen) {
    result = -ENOTCONN;
  } else if (flags & MSG_OOB) {
    result = -EINVAL;  // tcp_recv_urg: no urgent data here
  } else if (!receive_queue_.empty()) {
    IovWriter writer(data);
    const bool peek = (flags & MSG_PEEK) != 0;
    const size_t copied = receive_queue_.Read(writer, peek);
    if (!peek && copied > 0) {
      AdjustReceiveBufferLocked(copied);
      MaybeWindowUpdateLocked();
      // The application has what it needs to reply: a held ACK waits no longer than its
      // next poll (TcpProtocol's held ACKs).
      if (ack_held_) held_ack_read_.store(true, std::memory_order_relaxed);
    }
    if (flags & MSG_TRUNC) {
      // TCP's MSG_TRUNC discards what it would have copied (Linux tcp_recvmsg): not kept.
    }
    result = static_cast<ssize_t>(copied);
  } else if (fin_received_) {
    result = 0;  // SOCK_DONE: end of stream
  } else if (error_ != 0) {
    result = -error_;
    error_ = 0;
  } else if (shutdown_ & kRcvShutdown) {
    result = 0;
  } else if (state_ == TcpState::kClosed) {
    result = -ENOTCONN;  // never connected
  } else {
    result = -EAGAIN;
  }
  info.peer.reset();
  info.flags = 0;
  Finish(fx);
  return result;
}

int TcpSocket::Shutdown(int how) {
  // inet_shutdown maps SHUT_RD/WR/RDWR to 1/2/3.
  if (how < SHUT_RD || how > SHUT_RDWR) return -EINVAL;
  const int mask = how + 1;
  mu_.Lock();
  Effects fx;
  int result = 0;
  if (closed_) {
    result = -EBADF;
  } else {
    if (sock_state_ == SockState::kConnecting) {
      sock_state_ = (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived ||
                     state_ == TcpState::kClosed)
                        ? SockState::kDisconnecting
                        : SockState::kConnected;
    }
    switch (state_) {
      case TcpState::kClosed:
        result = -ENOTCONN;
        shutdown_ |= mask;  // "hack to wake up other listeners" (POLLHUP)
        break;
      case TcpState::kListen:
        if (mask & kRcvShutdown) CloseListenerLocked(fx);
        break;
      case TcpState::kSynSent:
        // tcp_disconnect: the attempt is abandoned (sk_err ECONNRESET).
        DisconnectLocked(fx);
        sock_state_ = SockState::kUnconnected;
        break;
      default:
        shutdown_ |= mask;
        if ((mask & kSendShutdown) && !fin_queued_) {
          // tcp_shutdown -> tcp_close_state + tcp_send_fin.
          if (state_ == TcpState::kEstablished || state_ == TcpState::kSynReceived) {
            SetStateLocked(TcpState::kFinWait1);
            QueueFinLocked();
          } else if (state_ == TcpState::kCloseWait) {
            SetStateLocked(TcpState::kLastAck);
            QueueFinLocked();
          }
        }
        break;
    }
    fx.notify = true;
  }
  Finish(fx);
  return result;
}

void TcpSocket::QueueFinLocked() {
  fin_queued_ = true;
  PushLocked();
}

void TcpSocket::Close() {
  mu_.Lock();
  Effects fx;
  if (!closed_) CloseLocked(fx);
  Finish(fx);
}

void TcpSocket::CloseLocked(Effects& fx) {
  closed_ = true;
  if (state_ == TcpState::kListen) {
    CloseListenerLocked(fx);
    return;
  }
  shutdown_ = kShutdownMask;
  const size_t unread = receive_queue_.size();
  receive_queue_.Clear();
  if (state_ == TcpState::kClosed) {
    DoneLocked(0, fx);
    return;
  }
  if (unread > 0) {
    // tcp_close: "as specified in RFC 2525 2.17, send RST when data was unread".
    stats_.TCPAbortOnClose.Inc();
    AbortLocked(0, fx);
    return;
  }
  if (options_.linger && options_.linger_seconds == 0) {
    stats_.TCPAbortOnLinger.Inc();
    AbortLocked(0, fx);
    return;
  }
  switch (state_) {
    case TcpState::kSynSent:
      DoneLocked(0, fx);
      return;
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      SetStateLocked(TcpState::kFinWait1);
      QueueFinLocked();
      break;
    case TcpState::kCloseWait:
      SetStateLocked(TcpState::kLastAck);
      QueueFinLocked();
      break;
    case TcpState::kFinWait2:
      // An orphan waits for the peer's FIN at most tcp_fin_timeout.
      timewait_at_ = protocol_.clock().Now() + config_.fin_timeout;
      SyncTimerLocked();
      break;
    default:
      break;
  }
  fx.notify = true;
}

// ---------------------------------------------------------------------------------------
// names, readiness, counters

int TcpSocket::GetSockName(SocketAddress* out) const {
  absl::MutexLock lock(&mu_);
  *out = {tuple_.local_address, tuple_.local_port};
  return 0;
}

int TcpSocket::GetPeerName(SocketAddress* out) const {
  absl::MutexLock lock(&mu_);
  // inet_getname: no peer before the handshake or after the connection is gone.
  if (tuple_.remote_port == 0 || state_ == TcpState::kClosed || state_ == TcpState::kSynSent ||
      state_ == TcpState::kListen) {
    return -ENOTCONN;
  }
  *out = {tuple_.remote_address, tuple_.remote_port};
  return 0;
}

uint32_t TcpSocket::Poll() const {
  absl::MutexLock lock(&mu_);
  return PollLocked();
}

uint32_t TcpSocket::PollLocked() const {
  // Linux tcp_poll.
  if (state_ == TcpState::kListen) return accept_queue_.empty() ? 0 : (POLLIN | POLLRDNORM);
  uint32_t mask = 0;
  if (shutdown_ == kShutdownMask || state_ == TcpState::kClosed) mask |= POLLHUP;
  if (shutdown_ & kRcvShutdown) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
  if (state_ != TcpState::kSynSent && state_ != TcpState::kSynReceived) {
    const size_t target = static_cast<size_t>(std::max(options_.rcvlowat, 1));
    if (receive_queue_.size() >= target || (fin_received_ && !receive_queue_.empty())) {
      mask |= POLLIN | POLLRDNORM;
    }
    if (!(shutdown_ & kSendShutdown)) {
      if (WritableLocked()) mask |= POLLOUT | POLLWRNORM;
    } else {
      mask |= POLLOUT | POLLWRNORM;
    }
  }
  if (error_ != 0) mask |= POLLERR;
  return mask;
}

int TcpSocket::BytesReadable() const {
  absl::MutexLock lock(&mu_);
  if (state_ == TcpState::kListen) return -EINVAL;
  return static_cast<int>(std::min<size_t>(receive_queue_.size(), INT32_MAX));
}

int TcpSocket::BytesUnsent() const {
  absl::MutexLock lock(&mu_);
  if (state_ == TcpState::kListen) return -EINVAL;
  // SIOCOUTQ: write_seq - snd_una (data not yet acknowledged).
  if (state_ == TcpState::kSynSent || state_ == TcpState::kClosed) return 0;
  return static_cast<int>(SeqDiff(write_seq_, snd_una_) > 0 ? SeqDiff(write_seq_, snd_una_) : 0);
}

std::optional<absl::Duration> TcpSocket::ReceiveTimeout() const {
  absl::MutexLock lock(&mu_);
  return options_.rcvtimeo;
}

std::optional<absl::Duration> TcpSocket::SendTimeout() const {
  absl::MutexLock lock(&mu_);
  return options_.sndtimeo;
}

std::optional<absl::Duration> TcpSocket::LingerTimeout() const {
  absl::MutexLock lock(&mu_);
  if (!options_.linger || options_.linger_seconds == 0) return std::nullopt;
  if (options_.linger_seconds < 0) return absl::InfiniteDuration();
  return absl::Seconds(options_.linger_seconds);
}

bool TcpSocket::SendDrained() const {
  absl::MutexLock lock(&mu_);
  switch (state_) {
    case TcpState::kFinWait1:
    case TcpState::kClosing:
    case TcpState::kLastAck:
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      return false;
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      return snd_una_ == write_seq_;
    default:
      return true;
  }
}

TcpState TcpSocket::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

std::string TcpSocket::DebugString() const {
  absl::MutexLock lock(&mu_);
  const uint32_t base = iss_;
  return fmt::format(
      "{} una={} nxt={} max={} write={} fin_q={} wnd={} cwnd={} ssthresh={} rto={} "
      "backoff={} rtx={} recov={} loss={} dupacks={} sacked={} | rcv_nxt={} adv={} ofo={}B/{} "
      "rq={} fin_rcvd={} | rto_at={} persist_at={} delack_at={} sched={} queued={}",
      TcpStateName(state_), snd_una_ - base, snd_nxt_ - base, snd_max_ - base, write_seq_ - base,
      fin_queued_, snd_wnd_, cc_->cwnd(), cc_->ssthresh(), absl::FormatDuration(rtt_.rto()),
      rtt_.backoff_count(), retransmits_, in_recovery_, in_loss_, dupacks_,
      scoreboard_.sacked_bytes(), rcv_nxt_ - irs_, rcv_adv_ - irs_, ofo_.bytes(), ofo_.segments(),
      receive_queue_.size(), fin_received_, absl::FormatTime(rto_at_),
      absl::FormatTime(persist_at_), absl::FormatTime(delack_at_), absl::FormatTime(scheduled_at_),
      timer_queued_);
}

std::string TcpSocket::CheckInvariants() const {
  absl::MutexLock lock(&mu_);
  std::string problems;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      problems += what;
      problems += "; ";
    }
  };
  if (state_ != TcpState::kClosed && state_ != TcpState::kListen) {
    check(SeqLeq(snd_una_, snd_nxt_), "snd_una > snd_nxt");
    check(SeqLeq(snd_nxt_, snd_max_), "snd_nxt > snd_max");
    check(SeqLeq(snd_max_, write_seq_ + (fin_queued_ ? 1 : 0)), "snd_max beyond written data");
    check(SeqGeq(snd_una_ + (snd_una_ == iss_ ? 1 : 0), send_queue_.start_seq()) ||
              send_queue_.empty(),
          "send queue starts after snd_una");
    check(send_queue_.end_seq() == write_seq_, "send queue does not end at write_seq");
    check(ofo_.rcv_nxt() == rcv_nxt_ || !IsSynchronized(state_), "reassembly rcv_nxt differs");
  }
  return problems;
}

}  // namespace netshim
