// The Waiter's sleeping protocol: a Signal() writes the eventfd only for a sleeping owner,
// and no wake-up is lost however Signal() and Sleep() interleave.
#include "shim/waiter.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shim/real_calls.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using ::netshim::testing::FakeSocket;

Deadline In(absl::Duration d) { return MonotonicNow() + d; }

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Both ways of sleeping: epoll_pwait2 on an edge-triggered eventfd, and the ppoll fallback.
class WaiterTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Waiter> Make() { return std::make_unique<Waiter>(GetParam()); }
};

TEST_P(WaiterTest, SignalBeforeSleepReturnsAtOnce) {
  auto w = Make();
  w->Drain();
  w->Signal();
  EXPECT_EQ(w->Sleep(std::nullopt), 0);
  // The signal stays until Drain(), as a readable eventfd did.
  EXPECT_EQ(w->Sleep(std::nullopt), 0);
}

TEST_P(WaiterTest, DrainForgetsEarlierSignals) {
  auto w = Make();
  w->Signal();
  w->Signal();
  w->Drain();
  const absl::Time start = MonotonicNow();
  EXPECT_EQ(w->Sleep(In(absl::Milliseconds(30))), -ETIMEDOUT);
  EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(29));
}

TEST_P(WaiterTest, SignalFromAnotherThreadWakesTheSleeper) {
  auto w = Make();
  for (int i = 0; i < 50; ++i) {
    w->Drain();
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(i % 3));
      w->Signal();
    });
    EXPECT_EQ(w->Sleep(In(absl::Seconds(10))), 0) << "round " << i;
    t.join();
  }
}

TEST_P(WaiterTest, SignalToAnAwakeOwnerWritesNothing) {
  auto w = Make();
  w->Drain();
  w->Signal();  // nobody sleeps: no write
  EXPECT_EQ(w->Sleep(std::nullopt), 0);
  w->Drain();
  // fd() empties the counter only when a write may have happened: none did.
  EXPECT_FALSE(Readable(w->fd()));
}

TEST_P(WaiterTest, SignalToASleeperWritesOnce) {
  auto w = Make();
  w->Drain();
  std::thread t([&] {
    // Signal until the owner is surely asleep and woken: the first that finds it asleep
    // writes, the others find it signalled.
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      w->Signal();
    }
  });
  EXPECT_EQ(w->Sleep(In(absl::Seconds(10))), 0);
  t.join();
  w->Drain();
  EXPECT_EQ(w->Sleep(In(absl::Milliseconds(20))), -ETIMEDOUT);
}

TEST_P(WaiterTest, PolledFdIsAPlainEventfd) {
  WaiterLease w;
  w->Drain();
  const int fd = w->fd();
  EXPECT_FALSE(Readable(fd));
  w->Signal();
  EXPECT_TRUE(Readable(fd)) << "every Signal() writes once fd() was handed out";
  w->Drain();
  EXPECT_FALSE(Readable(fd)) << "Drain() empties it";
  w->Signal();
  EXPECT_TRUE(Readable(fd)) << "and the next Signal() writes again";
  w->Drain();
}

TEST(WaiterLeaseTest, WriteOfAPolledLeaseDoesNotEndALaterSleep) {
  {
    WaiterLease w;
    w->Drain();
    w->fd();
    w->Signal();  // a write (and, with epoll, an event) nobody takes
  }
  WaiterLease w;
  w->Drain();
  EXPECT_EQ(w->Sleep(In(absl::Milliseconds(30))), -ETIMEDOUT)
      << "a stale write is not a Signal() of this wait";
  w->Drain();
  EXPECT_FALSE(Readable(w->fd())) << "fd() hands the eventfd out empty";
}

TEST_P(WaiterTest, HandlerInterruptsSleep) {
  auto w = Make();
  w->Drain();
  netshim::testing::SignalPoker poker(pthread_self());
  EXPECT_EQ(w->Sleep(In(absl::Seconds(10))), -EINTR);
}

TEST_P(WaiterTest, SigmaskIsTheCallers) {
  // SIGUSR1 blocked in the thread and not in the sleep's mask: the handler runs during the
  // sleep only, and ends it.
  auto w = Make();
  w->Drain();
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &usr1, &old);
  sigset_t during = old;
  sigdelset(&during, SIGUSR1);
  {
    netshim::testing::SignalPoker poker(pthread_self());
    EXPECT_EQ(w->Sleep(In(absl::Seconds(10)), &during), -EINTR);
    // Back to blocked: take what is pending before the poker's handler goes away.
    const timespec zero{0, 0};
    while (sigtimedwait(&usr1, nullptr, &zero) == SIGUSR1) {
    }
  }
  const timespec zero{0, 0};
  while (sigtimedwait(&usr1, nullptr, &zero) == SIGUSR1) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// pthread_cancel ends a sleep: the wait is a cancellation point (pthreads(7)).
