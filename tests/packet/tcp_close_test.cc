// Closing connections, segment by segment (RFC 9293 3.6, Linux tcp_close/tcp_fin): active
// and passive close, simultaneous close, half-close, aborts (unread data, SO_LINGER 0,
// data after close), TIME-WAIT's 60 s and its reuse by a new SYN (RFC 6191), and the
// FIN-WAIT-2 timeout of orphans (tcp_fin_timeout).
#include <netinet/in.h>
#include <poll.h>

#include "stack/runtime/timer_wheel.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;
const absl::Duration kTimeWait = absl::Seconds(60);

class TcpCloseTest : public TcpPacketTest {
 protected:
  std::shared_ptr<TcpSocket> Open(TcpPeer& peer, TcpSocket* listener = nullptr) {
    auto s = PassiveOpen(peer, SynOptions(), listener);
    EXPECT_TRUE(s);
    return s;
  }
  // Runs until `s` is CLOSED (or `limit`): how long it took; fails if anything is sent.
  absl::Duration RunUntilClosed(TcpSocket& s, absl::Duration limit) {
    const absl::Time start = clock_.Now();
    auto segs = RunUntil([&] { return s.state() == TcpState::kClosed; }, limit);
    for (const auto& t : segs) ADD_FAILURE() << "sent while waiting: " << Describe(t.seg);
    return clock_.Now() - start;
  }
};

TEST_F(TcpCloseTest, ActiveCloseThroughFinWaitAndTimeWait) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(fin, kTcpFin | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_TRUE(fin.payload.empty());
  EXPECT_EQ(s->state(), TcpState::kFinWait1);
  peer.Ack();
  ExpectNothingSent("the ACK of our FIN");
  EXPECT_EQ(s->state(), TcpState::kFinWait2);
  peer.Fin();
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  EXPECT_EQ(stack_->tcp().time_wait_count(), 1u);
  EXPECT_EQ(tcp_connections(), 1u);
  // TIME-WAIT lasts 60 s (Linux TCP_TIMEWAIT_LEN), silently.
  Advance(kTimeWait - absl::Seconds(1));
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  const absl::Duration rest = RunUntilClosed(*s, absl::Seconds(30));
  EXPECT_LE(kTimeWait - absl::Seconds(1) + rest, kTimeWait + TimerWheel::MaxLateness(kTimeWait));
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stack_->tcp().time_wait_count(), 0u);
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpCloseTest, RetransmittedFinInTimeWaitIsAckedAndRestartsTheTimer) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  peer.TakeOneAndObserve();
  peer.Fin();  // acks our FIN and sends its own
  peer.TakeOneAndObserve();
  ASSERT_EQ(s->state(), TcpState::kTimeWait);
  Advance(absl::Seconds(30));
  // Our ACK was lost: the peer's FIN again.
  TcpSpec again = peer.Spec(kTcpFin | kTcpAck);
  again.seq = peer.snd_nxt - 1;
  peer.Send(again);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  // RFC 9293 3.10.7.4: the 2 MSL wait restarts.
  Advance(absl::Seconds(45));  // 75 s after entering, 45 s after the restart
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  const absl::Duration rest = RunUntilClosed(*s, absl::Seconds(60));
  EXPECT_GE(absl::Seconds(45) + rest, kTimeWait);
  EXPECT_LE(absl::Seconds(45) + rest, kTimeWait + TimerWheel::MaxLateness(kTimeWait));
}

TEST_F(TcpCloseTest, PassiveCloseCloseWaitThenLastAck) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Data(Pattern(20));
  peer.TakeAndObserve();
  peer.Fin();
  // The FIN is acknowledged (Linux may delay it a little, hoping to carry our FIN).
  ASSERT_TRUE(RunUntilSegment(absl::Milliseconds(200)));
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kCloseWait);
  EXPECT_EQ(s->Poll() & (POLLIN | POLLRDHUP), static_cast<uint32_t>(POLLIN | POLLRDHUP));
  EXPECT_EQ(s->Poll() & POLLHUP, 0u);
  EXPECT_EQ(Read(*s), Pattern(20));
  ssize_t r = -1;
  Read(*s, 100, &r);
  EXPECT_EQ(r, 0);  // end of stream
  // The other direction still works in CLOSE-WAIT.
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 30), 30);
  const ParsedTcp data = peer.TakeOneAndObserve();
  EXPECT_EQ(data.payload.size(), 30u);
  peer.Ack();
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(fin, kTcpFin | kTcpAck, peer.stack_isn + 31, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kLastAck);
  peer.Ack();
  ExpectNothingSent("the last ACK");
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(tcp_connections(), 0u);
  EXPECT_EQ(stack_->tcp().time_wait_count(), 0u);
}

