#include "tests/packet/tcp_segment_builder.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "stack/transport/tcp/seq.h"
#include "stack/wire/bytes.h"

namespace netshim::testing {

// ---------------------------------------------------------------------------------------
// Crafting and parsing

Bytes TcpSegmentBytes(const TcpSpec& spec) {
  Bytes options;
  if (spec.use_raw_options) {
    options = spec.raw_options;
    while (options.size() % 4 != 0) options.push_back(kTcpOptEol);
  } else {
    options.resize(spec.options.WrittenSize());
    spec.options.Write(options);
  }
  const size_t header_size = kTcpMinHeaderSize + options.size();
  Bytes seg(header_size);
  TcpHeader h;
  h.src_port = spec.src_port;
  h.dst_port = spec.dst_port;
  h.seq = spec.seq;
  h.ack = spec.ack;
  h.flags = spec.flags;
  h.window = spec.window;
  h.urgent = spec.urgent;
  h.header_length = static_cast<uint8_t>(header_size);
  h.checksum = 0;
  h.Write(seg);
  std::copy(options.begin(), options.end(), seg.begin() + kTcpMinHeaderSize);
  uint16_t sum = TcpChecksum(spec.src, spec.dst, seg, spec.payload);
  if (spec.corrupt_checksum) sum ^= 0x5a5a;
  Store16(seg.data() + 16, sum);
  seg.insert(seg.end(), spec.payload.begin(), spec.payload.end());
  return seg;
}

Bytes TcpFrame(const TcpSpec& spec) {
  Ipv4Spec ip;
  ip.src = spec.src;
  ip.dst = spec.dst;
  ip.protocol = static_cast<uint8_t>(IpProtocol::kTcp);
  ip.id = spec.ip_id;
  return EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4,
                       Ipv4Packet(ip, TcpSegmentBytes(spec)));
}

std::optional<ParsedTcp> ParseTcp(const Sent& sent) {
  if (!sent.ip || sent.ip->protocol != static_cast<uint8_t>(IpProtocol::kTcp) ||
      sent.ip->IsFragment()) {
    return std::nullopt;
  }
  ParsedTcp p;
  p.ip = *sent.ip;
  const std::span<const uint8_t> bytes(sent.ip_payload);
  if (TcpHeader::Parse(bytes, &p.header) != TcpParseError::kOk) return std::nullopt;
  const auto options = p.header.Options(bytes);
  p.raw_options.assign(options.begin(), options.end());
  p.options = TcpOptions::Parse(options, p.header.syn());
  p.payload.assign(bytes.begin() + p.header.header_length, bytes.end());
  p.checksum_ok = TcpChecksumValid(p.ip.src, p.ip.dst, bytes);
  return p;
}

std::string FlagNames(uint8_t flags) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {
      {kTcpSyn, "SYN"}, {kTcpFin, "FIN"}, {kTcpRst, "RST"}, {kTcpPsh, "PSH"},
      {kTcpAck, "ACK"}, {kTcpUrg, "URG"}, {kTcpEce, "ECE"}, {kTcpCwr, "CWR"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(flags & bit)) continue;
    if (!out.empty()) out += "|";
    out += name;
  }
  return out.empty() ? "none" : out;
}

std::string Describe(const ParsedTcp& s) {
  std::string out =
      absl::StrFormat("%s seq=%u ack=%u win=%u len=%u hlen=%u", FlagNames(s.flags()), s.seq(),
                      s.ack(), s.window(), s.payload.size(), s.header.header_length);
  if (s.options.mss) out += absl::StrFormat(" mss=%u", *s.options.mss);
  if (s.options.window_scale) out += absl::StrFormat(" ws=%u", *s.options.window_scale);
  if (s.options.sack_permitted) out += " sackOK";
  if (s.options.timestamps) {
    out += absl::StrFormat(" ts=%u/%u", s.options.timestamps->value, s.options.timestamps->echo);
  }
  for (const SackBlock& b : s.options.sacks())
    out += absl::StrFormat(" sack[%u,%u)", b.start, b.end);
  return out;
}

::testing::AssertionResult SegmentIs(const ParsedTcp& s, uint8_t flags, uint32_t seq,
                                     uint32_t ack) {
  const bool ok = s.flags() == flags && s.seq() == seq && (!(flags & kTcpAck) || s.ack() == ack);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << FlagNames(flags) << " seq=" << seq
                                       << " ack=" << ack << ", got " << Describe(s);
}

