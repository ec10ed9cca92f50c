// Loss and attacks, segment by segment: the retransmission timer (RFC 6298 as Linux runs
// it: 1 s before a sample, 200 ms floor, doubling), fast retransmit and recovery (RFC 5681,
// RFC 6582 NewReno, RFC 6675 SACK), RFC 5961's challenge ACKs, and RST in every state
// (RFC 9293 3.10.7.4 second, Linux tcp_reset's errno choices).
#include <netinet/in.h>
#include <poll.h>

#include <set>

#include "stack/runtime/timer_wheel.h"
#include "stack/transport/tcp/seq.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;
constexpr uint32_t kMss = 1448;

class TcpRetransmitTest : public TcpPacketTest {
 protected:
  // An active open whose SYN-ACK arrives `rtt` after the SYN (an RTT sample), TCP_NODELAY
  // on so that only the windows and timers decide what is sent.
  std::shared_ptr<TcpSocket> Open(TcpPeer& peer, const TcpOptions& synack = SynOptions(),
                                  absl::Duration rtt = absl::ZeroDuration()) {
    auto s = ActiveOpen(peer, synack, rtt);
    EXPECT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    // The SYN-ACK's window is unscaled; an ACK with the peer's usual window first, so
    // that later ACKs repeating it count as duplicates (a window change does not).
    peer.Ack();
    ExpectNothingSent("a window update");
    return s;
  }
  // Expects one retransmission of `original` between `expected` and `expected` plus the
  // timer wheel's lateness, from now.
  void ExpectRetransmitAfter(const ParsedTcp& original, absl::Duration expected,
                             const std::string& what) {
    const auto at = RunUntilSegment(expected * 4);
    ASSERT_TRUE(at) << what << ": no retransmission";
    EXPECT_GE(*at, expected) << what;
    EXPECT_LE(*at, expected + TimerWheel::MaxLateness(expected)) << what;
    const ParsedTcp again = TakeOne();
    EXPECT_SEGMENT(again, original.flags(), original.seq(), original.ack()) << what;
    EXPECT_EQ(again.payload, original.payload) << what;
  }
};

TEST_F(TcpRetransmitTest, RtoAfterZeroRttSampleIs200msAndDoubles) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer);
  ASSERT_EQ(Write(*s, 500), 500);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  ASSERT_EQ(seg.payload.size(), 500u);
  // RTO = SRTT + max(4 RTTVAR, 200 ms) (Linux tcp_set_rto with TCP_RTO_MIN): 200 ms.
  ExpectRetransmitAfter(seg, absl::Milliseconds(200), "first RTO");
  ExpectRetransmitAfter(seg, absl::Milliseconds(400), "second RTO");
  ExpectRetransmitAfter(seg, absl::Milliseconds(800), "third RTO");
  ExpectRetransmitAfter(seg, absl::Milliseconds(1600), "fourth RTO");
  EXPECT_EQ(stats().tcp.TCPTimeouts.value(), 4u);
  EXPECT_EQ(stats().tcp.RetransSegs.value(), 4u);
  // The ACK ends it: nothing more is sent.
  peer.Ack();
  EXPECT_FALSE(RunUntilSegment(absl::Seconds(10)));
  EXPECT_EQ(s->CheckInvariants(), "");
}

TEST_F(TcpRetransmitTest, RtoFollowsTheHandshakeRtt) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer, SynOptions(), absl::Milliseconds(100));
  ASSERT_EQ(Write(*s, 500), 500);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  // SRTT 100 ms, RTTVAR 50 ms: 100 + max(200, 200) = 300 ms.
  ExpectRetransmitAfter(seg, absl::Milliseconds(300), "first RTO");
  ExpectRetransmitAfter(seg, absl::Milliseconds(600), "second RTO");
}