TEST_F(TcpCloseTest, PeerFinIsAckedByOurFinWhenTheApplicationClosesAtOnce) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Data(Pattern(20));
  const ParsedTcp data_ack = peer.TakeOneAndObserve();  // quick ACKs at the start
  EXPECT_SEGMENT(data_ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  peer.Fin();
  EXPECT_EQ(s->state(), TcpState::kCloseWait);
  // Linux tcp_fin: pingpong mode delays the FIN's ACK.
  ExpectNothingSent("a bare ACK of the peer's FIN");
  EXPECT_EQ(Read(*s), Pattern(20));
  Advance(absl::Milliseconds(5));
  s->Close();
  // One segment: our FIN carries the ACK of the peer's.
  const ParsedTcp fin = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(fin, kTcpFin | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kLastAck);
  Advance(absl::Milliseconds(40));
  ExpectNothingSent("a delayed ACK after the FIN carried it");
}

TEST_F(TcpCloseTest, FinBeyondAHoleIsTakenWhenTheHoleFills) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  const uint32_t base = peer.snd_nxt;
  // [100,150) + FIN arrive before [0,100).
  TcpSpec late = peer.Spec(kTcpAck | kTcpFin);
  late.seq = base + 100;
  late.payload = Pattern(50, 100);
  peer.Send(late);
  ParsedTcp dup = TakeOne();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, base);
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  peer.Data(Pattern(100));
  peer.snd_nxt = base + 151;
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, base + 151);  // data and FIN
  EXPECT_EQ(s->state(), TcpState::kCloseWait);
  EXPECT_EQ(Read(*s), Pattern(150));
  ssize_t r = -1;
  Read(*s, 10, &r);
  EXPECT_EQ(r, 0);
}

TEST_F(TcpCloseTest, LastAckRetransmitsFin) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Fin();
  RunUntilSegment(absl::Milliseconds(200));
  peer.TakeAndObserve();
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  ASSERT_TRUE(fin.header.fin());
  // No ACK: the FIN goes again after the RTO (1 s, no sample on this connection yet, or
  // less with one).
  const auto at = RunUntilSegment(absl::Seconds(5));
  ASSERT_TRUE(at);
  EXPECT_LE(*at, absl::Seconds(1) + TimerWheel::MaxLateness(absl::Seconds(1)));
  const ParsedTcp again = TakeOne();
  EXPECT_SEGMENT(again, kTcpFin | kTcpAck, fin.seq(), peer.snd_nxt);
  peer.Ack();
  EXPECT_EQ(s->state(), TcpState::kClosed);
}

TEST_F(TcpCloseTest, SimultaneousCloseGoesThroughClosing) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(s->Shutdown(SHUT_WR), 0);
  const ParsedTcp fin = TakeOne();  // not observed: the peer's FIN crosses it
  ASSERT_EQ(fin.flags(), kTcpFin | kTcpAck);
  peer.Fin();  // acks only up to our FIN, not it
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kClosing);
  peer.Observe(fin);
  peer.Ack();
  ExpectNothingSent("the ACK of our FIN in CLOSING");
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
}

TEST_F(TcpCloseTest, HalfCloseKeepsReceiving) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(s->Shutdown(SHUT_WR), 0);
  const ParsedTcp fin = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(fin, kTcpFin | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(Write(*s, 10), -EPIPE);
  peer.Ack();
  EXPECT_EQ(s->state(), TcpState::kFinWait2);
  EXPECT_NE(s->Poll() & POLLOUT, 0u);  // Linux: SEND_SHUTDOWN reads as writable
  for (int i = 0; i < 3; ++i) {
    peer.Data(Pattern(100, 100 * i));
    const ParsedTcp ack = peer.TakeOneAndObserve();
    EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  }
  EXPECT_EQ(Read(*s), Pattern(300));
  EXPECT_EQ(s->state(), TcpState::kFinWait2);
  peer.Fin();
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  ssize_t r = -1;
  Read(*s, 10, &r);
  EXPECT_EQ(r, 0);
}

