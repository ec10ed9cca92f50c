// TCP header and option parsing/building: field round trips, Linux's exact option layouts,
// checksums against a naive sum, and hostile headers and option lists.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/tcp.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }

// An independent RFC 1071 sum over the pseudo header and the segment.
uint16_t NaiveTcpChecksum(Ipv4Address src, Ipv4Address dst, const Bytes& segment) {
  Bytes all;
  for (uint32_t a : {src.value, dst.value}) {
    for (int shift = 24; shift >= 0; shift -= 8) all.push_back(static_cast<uint8_t>(a >> shift));
  }
  all.push_back(0);
  all.push_back(6);
  all.push_back(static_cast<uint8_t>(segment.size() >> 8));
  all.push_back(static_cast<uint8_t>(segment.size()));
  all.insert(all.end(), segment.begin(), segment.end());
  if (all.size() % 2) all.push_back(0);
  uint32_t sum = 0;
  for (size_t i = 0; i < all.size(); i += 2) sum += uint32_t{all[i]} << 8 | all[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(TcpHeaderTest, WriteThenParseKeepsEveryField) {
  TcpHeader h;
  h.src_port = 40000;
  h.dst_port = 80;
  h.seq = 0xdeadbeef;
  h.ack = 0x01020304;
  h.header_length = 32;
  h.flags = kTcpSyn | kTcpAck | kTcpEce | kTcpCwr;
  h.window = 64240;
  h.checksum = 0x1234;
  h.urgent = 7;
  Bytes seg(32);
  h.Write(seg);
  EXPECT_EQ(seg[12], 0x80);  // data offset 8
  EXPECT_EQ(seg[13], 0xd2);
  TcpHeader p;
  ASSERT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kOk);
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.seq, 0xdeadbeefu);
  EXPECT_EQ(p.ack, 0x01020304u);
  EXPECT_EQ(p.header_length, 32);
  EXPECT_TRUE(p.syn() && p.has_ack() && p.ece() && p.cwr());
  EXPECT_FALSE(p.fin() || p.rst() || p.psh() || p.urg());
  EXPECT_EQ(p.window, 64240);
  EXPECT_EQ(p.checksum, 0x1234);
  EXPECT_EQ(p.urgent, 7);
  EXPECT_EQ(p.Options(seg).size(), 12u);
}

TEST(TcpHeaderTest, EveryFlagBitMapsToItsAccessor) {
  const uint8_t flags[] = {kTcpFin, kTcpSyn, kTcpRst, kTcpPsh, kTcpAck, kTcpUrg, kTcpEce, kTcpCwr};
  for (uint8_t f : flags) {
    Bytes seg(20);
    TcpHeader h;
    h.flags = f;
    h.Write(seg);
    TcpHeader p;
    ASSERT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kOk);
    const int set =
        p.fin() + p.syn() + p.rst() + p.psh() + p.has_ack() + p.urg() + p.ece() + p.cwr();
    EXPECT_EQ(set, 1) << int{f};
    EXPECT_EQ(p.flags, f);
  }
}

TEST(TcpHeaderTest, RejectsTruncatedAndBadDataOffset) {
  TcpHeader p;
  for (size_t n = 0; n < 20; ++n) {
    Bytes seg(n, 0x50);
    EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kTruncated) << n;
  }
  Bytes seg(20, 0);
  for (int doff = 0; doff < 5; ++doff) {
    seg[12] = static_cast<uint8_t>(doff << 4);
    EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kBadDataOffset) << doff;
  }
  seg[12] = 6 << 4;  // 24 bytes claimed, 20 present
  EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kBadDataOffset);
  seg.resize(24);
  EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kOk);
  seg.assign(60, 0);
  seg[12] = 0xf0;  // 60 bytes, exactly present
  EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kOk);
  EXPECT_EQ(p.header_length, 60);
  seg[12] = 0x5f;  // reserved bits are ignored
  EXPECT_EQ(TcpHeader::Parse(seg, &p), TcpParseError::kOk);
  EXPECT_EQ(p.header_length, 20);
}

TEST(TcpChecksumTest, MatchesNaiveSumAndValidates) {
  const Ipv4Address src = Ip("198.18.0.2"), dst = Ip("198.18.0.1");
  for (size_t payload_len : {0, 1, 2, 3, 100, 1461}) {
    Bytes seg(20 + payload_len);
    TcpHeader h;
    h.src_port = 1234;
    h.dst_port = 5678;
    h.seq = 1;
    h.flags = kTcpAck | kTcpPsh;
    h.Write(seg);
    for (size_t i = 0; i < payload_len; ++i) seg[20 + i] = static_cast<uint8_t>(i * 13 + 5);
    const uint16_t c = TcpChecksum(src, dst, {seg.data(), 20}, {seg.data() + 20, payload_len});
    EXPECT_EQ(c, NaiveTcpChecksum(src, dst, seg)) << payload_len;
    Store16(&seg[16], c);
    EXPECT_TRUE(TcpChecksumValid(src, dst, seg));
    EXPECT_FALSE(TcpChecksumValid(src, Ip("198.18.0.3"), seg));  // pseudo header counts
    seg.back() ^= 0x01;
    EXPECT_FALSE(TcpChecksumValid(src, dst, seg));
  }
}

