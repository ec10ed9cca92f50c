// Data transfer, segment by segment: ACK clocking (RFC 1122 4.2.3.2, RFC 5681 4.2), Linux's
// quick-ACK start and 40 ms delayed ACK, out-of-order data with SACK (RFC 2018) and D-SACK
// (RFC 2883), the receive window (RFC 9293 3.8.6.2.2) down to zero and its probes,
// the persist timer (RFC 9293 3.8.6.1), Nagle (RFC 896, Linux's Minshall variant),
// TCP_NODELAY, TCP_CORK and PAWS (RFC 7323 5).
#include <netinet/in.h>
#include <poll.h>

#include "stack/runtime/timer_wheel.h"
#include "stack/transport/tcp/seq.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;
constexpr uint32_t kMss = 1448;  // 1460 less the timestamp option

class TcpDataTest : public TcpPacketTest {
 protected:
  // A passive open with everything offered (TS, SACK, window scale 7).
  std::shared_ptr<TcpSocket> Open(TcpPeer& peer, const TcpOptions& syn = SynOptions()) {
    auto s = PassiveOpen(peer, syn);
    EXPECT_TRUE(s);
    return s;
  }
  // Linux starts in quick-ACK mode (TCP_MAX_QUICKACKS = 16 segments acked at once); this
  // spends it with small segments, each acknowledged at once.
  void SpendQuickAcks(TcpPeer& peer) {
    for (int i = 0; i < 16; ++i) {
      peer.Data(10);
      const std::vector<ParsedTcp> acks = peer.TakeAndObserve();
      ASSERT_EQ(acks.size(), 1u) << "quick ACK " << i;
      EXPECT_SEGMENT(acks[0], kTcpAck, peer.rcv_nxt, peer.snd_nxt);
    }
  }
  // Sends `n` bytes of data so that the stack's application reads nothing of it; every ACK
  // in between is observed.
  std::vector<ParsedTcp> SendSegments(TcpPeer& peer, int count, size_t size) {
    std::vector<ParsedTcp> acks;
    for (int i = 0; i < count; ++i) {
      peer.Data(size);
      for (auto& s : peer.TakeAndObserve()) acks.push_back(s);
    }
    return acks;
  }
  // The peer sends full segments up to every right edge the stack offers until the
  // window is closed; the last ACK.
  ParsedTcp FillWindow(TcpPeer& peer) {
    peer.Data(kMss);
    ParsedTcp last = peer.TakeOneAndObserve();
    uint32_t edge = last.ack() + (uint32_t{last.window()} << 7);
    for (int guard = 0; guard < 200 && SeqLt(peer.snd_nxt, edge); ++guard) {
      const uint32_t room = edge - peer.snd_nxt;
      peer.Data(std::min(room, kMss));
      for (auto& a : peer.TakeAndObserve()) {
        last = a;
        edge = SeqMax(edge, a.ack() + (uint32_t{a.window()} << 7));
      }
    }
    Advance(absl::Milliseconds(40));
    for (auto& a : peer.TakeAndObserve()) last = a;
    return last;
  }
};

TEST_F(TcpDataTest, QuickAcksAtStart) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  for (int i = 0; i < 5; ++i) {
    peer.Data(100);
    const ParsedTcp ack = peer.TakeOneAndObserve();
    EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.isn + 1 + 100 * (i + 1));
    ASSERT_TRUE(ack.ts());
    EXPECT_EQ(ack.ts()->echo, peer.tsval - 1);  // the segment just received
  }
  EXPECT_EQ(Read(*s).size(), 500u);
}

TEST_F(TcpDataTest, DelayedAckAfter40MsOnceQuickAcksAreSpent) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  peer.Data(10);
  ExpectNothingSent("a single small segment is acked later");
  Advance(absl::Milliseconds(39));
  ExpectNothingSent("39 ms");
  Advance(absl::Milliseconds(1));
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(stats().tcp.DelayedACKs.value(), 1u);
  Advance(absl::Seconds(1));
  ExpectNothingSent("one ACK is enough");
}

