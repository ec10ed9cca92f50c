#include "shim/signals.h"

#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "shim/fd_ops.h"
#include "shim/poll_set.h"
#include "shim/real_calls.h"
#include "shim/socket_ops.h"
#include "shim/waiter.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

std::atomic<int> g_plain{0};
std::atomic<int> g_info{0};
std::atomic<int> g_info_signo{0};

void PlainHandler(int) { g_plain.fetch_add(1); }
void InfoHandler(int, siginfo_t* info, void*) {
  g_info.fetch_add(1);
  g_info_signo.store(info->si_signo);
}

// Puts SIGUSR2's original action back after each test.
class ShimSignals : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(real::sigaction(SIGUSR2, nullptr, &saved_), 0); }
  void TearDown() override { real::sigaction(SIGUSR2, &saved_, nullptr); }
  static int Install(void (*handler)(int), int flags) {
    struct sigaction act {};
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = flags;
    return InstallSignalAction(SIGUSR2, &act, nullptr);
  }
  struct sigaction saved_ {};
};

TEST_F(ShimSignals, TheProgramSeesItsOwnHandlerTheKernelHoldsTheTrampoline) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  struct sigaction seen {};
  ASSERT_EQ(InstallSignalAction(SIGUSR2, nullptr, &seen), 0);
  EXPECT_EQ(seen.sa_handler, &PlainHandler);
  EXPECT_EQ(seen.sa_flags & (SA_RESTART | SA_SIGINFO), SA_RESTART);
  struct sigaction kernel {};
  ASSERT_EQ(real::sigaction(SIGUSR2, nullptr, &kernel), 0);
  EXPECT_NE(reinterpret_cast<void*>(kernel.sa_sigaction), reinterpret_cast<void*>(&PlainHandler));
  EXPECT_TRUE(kernel.sa_flags & SA_SIGINFO);
  EXPECT_TRUE(kernel.sa_flags & SA_RESTART);
}

TEST_F(ShimSignals, HandlersRunAndAreCounted) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  const int before = g_plain.load();
  SignalMark mark = CurrentSignalMark();
  EXPECT_FALSE(ShouldRestart(mark)) << "no handler ran yet";
  raise(SIGUSR2);
  EXPECT_EQ(g_plain.load(), before + 1);
  EXPECT_TRUE(ShouldRestart(mark));

  ASSERT_EQ(Install(PlainHandler, 0), 0);
  mark = CurrentSignalMark();
  raise(SIGUSR2);
  EXPECT_EQ(g_plain.load(), before + 2);
  EXPECT_FALSE(ShouldRestart(mark)) << "a handler without SA_RESTART interrupts";
}

TEST_F(ShimSignals, SiginfoHandlersGetTheirInfo) {
  struct sigaction act {};
  act.sa_sigaction = InfoHandler;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_SIGINFO;
  ASSERT_EQ(InstallSignalAction(SIGUSR2, &act, nullptr), 0);
  const int before = g_info.load();
  raise(SIGUSR2);
  EXPECT_EQ(g_info.load(), before + 1);
  EXPECT_EQ(g_info_signo.load(), SIGUSR2);
  struct sigaction seen {};
  ASSERT_EQ(InstallSignalAction(SIGUSR2, nullptr, &seen), 0);
  EXPECT_EQ(seen.sa_sigaction, &InfoHandler);
}

TEST_F(ShimSignals, IgnoreAndDefaultGoStraightToTheKernel) {
  struct sigaction act {};
  act.sa_handler = SIG_IGN;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(InstallSignalAction(SIGUSR2, &act, nullptr), 0);
  struct sigaction kernel {};
  ASSERT_EQ(real::sigaction(SIGUSR2, nullptr, &kernel), 0);
  EXPECT_EQ(kernel.sa_handler, SIG_IGN);
  raise(SIGUSR2);  // ignored: the test goes on
  EXPECT_EQ(InstallSignalAction(0, &act, nullptr), -EINVAL);
  EXPECT_EQ(InstallSignalAction(_NSIG, &act, nullptr), -EINVAL);
  EXPECT_EQ(InstallSignalAction(SIGKILL, &act, nullptr), -EINVAL);
}

