// Packet-level TCP tests: the test plays the peer (198.18.0.1) of a stack (198.18.0.2) on
// an in-memory link, injects segments it crafts byte by byte and checks, field by field,
// the segments the stack sends back.
//
//   TcpSpec / TcpFrame       craft Ethernet + IPv4 + TCP (options, correct checksums)
//   ParsedTcp / ParseTcp     take apart a segment the stack sent
//   TcpPacketTest            the fixture: StackTest plus socket helpers and clock driving
//                            that follows the stack's own deadlines (no sleeps)
//   TcpPeer                  the peer's half of one connection: remembers its seq/ack, the
//                            stack's ISN and timestamps, so tests read as the exchange does
#pragma once

#include <linux/tcp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stack/socket/socket.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "stack/wire/tcp.h"
#include "tests/packet/stack_fixture.h"

namespace netshim::testing {

// A segment from the peer to the stack.
struct TcpSpec {
  uint16_t src_port = 40000;
  uint16_t dst_port = 80;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;  // the field as on the wire
  uint16_t urgent = 0;
  TcpOptions options;
  // When use_raw_options, these bytes are the options verbatim (padded with EOL to a
  // multiple of 4) instead of `options`: for hostile or unusual layouts.
  bool use_raw_options = false;
  Bytes raw_options;
  Bytes payload;
  Ipv4Address src = kPeerIp;
  Ipv4Address dst = kStackIp;
  uint16_t ip_id = 0x2000;
  bool corrupt_checksum = false;
};

// The TCP header, options and payload with a correct checksum (unless corrupt_checksum).
Bytes TcpSegmentBytes(const TcpSpec& spec);
// Ethernet (peer MAC -> stack MAC) + IPv4 + TCP.
Bytes TcpFrame(const TcpSpec& spec);

// A segment the stack sent, taken apart.
struct ParsedTcp {
  Ipv4Header ip;
  TcpHeader header;
  Bytes raw_options;
  TcpOptions options;  // parsed as a SYN's when the SYN flag is set
  Bytes payload;
  bool checksum_ok = false;

  uint8_t flags() const { return header.flags; }
  uint32_t seq() const { return header.seq; }
  uint32_t ack() const { return header.ack; }
  uint16_t window() const { return header.window; }
  // SEG.LEN: data plus one for each of SYN and FIN.
  uint32_t length() const {
    return static_cast<uint32_t>(payload.size()) + (header.syn() ? 1 : 0) + (header.fin() ? 1 : 0);
  }
  uint32_t end_seq() const { return seq() + length(); }
  std::optional<TcpTimestamps> ts() const { return options.timestamps; }
  std::vector<SackBlock> sacks() const { return {options.sacks().begin(), options.sacks().end()}; }
};

// Null when the frame is not an unfragmented IPv4 TCP segment with a sane header.
std::optional<ParsedTcp> ParseTcp(const Sent& sent);

// "SYN|ACK" and so on, for messages.
std::string FlagNames(uint8_t flags);
std::string Describe(const ParsedTcp& s);

// Exact flags, sequence and acknowledgment numbers (ack compared only when the ACK flag is
// expected).
::testing::AssertionResult SegmentIs(const ParsedTcp& s, uint8_t flags, uint32_t seq, uint32_t ack);
#define EXPECT_SEGMENT(s, flags, seq, ack) EXPECT_TRUE(SegmentIs((s), (flags), (seq), (ack)))

// The option bytes Linux puts in a SYN or SYN-ACK offering everything (tcp_options_write):
// MSS, SACK-permitted packed with timestamps, NOP + window scale.
Bytes LinuxSynOptions(uint16_t mss, uint32_t tsval, uint32_t tsecr, uint8_t wscale);

// A segment and when (since the start of the run) the stack sent it.
struct TimedSegment {
  absl::Duration at;
  ParsedTcp seg;
};

class TcpPeer;

class TcpPacketTest : public StackTest {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Rebuilds the stack with these TCP settings (and learns the peer again).
  void BuildWithTcp(const TcpConfig& config);

  // TCP segments sent since the last call (also those collected by the Run* helpers).
  // ARP requests for the peer are answered on the way (so long waits never lose the
  // neighbour); anything else that is not TCP is ignored.
  std::vector<ParsedTcp> TakeTcp();
  // Exactly one segment was sent: it (a failure and an empty segment otherwise).
  ParsedTcp TakeOne();
  // Nothing was sent.
  void ExpectNothingSent(const std::string& why = "");

  // Follows the stack's deadlines (jumping the clock straight to each) until a TCP segment
  // leaves or `limit` has passed: the time it took, the segment left for TakeTcp().
  std::optional<absl::Duration> RunUntilSegment(absl::Duration limit);
  // Follows the stack's deadlines for `d` and returns every segment sent, with its time.
  std::vector<TimedSegment> RunFor(absl::Duration d);
  // Same as RunFor but stops when `done` holds (checked after every step).
  std::vector<TimedSegment> RunUntil(const std::function<bool()>& done, absl::Duration limit);