TEST_F(TcpDataTest, QuickAcksAgainAfterAnIdlePeriod) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  peer.Data(10);
  ExpectNothingSent("delayed");
  Advance(absl::Milliseconds(40));
  peer.TakeAndObserve();
  // Linux tcp_event_data_recv: data after a silence longer than the RTO re-enters
  // quick-ACK mode.
  Advance(absl::Seconds(3));
  peer.Data(10);
  EXPECT_SEGMENT(peer.TakeOneAndObserve(), kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
}

TEST_F(TcpDataTest, AckEverySecondFullSizedSegment) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  for (int i = 1; i <= 6; ++i) {
    peer.Data(kMss);
    const std::vector<ParsedTcp> acks = peer.TakeAndObserve();
    if (i % 2 == 1) {
      EXPECT_TRUE(acks.empty()) << "segment " << i << " acked alone";
    } else {
      ASSERT_EQ(acks.size(), 1u) << "segment " << i;
      EXPECT_SEGMENT(acks[0], kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
    }
  }
  EXPECT_EQ(s->BytesReadable(), static_cast<int>(16 * 10 + 6 * kMss));
}

// With receive offloads the kernel hands us its TSO segments whole: one segment of many
// MSS (longer than the MTU). It is taken whole, acknowledged at once (more than two full
// segments' worth arrived, RFC 9293 3.8.6.3 / Linux __tcp_ack_snd_check), and does not
// teach us an MSS larger than the one we advertised.
TEST_F(TcpDataTest, CoalescedSegmentLongerThanTheMtuIsTakenWhole) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  const int before = s->BytesReadable();
  peer.Data(20 * kMss);
  const std::vector<ParsedTcp> acks = peer.TakeAndObserve();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_SEGMENT(acks[0], kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->BytesReadable(), before + static_cast<int>(20 * kMss));
  tcp_info info{};
  socklen_t len = sizeof(info);
  ASSERT_EQ(s->GetSockOpt(IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_LE(info.tcpi_rcv_mss, 1460u);
}

TEST_F(TcpDataTest, OutOfOrderGetsImmediateDupAckWithSackBlocksInRfc2018Order) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  const uint32_t base = peer.snd_nxt;  // rcv_nxt of the stack
  auto send_at = [&](uint32_t offset, size_t len) {
    TcpSpec spec = peer.Spec(kTcpAck | kTcpPsh);
    spec.seq = base + offset;
    spec.payload = Pattern(len, offset);
    peer.Send(spec);
  };
  // [0,100) is lost; [100,200) arrives: a duplicate ACK at once, SACKing it.
  send_at(100, 100);
  ParsedTcp dup = TakeOne();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, base);
  EXPECT_EQ(dup.sacks(), (std::vector<SackBlock>{{base + 100, base + 200}}));
  // Layout NOP NOP TS NOP NOP SACK: 20 + 12 + 12 bytes.
  EXPECT_EQ(dup.header.header_length, 44);
  EXPECT_EQ(dup.raw_options[12], kTcpOptNop);
  EXPECT_EQ(dup.raw_options[13], kTcpOptNop);
  EXPECT_EQ(dup.raw_options[14], kTcpOptSack);
  EXPECT_EQ(dup.raw_options[15], 10);

  // [300,400): the block with the newest segment first (RFC 2018 4), then the older one.
  send_at(300, 100);
  dup = TakeOne();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, base);
  EXPECT_EQ(dup.sacks(),
            (std::vector<SackBlock>{{base + 300, base + 400}, {base + 100, base + 200}}));
  // [500,600), then [200,300) which joins the first two blocks: it leads the list.
  send_at(500, 100);
  dup = TakeOne();
  EXPECT_EQ(dup.sacks(),
            (std::vector<SackBlock>{
                {base + 500, base + 600}, {base + 300, base + 400}, {base + 100, base + 200}}));
  send_at(200, 100);
  dup = TakeOne();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, base);
  EXPECT_EQ(dup.sacks(),
            (std::vector<SackBlock>{{base + 100, base + 400}, {base + 500, base + 600}}));
  EXPECT_EQ(s->BytesReadable(), 160);  // only what came in order

  // Filling the first hole: an immediate ACK up to the next hole, SACKing what remains.
  send_at(0, 100);
  ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, base + 400);
  EXPECT_EQ(ack.sacks(), (std::vector<SackBlock>{{base + 500, base + 600}}));
  // And the last hole: everything acknowledged at once, no SACK left.
  send_at(400, 100);
  ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, base + 600);
  EXPECT_TRUE(ack.sacks().empty()) << Describe(ack);
  EXPECT_EQ(ack.header.header_length, 32);
  const Bytes data = Read(*s);
  ASSERT_EQ(data.size(), 160u + 600u);
  EXPECT_EQ(Bytes(data.begin() + 160, data.end()), Pattern(600));
}

