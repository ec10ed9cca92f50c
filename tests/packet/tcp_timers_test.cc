// Connection timers seen on the wire: keepalive (RFC 1122 4.2.3.6 with Linux's probe
// format and SO_KEEPALIVE / TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT semantics) and
// TCP_USER_TIMEOUT (RFC 5482, Linux tcp_write_timeout).
#include <netinet/in.h>
#include <poll.h>

#include "stack/runtime/timer_wheel.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;

class TcpTimersTest : public TcpPacketTest {
 protected:
  std::shared_ptr<TcpSocket> OpenWithKeepalive(TcpPeer& peer, int idle, int intvl, int cnt) {
    auto s = PassiveOpen(peer, SynOptions());
    EXPECT_TRUE(s);
    EXPECT_EQ(SetInt(*s, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    EXPECT_EQ(SetInt(*s, IPPROTO_TCP, TCP_KEEPIDLE, idle), 0);
    EXPECT_EQ(SetInt(*s, IPPROTO_TCP, TCP_KEEPINTVL, intvl), 0);
    EXPECT_EQ(SetInt(*s, IPPROTO_TCP, TCP_KEEPCNT, cnt), 0);
    return s;
  }
  // Linux tcp_xmit_probe_skb: an ACK one below snd_una, without data.
  void ExpectKeepaliveProbe(const ParsedTcp& probe, const TcpPeer& peer) {
    EXPECT_SEGMENT(probe, kTcpAck, peer.stack_isn, peer.snd_nxt);
    EXPECT_TRUE(probe.payload.empty());
  }
  static bool Near(absl::Duration at, absl::Duration want) {
    return at >= want && at <= want + TimerWheel::MaxLateness(want);
  }
};

TEST_F(TcpTimersTest, KeepaliveProbesUnansweredEndInRstAndEtimedout) {
  TcpPeer peer(this, 40000, kPort);
  auto s = OpenWithKeepalive(peer, /*idle=*/10, /*intvl=*/5, /*cnt=*/3);
  // Probes 10 s after the last segment received, then every 5 s; after 3 unanswered,
  // at the time of a 4th, Linux tcp_keepalive_timer resets the connection.
  const std::vector<TimedSegment> segs =
      RunUntil([&] { return s->state() == TcpState::kClosed; }, absl::Seconds(60));
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_TRUE(Near(segs[0].at, absl::Seconds(10))) << segs[0].at;
  EXPECT_TRUE(Near(segs[1].at - segs[0].at, absl::Seconds(5))) << segs[1].at;
  EXPECT_TRUE(Near(segs[2].at - segs[1].at, absl::Seconds(5))) << segs[2].at;
  EXPECT_TRUE(Near(segs[3].at - segs[2].at, absl::Seconds(5))) << segs[3].at;
  for (int i = 0; i < 3; ++i) ExpectKeepaliveProbe(segs[i].seg, peer);
  EXPECT_SEGMENT(segs[3].seg, kTcpRst | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(stats().tcp.TCPKeepAliveProbes.value(), 3u);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_NE(s->Poll() & POLLERR, 0u);
  ssize_t r = 0;
  Read(*s, 10, &r);
  EXPECT_EQ(r, -ETIMEDOUT);
}

TEST_F(TcpTimersTest, AnsweredKeepaliveProbesKeepTheConnection) {
  TcpPeer peer(this, 40000, kPort);
  auto s = OpenWithKeepalive(peer, 10, 5, 3);
  for (int i = 0; i < 5; ++i) {
    const auto at = RunUntilSegment(absl::Seconds(30));
    ASSERT_TRUE(at) << "probe " << i;
    // Each probe comes the idle time after the last answer.
    EXPECT_TRUE(Near(*at, absl::Seconds(10))) << "probe " << i << " after " << *at;
    ExpectKeepaliveProbe(peer.TakeOneAndObserve(), peer);
    peer.Ack();  // the peer's answer: an ACK for snd_una
    ExpectNothingSent("the answer to a probe");
    EXPECT_EQ(s->state(), TcpState::kEstablished);
  }
  // Data received also counts as life.
  Advance(absl::Seconds(8));
  peer.Data(10);
  peer.TakeAndObserve();
  const auto at = RunUntilSegment(absl::Seconds(30));
  ASSERT_TRUE(at);
  // The probe after data: the quick ACK went out at once; no delayed ACK is pending.
  EXPECT_TRUE(Near(*at, absl::Seconds(10))) << *at;
  ExpectKeepaliveProbe(TakeOne(), peer);
}

TEST_F(TcpTimersTest, KeepaliveOffSendsNothing) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  // The default idle time is 2 hours, and SO_KEEPALIVE is off anyway.
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_KEEPIDLE, 10), 0);
  EXPECT_TRUE(RunFor(absl::Minutes(5)).empty());
  EXPECT_EQ(s->state(), TcpState::kEstablished);
}

