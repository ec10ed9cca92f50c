#include "stack/wire/virtio_net.h"

#include <vector>

#include "gtest/gtest.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/tcp.h"

namespace netshim {
namespace {

using Header = VirtioNetHeader;

TEST(VirtioNetHeader, ParsesLittleEndianFields) {
  const uint8_t bytes[kVirtioNetHeaderSize] = {0x01, 0x01, 0x42, 0x00, 0xa8,
                                               0x05, 0x22, 0x00, 0x10, 0x00};
  const Header h = Header::Parse(std::span<const uint8_t, kVirtioNetHeaderSize>(bytes));
  EXPECT_EQ(h.flags, Header::kNeedsCsum);
  EXPECT_EQ(h.gso_type, Header::kGsoTcpV4);
  EXPECT_EQ(h.hdr_len, 0x42);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
}

TEST(VirtioNetHeader, WriteThenParseRoundTrips) {
  Header h;
  h.flags = Header::kDataValid;
  h.gso_type = Header::kGsoTcpV4 | Header::kGsoEcn;
  h.hdr_len = 0x1234;
  h.gso_size = 0xfedc;
  h.csum_start = 0x0102;
  h.csum_offset = 0x0304;
  uint8_t bytes[kVirtioNetHeaderSize];
  h.Write(std::span<uint8_t, kVirtioNetHeaderSize>(bytes));
  EXPECT_EQ(bytes[4], 0xdc);  // little-endian on the wire to the kernel
  const Header back = Header::Parse(std::span<const uint8_t, kVirtioNetHeaderSize>(bytes));
  EXPECT_EQ(back.flags, h.flags);
  EXPECT_EQ(back.gso_type, h.gso_type);
  EXPECT_EQ(back.hdr_len, h.hdr_len);
  EXPECT_EQ(back.gso_size, h.gso_size);
  EXPECT_EQ(back.csum_start, h.csum_start);
  EXPECT_EQ(back.csum_offset, h.csum_offset);
}

TEST(VirtioNetHeader, ForTransmitPlainFrameIsAllZero) {
  const Header h = Header::ForTransmit(TxOffload{}, 54);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.gso_type, Header::kGsoNone);
  EXPECT_EQ(h.gso_size, 0);
  EXPECT_EQ(h.hdr_len, 0);
}

TEST(VirtioNetHeader, ForTransmitTsoFrame) {
  TxOffload o;
  o.needs_checksum = true;
  o.csum_start = 34;
  o.csum_offset = 16;
  o.gso_size = 1448;
  const Header h = Header::ForTransmit(o, 66);
  EXPECT_EQ(h.flags, Header::kNeedsCsum);
  EXPECT_EQ(h.gso_type, Header::kGsoTcpV4);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.hdr_len, 66);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
}

Header Rx(uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t start, uint16_t offset) {
  Header h;
  h.flags = flags;
  h.gso_type = gso;
  h.gso_size = gso_size;
  h.csum_start = start;
  h.csum_offset = offset;
  return h;
}

TEST(ClassifyRxOffload, PlainFrameIsVerifiedAsUsual) {
  EXPECT_EQ(ClassifyRxOffload(Header{}, 60), RxOffloadVerdict::kPlain);
}

TEST(ClassifyRxOffload, PartialOrValidChecksumIsTrusted) {
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, 0, 0, 34, 16), 100),
            RxOffloadVerdict::kChecksumTrusted);
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kDataValid, 0, 0, 0, 0), 100),
            RxOffloadVerdict::kChecksumTrusted);
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, Header::kGsoTcpV4, 1448, 34, 16), 65000),
            RxOffloadVerdict::kChecksumTrusted);
  EXPECT_EQ(ClassifyRxOffload(
                Rx(Header::kNeedsCsum, Header::kGsoTcpV4 | Header::kGsoEcn, 1448, 34, 16), 9000),
            RxOffloadVerdict::kChecksumTrusted);
}

TEST(ClassifyRxOffload, HostileHeadersAreDropped) {
  // The checksum field beyond the frame, at its very edge, or wrapping.
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, 0, 0, 99, 0), 100), RxOffloadVerdict::kDrop);
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, 0, 0, 34, 16), 51), RxOffloadVerdict::kDrop);
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, 0, 0, 0xffff, 0xffff), 100),
            RxOffloadVerdict::kDrop);
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, 0, 0, 0, 0), 0), RxOffloadVerdict::kDrop);
  // GSO we never enabled, without a size, or without the partial checksum it relies on.
  for (uint8_t gso : {Header::kGsoUdp, Header::kGsoTcpV6, Header::kGsoUdpL4, uint8_t{9}}) {
    EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, gso, 1448, 34, 16), 9000),
              RxOffloadVerdict::kDrop)
        << int{gso};
  }
  EXPECT_EQ(ClassifyRxOffload(Rx(Header::kNeedsCsum, Header::kGsoTcpV4, 0, 34, 16), 9000),
            RxOffloadVerdict::kDrop);
  EXPECT_EQ(ClassifyRxOffload(Rx(0, Header::kGsoTcpV4, 1448, 0, 0), 9000), RxOffloadVerdict::kDrop);
}

// A TCP segment with a partial checksum: finishing it gives what summing in full gives.
TEST(CompletePartialChecksum, MatchesTheFullChecksum) {
  const Ipv4Address src{0xc6120001}, dst{0xc6120002};
  for (size_t payload : {0u, 1u, 2u, 3u, 1447u, 1448u, 9001u}) {
    std::vector<uint8_t> frame(14 + 20 + 20 + payload);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i * 7 + payload);
    // IPv4 addresses where the pseudo-header sum takes them from.
    Store32(&frame[14 + 12], src.value);
    Store32(&frame[14 + 16], dst.value);
    const std::span<uint8_t> tcp = std::span(frame).subspan(34);
    Store16(&tcp[16], 0);
    const uint16_t full = TcpChecksum(src, dst, tcp.first(20), tcp.subspan(20));
    const uint64_t pseudo = PseudoHeaderSum(src, dst, 6, static_cast<uint16_t>(tcp.size()));
    Store16(&tcp[16], static_cast<uint16_t>(~ChecksumFinish(pseudo)));
    ASSERT_TRUE(CompletePartialChecksum(frame, 34, 16));
    const uint16_t got = Load16(&tcp[16]);
    // 0x0000 and 0xffff are the same number in one's complement.
    EXPECT_TRUE(got == full || (full == 0 && got == 0xffff)) << payload;
    EXPECT_TRUE(TcpChecksumValid(src, dst, tcp)) << payload;
  }
}

TEST(CompletePartialChecksum, RefusesOffsetsOutsideTheFrame) {
  std::vector<uint8_t> frame(40, 0xab);
  const std::vector<uint8_t> before = frame;
  EXPECT_FALSE(CompletePartialChecksum(frame, 39, 0));
  EXPECT_FALSE(CompletePartialChecksum(frame, 30, 9));
  EXPECT_FALSE(CompletePartialChecksum(frame, 41, 0));
  EXPECT_FALSE(CompletePartialChecksum(frame, 0xffff, 0xffff));
  EXPECT_EQ(frame, before);
  EXPECT_TRUE(CompletePartialChecksum(frame, 30, 8));
}

}  // namespace
}  // namespace netshim