TEST_F(TcpDataTest, DuplicateSegmentIsReportedWithDsack) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  const uint32_t start = peer.snd_nxt;
  peer.Data(100);
  peer.TakeOneAndObserve();
  // The same segment again (our ACK was lost, say): RFC 2883 4.1, a D-SACK block for it.
  TcpSpec dup = peer.Spec(kTcpAck | kTcpPsh);
  dup.seq = start;
  dup.payload = Pattern(100);
  peer.Send(dup);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, start + 100);
  EXPECT_EQ(ack.sacks(), (std::vector<SackBlock>{{start, start + 100}})) << Describe(ack);
  EXPECT_EQ(s->BytesReadable(), 100);
}

TEST_F(TcpDataTest, PartlyDuplicateSegmentIsReportedWithDsack) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  const uint32_t start = peer.snd_nxt;
  peer.Data(100);
  peer.TakeOneAndObserve();
  // [50,200): the first half is old. RFC 2883 4.1.
  TcpSpec seg = peer.Spec(kTcpAck | kTcpPsh);
  seg.seq = start + 50;
  seg.payload = Pattern(150, 50);
  peer.snd_nxt = start + 200;
  peer.Send(seg);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, start + 200);
  EXPECT_EQ(ack.sacks(), (std::vector<SackBlock>{{start + 50, start + 100}})) << Describe(ack);
  EXPECT_EQ(Read(*s), Pattern(200));
}

TEST_F(TcpDataTest, WindowShrinksAsDataQueuesAndUpdatesAfterRead) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  std::vector<ParsedTcp> acks = SendSegments(peer, 24, kMss);
  ASSERT_GE(acks.size(), 12u);
  // Each ACK offers a window that ends at the same right edge (never shrinking, RFC 9293
  // 3.8.6.2.2), so the field falls as data waits unread.
  const uint32_t edge = acks.front().ack() + (uint32_t{acks.front().window()} << 7);
  for (size_t i = 1; i < acks.size(); ++i) {
    EXPECT_LE(acks[i].window(), acks[i - 1].window()) << "ACK " << i;
    EXPECT_TRUE(SeqGeq(acks[i].ack() + (uint32_t{acks[i].window()} << 7), edge)) << "ACK " << i;
  }
  EXPECT_LT(acks.back().window(), acks.front().window() - (20 * kMss >> 7));
  Advance(absl::Milliseconds(40));  // any ACK still owed
  peer.TakeAndObserve();
  const uint16_t before = acks.back().window();

  // Reading it all frees more than half the buffer: a window update goes out at once
  // (Linux tcp_cleanup_rbuf).
  EXPECT_EQ(Read(*s).size(), 24 * kMss);
  const ParsedTcp update = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(update, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_GE(update.window(), 2 * before);
  EXPECT_GE(uint32_t{update.window()} << 7, 60000u);
  EXPECT_TRUE(update.payload.empty());

  // A small read later frees little: no update for it.
  peer.Data(100);
  peer.TakeAndObserve();
  Advance(absl::Milliseconds(40));
  peer.TakeAndObserve();
  EXPECT_EQ(Read(*s).size(), 100u);
  ExpectNothingSent("a read that frees little");
}

