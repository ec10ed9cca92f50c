// A TCP socket: the connection's state machine (RFC 9293) and its transmission control
// block, with Linux's behaviour wherever a program or a peer can observe it.
//
// One class, several files, one job each:
//   tcp_socket.cc          the socket API: bind, connect, listen, accept, send, receive,
//                          shutdown, close, readiness
//   tcp_socket_options.cc  setsockopt/getsockopt, TCP_INFO
//   tcp_input.cc           segment arrival in every state (RFC 9293 3.10.7)
//   tcp_ack.cc             what an acceptable ACK does: snd_una, RTT, congestion control,
//                          duplicate ACKs, SACK loss recovery (RFC 5681, 6582, 6675)
//   tcp_output.cc          building and sending segments, the send loop (Nagle, cork,
//                          windows), the receive window we advertise, resets
//   tcp_timers.cc          retransmission, delayed ACK, persist, keepalive, TIME-WAIT
//   tcp_listen.cc          the listening side: SYN queue, SYN cookies, accept queue
//
// Threads and locks. mu_ guards everything below. Application threads call the Socket API;
// the dispatch thread calls OnSegment/OnTimer/OnIcmpError. Segments are sent with mu_
// held (so they leave in sequence order); readiness listeners are called after mu_ is
// released. Lock order: a child's mu_, then its listener's mu_, then TcpProtocol's locks,
// then the port table's.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stack/runtime/timer_wheel.h"
#include "stack/socket/socket.h"
#include "stack/transport/port_table.h"
#include "stack/transport/tcp/congestion/congestion_control.h"
#include "stack/transport/tcp/four_tuple.h"
#include "stack/transport/tcp/reassembly_queue.h"
#include "stack/transport/tcp/receive_queue.h"
#include "stack/transport/tcp/rtt_estimator.h"
#include "stack/transport/tcp/sack_scoreboard.h"
#include "stack/transport/tcp/send_queue.h"
#include "stack/transport/tcp/syn_cookie.h"
#include "stack/transport/tcp/tcp_segment.h"
#include "stack/transport/tcp/tcp_state.h"

struct tcp_info;

namespace netshim {

class TcpProtocol;
struct TcpConfig;
struct TcpStats;

class TcpSocket final : public Socket, public std::enable_shared_from_this<TcpSocket> {
 public:
  // Made by TcpProtocol::CreateSocket() (and by a listener for each connection).
  TcpSocket(TcpProtocol& protocol, uint64_t id);
  ~TcpSocket() override;
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

  int type() const override { return SOCK_STREAM; }
  int protocol() const override { return IPPROTO_TCP; }

