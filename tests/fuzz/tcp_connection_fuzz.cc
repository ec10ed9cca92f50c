// Drives one TCP connection of a real stack (198.18.0.2 on an in-memory link, manual clock)
// through a scripted handshake into a chosen state, then plays the peer (198.18.0.1) and the
// application from the rest of the input: segments with any flags, sequence and
// acknowledgment numbers near the connection's current ones (so most land in the window),
// options, payloads, ICMP errors, clock jumps, and send/recv/shutdown/setsockopt/close.
//
// After every step:
//   - TcpSocket::CheckInvariants() is empty for every socket the harness holds;
//   - every segment the stack sent is well formed (checksum, header, no more than an MSS of
//     data) and carries exactly the bytes the application wrote at that sequence number;
//   - every byte the application reads is the peer's byte at that sequence number, in
//     order, none twice;
//   - receive and send queues stay within their buffers; connections stay few.
// At the end every socket is closed and time runs on: all connections must be gone (no
// immortal orphan) and every packet buffer back in the pool. ASan/UBSan/LSan watch it all.
//
// Input:
//   [0]    bits 0-3: the state (mod 10): LISTEN, SYN-SENT, SYN-RECEIVED, ESTABLISHED,
//          FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING, TIME-WAIT;
//          bit 4: reach it by a passive open (listen + accept) where there is a choice;
//          bits 5, 6, 7: the peer does NOT offer timestamps, SACK, window scaling.
//   [1-4]  the peer's initial sequence number (big-endian).
//   then 8-byte records; r[0] & 0x0f picks the step:
//   0-8    a segment: r[1] flags; r[2-3] seq offset (int16) from the stack's rcv_nxt
//          (shifted left 8 when r[0] & 0x80); r[4-5] ack offset (int16) from what the peer
//          acknowledged last, or r[5] (int8) from the stack's snd_max when r[0] & 0x20;
//          r[6] payload length / 6; r[7] options: bit 0 timestamps, bit 1 SACK blocks,
//          bit 2 SYN options (MSS, SACK-permitted, window scale), bit 3 zero window,
//          bit 4 small window (r[5]), bits 5-6 TSval: 0 current, 1 old, 2 repeated,
//          3 far ahead; bit 7 a wrong checksum.
//   9-10   the clock moves (r[2] + 1) << (r[1] % 24) ms.
//   11     the application sends (r[1] << 4 | r[2] >> 4) bytes; MSG_MORE if r[3] & 1.
//   12     the application receives up to r[1] * 16 bytes; r[2]: bit 0 MSG_PEEK,
//          bit 1 MSG_TRUNC, bit 2 MSG_WAITALL.
//   13     the application: shutdown, or a socket option (r[1] % 8, values from r[2-3]).
//   14     the application: accept (on a listener), else close (linger 0 if r[1] & 2).
//   15     an ICMP error about the connection: r[1] picks unreachable codes, time
//          exceeded, or fragmentation needed with MTU 552 + 4 * r[2]; the quoted sequence
//          number is the peer's last ACK + int8 r[3].
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stack/link/channel_link.h"
#include "stack/stack.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "stack/wire/arp.h"
#include "stack/wire/bytes.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"
#include "tests/fuzz/fuzz_check.h"