TEST_P(WaiterTest, PthreadCancelEndsASleep) {
#if defined(__SANITIZE_ADDRESS__)
  // ASan's runtime aborts in its own stack bookkeeping when cancellation unwinds a thread
  // (a CHECK in asan_thread.cpp), whatever the thread was blocked in.
  GTEST_SKIP() << "pthread_cancel under AddressSanitizer";
#endif
  struct Arg {
    bool use_epoll;
    std::atomic<bool> sleeping{false};
  } arg{GetParam()};
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, nullptr,
                [](void* p) -> void* {
                  auto* a = static_cast<Arg*>(p);
                  Waiter w(a->use_epoll);
                  w.Drain();
                  a->sleeping = true;
                  w.Sleep(std::nullopt);
                  return nullptr;
                },
                &arg),
            0);
  while (!arg.sleeping.load()) std::this_thread::yield();
  ASSERT_EQ(pthread_cancel(thread), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);
  EXPECT_EQ(result, PTHREAD_CANCELED);
}

// Many threads passing a token around a ring, each waking the next by Signal() after
// setting its flag, the waiter checking the flag between Drain() and Sleep(): a lost
// wake-up leaves a thread asleep until its deadline, which fails the test.
TEST_P(WaiterTest, NoLostWakeUpUnderStress) {
  constexpr int kThreads = 6;
  constexpr int kLaps = 3000;
  struct Slot {
    std::unique_ptr<Waiter> waiter;
    std::atomic<int> tokens{0};
  };
  std::vector<Slot> slots(kThreads);
  for (Slot& s : slots) s.waiter = Make();
  std::atomic<int> lost{0};
  std::atomic<bool> abort{false};
  auto body = [&](int me) {
    Slot& mine = slots[me];
    Slot& next = slots[(me + 1) % kThreads];
    for (int lap = 0; lap < kLaps && !abort.load(); ++lap) {
      for (;;) {
        mine.waiter->Drain();
        if (mine.tokens.load() > 0) break;
        const int r = mine.waiter->Sleep(In(absl::Seconds(5)));
        if (r == -ETIMEDOUT && mine.tokens.load() > 0) {
          lost.fetch_add(1);  // the token was there and nobody woke us
          abort = true;
        }
        if (r == -ETIMEDOUT) {
          abort = true;
          return;
        }
      }
      mine.tokens.fetch_sub(1);
      next.tokens.fetch_add(1);
      next.waiter->Signal();
    }
  };
  // Two tokens in the ring, so signals also land on owners that are awake.
  slots[0].tokens = 1;
  slots[kThreads / 2].tokens = 1;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(body, i);
  for (auto& t : threads) t.join();
  EXPECT_EQ(lost.load(), 0);
  EXPECT_FALSE(abort.load()) << "a thread slept until its deadline: a lost wake-up";
}

// The same through Watches on a socket, as the blocking calls wait.
TEST_P(WaiterTest, WaitForSocketWakesOnReadiness) {
  auto socket = std::make_shared<FakeSocket>();
  std::atomic<bool> done{false};
  std::thread feeder([&] {
    const absl::Time end = MonotonicNow() + absl::Seconds(20);
    while (!done.load() && MonotonicNow() < end) {
      socket->Deliver("x");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  int got = 0;
  char buf[64];
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(WaitForSocket(*socket, POLLIN, In(absl::Seconds(5))), 0);
    iovec iov{buf, sizeof(buf)};
    MessageInfo info;
    const ssize_t n = socket->RecvMsg({&iov, 1}, info, 0);
    if (n > 0) got += static_cast<int>(n);
  }
  done = true;
  feeder.join();
  EXPECT_GT(got, 0);
}

// Where epoll_pwait2 is missing under the C library's wrapper (kernels before 5.11,
// valgrind: ENOSYS; Docker's seccomp profile: EPERM) sleeps fall back instead of failing
// every blocking call. A child process installs a seccomp filter answering ENOSYS for
// epoll_pwait2 (and only it), then sleeps to a deadline through a Waiter and through the
// epoll emulation's call: both must time out normally. Its exit code says what failed.
TEST(WaiterFallbackTest, MissingEpollPwait2FallsBack) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_epoll_pwait2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(10);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(11);
    if (syscall(SYS_epoll_pwait2, -1, nullptr, 0, nullptr, nullptr, 8) != -1 || errno != ENOSYS) {
      _exit(12);  // the filter is not in force: the test would prove nothing
    }
    Waiter w(/*use_epoll=*/true);
    w.Drain();
    if (w.Sleep(MonotonicNow() + absl::Milliseconds(20)) != -ETIMEDOUT) _exit(13);
    w.Drain();
    w.Signal();
    if (w.Sleep(MonotonicNow() + absl::Seconds(5)) != 0) _exit(14);
    const int epfd = real::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev;
    const timespec ten_ms{0, 10'000'000};
    if (real::epoll_pwait2(epfd, &ev, 1, &ten_ms, nullptr) != 0) _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  if (WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 11) {
    GTEST_SKIP() << "this kernel refused a seccomp filter (exit " << WEXITSTATUS(status) << ")";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's exit codes in the test";
}

INSTANTIATE_TEST_SUITE_P(Both, WaiterTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Epoll") : std::string("Ppoll");
                         });

}  // namespace
}  // namespace netshim