TEST_F(ShimSignals, SiginterruptTogglesRestart) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  ASSERT_EQ(SetSignalInterrupt(SIGUSR2, 1), 0);
  struct sigaction seen {};
  ASSERT_EQ(InstallSignalAction(SIGUSR2, nullptr, &seen), 0);
  EXPECT_FALSE(seen.sa_flags & SA_RESTART);
  EXPECT_EQ(seen.sa_handler, &PlainHandler);
  ASSERT_EQ(SetSignalInterrupt(SIGUSR2, 0), 0);
  ASSERT_EQ(InstallSignalAction(SIGUSR2, nullptr, &seen), 0);
  EXPECT_TRUE(seen.sa_flags & SA_RESTART);
}

TEST_F(ShimSignals, BlockingReceiveRestartsAfterSaRestartHandlers) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  auto fake = std::make_shared<testing::FakeSocket>();
  OpenSocket s(fake, /*nonblocking=*/false);
  const int before = g_plain.load();
  std::thread feeder([&] {
    // Data comes only after several handlers have run during the wait.
    while (g_plain.load() < before + 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    fake->Deliver("late");
  });
  char buf[8];
  iovec iov{buf, sizeof(buf)};
  ssize_t r;
  {
    testing::SignalSender poker(pthread_self(), SIGUSR2);
    r = ReceiveMessage(s, {&iov, 1}, 0, nullptr, nullptr, nullptr);
  }
  feeder.join();
  EXPECT_EQ(r, 4) << "restarted, not EINTR";
}

TEST_F(ShimSignals, WithoutSaRestartOrWithATimeoutItIsEintr) {
  auto fake = std::make_shared<testing::FakeSocket>();
  OpenSocket s(fake, /*nonblocking=*/false);
  char buf[8];
  iovec iov{buf, sizeof(buf)};
  ASSERT_EQ(Install(PlainHandler, 0), 0);
  {
    testing::SignalSender poker(pthread_self(), SIGUSR2);
    EXPECT_EQ(ReceiveMessage(s, {&iov, 1}, 0, nullptr, nullptr, nullptr), -EINTR);
  }
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  fake->SetReceiveTimeout(absl::Seconds(30));
  {
    testing::SignalSender poker(pthread_self(), SIGUSR2);
    EXPECT_EQ(ReceiveMessage(s, {&iov, 1}, 0, nullptr, nullptr, nullptr), -EINTR)
        << "SO_RCVTIMEO set: signal(7) says EINTR even with SA_RESTART";
  }
}

TEST_F(ShimSignals, PollIsNeverRestarted) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  FdTable table;
  auto fake = std::make_shared<testing::FakeSocket>();
  const int fd = InstallSocket(table, std::make_shared<OpenSocket>(fake, false), true);
  ASSERT_GE(fd, 0);
  pollfd p{fd, POLLIN, 0};
  std::optional<int> r;
  {
    testing::SignalSender poker(pthread_self(), SIGUSR2);
    r = PollMerged(table, &p, 1, std::nullopt, nullptr);
  }
  EXPECT_EQ(r, -EINTR);
  CloseFd(table, fd);
}

// --- DeferSignals ---

std::atomic<int> g_deferred_runs{0};
std::atomic<int> g_deferred_value{0};
std::atomic<int> g_deferred_code{0};
std::atomic<int> g_depth_seen{-1};
void ValueHandler(int, siginfo_t* info, void*) {
  g_deferred_runs.fetch_add(1);
  g_deferred_value.store(info->si_value.sival_int);
  g_deferred_code.store(info->si_code);
}