TEST_F(TcpRetransmitTest, RtoIsOneSecondBeforeAnySample) {
  // The SYN's own timer: TCP_TIMEOUT_INIT (RFC 6298 2.1).
  TcpPeer peer(this, 5000);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 5000}), -EINPROGRESS);
  const ParsedTcp syn = TakeOne();
  ExpectRetransmitAfter(syn, absl::Seconds(1), "SYN");
}

TEST_F(TcpRetransmitTest, RtoIsThreeSecondsAfterRetransmittedSynWithoutSample) {
  // RFC 6298 5.7 / Linux TCP_TIMEOUT_FALLBACK: the SYN was retransmitted and, without
  // timestamps, the handshake gave no RTT sample.
  TcpPeer peer(this, 5000);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 5000}), -EINPROGRESS);
  peer.TakeOneAndObserve();
  ASSERT_TRUE(RunUntilSegment(absl::Seconds(2)));
  const ParsedTcp syn = peer.TakeOneAndObserve();
  peer.stack_port = syn.header.src_port;
  peer.SynAck(SynOptions(/*ts=*/false, true, 7));
  peer.TakeOneAndObserve();
  ASSERT_EQ(s->state(), TcpState::kEstablished);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  ExpectRetransmitAfter(seg, absl::Seconds(3), "fallback RTO");
}

TEST_F(TcpRetransmitTest, PassiveOpenTakesRttSampleFromTheHandshake) {
  // Linux tcp_synack_rtt_meas: the SYN-ACK -> ACK time is a sample, so the first data
  // segment's RTO is 50 + 200 ms, not the 1 s of an unmeasured path.
  auto listener = Listen(kPort);
  TcpPeer peer(this, 40000, kPort);
  peer.Syn(SynOptions());
  peer.TakeOneAndObserve();
  Advance(absl::Milliseconds(50));
  peer.Ack();
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  ExpectRetransmitAfter(seg, absl::Milliseconds(250), "first data RTO");
}

TEST_F(TcpRetransmitTest, TimeoutRetransmitsOnlyTheFirstSegmentThenGoesBackN) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer);
  ASSERT_EQ(Write(*s, 3 * kMss), static_cast<ssize_t>(3 * kMss));
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 3u);
  // RFC 6298 5.4 / RFC 5681 3.1: cwnd is one segment after a timeout: the first alone.
  ExpectRetransmitAfter(segs[0], absl::Milliseconds(200), "RTO");
  // Its ACK lets the next two go (slow start from one segment).
  peer.rcv_nxt = segs[0].end_seq();
  peer.Ack();
  std::vector<ParsedTcp> next = TakeTcp();
  ASSERT_GE(next.size(), 1u);
  EXPECT_EQ(next[0].seq(), segs[1].seq());
  EXPECT_EQ(next[0].payload, segs[1].payload);
}

TEST_F(TcpRetransmitTest, FastRetransmitWithoutSackAndNewRenoPartialAck) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer, SynOptions(/*ts=*/true, /*sack=*/false, 7));
  ASSERT_EQ(Write(*s, 5 * kMss), static_cast<ssize_t>(5 * kMss));
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 5u);
  const uint32_t una = segs[0].seq();
  peer.rcv_nxt = una;  // everything from the first segment on is "lost"
  peer.Ack();
  peer.Ack();
  ExpectNothingSent("two duplicate ACKs");
  peer.Ack();
  // RFC 5681 3.2: the third duplicate ACK retransmits the first segment at once.
  ParsedTcp rtx = TakeOne();
  EXPECT_SEGMENT(rtx, segs[0].flags(), una, peer.snd_nxt);
  EXPECT_EQ(rtx.payload, segs[0].payload);
  EXPECT_EQ(stats().tcp.TCPFastRetrans.value(), 1u);
  EXPECT_EQ(stats().tcp.TCPRenoRecovery.value(), 1u);
  EXPECT_EQ(Info(*s).tcpi_ca_state, 3);  // TCP_CA_Recovery
  // A partial ACK (RFC 6582 3.2 step 5): the next hole is retransmitted at once.
  peer.rcv_nxt = segs[2].seq();
  peer.Ack();
  rtx = TakeOne();
  EXPECT_EQ(rtx.seq(), segs[2].seq()) << Describe(rtx);
  EXPECT_EQ(rtx.payload, segs[2].payload);
  // The full ACK ends recovery; nothing is left to send.
  peer.rcv_nxt = segs[4].end_seq();
  peer.Ack();
  ExpectNothingSent("after the full ACK");
  EXPECT_EQ(Info(*s).tcpi_ca_state, 0);
  EXPECT_FALSE(RunUntilSegment(absl::Seconds(5)));
}