Bytes LinuxSynOptions(uint16_t mss, uint32_t tsval, uint32_t tsecr, uint8_t wscale) {
  Bytes b = {kTcpOptMss,
             4,
             static_cast<uint8_t>(mss >> 8),
             static_cast<uint8_t>(mss),
             kTcpOptSackPermitted,
             2,
             kTcpOptTimestamps,
             10};
  for (uint32_t v : {tsval, tsecr}) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
  }
  b.insert(b.end(), {kTcpOptNop, kTcpOptWindowScale, 3, wscale});
  return b;
}

Bytes Pattern(size_t n, size_t offset) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = PatternByte(offset + i);
  return b;
}

TcpOptions SynOptions(bool ts, bool sack, std::optional<uint8_t> wscale,
                      std::optional<uint16_t> mss, uint32_t tsval) {
  TcpOptions o;
  o.mss = mss;
  o.sack_permitted = sack;
  if (ts) o.timestamps = TcpTimestamps{tsval, 0};
  o.window_scale = wscale;
  return o;
}

// ---------------------------------------------------------------------------------------
// The fixture

void TcpPacketTest::SetUp() { BuildWithTcp(TcpConfig{}); }

void TcpPacketTest::BuildWithTcp(const TcpConfig& config) {
  for (auto& s : sockets_) s->Close();
  sockets_.clear();
  pending_.clear();
  StackOptions options;
  options.tcp = config;
  // The peer stays reachable through minutes of fake time; the ARP requests the cache
  // still sends are answered by CollectSent().
  options.neighbor.base_reachable_time = absl::Hours(24 * 365);
  Build(options);
  LearnPeer();
}

void TcpPacketTest::TearDown() {
  for (auto& s : sockets_) s->Close();
  sockets_.clear();
  if (stack_) Run();
}

void TcpPacketTest::CollectSent() {
  for (int round = 0; round < 8; ++round) {
    bool answered = false;
    for (const Sent& s : TakeSent()) {
      if (s.arp) {
        if (s.arp->op == ArpOp::kRequest && s.arp->target_ip == kPeerIp) {
          Inject(ArpFrame(ArpOp::kReply, kStackMac, kPeerMac, kPeerIp, kStackMac, kStackIp));
          answered = true;
        }
        continue;
      }
      std::optional<ParsedTcp> p = ParseTcp(s);
      if (!p) continue;
      EXPECT_TRUE(p->checksum_ok) << "bad TCP checksum on " << Describe(*p);
      EXPECT_EQ(p->ip.src, kStackIp);
      EXPECT_EQ(p->ip.dst, kPeerIp);
      pending_.push_back(std::move(*p));
    }
    if (!answered) return;
    // Only frames: the reply must not run timers that a test is about to look at.
    while (stack_->PollOnce(64) > 0) {
    }
  }
}

std::vector<ParsedTcp> TcpPacketTest::TakeTcp() {
  CollectSent();
  std::vector<ParsedTcp> out;
  out.swap(pending_);
  return out;
}

ParsedTcp TcpPacketTest::TakeOne() {
  std::vector<ParsedTcp> segs = TakeTcp();
  if (segs.size() != 1) {
    std::string all;
    for (const auto& s : segs) all += "\n  " + Describe(s);
    ADD_FAILURE() << "expected exactly one segment, got " << segs.size() << all;
    return segs.empty() ? ParsedTcp{} : segs.front();
  }
  return segs.front();
}

void TcpPacketTest::ExpectNothingSent(const std::string& why) {
  std::vector<ParsedTcp> segs = TakeTcp();
  std::string all;
  for (const auto& s : segs) all += "\n  " + Describe(s);
  EXPECT_TRUE(segs.empty()) << why << ": unexpected segments:" << all;
}

std::vector<TimedSegment> TcpPacketTest::RunLoop(const std::function<bool()>& done,
                                                 absl::Duration limit, bool stop_at_segment) {
  const absl::Time start = clock_.Now();
  const absl::Time end = start + limit;
  std::vector<TimedSegment> out;
  const size_t first = pending_.size();
  auto collect = [&] {
    const size_t before = pending_.size();
    CollectSent();
    for (size_t i = before; i < pending_.size(); ++i) {
      out.push_back({clock_.Now() - start, pending_[i]});
    }
  };
  Run();
  collect();
  for (int guard = 0;; ++guard) {
    if (guard > 200000) {
      ADD_FAILURE() << "the stack's deadlines do not move forward";
      break;
    }
    if (done && done()) break;
    if (stop_at_segment && !out.empty()) break;
    const std::optional<absl::Time> next = stack_->NextDeadline();
    if (!next || *next > end) {
      if (clock_.Now() < end) clock_.Set(end);
      Run();
      collect();
      break;
    }
    if (*next > clock_.Now()) clock_.Set(*next);
    Run();
    collect();
  }
  if (!stop_at_segment) pending_.resize(first);
  return out;
}