namespace netshim {
namespace {

const Ipv4Address kStackIp = Ipv4Address::FromOctets(198, 18, 0, 2);
const Ipv4Address kPeerIp = Ipv4Address::FromOctets(198, 18, 0, 1);
const MacAddress kStackMac = *MacAddress::Parse("02:00:00:00:00:02");
const MacAddress kPeerMac = *MacAddress::Parse("02:00:00:00:00:01");
constexpr uint16_t kListenPort = 80;       // the stack's listener (passive opens)
constexpr uint16_t kPeerListenPort = 443;  // the peer's port for active opens
constexpr uint16_t kPeerPort = 40000;      // the peer's port for passive opens
constexpr size_t kMaxBuffers = 1024;
constexpr size_t kMaxChildren = 4;

enum class Target {
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kLastAck,
  kClosing,
  kTimeWait,
};

TcpState StateOf(Target t) {
  switch (t) {
    case Target::kListen:
      return TcpState::kListen;
    case Target::kSynSent:
      return TcpState::kSynSent;
    case Target::kSynReceived:
      return TcpState::kSynReceived;
    case Target::kEstablished:
      return TcpState::kEstablished;
    case Target::kFinWait1:
      return TcpState::kFinWait1;
    case Target::kFinWait2:
      return TcpState::kFinWait2;
    case Target::kCloseWait:
      return TcpState::kCloseWait;
    case Target::kLastAck:
      return TcpState::kLastAck;
    case Target::kClosing:
      return TcpState::kClosing;
    case Target::kTimeWait:
      return TcpState::kTimeWait;
  }
  return TcpState::kClosed;
}

// The peer's byte at sequence number `seq`, and the application's k-th byte written.
uint8_t PeerByte(uint32_t seq) { return static_cast<uint8_t>(seq * 7 + (seq >> 11)); }
uint8_t AppByte(uint64_t k) { return static_cast<uint8_t>(k * 13 + (k >> 9) + 1); }

struct Segment {
  uint8_t flags = kTcpAck;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 65535;
  TcpOptions options;
  size_t payload = 0;
  bool bad_checksum = false;
};

class Harness {
 public:
  Harness() {
    StackOptions options;
    options.address = Ipv4Cidr{kStackIp, 24};
    options.mac = kStackMac;
    options.clock = &clock_;
    options.max_buffers = kMaxBuffers;
    auto s = Stack::Create(options, [this](BufferPool*, LinkStats*) {
      auto l = std::make_unique<ChannelLink>(1500);
      link_ = l.get();
      return absl::StatusOr<std::unique_ptr<LinkEndpoint>>(std::move(l));
    });
    if (!s.ok()) std::abort();
    stack_ = std::move(*s);
    // Teach the stack the peer's MAC, as an ARP request for us does.
    ArpPacket a;
    a.op = ArpOp::kRequest;
    a.sender_mac = kPeerMac;
    a.sender_ip = kPeerIp;
    a.target_mac = MacAddress::Zero();
    a.target_ip = kStackIp;
    std::vector<uint8_t> f(kEthernetHeaderSize + kArpPacketSize);
    EthernetHeader{MacAddress::Broadcast(), kPeerMac, static_cast<uint16_t>(EtherType::kArp)}.Write(
        f);
    a.Write({f.data() + kEthernetHeaderSize, kArpPacketSize});
    link_->Inject(f);
    stack_->RunUntilIdle();
    (void)link_->TakeSent();
  }

  ~Harness() {
    for (auto& s : sockets_) s->Close();
    sockets_.clear();
    main_.reset();
    listener_.reset();
    stack_.reset();
  }

  // --- setup ---
  bool Setup(uint8_t mode, uint32_t peer_iss);
  // --- steps ---
  void Step(const uint8_t* r);
  // --- the end: everything closed, time runs, all must be gone ---
  void Finish();

 private:
  std::shared_ptr<Socket> NewSocket() {
    int err = 0;
    auto s = stack_->CreateSocket(SOCK_STREAM, 0, &err);
    FUZZ_CHECK(s != nullptr);
    sockets_.push_back(s);
    return s;
  }
  static TcpSocket& Tcp(const std::shared_ptr<Socket>& s) { return static_cast<TcpSocket&>(*s); }
  static int SetInt(Socket& s, int level, int name, int v) {
    return s.SetSockOpt(level, name, {reinterpret_cast<const uint8_t*>(&v), sizeof(v)});
  }

  uint32_t PeerTs() const {
    return static_cast<uint32_t>(absl::ToInt64Milliseconds(clock_.Now() - absl::UnixEpoch())) +
           0x5000;
  }
  TcpOptions SynOptions() const;
  void Send(const Segment& s);
  void SendIcmp(uint8_t type, uint8_t code, uint16_t mtu, uint32_t seq);
  // Runs the stack and takes apart what it sent.
  void Flush();
  void Observe(std::span<const uint8_t> frame);
  void AnswerArp(std::span<const uint8_t> body);
  void CheckAll();
  void ReadAndCheck(size_t max, int flags);
  void AppSend(size_t n, int flags);

  ManualClock clock_;
  ChannelLink* link_ = nullptr;
  std::unique_ptr<Stack> stack_;
  std::vector<std::shared_ptr<Socket>> sockets_;  // every socket we hold
  std::shared_ptr<Socket> main_;                  // the connection (or listener) under test
  std::shared_ptr<Socket> listener_;
  bool main_closed_ = false;