// A handler that arrives inside a section runs when the outermost one ends, once, with the
// siginfo it came with (here a queued value and SI_QUEUE).
TEST_F(ShimSignals, HandlersWaitForTheEndOfTheOutermostSection) {
  struct sigaction act {};
  act.sa_sigaction = ValueHandler;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  ASSERT_EQ(InstallSignalAction(SIGUSR2, &act, nullptr), 0);
  const int before = g_deferred_runs.load();
  const SignalMark mark = CurrentSignalMark();
  {
    DeferSignals outer;
    {
      DeferSignals inner;
      sigval value{};
      value.sival_int = 4242;
      // To this thread (SI_QUEUE, as sigqueue(3)): delivered before the call returns.
      ASSERT_EQ(pthread_sigqueue(pthread_self(), SIGUSR2, value), 0);
      raise(SIGUSR2);  // a second one while pending is pending once
      EXPECT_EQ(g_deferred_runs.load(), before) << "ran inside the section";
    }
    EXPECT_EQ(g_deferred_runs.load(), before) << "ran when an inner section ended";
    EXPECT_FALSE(HandlerRanSince(mark));
  }
  EXPECT_EQ(g_deferred_runs.load(), before + 1);
  EXPECT_EQ(g_deferred_value.load(), 4242) << "the siginfo was not kept";
  EXPECT_EQ(g_deferred_code.load(), SI_QUEUE);
  EXPECT_TRUE(HandlerRanSince(mark));
  EXPECT_TRUE(ShouldRestart(mark)) << "the re-delivered handler was not counted";
}

// Synchronous signals and SA_RESETHAND handlers are never deferred.
TEST_F(ShimSignals, SomeHandlersRunInsideSections) {
  ASSERT_EQ(Install(PlainHandler, SA_RESETHAND), 0);
  int before = g_plain.load();
  {
    DeferSignals defer;
    raise(SIGUSR2);
    EXPECT_EQ(g_plain.load(), before + 1) << "an SA_RESETHAND handler waited (it would find "
                                             "SIG_DFL on re-delivery)";
  }
  struct sigaction saved_bus {};
  ASSERT_EQ(real::sigaction(SIGBUS, nullptr, &saved_bus), 0);
  struct sigaction act {};
  act.sa_handler = PlainHandler;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(InstallSignalAction(SIGBUS, &act, nullptr), 0);
  before = g_plain.load();
  {
    DeferSignals defer;
    raise(SIGBUS);
    EXPECT_EQ(g_plain.load(), before + 1) << "a synchronous signal waited";
  }
  real::sigaction(SIGBUS, &saved_bus, nullptr);
}

std::atomic<int> g_hook_runs{0};
std::atomic<int> g_plain_at_hook{-1};
void CountingHook() {
  g_hook_runs.fetch_add(1);
  g_plain_at_hook.store(g_plain.load());
}

// The hook runs before the handler (outside sections), once, then is forgotten.
TEST_F(ShimSignals, TheBeforeHandlerHookRunsFirstAndOnce) {
  ASSERT_EQ(Install(PlainHandler, SA_RESTART), 0);
  const int hooks = g_hook_runs.load();
  const int before = g_plain.load();
  SetBeforeHandlerHook(CountingHook);
  {
    DeferSignals defer;
    raise(SIGUSR2);
    EXPECT_EQ(g_hook_runs.load(), hooks) << "the hook ran for a deferred signal";
  }
  EXPECT_EQ(g_hook_runs.load(), hooks + 1);
  EXPECT_EQ(g_plain_at_hook.load(), before) << "the handler ran before the hook";
  EXPECT_EQ(g_plain.load(), before + 1);
  raise(SIGUSR2);
  EXPECT_EQ(g_hook_runs.load(), hooks + 1) << "the hook ran twice";
  EXPECT_EQ(g_plain.load(), before + 2);
}

}  // namespace
}  // namespace netshim
