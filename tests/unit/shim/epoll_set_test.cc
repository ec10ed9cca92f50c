#include "shim/epoll_set.h"

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "shim/fd_ops.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using testing::FakeSocket;

class ShimEpoll : public ::testing::Test {
 protected:
  void SetUp() override {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    ASSERT_GE(epfd_, 0);
    ASSERT_EQ(::pipe(pipe_), 0);
    fd_ = Install(fake_);
  }
  void TearDown() override {
    for (int fd : stack_fds_) CloseFd(table_, fd);
    epolls_.Forget(epfd_);
    ::close(epfd_);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }

  int Install(const std::shared_ptr<FakeSocket>& fake) {
    const int fd = InstallSocket(table_, std::make_shared<OpenSocket>(fake, false), true);
    if (fd >= 0) stack_fds_.insert(fd);
    return fd;
  }
  int Ctl(int op, int fd, uint32_t events, uint64_t data, int epfd = -2) {
    epoll_event e{};
    e.events = events;
    e.data.u64 = data;
    return EpollControlSocket(epolls_, epfd == -2 ? epfd_ : epfd, op, fd, table_.Get(fd), &e);
  }
  // EpollWaitMerged into events_; returns its result.
  int Wait(int max, std::optional<absl::Duration> timeout = absl::ZeroDuration(),
           const sigset_t* mask = nullptr) {
    std::shared_ptr<EpollSet> set = epolls_.Get(epfd_);
    if (!set) return -ENOENT;
    const Deadline deadline =
        timeout ? Deadline(MonotonicNow() + *timeout) : Deadline(std::nullopt);
    return EpollWaitMerged(*set, events_, max, deadline, mask);
  }
  // A kernel fd registered as the interposed epoll_ctl registers it.
  int KernelCtl(int op, int fd, uint64_t data) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = data;
    return EpollControlKernel(epolls_, epfd_, op, fd, &e);
  }
  size_t Registrations() {
    auto set = epolls_.Get(epfd_);
    return set ? set->size() : 0;
  }

  FdTable table_;
  EpollTable epolls_;
  std::shared_ptr<FakeSocket> fake_ = std::make_shared<FakeSocket>();
  std::set<int> stack_fds_;
  int epfd_ = -1;
  int fd_ = -1;
  int pipe_[2] = {-1, -1};
  epoll_event events_[8] = {};
};

TEST(ShimEpollRevents, FiltersByInterestAndAddsNormBits) {
  EXPECT_EQ(EpollRevents(POLLIN | POLLOUT, EPOLLIN), uint32_t{EPOLLIN});
  EXPECT_EQ(EpollRevents(POLLIN, EPOLLIN | EPOLLRDNORM), uint32_t{EPOLLIN | EPOLLRDNORM});
  EXPECT_EQ(EpollRevents(POLLOUT, EPOLLOUT | EPOLLWRNORM), uint32_t{EPOLLOUT | EPOLLWRNORM});
  EXPECT_EQ(EpollRevents(POLLHUP | POLLERR, 0), uint32_t{EPOLLHUP | EPOLLERR})
      << "errors and hangups come unasked";
  EXPECT_EQ(EpollRevents(POLLIN | POLLRDHUP, EPOLLIN), uint32_t{EPOLLIN})
      << "EPOLLRDHUP only when asked";
  EXPECT_EQ(EpollRevents(POLLIN | POLLRDHUP, EPOLLIN | EPOLLRDHUP), uint32_t{EPOLLIN | EPOLLRDHUP});
}

TEST_F(ShimEpoll, LevelTriggeredReportsWhileReady) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 42), 0);
  EXPECT_EQ(Wait(8), 0);
  fake_->Deliver("x");
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(Wait(8), 1) << "round " << round;
    EXPECT_EQ(events_[0].events, uint32_t{EPOLLIN});
    EXPECT_EQ(events_[0].data.u64, 42u);
  }
  char c;
  iovec iov{&c, 1};
  MessageInfo info;
  ASSERT_EQ(fake_->RecvMsg({&iov, 1}, info, 0), 1);
  EXPECT_EQ(Wait(8), 0) << "drained: no longer reported";
}

TEST_F(ShimEpoll, ReadyAtAddIsReportedAtOnce) {
  fake_->SetSpace(100);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLOUT, 7), 0);
  ASSERT_EQ(Wait(8), 1);
  EXPECT_EQ(events_[0].events, uint32_t{EPOLLOUT});
}