std::optional<absl::Duration> TcpPacketTest::RunUntilSegment(absl::Duration limit) {
  std::vector<TimedSegment> out = RunLoop(nullptr, limit, true);
  if (out.empty()) return std::nullopt;
  return out.front().at;
}

std::vector<TimedSegment> TcpPacketTest::RunFor(absl::Duration d) {
  return RunLoop(nullptr, d, false);
}

std::vector<TimedSegment> TcpPacketTest::RunUntil(const std::function<bool()>& done,
                                                  absl::Duration limit) {
  return RunLoop(done, limit, false);
}

std::shared_ptr<TcpSocket> TcpPacketTest::Adopt(std::shared_ptr<Socket> s) {
  if (!s) return nullptr;
  sockets_.push_back(s);
  return std::static_pointer_cast<TcpSocket>(s);
}

std::shared_ptr<TcpSocket> TcpPacketTest::NewSocket() {
  int error = 0;
  auto s = stack_->CreateSocket(SOCK_STREAM, 0, &error);
  EXPECT_TRUE(s) << error;
  return Adopt(std::move(s));
}

std::shared_ptr<TcpSocket> TcpPacketTest::Listen(uint16_t port, int backlog) {
  auto s = NewSocket();
  EXPECT_EQ(s->Bind({Ipv4Address::Any(), port}), 0);
  EXPECT_EQ(s->Listen(backlog), 0);
  return s;
}

std::shared_ptr<TcpSocket> TcpPacketTest::Accept(TcpSocket& listener, SocketAddress* peer) {
  int error = 0;
  return Adopt(listener.Accept(peer, &error));
}

std::shared_ptr<TcpSocket> TcpPacketTest::PassiveOpen(TcpPeer& peer, const TcpOptions& syn,
                                                      TcpSocket* listener) {
  std::shared_ptr<TcpSocket> made;
  if (!listener) {
    made = Listen(peer.stack_port);
    listener = made.get();
  }
  peer.Syn(syn);
  const ParsedTcp synack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(synack, kTcpSyn | kTcpAck, synack.seq(), peer.isn + 1);
  peer.Ack();
  ExpectNothingSent("after the handshake's ACK");
  auto child = Accept(*listener);
  EXPECT_TRUE(child) << "accept() found no connection";
  return child;
}

std::shared_ptr<TcpSocket> TcpPacketTest::ActiveOpen(TcpPeer& peer, const TcpOptions& synack,
                                                     absl::Duration rtt) {
  auto s = NewSocket();
  EXPECT_EQ(s->Connect({kPeerIp, peer.port}), -EINPROGRESS);
  const ParsedTcp syn = peer.TakeOneAndObserve();
  EXPECT_EQ(syn.flags(), kTcpSyn) << Describe(syn);
  peer.stack_port = syn.header.src_port;
  if (rtt > absl::ZeroDuration()) Advance(rtt);
  peer.SynAck(synack);
  const ParsedTcp ack = peer.TakeOneAndObserve();
  EXPECT_SEGMENT(ack, kTcpAck, peer.stack_isn + 1, peer.isn + 1);
  return s;
}

ssize_t TcpPacketTest::Write(Socket& s, const Bytes& data, int flags) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  MessageInfo info;
  return s.SendMsg({&iov, 1}, info, flags);
}

ssize_t TcpPacketTest::Write(Socket& s, size_t n, int flags) { return Write(s, Pattern(n), flags); }

Bytes TcpPacketTest::Read(Socket& s, size_t max, ssize_t* result) {
  Bytes buf(max);
  iovec iov{buf.data(), buf.size()};
  MessageInfo info;
  const ssize_t n = s.RecvMsg({&iov, 1}, info, 0);
  if (result) *result = n;
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

int TcpPacketTest::SoError(Socket& s) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(s.GetSockOpt(SOL_SOCKET, SO_ERROR, &value, &len), 0);
  return value;
}

