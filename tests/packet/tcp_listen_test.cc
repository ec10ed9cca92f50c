// The listening side, segment by segment (Linux tcp_v4_conn_request, tcp_check_req,
// inet_csk_listen_stop): the SYN queue and the accept queue bounded by the backlog, SYN
// cookies when the SYN queue is full (net/ipv4/syncookies.c), their validation, and what
// closing a listener does to connections nobody accepted.
#include <netinet/in.h>
#include <poll.h>

#include <map>

#include "stack/runtime/timer_wheel.h"
#include "stack/transport/tcp/seq.h"
#include "tests/packet/tcp_segment_builder.h"

namespace netshim::testing {
namespace {

constexpr uint16_t kPort = 80;

class TcpListenTest : public TcpPacketTest {
 protected:
  // A SYN from `peer` and its SYN-ACK (observed); the SYN-ACK, if one came.
  std::optional<ParsedTcp> Syn(TcpPeer& peer, const TcpOptions& options = SynOptions()) {
    peer.Syn(options);
    std::vector<ParsedTcp> segs = peer.TakeAndObserve();
    if (segs.empty()) return std::nullopt;
    EXPECT_EQ(segs.size(), 1u);
    EXPECT_SEGMENT(segs[0], kTcpSyn | kTcpAck, segs[0].seq(), peer.isn + 1);
    return segs[0];
  }
  size_t Accepted(TcpSocket& listener) {
    size_t n = 0;
    while (Accept(listener)) ++n;
    return n;
  }
};

TEST_F(TcpListenTest, AcceptQueueHoldsBacklogPlusOneThenSynsAreDropped) {
  auto listener = Listen(kPort, 2);
  std::vector<std::unique_ptr<TcpPeer>> peers;
  for (uint16_t i = 0; i < 3; ++i) {
    peers.push_back(std::make_unique<TcpPeer>(this, 40000 + i, kPort, 1000 * (i + 1)));
    ASSERT_TRUE(Syn(*peers.back()));
    peers.back()->Ack();
    ExpectNothingSent("handshake ACK");
  }
  // Linux sk_acceptq_is_full: more than `backlog` waiting. Three fit a backlog of 2; the
  // next SYN is dropped without an answer (the peer will retry).
  TcpPeer late(this, 40010, kPort, 7000);
  EXPECT_FALSE(Syn(late));
  EXPECT_EQ(stats().tcp.ListenOverflows.value(), 1u);
  EXPECT_EQ(stats().tcp.ListenDrops.value(), 1u);
  // accept() makes room: the retried SYN is answered.
  ASSERT_TRUE(Accept(*listener));
  EXPECT_TRUE(Syn(late));
  EXPECT_EQ(Accepted(*listener), 2u);
}

TEST_F(TcpListenTest, HandshakeAckDroppedWhenAcceptQueueIsFull) {
  auto listener = Listen(kPort, 2);
  TcpPeer a(this, 40000, kPort, 1000), b(this, 40001, kPort, 2000), c(this, 40002, kPort, 3000),
      d(this, 40003, kPort, 4000);
  ASSERT_TRUE(Syn(a));
  ASSERT_TRUE(Syn(b));
  a.Ack();
  b.Ack();
  ASSERT_TRUE(Syn(c));
  ASSERT_TRUE(Syn(d));
  c.Ack();  // the third: the queue holds backlog + 1
  ExpectNothingSent("ACK joining the queue");
  // The queue is full: d's ACK is dropped (tcp_abort_on_overflow = 0: no RST), d stays
  // in SYN-RECEIVED and its SYN-ACK is retransmitted.
  d.Ack();
  ExpectNothingSent("ACK dropped on overflow");
  EXPECT_EQ(stats().tcp.ListenOverflows.value(), 1u);
  EXPECT_EQ(Accepted(*listener), 3u);
  const auto at = RunUntilSegment(absl::Seconds(3));
  ASSERT_TRUE(at);
  const ParsedTcp synack = TakeOne();
  EXPECT_SEGMENT(synack, kTcpSyn | kTcpAck, d.stack_isn, d.isn + 1);
  d.Ack();
  ExpectNothingSent("the ACK now joins");
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  SocketAddress from;
  ASSERT_EQ(s->GetPeerName(&from), 0);
  EXPECT_EQ(from.port, 40003);
}

TEST_F(TcpListenTest, HalfOpenConnectionGivesUpAfterFiveSynAckRetries) {
  auto listener = Listen(kPort, 8);
  TcpPeer peer(this, 40000, kPort);
  const auto synack = Syn(peer);
  ASSERT_TRUE(synack);
  // tcp_synack_retries = 5: SYN-ACK again after 1, 2, 4, 8, 16 s, then the request is
  // dropped silently 32 s after the last.
  const std::vector<TimedSegment> segs =
      RunUntil([&] { return tcp_connections() == 0; }, absl::Seconds(200));
  ASSERT_EQ(segs.size(), 5u);
  absl::Duration prev;
  absl::Duration expected = absl::Seconds(1);
  for (const auto& t : segs) {
    EXPECT_SEGMENT(t.seg, kTcpSyn | kTcpAck, synack->seq(), peer.isn + 1);
    EXPECT_GE(t.at - prev, expected);
    EXPECT_LE(t.at - prev, expected + TimerWheel::MaxLateness(expected));
    prev = t.at;
    expected *= 2;
  }
  EXPECT_EQ(tcp_connections(), 0u);
  // The slot in the SYN queue is free again: a new SYN is a real connection, not a cookie.
  TcpPeer next(this, 40001, kPort);
  EXPECT_TRUE(PassiveOpen(next, SynOptions(), listener.get()));
  EXPECT_EQ(stats().tcp.SyncookiesSent.value(), 0u);
}

TEST_F(TcpListenTest, SynFloodIsAnsweredWithCookiesBeyondTheSynQueue) {
  auto listener = Listen(kPort, 8);
  std::map<uint16_t, ParsedTcp> synacks;
  for (uint16_t i = 0; i < 200; ++i) {
    TcpSpec syn;
    syn.src_port = static_cast<uint16_t>(20000 + i);
    syn.dst_port = kPort;
    syn.seq = 0x01000000u * i + 77;
    syn.flags = kTcpSyn;
    syn.window = 64240;
    syn.options = SynOptions(true, true, 7, 1460, 500 + i);
    Inject(TcpFrame(syn));
  }
  Run();
  for (const ParsedTcp& s : TakeTcp()) synacks.emplace(s.header.dst_port, s);
  // Every SYN is answered; the first 8 fill the SYN queue, the other 192 get cookies.
  ASSERT_EQ(synacks.size(), 200u);
  EXPECT_EQ(stats().tcp.SyncookiesSent.value(), 192u);
  EXPECT_EQ(stack_->tcp().connections(), 8u);
  for (uint16_t i = 0; i < 200; ++i) {
    const ParsedTcp& s = synacks.at(static_cast<uint16_t>(20000 + i));
    EXPECT_SEGMENT(s, kTcpSyn | kTcpAck, s.seq(), 0x01000000u * i + 78);
    ASSERT_TRUE(s.ts());
    EXPECT_EQ(s.ts()->echo, 500u + i);
    EXPECT_EQ(s.options.mss, 1460);
    EXPECT_EQ(s.options.window_scale, 7);
    EXPECT_TRUE(s.options.sack_permitted);
    EXPECT_EQ(s.window(), 64240);
    if (i >= 8) {
      // Linux cookie_init_timestamp: the peer's window scale and SACK-permitted ride in
      // the low 6 bits of the TSval.
      EXPECT_EQ(s.ts()->value & 0x3f, 0x17u) << "port " << 20000 + i;
    }
  }

  // A cookie handshake completes with the ACK echoing the cookie: the connection is made
  // from it, with window scale and SACK restored from the TS echo.
  const ParsedTcp& cookie = synacks.at(20100);
  TcpPeer peer(this, 20100, kPort, 0x01000000u * 100 + 77);
  peer.snd_nxt = peer.isn + 1;
  peer.Observe(cookie);
  peer.ts = true;
  peer.sack = true;
  peer.wscale = 7;
  peer.tsval = 10000;
  peer.Data(Pattern(64));  // the ACK carries data
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, cookie.seq() + 1, peer.snd_nxt);
  EXPECT_EQ(stats().tcp.SyncookiesRecv.value(), 1u);
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  SocketAddress from;
  ASSERT_EQ(s->GetPeerName(&from), 0);
  EXPECT_EQ(from, (SocketAddress{kPeerIp, 20100}));
  EXPECT_EQ(Read(*s), Pattern(64));
  const tcp_info info = Info(*s);
  EXPECT_EQ(info.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE),
            TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
  EXPECT_EQ(info.tcpi_snd_wscale, 7);
  EXPECT_EQ(info.tcpi_rcv_wscale, 7);
  EXPECT_EQ(info.tcpi_snd_mss, 1448u);
  // Sending uses the peer's scaled window (511 << 7) and the encoded MSS.
  ASSERT_EQ(SetInt(*s, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_EQ(Write(*s, 3000), 3000);
  const std::vector<ParsedTcp> data = peer.TakeAndObserve();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0].payload.size(), 1448u);
  EXPECT_EQ(data[0].seq(), cookie.seq() + 1);
  ASSERT_TRUE(data[0].ts());
  EXPECT_EQ(data[0].ts()->echo, peer.tsval - 1);
  EXPECT_EQ(s->CheckInvariants(), "");
}

TEST_F(TcpListenTest, CookieWithoutTimestampsCarriesOnlyMss) {
  auto listener = Listen(kPort, 1);
  TcpPeer first(this, 40000, kPort, 1000);
  ASSERT_TRUE(Syn(first));  // fills the SYN queue of one
  TcpPeer peer(this, 40001, kPort, 5000);
  const auto cookie = Syn(peer, SynOptions(/*ts=*/false, true, 7, 1400));
  ASSERT_TRUE(cookie);
  EXPECT_EQ(stats().tcp.SyncookiesSent.value(), 1u);
  // Without timestamps there is nowhere to keep SACK and window scale (Linux
  // tcp_clear_options): the MSS from the cookie table (1300, the largest not above 1400).
  EXPECT_EQ(cookie->raw_options, (Bytes{kTcpOptMss, 4, 0x05, 0xb4}));
  peer.Ack();
  ExpectNothingSent("cookie ACK");
  auto s = Accept(*listener);
  ASSERT_TRUE(s);
  EXPECT_EQ(Info(*s).tcpi_options, 0);
  EXPECT_EQ(Info(*s).tcpi_snd_mss, 1300u);
}

TEST_F(TcpListenTest, ForgedCookieAckIsReset) {
  auto listener = Listen(kPort, 1);
  TcpPeer first(this, 40000, kPort, 1000);
  ASSERT_TRUE(Syn(first));
  TcpPeer other(this, 40001, kPort, 2000);
  ASSERT_TRUE(Syn(other));  // a cookie: cookies are now checked
  ASSERT_EQ(stats().tcp.SyncookiesSent.value(), 1u);
  // An ACK whose ack is no cookie of ours.
  TcpSpec forged;
  forged.src_port = 40002;
  forged.dst_port = kPort;
  forged.seq = 9001;
  forged.ack = 0x12345678;
  forged.flags = kTcpAck;
  forged.options.timestamps = TcpTimestamps{1, 2};
  Inject(TcpFrame(forged));
  Run();
  const ParsedTcp rst = TakeOne();
  EXPECT_SEGMENT(rst, kTcpRst, 0x12345678, 0);
  EXPECT_EQ(stats().tcp.SyncookiesFailed.value(), 1u);
  EXPECT_EQ(stats().tcp.SyncookiesRecv.value(), 0u);
  EXPECT_FALSE(Accept(*listener));
  // A cookie for another tuple does not fit this one either.
  forged.ack = other.stack_isn + 1;
  Inject(TcpFrame(forged));
  Run();
  EXPECT_SEGMENT(TakeOne(), kTcpRst, other.stack_isn + 1, 0);
  EXPECT_EQ(stats().tcp.SyncookiesFailed.value(), 2u);
  // The genuine one works.
  other.Ack();
  ExpectNothingSent("genuine cookie ACK");
  EXPECT_TRUE(Accept(*listener));
}

TEST_F(TcpListenTest, ExpiredCookieIsRejected) {
  auto listener = Listen(kPort, 1);
  TcpPeer first(this, 40000, kPort, 1000);
  ASSERT_TRUE(Syn(first));
  TcpPeer other(this, 40001, kPort, 2000);
  ASSERT_TRUE(Syn(other));
  // MAX_SYNCOOKIE_AGE: a cookie is good for 1 to 2 minutes. Not after 3. (The first
  // child gives up meanwhile; another fills the SYN queue again and a fresh cookie keeps
  // cookie checking on.)
  RunFor(absl::Minutes(3));
  TakeTcp();
  TcpPeer refill(this, 40003, kPort, 4000);
  ASSERT_TRUE(Syn(refill));
  TcpPeer third(this, 40002, kPort, 3000);
  ASSERT_TRUE(Syn(third));
  ASSERT_EQ(stats().tcp.SyncookiesSent.value(), 2u);
  other.Ack();
  const std::vector<ParsedTcp> segs = TakeTcp();
  ASSERT_FALSE(segs.empty());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_SEGMENT(segs[0], kTcpRst, other.stack_isn + 1, 0);
  EXPECT_EQ(stats().tcp.SyncookiesFailed.value(), 1u);
  EXPECT_FALSE(Accept(*listener));
}

TEST_F(TcpListenTest, ClosingListenerResetsQueuedConnections) {
  auto listener = Listen(kPort, 8);
  TcpPeer a(this, 40000, kPort, 1000), b(this, 40001, kPort, 2000), c(this, 40002, kPort, 3000);
  ASSERT_TRUE(Syn(a));
  a.Ack();
  ASSERT_TRUE(Syn(b));
  b.Data(Pattern(10));  // completes with data
  b.TakeAndObserve();
  ASSERT_TRUE(Syn(c));  // left in SYN-RECEIVED
  TakeTcp();
  listener->Close();
  // Linux inet_csk_listen_stop: each connection nobody accepted is reset (RST|ACK at its
  // snd_nxt, tcp_disconnect).
  std::map<uint16_t, ParsedTcp> rsts;
  for (const ParsedTcp& s : TakeTcp()) {
    EXPECT_TRUE(s.header.rst()) << Describe(s);
    rsts.emplace(s.header.dst_port, s);
  }
  ASSERT_TRUE(rsts.count(40000));
  ASSERT_TRUE(rsts.count(40001));
  EXPECT_SEGMENT(rsts.at(40000), kTcpRst | kTcpAck, a.stack_isn + 1, a.snd_nxt);
  EXPECT_SEGMENT(rsts.at(40001), kTcpRst | kTcpAck, b.stack_isn + 1, b.snd_nxt);
  // The half-open one completes into nothing: its ACK meets a RST.
  c.Ack();
  const ParsedTcp rst = TakeOne();
  EXPECT_TRUE(rst.header.rst()) << Describe(rst);
  EXPECT_EQ(rst.seq(), c.rcv_nxt);
  // And the port is closed for new SYNs.
  TcpPeer d(this, 40003, kPort, 4000);
  d.Syn(SynOptions());
  EXPECT_SEGMENT(TakeOne(), kTcpRst | kTcpAck, 0, d.isn + 1);
}

TEST_F(TcpListenTest, SynAckIgnoredAndRstIgnoredByListener) {
  auto listener = Listen(kPort, 8);
  TcpSpec rst;
  rst.src_port = 40000;
  rst.dst_port = kPort;
  rst.flags = kTcpRst;
  Inject(TcpFrame(rst));
  TcpSpec synfin;
  synfin.src_port = 40001;
  synfin.dst_port = kPort;
  synfin.flags = kTcpSyn | kTcpFin;
  Inject(TcpFrame(synfin));
  Run();
  ExpectNothingSent("RST and SYN|FIN to a listener");
  // A bare ACK for no connection: <SEQ=SEG.ACK><CTL=RST> (no cookie was sent recently).
  TcpSpec ack;
  ack.src_port = 40002;
  ack.dst_port = kPort;
  ack.seq = 5;
  ack.ack = 777;
  ack.flags = kTcpAck;
  Inject(TcpFrame(ack));
  Run();
  EXPECT_SEGMENT(TakeOne(), kTcpRst, 777, 0);
  EXPECT_FALSE(Accept(*listener));
}

}  // namespace
}  // namespace netshim::testing
