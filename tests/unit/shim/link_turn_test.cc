// Caller polling through the shim's blocking waits: a thread blocked on a socket holds the
// link's turn and takes the frames itself, and a handler that longjmp()s out of the wait
// hands the turn back. The "link" is a pipe; its frames are bytes.
#include "shim/link_turn.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "shim/real_calls.h"
#include "shim/signals.h"
#include "shim/waiter.h"
#include "stack/runtime/dispatcher.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using ::netshim::testing::FakeSocket;

// Each byte on the pipe is a frame for `socket` (when set); records who took it.
class PipeTarget final : public DispatchTarget {
 public:
  explicit PipeTarget(int fd) : fd_(fd) {}
  size_t PollOnce(size_t budget) override {
    size_t n = 0;
    char c;
    while (n < budget && ::read(fd_, &c, 1) == 1) {
      ++n;
      taker.store(pthread_self());
      frames.fetch_add(1);
      if (FakeSocket* s = socket.load()) s->Deliver("x");
    }
    return n;
  }
  void RunTimers(absl::Time) override {}
  std::optional<absl::Time> NextDeadline() override { return std::nullopt; }

  std::atomic<FakeSocket*> socket{nullptr};
  std::atomic<pthread_t> taker{};
  std::atomic<int> frames{0};

 private:
  int fd_;
};

class LinkTurnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(pipe_, O_NONBLOCK | O_CLOEXEC), 0);
    target_ = std::make_unique<PipeTarget>(pipe_[0]);
    dispatcher_ = std::make_unique<Dispatcher>(target_.get(), MonotonicClock::Get(), pipe_[0]);
    // Leases outlive turns; here only a test that says so sees one revoked.
    dispatcher_->set_lease_period(absl::Hours(1));
    ASSERT_TRUE(dispatcher_->Start().ok());
    LinkTurn::SetDispatcherForTesting(dispatcher_.get());
  }
  void TearDown() override {
    LinkTurn::SetDispatcherForTesting(nullptr);
    dispatcher_->Stop();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  void SendFrame() { ASSERT_EQ(::write(pipe_[1], "f", 1), 1); }
  // Waits (bounded) until some thread took the link (the tests' first turn), and for the
  // loop to sleep: one still in the turn it started with reads the link whatever its epoll
  // set holds, and would take the test's frame.
  bool WaitForTurnTaken() {
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (!(dispatcher_->link_leased() && dispatcher_->idle()) && absl::Now() < limit) {
      std::this_thread::yield();
    }
    return dispatcher_->link_leased() && dispatcher_->idle();
  }

  int pipe_[2] = {-1, -1};
  std::unique_ptr<PipeTarget> target_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

// The frame a blocked receiver waits for is taken by the receiver itself, and wakes it.
TEST_F(LinkTurnTest, ABlockedReceiverTakesItsOwnFrame) {
  FakeSocket socket;
  target_->socket.store(&socket);
  std::atomic<pthread_t> waiter_thread{};
  std::atomic<int> result{1};
  std::thread t([&] {
    waiter_thread.store(pthread_self());
    result.store(WaitForSocket(socket, POLLIN, MonotonicNow() + absl::Seconds(10), true));
  });
  ASSERT_TRUE(WaitForTurnTaken()) << "the blocked thread never took the link";
  SendFrame();
  t.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_EQ(target_->frames.load(), 1);
  EXPECT_TRUE(pthread_equal(target_->taker.load(), waiter_thread.load()))
      << "the dispatch thread took the frame: the reply cost two wake-ups";
  // The thread kept the lease; left unattended, it passes to the next thread that waits.
  EXPECT_TRUE(dispatcher_->link_leased());
  LinkTurn mine;
  EXPECT_TRUE(mine.held()) << "the lease stayed with a thread that no longer waits";
  target_->socket.store(nullptr);
}

// A holder's next wait polls the link: the frames that came while it was away are taken on
// its own thread, with no wake-up of the dispatch thread (which does not watch the link).
TEST_F(LinkTurnTest, TheHoldersNextWaitTakesTheFramesThatCameMeanwhile) {
  FakeSocket socket;
  target_->socket.store(&socket);
  std::atomic<int> step{0};
  std::atomic<pthread_t> holder_thread{};
  std::thread t([&] {
    holder_thread.store(pthread_self());
    { LinkTurn turn; }  // takes the lease, keeps it
    step.store(1);
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (step.load() != 2 && absl::Now() < limit) std::this_thread::yield();
    LinkTurn::PollLeasedLink();
    step.store(3);
  });
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (step.load() != 1 && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(WaitForTurnTaken());
  SendFrame();
  step.store(2);
  t.join();
  EXPECT_EQ(target_->frames.load(), 1) << "the holder's wait did not poll the link";
  EXPECT_TRUE(pthread_equal(target_->taker.load(), holder_thread.load()));
  EXPECT_EQ(socket.Poll() & POLLIN, static_cast<uint32_t>(POLLIN));
  target_->socket.store(nullptr);
}

// The safety net: a holder that left the link and does not come back (busy elsewhere,
// blocked outside the stack, or exited) loses the lease within a period.
TEST(LinkTurnLease, ALeaseLeftUnattendedReturnsToTheLoop) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  PipeTarget target(p[0]);
  Dispatcher d(&target, MonotonicClock::Get(), p[0]);
  d.set_lease_period(absl::Milliseconds(5));
  ASSERT_TRUE(d.Start().ok());
  LinkTurn::SetDispatcherForTesting(&d);
  std::thread([] { LinkTurn turn; }).join();  // took the lease and exited with it
  ASSERT_TRUE(d.link_leased());
  ASSERT_EQ(::write(p[1], "f", 1), 1);
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  // (The loop's looks poll the link too, so the frame may be taken before the revocation.)
  while ((target.frames.load() == 0 || d.link_leased()) && absl::Now() < limit) {
    std::this_thread::yield();
  }
  EXPECT_EQ(target.frames.load(), 1) << "the frame waited for a holder that had gone";
  EXPECT_FALSE(d.link_leased()) << "the lease outlived its holder";
  EXPECT_EQ(d.leases_revoked(), 1u);
  LinkTurn::SetDispatcherForTesting(nullptr);
  d.Stop();
  ::close(p[0]);
  ::close(p[1]);
}

// While one thread holds the turn another waits the ordinary way, and frames for it come
// through the holder.
TEST_F(LinkTurnTest, OneThreadHoldsTheTurnTheOthersAreWokenThroughIt) {
  FakeSocket first, second;
  std::atomic<int> first_result{1};
  std::thread holder([&] {
    first_result.store(WaitForSocket(first, POLLIN, MonotonicNow() + absl::Seconds(10), true));
  });
  ASSERT_TRUE(WaitForTurnTaken());
  {
    LinkTurn mine;
    EXPECT_FALSE(mine.held()) << "two threads held the turn";
  }
  target_->socket.store(&second);
  std::atomic<int> second_result{1};
  std::thread other([&] {
    second_result.store(WaitForSocket(second, POLLIN, MonotonicNow() + absl::Seconds(10), true));
  });
  SendFrame();
  other.join();
  EXPECT_EQ(second_result.load(), 0);
  target_->socket.store(&first);
  SendFrame();
  holder.join();
  EXPECT_EQ(first_result.load(), 0);
  target_->socket.store(nullptr);
}

// A LinkTurn inside another on the same thread (a blocking connect's sleep inside the turn
// it took for its SYN) shares it: held, and not handed back until the outer one ends.
TEST_F(LinkTurnTest, AnInnerTurnSharesTheOuterOne) {
  LinkTurn outer;
  ASSERT_TRUE(outer.held());
  {
    LinkTurn inner;
    EXPECT_TRUE(inner.held()) << "the inner sleep would not watch the link";
    EXPECT_EQ(inner.fd(), outer.fd());
  }
  EXPECT_TRUE(outer.held());
  std::thread([&] {
    LinkTurn other;
    EXPECT_FALSE(other.held()) << "the inner turn's end let the link pass while the outer holds it";
  }).join();
}

// A blocking wait inside a held turn sleeps on the link: its frame is taken by this thread.
TEST_F(LinkTurnTest, AWaitInsideAHeldTurnWatchesTheLink) {
  FakeSocket socket;
  target_->socket.store(&socket);
  std::atomic<int> result{1};
  std::atomic<pthread_t> waiter_thread{};
  std::thread t([&] {
    waiter_thread.store(pthread_self());
    LinkTurn outer;
    result.store(WaitForSocket(socket, POLLIN, MonotonicNow() + absl::Seconds(10), true));
  });
  ASSERT_TRUE(WaitForTurnTaken());
  SendFrame();
  t.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_TRUE(pthread_equal(target_->taker.load(), waiter_thread.load()));
  target_->socket.store(nullptr);
}

sigjmp_buf g_jump;
std::atomic<bool> g_jump_armed{false};
void JumpHandler(int) {
  if (g_jump_armed.exchange(false)) siglongjmp(g_jump, 1);
}

// iperf3's SIGINT handler longjmp()s out of whatever blocking call it interrupts: the
// link must not stay with a thread that no longer sleeps on it.
TEST_F(LinkTurnTest, ALongjmpOutOfTheWaitHandsTheTurnBack) {
  struct sigaction saved {};
  ASSERT_EQ(real::sigaction(SIGUSR2, nullptr, &saved), 0);
  struct sigaction act {};
  act.sa_handler = JumpHandler;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(InstallSignalAction(SIGUSR2, &act, nullptr), 0);
  FakeSocket socket;  // the jump leaves its Watch behind; nothing notifies it again
  std::atomic<bool> jumped{false};
  std::thread t([&] {
    if (sigsetjmp(g_jump, 1) == 0) {
      g_jump_armed.store(true);
      WaitForSocket(socket, POLLIN, MonotonicNow() + absl::Seconds(20), true);
    } else {
      jumped.store(true);
    }
  });
  ASSERT_TRUE(WaitForTurnTaken());
  {
    testing::SignalSender sender(t.native_handle(), SIGUSR2);
    const absl::Time limit = absl::Now() + absl::Seconds(10);
    while (!jumped.load() && absl::Now() < limit) std::this_thread::yield();
  }
  t.join();
  real::sigaction(SIGUSR2, &saved, nullptr);
  ASSERT_TRUE(jumped.load());
  EXPECT_FALSE(dispatcher_->link_leased()) << "the jump carried the link away";
  // The loop watches the link again.
  SendFrame();
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (target_->frames.load() == 0 && absl::Now() < limit) std::this_thread::yield();
  EXPECT_EQ(target_->frames.load(), 1) << "nobody watches the link";
}

}  // namespace
}  // namespace netshim