TEST(TcpChecksumTest, PayloadSumVariantEqualsContiguous) {
  const Ipv4Address src = Ip("10.0.0.1"), dst = Ip("10.0.0.2");
  Bytes header(24, 0x11), payload(333);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  const uint64_t sum = ChecksumAdd({payload.data(), 100}, 0);
  const uint64_t sum2 = ChecksumAdd({payload.data() + 100, 233}, sum);
  EXPECT_EQ(TcpChecksumWithPayloadSum(src, dst, header, sum2, payload.size()),
            TcpChecksum(src, dst, header, payload));
}

// Linux tcp_options_write on a SYN with everything on: MSS, SACK-permitted packed with
// timestamps, NOP + window scale.
TEST(TcpOptionsTest, LinuxSynLayout) {
  TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.timestamps = TcpTimestamps{0x01020304, 0};
  o.window_scale = 7;
  Bytes out(o.WrittenSize());
  ASSERT_EQ(out.size(), 20u);
  ASSERT_EQ(o.Write(out), 20u);
  const Bytes linux_syn = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x01, 0x02,
                           0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07};
  EXPECT_EQ(out, linux_syn);
  EXPECT_EQ(TcpOptions::Parse(out, /*syn=*/true), o);
}

TEST(TcpOptionsTest, LinuxSynAckWithoutTimestamps) {
  TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.window_scale = 9;
  Bytes out(o.WrittenSize());
  ASSERT_EQ(o.Write(out), 12u);
  EXPECT_EQ(out, (Bytes{0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x09}));
}

TEST(TcpOptionsTest, LinuxTimestampsWithoutSackPermitted) {
  TcpOptions o;
  o.mss = 536;
  o.timestamps = TcpTimestamps{0xaabbccdd, 0x11223344};
  Bytes out(o.WrittenSize());
  ASSERT_EQ(o.Write(out), 16u);
  EXPECT_EQ(out, (Bytes{0x02, 0x04, 0x02, 0x18, 0x01, 0x01, 0x08, 0x0a, 0xaa, 0xbb, 0xcc, 0xdd,
                        0x11, 0x22, 0x33, 0x44}));
}

TEST(TcpOptionsTest, EstablishedTimestampsAndSackBlocks) {
  TcpOptions o;
  o.timestamps = TcpTimestamps{1, 2};
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(o.AddSack({1000 * (i + 1), 1000 * (i + 1) + 500}));
  EXPECT_FALSE(o.AddSack({1, 2}));
  // Beside timestamps only 3 blocks fit (Linux tcp_established_options).
  EXPECT_EQ(o.SackBlocksThatFit(), 3u);
  Bytes out(o.WrittenSize());
  ASSERT_EQ(out.size(), 40u);
  ASSERT_EQ(o.Write(out), 40u);
  EXPECT_EQ((Bytes{out.begin(), out.begin() + 16}),
            (Bytes{0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 0x01, 0x05, 0x1a}));
  const TcpOptions back = TcpOptions::Parse(out, /*syn=*/false);
  ASSERT_EQ(back.sack_block_count, 3);
  EXPECT_EQ(back.sack_blocks[2], (SackBlock{3000, 3500}));
  EXPECT_EQ(back.timestamps, o.timestamps);

  TcpOptions four;
  for (uint32_t i = 0; i < 4; ++i) four.AddSack({i * 10, i * 10 + 5});
  Bytes out4(four.WrittenSize());
  ASSERT_EQ(four.Write(out4), 36u);
  EXPECT_EQ(out4[3], 34);  // 2 + 4 * 8
  EXPECT_EQ(TcpOptions::Parse(out4, false), four);
}

TEST(TcpOptionsTest, WindowScaleCappedAt14) {
  // RFC 7323 2.3: a shift above 14 is used as 14.
  const Bytes ws15 = {0x01, 0x03, 0x03, 0x0f};
  EXPECT_EQ(TcpOptions::Parse(ws15, true).window_scale, 14);
  const Bytes ws255 = {0x03, 0x03, 0xff, 0x00};
  EXPECT_EQ(TcpOptions::Parse(ws255, true).window_scale, 14);
  TcpOptions o;
  o.window_scale = 20;
  Bytes out(o.WrittenSize());
  o.Write(out);
  EXPECT_EQ(out[3], 14);
}

TEST(TcpOptionsTest, SynOnlyOptionsIgnoredOffSyn) {
  const Bytes syn_opts = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0,    0,
                          0,    9,    0,    0,    0,    0,    0x01, 0x03, 0x03, 0x07};
  const TcpOptions on_syn = TcpOptions::Parse(syn_opts, true);
  EXPECT_EQ(on_syn.mss, 1460);
  EXPECT_TRUE(on_syn.sack_permitted);
  EXPECT_EQ(on_syn.window_scale, 7);
  const TcpOptions off_syn = TcpOptions::Parse(syn_opts, false);
  EXPECT_FALSE(off_syn.mss);
  EXPECT_FALSE(off_syn.sack_permitted);
  EXPECT_FALSE(off_syn.window_scale);
  ASSERT_TRUE(off_syn.timestamps);  // timestamps count on every segment
  EXPECT_EQ(off_syn.timestamps->value, 9u);
}