TEST_F(TcpDataTest, ZeroWindowWhenPeerFillsTheBufferThenProbesAndUpdate) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ParsedTcp last = FillWindow(peer);
  // The buffer (half of SO_RCVBUF's 128 KiB) is full: the window is zero.
  EXPECT_SEGMENT(last, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(last.window(), 0) << Describe(last);
  const int queued = s->BytesReadable();
  EXPECT_GE(queued, 60000);

  // The peer's zero-window probe (Linux: an ACK at snd_una - 1) gets an ACK with window 0.
  TcpSpec probe = peer.Spec(kTcpAck);
  probe.seq = peer.snd_nxt - 1;
  peer.Send(probe);
  ParsedTcp answer = TakeOne();
  EXPECT_SEGMENT(answer, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(answer.window(), 0);
  // A probe carrying one byte at the edge (BSD style) is not taken, and gets the same.
  TcpSpec byte_probe = peer.Spec(kTcpAck);
  byte_probe.payload = {0x42};
  peer.Send(byte_probe);
  answer = TakeOne();
  EXPECT_SEGMENT(answer, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(answer.window(), 0);
  EXPECT_EQ(s->BytesReadable(), queued);

  // The application reads: the window opens with an update.
  EXPECT_EQ(Read(*s).size(), static_cast<size_t>(queued));
  const ParsedTcp update = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(update, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_GE(uint32_t{update.window()} << 7, 60000u) << Describe(update);
}

TEST_F(TcpDataTest, BareFinIsTakenAtZeroWindow) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  const ParsedTcp last = FillWindow(peer);
  ASSERT_EQ(last.window(), 0);
  // Linux tcp_data_queue: a bare FIN at rcv_nxt is accepted even with no window.
  peer.Fin();
  EXPECT_EQ(s->state(), TcpState::kCloseWait);
  // Its ACK is delayed, as any FIN's in ESTABLISHED (Linux tcp_fin's pingpong mode).
  ExpectNothingSent("the FIN's ACK before the delayed-ACK timer");
  Advance(absl::Milliseconds(40));
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
}

TEST_F(TcpDataTest, IpTtlAndTosApplyToSegments) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, 17), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TOS, 0x28), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 10), 10);
  const ParsedTcp seg = peer.TakeOneAndObserve();
  EXPECT_EQ(seg.ip.ttl, 17);
  EXPECT_EQ(seg.ip.tos, 0x28);
  EXPECT_TRUE(seg.ip.dont_fragment);
}

TEST_F(TcpDataTest, PersistProbesBackOffWhilePeerWindowIsZeroAndDataResumes) {
  TcpPeer peer(this, 40000, kPort);
  auto listener = Listen(kPort);
  peer.Syn(SynOptions());
  peer.TakeOneAndObserve();
  peer.window = 0;  // the handshake's ACK closes the window
  peer.Ack();
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  // TCP_NODELAY: only the window may hold the data here.
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 1000), 1000);
  ExpectNothingSent("no window");

  // Probes at the RTO (the handshake's RTT sample of 0 makes it the 200 ms floor), then
  // backing off 2x, 4x, 8x (Linux tcp_probe0_when), though the peer answers each one with
  // its window still zero.
  absl::Duration expected = absl::Microseconds(Info(*s).tcpi_rto);
  EXPECT_EQ(expected, absl::Milliseconds(200));
  for (int i = 0; i < 4; ++i) {
    const auto at = RunUntilSegment(absl::Seconds(30));
    ASSERT_TRUE(at) << "probe " << i + 1;
    EXPECT_GE(*at, expected) << "probe " << i + 1;
    EXPECT_LE(*at, expected + TimerWheel::MaxLateness(expected)) << "probe " << i + 1;
    const ParsedTcp probe = peer.TakeOneAndObserve();
    // Linux tcp_xmit_probe_skb: no data, seq = snd_una - 1.
    EXPECT_SEGMENT(probe, kTcpAck, peer.stack_isn, peer.snd_nxt);
    EXPECT_TRUE(probe.payload.empty());
    peer.Ack();
    ExpectNothingSent("the answer to a probe");
    expected *= 2;
  }
  EXPECT_EQ(stats().tcp.TCPWindowProbes.value(), 4u);

  // The window opens: the data goes at once.
  peer.window = 65535;
  peer.Ack();
  const ParsedTcp data = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(data, kTcpAck | kTcpPsh, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(data.payload, Pattern(1000));
}

