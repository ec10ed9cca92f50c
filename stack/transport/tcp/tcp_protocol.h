// TCP for the stack: receives segments from IPv4, checks them, finds the connection or
// listener they are for (exact 4-tuple first, then a listener on the exact local address,
// then one on the wildcard address: the order of netstack's transport demuxer and Linux's
// __inet_lookup), answers segments nobody wants with RST (RFC 9293 3.10.7.1), passes ICMP
// errors to connections, creates sockets and runs their timers.
//
// Timers. Each socket has one timer on the stack's wheel, at its earliest deadline. The
// wheel belongs to the dispatch thread, so sockets (on any thread) only ask for their
// timer to be synced; the dispatch thread does it in RunTimers()/NextDeadline(), and
// application threads wake it when the new deadline is earlier than its plan.
//
// Held ACKs. A thread that polls the link between its own application's calls (a lease
// holder: Dispatcher::CallerPoll) hands what the frames brought to that application,
// whose reply (a response, a FIN) follows within microseconds and can carry the ACK the
// frames are owed: one segment fewer per exchange. While such a poll runs (HoldAcksScope),
// a connection owing an ACK a reply may carry (in-order data, the handshake's) queues
// itself here instead of sending it; ReleaseHeldAcks() sends what no reply took. The
// dispatcher releases those held for longer than ack_hold_time when the holder polls
// again (not all: an event loop accepting one connection per wait, as nginx does, answers
// a burst's requests several waits after their frames came), all of them before any
// thread sleeps and when the holder's lease ends (Dispatcher::CallerPoll), so an ACK waits
// at most about a lease period. Linux holds ACKs the same
// way while the application owns the socket (tcp_ack_snd_check under sock_owned_by_user,
// sent from tcp_release_cb unless a transmit took them: "tcp: defer regular ACK while
// processing socket backlog").
//
// Locks: mu_ (tables), timer_mu_ (sync requests) and held_mu_ come after any socket's lock. A
// connect() looking for a free 4-tuple takes mu_ under the port table's lock, so mu_ is
// never held while calling into the port table.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/net/ipv4_layer.h"
#include "stack/net/transport_protocol.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/stats.h"
#include "stack/runtime/timer_wheel.h"
#include "stack/transport/port_table.h"
#include "stack/transport/tcp/four_tuple.h"
#include "stack/transport/tcp/isn.h"
#include "stack/transport/tcp/syn_cookie.h"
#include "stack/transport/tcp/tcp_config.h"
#include "stack/transport/tcp/tcp_segment.h"

namespace netshim {

class TcpSocket;

class TcpProtocol final : public TransportProtocol {
 public:
  TcpProtocol(Ipv4Layer& ipv4, BufferPool& pool, const Clock& clock, TimerWheel& timers,
              TcpStats& stats, TcpConfig config = {}, PortTable::Range ephemeral = {});
  ~TcpProtocol() override;
  TcpProtocol(const TcpProtocol&) = delete;
  TcpProtocol& operator=(const TcpProtocol&) = delete;

  std::shared_ptr<TcpSocket> CreateSocket();

  // TransportProtocol (dispatch thread).
  void Receive(InboundDatagram datagram) override;
  void ReceiveIcmpError(const IcmpError& error) override;

  // Dispatch thread: applies timer requests; Stack calls both before reading deadlines.
  void SyncTimers() ABSL_LOCKS_EXCLUDED(timer_mu_);
  // How to wake the dispatch thread when a socket's deadline moved earlier (set by Stack
  // when the dispatcher starts; without it the next RunTimers call picks requests up).
  void SetWakeCallback(std::function<void(absl::Time)> wake) ABSL_LOCKS_EXCLUDED(timer_mu_);

  // While one is alive on a thread, connections hold the ACKs a reply may carry (above).
  class HoldAcksScope {
   public:
    HoldAcksScope();
    ~HoldAcksScope();
    HoldAcksScope(const HoldAcksScope&) = delete;
    HoldAcksScope& operator=(const HoldAcksScope&) = delete;

   private:
    bool outer_;
  };
  // Sends the held ACKs no segment has carried since: all of them, or (`all` false, at a
  // holder's poll) those held for ack_hold_time. Any thread, any time; cheap when none are
  // held.
  void ReleaseHeldAcks(bool all) ABSL_LOCKS_EXCLUDED(held_mu_);