  // Sockets, closed in TearDown (the stack requires it).
  std::shared_ptr<TcpSocket> NewSocket();
  std::shared_ptr<TcpSocket> Listen(uint16_t port, int backlog = 16);
  std::shared_ptr<TcpSocket> Accept(TcpSocket& listener, SocketAddress* peer = nullptr);
  std::shared_ptr<TcpSocket> Adopt(std::shared_ptr<Socket> s);

  // A passive open completed through `peer` (SYN, SYN-ACK checked loosely, ACK) on a
  // listener at `port`: the accepted socket. `syn` are the options the peer offers.
  // Without `listener`, one is made on peer.stack_port.
  std::shared_ptr<TcpSocket> PassiveOpen(TcpPeer& peer, const TcpOptions& syn,
                                         TcpSocket* listener = nullptr);
  // An active open to the peer: connect(), the SYN, the peer's SYN-ACK with `synack`
  // options, our ACK. The connected socket.
  std::shared_ptr<TcpSocket> ActiveOpen(TcpPeer& peer, const TcpOptions& synack,
                                        absl::Duration rtt = absl::ZeroDuration());

  // Socket API shorthands.
  ssize_t Write(Socket& s, const Bytes& data, int flags = 0);
  ssize_t Write(Socket& s, size_t n, int flags = 0);  // n pattern bytes
  Bytes Read(Socket& s, size_t max = 1 << 20, ssize_t* result = nullptr);
  int SoError(Socket& s);
  int SetInt(Socket& s, int level, int name, int value);
  tcp_info Info(Socket& s);
  // Connections in the stack's 4-tuple table (TIME-WAIT included, listeners not).
  size_t tcp_connections() { return stack_->tcp().connections(); }

 private:
  friend class TcpPeer;
  void CollectSent();
  std::vector<TimedSegment> RunLoop(const std::function<bool()>& done, absl::Duration limit,
                                    bool stop_at_segment);

  std::vector<ParsedTcp> pending_;
  std::vector<std::shared_ptr<Socket>> sockets_;
  absl::Time run_start_;
};

// Options a peer may offer in a SYN.
TcpOptions SynOptions(bool ts = true, bool sack = true, std::optional<uint8_t> wscale = 7,
                      std::optional<uint16_t> mss = 1460, uint32_t tsval = 1000);

// The peer's half of one connection.
class TcpPeer {
 public:
  TcpPeer(TcpPacketTest* test, uint16_t port, uint16_t stack_port = 80, uint32_t isn = 0x10000000);

  // Peer state (public: tests tweak it to forge segments).
  uint16_t port;
  uint16_t stack_port;
  uint32_t isn;
  uint32_t snd_nxt;         // the next sequence number the peer sends
  uint32_t rcv_nxt = 0;     // what the peer acknowledges (the stack's next byte)
  uint32_t stack_isn = 0;   // the stack's ISN, from its SYN or SYN-ACK
  bool ts = true;           // timestamps on every segment (once negotiated)
  bool sack = true;         // SACK permitted (ours)
  uint32_t tsval = 1000;    // the peer's timestamp clock: +1 per segment sent
  uint32_t ts_recent = 0;   // the stack's latest TSval, echoed
  uint8_t wscale = 7;       // the shift the peer announced (0 without the option)
  uint32_t window = 65535;  // bytes the peer offers (the field is window >> wscale)

  // Segments with the current numbers, injected and run.
  void Syn(const TcpOptions& options, uint16_t window_field = 64240);
  void SynAck(const TcpOptions& options, uint16_t window_field = 64240);
  void Ack();
  void Data(const Bytes& data, uint8_t flags = kTcpAck | kTcpPsh);
  void Data(size_t n);  // n pattern bytes
  void Fin();
  void Rst();
  void AckWithSacks(std::vector<SackBlock> blocks);
  // A spec with the current numbers and options (timestamps when negotiated), for a test
  // to adjust before Send().
  TcpSpec Spec(uint8_t flags);
  void Send(TcpSpec spec);

  // Learns from a segment the stack sent: its ISN (SYN), the next byte to acknowledge and
  // its TSval to echo.
  void Observe(const ParsedTcp& s);
  // Observe() on everything TakeTcp() returns, which it also returns.
  std::vector<ParsedTcp> TakeAndObserve();
  ParsedTcp TakeOneAndObserve();

  uint16_t window_field() const {
    return static_cast<uint16_t>(std::min<uint32_t>(window >> wscale, 0xffff));
  }

 private:
  TcpPacketTest* test_;
};

// Deterministic payload bytes: byte i of a stream is PatternByte(i).
inline uint8_t PatternByte(size_t i) { return static_cast<uint8_t>(i * 7 + 3); }
Bytes Pattern(size_t n, size_t offset = 0);

}  // namespace netshim::testing