TEST_F(ShimEpoll, EdgeTriggeredOncePerEvent) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLET, 1), 0);
  fake_->Deliver("a");
  EXPECT_EQ(Wait(8), 1);
  EXPECT_EQ(Wait(8), 0) << "no new event, no report, though still readable";
  fake_->Deliver("b");
  EXPECT_EQ(Wait(8), 1) << "new data is a new edge";
  EXPECT_EQ(Wait(8), 0);
}

TEST_F(ShimEpoll, OneShotIsDisabledUntilModified) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLONESHOT, 5), 0);
  fake_->Deliver("a");
  EXPECT_EQ(Wait(8), 1);
  fake_->Deliver("b");
  EXPECT_EQ(Wait(8), 0) << "fired once: disabled";
  ASSERT_EQ(Ctl(EPOLL_CTL_MOD, fd_, EPOLLIN | EPOLLONESHOT, 6), 0);
  ASSERT_EQ(Wait(8), 1) << "MOD re-arms and re-checks readiness";
  EXPECT_EQ(events_[0].data.u64, 6u);
  EXPECT_EQ(Wait(8), 0);
}

TEST_F(ShimEpoll, ModChangesInterestAndData) {
  fake_->SetSpace(10);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 1), 0);
  EXPECT_EQ(Wait(8), 0) << "writable, but only EPOLLIN asked";
  ASSERT_EQ(Ctl(EPOLL_CTL_MOD, fd_, EPOLLOUT, 2), 0);
  ASSERT_EQ(Wait(8), 1);
  EXPECT_EQ(events_[0].events, uint32_t{EPOLLOUT});
  EXPECT_EQ(events_[0].data.u64, 2u);
}

TEST_F(ShimEpoll, HangupAndErrorComeUnaskedRdhupWhenAsked) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLRDHUP, 1), 0);
  fake_->SetExtra(POLLIN | POLLRDHUP);
  ASSERT_EQ(Wait(8), 1);
  EXPECT_EQ(events_[0].events, uint32_t{EPOLLIN | EPOLLRDHUP});
  ASSERT_EQ(Ctl(EPOLL_CTL_MOD, fd_, 0, 2), 0);
  fake_->SetExtra(POLLHUP | POLLERR);
  ASSERT_EQ(Wait(8), 1);
  EXPECT_EQ(events_[0].events, uint32_t{EPOLLHUP | EPOLLERR});
}

TEST_F(ShimEpoll, KernelAndStackEventsTogether) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 200), 0);
  ASSERT_EQ(KernelCtl(EPOLL_CTL_ADD, pipe_[0], 100), 0);
  ASSERT_EQ(::write(pipe_[1], "k", 1), 1);
  fake_->Deliver("s");
  // Both kinds arrive, whichever goes first; never our wake fd's event.
  std::set<uint64_t> seen;
  for (int call = 0; call < 2; ++call) {
    const int n = Wait(8);
    ASSERT_EQ(n, 2);
    for (int i = 0; i < n; ++i) seen.insert(events_[i].data.u64);
  }
  EXPECT_EQ(seen, (std::set<uint64_t>{100, 200}));
}

// With stack events ready, a wait asks the kernel instance only when it may hold the
// program's fds: those there before the first stack socket (read from /proc) and those
// the interposed epoll_ctl added. One added behind our back is still seen, once in 64 turns.
TEST_F(ShimEpoll, KernelFdsAreAskedForOnlyWhenTheInstanceMayHoldSome) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 200), 0);  // level-triggered: always ready
  fake_->Deliver("s");
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 100;
  ASSERT_EQ(::epoll_ctl(epfd_, EPOLL_CTL_ADD, pipe_[0], &e), 0);  // behind our back
  ASSERT_EQ(::write(pipe_[1], "k", 1), 1);
  int with_kernel = 0;
  int calls = 0;
  for (; calls < 200 && with_kernel < 2; ++calls) {
    const int n = Wait(8);
    ASSERT_GE(n, 1);
    for (int i = 0; i < n; ++i) with_kernel += events_[i].data.u64 == 100 ? 1 : 0;
  }
  EXPECT_EQ(with_kernel, 2) << "a kernel fd registered behind our back starved";
  EXPECT_GT(calls, 60) << "waits asked the kernel instance every time: nothing saved";
  // Counted from now on: every wait sees it.
  ASSERT_EQ(KernelCtl(EPOLL_CTL_DEL, pipe_[0], 0), 0);  // the count stays at zero
  ASSERT_EQ(KernelCtl(EPOLL_CTL_ADD, pipe_[0], 100), 0);
  for (int call = 0; call < 4; ++call) {
    ASSERT_EQ(Wait(8), 2) << "call " << call;
  }
  // Gone again: not asked every time.
  ASSERT_EQ(KernelCtl(EPOLL_CTL_DEL, pipe_[0], 0), 0);
  EXPECT_EQ(Wait(8), 1);
}