  PortTable& ports() { return ports_; }
  const TcpConfig& config() const { return config_; }
  TcpStats& stats() { return stats_; }
  size_t connections() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t time_wait_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class TcpSocket;

  // --- for TcpSocket ---
  Ipv4Layer& ipv4() { return ipv4_; }
  BufferPool& pool() { return pool_; }
  const Clock& clock() const { return clock_; }
  const IsnGenerator& isn() const { return isn_; }
  const SynCookies& cookies() const { return cookies_; }
  uint64_t NextSocketId() ABSL_LOCKS_EXCLUDED(mu_);
  // Enters a connection in the 4-tuple table; false if the tuple is taken.
  bool AddConnection(const FourTuple& tuple, std::shared_ptr<TcpSocket> socket)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveConnection(const FourTuple& tuple, const TcpSocket* socket) ABSL_LOCKS_EXCLUDED(mu_);
  bool ConnectionExists(const FourTuple& tuple) const ABSL_LOCKS_EXCLUDED(mu_);
  void AddListener(uint16_t port, std::shared_ptr<TcpSocket> socket) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveListener(uint16_t port, const TcpSocket* socket) ABSL_LOCKS_EXCLUDED(mu_);
  // TIME-WAIT accounting (net.ipv4.tcp_max_tw_buckets): false when full.
  bool EnterTimeWait() ABSL_LOCKS_EXCLUDED(mu_);
  void LeaveTimeWait() ABSL_LOCKS_EXCLUDED(mu_);
  // Called with the socket's lock held: the dispatch thread will re-read its deadline.
  void RequestTimerSync(std::shared_ptr<TcpSocket> socket, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(timer_mu_);
  // Whether this thread runs inside a HoldAcksScope.
  static bool HoldingAcks();
  // Called with the socket's lock held, once until released: `socket` owes an ACK that a
  // reply may carry.
  void HoldAck(std::shared_ptr<TcpSocket> socket) ABSL_LOCKS_EXCLUDED(held_mu_);
  // Wakes the dispatch thread if `deadline` is earlier than it planned.
  void RequestWake(absl::Time deadline) ABSL_LOCKS_EXCLUDED(timer_mu_);
  // RFC 9293 3.10.7.1 reply to a segment no connection takes (never to a RST).
  void SendResetFor(const TcpSegment& seg);
  // Sends a RST (with ACK when `ack_flag`) on `tuple`.
  void SendReset(const FourTuple& tuple, uint32_t seq, uint32_t ack, bool ack_flag, uint8_t tos);

  std::shared_ptr<TcpSocket> FindListener(const FourTuple& tuple) const ABSL_LOCKS_EXCLUDED(mu_);
  void SyncOne(const std::shared_ptr<TcpSocket>& socket);  // dispatch thread
  void OnSocketTimer(TcpSocket* socket);                   // dispatch thread

  Ipv4Layer& ipv4_;
  BufferPool& pool_;
  const Clock& clock_;
  TimerWheel& timers_;
  TcpStats& stats_;
  const TcpConfig config_;
  PortTable ports_;
  const IsnGenerator isn_;
  const SynCookies cookies_;

  mutable absl::Mutex mu_;
  uint64_t next_socket_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<FourTuple, std::shared_ptr<TcpSocket>> connections_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint16_t, std::vector<std::shared_ptr<TcpSocket>>> listeners_
      ABSL_GUARDED_BY(mu_);
  size_t time_wait_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex timer_mu_;
  std::vector<std::shared_ptr<TcpSocket>> timer_requests_ ABSL_GUARDED_BY(timer_mu_);
  std::function<void(absl::Time)> wake_ ABSL_GUARDED_BY(timer_mu_);
  absl::Mutex held_mu_;
  struct HeldAck {
    std::shared_ptr<TcpSocket> socket;
    absl::Time since;
  };
  std::vector<HeldAck> held_acks_ ABSL_GUARDED_BY(held_mu_);  // oldest first
  std::atomic<bool> acks_held_{false};  // held_acks_ is not empty (read without held_mu_)

  // Dispatch thread only: sockets whose timer is on the wheel, kept alive by it.
  absl::flat_hash_map<TcpSocket*, std::shared_ptr<TcpSocket>> armed_;
};

}  // namespace netshim
