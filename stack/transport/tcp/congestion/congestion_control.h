// Congestion control behind one interface, shaped like Linux's tcp_congestion_ops
// (include/net/tcp.h): the connection reports events, the algorithm owns cwnd and ssthresh.
//
// Units: windows are counted in segments (full-sized, SMSS), as Linux counts snd_cwnd and
// snd_ssthresh; the connection converts to bytes (cwnd * MSS) and counts its flight size in
// segments too. Acked amounts are segments as well, as Linux counts packets acked (a
// connection that tracks bytes passes bytes_acked / MSS and carries the remainder over).
//
// What the connection calls, and when:
//   OnEstablished           once, when the handshake completes (initial window)
//   OnAck                   an ACK that acknowledges new data outside recovery
//   OnEnterRecovery         fast retransmit (3 duplicate ACKs, or RFC 6675 IsLost(snd_una))
//   OnDupAck                each further duplicate ACK in recovery without SACK
//   OnPartialAck            an ACK of new data below the recovery point
//   OnExitRecovery          the ACK that covers the recovery point (full ACK)
//   OnRto                   the retransmission timer expired
//   OnEcnEcho               ECE received (RFC 3168 6.1.2), at most once per window
//   OnResumeSending         new data is about to go out while nothing is in flight
//
// The fast-recovery window rules are shared by every algorithm here, as Linux's core
// applies its own for every module (Linux uses PRR, RFC 6937; we use the RFC's rules):
//   without SACK (RFC 6582 3.2): cwnd = ssthresh + 3 on entry, +1 per further duplicate
//     ACK, deflated by the amount a partial ACK acknowledges (+1 back when a full segment
//     or more was acknowledged), and min(ssthresh, max(FlightSize, 1) + 1) on exit;
//   with SACK (RFC 6675 5): cwnd = ssthresh on entry and exit; the connection's pipe
//     estimate (SackScoreboard) decides what may be sent.
// The algorithm supplies the new ssthresh after a loss and the growth outside recovery.
//
// Not thread-safe: owned by one connection and used under its lock. Time is always an
// argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"

namespace netshim {

struct AckSample {
  uint32_t acked = 0;  // segments newly delivered: cumulatively acked plus newly SACKed
  std::optional<absl::Duration> rtt;  // this ACK's RTT sample (Karn-filtered), if any
  // The sender used its whole window in the last round (Linux tcp_is_cwnd_limited):
  // growth is not earned while the application, not cwnd, limits sending (RFC 7661).
  bool cwnd_limited = true;
  absl::Time now;
};

class CongestionControl {
 public:
  static constexpr uint32_t kInitialWindow = 10;             // RFC 6928, Linux TCP_INIT_CWND
  static constexpr uint32_t kInfiniteSsthresh = 0x7fffffff;  // TCP_INFINITE_SSTHRESH
  // Far above any window our buffers allow; keeps the algorithms' arithmetic in range
  // (Linux's CUBIC is exact below a million segments).
  static constexpr uint32_t kMaxWindow = 1u << 20;

  CongestionControl() = default;
  virtual ~CongestionControl() = default;
  CongestionControl(const CongestionControl&) = delete;
  CongestionControl& operator=(const CongestionControl&) = delete;

  // The Linux name ("reno", "cubic"): what getsockopt(TCP_CONGESTION) returns.
  virtual std::string_view name() const = 0;

  uint32_t cwnd() const { return cwnd_; }
  uint32_t ssthresh() const { return ssthresh_; }
  bool InSlowStart() const { return cwnd_ < ssthresh_; }  // Linux tcp_in_slow_start
  bool InRecovery() const { return recovery_ != Recovery::kNone; }

  // The handshake completed. RFC 5681 3.1 / Linux tcp_init_transfer: the initial window is
  // 10, but 1 when the SYN (or SYN-ACK) had to be retransmitted more than once.
  void OnEstablished(uint32_t syn_retransmits, absl::Time now);

  // New data acknowledged outside recovery: slow start below ssthresh, congestion
  // avoidance above (the algorithm's), both only when cwnd-limited. In recovery only the
  // RTT sample is used.
  void OnAck(const AckSample& ack);

  // Fast retransmit. `flight_size` is the data outstanding (segments) when the loss was
  // detected. The caller enters at most once per window (RFC 6582 "recover").
  void OnEnterRecovery(uint32_t flight_size, bool sack, absl::Time now);
  // RFC 6582 3.2 step 4: each duplicate ACK in recovery inflates cwnd by one (no SACK).
  void OnDupAck();
  // RFC 6582 3.2 step 5, partial ACK: `ack.acked` segments newly acknowledged.
  void OnPartialAck(const AckSample& ack);
  // RFC 6582 3.2 step 5, full ACK. `flight_size` is what is outstanding after the ACK.
  void OnExitRecovery(uint32_t flight_size);

  // RFC 5681 3.1 eq. 4 and the loss window: ssthresh from the algorithm (held constant
  // when `repeated`, i.e. the same data already timed out once), cwnd = 1; recovery ends.
  void OnRto(uint32_t flight_size, bool repeated, absl::Time now);

  // ECN congestion (RFC 3168 6.1.2; Linux tcp_enter_cwr): the window is reduced as for a
  // loss, without retransmitting. Not in recovery: recovery already reduced it.
  void OnEcnEcho(uint32_t flight_size, absl::Time now);

  // New data is about to be sent with nothing in flight, `idle` after the last send.
  // RFC 5681 4.1 / Linux tcp_cwnd_restart: after an idle period longer than `rto`, cwnd
  // is halved per RTO idle, down to min(initial window, cwnd), and ssthresh keeps 3/4 of
  // the old cwnd. Then the algorithm hears of it (Linux CA_EVENT_TX_START).
  void OnResumeSending(absl::Duration idle, absl::Duration rto, absl::Time now);

 protected:
  // The algorithm's parts (Linux tcp_congestion_ops members in brackets).

  // The ssthresh after a loss or ECN signal, from the state before it [.ssthresh].
  virtual uint32_t SsthreshAfterLoss(uint32_t flight_size, absl::Time now) = 0;
  // Growth on an ACK outside recovery, when cwnd-limited [.cong_avoid].
  virtual void Grow(const AckSample& ack) = 0;
  // Every ACK that delivered data, for RTT tracking [.pkts_acked].
  virtual void OnAcked(const AckSample& /*ack*/) {}
  // The retransmission timer expired, after ssthresh was set [.set_state(TCP_CA_Loss)].
  virtual void OnLoss() {}
  // Sending resumes after `idle` with nothing in flight [.cwnd_event(CA_EVENT_TX_START)].
  virtual void OnTxStart(absl::Duration /*idle*/, absl::Time /*now*/) {}

  // Linux tcp_slow_start: cwnd += acked up to ssthresh; returns the acked left over.
  uint32_t SlowStart(uint32_t acked);
  // Linux tcp_cong_avoid_ai: cwnd += 1 for every `w` segments acked.
  void AdditiveIncrease(uint32_t w, uint32_t acked);

  void set_cwnd(uint32_t cwnd);

 private:
  enum class Recovery { kNone, kNewReno, kSack };

  uint32_t cwnd_ = kInitialWindow;
  uint32_t ssthresh_ = kInfiniteSsthresh;
  uint32_t cwnd_cnt_ = 0;  // segments acked towards the next increase (Linux snd_cwnd_cnt)
  Recovery recovery_ = Recovery::kNone;
};

}  // namespace netshim