TEST_F(ShimEpoll, KernelFdsRegisteredBeforeTheFirstStackSocketAreCounted) {
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 100;
  ASSERT_EQ(::epoll_ctl(epfd_, EPOLL_CTL_ADD, pipe_[0], &e), 0);
  ASSERT_EQ(::write(pipe_[1], "k", 1), 1);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 200), 0);
  fake_->Deliver("s");
  for (int call = 0; call < 4; ++call) {
    ASSERT_EQ(Wait(8), 2) << "call " << call;
  }
}

TEST_F(ShimEpoll, SmallMaxEventsTakesTurns) {
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 100;
  ASSERT_EQ(::epoll_ctl(epfd_, EPOLL_CTL_ADD, pipe_[0], &e), 0);
  ASSERT_EQ(::write(pipe_[1], "k", 1), 1);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 200), 0);
  fake_->Deliver("s");
  std::set<uint64_t> seen;
  for (int call = 0; call < 2; ++call) {
    ASSERT_EQ(Wait(1), 1);
    seen.insert(events_[0].data.u64);
  }
  EXPECT_EQ(seen, (std::set<uint64_t>{100, 200})) << "neither kind starves the other";
}

TEST_F(ShimEpoll, ManyReadyAcrossCallsLevelTriggeredRotate) {
  std::vector<std::shared_ptr<FakeSocket>> fakes;
  for (int i = 0; i < 3; ++i) {
    fakes.push_back(std::make_shared<FakeSocket>());
    const int fd = Install(fakes.back());
    ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd, EPOLLIN, 10 + i), 0);
    fakes.back()->Deliver("x");
  }
  std::set<uint64_t> seen;
  for (int call = 0; call < 3; ++call) {
    ASSERT_EQ(Wait(1), 1);
    seen.insert(events_[0].data.u64);
  }
  EXPECT_EQ(seen, (std::set<uint64_t>{10, 11, 12})) << "reported entries go to the back";
}

TEST_F(ShimEpoll, SleepsUntilAStackSocketIsReady) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  std::thread t([this] { fake_->Deliver("late"); });
  const int n = Wait(8, std::nullopt);
  t.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(events_[0].data.u64, 9u);
}

TEST_F(ShimEpoll, SleepsUntilAKernelFdIsReady) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  ASSERT_EQ(KernelCtl(EPOLL_CTL_ADD, pipe_[0], 3), 0);
  std::thread t([this] { ASSERT_EQ(::write(pipe_[1], "k", 1), 1); });
  const int n = Wait(8, std::nullopt);
  t.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(events_[0].data.u64, 3u);
}

TEST_F(ShimEpoll, TimesOut) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  fake_->SetSpace(5);  // ready for what was not asked: must not wake
  const absl::Time start = MonotonicNow();
  EXPECT_EQ(Wait(8, absl::Milliseconds(30)), 0);
  EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(29));
}

TEST_F(ShimEpoll, SignalInterrupts) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  int r;
  {
    testing::SignalPoker poker(pthread_self());
    r = Wait(8, std::nullopt);
  }
  EXPECT_EQ(r, -EINTR);
}

TEST_F(ShimEpoll, TheEpollFdItselfIsReadableWhileAStackSocketIsReady) {
  // What nesting the epoll fd in poll(2) or another epoll set relies on.
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  pollfd p{epfd_, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  fake_->Deliver("x");
  EXPECT_EQ(::poll(&p, 1, 0), 1);
  char c;
  iovec iov{&c, 1};
  MessageInfo info;
  ASSERT_EQ(fake_->RecvMsg({&iov, 1}, info, 0), 1);
  EXPECT_EQ(Wait(8), 0);
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "nothing queued any more";
}

TEST_F(ShimEpoll, ErrnosAreLinuxs) {
  EXPECT_EQ(EpollControlSocket(epolls_, epfd_, EPOLL_CTL_ADD, fd_, table_.Get(fd_), nullptr),
            -EFAULT);
  EXPECT_EQ(Ctl(EPOLL_CTL_MOD, fd_, EPOLLIN, 0), -ENOENT);
  EXPECT_EQ(Ctl(EPOLL_CTL_DEL, fd_, EPOLLIN, 0), -ENOENT);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 0), 0);
  EXPECT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 0), -EEXIST);
  EXPECT_EQ(Ctl(99, fd_, EPOLLIN, 0), -EINVAL);
  EXPECT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 0, pipe_[0]), -EINVAL) << "not an epoll fd";
  EXPECT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 0, 1 << 19), -EBADF) << "not open";
  EXPECT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 0, fd_), -EINVAL) << "epfd is the socket";
  ASSERT_EQ(Ctl(EPOLL_CTL_DEL, fd_, 0, 0), 0);
  EXPECT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP, 0), -EINVAL)
      << "EPOLLRDHUP may not accompany EPOLLEXCLUSIVE";
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLEXCLUSIVE, 0), 0);
  EXPECT_EQ(Ctl(EPOLL_CTL_MOD, fd_, EPOLLIN, 0), -EINVAL) << "exclusive cannot be modified";
  EXPECT_EQ(Ctl(EPOLL_CTL_MOD, fd_, EPOLLIN | EPOLLEXCLUSIVE, 0), -EINVAL);
}

