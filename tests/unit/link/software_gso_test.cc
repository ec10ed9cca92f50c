#include "stack/link/software_gso.h"

#include <vector>

#include "gtest/gtest.h"
#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/tcp.h"

namespace netshim {
namespace {

constexpr Ipv4Address kSrc{0xc6120002}, kDst{0xc6120001};
constexpr size_t kTcpAt = 34;
constexpr size_t kTcpHeader = 32;                      // with a timestamp option
constexpr uint8_t kFlags = 0x80 | 0x10 | 0x08 | 0x01;  // CWR ACK PSH FIN

// An Ethernet + IPv4 + TCP frame the way the stack hands it to an offloading link.
std::vector<uint8_t> TsoFrame(size_t payload, TxOffload* offload, uint16_t gso_size) {
  std::vector<uint8_t> f(kTcpAt + kTcpHeader + payload);
  Store16(&f[12], 0x0800);
  f[14] = 0x45;
  Store16(&f[16], static_cast<uint16_t>(f.size() - 14));
  Store16(&f[18], 100);  // IP ID
  f[22] = 64;
  f[23] = 6;
  Store32(&f[26], kSrc.value);
  Store32(&f[30], kDst.value);
  Store32(&f[kTcpAt + 4], 0xfffff000);  // wraps within the frame
  f[kTcpAt + 12] = static_cast<uint8_t>((kTcpHeader / 4) << 4);
  f[kTcpAt + 13] = kFlags;
  for (size_t i = kTcpAt + kTcpHeader; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i * 13);
  const uint64_t pseudo =
      PseudoHeaderSum(kSrc, kDst, 6, static_cast<uint16_t>(kTcpHeader + payload));
  Store16(&f[kTcpAt + 16], static_cast<uint16_t>(~ChecksumFinish(pseudo)));
  offload->needs_checksum = true;
  offload->csum_start = kTcpAt;
  offload->csum_offset = 16;
  offload->gso_size = gso_size;
  return f;
}

TEST(SoftwareGso, CutsATsoFrameAsLinuxDoes) {
  TxOffload o;
  const std::vector<uint8_t> frame = TsoFrame(5000, &o, 1448);
  auto segs = ApplyOffloads(frame, o);
  ASSERT_TRUE(segs.has_value());
  ASSERT_EQ(segs->size(), 4u);  // 1448 * 3 + 656
  size_t carried = 0;
  for (size_t i = 0; i < segs->size(); ++i) {
    const std::vector<uint8_t>& s = (*segs)[i];
    const size_t len = i < 3 ? 1448 : 656;
    ASSERT_EQ(s.size(), kTcpAt + kTcpHeader + len);
    EXPECT_EQ(Load16(&s[16]), s.size() - 14);      // total length
    EXPECT_EQ(Load16(&s[18]), 100 + i);            // IDs count up
    EXPECT_EQ(InternetChecksum({&s[14], 20}), 0);  // IP header checksum
    EXPECT_EQ(Load32(&s[kTcpAt + 4]), static_cast<uint32_t>(0xfffff000 + 1448 * i));
    const uint8_t f = s[kTcpAt + 13];
    EXPECT_EQ((f & 0x80) != 0, i == 0) << i;  // CWR on the first only
    EXPECT_EQ((f & 0x09) != 0, i == 3) << i;  // FIN and PSH on the last only
    EXPECT_TRUE(f & 0x10);
    EXPECT_TRUE(TcpChecksumValid(kSrc, kDst, std::span(s).subspan(kTcpAt))) << i;
    EXPECT_TRUE(std::equal(s.begin() + kTcpAt + kTcpHeader, s.end(),
                           frame.begin() + static_cast<ptrdiff_t>(kTcpAt + kTcpHeader + carried)));
    carried += len;
  }
  EXPECT_EQ(carried, 5000u);
}

TEST(SoftwareGso, ExactMultipleMakesFullSegments) {
  TxOffload o;
  auto segs = ApplyOffloads(TsoFrame(1448 * 45, &o, 1448), o);
  ASSERT_TRUE(segs.has_value());
  EXPECT_EQ(segs->size(), 45u);
  for (const auto& s : *segs) EXPECT_EQ(s.size(), kTcpAt + kTcpHeader + 1448);
}

TEST(SoftwareGso, FinishesAPartialChecksumWithoutGso) {
  TxOffload o;
  std::vector<uint8_t> frame = TsoFrame(700, &o, 0);
  auto out = ApplyOffloads(frame, o);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_TRUE(TcpChecksumValid(kSrc, kDst, std::span((*out)[0]).subspan(kTcpAt)));
  // Nothing asked: the frame passes unchanged.
  auto plain = ApplyOffloads(frame, TxOffload{});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ((*plain)[0], frame);
}

TEST(SoftwareGso, RefusesWhatADeviceWouldRefuse) {
  TxOffload o;
  const std::vector<uint8_t> frame = TsoFrame(3000, &o, 1448);
  TxOffload wrong_start = o;
  wrong_start.csum_start = 20;
  EXPECT_FALSE(ApplyOffloads(frame, wrong_start).has_value());
  TxOffload no_csum = o;
  no_csum.needs_checksum = false;
  EXPECT_FALSE(ApplyOffloads(frame, no_csum).has_value());
  std::vector<uint8_t> udp = frame;
  udp[23] = 17;
  EXPECT_FALSE(ApplyOffloads(udp, o).has_value());
  std::vector<uint8_t> not_ip = frame;
  Store16(&not_ip[12], 0x86dd);
  EXPECT_FALSE(ApplyOffloads(not_ip, o).has_value());
  for (size_t cut : {0u, 13u, 20u, 34u, 40u, 60u}) {
    EXPECT_FALSE(ApplyOffloads(std::span(frame).first(cut), o).has_value()) << cut;
  }
  std::vector<uint8_t> bad_doff = frame;
  bad_doff[kTcpAt + 12] = 0x40;  // 16 bytes: shorter than a TCP header
  EXPECT_FALSE(ApplyOffloads(bad_doff, o).has_value());
  TxOffload csum_outside;
  csum_outside.needs_checksum = true;
  csum_outside.csum_start = 0xfff0;
  EXPECT_FALSE(ApplyOffloads(frame, csum_outside).has_value());
}

}  // namespace
}  // namespace netshim