  // The peer's side.
  bool offer_ts_ = true, offer_sack_ = true, offer_ws_ = true;
  uint16_t peer_port_ = kPeerPort;
  uint16_t stack_port_ = kListenPort;
  uint32_t peer_iss_ = 0;
  std::optional<uint32_t> irs_;  // the stack's IRS (our ISS) for its data stream
  uint32_t peer_acked_ = 0;      // our last cumulative ACK
  uint32_t peer_ts_recent_ = 0;  // the stack's last TSval
  uint32_t last_tsval_ = 0;      // the TSval we sent last

  // The stack's side, as seen on the wire.
  std::optional<uint32_t> stack_iss_;
  uint32_t stack_rcv_nxt_ = 0;  // the ACK it sent last
  uint32_t stack_snd_max_ = 0;
  uint64_t app_written_ = 0;  // bytes the application wrote to main_
  uint64_t app_read_ = 0;     // bytes the application read from main_
  int max_sndbuf_ = 0;
  int max_rcvbuf_ = 0;
};

TcpOptions Harness::SynOptions() const {
  TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = offer_sack_;
  if (offer_ts_) o.timestamps = TcpTimestamps{PeerTs(), 0};
  if (offer_ws_) o.window_scale = 7;
  return o;
}

void Harness::Send(const Segment& s) {
  const size_t opt_len = s.options.WrittenSize();
  const size_t hl = kTcpMinHeaderSize + opt_len;
  std::vector<uint8_t> seg(hl + s.payload);
  TcpHeader h;
  h.src_port = peer_port_;
  h.dst_port = stack_port_;
  h.seq = s.seq;
  h.ack = s.ack;
  h.flags = s.flags;
  h.window = s.window;
  h.header_length = static_cast<uint8_t>(hl);
  h.Write(seg);
  s.options.Write({seg.data() + kTcpMinHeaderSize, opt_len});
  // A SYN takes the first sequence number; data on it starts one later.
  const uint32_t data_seq = s.seq + ((s.flags & kTcpSyn) ? 1 : 0);
  for (size_t i = 0; i < s.payload; ++i) {
    seg[hl + i] = PeerByte(data_seq + static_cast<uint32_t>(i));
  }
  uint16_t sum = TcpChecksum(kPeerIp, kStackIp, {seg.data(), hl}, {seg.data() + hl, s.payload});
  if (s.bad_checksum) sum ^= 0x5a5a;
  Store16(seg.data() + 16, sum);
  Ipv4Header ip;
  ip.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + seg.size());
  ip.id = 1;
  ip.protocol = static_cast<uint8_t>(IpProtocol::kTcp);
  ip.src = kPeerIp;
  ip.dst = kStackIp;
  std::vector<uint8_t> f(kEthernetHeaderSize + kIpv4MinHeaderSize + seg.size());
  EthernetHeader{kStackMac, kPeerMac, static_cast<uint16_t>(EtherType::kIpv4)}.Write(f);
  ip.Write({f.data() + kEthernetHeaderSize, kIpv4MinHeaderSize});
  std::copy(seg.begin(), seg.end(), f.begin() + kEthernetHeaderSize + kIpv4MinHeaderSize);
  if (s.options.timestamps) last_tsval_ = s.options.timestamps->value;
  if ((s.flags & kTcpAck) && stack_iss_ && SeqGt(s.ack, peer_acked_) &&
      SeqLeq(s.ack, stack_snd_max_)) {
    peer_acked_ = s.ack;
  }
  // A SYN the stack takes in SYN-SENT fixes the stream the application will read.
  const bool syn_in_syn_sent =
      (s.flags & kTcpSyn) && main_ && Tcp(main_).state() == TcpState::kSynSent;
  link_->Inject(f);
  Flush();
  if (syn_in_syn_sent && IsSynchronized(Tcp(main_).state())) irs_ = s.seq;
}

void Harness::SendIcmp(uint8_t type, uint8_t code, uint16_t mtu, uint32_t seq) {
  // The quoted datagram: one of the stack's segments (header + the first 8 TCP bytes).
  std::vector<uint8_t> quote(kIpv4MinHeaderSize + 8);
  Ipv4Header orig;
  orig.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + 40);
  orig.protocol = static_cast<uint8_t>(IpProtocol::kTcp);
  orig.src = kStackIp;
  orig.dst = kPeerIp;
  orig.dont_fragment = true;
  orig.Write({quote.data(), kIpv4MinHeaderSize});
  Store16(quote.data() + kIpv4MinHeaderSize, stack_port_);
  Store16(quote.data() + kIpv4MinHeaderSize + 2, peer_port_);
  Store32(quote.data() + kIpv4MinHeaderSize + 4, seq);
  std::vector<uint8_t> icmp(kIcmpHeaderSize);
  IcmpHeader{type, code, 0, mtu}.Write(icmp, quote);
  icmp.insert(icmp.end(), quote.begin(), quote.end());
  Ipv4Header ip;
  ip.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + icmp.size());
  ip.protocol = static_cast<uint8_t>(IpProtocol::kIcmp);
  ip.src = kPeerIp;
  ip.dst = kStackIp;
  std::vector<uint8_t> f(kEthernetHeaderSize + kIpv4MinHeaderSize);
  EthernetHeader{kStackMac, kPeerMac, static_cast<uint16_t>(EtherType::kIpv4)}.Write(f);
  ip.Write({f.data() + kEthernetHeaderSize, kIpv4MinHeaderSize});
  f.insert(f.end(), icmp.begin(), icmp.end());
  link_->Inject(f);
  Flush();
}