int TcpPacketTest::SetInt(Socket& s, int level, int name, int value) {
  uint8_t bytes[sizeof(int)];
  std::memcpy(bytes, &value, sizeof(value));
  return s.SetSockOpt(level, name, bytes);
}

tcp_info TcpPacketTest::Info(Socket& s) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  EXPECT_EQ(s.GetSockOpt(IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  return info;
}

// ---------------------------------------------------------------------------------------
// The peer

TcpPeer::TcpPeer(TcpPacketTest* test, uint16_t port, uint16_t stack_port, uint32_t isn)
    : port(port), stack_port(stack_port), isn(isn), snd_nxt(isn), test_(test) {}

void TcpPeer::Syn(const TcpOptions& options, uint16_t window_field) {
  ts = options.timestamps.has_value();
  if (ts) tsval = options.timestamps->value + 1;
  sack = options.sack_permitted;
  wscale = options.window_scale.value_or(0);
  TcpSpec spec;
  spec.src_port = port;
  spec.dst_port = stack_port;
  spec.seq = isn;
  spec.flags = kTcpSyn;
  spec.window = window_field;
  spec.options = options;
  snd_nxt = isn + 1;
  Send(spec);
}

void TcpPeer::SynAck(const TcpOptions& options, uint16_t window_field) {
  ts = ts && options.timestamps.has_value();
  sack = sack && options.sack_permitted;
  wscale = options.window_scale.value_or(0);
  TcpOptions o = options;
  if (o.timestamps) {
    o.timestamps->echo = ts_recent;
    tsval = o.timestamps->value + 1;
  }
  TcpSpec spec;
  spec.src_port = port;
  spec.dst_port = stack_port;
  spec.seq = isn;
  spec.ack = rcv_nxt;
  spec.flags = kTcpSyn | kTcpAck;
  spec.window = window_field;
  spec.options = o;
  snd_nxt = isn + 1;
  Send(spec);
}

TcpSpec TcpPeer::Spec(uint8_t flags) {
  TcpSpec spec;
  spec.src_port = port;
  spec.dst_port = stack_port;
  spec.seq = snd_nxt;
  spec.ack = (flags & kTcpAck) ? rcv_nxt : 0;
  spec.flags = flags;
  spec.window = window_field();
  if (ts) spec.options.timestamps = TcpTimestamps{tsval++, ts_recent};
  return spec;
}

void TcpPeer::Send(TcpSpec spec) {
  test_->Inject(TcpFrame(spec));
  test_->Run();
}

void TcpPeer::Ack() { Send(Spec(kTcpAck)); }

void TcpPeer::Data(const Bytes& data, uint8_t flags) {
  TcpSpec spec = Spec(flags);
  spec.payload = data;
  snd_nxt += static_cast<uint32_t>(data.size()) + ((flags & kTcpFin) ? 1 : 0);
  Send(std::move(spec));
}

void TcpPeer::Data(size_t n) { Data(Pattern(n)); }

void TcpPeer::Fin() {
  TcpSpec spec = Spec(kTcpFin | kTcpAck);
  snd_nxt += 1;
  Send(std::move(spec));
}

void TcpPeer::Rst() { Send(Spec(kTcpRst)); }

void TcpPeer::AckWithSacks(std::vector<SackBlock> blocks) {
  TcpSpec spec = Spec(kTcpAck);
  for (const SackBlock& b : blocks) EXPECT_TRUE(spec.options.AddSack(b));
  Send(std::move(spec));
}

void TcpPeer::Observe(const ParsedTcp& s) {
  if (s.header.rst()) return;
  if (s.header.syn()) {
    stack_isn = s.seq();
    rcv_nxt = s.end_seq();
    if (s.header.has_ack()) {
      // Its SYN-ACK answers what we offered: what it leaves out is not in use.
      ts = ts && s.options.timestamps.has_value();
      sack = sack && s.options.sack_permitted;
      if (!s.options.window_scale) wscale = 0;
    }
  } else if (SeqGt(s.end_seq(), rcv_nxt)) {
    rcv_nxt = s.end_seq();
  }
  if (s.options.timestamps) ts_recent = s.options.timestamps->value;
}

std::vector<ParsedTcp> TcpPeer::TakeAndObserve() {
  std::vector<ParsedTcp> segs = test_->TakeTcp();
  for (const auto& s : segs) Observe(s);
  return segs;
}

ParsedTcp TcpPeer::TakeOneAndObserve() {
  ParsedTcp s = test_->TakeOne();
  Observe(s);
  return s;
}

}  // namespace netshim::testing
