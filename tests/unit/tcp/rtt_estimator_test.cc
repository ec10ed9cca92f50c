// RFC 6298 with Linux's arithmetic, checked against hand-computed sequences.
#include "stack/transport/tcp/rtt_estimator.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

absl::Duration Ms(int64_t ms) { return absl::Milliseconds(ms); }

TEST(RttEstimatorTest, InitialRtoIsOneSecond) {
  RttEstimator r;
  EXPECT_FALSE(r.has_sample());
  EXPECT_EQ(r.rto(), absl::Seconds(1));
  EXPECT_EQ(r.srtt(), absl::ZeroDuration());
}

TEST(RttEstimatorTest, FirstSampleGivesThreeRtt) {
  // RFC 6298 2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR = 3R.
  RttEstimator r;
  r.AddSample(Ms(500), 1000, 2000);
  EXPECT_TRUE(r.has_sample());
  EXPECT_EQ(r.srtt(), Ms(500));
  EXPECT_EQ(r.rttvar(), Ms(250));
  EXPECT_EQ(r.rto(), Ms(1500));
}

TEST(RttEstimatorTest, SmallRttFlooredAt200msDeviation) {
  // Linux: RTO = SRTT + max(4 RTTVAR, 200 ms), so a 1 ms LAN gets 201 ms.
  RttEstimator r;
  r.AddSample(Ms(1), 1, 2);
  EXPECT_EQ(r.rto(), Ms(201));
  for (uint32_t i = 2; i < 50; ++i) r.AddSample(Ms(1), i, i + 1);
  EXPECT_EQ(r.rto(), Ms(201));
  EXPECT_EQ(r.srtt(), Ms(1));
}

TEST(RttEstimatorTest, KnownSequenceMatchesLinuxArithmetic) {
  // Samples 100, 200, 100 ms, each in a new window.
  RttEstimator r;
  r.AddSample(Ms(100), 0, 100);
  // srtt8 = 800 ms, mdev4 = 200 ms, rttvar = 200 ms: RTO 300 ms.
  EXPECT_EQ(r.rto(), Ms(300));
  r.AddSample(Ms(200), 101, 200);
  // m = 200 - 100 = 100; srtt8 = 900 (SRTT 112.5 ms); m -= mdev4/4 = 50 -> mdev4 = 250;
  // mdev_max = 250 > rttvar 200 -> rttvar 250; new window: rttvar unchanged (max == rttvar),
  // mdev_max reset to 200. RTO = 112.5 + 250 = 362.5 -> 363 ms.
  EXPECT_EQ(r.srtt(), absl::Microseconds(112500));
  EXPECT_EQ(r.rttvar(), absl::Microseconds(62500));
  EXPECT_EQ(r.rto(), Ms(363));
  r.AddSample(Ms(100), 201, 300);
  // m = 100 - 112.5 = -12.5; srtt8 = 887.5 (SRTT 110.9375); falling RTT:
  // m = 12.5 - 62.5 < 0, not scaled; mdev4 = 250 - 50 = 200. mdev4 200 == mdev_max 200 (no
  // change); new window: rttvar -= (250 - 200) / 4 = 237.5. RTO = 110.9375 + 237.5 = 348.4375
  // -> 349 ms.
  EXPECT_EQ(r.srtt(), absl::Microseconds(110937));
  EXPECT_EQ(r.rto(), Ms(349));
}

TEST(RttEstimatorTest, FallingRttDampsDeviation) {
  // A sharp RTT fall raises the deviation only by 1/32 of the excess (Linux), not 1/4.
  RttEstimator r;
  r.AddSample(Ms(1000), 0, 10);  // mdev4 = 2000 ms
  r.AddSample(Ms(1000), 11, 20);
  r.AddSample(Ms(1000), 21, 30);
  const absl::Duration var_before = r.rttvar();
  r.AddSample(Ms(0), 31, 40);  // error -1000: |m| = 1000 - mdev4/4
  // With RFC gain 1/4 RTTVAR would rise towards 1000; Linux lets it rise by (1000 -
  // mdev)/32 at most.
  EXPECT_LT(r.rttvar(), var_before + Ms(50));
}

TEST(RttEstimatorTest, RttvarDecaysOncePerWindow) {
  RttEstimator r;
  r.AddSample(Ms(400), 0, 1000);  // rttvar = 800 ms
  // Steady 400 ms samples within one window (snd_una never passes 1000): rttvar stays.
  for (int i = 0; i < 10; ++i) r.AddSample(Ms(400), 500, 1500);
  EXPECT_EQ(r.rto(), Ms(1200));
  // The first window closes with its peak (800) as high as RTTVAR: no decay yet; the peak
  // restarts at the 200 ms floor.
  r.AddSample(Ms(400), 1001, 2000);
  EXPECT_EQ(r.rto(), Ms(1200));
  // Each later window lets RTTVAR fall a quarter of the way towards that window's peak.
  r.AddSample(Ms(400), 2001, 3000);
  EXPECT_EQ(r.rto(), Ms(400 + 800 - 150));
  r.AddSample(Ms(400), 3001, 4000);
  EXPECT_EQ(r.rto(), Ms(938));  // 400 + 650 - 112.5, rounded up
}

TEST(RttEstimatorTest, BackoffDoublesToCapAndSampleResets) {
  RttEstimator r;
  r.AddSample(Ms(100), 0, 10);
  EXPECT_EQ(r.rto(), Ms(300));
  r.Backoff();
  EXPECT_EQ(r.rto(), Ms(600));
  EXPECT_EQ(r.backoff_count(), 1u);
  for (int i = 0; i < 20; ++i) r.Backoff();
  EXPECT_EQ(r.rto(), absl::Seconds(120));
  EXPECT_EQ(r.backoff_count(), 21u);
  r.AddSample(Ms(100), 11, 20);
  EXPECT_EQ(r.backoff_count(), 0u);
  EXPECT_LT(r.rto(), Ms(400));
}

TEST(RttEstimatorTest, SynBackoffSequence) {
  // Linux SYN retransmissions: 1, 2, 4, 8, 16, 32 s.
  RttEstimator r;
  absl::Duration expected = absl::Seconds(1);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(r.rto(), expected);
    r.Backoff();
    expected *= 2;
  }
}

TEST(RttEstimatorTest, FallbackAfterHandshakeWithoutSample) {
  RttEstimator r;
  r.Backoff();
  r.UseFallbackRto();
  EXPECT_EQ(r.rto(), absl::Seconds(3));
  RttEstimator sampled;
  sampled.AddSample(Ms(10), 0, 1);
  sampled.UseFallbackRto();  // a sample exists: no change
  EXPECT_EQ(sampled.rto(), Ms(210));
}

TEST(RttEstimatorTest, RtoCappedAndHugeSamplesSafe) {
  RttEstimator r;
  r.AddSample(absl::Hours(10), 0, 1);
  EXPECT_EQ(r.rto(), absl::Seconds(120));
  r.AddSample(-Ms(5), 1, 2);  // ignored
  EXPECT_EQ(r.rto(), absl::Seconds(120));
}

TEST(RttEstimatorTest, CustomMinRto) {
  RttEstimator r(Ms(5));
  r.AddSample(Ms(1), 0, 1);
  EXPECT_EQ(r.rto(), Ms(6));
}

}  // namespace
}  // namespace netshim