void Harness::Flush() {
  // Observe may answer (ARP), so run until the stack has nothing more to say.
  for (int round = 0; round < 8; ++round) {
    stack_->RunUntilIdle();
    const auto sent = link_->TakeSent();
    if (sent.empty()) break;
    for (const auto& frame : sent) Observe(frame);
  }
  CheckAll();
}

void Harness::AnswerArp(std::span<const uint8_t> body) {
  // The peer answers the stack's ARP requests for it (its cache entry expires over long
  // idle periods), so that queued segments are sent rather than held.
  auto a = ArpPacket::Parse(body);
  FUZZ_CHECK(a.has_value());
  if (a->op != ArpOp::kRequest || a->target_ip != kPeerIp) return;
  ArpPacket reply;
  reply.op = ArpOp::kReply;
  reply.sender_mac = kPeerMac;
  reply.sender_ip = kPeerIp;
  reply.target_mac = kStackMac;
  reply.target_ip = kStackIp;
  std::vector<uint8_t> f(kEthernetHeaderSize + kArpPacketSize);
  EthernetHeader{kStackMac, kPeerMac, static_cast<uint16_t>(EtherType::kArp)}.Write(f);
  reply.Write({f.data() + kEthernetHeaderSize, kArpPacketSize});
  link_->Inject(f);
}

