#include "stack/transport/tcp/tcp_protocol.h"

#include <netinet/in.h>

#include <utility>

#include "absl/container/inlined_vector.h"

#include "stack/net/nic.h"
#include "stack/runtime/log.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"

namespace netshim {
namespace {
constexpr uint8_t kProtocolTcp = static_cast<uint8_t>(IpProtocol::kTcp);
thread_local bool t_holding_acks = false;
}  // namespace

TcpProtocol::TcpProtocol(Ipv4Layer& ipv4, BufferPool& pool, const Clock& clock, TimerWheel& timers,
                         TcpStats& stats, TcpConfig config, PortTable::Range ephemeral)
    : ipv4_(ipv4),
      pool_(pool),
      clock_(clock),
      timers_(timers),
      stats_(stats),
      config_(std::move(config)),
      ports_(PortTable::Protocol::kTcp, ephemeral),
      isn_(config_.secret ? SipKey::FromBytes(*config_.secret) : SipKey::Random()) {}

TcpProtocol::~TcpProtocol() {
  // Timers first: the wheel outlives us only briefly, and a pending timer must not fire
  // into a socket whose protocol is gone.
  for (auto& [socket, hold] : armed_) timers_.Cancel(&socket->timer_);
  armed_.clear();
  std::vector<HeldAck> held;
  {
    absl::MutexLock lock(&held_mu_);
    held.swap(held_acks_);
  }
  absl::flat_hash_map<FourTuple, std::shared_ptr<TcpSocket>> connections;
  absl::flat_hash_map<uint16_t, std::vector<std::shared_ptr<TcpSocket>>> listeners;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
    listeners.swap(listeners_);
  }
  // Listeners hold their accept queues; break those references before letting go.
  for (auto& [port, list] : listeners) {
    for (auto& l : list) {
      absl::MutexLock lock(&l->mu_);
      l->accept_queue_.clear();
    }
  }
}

std::shared_ptr<TcpSocket> TcpProtocol::CreateSocket() {
  return std::make_shared<TcpSocket>(*this, NextSocketId());
}

uint64_t TcpProtocol::NextSocketId() {
  absl::MutexLock lock(&mu_);
  return next_socket_id_++;
}

void TcpProtocol::Receive(InboundDatagram d) {
  stats_.InSegs.Inc();
  // Linux tcp_v4_rcv: only segments addressed to this host by unicast are TCP's.
  const Nic& nic = ipv4_.nic();
  if (d.link_broadcast || d.ip.dst.IsMulticast() || nic.IsBroadcast(d.ip.dst) ||
      d.ip.src.IsMulticast() || nic.IsBroadcast(d.ip.src) || d.ip.src.IsAny()) {
    stats_.InErrs.Inc();
    return;
  }
  TcpSegment seg;
  const std::span<const uint8_t> bytes = d.payload.span();
  if (TcpHeader::Parse(bytes, &seg.header) != TcpParseError::kOk) {
    stats_.InErrs.Inc();
    return;
  }
  // A checksum the link vouched for (the local kernel's partial or checked one) is not
  // summed again: with receive offloads that is a 64 KiB pass saved per segment.
  if (!d.payload.checksum_trusted() && !TcpChecksumValid(d.ip.src, d.ip.dst, bytes)) {
    stats_.InCsumErrors.Inc();
    stats_.InErrs.Inc();
    return;
  }
  seg.options = TcpOptions::Parse(seg.header.Options(bytes), seg.header.syn());
  seg.payload = d.payload.Slice(seg.header.header_length, bytes.size() - seg.header.header_length);
  seg.tuple = {d.ip.dst, seg.header.dst_port, d.ip.src, seg.header.src_port};
  seg.tos = d.ip.tos;

  std::shared_ptr<TcpSocket> socket;
  {
    absl::MutexLock lock(&mu_);
    auto it = connections_.find(seg.tuple);
    if (it != connections_.end()) socket = it->second;
  }
  if (socket && socket->OnSegment(seg) == TcpSocket::SegmentVerdict::kDone) return;
  // No connection (or a TIME-WAIT one gave way to a new SYN, RFC 6191).
  if (std::shared_ptr<TcpSocket> listener = FindListener(seg.tuple)) {
    listener->OnSegment(seg);
    return;
  }
  SendResetFor(seg);
}