TEST_F(TcpRetransmitTest, FastRetransmitWithSackResendsOnlyTheHoles) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer);
  ASSERT_EQ(Write(*s, 6 * kMss), static_cast<ssize_t>(6 * kMss));
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 6u);
  auto range = [&](int first, int last) {
    return SackBlock{segs[first].seq(), segs[last].end_seq()};
  };
  peer.rcv_nxt = segs[0].seq();
  // Segments 0 and 2 are lost; the peer reports the others as they come. Whatever the
  // stack retransmits must not be a segment already SACKed when it did (RFC 6675 NextSeg).
  std::set<int> sacked;
  std::set<uint32_t> resent;
  auto step = [&](std::vector<SackBlock> blocks, std::set<int> now_sacked) {
    peer.AckWithSacks(std::move(blocks));
    sacked.insert(now_sacked.begin(), now_sacked.end());
    for (const auto& x : TakeTcp()) {
      resent.insert(x.seq());
      for (int i = 0; i < 6; ++i) {
        if (x.seq() != segs[i].seq()) continue;
        EXPECT_EQ(x.payload, segs[i].payload);
        EXPECT_FALSE(sacked.count(i)) << "SACKed segment " << i << " resent";
      }
    }
  };
  step({range(1, 1)}, {1});
  step({range(3, 3), range(1, 1)}, {3});
  step({range(3, 4), range(1, 1)}, {4});
  EXPECT_EQ(stats().tcp.TCPSackRecovery.value(), 1u);
  EXPECT_TRUE(resent.count(segs[0].seq())) << "segment 0 not fast-retransmitted";
  step({range(3, 5), range(1, 1)}, {5});
  // Once segment 0 arrives, the ACK stops at the hole at 2: it must go if it has not.
  peer.rcv_nxt = segs[2].seq();
  step({range(3, 5)}, {});
  EXPECT_TRUE(resent.count(segs[2].seq())) << "segment 2 not retransmitted";
  peer.rcv_nxt = segs[5].end_seq();
  peer.Ack();
  ExpectNothingSent("all acknowledged");
  EXPECT_EQ(s->CheckInvariants(), "");
}

// RFC 2018 8: a receiver may throw away data it SACKed (reneging: Linux prunes its
// out-of-order queue under memory pressure). When the cumulative ACK stops at data marked
// SACKed the sender times out soon (Linux tcp_check_sack_reneging: max(SRTT/2, 10 ms)),
// forgets the marks and resends from there. Before, the marks stayed and the timeout's
// go-back-N skipped that data forever: the connection stalled.
TEST_F(TcpRetransmitTest, RenegedSacksAreResentSoon) {
  TcpPeer peer(this, 5000);
  auto s = Open(peer, SynOptions(), absl::Milliseconds(10));
  ASSERT_EQ(Write(*s, 6 * kMss), static_cast<ssize_t>(6 * kMss));
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 6u);
  // Segments 0 and 1 are lost; 2-5 arrive and are SACKed; the holes are resent.
  peer.rcv_nxt = segs[0].seq();
  peer.AckWithSacks({SackBlock{segs[2].seq(), segs[5].end_seq()}});
  TakeTcp();
  // The peer gets 0 and 1 but has dropped 2-5: its ACK stops at 2, with no SACK.
  peer.rcv_nxt = segs[2].seq();
  peer.Ack();
  EXPECT_EQ(stats().tcp.TCPSACKReneging.value(), 1u);
  ExpectRetransmitAfter(segs[2], absl::Milliseconds(10), "reneged data");
  // The marks are gone: its ACK brings 3 next (go-back-N from one segment), not nothing.
  peer.rcv_nxt = segs[2].end_seq();
  peer.Ack();
  const std::vector<ParsedTcp> next = TakeTcp();
  ASSERT_GE(next.size(), 1u);
  EXPECT_EQ(next[0].seq(), segs[3].seq());
  EXPECT_EQ(next[0].payload, segs[3].payload);
  EXPECT_EQ(s->CheckInvariants(), "");
}