  int Bind(const SocketAddress& local) override ABSL_LOCKS_EXCLUDED(mu_);
  int Connect(const SocketAddress& remote) override ABSL_LOCKS_EXCLUDED(mu_);
  int Disconnect() override ABSL_LOCKS_EXCLUDED(mu_);
  int Listen(int backlog) override ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<Socket> Accept(SocketAddress* peer, int* error) override ABSL_LOCKS_EXCLUDED(mu_);
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo& info, int flags) override
      ABSL_LOCKS_EXCLUDED(mu_);
  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) override
      ABSL_LOCKS_EXCLUDED(mu_);
  int Shutdown(int how) override ABSL_LOCKS_EXCLUDED(mu_);
  void Close() override ABSL_LOCKS_EXCLUDED(mu_);
  int GetSockName(SocketAddress* out) const override ABSL_LOCKS_EXCLUDED(mu_);
  int GetPeerName(SocketAddress* out) const override ABSL_LOCKS_EXCLUDED(mu_);
  int SetSockOpt(int level, int name, std::span<const uint8_t> value) override
      ABSL_LOCKS_EXCLUDED(mu_);
  int GetSockOpt(int level, int name, void* value, socklen_t* len) override
      ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t Poll() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Duration> ReceiveTimeout() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Duration> SendTimeout() const override ABSL_LOCKS_EXCLUDED(mu_);
  int BytesReadable() const override ABSL_LOCKS_EXCLUDED(mu_);
  int BytesUnsent() const override ABSL_LOCKS_EXCLUDED(mu_);

  std::optional<absl::Duration> LingerTimeout() const override ABSL_LOCKS_EXCLUDED(mu_);
  bool SendDrained() const override ABSL_LOCKS_EXCLUDED(mu_);

  TcpState state() const ABSL_LOCKS_EXCLUDED(mu_);
  // For tests and invariants (fuzzing): snd_una <= snd_nxt <= snd_max, and so on. Empty
  // when they hold, else what does not.
  std::string CheckInvariants() const ABSL_LOCKS_EXCLUDED(mu_);
  // The connection's variables on one line, for test failures and debug logs.
  std::string DebugString() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class TcpProtocol;

  // What the segment handlers tell their caller to do after the lock is released.
  struct Effects {
    bool notify = false;                                     // our readiness may have changed
    std::shared_ptr<TcpSocket> notify_other;                 // a listener whose accept queue grew
    std::shared_ptr<TcpSocket> self;                         // keeps us alive until the effects ran
    std::vector<std::shared_ptr<TcpSocket>> abort_children;  // a closed listener's queue
  };
  enum class SegmentVerdict { kDone, kToListener };

  // Socket options as Linux keeps them.
  struct Options {
    bool reuse_addr = false;
    bool reuse_port = false;
    bool keepalive = false;
    bool nodelay = false;
    bool cork = false;
    bool linger = false;
    int64_t linger_seconds = 0;  // kept when lingering is turned off, as Linux does
    bool broadcast = false;      // SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE: kept, no effect
    bool dontroute = false;
    bool oobinline = false;
    int rcvbuf = 0;  // 0 until known: the config's default (doubled values as Linux)
    int sndbuf = 0;
    bool rcvbuf_locked = false;  // SOCK_RCVBUF_LOCK: set by the user, no autotuning
    bool sndbuf_locked = false;
    int rcvlowat = 1;
    std::optional<absl::Duration> rcvtimeo;
    std::optional<absl::Duration> sndtimeo;
    int ttl = -1;
    uint8_t tos = 0;
    uint16_t user_mss = 0;                           // TCP_MAXSEG
    absl::Duration keepidle = absl::ZeroDuration();  // 0: the config's
    absl::Duration keepintvl = absl::ZeroDuration();
    int keepcnt = 0;
    absl::Duration user_timeout = absl::ZeroDuration();  // TCP_USER_TIMEOUT
    int priority = 0;
    int syn_count = 0;  // TCP_SYNCNT; 0: the config's
  };

  // --- tcp_socket.cc ---
  int BindLocked(const SocketAddress& local) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int ConnectLocked(const SocketAddress& remote, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ssize_t SendLocked(std::span<const iovec> data, int flags, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InitSendSequenceLocked(uint32_t iss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueFinLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Linux tcp_disconnect: abort what there is (RST where the peer must hear of it) and
  // leave an unconnected socket that can connect or listen again.
  void DisconnectLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t PollLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlocks and then runs `effects` (notifications, retirement).
  void Finish(Effects& effects) ABSL_UNLOCK_FUNCTION(mu_);
  size_t SendSpaceLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WritableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- tcp_socket_options.cc ---
  int SetTcpOptionLocked(int name, std::span<const uint8_t> value, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillTcpInfoLocked(tcp_info* info) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- tcp_input.cc (dispatch thread) ---
  SegmentVerdict OnSegment(const TcpSegment& seg) ABSL_LOCKS_EXCLUDED(mu_);
  SegmentVerdict SegmentArrivesLocked(const TcpSegment& seg, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SynSentLocked(const TcpSegment& seg, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SegmentVerdict TimeWaitLocked(const TcpSegment& seg, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SequenceAcceptableLocked(const TcpSegment& seg) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool PawsRejectsLocked(const TcpSegment& seg) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetReceivedLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReceiveDataLocked(const TcpSegment& seg, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReceiveFinLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An ACK is owed: at once with `now` (or by the quick-ACK and two-segment rules), else
  // by the delayed-ACK timer. `holdable`: an ACK owed now that a reply may still carry
  // (TcpProtocol's held ACKs), as are those of the quick-ACK rule.
  void ScheduleAckLocked(bool now, bool holdable = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends an ACK owed now (or holds it for a reply, inside a HoldAcksScope), or makes sure
  // the delayed-ACK timer is set.
  void FlushAckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnIcmpError(int type, int code, uint16_t mtu, uint32_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // The handshake completed (either side): options take effect, congestion starts.
  void EstablishLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdoptPeerOptionsLocked(const TcpSegment& seg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- tcp_ack.cc ---
  // Processes the ACK field; false when the segment must be dropped (after any reply).
  bool AckLocked(const TcpSegment& seg, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when the window changed.
  bool UpdateSendWindowLocked(const TcpSegment& seg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NewDataAckedLocked(const TcpSegment& seg, const SackScoreboard::AckResult& sack, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DuplicateAckLocked(const SackScoreboard::AckResult& sack) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnterRecoveryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t InFlightLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // bytes
  void ExpandSendBufferLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- tcp_output.cc ---
  // Sends what the windows, Nagle and cork allow; arms the persist timer when blocked.
  void PushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One segment: `len` data bytes from the send queue at `seq`, plus FIN when `fin`. With
  // `gso_size` (less than len), one TSO frame the link cuts into segments of that size.
  // Returns false when no buffer could be had.
  bool SendDataSegmentLocked(uint32_t seq, size_t len, bool fin, bool retransmit,
                             uint16_t gso_size = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How much new data one transmission may carry: one MSS, or with TSO as many whole
  // segments as a 64 KiB packet and the congestion window's room (`cwnd_room` bytes) allow.
  uint32_t SendBurstLimitLocked(uint32_t mss, uint32_t cwnd_room) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the sequence range [range.start, range.end) again: its data, and the FIN when the
  // range covers it.
  bool ResendRangeLocked(SackBlock range) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first unacknowledged segment (at most `mss` of sequence space) again; its range.
  SackBlock ResendHeadLocked(uint32_t mss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A segment without data: SYN, SYN-ACK, ACK, FIN-less probes (seq given), RST.
  void SendControlLocked(uint8_t flags, uint32_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendAckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendChallengeAckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TransmitLocked(uint32_t seq, uint8_t flags, size_t len, bool retransmit,
                      uint16_t gso_size = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The window field for a segment we send now (RFC 9293 3.8.6.2.2, Linux
  // __tcp_select_window), already scaled; moves rcv_adv_.
  uint16_t SelectWindowLocked(bool syn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The window a SYN or SYN-ACK offers (never scaled).
  uint32_t SynWindowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t ReceiveSpaceLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // the full window
  uint32_t FreeReceiveSpaceLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The window we would offer now, before the never-shrink rule.
  uint32_t OfferedWindowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t ReceiveWindowScaleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After the application read: an ACK announcing the opened window when it grew enough.
  void MaybeWindowUpdateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdjustReceiveBufferLocked(size_t copied) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t TsNowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The MSS our SYN announces and the most data we put in a segment (options excluded).
  uint16_t AdvertisedMssLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateSendMssLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // send_mss_ less the SACK blocks segments carry right now.
  uint32_t CurrentMssLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t FinSeqLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return write_seq_; }

  // --- tcp_timers.cc ---
  void OnTimer(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Time> NextDeadlineLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Asks the protocol to put our timer at NextDeadlineLocked() (dispatch thread does it).
  void SyncTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Same, even when the deadline did not move earlier (the timer must be dropped).
  void ForceTimerSyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmRetransmitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // restart when in flight
  void RetransmitTimeoutLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The loss probe (RFC 8985 TLP, and a probe for lost retransmissions in recovery).
  void ArmProbeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeTimeoutLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistTimeoutLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepaliveTimeoutLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmKeepaliveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnterTimeWaitLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration KeepIdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration KeepIntvlLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int KeepCntLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- state changes ---
  void SetStateLocked(TcpState s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The connection is over (RFC 9293 "delete the TCB"): error for the application (0 for
  // none), timers off, tables left (via fx.retire).
  void DoneLocked(int error, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Abort: RST to the peer, then Done.
  void AbortLocked(int error, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- tcp_listen.cc (listener side: called without the lock) ---
  SegmentVerdict ListenOnSegment(const TcpSegment& seg) ABSL_LOCKS_EXCLUDED(mu_);
  // A SYN: a child in SYN-RECEIVED, or a SYN cookie when the SYN queue is full.
  void HandleSyn(const TcpSegment& seg) ABSL_LOCKS_EXCLUDED(mu_);
  void SendCookieSynAck(const TcpSegment& seg) ABSL_LOCKS_EXCLUDED(mu_);
  // An ACK that may complete a cookie handshake; false when it is not one.
  bool HandleCookieAck(const TcpSegment& seg) ABSL_LOCKS_EXCLUDED(mu_);
  // Child side: the handshake completed; joins the listener's accept queue. 1 joined,
  // 0 the queue is full (drop the ACK), -1 the listener is gone.
  int JoinAcceptQueueLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Child side: gone before its handshake completed: leaves the listener's SYN queue.
  void LeaveListenerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Listener side: stop listening; queued children are reset after the lock is released.
  void CloseListenerLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TcpProtocol& protocol_;
  const TcpConfig& config_;
  TcpStats& stats_;
  const uint64_t id_;
  Timer timer_;  // dispatch thread only (see TcpProtocol)

  mutable absl::Mutex mu_;
  TcpState state_ ABSL_GUARDED_BY(mu_) = TcpState::kClosed;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;        // the application closed it (orphan)
  bool retired_ ABSL_GUARDED_BY(mu_) = false;       // out of the tables for good
  bool in_table_ ABSL_GUARDED_BY(mu_) = false;      // in the protocol's connection table
  bool timer_queued_ ABSL_GUARDED_BY(mu_) = false;  // a timer sync is pending
  // The deadline the wheel holds for us (set by TcpProtocol::SyncOne).
  absl::Time scheduled_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // struct socket's state (SS_*), which decides what connect() answers.
  enum class SockState { kUnconnected, kConnecting, kConnected, kDisconnecting };
  SockState sock_state_ ABSL_GUARDED_BY(mu_) = SockState::kUnconnected;  // struct socket
  int error_ ABSL_GUARDED_BY(mu_) = 0;                                   // sk_err (positive errno)
  int soft_error_ ABSL_GUARDED_BY(mu_) = 0;                              // sk_err_soft
  int shutdown_ ABSL_GUARDED_BY(mu_) = 0;  // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
  bool reset_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // reached CLOSED after being used (POLLHUP)

  // Addressing.
  PortTable::Id binding_ ABSL_GUARDED_BY(mu_) = PortTable::kNoId;
  FourTuple tuple_ ABSL_GUARDED_BY(mu_);  // local part set by bind, remote by connect/accept
  bool port_locked_ ABSL_GUARDED_BY(mu_) = false;  // bind() chose the port

  // Listener.
  int backlog_ ABSL_GUARDED_BY(mu_) = 0;
  int syn_queue_ ABSL_GUARDED_BY(mu_) = 0;  // children in SYN-RECEIVED
  std::deque<std::shared_ptr<TcpSocket>> accept_queue_ ABSL_GUARDED_BY(mu_);
  std::weak_ptr<TcpSocket> parent_ ABSL_GUARDED_BY(mu_);  // child: its listener
  bool in_syn_queue_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_cookie_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // listener
  // A cookie SYN-ACK hides the peer's options in its TSval.
  std::optional<SynCookies::Options> cookie_tsval_options_ ABSL_GUARDED_BY(mu_);

  // Send sequence space (RFC 9293 3.3.1). snd_nxt_ may be wound back below snd_max_ after
  // a timeout (go-back-N, skipping SACKed data); snd_max_ is the highest sent + 1.
  uint32_t iss_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_una_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_nxt_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_max_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_wnd_ ABSL_GUARDED_BY(mu_) = 0;  // bytes (scaled)
  uint32_t max_snd_wnd_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_wl1_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t snd_wl2_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t write_seq_ ABSL_GUARDED_BY(mu_) = 0;   // after the last byte written
  bool fin_queued_ ABSL_GUARDED_BY(mu_) = false;  // shutdown(WR)/close: FIN at write_seq_
  bool more_ ABSL_GUARDED_BY(mu_) = false;        // MSG_MORE on the send being pushed
  uint32_t snd_sml_ ABSL_GUARDED_BY(mu_) = 0;     // end of the last small segment (Nagle)
  SendQueue send_queue_ ABSL_GUARDED_BY(mu_);
  uint16_t send_mss_ ABSL_GUARDED_BY(mu_) = 536;  // data per segment, options excluded
  uint16_t peer_mss_ ABSL_GUARDED_BY(mu_) = 536;
  uint32_t path_mtu_ ABSL_GUARDED_BY(mu_) = 1500;

  // Receive sequence space.
  uint32_t irs_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t rcv_nxt_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t rcv_adv_ ABSL_GUARDED_BY(mu_) = 0;  // right edge we advertised
  bool fin_received_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint32_t> ofo_fin_ ABSL_GUARDED_BY(mu_);  // FIN seen beyond a hole
  ReceiveQueue receive_queue_ ABSL_GUARDED_BY(mu_);
  ReassemblyQueue ofo_ ABSL_GUARDED_BY(mu_);
  std::optional<SackBlock> dsack_ ABSL_GUARDED_BY(mu_);  // to report in the next ACK
  uint16_t rcv_mss_ ABSL_GUARDED_BY(mu_) = 536;          // estimate of the peer's segment size

  // Negotiated options.
  bool ts_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool sack_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool wscale_ok_ ABSL_GUARDED_BY(mu_) = false;
  uint8_t snd_wscale_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t rcv_wscale_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ts_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ts_recent_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time ts_recent_stamp_ ABSL_GUARDED_BY(mu_);
  uint32_t last_ack_sent_ ABSL_GUARDED_BY(mu_) = 0;

  // Reliability and congestion.
  RttEstimator rtt_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CongestionControl> cc_ ABSL_GUARDED_BY(mu_);
  SackScoreboard scoreboard_ ABSL_GUARDED_BY(mu_);
  std::optional<uint32_t> rtt_seq_ ABSL_GUARDED_BY(mu_);  // timed segment's end (Karn)
  absl::Time rtt_start_ ABSL_GUARDED_BY(mu_);
  uint32_t dupacks_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t acked_carry_ ABSL_GUARDED_BY(mu_) = 0;  // acked bytes short of a segment
  bool cwnd_limited_ ABSL_GUARDED_BY(mu_) = false;
  bool persist_probing_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t persist_backoff_ ABSL_GUARDED_BY(mu_) = 0;  // probes since the window closed
  bool passive_ ABSL_GUARDED_BY(mu_) = false;          // made by a listener
  bool pingpong_ ABSL_GUARDED_BY(mu_) = false;         // TCP_QUICKACK 0: delay ACKs
  bool in_recovery_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t recover_ ABSL_GUARDED_BY(mu_) = 0;  // RFC 6582 "recover"
  bool in_loss_ ABSL_GUARDED_BY(mu_) = false;  // after an RTO, until snd_una passes it
  uint32_t loss_high_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t retransmits_ ABSL_GUARDED_BY(mu_) = 0;  // consecutive RTOs (icsk_retransmits)
  uint32_t syn_retransmits_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t total_retrans_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t probes_out_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_send_ ABSL_GUARDED_BY(mu_);
  absl::Time last_receive_ ABSL_GUARDED_BY(mu_);
  absl::Time last_data_receive_ ABSL_GUARDED_BY(mu_);
  absl::Time first_rto_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();  // for TCP_USER_TIMEOUT
  uint64_t bytes_acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_received_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t segs_out_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t segs_in_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t challenge_acks_ ABSL_GUARDED_BY(mu_) = 0;  // this second (RFC 5961 7)
  absl::Time challenge_second_ ABSL_GUARDED_BY(mu_);

  // Delayed ACK.
  bool ack_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool ack_now_ ABSL_GUARDED_BY(mu_) = false;
  bool ack_urgent_ ABSL_GUARDED_BY(mu_) = false;  // owed now and no reply may carry it
  bool ack_held_ ABSL_GUARDED_BY(mu_) = false;    // queued in the protocol's held ACKs
  std::atomic<bool> held_ack_read_{false};        // the application read since (no lock to read)
  uint32_t quickacks_ ABSL_GUARDED_BY(mu_) = 0;
  // Receive buffer autotuning (Linux tcp_rcv_space_adjust).
  size_t space_copied_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time space_time_ ABSL_GUARDED_BY(mu_);
  size_t space_target_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration rcv_rtt_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(1);  // from TSecr

  // Timers (InfiniteFuture when off).
  absl::Time rto_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time probe_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint32_t probe_backoff_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time delack_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time persist_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time keepalive_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time timewait_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();  // also FIN-WAIT-2

  Options options_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
