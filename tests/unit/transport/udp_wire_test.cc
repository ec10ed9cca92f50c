// The UDP header: round trips, length checks, and the checksum with its two special values
// (0 = none on receive, a computed 0 sent as 0xffff).
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/udp.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;

const Ipv4Address kSrc = *Ipv4Address::Parse("198.18.0.1");
const Ipv4Address kDst = *Ipv4Address::Parse("198.18.0.2");

Bytes Datagram(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes d(kUdpHeaderSize);
  UdpHeader{sport, dport, static_cast<uint16_t>(kUdpHeaderSize + payload.size()), 0}.Write(d);
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

// RFC 768 / RFC 1071 by hand: 16-bit big-endian words, end-around carry, complement.
uint16_t NaiveChecksum(Ipv4Address src, Ipv4Address dst, const Bytes& segment) {
  uint64_t sum = (src.value >> 16) + (src.value & 0xffff) + (dst.value >> 16) +
                 (dst.value & 0xffff) + 17 + segment.size();
  for (size_t i = 0; i < segment.size(); i += 2) {
    sum += (uint32_t{segment[i]} << 8) | (i + 1 < segment.size() ? segment[i + 1] : 0);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(UdpWireTest, RoundTrip) {
  const Bytes d = Datagram(5353, 53, {1, 2, 3});
  UdpHeader h;
  ASSERT_EQ(UdpHeader::Parse(d, &h), UdpParseError::kOk);
  EXPECT_EQ(h.src_port, 5353);
  EXPECT_EQ(h.dst_port, 53);
  EXPECT_EQ(h.length, 11);
  EXPECT_EQ(h.checksum, 0);
  EXPECT_EQ(d[0], 0x14);  // 5353 = 0x14e9, big-endian
  EXPECT_EQ(d[1], 0xe9);
}

TEST(UdpWireTest, RejectsTruncatedAndBadLengths) {
  Bytes d = Datagram(1, 2, {9, 9, 9, 9});
  UdpHeader h;
  for (size_t n = 0; n < kUdpHeaderSize; ++n) {
    EXPECT_EQ(UdpHeader::Parse({d.data(), n}, &h), UdpParseError::kTruncated) << n;
  }
  // The length field claims more than arrived.
  EXPECT_EQ(UdpHeader::Parse({d.data(), d.size() - 1}, &h), UdpParseError::kBadLength);
  // Below the header size.
  for (uint16_t len : {0, 1, 7}) {
    Store16(&d[4], len);
    EXPECT_EQ(UdpHeader::Parse(d, &h), UdpParseError::kBadLength) << len;
  }
  // Shorter than what arrived is fine: the rest is padding (the caller trims).
  Store16(&d[4], 9);
  ASSERT_EQ(UdpHeader::Parse(d, &h), UdpParseError::kOk);
  EXPECT_EQ(h.length, 9);
}

TEST(UdpWireTest, ChecksumMatchesNaiveSumForManyLengths) {
  Bytes payload;
  for (size_t len = 0; len < 70; ++len) {
    Bytes d = Datagram(40000, 7, payload);
    const uint16_t c = UdpChecksum(kSrc, kDst, d);
    const uint16_t naive = NaiveChecksum(kSrc, kDst, d);
    EXPECT_EQ(c, naive == 0 ? 0xffff : naive) << len;
    Store16(&d[6], c);
    EXPECT_TRUE(UdpChecksumValid(kSrc, kDst, d)) << len;
    payload.push_back(static_cast<uint8_t>(len * 31 + 7));
  }
}

TEST(UdpWireTest, CorruptionIsDetected) {
  Bytes d = Datagram(1000, 2000, {'h', 'e', 'l', 'l', 'o'});
  Store16(&d[6], UdpChecksum(kSrc, kDst, d));
  for (size_t i = 0; i < d.size(); ++i) {
    Bytes bad = d;
    bad[i] ^= 0x01;
    EXPECT_FALSE(UdpChecksumValid(kSrc, kDst, bad)) << "byte " << i;
  }
  // The pseudo header counts too: the same bytes from elsewhere are wrong.
  EXPECT_FALSE(UdpChecksumValid(*Ipv4Address::Parse("198.18.0.9"), kDst, d));
  EXPECT_FALSE(UdpChecksumValid(kSrc, kDst, {d.data(), 5}));
}

TEST(UdpWireTest, ZeroChecksumMeansNone) {
  Bytes d = Datagram(1000, 2000, {1, 2, 3, 4});
  ASSERT_EQ(Load16(&d[6]), 0);
  EXPECT_TRUE(UdpChecksumValid(kSrc, kDst, d));
  d[9] ^= 0xff;  // nothing to catch it: RFC 768 allows that
  EXPECT_TRUE(UdpChecksumValid(kSrc, kDst, d));
}

TEST(UdpWireTest, ComputedZeroIsSentAsAllOnes) {
  // Pick the last payload word so the whole sum folds to 0xffff: the checksum is then 0.
  Bytes d = Datagram(1234, 4321, {0xde, 0xad, 0x00, 0x00});
  const uint16_t without = NaiveChecksum(kSrc, kDst, d);  // ~S
  const uint16_t s = static_cast<uint16_t>(~without);
  const uint16_t word = static_cast<uint16_t>(0xffff - s);
  Store16(&d[10], word);
  ASSERT_EQ(NaiveChecksum(kSrc, kDst, d), 0) << "test setup";
  EXPECT_EQ(UdpChecksum(kSrc, kDst, d), 0xffff);
  Store16(&d[6], 0xffff);
  EXPECT_TRUE(UdpChecksumValid(kSrc, kDst, d));
  // And through the piecewise writer too.
  UdpHeader h{1234, 4321, 12, 0};
  Bytes header(kUdpHeaderSize);
  h.WriteWithChecksum(header, kSrc, kDst, ChecksumAdd({d.data() + 8, 4}));
  EXPECT_EQ(Load16(&header[6]), 0xffff);
}

TEST(UdpWireTest, PiecewiseChecksumEqualsWhole) {
  Bytes payload(1001);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13 + 1);
  Bytes whole = Datagram(9, 10, payload);
  const uint16_t expected = UdpChecksum(kSrc, kDst, whole);
  // Pieces of even length, then an odd last one.
  uint64_t sum = ChecksumAdd({payload.data(), 400});
  sum = ChecksumAdd({payload.data() + 400, 600}, sum);
  sum = ChecksumAdd({payload.data() + 1000, 1}, sum);
  UdpHeader h{9, 10, static_cast<uint16_t>(8 + payload.size()), 0};
  Bytes header(kUdpHeaderSize);
  h.WriteWithChecksum(header, kSrc, kDst, sum);
  EXPECT_EQ(Load16(&header[6]), expected);
  EXPECT_EQ(Load16(&header[4]), 1009);
}

TEST(UdpWireTest, HostileInputNeverReadsOutOfBounds) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(rng() % 24);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    UdpHeader h;
    if (UdpHeader::Parse(junk, &h) == UdpParseError::kOk) {
      EXPECT_GE(h.length, kUdpHeaderSize);
      EXPECT_LE(h.length, junk.size());
      UdpChecksumValid(kSrc, kDst, {junk.data(), h.length});
    }
  }
}

}  // namespace
}  // namespace netshim
