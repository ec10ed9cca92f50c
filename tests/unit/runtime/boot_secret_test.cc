#include "stack/runtime/boot_secret.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

class BootSecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/netshim-secret-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/tcp-secret";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((dir_ + "/link").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(BootSecretTest, CreatedOnceThenReadBack) {
  const auto first = LoadOrCreateBootSecret(path_);
  ASSERT_TRUE(first.has_value());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 16);
  const auto again = LoadOrCreateBootSecret(path_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*first, *again);
  EXPECT_NE(*first, BootSecret{});  // random, not zeros
}

TEST_F(BootSecretTest, RacingCreatorsAgree) {
  std::vector<std::optional<BootSecret>> got(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] { got[i] = LoadOrCreateBootSecret(path_); });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) {
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(*g, *got[0]);
  }
}

TEST_F(BootSecretTest, RefusesAFileOthersCanRead) {
  ASSERT_TRUE(LoadOrCreateBootSecret(path_).has_value());
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  EXPECT_FALSE(LoadOrCreateBootSecret(path_).has_value());
}

TEST_F(BootSecretTest, RefusesAWrongSizeOrASymlink) {
  {
    std::ofstream f(path_);
    f << "short";
  }
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_FALSE(LoadOrCreateBootSecret(path_).has_value());
  unlink(path_.c_str());
  const std::string target = dir_ + "/link";
  ASSERT_TRUE(LoadOrCreateBootSecret(target).has_value());
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  EXPECT_FALSE(LoadOrCreateBootSecret(path_).has_value());  // O_NOFOLLOW
}

TEST_F(BootSecretTest, MissingDirectoryGivesNone) {
  EXPECT_FALSE(LoadOrCreateBootSecret(dir_ + "/no/such/dir/secret").has_value());
}

}  // namespace
}  // namespace netshim
