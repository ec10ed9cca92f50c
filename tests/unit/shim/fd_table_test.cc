#include "shim/fd_table.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/shim/fake_socket.h"

namespace netshim {
namespace {

using testing::FakeSocket;

std::shared_ptr<OpenSocket> MakeOpen(const std::shared_ptr<FakeSocket>& s) {
  return std::make_shared<OpenSocket>(s, false);
}

TEST(ShimFdTable, EmptyTableKnowsNothing) {
  FdTable table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Get(0), nullptr);
  EXPECT_EQ(table.Get(5), nullptr);
  EXPECT_EQ(table.Get(-1), nullptr);
  EXPECT_EQ(table.Get(FdTable::kMaxFds), nullptr);
  EXPECT_EQ(table.Remove(5), nullptr);
}

TEST(ShimFdTable, SetGetRemove) {
  FdTable table;
  auto fake = std::make_shared<FakeSocket>();
  auto open = MakeOpen(fake);
  EXPECT_EQ(table.Set(7, open), nullptr);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Get(7), open);
  EXPECT_EQ(table.Get(6), nullptr);
  EXPECT_EQ(table.Get(7 + 1024), nullptr);  // same slot in another chunk
  EXPECT_EQ(table.Remove(7), open);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Get(7), nullptr);
}

TEST(ShimFdTable, HighDescriptorsAndOutOfRange) {
  FdTable table;
  auto open = MakeOpen(std::make_shared<FakeSocket>());
  bool ok = false;
  table.Set(FdTable::kMaxFds - 1, open, &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(table.Get(FdTable::kMaxFds - 1), open);
  table.Set(FdTable::kMaxFds, open, &ok);
  EXPECT_FALSE(ok);
  table.Set(-3, open, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(table.size(), 1u);
}

TEST(ShimFdTable, SetReturnsWhatWasReplaced) {
  FdTable table;
  auto a = MakeOpen(std::make_shared<FakeSocket>());
  auto b = MakeOpen(std::make_shared<FakeSocket>());
  table.Set(3, a);
  EXPECT_EQ(table.Set(3, b), a);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Get(3), b);
}

TEST(ShimFdTable, SocketClosesWithItsLastDescriptorOnly) {
  FdTable table;
  auto fake = std::make_shared<FakeSocket>();
  {
    auto open = MakeOpen(fake);
    table.Set(10, open);
    table.Set(11, open);  // a dup
  }
  table.Remove(10);
  EXPECT_EQ(fake->closes(), 0) << "a dup still refers to it";
  table.Remove(11);
  EXPECT_EQ(fake->closes(), 1);
}

TEST(ShimFdTable, AnOperationInFlightKeepsTheSocketOpen) {
  FdTable table;
  auto fake = std::make_shared<FakeSocket>();
  table.Set(4, MakeOpen(fake));
  std::shared_ptr<OpenSocket> in_flight = table.Get(4);
  table.Remove(4);
  EXPECT_EQ(fake->closes(), 0);
  in_flight.reset();
  EXPECT_EQ(fake->closes(), 1);
}

TEST(ShimFdTable, CloseNowRunsOnceAndTheHookSeesTheSocket) {
  auto fake = std::make_shared<FakeSocket>();
  int hooks = 0;
  auto open = std::make_shared<OpenSocket>(fake, true, [&](const std::shared_ptr<Socket>& s) {
    EXPECT_EQ(s.get(), fake.get());
    ++hooks;
  });
  EXPECT_TRUE(open->nonblocking());
  open->CloseNow();
  open->CloseNow();
  open.reset();
  EXPECT_EQ(hooks, 1);
  EXPECT_EQ(fake->closes(), 0) << "the hook decides how to close";
}

TEST(ShimFdTable, ForEachVisitsEveryStackDescriptor) {
  FdTable table;
  auto open = MakeOpen(std::make_shared<FakeSocket>());
  table.Set(1, open);
  table.Set(3000, open);
  std::vector<int> seen;
  table.ForEach([&](int fd, const std::shared_ptr<OpenSocket>& s) {
    EXPECT_EQ(s, open);
    seen.push_back(fd);
  });
  EXPECT_EQ(seen, (std::vector<int>{1, 3000}));
}

// Lookups race with installs and removals on the same descriptors: every lookup sees
// either nothing or a whole, live socket, and each socket closes exactly once.
TEST(ShimFdTable, ConcurrentLookupsAndChanges) {
  FdTable table;
  constexpr int kFds = 64;
  std::vector<std::shared_ptr<FakeSocket>> fakes;
  for (int i = 0; i < kFds; ++i) fakes.push_back(std::make_shared<FakeSocket>());
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        for (int fd = 0; fd < kFds; ++fd) {
          if (auto s = table.Get(fd)) {
            EXPECT_EQ(s->socket().type(), SOCK_STREAM);
          }
        }
      }
    });
  }
  for (int round = 0; round < 200; ++round) {
    for (int fd = 0; fd < kFds; ++fd) table.Set(fd, MakeOpen(fakes[fd]));
    for (int fd = 0; fd < kFds; ++fd) table.Remove(fd);
  }
  stop = true;
  for (auto& t : readers) t.join();
  for (const auto& f : fakes) EXPECT_EQ(f->closes(), 200);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace netshim