TEST_F(TcpDataTest, FirstSmallWriteIsNeverHeldByNagle) {
  // Nagle holds a small segment only while another small one is unacknowledged (Linux
  // tcp_nagle_check needs packets_out). Several connections, so that ISNs in every half
  // of the sequence space are tried.
  auto listener = Listen(kPort, 64);
  for (uint16_t i = 0; i < 16; ++i) {
    TcpPeer peer(this, static_cast<uint16_t>(41000 + i), kPort);
    auto s = PassiveOpen(peer, SynOptions(), listener.get());
    ASSERT_TRUE(s);
    ASSERT_EQ(Write(*s, 100), 100);
    const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
    ASSERT_EQ(segs.size(), 1u) << "connection " << i << " ISN " << peer.stack_isn;
    EXPECT_EQ(segs[0].payload.size(), 100u);
  }
}

TEST_F(TcpDataTest, NagleHoldsSmallWritesWhileSmallSegmentUnacked) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  // One small segment sent and acknowledged first (TCP_NODELAY for it).
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 10), 10);
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 0), 0);

  ASSERT_EQ(Write(*s, 100), 100);
  const ParsedTcp first = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(first, kTcpAck | kTcpPsh, peer.stack_isn + 11, peer.snd_nxt);
  EXPECT_EQ(first.payload.size(), 100u);
  ASSERT_EQ(Write(*s, 100), 100);
  ASSERT_EQ(Write(*s, 50), 50);
  ExpectNothingSent("Nagle: a small segment is in flight");
  peer.Ack();
  const ParsedTcp second = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(second, kTcpAck | kTcpPsh, peer.stack_isn + 111, peer.snd_nxt);
  EXPECT_EQ(second.payload.size(), 150u);
  // A full-sized segment is never held.
  ASSERT_EQ(Write(*s, kMss + 10), static_cast<ssize_t>(kMss + 10));
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].payload.size(), kMss);
}

TEST_F(TcpDataTest, NodelaySendsEverySmallWriteAtOnce) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  uint32_t seq = peer.stack_isn + 1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Write(*s, 100), 100);
    const ParsedTcp seg = peer.TakeOneAndObserve();
    EXPECT_SEGMENT(seg, kTcpAck | kTcpPsh, seq, peer.snd_nxt);
    EXPECT_EQ(seg.payload.size(), 100u);
    seq += 100;
  }
}

TEST_F(TcpDataTest, CorkHoldsPartialSegmentsUntilUncorked) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 10), 10);
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 0), 0);

  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  ASSERT_EQ(Write(*s, 100), 100);
  ExpectNothingSent("corked");
  // Full segments still go; only the partial tail waits.
  ASSERT_EQ(Write(*s, 2 * kMss), static_cast<ssize_t>(2 * kMss));
  std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].payload.size(), kMss);
  EXPECT_EQ(segs[1].payload.size(), kMss);
  EXPECT_EQ(segs[0].seq(), peer.stack_isn + 11);
  peer.Ack();
  ExpectNothingSent("still corked");
  // Uncorking sends the 200-byte tail.
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 0), 0);
  const ParsedTcp tail = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(tail, kTcpAck | kTcpPsh, peer.stack_isn + 11 + 2 * kMss, peer.snd_nxt);
  EXPECT_EQ(tail.payload.size(), 200u);
}

