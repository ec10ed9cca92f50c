#include "shim/protected_fds.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

TEST(ShimProtectedFds, ProtectReleaseAndRanges) {
  ProtectedFds fds;
  EXPECT_TRUE(fds.empty());
  EXPECT_FALSE(fds.Contains(5));
  fds.Protect(5);
  fds.Protect(5);  // twice is once
  fds.Protect(64);
  fds.Protect(1000);
  fds.Protect(-1);                     // ignored
  fds.Protect(ProtectedFds::kMaxFds);  // out of range: ignored
  EXPECT_TRUE(fds.Contains(5));
  EXPECT_TRUE(fds.Contains(64));
  EXPECT_FALSE(fds.Contains(63));
  EXPECT_FALSE(fds.Contains(-1));
  EXPECT_EQ(fds.InRange(0, ~0U), (std::vector<int>{5, 64, 1000}));
  EXPECT_EQ(fds.InRange(6, 999), (std::vector<int>{64}));
  EXPECT_EQ(fds.InRange(64, 64), (std::vector<int>{64}));
  EXPECT_TRUE(fds.InRange(2000, 1u << 30).empty());
  fds.Release(64);
  fds.Release(64);
  EXPECT_FALSE(fds.Contains(64));
  fds.Release(5);
  fds.Release(1000);
  EXPECT_TRUE(fds.empty());
}

}  // namespace
}  // namespace netshim