// --- RFC 5961 ---

TEST_F(TcpRetransmitTest, RstInWindowButNotExactGetsChallengeAck) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  TcpSpec rst = peer.Spec(kTcpRst);
  rst.seq = peer.snd_nxt + 1000;
  peer.Send(rst);
  const ParsedTcp challenge = TakeOne();
  EXPECT_SEGMENT(challenge, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  EXPECT_EQ(stats().tcp.TCPChallengeACK.value(), 1u);
  // Outside the window: ignored altogether.
  rst.seq = peer.snd_nxt + 0x40000000;
  peer.Send(rst);
  ExpectNothingSent("out-of-window RST");
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  // Exactly rcv_nxt: the connection is reset.
  peer.Rst();
  ExpectNothingSent("a RST is never answered");
  EXPECT_EQ(s->state(), TcpState::kClosed);
}

TEST_F(TcpRetransmitTest, SynInEstablishedGetsChallengeAck) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  for (uint32_t seq : {peer.snd_nxt + 10, peer.snd_nxt - 5000, peer.isn}) {
    TcpSpec syn = peer.Spec(kTcpSyn);
    syn.seq = seq;
    syn.options.mss = 1460;
    peer.Send(syn);
    const ParsedTcp challenge = TakeOne();
    EXPECT_SEGMENT(challenge, kTcpAck, peer.stack_isn + 1, peer.snd_nxt) << "SYN seq " << seq;
    EXPECT_EQ(s->state(), TcpState::kEstablished);
  }
  EXPECT_GE(stats().tcp.TCPChallengeACK.value(), 1u);
  // Data still flows.
  peer.Data(10);
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
}

TEST_F(TcpRetransmitTest, AckAboveSndNxtIsAnsweredAndDropped) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  TcpSpec bad = peer.Spec(kTcpAck | kTcpPsh);
  bad.ack = peer.stack_isn + 1 + 5000;  // nothing was sent
  bad.payload = Pattern(100);
  peer.Send(bad);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);  // the data not taken
  EXPECT_EQ(s->BytesReadable(), 0);
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  EXPECT_EQ(s->CheckInvariants(), "");
}

TEST_F(TcpRetransmitTest, AckFarBelowSndUnaGetsChallengeAck) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  // RFC 5961 5.2: SEG.ACK < SND.UNA - MAX.SND.WND is a blind injection: challenge, drop.
  TcpSpec bad = peer.Spec(kTcpAck | kTcpPsh);
  bad.ack = peer.stack_isn - 0x200000;
  bad.payload = Pattern(100);
  peer.Send(bad);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->BytesReadable(), 0);
}

// --- RST in each state ---