TEST(TcpOptionsTest, ZeroMssIgnored) {
  EXPECT_FALSE(TcpOptions::Parse(Bytes{0x02, 0x04, 0x00, 0x00}, true).mss);
}

TEST(TcpOptionsTest, EolEndsTheList) {
  const Bytes opts = {0x00, 0x02, 0x04, 0x05, 0xb4};
  EXPECT_FALSE(TcpOptions::Parse(opts, true).mss);
  const Bytes after = {0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03, 0x07};
  const TcpOptions o = TcpOptions::Parse(after, true);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.window_scale);
}

// Linux tcp_parse_options: a length < 2 or one running past the end stops parsing; what
// came before is kept.
TEST(TcpOptionsTest, SillyAndPartialOptionsStopParsing) {
  const Bytes len0 = {0x02, 0x04, 0x05, 0xb4, 0xfe, 0x00, 0x03, 0x03, 0x07};
  TcpOptions o = TcpOptions::Parse(len0, true);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.window_scale);
  const Bytes len1 = {0x03, 0x01, 0x02, 0x04, 0x05, 0xb4};
  o = TcpOptions::Parse(len1, true);
  EXPECT_FALSE(o.window_scale);
  EXPECT_FALSE(o.mss);
  const Bytes past_end = {0x03, 0x03, 0x05, 0x02, 0x08, 0x05, 0xb4};
  o = TcpOptions::Parse(past_end, true);
  EXPECT_EQ(o.window_scale, 5);
  EXPECT_FALSE(o.mss);
  const Bytes lone_kind = {0x01, 0x01, 0x02};  // a kind with no room for its length
  o = TcpOptions::Parse(lone_kind, true);
  EXPECT_EQ(o, TcpOptions{});
}

TEST(TcpOptionsTest, WrongLengthsAndUnknownKindsSkippedByLength) {
  // MSS of length 3, timestamps of length 8, SACK-permitted of length 3, unknown kind 0xfe
  // of length 6: each skipped by its length, then a good window scale.
  const Bytes opts = {0x02, 0x03, 0x05, 0x08, 0x08, 0, 0, 0, 0,    0,    0,   0x04,
                      0x03, 0x00, 0xfe, 0x06, 1,    2, 3, 4, 0x03, 0x03, 0x06};
  const TcpOptions o = TcpOptions::Parse(opts, true);
  EXPECT_FALSE(o.mss);
  EXPECT_FALSE(o.timestamps);
  EXPECT_FALSE(o.sack_permitted);
  EXPECT_EQ(o.window_scale, 6);
}

TEST(TcpOptionsTest, MalformedSackIgnoredOverlongSackTruncatedToFour) {
  const Bytes base_only = {0x05, 0x02, 0x01, 0x01};
  EXPECT_EQ(TcpOptions::Parse(base_only, false).sack_block_count, 0);
  Bytes odd = {0x05, 0x0b};  // 2 + 9: not a whole number of blocks
  odd.resize(11, 0x01);
  EXPECT_EQ(TcpOptions::Parse(odd, false).sack_block_count, 0);
  // Five blocks (longer than 40 bytes, possible only in hostile input): the first four.
  Bytes five = {0x05, 42};
  for (uint32_t i = 0; i < 10; ++i) {
    five.resize(five.size() + 4);
    Store32(&five[five.size() - 4], i);
  }
  const TcpOptions o = TcpOptions::Parse(five, false);
  ASSERT_EQ(o.sack_block_count, 4);
  EXPECT_EQ(o.sack_blocks[3], (SackBlock{6, 7}));
}

TEST(TcpOptionsTest, RandomOptionSetsRoundTrip) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    TcpOptions o;
    if (rng() % 2) o.mss = static_cast<uint16_t>(1 + rng() % 65535);
    if (rng() % 2) o.window_scale = static_cast<uint8_t>(rng() % 15);
    o.sack_permitted = rng() % 2;
    if (rng() % 2)
      o.timestamps = TcpTimestamps{static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng())};
    const size_t blocks = rng() % 5;
    for (size_t i = 0; i < blocks; ++i)
      o.AddSack({static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng())});
    Bytes out(o.WrittenSize());
    ASSERT_LE(out.size(), kTcpMaxOptionsSize);
    ASSERT_EQ(out.size() % 4, 0u);
    ASSERT_EQ(o.Write(out), out.size());
    TcpOptions expected = o;
    expected.sack_block_count =
        static_cast<uint8_t>(std::min<size_t>(blocks, o.SackBlocksThatFit()));
    EXPECT_EQ(TcpOptions::Parse(out, true), expected) << iter;
  }
}

}  // namespace
}  // namespace netshim