TEST_F(TcpDataTest, PawsDropsSegmentWithOldTimestamp) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Data(100);
  peer.TakeOneAndObserve();
  // A segment whose TSval is older than the last one seen (RFC 7323 5.3 R1): dropped, and
  // answered with a duplicate ACK.
  TcpSpec old = peer.Spec(kTcpAck | kTcpPsh);
  old.options.timestamps->value = peer.tsval - 100;
  old.payload = Pattern(50);
  peer.Send(old);
  const ParsedTcp dup = TakeOne();
  EXPECT_SEGMENT(dup, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(stats().tcp.PAWSEstab.value(), 1u);
  EXPECT_EQ(s->BytesReadable(), 100);
  // The same data with a current timestamp is taken.
  peer.Data(Pattern(50));
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_EQ(s->BytesReadable(), 150);
}

TEST_F(TcpDataTest, DelayedAckEchoesTheTimestampOfTheFirstUnackedSegment) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  SpendQuickAcks(peer);
  // Two small segments before the delayed ACK: RFC 7323 4.3 (Linux tcp_store_ts_recent
  // only for seq <= rcv_wup): the ACK echoes the earlier one's TSval, so the peer's RTT
  // sample includes the delay.
  peer.tsval = 50000;
  peer.Data(10);
  peer.tsval = 50007;
  peer.Data(10);
  ExpectNothingSent("two small segments");
  Advance(absl::Milliseconds(40));
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  ASSERT_TRUE(ack.ts());
  EXPECT_EQ(ack.ts()->echo, 50000u);
}

TEST_F(TcpDataTest, DataBeyondTheWindowIsNotTaken) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  peer.Data(10);
  const ParsedTcp first = peer.TakeOneAndObserve();
  const uint32_t edge = first.ack() + (uint32_t{first.window()} << 7);
  TcpSpec beyond = peer.Spec(kTcpAck | kTcpPsh);
  beyond.seq = edge + 100;
  beyond.payload = Pattern(100);
  peer.Send(beyond);
  const ParsedTcp ack = TakeOne();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.snd_nxt);
  EXPECT_TRUE(ack.sacks().empty()) << "nothing beyond the window is held: " << Describe(ack);
  EXPECT_EQ(s->BytesReadable(), 10);
}

TEST_F(TcpDataTest, CorkedTailGoesOutWhenTheProbeTimerFires) {
  // tcp(7): "there is a 200 millisecond ceiling on the time for which output is corked";
  // Linux's probe timer (tcp_check_probe_timer, then tcp_write_wakeup) is that ceiling.
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  ExpectNothingSent("corked");
  const absl::Duration rto = absl::Microseconds(Info(*s).tcpi_rto);
  const auto at = RunUntilSegment(absl::Seconds(5));
  ASSERT_TRUE(at) << "a corked tail never went out";
  EXPECT_GE(*at, rto);
  EXPECT_LE(*at, rto + TimerWheel::MaxLateness(rto));
  const ParsedTcp data = peer.TakeOneAndObserve();
  EXPECT_EQ(data.seq(), peer.stack_isn + 1);
  EXPECT_EQ(data.payload, Pattern(100));
  EXPECT_EQ(s->state(), TcpState::kEstablished);
}

