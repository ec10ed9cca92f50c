// Congestion control: the registry, slow start, congestion avoidance, the recovery window
// rules, timeouts, idle restart, and CUBIC's curve and TCP-friendly region on a fake clock.
#include <cerrno>
#include <cmath>
#include <memory>

#include "gtest/gtest.h"
#include "stack/transport/tcp/congestion/congestion_control.h"
#include "stack/transport/tcp/congestion/cubic.h"
#include "stack/transport/tcp/congestion/newreno.h"
#include "stack/transport/tcp/congestion/registry.h"

namespace netshim {
namespace {

constexpr absl::Duration kRtt = absl::Milliseconds(100);

absl::Time Start() { return absl::UnixEpoch() + absl::Hours(1); }

// One round trip: a window of segments goes out and comes back one ACK per segment,
// evenly spread over the RTT. Returns the window the round started with.
uint32_t Round(CongestionControl& cc, absl::Time& now, absl::Duration rtt = kRtt,
               bool cwnd_limited = true) {
  const uint32_t window = cc.cwnd();
  for (uint32_t i = 0; i < window; ++i) {
    now += rtt / window;
    cc.OnAck(AckSample{1, rtt, cwnd_limited, now});
  }
  return window;
}

TEST(CongestionRegistryTest, LinuxNames) {
  std::unique_ptr<CongestionControl> cc;
  ASSERT_EQ(NewCongestionControl("cubic", &cc), 0);
  EXPECT_EQ(cc->name(), "cubic");
  ASSERT_EQ(NewCongestionControl("reno", &cc), 0);
  EXPECT_EQ(cc->name(), "reno");
  EXPECT_EQ(NewCongestionControl(kDefaultCongestionControl, &cc), 0);
  EXPECT_EQ(cc->name(), "cubic");
  for (const char* bad : {"", "bbr", "Cubic", "cubic ", "newreno", "reno\n"}) {
    std::unique_ptr<CongestionControl> none;
    EXPECT_EQ(NewCongestionControl(bad, &none), -ENOENT) << bad;
    EXPECT_EQ(none, nullptr);
  }
  EXPECT_EQ(AvailableCongestionControl(), "reno cubic");
}

TEST(CongestionControlTest, InitialWindow) {
  NewReno cc;
  cc.OnEstablished(0, Start());
  EXPECT_EQ(cc.cwnd(), 10u);
  EXPECT_EQ(cc.ssthresh(), CongestionControl::kInfiniteSsthresh);
  EXPECT_TRUE(cc.InSlowStart());
  cc.OnEstablished(1, Start());  // one SYN retransmission: Linux keeps 10
  EXPECT_EQ(cc.cwnd(), 10u);
  cc.OnEstablished(2, Start());
  EXPECT_EQ(cc.cwnd(), 1u);
}

TEST(CongestionControlTest, SlowStartDoublesEachRound) {
  for (const char* name : {"reno", "cubic"}) {
    std::unique_ptr<CongestionControl> cc;
    ASSERT_EQ(NewCongestionControl(name, &cc), 0);
    cc->OnEstablished(0, Start());
    absl::Time now = Start();
    uint32_t expected = 10;
    for (int round = 0; round < 6; ++round) {
      EXPECT_EQ(cc->cwnd(), expected) << name << " round " << round;
      Round(*cc, now);
      expected *= 2;
    }
    // Delayed ACKs (2 segments each) grow it just the same per round (Linux counts acked).
    const uint32_t before = cc->cwnd();
    for (uint32_t i = 0; i < before / 2; ++i) cc->OnAck(AckSample{2, kRtt, true, now});
    EXPECT_EQ(cc->cwnd(), 2 * before) << name;
  }
}

TEST(CongestionControlTest, NoGrowthWhenApplicationLimited) {
  NewReno cc;
  absl::Time now = Start();
  Round(cc, now, kRtt, /*cwnd_limited=*/false);
  EXPECT_EQ(cc.cwnd(), 10u);
}

TEST(CongestionControlTest, SlowStartStopsAtSsthresh) {
  NewReno cc;
  absl::Time now = Start();
  cc.OnRto(/*flight_size=*/24, false, now);  // ssthresh 12, cwnd 1
  EXPECT_EQ(cc.ssthresh(), 12u);
  EXPECT_EQ(cc.cwnd(), 1u);
  cc.OnAck(AckSample{1, std::nullopt, true, now});
  cc.OnAck(AckSample{2, std::nullopt, true, now});
  cc.OnAck(AckSample{4, std::nullopt, true, now});
  EXPECT_EQ(cc.cwnd(), 8u);
  // 8 acked: 4 take cwnd to ssthresh, the other 4 count towards congestion avoidance.
  cc.OnAck(AckSample{8, std::nullopt, true, now});
  EXPECT_EQ(cc.cwnd(), 12u);
  EXPECT_FALSE(cc.InSlowStart());
}

TEST(NewRenoTest, CongestionAvoidanceAddsOnePerWindow) {
  NewReno cc;
  absl::Time now = Start();
  cc.OnRto(40, false, now);  // ssthresh 20
  while (cc.InSlowStart()) Round(cc, now);
  ASSERT_EQ(cc.cwnd(), 20u);
  for (uint32_t expected = 20; expected < 30; ++expected) {
    EXPECT_EQ(cc.cwnd(), expected);
    Round(cc, now);
  }
}

TEST(NewRenoTest, Rfc6582RecoveryWindow) {
  NewReno cc;
  absl::Time now = Start();
  cc.OnEstablished(0, now);
  Round(cc, now);
  Round(cc, now);  // cwnd 40
  ASSERT_EQ(cc.cwnd(), 40u);
  // Step 3: ssthresh = max(FlightSize / 2, 2) = 20 (RFC 5681 eq. 4); cwnd = ssthresh + 3.
  cc.OnEnterRecovery(/*flight_size=*/40, /*sack=*/false, now);
  EXPECT_TRUE(cc.InRecovery());
  EXPECT_EQ(cc.ssthresh(), 20u);
  EXPECT_EQ(cc.cwnd(), 23u);
  // Step 4: inflate by one per further duplicate ACK.
  for (int i = 0; i < 5; ++i) cc.OnDupAck();
  EXPECT_EQ(cc.cwnd(), 28u);
  // Ordinary ACK processing does not grow cwnd during recovery.
  cc.OnAck(AckSample{3, kRtt, true, now});
  EXPECT_EQ(cc.cwnd(), 28u);
  // Step 5, partial ACK of 6 segments: deflate by 6, add one back.
  cc.OnPartialAck(AckSample{6, std::nullopt, true, now});
  EXPECT_EQ(cc.cwnd(), 23u);
  // A partial ACK of less than a segment: no add-back.
  cc.OnPartialAck(AckSample{0, std::nullopt, true, now});
  EXPECT_EQ(cc.cwnd(), 23u);
  // Step 5, full ACK: min(ssthresh, max(FlightSize, SMSS) + SMSS).
  cc.OnExitRecovery(/*flight_size=*/8);
  EXPECT_FALSE(cc.InRecovery());
  EXPECT_EQ(cc.cwnd(), 9u);
  cc.OnEnterRecovery(30, false, now);
  cc.OnExitRecovery(/*flight_size=*/100);
  EXPECT_EQ(cc.cwnd(), cc.ssthresh());
  EXPECT_EQ(cc.ssthresh(), 15u);
}

TEST(NewRenoTest, SackRecoveryKeepsCwndAtSsthresh) {
  NewReno cc;
  absl::Time now = Start();
  cc.OnEnterRecovery(50, /*sack=*/true, now);
  EXPECT_EQ(cc.ssthresh(), 25u);
  EXPECT_EQ(cc.cwnd(), 25u);
  cc.OnDupAck();  // no inflation: pipe governs sending (RFC 6675)
  cc.OnPartialAck(AckSample{5, std::nullopt, true, now});
  EXPECT_EQ(cc.cwnd(), 25u);
  cc.OnExitRecovery(3);
  EXPECT_EQ(cc.cwnd(), 25u);
}

TEST(NewRenoTest, SsthreshFloorIsTwo) {
  NewReno cc;
  cc.OnEnterRecovery(1, false, Start());
  EXPECT_EQ(cc.ssthresh(), 2u);
  EXPECT_EQ(cc.cwnd(), 5u);
}

TEST(CongestionControlTest, RtoLossWindowAndRepeatedTimeouts) {
  NewReno cc;
  absl::Time now = Start();
  cc.OnEnterRecovery(64, false, now);
  cc.OnRto(/*flight_size=*/64, /*repeated=*/false, now);
  EXPECT_FALSE(cc.InRecovery());
  EXPECT_EQ(cc.cwnd(), 1u);
  EXPECT_EQ(cc.ssthresh(), 32u);
  // The same data timing out again: ssthresh held (RFC 5681 3.1).
  cc.OnRto(/*flight_size=*/2, /*repeated=*/true, now);
  EXPECT_EQ(cc.ssthresh(), 32u);
  EXPECT_EQ(cc.cwnd(), 1u);
}

TEST(CongestionControlTest, EcnEchoReducesOnceOutsideRecovery) {
  NewReno cc;
  absl::Time now = Start();
  Round(cc, now);
  ASSERT_EQ(cc.cwnd(), 20u);
  cc.OnEcnEcho(20, now);
  EXPECT_EQ(cc.ssthresh(), 10u);
  EXPECT_EQ(cc.cwnd(), 10u);
  cc.OnEnterRecovery(10, true, now);
  cc.OnEcnEcho(10, now);  // in recovery: already reduced
  EXPECT_EQ(cc.ssthresh(), 5u);
}

TEST(CongestionControlTest, IdleRestartHalvesPerRto) {
  NewReno cc;
  absl::Time now = Start();
  Round(cc, now);
  Round(cc, now);
  ASSERT_EQ(cc.cwnd(), 40u);
  const absl::Duration rto = absl::Milliseconds(300);
  cc.OnResumeSending(rto, rto, now);  // not longer than the RTO: nothing
  EXPECT_EQ(cc.cwnd(), 40u);
  // Idle 2.5 RTOs: halved twice (40 -> 10), never below min(IW, cwnd); ssthresh keeps 3/4.
  cc.OnResumeSending(rto * 2.5, rto, now);
  EXPECT_EQ(cc.cwnd(), 10u);
  EXPECT_EQ(cc.ssthresh(), CongestionControl::kInfiniteSsthresh);
  NewReno reduced;
  reduced.OnEnterRecovery(100, true, now);
  reduced.OnExitRecovery(100);
  ASSERT_EQ(reduced.cwnd(), 50u);
  reduced.OnResumeSending(absl::Seconds(100), rto, now);
  EXPECT_EQ(reduced.cwnd(), 10u);
  EXPECT_EQ(reduced.ssthresh(), 50u);  // max(50, 3/4 * 50)
}

// Grows a CUBIC connection to `wmax` and has it lose a packet there (SACK recovery), then
// leaves recovery. Returns the time of the exit.
absl::Time LossAt(Cubic& cc, uint32_t target, absl::Duration rtt) {
  absl::Time now = Start();
  cc.OnEstablished(0, now);
  while (cc.cwnd() < target) Round(cc, now, rtt);
  cc.OnEnterRecovery(cc.cwnd(), /*sack=*/true, now);
  now += rtt;
  cc.OnExitRecovery(cc.cwnd());
  return now;
}

TEST(CubicTest, SsthreshAfterLossAndFastConvergence) {
  Cubic cc;
  absl::Time now = Start();
  while (cc.cwnd() < 100) Round(cc, now);
  ASSERT_EQ(cc.cwnd(), 160u);
  cc.OnEnterRecovery(160, true, now);
  EXPECT_EQ(cc.ssthresh(), 112u);  // 160 * 717 / 1024
  EXPECT_EQ(cc.cwnd(), 112u);
  EXPECT_EQ(cc.w_max(), 160u);
  cc.OnExitRecovery(112);
  // A second loss below the old Wmax: Wmax = cwnd * (1 + beta) / 2 (fast convergence).
  cc.OnEnterRecovery(112, true, now);
  EXPECT_EQ(cc.w_max(), 112u * 1741 / 2048);
  EXPECT_EQ(cc.ssthresh(), 112u * 717 / 1024);
}

TEST(CubicTest, WindowFollowsCubicCurveAfterLoss) {
  Cubic cc;
  absl::Time now = LossAt(cc, 100, kRtt);
  const double wmax = cc.w_max();
  ASSERT_EQ(wmax, 160);
  ASSERT_EQ(cc.cwnd(), 112u);
  const double k = std::cbrt((wmax - 112) / Cubic::kC);  // ~4.93 s
  const absl::Time epoch = now;  // the curve starts with the first ACK after recovery
  for (int round = 0; round < 120; ++round) {
    Round(cc, now);
    const double t = absl::ToDoubleSeconds(now - epoch);
    const double w = Cubic::kC * std::pow(t - k, 3) + wmax;
    const double err = std::abs(cc.cwnd() - w) / w;
    EXPECT_LT(err, 0.03) << "t=" << t << " cwnd=" << cc.cwnd() << " W(t)=" << w;
  }
  EXPECT_NEAR(cc.k_seconds(), k, 1e-9);
  // Concave then convex: close to Wmax around K, well above it after.
  EXPECT_GT(cc.cwnd(), 250u);
}

TEST(CubicTest, TcpFriendlyRegionOnShortRtt) {
  // With a 1 ms RTT and a large window, Reno would grow faster than the cubic curve right
  // after a loss: CUBIC must keep up with Reno's estimate (RFC 9438 4.3).
  const absl::Duration rtt = absl::Milliseconds(1);
  Cubic cc;
  absl::Time now = LossAt(cc, 1000, rtt);
  const uint32_t start = cc.cwnd();
  ASSERT_EQ(start, 1280u * 717 / 1024);
  const double k = std::cbrt((cc.w_max() - static_cast<double>(start)) / Cubic::kC);
  const int rounds = 200;
  for (int i = 0; i < rounds; ++i) Round(cc, now, rtt);
  const double t = rounds * 0.001;
  const double cubic_only = Cubic::kC * std::pow(t + 0.001 - k, 3) + cc.w_max();
  const double reno = start + rounds * 3.0 * (1 - 0.7) / (1 + 0.7);
  EXPECT_GT(cc.cwnd(), cubic_only + 40);
  EXPECT_NEAR(cc.cwnd(), reno, reno * 0.03);
}

TEST(CubicTest, GrowthAtMostOneAndAHalfPerRound) {
  Cubic cc;
  absl::Time now = LossAt(cc, 100, kRtt);
  // Long after K the curve is steep, but cwnd grows at most by half per round.
  for (int i = 0; i < 200; ++i) {
    const uint32_t before = Round(cc, now);
    EXPECT_LE(cc.cwnd(), before + before / 2 + 1);
  }
}

TEST(CubicTest, TimeoutForgetsWmax) {
  Cubic cc;
  absl::Time now = LossAt(cc, 100, kRtt);
  ASSERT_EQ(cc.w_max(), 160u);
  cc.OnRto(cc.cwnd(), false, now);
  EXPECT_EQ(cc.w_max(), 0u);
  EXPECT_EQ(cc.cwnd(), 1u);
  EXPECT_EQ(cc.ssthresh(), 112u * 717 / 1024);
}

TEST(CubicTest, IdleShiftsEpoch) {
  // Two identical connections; one sits idle (application-limited) for 3 s in the middle.
  // After the idle period it continues along the curve from where it was, rather than
  // jumping by 3 s worth of growth.
  Cubic busy, idle;
  absl::Time t_busy = LossAt(busy, 100, kRtt);
  absl::Time t_idle = LossAt(idle, 100, kRtt);
  for (int i = 0; i < 10; ++i) {
    Round(busy, t_busy);
    Round(idle, t_idle);
  }
  t_idle += absl::Seconds(3);
  idle.OnResumeSending(absl::Seconds(3), absl::Seconds(10), t_idle);
  Round(busy, t_busy);
  Round(idle, t_idle);
  EXPECT_NEAR(idle.cwnd(), busy.cwnd(), 2.0);
}

}  // namespace
}  // namespace netshim