TEST_F(TcpTimersTest, PeerKeepaliveProbeIsAnswered) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  peer.Data(10);
  peer.TakeAndObserve();
  // The peer's probe: an ACK at snd_nxt - 1 (old sequence number): answered with an ACK.
  TcpSpec probe = peer.Spec(kTcpAck);
  probe.seq = peer.snd_nxt - 1;
  peer.Send(probe);
  EXPECT_SEGMENT(TakeOne(), kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  // A BSD-style probe with one garbage byte below rcv_nxt is answered too.
  probe = peer.Spec(kTcpAck);
  probe.seq = peer.snd_nxt - 1;
  probe.payload = {0};
  peer.Send(probe);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->BytesReadable(), 10);
}

TEST_F(TcpTimersTest, UserTimeoutAbortsUnacknowledgedData) {
  TcpPeer peer(this, 5000);
  auto s = ActiveOpen(peer, SynOptions());  // RTT sample 0: RTO 200 ms
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_USER_TIMEOUT, 3000), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  ASSERT_EQ(seg.payload.size(), 100u);
  // RFC 5482 / Linux tcp_write_timeout: the connection gives up once data has gone
  // unacknowledged for the user timeout (3 s), measured from its first transmission
  // (retrans_stamp), with the last RTO clamped to it (tcp_clamp_rto_to_user_timeout),
  // instead of tcp_retries2's 15 retransmissions.
  const absl::Time start = clock_.Now();
  const std::vector<TimedSegment> segs =
      RunUntil([&] { return s->state() == TcpState::kClosed; }, absl::Seconds(60));
  const absl::Duration took = clock_.Now() - start;
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_GE(took, absl::Seconds(3));
  EXPECT_LE(took, absl::Seconds(3) + TimerWheel::MaxLateness(absl::Seconds(3)));
  for (const auto& t : segs) {
    EXPECT_EQ(t.seg.seq(), seg.seq()) << Describe(t.seg);
    EXPECT_FALSE(t.seg.header.rst()) << "Linux sends no RST on a timeout";
  }
  EXPECT_EQ(SoError(*s), ETIMEDOUT);
  EXPECT_EQ(stats().tcp.TCPAbortOnTimeout.value(), 1u);
}

TEST_F(TcpTimersTest, WithoutUserTimeoutRetries2Retransmissions) {
  TcpPeer peer(this, 5000);
  auto s = ActiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  peer.TakeOneAndObserve();
  // tcp_retries2 = 15: 15 retransmissions, RTO doubling from 200 ms to the 120 s cap
  // (~924.6 s in all), then ETIMEDOUT.
  const std::vector<TimedSegment> segs =
      RunUntil([&] { return s->state() == TcpState::kClosed; }, absl::Minutes(30));
  EXPECT_EQ(segs.size(), 15u);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(SoError(*s), ETIMEDOUT);
}

}  // namespace
}  // namespace netshim::testing