TEST_F(TcpCloseTest, DataUnreadWhenTimeWaitBeginsStaysReadable) {
  // Entering TIME-WAIT gives an empty receive queue's storage back, but a half-closed
  // socket gets there before its program reads: those bytes, small segments (copied) and
  // full ones (kept as received) alike, are still read, then end-of-file.
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(s->Shutdown(SHUT_WR), 0);
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(s->state(), TcpState::kFinWait2);
  peer.Data(Pattern(100));
  peer.Data(Pattern(1400, 100));
  peer.Data(Pattern(10, 1500));
  peer.TakeAndObserve();
  peer.Fin();
  peer.TakeAndObserve();
  ASSERT_EQ(s->state(), TcpState::kTimeWait);
  EXPECT_NE(s->Poll() & POLLIN, 0u);
  EXPECT_EQ(Read(*s), Pattern(1510));
  ssize_t r = -1;
  Read(*s, 10, &r);
  EXPECT_EQ(r, 0);
}

TEST_F(TcpCloseTest, CloseWithUnreadDataSendsRst) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Data(50);
  peer.TakeAndObserve();
  s->Close();
  // RFC 2525 2.17 / Linux tcp_close: RST, not FIN, when data was never read.
  const ParsedTcp rst = TakeOne();
  EXPECT_SEGMENT(rst, kTcpRst | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_TRUE(rst.payload.empty());
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stats().tcp.TCPAbortOnClose.value(), 1u);
  EXPECT_EQ(tcp_connections(), 0u);
  // The peer's next segment meets no connection: a RST from the closed port.
  peer.Data(10);
  const ParsedTcp reply = TakeOne();
  EXPECT_SEGMENT(reply, kTcpRst, peer.rcv_nxt, 0);
}

TEST_F(TcpCloseTest, LingerZeroSendsRst) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  const linger l{1, 0};
  ASSERT_EQ(s->SetSockOpt(SOL_SOCKET, SO_LINGER, {reinterpret_cast<const uint8_t*>(&l), sizeof(l)}),
            0);
  EXPECT_EQ(s->LingerTimeout(), std::nullopt);
  s->Close();
  const ParsedTcp rst = TakeOne();
  EXPECT_SEGMENT(rst, kTcpRst | kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stats().tcp.TCPAbortOnLinger.value(), 1u);
  EXPECT_EQ(stack_->tcp().time_wait_count(), 0u);
}

TEST_F(TcpCloseTest, OrphanInFinWait2TimesOutAfter60s) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(s->state(), TcpState::kFinWait2);
  // The peer never closes: tcp_fin_timeout (60 s), then the connection is gone silently.
  Advance(absl::Seconds(59));
  EXPECT_EQ(s->state(), TcpState::kFinWait2);
  const absl::Duration rest = RunUntilClosed(*s, absl::Seconds(30));
  EXPECT_LE(absl::Seconds(59) + rest,
            absl::Seconds(60) + TimerWheel::MaxLateness(absl::Seconds(60)));
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpCloseTest, HalfClosedSocketNotOrphanedStaysInFinWait2) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(s->Shutdown(SHUT_WR), 0);
  peer.TakeOneAndObserve();
  peer.Ack();
  // Not closed by the application: no FIN-WAIT-2 timeout (Linux applies it to orphans).
  auto segs = RunFor(absl::Seconds(300));
  EXPECT_TRUE(segs.empty());
  EXPECT_EQ(s->state(), TcpState::kFinWait2);
}