std::shared_ptr<TcpSocket> TcpProtocol::FindListener(const FourTuple& tuple) const {
  absl::MutexLock lock(&mu_);
  auto it = listeners_.find(tuple.local_port);
  if (it == listeners_.end()) return nullptr;
  // An exact local address beats the wildcard (Linux compute_score); among equals,
  // SO_REUSEPORT groups spread connections by a hash of the 4-tuple.
  std::vector<const std::shared_ptr<TcpSocket>*> exact, wildcard;
  for (const auto& l : it->second) {
    const Ipv4Address bound = l->tuple_.local_address;  // immutable while listening
    if (bound == tuple.local_address) {
      exact.push_back(&l);
    } else if (bound.IsAny()) {
      wildcard.push_back(&l);
    }
  }
  const auto& pool = exact.empty() ? wildcard : exact;
  if (pool.empty()) return nullptr;
  const size_t pick = absl::HashOf(tuple) % pool.size();
  return *pool[pick];
}

void TcpProtocol::SendResetFor(const TcpSegment& seg) {
  if (seg.header.rst()) return;  // RFC 9293 3.10.7.1: never answer a reset
  if (seg.header.has_ack()) {
    SendReset(seg.tuple, seg.ack(), 0, false, seg.tos);
  } else {
    SendReset(seg.tuple, 0, seg.end_seq(), true, seg.tos);
  }
}

void TcpProtocol::SendReset(const FourTuple& tuple, uint32_t seq, uint32_t ack, bool ack_flag,
                            uint8_t tos) {
  PacketBuffer head = pool_.Allocate(Nic::kHeadroom);
  if (!head) return;
  TcpHeader h;
  h.src_port = tuple.local_port;
  h.dst_port = tuple.remote_port;
  h.seq = seq;
  h.ack = ack_flag ? ack : 0;
  h.flags = kTcpRst | (ack_flag ? kTcpAck : 0);
  h.header_length = kTcpMinHeaderSize;
  uint8_t* at = head.Append(kTcpMinHeaderSize);
  h.Write({at, kTcpMinHeaderSize});
  const uint16_t sum =
      TcpChecksum(tuple.local_address, tuple.remote_address, {at, kTcpMinHeaderSize}, {});
  Store16(at + 16, sum);
  stats_.OutRsts.Inc();
  stats_.OutSegs.Inc();
  Ipv4SendOptions options;
  options.tos = tos;
  ipv4_.Send(tuple.local_address, tuple.remote_address, kProtocolTcp, TxFrame(std::move(head)),
             options);
}

void TcpProtocol::ReceiveIcmpError(const IcmpError& error) {
  if (error.original_payload.size() < 8) return;
  const auto& p = error.original_payload;
  const FourTuple tuple{error.original.src, Load16(p.data()), error.original.dst,
                        Load16(p.data() + 2)};
  std::shared_ptr<TcpSocket> socket;
  {
    absl::MutexLock lock(&mu_);
    auto it = connections_.find(tuple);
    if (it != connections_.end()) socket = it->second;
  }
  if (!socket) return;
  socket->OnIcmpError(static_cast<int>(error.type), error.code, error.next_hop_mtu,
                      Load32(p.data() + 4));
}

bool TcpProtocol::AddConnection(const FourTuple& tuple, std::shared_ptr<TcpSocket> socket) {
  absl::MutexLock lock(&mu_);
  return connections_.emplace(tuple, std::move(socket)).second;
}

void TcpProtocol::RemoveConnection(const FourTuple& tuple, const TcpSocket* socket) {
  std::shared_ptr<TcpSocket> last;  // released after the lock
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(tuple);
  if (it != connections_.end() && it->second.get() == socket) {
    last = std::move(it->second);
    connections_.erase(it);
  }
}

bool TcpProtocol::ConnectionExists(const FourTuple& tuple) const {
  absl::MutexLock lock(&mu_);
  return connections_.contains(tuple);
}

void TcpProtocol::AddListener(uint16_t port, std::shared_ptr<TcpSocket> socket) {
  absl::MutexLock lock(&mu_);
  listeners_[port].push_back(std::move(socket));
}

void TcpProtocol::RemoveListener(uint16_t port, const TcpSocket* socket) {
  std::shared_ptr<TcpSocket> last;
  {
    absl::MutexLock lock(&mu_);
    auto it = listeners_.find(port);
    if (it == listeners_.end()) return;
    auto& list = it->second;
    for (auto l = list.begin(); l != list.end(); ++l) {
      if (l->get() == socket) {
        last = std::move(*l);
        list.erase(l);
        break;
      }
    }
    if (list.empty()) listeners_.erase(it);
  }
}

bool TcpProtocol::EnterTimeWait() {
  absl::MutexLock lock(&mu_);
  if (time_wait_ >= config_.max_time_wait) return false;
  ++time_wait_;
  return true;
}