TEST_F(TcpDataTest, CorkedDataAndFinUnderASmallWindowAreProbedOut) {
  // Found by the connection fuzzer: corked data wider than the peer's small window, then
  // close. Nothing was in flight and no timer ran, so the orphan lived forever.
  TcpPeer peer(this, 40000, kPort);
  auto listener = Listen(kPort);
  peer.Syn(SynOptions(true, true, /*wscale=*/0), /*window_field=*/128);
  peer.TakeOneAndObserve();
  peer.window = 128;
  peer.Ack();
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 1), 0);
  ASSERT_EQ(Write(*s, 200), 200);
  s->Close();
  ExpectNothingSent("corked, and the window is narrower than the data");
  // The probe timer sends what fits (Linux tcp_write_wakeup) ...
  ASSERT_TRUE(RunUntilSegment(absl::Seconds(5)));
  const ParsedTcp first = peer.TakeOneAndObserve();
  EXPECT_EQ(first.seq(), peer.stack_isn + 1);
  EXPECT_EQ(first.payload, Pattern(128));
  EXPECT_FALSE(first.header.fin());
  // ... and once it is acknowledged the rest goes with the FIN.
  peer.Ack();
  ASSERT_TRUE(RunUntilSegment(absl::Seconds(5)));
  const ParsedTcp rest = peer.TakeOneAndObserve();
  EXPECT_EQ(rest.seq(), peer.stack_isn + 1 + 128);
  EXPECT_EQ(rest.payload, Pattern(72, 128));
  EXPECT_TRUE(rest.header.fin());
}

TEST_F(TcpDataTest, UnansweredWindowProbesTimeOutWithEtimedout) {
  // Linux tcp_probe_timer: a peer that stops answering zero-window probes is given up
  // after tcp_retries2 (15) of them, as unanswered retransmissions are.
  TcpPeer peer(this, 40000, kPort);
  auto listener = Listen(kPort);
  peer.Syn(SynOptions());
  peer.TakeOneAndObserve();
  peer.window = 0;
  peer.Ack();
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  ASSERT_EQ(Write(*s, 1000), 1000);
  const std::vector<TimedSegment> segs =
      RunUntil([&] { return s->state() == TcpState::kClosed; }, absl::Hours(1));
  ASSERT_EQ(s->state(), TcpState::kClosed);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(stats().tcp.TCPWindowProbes.value(), 15u);
  EXPECT_EQ(stats().tcp.TCPAbortOnTimeout.value(), 1u);
  ssize_t r = 0;
  Read(*s, 10, &r);
  EXPECT_EQ(r, -ETIMEDOUT);
}

TEST_F(TcpDataTest, SendingRespectsThePeersWindow) {
  TcpPeer peer(this, 40000, kPort);
  auto listener = Listen(kPort);
  peer.Syn(SynOptions(true, true, /*wscale=*/0), /*window_field=*/3000);
  peer.TakeOneAndObserve();
  peer.window = 3000;
  peer.Ack();
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 5000), 5000);
  // The window is filled exactly: two full segments and the 104 bytes left of it (Linux
  // tcp_mss_split_point cuts a GSO burst at the window edge once its first segment fits).
  std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].seq(), peer.stack_isn + 1);
  EXPECT_EQ(segs[0].payload.size(), kMss);
  EXPECT_EQ(segs[1].payload.size(), kMss);
  EXPECT_EQ(segs[2].payload.size(), 3000 - 2 * kMss);
  ExpectNothingSent("the window is full");
  peer.Ack();  // everything acked, the window 3000 again
  segs = peer.TakeAndObserve();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].seq(), peer.stack_isn + 1 + 3000);
  EXPECT_EQ(segs[0].payload.size(), kMss);
  EXPECT_EQ(segs[1].payload.size(), 2000 - kMss);
  EXPECT_TRUE(segs[1].header.psh());
  ExpectNothingSent("all written data is out");
}

TEST_F(TcpDataTest, CloseSendsHeldDataWithTheFin) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 10), 10);
  peer.TakeOneAndObserve();
  peer.Ack();
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 0), 0);
  ASSERT_EQ(Write(*s, 10), 10);
  peer.TakeOneAndObserve();  // in flight, unacked
  ASSERT_EQ(Write(*s, 20), 20);
  ExpectNothingSent("Nagle");
  // Linux tcp_send_fin: the FIN rides on the unsent tail, pushed past Nagle.
  s->Close();
  const ParsedTcp fin = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(fin, kTcpFin | kTcpPsh | kTcpAck, peer.stack_isn + 21, peer.snd_nxt);
  EXPECT_EQ(fin.payload.size(), 20u);
}

