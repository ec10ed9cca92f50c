// Parse/build round trips, checksum vectors, and hostile inputs for the wire formats.
#include <vector>

#include "gtest/gtest.h"
#include "stack/wire/arp.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"

namespace netshim {
namespace {

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
  const std::vector<uint8_t> data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(InternetChecksum(data), 0x220d);
}

TEST(ChecksumTest, OddLengthPadsWithZero) {
  const std::vector<uint8_t> odd = {0x12, 0x34, 0x56};
  const std::vector<uint8_t> padded = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(InternetChecksum(odd), InternetChecksum(padded));
}

TEST(ChecksumTest, MatchesNaiveSumForManyLengths) {
  std::vector<uint8_t> data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37 + 11);
  for (size_t len = 0; len <= data.size(); ++len) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += Load16(&data[i]);
    if (len % 2) sum += data[len - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    EXPECT_EQ(InternetChecksum({data.data(), len}), static_cast<uint16_t>(~sum)) << len;
  }
}

TEST(ChecksumTest, PiecewiseSumEqualsWhole) {
  std::vector<uint8_t> data(100);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  const uint64_t partial = ChecksumAdd({data.data(), 40});
  EXPECT_EQ(ChecksumFinish(ChecksumAdd({data.data() + 40, 60}, partial)), InternetChecksum(data));
}

TEST(ChecksumTest, IncrementalUpdateMatchesRecompute) {
  std::vector<uint8_t> data = {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01};
  const uint16_t before = InternetChecksum(data);
  const uint16_t old_word = Load16(&data[8]);
  data[8] = 0x3f;  // TTL decrement
  EXPECT_EQ(ChecksumUpdate16(before, old_word, Load16(&data[8])), InternetChecksum(data));
}

TEST(ChecksumTest, PseudoHeaderSum) {
  // A UDP datagram's checksum over pseudo header + header + data, verified to sum to zero.
  std::vector<uint8_t> udp = {0x30, 0x39, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 'h', 'i'};
  const Ipv4Address src = Ip("198.18.0.1"), dst = Ip("198.18.0.2");
  const uint16_t c = ChecksumFinish(ChecksumAdd(udp, PseudoHeaderSum(src, dst, 17, 10)));
  Store16(&udp[6], c);
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(udp, PseudoHeaderSum(src, dst, 17, 10))), 0);
}

TEST(EthernetTest, RoundTrip) {
  EthernetHeader h{MacAddress::Broadcast(), *MacAddress::Parse("02:00:00:00:00:01"), 0x0806};
  std::vector<uint8_t> buf(kEthernetHeaderSize);
  h.Write(buf);
  auto parsed = EthernetHeader::Parse(buf);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->dst, h.dst);
  EXPECT_EQ(parsed->src, h.src);
  EXPECT_EQ(parsed->ether_type, 0x0806);
}

TEST(EthernetTest, RejectsShortAnd8023Frames) {
  std::vector<uint8_t> buf(kEthernetHeaderSize - 1);
  EXPECT_FALSE(EthernetHeader::Parse(buf));
  std::vector<uint8_t> llc(60, 0);
  llc[12] = 0x00, llc[13] = 0x40;  // an 802.3 length, not an EtherType
  EXPECT_FALSE(EthernetHeader::Parse(llc));
}

TEST(ArpTest, RoundTripAndGratuitous) {
  ArpPacket a;
  a.op = ArpOp::kReply;
  a.sender_mac = *MacAddress::Parse("02:00:00:00:00:01");
  a.sender_ip = Ip("198.18.0.1");
  a.target_mac = *MacAddress::Parse("02:00:00:00:00:02");
  a.target_ip = Ip("198.18.0.2");
  std::vector<uint8_t> buf(kArpPacketSize + 18);  // padded as on the wire
  a.Write(buf);
  auto p = ArpPacket::Parse(buf);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->op, ArpOp::kReply);
  EXPECT_EQ(p->sender_mac, a.sender_mac);
  EXPECT_EQ(p->sender_ip, a.sender_ip);
  EXPECT_EQ(p->target_mac, a.target_mac);
  EXPECT_EQ(p->target_ip, a.target_ip);
  EXPECT_FALSE(p->IsGratuitous());
  EXPECT_TRUE(ArpPacket::Gratuitous(a.sender_mac, a.sender_ip).IsGratuitous());
}

TEST(ArpTest, RejectsForeignTypesAndTruncation) {
  ArpPacket a;
  std::vector<uint8_t> buf(kArpPacketSize);
  a.Write(buf);
  EXPECT_FALSE(ArpPacket::Parse({buf.data(), kArpPacketSize - 1}));
  for (size_t field : {0, 2, 4, 5, 6}) {
    std::vector<uint8_t> bad = buf;
    bad[field + (field == 6 ? 1 : 0)] ^= 0x20;
    EXPECT_FALSE(ArpPacket::Parse(bad)) << "field " << field;
  }
}

std::vector<uint8_t> MakeIpv4(size_t payload_len) {
  Ipv4Header h;
  h.total_length = static_cast<uint16_t>(kIpv4MinHeaderSize + payload_len);
  h.id = 0xbeef;
  h.dont_fragment = true;
  h.ttl = 61;
  h.protocol = 17;
  h.tos = 0x10;
  h.src = Ip("198.18.0.1");
  h.dst = Ip("198.18.0.2");
  std::vector<uint8_t> buf(h.total_length, 0xaa);
  h.Write(buf);
  return buf;
}