void Harness::Observe(std::span<const uint8_t> frame) {
  FUZZ_CHECK(frame.size() <= kEthernetHeaderSize + 1500);
  auto eth = EthernetHeader::Parse(frame);
  FUZZ_CHECK(eth.has_value());
  const auto body = frame.subspan(kEthernetHeaderSize);
  if (eth->ether_type == static_cast<uint16_t>(EtherType::kArp)) {
    AnswerArp(body);
    return;
  }
  if (eth->ether_type != static_cast<uint16_t>(EtherType::kIpv4)) return;
  Ipv4Header ip;
  FUZZ_CHECK(Ipv4Header::Parse(body, &ip) == Ipv4ParseError::kOk);
  if (ip.protocol != static_cast<uint8_t>(IpProtocol::kTcp)) return;
  FUZZ_CHECK(ip.src == kStackIp && ip.dst == kPeerIp);
  const auto bytes = body.subspan(ip.header_length, ip.total_length - ip.header_length);
  TcpHeader h;
  FUZZ_CHECK(TcpHeader::Parse(bytes, &h) == TcpParseError::kOk);
  FUZZ_CHECK(TcpChecksumValid(ip.src, ip.dst, bytes));
  const TcpOptions o = TcpOptions::Parse(h.Options(bytes), h.syn());
  const size_t len = bytes.size() - h.header_length;
  FUZZ_CHECK(len + h.header_length <= 1460 + kTcpMinHeaderSize);
  if (h.src_port != stack_port_ || h.dst_port != peer_port_) return;  // another tuple
  if (h.rst()) {
    FUZZ_CHECK(len == 0);
    return;
  }
  if (h.syn()) {
    FUZZ_CHECK(len == 0);
    FUZZ_CHECK(o.mss.has_value());
    if (!stack_iss_ || *stack_iss_ != h.seq) {
      stack_iss_ = h.seq;
      stack_snd_max_ = h.seq + 1;
      peer_acked_ = h.seq;
    }
  }
  if (!stack_iss_) return;
  const uint32_t end = h.seq + static_cast<uint32_t>(len) + (h.syn() ? 1 : 0) + (h.fin() ? 1 : 0);
  if (SeqGt(end, stack_snd_max_)) stack_snd_max_ = end;
  if (h.has_ack()) stack_rcv_nxt_ = h.ack;
  if (o.timestamps) peer_ts_recent_ = o.timestamps->value;
  // Data: exactly the application's bytes at their offsets in the stream. Only main_'s
  // stream is known (children of a listener are the application's other connections).
  if (len > 0 && main_ && Tcp(main_).state() != TcpState::kListen) {
    const uint32_t first = *stack_iss_ + 1;
    const int64_t k = SeqDiff(h.seq, first);
    FUZZ_CHECK(k >= 0);
    FUZZ_CHECK(static_cast<uint64_t>(k) + len <= app_written_);
    const uint8_t* p = bytes.data() + h.header_length;
    for (size_t i = 0; i < len; ++i) FUZZ_CHECK(p[i] == AppByte(static_cast<uint64_t>(k) + i));
  }
}

