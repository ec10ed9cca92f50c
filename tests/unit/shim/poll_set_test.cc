// Readiness translation and poll/select over a mix of stack sockets and kernel fds.
#include "shim/poll_set.h"

#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"
#include "shim/fd_ops.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using testing::FakeSocket;

TEST(ShimReadiness, PollReventsFiltersAndAddsNormBits) {
  EXPECT_EQ(PollRevents(POLLIN, POLLIN), POLLIN);
  EXPECT_EQ(PollRevents(POLLIN, POLLRDNORM), POLLRDNORM);
  EXPECT_EQ(PollRevents(POLLOUT, POLLOUT | POLLWRNORM), POLLOUT | POLLWRNORM);
  EXPECT_EQ(PollRevents(POLLIN | POLLOUT, POLLOUT), POLLOUT);
  EXPECT_EQ(PollRevents(POLLIN, 0), 0);
  // Errors and hang-ups are reported whether asked or not; RDHUP only when asked.
  EXPECT_EQ(PollRevents(POLLERR | POLLHUP, 0), POLLERR | POLLHUP);
  EXPECT_EQ(PollRevents(POLLRDHUP | POLLIN, POLLIN), POLLIN);
  EXPECT_EQ(PollRevents(POLLRDHUP | POLLIN, POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
  EXPECT_EQ(PollRevents(POLLPRI, POLLPRI), POLLPRI);
}

TEST(ShimReadiness, SelectSetsAreLinuxs) {
  EXPECT_TRUE(kSelectRead & POLLHUP);
  EXPECT_TRUE(kSelectRead & POLLERR);
  EXPECT_FALSE(kSelectWrite & POLLHUP);
  EXPECT_TRUE(kSelectWrite & POLLERR);
  EXPECT_EQ(kSelectExcept, POLLPRI);
}

TEST(ShimReadiness, Timeouts) {
  Deadline d;
  const timespec bad_ns{0, 1000000000L};
  EXPECT_EQ(DeadlineFromTimespec(&bad_ns, &d), -EINVAL);
  const timespec negative{-1, 0};
  EXPECT_EQ(DeadlineFromTimespec(&negative, &d), -EINVAL);
  EXPECT_EQ(DeadlineFromTimespec(nullptr, &d), 0);
  EXPECT_FALSE(d.has_value());
  const timeval carried{0, 1500000};  // select carries microseconds past a second
  ASSERT_EQ(DeadlineFromTimeval(&carried, &d), 0);
  EXPECT_GT(*d - MonotonicNow(), absl::Seconds(1));
  const timeval bad_us{0, -1};
  EXPECT_EQ(DeadlineFromTimeval(&bad_us, &d), -EINVAL);
  EXPECT_FALSE(DeadlineFromMillis(-1).has_value());
}

class ShimPoll : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe(pipe_), 0);
    fd_ = InstallSocket(table_, std::make_shared<OpenSocket>(fake_, false), true);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    CloseFd(table_, fd_);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  Deadline In(absl::Duration d) { return MonotonicNow() + d; }

  FdTable table_;
  std::shared_ptr<FakeSocket> fake_ = std::make_shared<FakeSocket>();
  int fd_ = -1;
  int pipe_[2] = {-1, -1};
};

TEST_F(ShimPoll, NoStackDescriptorIsNotOurs) {
  pollfd p{pipe_[0], POLLIN, 0};
  EXPECT_FALSE(PollMerged(table_, &p, 1, std::nullopt, nullptr).has_value());
}

TEST_F(ShimPoll, ReadyStackSocketAnswersAtOnceWithTheKernelFds) {
  fake_->Deliver("x");
  ASSERT_EQ(::write(pipe_[1], "y", 1), 1);
  pollfd p[3] = {{fd_, POLLIN | POLLOUT, 0}, {pipe_[0], POLLIN, 0}, {-1, POLLIN, 77}};
  EXPECT_EQ(PollMerged(table_, p, 3, std::nullopt, nullptr), 2);
  EXPECT_EQ(p[0].revents, POLLIN) << "POLLRDNORM was not asked for";
  EXPECT_EQ(p[1].revents, POLLIN);
  EXPECT_EQ(p[2].revents, 0) << "a negative fd is skipped";
}

TEST_F(ShimPoll, TimesOutWithNothingReady) {
  pollfd p[2] = {{fd_, POLLIN, 0}, {pipe_[0], POLLIN, 0}};
  const absl::Time start = MonotonicNow();
  EXPECT_EQ(PollMerged(table_, p, 2, In(absl::Milliseconds(30)), nullptr), 0);
  EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(29));
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_EQ(p[1].revents, 0);
  EXPECT_EQ(PollMerged(table_, p, 2, In(absl::ZeroDuration()), nullptr), 0);
}