TEST_F(TcpDataTest, WindowScaleAbove14IsTreatedAs14) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer, SynOptions(true, true, /*wscale=*/15));
  // RFC 7323 2.3: a shift above 14 is used as 14.
  EXPECT_EQ(Info(*s).tcpi_snd_wscale, 14);
}

TEST_F(TcpDataTest, TinyPeerMssIsFlooredAsLinuxDoes) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer, SynOptions(true, true, 7, /*mss=*/40));
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 100), 100);
  const std::vector<ParsedTcp> segs = peer.TakeAndObserve();
  ASSERT_FALSE(segs.empty());
  // Linux __tcp_mtu_to_mss: at least tcp_min_snd_mss (48) bytes of data plus options,
  // less the 12 bytes of timestamps: 36 bytes of data a segment.
  EXPECT_EQ(segs[0].payload.size(), 36u) << Describe(segs[0]);
}

TEST_F(TcpDataTest, WritesOfEverySizeArriveIntactAcrossSendBufferChunks) {
  // The send queue sizes its chunks by the write (4 KiB upwards, doubling): short writes,
  // then long ones, leave segments that straddle chunks of different sizes. Every byte
  // must leave in order, first sent and again when retransmitted.
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  ASSERT_EQ(SetInt(*s, SOL_SOCKET, SO_SNDBUF, 256 * 1024), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 1), 0);
  size_t total = 0;
  for (size_t n : {100, 37, 1000, 3000, 5000, 9000, 1, 20000, 60000}) {
    ASSERT_EQ(Write(*s, Pattern(n, total)), static_cast<ssize_t>(n)) << "at " << total;
    total += n;
  }
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_CORK, 0), 0);
  // The first flight, unacknowledged: the retransmission timeout sends its first segment
  // again, from the same chunks.
  const std::vector<ParsedTcp> flight = peer.TakeAndObserve();
  ASSERT_FALSE(flight.empty());
  ASSERT_TRUE(RunUntilSegment(absl::Seconds(5)).has_value());
  const std::vector<ParsedTcp> again = TakeTcp();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].seq(), flight[0].seq());
  EXPECT_EQ(again[0].payload, flight[0].payload);
  Bytes received;
  for (const ParsedTcp& seg : flight) {
    ASSERT_EQ(seg.seq(), peer.stack_isn + 1 + received.size());
    received.insert(received.end(), seg.payload.begin(), seg.payload.end());
  }
  for (int guard = 0; guard < 500 && received.size() < total; ++guard) {
    peer.rcv_nxt = peer.stack_isn + 1 + static_cast<uint32_t>(received.size());
    peer.Ack();
    for (const ParsedTcp& seg : peer.TakeAndObserve()) {
      if (seg.payload.empty()) continue;
      ASSERT_EQ(seg.seq(), peer.stack_isn + 1 + received.size()) << Describe(seg);
      received.insert(received.end(), seg.payload.begin(), seg.payload.end());
    }
  }
  EXPECT_EQ(received.size(), total);
  EXPECT_TRUE(received == Pattern(total)) << "the bytes sent differ from those written";
}

TEST_F(TcpDataTest, DataReceivedIsDeliveredInOrderAndPollsIn) {
  TcpPeer peer(this, 40000, kPort);
  auto s = Open(peer);
  EXPECT_EQ(s->Poll() & POLLIN, 0u);
  ssize_t r = 0;
  Read(*s, 100, &r);
  EXPECT_EQ(r, -EAGAIN);
  peer.Data(Pattern(300));
  peer.TakeAndObserve();
  EXPECT_NE(s->Poll() & POLLIN, 0u);
  EXPECT_EQ(Read(*s, 1000), Pattern(300));
}

}  // namespace
}  // namespace netshim::testing