TEST_F(TcpRetransmitTest, RstInSynSentWithAcceptableAckRefuses) {
  TcpPeer peer(this, 5000);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, 5000}), -EINPROGRESS);
  const ParsedTcp syn = peer.TakeOneAndObserve();
  peer.stack_port = syn.header.src_port;
  TcpSpec rst = peer.Spec(kTcpRst | kTcpAck);
  rst.seq = 0;
  rst.options = {};
  peer.Send(rst);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(SoError(*s), ECONNREFUSED);
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpRetransmitTest, RstInEstablishedResetsThenEpipe) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  peer.Rst();
  ExpectNothingSent("RST");
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(s->Poll() & (POLLERR | POLLHUP), static_cast<uint32_t>(POLLERR | POLLHUP));
  ssize_t r = 0;
  Read(*s, 100, &r);
  EXPECT_EQ(r, -ECONNRESET);
  Read(*s, 100, &r);
  EXPECT_EQ(r, 0);  // then end of stream
  EXPECT_EQ(Write(*s, 10), -EPIPE);
  EXPECT_EQ(stats().tcp.EstabResets.value(), 1u);
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpRetransmitTest, RstInEstablishedFailsSendWithEconnreset) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  peer.Rst();
  // Linux: the pending error goes to whichever call comes first, then EPIPE.
  EXPECT_EQ(Write(*s, 10), -ECONNRESET);
  EXPECT_EQ(Write(*s, 10), -EPIPE);
}

TEST_F(TcpRetransmitTest, RstInCloseWaitGivesEpipe) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  peer.Fin();
  peer.TakeAndObserve();
  ASSERT_EQ(s->state(), TcpState::kCloseWait);
  peer.Rst();
  EXPECT_EQ(s->state(), TcpState::kClosed);
  ssize_t r = -1;
  Read(*s, 100, &r);
  EXPECT_EQ(r, 0);  // the FIN came first: end of stream
  EXPECT_EQ(Write(*s, 10), -EPIPE);
}

TEST_F(TcpRetransmitTest, RstInFinWait1AndFinWait2EndsTheConnection) {
  for (bool fin_acked : {false, true}) {
    SCOPED_TRACE(fin_acked ? "FIN-WAIT-2" : "FIN-WAIT-1");
    const uint16_t port = fin_acked ? 81 : 80;
    TcpPeer peer(this, 40000, port);
    auto listener = Listen(port);
    auto s = PassiveOpen(peer, SynOptions(), listener.get());
    ASSERT_TRUE(s);
    listener->Close();
    ASSERT_EQ(s->Shutdown(SHUT_WR), 0);
    const ParsedTcp fin = peer.TakeOneAndObserve();
    ASSERT_TRUE(fin.header.fin());
    if (fin_acked) {
      peer.Ack();
      ASSERT_EQ(s->state(), TcpState::kFinWait2);
    } else {
      ASSERT_EQ(s->state(), TcpState::kFinWait1);
    }
    peer.Rst();
    ExpectNothingSent("RST");
    EXPECT_EQ(s->state(), TcpState::kClosed);
    EXPECT_EQ(tcp_connections(), 0u);
  }
}

TEST_F(TcpRetransmitTest, RstInLastAckEndsTheConnection) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  peer.Fin();
  peer.TakeAndObserve();
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  ASSERT_TRUE(fin.header.fin());
  ASSERT_EQ(s->state(), TcpState::kLastAck);
  peer.Rst();
  ExpectNothingSent("RST");
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpRetransmitTest, RstInTimeWaitEndsItOnlyAtRcvNxt) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  ASSERT_TRUE(s);
  s->Close();
  peer.TakeOneAndObserve();  // FIN
  peer.Fin();                // ACKs ours and closes
  peer.TakeOneAndObserve();  // our ACK
  ASSERT_EQ(s->state(), TcpState::kTimeWait);
  // Linux tcp_timewait_state_process: only an in-window RST (seq == rcv_nxt) kills
  // TIME-WAIT (the RFC 1337 hazard is accepted for it); others get nothing.
  TcpSpec stray = peer.Spec(kTcpRst);
  stray.seq = peer.snd_nxt + 12345;
  peer.Send(stray);
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  TakeTcp();
  peer.Rst();
  ExpectNothingSent("RST");
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stack_->tcp().time_wait_count(), 0u);
}

}  // namespace
}  // namespace netshim::testing