TEST_F(ShimPoll, WakesWhenTheSocketBecomesReady) {
  pollfd p[2] = {{fd_, POLLIN, 0}, {pipe_[0], POLLIN, 0}};
  std::thread t([this] { fake_->Deliver("late"); });
  EXPECT_EQ(PollMerged(table_, p, 2, std::nullopt, nullptr), 1);
  t.join();
  EXPECT_EQ(p[0].revents, POLLIN);
  EXPECT_EQ(p[1].revents, 0);
}

TEST_F(ShimPoll, WakesForAKernelDescriptor) {
  pollfd p[2] = {{fd_, POLLIN, 0}, {pipe_[0], POLLIN, 0}};
  std::thread t([this] { ASSERT_EQ(::write(pipe_[1], "k", 1), 1); });
  EXPECT_EQ(PollMerged(table_, p, 2, std::nullopt, nullptr), 1);
  t.join();
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_EQ(p[1].revents, POLLIN);
}

TEST_F(ShimPoll, ReadinessForOtherEventsDoesNotWake) {
  // Writable, but only POLLIN is asked: the poll sleeps until its timeout.
  fake_->SetSpace(100);
  pollfd p{fd_, POLLIN, 0};
  EXPECT_EQ(PollMerged(table_, &p, 1, In(absl::Milliseconds(20)), nullptr), 0);
  fake_->SetExtra(POLLHUP);
  EXPECT_EQ(PollMerged(table_, &p, 1, std::nullopt, nullptr), 1);
  EXPECT_EQ(p.revents, POLLHUP);
}

TEST_F(ShimPoll, SignalInterrupts) {
  pollfd p{fd_, POLLIN, 0};
  std::optional<int> r;
  {
    testing::SignalPoker poker(pthread_self());
    r = PollMerged(table_, &p, 1, std::nullopt, nullptr);
  }
  EXPECT_EQ(r, -EINTR);
}

TEST_F(ShimPoll, SignalMaskIsTheCallers) {
  // SIGUSR1 blocked by ppoll's mask: the poll runs to its timeout instead of failing.
  pollfd p{fd_, POLLIN, 0};
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  std::optional<int> r;
  {
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &block, &old);
    testing::SignalPoker poker(pthread_self());
    r = PollMerged(table_, &p, 1, In(absl::Milliseconds(40)), &block);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);  // the pending SIGUSR1 runs here
  }
  EXPECT_EQ(r, 0);
}

TEST_F(ShimPoll, SelectOverAMix) {
  fake_->SetSpace(10);
  const int nfds = std::max(fd_, pipe_[0]) + 1;
  fd_set r, w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(fd_, &r);
  FD_SET(fd_, &w);
  FD_SET(pipe_[0], &r);
  EXPECT_EQ(SelectMerged(table_, nfds, &r, &w, nullptr, std::nullopt, nullptr), 1);
  EXPECT_FALSE(FD_ISSET(fd_, &r));
  EXPECT_TRUE(FD_ISSET(fd_, &w));
  EXPECT_FALSE(FD_ISSET(pipe_[0], &r));

  ASSERT_EQ(::write(pipe_[1], "k", 1), 1);
  fake_->Deliver("d");
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(fd_, &r);
  FD_SET(fd_, &w);
  FD_SET(pipe_[0], &r);
  EXPECT_EQ(SelectMerged(table_, nfds, &r, &w, nullptr, std::nullopt, nullptr), 3)
      << "each set bit counts";
}

TEST_F(ShimPoll, SelectTimesOutAndClearsTheSets) {
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd_, &r);
  EXPECT_EQ(
      SelectMerged(table_, fd_ + 1, &r, nullptr, nullptr, In(absl::Milliseconds(10)), nullptr), 0);
  EXPECT_FALSE(FD_ISSET(fd_, &r));
}

TEST_F(ShimPoll, SelectOnAClosedKernelDescriptorIsEbadf) {
  int spare[2];
  ASSERT_EQ(::pipe(spare), 0);
  ::close(spare[0]);
  ::close(spare[1]);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd_, &r);
  FD_SET(spare[0], &r);
  EXPECT_EQ(SelectMerged(table_, std::max(fd_, spare[0]) + 1, &r, nullptr, nullptr, std::nullopt,
                         nullptr),
            -EBADF);
  EXPECT_EQ(SelectMerged(table_, -1, &r, nullptr, nullptr, std::nullopt, nullptr), -EINVAL);
}

TEST_F(ShimPoll, SelectWithoutStackDescriptorsIsNotOurs) {
  fd_set r;
  FD_ZERO(&r);
  FD_SET(pipe_[0], &r);
  EXPECT_FALSE(
      SelectMerged(table_, pipe_[0] + 1, &r, nullptr, nullptr, std::nullopt, nullptr).has_value());
}

}  // namespace
}  // namespace netshim