void Harness::CheckAll() {
  for (const auto& s : sockets_) {
    const TcpState st = Tcp(s).state();
    if (const std::string broken = Tcp(s).CheckInvariants(); !broken.empty()) {
      std::fprintf(stderr, "invariant broken in %s: %s\n", std::string(TcpStateName(st)).c_str(),
                   broken.c_str());
      FUZZ_CHECK(false);
    }
    if (st == TcpState::kListen) continue;
    int rcvbuf = 0, sndbuf = 0;
    socklen_t len = sizeof(int);
    FUZZ_CHECK(s->GetSockOpt(SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0);
    len = sizeof(int);
    FUZZ_CHECK(s->GetSockOpt(SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0);
    // (Buffers may shrink below what is queued: the bound is the largest they have been.)
    max_sndbuf_ = std::max(max_sndbuf_, sndbuf);
    max_rcvbuf_ = std::max(max_rcvbuf_, rcvbuf);
    FUZZ_CHECK(s->BytesReadable() >= 0 && s->BytesReadable() <= max_rcvbuf_);
    FUZZ_CHECK(s->BytesUnsent() >= 0 && s->BytesUnsent() <= max_sndbuf_);
    const uint32_t mask = s->Poll();
    FUZZ_CHECK((mask & ~(POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM |
                         POLLRDHUP)) == 0);
  }
  FUZZ_CHECK(stack_->tcp().connections() <= 2 + kMaxChildren + 8);
  FUZZ_CHECK(stack_->pool().blocks_in_use() <= kMaxBuffers);
}

void Harness::ReadAndCheck(size_t max, int flags) {
  if (!main_ || main_closed_) return;
  std::vector<uint8_t> buf(max);
  iovec v{buf.data(), buf.size()};
  MessageInfo info;
  const ssize_t n = main_->RecvMsg({&v, 1}, info, flags | MSG_DONTWAIT);
  FUZZ_CHECK(n >= -4095 && n <= static_cast<ssize_t>(max));
  if (n <= 0 || Tcp(main_).state() == TcpState::kListen) return;
  FUZZ_CHECK(irs_.has_value());
  if (!(flags & MSG_TRUNC)) {
    for (ssize_t i = 0; i < n; ++i) {
      FUZZ_CHECK(buf[i] == PeerByte(*irs_ + 1 + static_cast<uint32_t>(app_read_ + i)));
    }
  }
  if (!(flags & MSG_PEEK)) app_read_ += static_cast<uint64_t>(n);
}

void Harness::AppSend(size_t n, int flags) {
  if (!main_ || main_closed_) return;
  std::vector<uint8_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = AppByte(app_written_ + i);
  iovec v{buf.data(), buf.size()};
  MessageInfo info;
  const ssize_t r = main_->SendMsg({&v, 1}, info, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
  FUZZ_CHECK(r <= static_cast<ssize_t>(n));
  if (r > 0) app_written_ += static_cast<uint64_t>(r);
  Flush();
}

bool Harness::Setup(uint8_t mode, uint32_t peer_iss) {
  const Target target = static_cast<Target>((mode & 0x0f) % 10);
  const bool passive = (mode & 0x10) != 0;
  offer_ts_ = !(mode & 0x20);
  offer_sack_ = !(mode & 0x40);
  offer_ws_ = !(mode & 0x80);
  peer_iss_ = peer_iss;

  auto ack_opts = [&] {
    TcpOptions o;
    if (offer_ts_) o.timestamps = TcpTimestamps{PeerTs(), peer_ts_recent_};
    return o;
  };

  if (target == Target::kListen) {
    listener_ = main_ = NewSocket();
    FUZZ_CHECK(main_->Bind({Ipv4Address::Any(), kListenPort}) == 0);
    FUZZ_CHECK(main_->Listen(kMaxChildren) == 0);
    stack_rcv_nxt_ = peer_iss_;
    CheckAll();
    return true;
  }

  const bool use_passive = passive && target != Target::kSynSent && target != Target::kSynReceived;
  if (use_passive) {
    listener_ = NewSocket();
    FUZZ_CHECK(listener_->Bind({Ipv4Address::Any(), kListenPort}) == 0);
    FUZZ_CHECK(listener_->Listen(kMaxChildren) == 0);
    peer_port_ = kPeerPort;
    stack_port_ = kListenPort;
    Segment syn;
    syn.flags = kTcpSyn;
    syn.seq = peer_iss_;
    syn.options = SynOptions();
    Send(syn);
    FUZZ_CHECK(stack_iss_.has_value());
    Segment ack;
    ack.seq = peer_iss_ + 1;
    ack.ack = *stack_iss_ + 1;
    ack.options = ack_opts();
    Send(ack);
    int err = 0;
    SocketAddress peer;
    main_ = listener_->Accept(&peer, &err);
    FUZZ_CHECK(main_ != nullptr);
    sockets_.push_back(main_);
  } else {
    main_ = NewSocket();
    peer_port_ = kPeerListenPort;
    FUZZ_CHECK(main_->Connect({kPeerIp, kPeerListenPort}) == -EINPROGRESS);
    SocketAddress local;
    FUZZ_CHECK(main_->GetSockName(&local) == 0);
    stack_port_ = local.port;
    Flush();
    FUZZ_CHECK(stack_iss_.has_value());
    if (target == Target::kSynSent) {
      stack_rcv_nxt_ = peer_iss_;  // nothing acknowledged yet: offsets from our ISS
      return Tcp(main_).state() == TcpState::kSynSent;
    }
    Segment syn;
    syn.seq = peer_iss_;
    syn.options = SynOptions();
    if (target == Target::kSynReceived) {
      syn.flags = kTcpSyn;  // simultaneous open
      Send(syn);
      irs_ = peer_iss_;
      return Tcp(main_).state() == TcpState::kSynReceived;
    }
    syn.flags = kTcpSyn | kTcpAck;
    syn.ack = *stack_iss_ + 1;
    if (syn.options.timestamps) syn.options.timestamps->echo = peer_ts_recent_;
    Send(syn);
  }
  irs_ = peer_iss_;
  FUZZ_CHECK(Tcp(main_).state() == TcpState::kEstablished);

  auto peer_fin = [&](bool ack_everything) {
    Segment fin;
    fin.flags = kTcpFin | kTcpAck;
    fin.seq = peer_iss_ + 1;
    fin.ack = ack_everything ? stack_snd_max_ : peer_acked_;
    fin.options = ack_opts();
    Send(fin);
  };
  auto peer_ack_all = [&] {
    Segment ack;
    ack.seq = peer_iss_ + 1;
    ack.ack = stack_snd_max_;
    ack.options = ack_opts();
    Send(ack);
  };
  switch (target) {
    case Target::kEstablished:
      break;
    case Target::kFinWait1:
      FUZZ_CHECK(main_->Shutdown(SHUT_WR) == 0);
      Flush();
      break;
    case Target::kFinWait2:
      FUZZ_CHECK(main_->Shutdown(SHUT_WR) == 0);
      Flush();
      peer_ack_all();
      break;
    case Target::kCloseWait:
      peer_fin(true);
      break;
    case Target::kLastAck:
      peer_fin(true);
      FUZZ_CHECK(main_->Shutdown(SHUT_WR) == 0);
      Flush();
      break;
    case Target::kClosing:
      FUZZ_CHECK(main_->Shutdown(SHUT_WR) == 0);
      Flush();
      peer_fin(false);  // our FIN crosses theirs: it does not acknowledge the stack's
      break;
    case Target::kTimeWait:
      FUZZ_CHECK(main_->Shutdown(SHUT_WR) == 0);
      Flush();
      peer_ack_all();
      peer_fin(true);
      break;
    default:
      break;
  }
  return Tcp(main_).state() == StateOf(target);
}

void Harness::Step(const uint8_t* r) {
  const int op = r[0] & 0x0f;
  if (op <= 8) {
    Segment s;
    s.flags = r[1];
    int32_t seq_off = static_cast<int16_t>(r[2] << 8 | r[3]);
    if (r[0] & 0x80) seq_off *= 256;
    s.seq = stack_rcv_nxt_ + static_cast<uint32_t>(seq_off);
    if (r[0] & 0x20) {
      s.ack = stack_snd_max_ + static_cast<uint32_t>(static_cast<int8_t>(r[5]));
    } else {
      s.ack = peer_acked_ + static_cast<uint32_t>(static_cast<int16_t>(r[4] << 8 | r[5]));
    }
    const uint8_t o = r[7];
    if (o & 0x01) {
      uint32_t tsval = PeerTs();
      switch ((o >> 5) & 3) {
        case 1:
          tsval = last_tsval_ - 1 - r[4];
          break;
        case 2:
          tsval = last_tsval_;
          break;
        case 3:
          tsval = last_tsval_ + 0x40000000u;
          break;
        default:
          break;
      }
      s.options.timestamps = TcpTimestamps{tsval, peer_ts_recent_};
    }
    if (o & 0x04) {
      s.options.mss = static_cast<uint16_t>(64 + r[4] * 8);
      s.options.sack_permitted = true;
      s.options.window_scale = static_cast<uint8_t>(r[5] % 16);
    }
    if (o & 0x02) {
      // SACK blocks inside what the stack sent beyond our last ACK.
      const uint32_t span = std::max<uint32_t>(SeqDiff(stack_snd_max_, peer_acked_), 1);
      const uint32_t a = peer_acked_ + (r[4] * 97u) % span;
      const uint32_t b = a + 1 + (r[5] * 131u) % span;
      s.options.AddSack({a, b});
      if (r[3] & 1) s.options.AddSack({b + 100, b + 100 + r[6] * 4u + 1});
    }
    if (o & 0x08) s.window = 0;
    if (o & 0x10) s.window = r[5];
    const size_t room = 1460 - std::min<size_t>(1460, s.options.WrittenSize());
    s.payload = std::min<size_t>(r[6] * 6u, room);
    s.bad_checksum = (o & 0x80) != 0;
    Send(s);
    return;
  }
  switch (op) {
    case 9:
    case 10: {
      const int64_t ms = int64_t{r[2] + 1} << (r[1] % 24);
      clock_.Advance(absl::Milliseconds(ms));
      Flush();
      return;
    }
    case 11:
      AppSend(static_cast<size_t>(r[1]) << 4 | r[2] >> 4, (r[3] & 1) ? MSG_MORE : 0);
      return;
    case 12: {
      int flags = 0;
      if (r[2] & 1) flags |= MSG_PEEK;
      if (r[2] & 2) flags |= MSG_TRUNC;
      if (r[2] & 4) flags |= MSG_WAITALL;
      ReadAndCheck(size_t{r[1]} * 16, flags);
      Flush();
      return;
    }
    case 13: {
      if (!main_ || main_closed_) return;
      Socket& s = *main_;
      const int v = r[2] << 8 | r[3];
      switch (r[1] % 8) {
        case 0:
          s.Shutdown(r[2] % 4);
          break;  // SHUT_RD, SHUT_WR, SHUT_RDWR, invalid
        case 1:
          SetInt(s, IPPROTO_TCP, TCP_NODELAY, r[2] & 1);
          break;
        case 2:
          SetInt(s, IPPROTO_TCP, TCP_CORK, r[2] & 1);
          break;
        case 3:
          SetInt(s, SOL_SOCKET, SO_RCVBUF, v);
          break;
        case 4:
          SetInt(s, SOL_SOCKET, SO_SNDBUF, v);
          break;
        case 5:
          SetInt(s, IPPROTO_TCP, TCP_MAXSEG, 88 + r[2] * 4);
          break;
        case 6:
          SetInt(s, SOL_SOCKET, SO_KEEPALIVE, 1);
          SetInt(s, IPPROTO_TCP, TCP_KEEPIDLE, 1 + r[2]);
          SetInt(s, IPPROTO_TCP, TCP_KEEPINTVL, 1 + r[3] % 64);
          SetInt(s, IPPROTO_TCP, TCP_KEEPCNT, 1 + r[3] % 8);
          break;
        default: {
          SetInt(s, IPPROTO_TCP, TCP_QUICKACK, r[2] & 1);
          tcp_info info;
          socklen_t len = sizeof(info);
          FUZZ_CHECK(s.GetSockOpt(IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
          FUZZ_CHECK(info.tcpi_state == static_cast<uint8_t>(Tcp(main_).state()));
          if (r[2] & 2) SetInt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, r[3] * 100);
          if (r[2] & 4) {
            uint8_t cc[16] = {};
            std::memcpy(cc, (r[2] & 8) ? "reno" : "cubic", (r[2] & 8) ? 4 : 5);
            s.SetSockOpt(IPPROTO_TCP, TCP_CONGESTION, {cc, size_t{1} + r[3] % 16u});
          }
          break;
        }
      }
      Flush();
      return;
    }
    case 14: {
      if (listener_ && Tcp(listener_).state() == TcpState::kListen && !(r[1] & 1)) {
        int err = 0;
        SocketAddress peer;
        auto child = listener_->Accept(&peer, &err);
        if (child) {
          if (sockets_.size() < kMaxChildren + 2) {
            sockets_.push_back(child);
          } else {
            child->Close();
          }
        }
        Flush();
        return;
      }
      if (!main_ || main_closed_) return;
      if (r[1] & 2) {
        const linger l{1, 0};
        main_->SetSockOpt(SOL_SOCKET, SO_LINGER, {reinterpret_cast<const uint8_t*>(&l), sizeof(l)});
      }
      main_->Close();
      main_closed_ = true;
      Flush();
      return;
    }
    default: {
      uint8_t type = 3, code = r[1] % 16;
      uint16_t mtu = 0;
      if (r[1] & 0x80) {
        code = 4;
        mtu = static_cast<uint16_t>(552 + 4 * r[2]);
      } else if (r[1] & 0x40) {
        type = 11;
        code = 0;
      }
      SendIcmp(type, code, mtu, peer_acked_ + static_cast<uint32_t>(static_cast<int8_t>(r[3])));
      return;
    }
  }
}

void Harness::Finish() {
  for (auto& s : sockets_) s->Close();
  main_closed_ = true;
  Flush();
  // Orphans retransmit, probe and time out; TIME-WAIT expires: all within an hour.
  for (int i = 0; i < 120 && stack_->tcp().connections() > 0; ++i) {
    clock_.Advance(absl::Seconds(30));
    Flush();
  }
  FUZZ_CHECK(stack_->tcp().connections() == 0);
  FUZZ_CHECK(stack_->tcp().time_wait_count() == 0);
  sockets_.clear();
  main_.reset();
  listener_.reset();
  (void)link_->TakeSent();
  FUZZ_CHECK(stack_->pool().blocks_in_use() == 0);
}

}  // namespace
}  // namespace netshim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  if (size < 5 || size > 8 * 512 + 5) return 0;
  const uint32_t peer_iss =
      uint32_t{data[1]} << 24 | uint32_t{data[2]} << 16 | uint32_t{data[3]} << 8 | data[4];
  Harness h;
  FUZZ_CHECK(h.Setup(data[0], peer_iss));
  for (size_t at = 5; at + 8 <= size; at += 8) h.Step(data + at);
  h.Finish();
  return 0;
}
