#include "shim/fd_table.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
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

// --- fork ---

using std::chrono::milliseconds;

// Spins (bounded) until `flag` is set; false on timeout.
bool WaitFlag(const std::atomic<bool>& flag, milliseconds limit = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST(ShimForkGate, CloseWaitsForAThreadInside) {
  ForkGate gate;
  std::atomic<bool> inside{false}, leave{false}, closed{false};
  std::thread t([&] {
    ForkGate::Section section(gate);
    inside = true;
    WaitFlag(leave);
  });
  ASSERT_TRUE(WaitFlag(inside));
  std::thread closer([&] {
    gate.Close();
    closed = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(closed.load()) << "Close returned while a thread was inside";
  leave = true;
  EXPECT_TRUE(WaitFlag(closed));
  gate.Open();
  t.join();
  closer.join();
}

TEST(ShimForkGate, EnteringWaitsWhileClosed) {
  ForkGate gate;
  gate.Close();
  std::atomic<bool> entered{false};
  std::thread t([&] {
    ForkGate::Section section(gate);
    entered = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(entered.load()) << "a thread entered while the gate was closed";
  gate.Open();
  EXPECT_TRUE(WaitFlag(entered));
  t.join();
}

// fork from a signal handler that interrupted a table operation of the same thread.
TEST(ShimForkGate, TheClosingThreadsOwnSectionIsNotWaitedFor) {
  ForkGate gate;
  gate.Enter();
  gate.Close();  // would never return if it waited for itself
  gate.Open();
  gate.Exit();
}

// A signal handler re-entering on a thread already inside while a fork is pending must get
// in (the forking thread is waiting for that very thread to leave).
TEST(ShimForkGate, ReentryDoesNotWait) {
  ForkGate gate;
  std::atomic<bool> inside{false}, closing{false}, reentered{false}, closed{false};
  std::thread t([&] {
    ForkGate::Section outer(gate);
    inside = true;
    WaitFlag(closing);
    std::this_thread::sleep_for(milliseconds(20));  // Close is spinning on us by now
    ForkGate::Section inner(gate);
    reentered = true;
  });
  ASSERT_TRUE(WaitFlag(inside));
  std::thread closer([&] {
    closing = true;
    gate.Close();
    closed = true;
  });
  EXPECT_TRUE(WaitFlag(reentered));
  EXPECT_TRUE(WaitFlag(closed));
  gate.Open();
  t.join();
  closer.join();
}

// The real thing: threads look up and change the very slots a child uses while the main
// thread forks, quiescing the table as the shim's atfork handlers do. A child made while
// a slot was locked would hang on it (and be killed by its alarm).
TEST(ShimFdTable, ForkWhileOtherThreadsUseTheTable) {
  FdTable table;
  auto fake = std::make_shared<FakeSocket>();
  auto open = MakeOpen(fake);
  for (int fd = 10; fd < 14; ++fd) table.Set(fd, open);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load(std::memory_order_relaxed)) {
        table.Get(10 + t);
        table.Set(13, open);
      }
    });
  }
  constexpr int kForks = 100;
  int hung = 0;
  int failed = 0;
  for (int i = 0; i < kForks && failed == 0; ++i) {
    table.QuiesceForFork();
    const pid_t pid = fork();
    if (pid == 0) {
      table.MarkForkedChild();
      table.ResumeAfterFork();
      alarm(5);
      for (int fd = 10; fd < 14; ++fd) {
        if (table.Get(fd) != open) _exit(2);
        table.Drop(table.Remove(fd));
      }
      _exit(table.size() == 0 && fake->closes() == 0 ? 0 : 3);
    }
    table.ResumeAfterFork();
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
      ADD_FAILURE() << "fork or waitpid failed";
      ++failed;
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      ++hung;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << "child " << i << ": status " << status;
      ++failed;
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(hung, 0) << "children stuck on a slot locked at fork";
  EXPECT_EQ(fake->closes(), 0);
}

TEST(ShimFdTable, DropReleasesExceptInAForkedChild) {
  FdTable table;
  auto fake = std::make_shared<FakeSocket>();
  table.Set(3, MakeOpen(fake));
  table.Drop(table.Remove(3));
  EXPECT_EQ(fake->closes(), 1);
  EXPECT_EQ(table.kept_in_child(), 0u);
  auto kept = std::make_shared<FakeSocket>();
  table.Set(4, MakeOpen(kept));
  table.MarkForkedChild();
  EXPECT_TRUE(table.forked_child());
  table.Drop(table.Remove(4));
  EXPECT_EQ(kept->closes(), 0);
  EXPECT_EQ(table.kept_in_child(), 1u);
}

}  // namespace
}  // namespace netshim