TEST_F(ShimEpoll, DeletedRegistrationIsNotReported) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  fake_->Deliver("x");
  ASSERT_EQ(Ctl(EPOLL_CTL_DEL, fd_, 0, 0), 0);
  EXPECT_EQ(Wait(8), 0);
  EXPECT_EQ(Registrations(), 0u);
  fake_->Deliver("y");  // no listener left to call
  EXPECT_EQ(Wait(8), 0);
}

TEST_F(ShimEpoll, LastCloseRemovesTheRegistration) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  fake_->Deliver("x");
  ASSERT_EQ(Registrations(), 1u);
  ASSERT_EQ(CloseFd(table_, fd_), 0);
  stack_fds_.erase(fd_);
  EXPECT_EQ(Registrations(), 0u) << "as eventpoll_release at the file's last close";
  EXPECT_EQ(Wait(8), 0);
}

TEST_F(ShimEpoll, ADupKeepsTheFileAndItsRegistration) {
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 9), 0);
  const int copy = DupFd(table_, fd_);
  ASSERT_GE(copy, 0);
  stack_fds_.insert(copy);
  ASSERT_EQ(CloseFd(table_, fd_), 0);
  stack_fds_.erase(fd_);
  fake_->Deliver("x");
  ASSERT_EQ(Wait(8), 1) << "the file is still open: Linux keeps reporting it";
  EXPECT_EQ(events_[0].data.u64, 9u);
}

TEST_F(ShimEpoll, OneSocketInTwoSets) {
  const int epfd2 = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epfd2, 0);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN, 1), 0);
  ASSERT_EQ(Ctl(EPOLL_CTL_ADD, fd_, EPOLLIN | EPOLLET, 2, epfd2), 0);
  fake_->Deliver("x");
  ASSERT_EQ(Wait(8), 1);
  EXPECT_EQ(events_[0].data.u64, 1u);
  auto set2 = epolls_.Get(epfd2);
  ASSERT_TRUE(set2);
  ASSERT_EQ(EpollWaitMerged(*set2, events_, 8, MonotonicNow(), nullptr), 1);
  EXPECT_EQ(events_[0].data.u64, 2u);
  EXPECT_EQ(EpollWaitMerged(*set2, events_, 8, MonotonicNow(), nullptr), 0) << "edge-triggered";
  EXPECT_EQ(Wait(8), 1) << "level-triggered in the first";
  set2.reset();
  epolls_.Forget(epfd2);
  ::close(epfd2);
  EXPECT_EQ(Wait(8), 1) << "the other set closing leaves this one alone";
}

TEST(ShimEpollTable, CopyForgetAndRanges) {
  EpollTable table;
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epfd, 0);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Get(epfd), nullptr);
  int error = 0;
  std::shared_ptr<EpollSet> set = table.GetOrCreate(epfd, &error);
  ASSERT_TRUE(set);
  EXPECT_EQ(table.GetOrCreate(epfd, &error), set);
  table.Copy(epfd, 500);
  EXPECT_EQ(table.Get(500), set) << "a dup shares the instance";
  table.Copy(123, 500);  // an untracked fd duplicated over it
  EXPECT_EQ(table.Get(500), nullptr);
  table.Copy(epfd, 600);
  table.ForgetRange(550, 650);
  EXPECT_EQ(table.Get(600), nullptr);
  EXPECT_EQ(table.Get(epfd), set);
  table.Forget(epfd);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.GetOrCreate(-1, &error), nullptr);
  EXPECT_EQ(error, -EBADF);
  set.reset();
  ::close(epfd);
}

}  // namespace
}  // namespace netshim