TEST(Ipv4Test, RoundTrip) {
  auto buf = MakeIpv4(8);
  Ipv4Header h;
  ASSERT_EQ(Ipv4Header::Parse(buf, &h), Ipv4ParseError::kOk);
  EXPECT_EQ(h.header_length, 20);
  EXPECT_EQ(h.total_length, 28);
  EXPECT_EQ(h.id, 0xbeef);
  EXPECT_TRUE(h.dont_fragment);
  EXPECT_FALSE(h.more_fragments);
  EXPECT_FALSE(h.IsFragment());
  EXPECT_EQ(h.ttl, 61);
  EXPECT_EQ(h.tos, 0x10);
  EXPECT_EQ(h.protocol, 17);
  EXPECT_EQ(h.src, Ip("198.18.0.1"));
  EXPECT_EQ(h.dst, Ip("198.18.0.2"));
  EXPECT_EQ(h.payload_length(), 8u);
}

TEST(Ipv4Test, FragmentFieldsRoundTrip) {
  Ipv4Header h;
  h.total_length = 20;
  h.more_fragments = true;
  h.fragment_offset = 1480;
  std::vector<uint8_t> buf(20);
  h.Write(buf);
  Ipv4Header p;
  ASSERT_EQ(Ipv4Header::Parse(buf, &p), Ipv4ParseError::kOk);
  EXPECT_TRUE(p.more_fragments);
  EXPECT_EQ(p.fragment_offset, 1480);
  EXPECT_TRUE(p.IsFragment());
}

TEST(Ipv4Test, OptionsAreSkippedByHeaderLength) {
  auto buf = MakeIpv4(8);
  // Grow the header by one 4-byte option word (NOPs + EOL), fix lengths and checksum.
  buf.insert(buf.begin() + 20, {0x01, 0x01, 0x01, 0x00});
  buf[0] = 0x46;
  Store16(&buf[2], static_cast<uint16_t>(buf.size()));
  Store16(&buf[10], 0);
  Store16(&buf[10], InternetChecksum({buf.data(), 24}));
  Ipv4Header h;
  ASSERT_EQ(Ipv4Header::Parse(buf, &h), Ipv4ParseError::kOk);
  EXPECT_EQ(h.header_length, 24);
  EXPECT_EQ(h.payload_length(), 8u);
}

TEST(Ipv4Test, RejectsEveryMalformation) {
  Ipv4Header h;
  auto good = MakeIpv4(8);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(Ipv4Header::Parse({good.data(), n}, &h), Ipv4ParseError::kTruncated) << n;
  }
  auto v6 = good;
  v6[0] = 0x65;
  EXPECT_EQ(Ipv4Header::Parse(v6, &h), Ipv4ParseError::kBadVersion);
  auto short_ihl = good;
  short_ihl[0] = 0x44;
  EXPECT_EQ(Ipv4Header::Parse(short_ihl, &h), Ipv4ParseError::kBadHeaderLength);
  auto total_below_ihl = good;
  Store16(&total_below_ihl[2], 19);
  EXPECT_EQ(Ipv4Header::Parse(total_below_ihl, &h), Ipv4ParseError::kBadTotalLength);
  auto total_beyond = good;
  Store16(&total_beyond[2], 0xffff);
  EXPECT_EQ(Ipv4Header::Parse(total_beyond, &h), Ipv4ParseError::kTruncated);
  auto ihl_beyond = good;
  ihl_beyond[0] = 0x4f;  // 60-byte header in a 28-byte packet
  EXPECT_NE(Ipv4Header::Parse(ihl_beyond, &h), Ipv4ParseError::kOk);
  auto bad_sum = good;
  bad_sum[8] ^= 1;
  EXPECT_EQ(Ipv4Header::Parse(bad_sum, &h), Ipv4ParseError::kBadChecksum);
}

TEST(Ipv4Test, PaddingAfterTotalLengthIsAllowed) {
  auto buf = MakeIpv4(4);
  buf.resize(46, 0);  // Ethernet minimum payload
  Ipv4Header h;
  ASSERT_EQ(Ipv4Header::Parse(buf, &h), Ipv4ParseError::kOk);
  EXPECT_EQ(h.total_length, 24);
}

TEST(IcmpTest, EchoRoundTripWithChecksum) {
  std::vector<uint8_t> msg(kIcmpHeaderSize + 5, 0);
  const std::vector<uint8_t> body = {'h', 'e', 'l', 'l', 'o'};
  std::copy(body.begin(), body.end(), msg.begin() + kIcmpHeaderSize);
  IcmpHeader h{8, 0, 0, 0x12340007};
  h.Write(msg, body);
  EXPECT_EQ(InternetChecksum(msg), 0);
  auto p = IcmpHeader::Parse(msg);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, 8);
  EXPECT_EQ(p->echo_id(), 0x1234);
  EXPECT_EQ(p->echo_sequence(), 7);
  EXPECT_FALSE(IcmpHeader::Parse({msg.data(), 7}));
}

TEST(IcmpTest, ErrorQuotesOriginalDatagram) {
  auto original = MakeIpv4(8);
  IcmpHeader h{3, 4, 0, 1400};
  auto e = IcmpError::Parse(h, original);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, IcmpType::kDestUnreachable);
  EXPECT_EQ(e->next_hop_mtu, 1400);
  EXPECT_EQ(e->original.protocol, 17);
  EXPECT_EQ(e->original.dst, Ip("198.18.0.2"));
  EXPECT_EQ(e->original_payload.size(), 8u);
  // Fewer than 8 quoted payload bytes, a bad quoted version, or a non-error type: rejected.
  EXPECT_FALSE(IcmpError::Parse(h, {original.data(), 27}));
  auto v5 = original;
  v5[0] = 0x55;
  EXPECT_FALSE(IcmpError::Parse(h, v5));
  EXPECT_FALSE(IcmpError::Parse(IcmpHeader{0, 0, 0, 0}, original));
}

}  // namespace
}  // namespace netshim
