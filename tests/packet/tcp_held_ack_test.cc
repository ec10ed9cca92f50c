// ACKs held for a reply (TcpProtocol's held ACKs): frames processed for a thread that polls
// between its application's calls (inside a HoldAcksScope, as Dispatcher::CallerPoll runs
// them) leave the quick ACK of a request, or the handshake's ACK, for the application's
// reply to carry. What no reply carried goes when the application has read the data and
// polls again, after the hold time, or when everything is released (a thread sleeps); an
// ACK the sender counts on (out of order, every second full segment) is never held.
#include "stack/transport/tcp/tcp_protocol.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;
constexpr uint32_t kMss = 1448;  // 1460 less the timestamp option

class TcpHeldAckTest : public TcpPacketTest {
 protected:
  // The peer's segment, processed as a lease holder's poll processes it.
  void AsHolder(const std::function<void()>& send) {
    TcpProtocol::HoldAcksScope hold;
    send();
  }
  void AgeHeld() {
    stack_->tcp().ReleaseHeldAcks(/*all=*/false);
    Run();
  }
  void ReleaseAll() {
    stack_->tcp().ReleaseHeldAcks(/*all=*/true);
    Run();
  }
};

TEST_F(TcpHeldAckTest, TheRequestsAckRidesOnTheResponse) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  ExpectNothingSent("the request's quick ACK was not held");
  AgeHeld();
  ExpectNothingSent("released before the application had read the request");
  EXPECT_EQ(Read(*s).size(), 100u);
  ASSERT_EQ(Write(*s, 50), 50);
  const ParsedTcp response = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(response, kTcpAck | kTcpPsh, peer.stack_isn + 1, peer.isn + 1 + 100);
  EXPECT_EQ(response.payload.size(), 50u);
  AgeHeld();
  ReleaseAll();
  ExpectNothingSent("a second ACK after the response carried it");
}

TEST_F(TcpHeldAckTest, ARequestReadButNotAnsweredIsAckedAtTheNextPoll) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  ExpectNothingSent("held");
  EXPECT_EQ(Read(*s).size(), 100u);
  ExpectNothingSent("sent by the read itself");
  AgeHeld();
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100);
  AgeHeld();
  ExpectNothingSent("sent twice");
}

TEST_F(TcpHeldAckTest, AnUnreadRequestIsAckedAfterTheHoldTime) {
  TcpConfig config;
  config.ack_hold_time = absl::Milliseconds(5);
  BuildWithTcp(config);
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  Advance(absl::Milliseconds(4));
  AgeHeld();
  ExpectNothingSent("released before the hold time");
  Advance(absl::Milliseconds(1));
  ExpectNothingSent("the timers released it (only polls do)");
  AgeHeld();
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100);
}

TEST_F(TcpHeldAckTest, ReleasingAllSendsAtOnce) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  ExpectNothingSent("held");
  ReleaseAll();
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100);
}

TEST_F(TcpHeldAckTest, OutsideAHoldersPollNothingIsHeld) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  peer.Data(100);
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100);
}

TEST_F(TcpHeldAckTest, AZeroHoldTimeHoldsNothing) {
  TcpConfig config;
  config.ack_hold_time = absl::ZeroDuration();
  BuildWithTcp(config);
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100);
}

// The every-second-full-segment ACK clocks a bulk sender (RFC 5681 4.2): never held; it
// covers the segment held before it.
TEST_F(TcpHeldAckTest, TheSecondFullSegmentIsAckedAtOnce) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] {
    peer.Data(kMss);
    ExpectNothingSent("one full segment's quick ACK is held");
    peer.Data(kMss);
  });
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  ReleaseAll();
  ExpectNothingSent("the held ACK went again");
}

// Duplicate ACKs with SACK blocks tell the sender of a loss (RFC 5681 4.2, RFC 2018): at
// once, even for a holder.
TEST_F(TcpHeldAckTest, OutOfOrderDataIsAckedAtOnce) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  const uint32_t base = peer.snd_nxt;
  AsHolder([&] {
    TcpSpec spec = peer.Spec(kTcpAck | kTcpPsh);
    spec.seq = base + 100;
    spec.payload = Pattern(100, 100);
    peer.Send(spec);
  });
  const ParsedTcp dup = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, base);
  EXPECT_FALSE(dup.sacks().empty());
}

// Linux delays the handshake's ACK when a write is pending (tcp_rcv_synsent_state_process):
// the first request carries it.
TEST_F(TcpHeldAckTest, TheHandshakesAckRidesOnTheFirstRequest) {
  TcpPeer peer(this, 40000, 5000);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, peer.port}), -EINPROGRESS);
  const ParsedTcp syn = peer.TakeOneAndObserve();
  peer.stack_port = syn.header.src_port;
  AsHolder([&] { peer.SynAck(SynOptions()); });
  ExpectNothingSent("the handshake's ACK was not held");
  EXPECT_EQ(s->state(), TcpState::kEstablished);
  ASSERT_EQ(Write(*s, 60), 60);
  const ParsedTcp request = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(request, kTcpAck | kTcpPsh, peer.stack_isn + 1, peer.isn + 1);
  EXPECT_EQ(request.payload.size(), 60u);
  ReleaseAll();
  ExpectNothingSent("a bare ACK after the request carried it");
}

// A client waiting for the server to speak first sleeps: its sleep releases the ACK.
TEST_F(TcpHeldAckTest, TheHandshakesAckGoesWhenTheClientWaitsInstead) {
  TcpPeer peer(this, 40000, 5000);
  auto s = NewSocket();
  ASSERT_EQ(s->Connect({kPeerIp, peer.port}), -EINPROGRESS);
  peer.stack_port = peer.TakeOneAndObserve().header.src_port;
  AsHolder([&] { peer.SynAck(SynOptions()); });
  ExpectNothingSent("held");
  ReleaseAll();
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.isn + 1);
}

// A connection that goes away while its ACK is held: nothing is sent for it, nothing breaks.
TEST_F(TcpHeldAckTest, AConnectionResetWhileHeldSendsNothing) {
  TcpPeer peer(this, 40000, kPort);
  auto s = PassiveOpen(peer, SynOptions());
  AsHolder([&] { peer.Data(100); });
  peer.Rst();
  EXPECT_EQ(s->state(), TcpState::kClosed);
  ReleaseAll();
  ExpectNothingSent("an ACK for a reset connection");
}

}  // namespace
}  // namespace netshim::testing
