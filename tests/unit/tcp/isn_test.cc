// RFC 6528 ISNs: the 4 us clock, per-tuple offsets, secrecy of the key.
#include "stack/transport/tcp/isn.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

FourTuple Tuple(uint16_t local_port = 40000) {
  return {Ipv4Address::FromOctets(198, 18, 0, 2), local_port,
          Ipv4Address::FromOctets(198, 18, 0, 1), 80};
}

absl::Time T0() { return absl::UnixEpoch() + absl::Hours(5); }

TEST(IsnTest, AdvancesOncePerFourMicroseconds) {
  IsnGenerator gen(SipKey{1, 2});
  const uint32_t a = gen.Isn(Tuple(), T0());
  EXPECT_EQ(gen.Isn(Tuple(), T0() + absl::Microseconds(3)), a);
  EXPECT_EQ(gen.Isn(Tuple(), T0() + absl::Microseconds(4)), a + 1);
  EXPECT_EQ(gen.Isn(Tuple(), T0() + absl::Seconds(1)), a + 250000);
  // M wraps every 2^32 ticks (~4.77 hours) and so does the ISN.
  EXPECT_EQ(gen.Isn(Tuple(), T0() + absl::Microseconds(4) * (uint64_t{1} << 32)), a);
}

TEST(IsnTest, IsTimerPlusKeyedHashOfTuple) {
  IsnGenerator gen(SipKey{1, 2});
  const int64_t ticks = absl::ToInt64Microseconds(T0() - absl::UnixEpoch()) / 4;
  EXPECT_EQ(gen.Isn(Tuple(), T0()), static_cast<uint32_t>(ticks) + gen.Offset(Tuple()));
}

TEST(IsnTest, TuplesAndKeysGiveUnrelatedOffsets) {
  IsnGenerator gen(SipKey{1, 2});
  EXPECT_NE(gen.Offset(Tuple(40000)), gen.Offset(Tuple(40001)));
  FourTuple swapped = Tuple();
  std::swap(swapped.local_address, swapped.remote_address);
  EXPECT_NE(gen.Offset(Tuple()), gen.Offset(swapped));
  IsnGenerator other(SipKey{1, 3});
  EXPECT_NE(gen.Offset(Tuple()), other.Offset(Tuple()));
  // Same key, same tuple: the same offset (a reused tuple's ISNs keep increasing).
  EXPECT_EQ(IsnGenerator(SipKey{1, 2}).Offset(Tuple()), gen.Offset(Tuple()));
}

TEST(IsnTest, TimestampOffsetPerAddressPair) {
  IsnGenerator gen(SipKey{7, 8});
  const Ipv4Address a = Ipv4Address::FromOctets(10, 0, 0, 1),
                    b = Ipv4Address::FromOctets(10, 0, 0, 2);
  EXPECT_EQ(gen.TimestampOffset(a, b), gen.TimestampOffset(a, b));
  EXPECT_NE(gen.TimestampOffset(a, b), gen.TimestampOffset(b, a));
  EXPECT_NE(gen.TimestampOffset(a, b), IsnGenerator(SipKey{7, 9}).TimestampOffset(a, b));
}

}  // namespace
}  // namespace netshim