TEST_F(TcpCloseTest, DataAfterCloseIsAnsweredWithRst) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  ASSERT_TRUE(fin.header.fin());
  // Data for a socket nobody can read (Linux tcp_rcv_state_process, TCPAbortOnData): the
  // connection is reset. (Linux answers from tcp_v4_send_reset: <SEQ=SEG.ACK><CTL=RST>;
  // RST|ACK at snd_nxt is as good for the peer: the same sequence number.)
  peer.Data(Pattern(40));
  const ParsedTcp rst = TakeOne();
  EXPECT_TRUE(rst.header.rst()) << Describe(rst);
  EXPECT_EQ(rst.seq(), peer.rcv_nxt);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stats().tcp.TCPAbortOnData.value(), 1u);
  EXPECT_EQ(tcp_connections(), 0u);
}

TEST_F(TcpCloseTest, DataAfterCloseInFinWait2IsAnsweredWithRst) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(s->state(), TcpState::kFinWait2);
  peer.Data(Pattern(40));
  const ParsedTcp rst = TakeOne();
  EXPECT_TRUE(rst.header.rst()) << Describe(rst);
  EXPECT_EQ(rst.seq(), peer.rcv_nxt);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  EXPECT_EQ(stats().tcp.TCPAbortOnData.value(), 1u);
}

TEST_F(TcpCloseTest, DataInTimeWaitIsAckedAgain) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  peer.TakeOneAndObserve();
  peer.Fin();
  peer.TakeOneAndObserve();
  ASSERT_EQ(s->state(), TcpState::kTimeWait);
  // Linux tcp_timewait_state_process: anything but a RST, a new SYN or a bare in-window
  // ACK gets the final ACK again (TCP_TW_ACK).
  TcpSpec data = peer.Spec(kTcpAck | kTcpPsh);
  data.payload = Pattern(10);
  peer.Send(data);
  EXPECT_SEGMENT(TakeOne(), kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
}

TEST_F(TcpCloseTest, BareAckInTimeWaitIsTakenSilently) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  s->Close();
  peer.TakeOneAndObserve();
  peer.Fin();
  peer.TakeOneAndObserve();
  ASSERT_EQ(s->state(), TcpState::kTimeWait);
  // Linux: "in window segment, it may be only reset or bare ack": no answer, and the
  // TIME-WAIT timer restarts (inet_twsk_reschedule).
  Advance(absl::Seconds(30));
  peer.Ack();
  ExpectNothingSent("a bare in-window ACK in TIME-WAIT");
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
  Advance(absl::Seconds(45));  // 75 s in, 45 s after the restart
  EXPECT_EQ(s->state(), TcpState::kTimeWait);
}

TEST_F(TcpCloseTest, TimeWaitReusedByNewerSynGoesToTheListener) {
  auto listener = Listen(kPort);
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer, listener.get());
  s->Close();
  peer.TakeOneAndObserve();
  peer.Fin();
  peer.TakeOneAndObserve();
  ASSERT_EQ(s->state(), TcpState::kTimeWait);

  // An old SYN (below rcv_nxt, older timestamp): TIME-WAIT answers with its ACK.
  TcpSpec old_syn;
  old_syn.src_port = peer.port;
  old_syn.dst_port = kPort;
  old_syn.seq = peer.isn - 100000;
  old_syn.flags = kTcpSyn;
  old_syn.options = SynOptions(true, true, 7, 1460, 10);
  peer.Send(old_syn);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 2, peer.snd_nxt);
  EXPECT_EQ(s->state(), TcpState::kTimeWait);

  // RFC 6191 / RFC 9293 3.10.7.4: a SYN above rcv_nxt (and a newer timestamp) reopens the
  // tuple: the listener answers with a SYN-ACK.
  TcpPeer again(this, 40000, kPort, peer.snd_nxt + 100000);
  again.Syn(SynOptions(true, true, 7, 1460, peer.tsval + 1000));
  const ParsedTcp synack = again.TakeOneAndObserve();
  EXPECT_SEGMENT(synack, kTcpSyn | kTcpAck, synack.seq(), again.isn + 1);
  EXPECT_EQ(s->state(), TcpState::kClosed);
  again.Ack();
  ExpectNothingSent("the new handshake's ACK");
  auto child = Accept(*listener);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->state(), TcpState::kEstablished);
  again.Data(5);
  EXPECT_SEGMENT(again.TakeOneAndObserve(), kTcpAck, synack.seq() + 1, again.snd_nxt);
}

}  // namespace
}  // namespace netshim::testing
