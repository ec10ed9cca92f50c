// Sequence-number comparisons around 0, 2^31 and the wrap (RFC 9293 3.4).
#include "stack/transport/tcp/seq.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace netshim {
namespace {

TEST(SeqTest, OrdinaryOrder) {
  EXPECT_TRUE(SeqLt(1, 2));
  EXPECT_FALSE(SeqLt(2, 2));
  EXPECT_TRUE(SeqLeq(2, 2));
  EXPECT_TRUE(SeqGt(3, 2));
  EXPECT_TRUE(SeqGeq(3, 3));
  EXPECT_FALSE(SeqGt(2, 3));
  EXPECT_EQ(SeqDiff(10, 3), 7);
  EXPECT_EQ(SeqDiff(3, 10), -7);
}

TEST(SeqTest, WrapAround) {
  const uint32_t before_wrap = 0xfffffff0u;
  const uint32_t after_wrap = 0x10u;
  EXPECT_TRUE(SeqLt(before_wrap, after_wrap));
  EXPECT_TRUE(SeqGt(after_wrap, before_wrap));
  EXPECT_EQ(SeqDiff(after_wrap, before_wrap), 0x20);
  EXPECT_EQ(SeqDiff(before_wrap, after_wrap), -0x20);
  EXPECT_EQ(SeqMax(before_wrap, after_wrap), after_wrap);
  EXPECT_EQ(SeqMin(before_wrap, after_wrap), before_wrap);
  EXPECT_TRUE(SeqLt(0xffffffffu, 0));
  EXPECT_EQ(SeqDiff(0, 0xffffffffu), 1);
}

TEST(SeqTest, AroundTwoToThe31) {
  const uint32_t a = 1000;
  // Just under 2^31 ahead: still after.
  EXPECT_TRUE(SeqGt(a + 0x7fffffffu, a));
  EXPECT_TRUE(SeqLt(a, a + 0x7fffffffu));
  EXPECT_EQ(SeqDiff(a + 0x7fffffffu, a), INT32_MAX);
  // Just over 2^31 ahead: now it reads as behind.
  EXPECT_TRUE(SeqLt(a + 0x80000001u, a));
  EXPECT_EQ(SeqDiff(a + 0x80000001u, a), -INT32_MAX);
  // Exactly 2^31: ambiguous, each "before" the other, as Linux before() is.
  EXPECT_TRUE(SeqLt(a, a + 0x80000000u));
  EXPECT_TRUE(SeqLt(a + 0x80000000u, a));
  EXPECT_EQ(SeqDiff(a + 0x80000000u, a), INT32_MIN);
  // The same straddling 2^31 itself.
  EXPECT_TRUE(SeqLt(0x7fffffffu, 0x80000000u));
  EXPECT_TRUE(SeqGt(0x80000010u, 0x7ffffff0u));
}

TEST(SeqTest, BetweenIsInclusiveAndWrapSafe) {
  EXPECT_TRUE(SeqBetween(5, 5, 10));
  EXPECT_TRUE(SeqBetween(10, 5, 10));
  EXPECT_FALSE(SeqBetween(11, 5, 10));
  EXPECT_FALSE(SeqBetween(4, 5, 10));
  EXPECT_TRUE(SeqBetween(0, 0xfffffff0u, 0x10));
  EXPECT_TRUE(SeqBetween(0xfffffff0u, 0xfffffff0u, 0x10));
  EXPECT_FALSE(SeqBetween(0x11, 0xfffffff0u, 0x10));
  EXPECT_FALSE(SeqBetween(0xffffffefu, 0xfffffff0u, 0x10));
  // Arcs longer than 2^31 still work (Linux between()).
  EXPECT_TRUE(SeqBetween(0xc0000000u, 0, 0xf0000000u));
}

TEST(SeqTest, InRangeIsHalfOpen) {
  EXPECT_TRUE(SeqInRange(5, 5, 10));
  EXPECT_FALSE(SeqInRange(10, 5, 10));
  EXPECT_FALSE(SeqInRange(5, 5, 5));
  EXPECT_TRUE(SeqInRange(0xffffffffu, 0xfffffffeu, 3));
  EXPECT_TRUE(SeqInRange(2, 0xfffffffeu, 3));
  EXPECT_FALSE(SeqInRange(3, 0xfffffffeu, 3));
}

TEST(SeqTest, ConstexprUsable) {
  static_assert(SeqLt(0xffffffffu, 1));
  static_assert(SeqMax(0xfffffffeu, 2) == 2);
  static_assert(SeqDiff(1, 0xffffffffu) == 2);
}

}  // namespace
}  // namespace netshim