void TcpProtocol::LeaveTimeWait() {
  absl::MutexLock lock(&mu_);
  if (time_wait_ > 0) --time_wait_;
}

size_t TcpProtocol::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_.size();
}

size_t TcpProtocol::time_wait_count() const {
  absl::MutexLock lock(&mu_);
  return time_wait_;
}

void TcpProtocol::SetWakeCallback(std::function<void(absl::Time)> wake) {
  absl::MutexLock lock(&timer_mu_);
  wake_ = std::move(wake);
}

void TcpProtocol::RequestTimerSync(std::shared_ptr<TcpSocket> socket, absl::Time deadline) {
  absl::MutexLock lock(&timer_mu_);
  timer_requests_.push_back(std::move(socket));
  if (wake_) wake_(deadline);
}

void TcpProtocol::RequestWake(absl::Time deadline) {
  absl::MutexLock lock(&timer_mu_);
  if (wake_) wake_(deadline);
}

void TcpProtocol::SyncTimers() {
  std::vector<std::shared_ptr<TcpSocket>> requests;
  {
    absl::MutexLock lock(&timer_mu_);
    requests.swap(timer_requests_);
  }
  for (const auto& socket : requests) SyncOne(socket);
}

void TcpProtocol::SyncOne(const std::shared_ptr<TcpSocket>& socket) {
  std::optional<absl::Time> deadline;
  {
    absl::MutexLock lock(&socket->mu_);
    socket->timer_queued_ = false;
    deadline = socket->NextDeadlineLocked();
    socket->scheduled_at_ = deadline.value_or(absl::InfiniteFuture());
  }
  if (deadline) {
    timers_.Schedule(&socket->timer_, *deadline);
    armed_.try_emplace(socket.get(), socket);
  } else {
    timers_.Cancel(&socket->timer_);
    armed_.erase(socket.get());  // may destroy the socket: the caller still holds it
  }
}

void TcpProtocol::OnSocketTimer(TcpSocket* raw) {
  auto it = armed_.find(raw);
  if (it == armed_.end()) return;
  std::shared_ptr<TcpSocket> socket = it->second;
  socket->OnTimer(clock_.Now());
  SyncOne(socket);
  // `socket` may be the last reference: destroying it (and its timer) is our last act.
}

TcpProtocol::HoldAcksScope::HoldAcksScope() : outer_(t_holding_acks) { t_holding_acks = true; }

TcpProtocol::HoldAcksScope::~HoldAcksScope() { t_holding_acks = outer_; }

bool TcpProtocol::HoldingAcks() { return t_holding_acks; }

void TcpProtocol::HoldAck(std::shared_ptr<TcpSocket> socket) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&held_mu_);
  held_acks_.push_back(HeldAck{std::move(socket), now});
  acks_held_.store(true, std::memory_order_release);
}

void TcpProtocol::ReleaseHeldAcks(bool all) {
  if (!acks_held_.load(std::memory_order_acquire)) return;
  const absl::Time due_since = all ? absl::InfiniteFuture() : clock_.Now() - config_.ack_hold_time;
  // Moved out (the list keeps its capacity: no allocation per turn), sent without
  // held_mu_: a socket's lock comes first.
  absl::InlinedVector<std::shared_ptr<TcpSocket>, 16> due;
  {
    absl::MutexLock lock(&held_mu_);
    size_t kept = 0;
    for (size_t i = 0; i < held_acks_.size(); ++i) {
      HeldAck& held = held_acks_[i];
      // Due once the application read what it acknowledges and polled again without a
      // reply, or after the hold time (the data still unread, say a connection not yet
      // accepted).
      if (held.since <= due_since || held.socket->held_ack_read_.load(std::memory_order_relaxed)) {
        due.push_back(std::move(held.socket));
      } else {
        if (kept != i) held_acks_[kept] = std::move(held);
        ++kept;
      }
    }
    held_acks_.erase(held_acks_.begin() + static_cast<ptrdiff_t>(kept), held_acks_.end());
    acks_held_.store(!held_acks_.empty(), std::memory_order_relaxed);
  }
  for (const auto& socket : due) {
    absl::MutexLock lock(&socket->mu_);
    socket->ack_held_ = false;
    socket->held_ack_read_.store(false, std::memory_order_relaxed);
    // Nothing owed any more when a segment carried the ACK meanwhile (tcp_event_ack_sent).
    if (socket->ack_pending_ && socket->ack_now_) socket->SendAckLocked();
  }
}

}  // namespace netshim
