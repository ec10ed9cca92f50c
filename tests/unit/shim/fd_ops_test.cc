// Descriptor semantics on real kernel placeholders (eventfds), no preloading: dups share
// the socket and O_NONBLOCK, FD_CLOEXEC stays per descriptor, the socket closes with its
// last descriptor, dup2 over a socket drops it.
#include "shim/fd_ops.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "gtest/gtest.h"
#include "tests/unit/shim/fake_socket.h"

namespace netshim {
namespace {

using testing::FakeSocket;

class ShimFdOps : public ::testing::Test {
 protected:
  ~ShimFdOps() override {
    table_.ForEach([this](int fd, const std::shared_ptr<OpenSocket>&) { CloseFd(table_, fd); });
  }
  int Install(bool nonblocking = false, bool cloexec = false) {
    const int fd = InstallSocket(table_, std::make_shared<OpenSocket>(fake_, nonblocking), cloexec);
    EXPECT_GE(fd, 0);
    return fd;
  }
  FdTable table_;
  std::shared_ptr<FakeSocket> fake_ = std::make_shared<FakeSocket>();
};

bool CloseOnExec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

TEST_F(ShimFdOps, InstallMakesANonBlockingEventfdWithTheProgramsCloexec) {
  const int plain = Install(false, false);
  const int cloexec = Install(false, true);
  EXPECT_FALSE(CloseOnExec(plain));
  EXPECT_TRUE(CloseOnExec(cloexec));
  // The placeholder itself never blocks, whatever the socket's mode.
  EXPECT_NE(::fcntl(plain, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(table_.Get(plain)->socket().type(), SOCK_STREAM);
}

TEST_F(ShimFdOps, FstatReportsASocket) {
  const int fd = Install();
  struct stat st {};
  ASSERT_EQ(FstatSocket(fd, &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0777u);
}

TEST_F(ShimFdOps, DupSharesTheSocketAndItsNonBlockingFlag) {
  const int fd = Install();
  const int copy = DupFd(table_, fd);
  ASSERT_GE(copy, 0);
  EXPECT_EQ(table_.Get(copy), table_.Get(fd));
  auto s = table_.Get(fd);
  EXPECT_EQ(FcntlSocket(table_, s, fd, F_GETFL, 0), O_RDWR);
  ASSERT_EQ(FcntlSocket(table_, s, fd, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(FcntlSocket(table_, table_.Get(copy), copy, F_GETFL, 0), O_RDWR | O_NONBLOCK)
      << "O_NONBLOCK belongs to the shared file";
}

TEST_F(ShimFdOps, CloexecIsPerDescriptor) {
  const int fd = Install();
  const int copy = DupFd(table_, fd);
  auto s = table_.Get(fd);
  ASSERT_EQ(FcntlSocket(table_, s, fd, F_SETFD, FD_CLOEXEC), 0);
  EXPECT_EQ(FcntlSocket(table_, s, fd, F_GETFD, 0), FD_CLOEXEC);
  EXPECT_EQ(FcntlSocket(table_, s, copy, F_GETFD, 0), 0);
  const int dupfd_cloexec = FcntlSocket(table_, s, copy, F_DUPFD_CLOEXEC, 100);
  ASSERT_GE(dupfd_cloexec, 100);
  EXPECT_TRUE(CloseOnExec(dupfd_cloexec));
  EXPECT_EQ(table_.Get(dupfd_cloexec), s);
  EXPECT_EQ(IoctlSocket(*s, copy, FIOCLEX, 0), 0);
  EXPECT_TRUE(CloseOnExec(copy));
  EXPECT_EQ(IoctlSocket(*s, copy, FIONCLEX, 0), 0);
  EXPECT_FALSE(CloseOnExec(copy));
}

TEST_F(ShimFdOps, TheSocketClosesWithItsLastDescriptor) {
  const int fd = Install();
  const int copy = DupFd(table_, fd);
  ASSERT_EQ(CloseFd(table_, fd), 0);
  EXPECT_EQ(table_.Get(fd), nullptr);
  EXPECT_EQ(fake_->closes(), 0);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the kernel descriptor is gone too";
  ASSERT_EQ(CloseFd(table_, copy), 0);
  EXPECT_EQ(fake_->closes(), 1);
  EXPECT_EQ(CloseFd(table_, copy), -EBADF);
}

TEST_F(ShimFdOps, Dup2OverASocketDropsIt) {
  const int fd = Install();
  auto other_fake = std::make_shared<FakeSocket>();
  const int other = InstallSocket(table_, std::make_shared<OpenSocket>(other_fake, false), false);
  ASSERT_EQ(Dup3Fd(table_, fd, other, 0, /*is_dup2=*/true), other);
  EXPECT_EQ(other_fake->closes(), 1) << "its only descriptor was replaced";
  EXPECT_EQ(table_.Get(other), table_.Get(fd));
  EXPECT_FALSE(CloseOnExec(other));
}

TEST_F(ShimFdOps, Dup3CarriesCloexecAndRefusesTheSameDescriptor) {
  const int fd = Install();
  const int target = ::dup(STDERR_FILENO);
  ASSERT_EQ(Dup3Fd(table_, fd, target, O_CLOEXEC, false), target);
  EXPECT_TRUE(CloseOnExec(target));
  EXPECT_EQ(table_.Get(target), table_.Get(fd));
  EXPECT_EQ(Dup3Fd(table_, fd, fd, 0, false), -EINVAL);
  EXPECT_EQ(Dup3Fd(table_, fd, fd, 0, true), fd) << "dup2 onto itself is a no-op";
}

TEST_F(ShimFdOps, Dup2OfAKernelDescriptorOntoASocketForgetsTheSocket) {
  const int fd = Install();
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(Dup3Fd(table_, pipe_fds[0], fd, 0, true), fd);
  EXPECT_EQ(table_.Get(fd), nullptr);
  EXPECT_EQ(fake_->closes(), 1);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(fd);
}

TEST_F(ShimFdOps, Ioctls) {
  const int fd = Install();
  auto s = table_.Get(fd);
  int on = 1;
  ASSERT_EQ(IoctlSocket(*s, fd, FIONBIO, reinterpret_cast<unsigned long>(&on)), 0);
  EXPECT_TRUE(s->nonblocking());
  on = 0;
  ASSERT_EQ(IoctlSocket(*s, fd, FIONBIO, reinterpret_cast<unsigned long>(&on)), 0);
  EXPECT_FALSE(s->nonblocking());
  fake_->Deliver("hello");
  int n = -1;
  ASSERT_EQ(IoctlSocket(*s, fd, FIONREAD, reinterpret_cast<unsigned long>(&n)), 0);
  EXPECT_EQ(n, 5);
  ASSERT_EQ(IoctlSocket(*s, fd, SIOCOUTQ, reinterpret_cast<unsigned long>(&n)), 0);
  EXPECT_EQ(n, 7);
  EXPECT_EQ(IoctlSocket(*s, fd, FIONREAD, 0), -EFAULT);
  EXPECT_EQ(IoctlSocket(*s, fd, FIONBIO, 0), -EFAULT);
  EXPECT_EQ(IoctlSocket(*s, fd, TCGETS, reinterpret_cast<unsigned long>(&n)), -ENOTTY);
}

TEST_F(ShimFdOps, ForgetRangeDropsOnlyTheRange) {
  const int a = Install();
  const int b = Install();
  ForgetRange(table_, std::max(a, b), ~0U);
  EXPECT_NE(table_.Get(std::min(a, b)), nullptr);
  EXPECT_EQ(table_.Get(std::max(a, b)), nullptr);
  ::close(std::max(a, b));
}

// A forked child's close, dup2 and close_range take the descriptor out of the table but
// never close the parent's socket (its teardown would run the parent's close hook).
TEST_F(ShimFdOps, AForkedChildKeepsTheParentsSockets) {
  const int fd = Install();
  const int copy = DupFd(table_, fd);
  auto other_fake = std::make_shared<FakeSocket>();
  const int other = InstallSocket(table_, std::make_shared<OpenSocket>(other_fake, false), false);
  auto third_fake = std::make_shared<FakeSocket>();
  const int third = InstallSocket(table_, std::make_shared<OpenSocket>(third_fake, false), false);
  table_.MarkForkedChild();
  ASSERT_EQ(Dup3Fd(table_, fd, other, 0, /*is_dup2=*/true), other);
  EXPECT_EQ(other_fake->closes(), 0) << "dup2 over the parent's socket";
  ASSERT_EQ(CloseFd(table_, fd), 0);
  ASSERT_EQ(CloseFd(table_, copy), 0);
  ASSERT_EQ(CloseFd(table_, other), 0);
  EXPECT_EQ(fake_->closes(), 0) << "close of its last descriptor in the child";
  ForgetRange(table_, third, third);
  ::close(third);
  EXPECT_EQ(third_fake->closes(), 0) << "close_range";
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(table_.kept_in_child(), 5u) << "every reference the child let go of";
}

// fdopen of a stack socket: a stdio stream whose reads and writes are the descriptor's
// read(2) and write(2) (here a kernel socketpair: no shim is preloaded in this test).
TEST(ShimSocketStream, ReadsWritesAndClosesThroughTheDescriptor) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  FILE* stream = OpenSocketStream(sv[0], "r+");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(::fileno(stream), -1) << "a cookie stream has no descriptor of its own";
  ASSERT_GT(std::fprintf(stream, "PING %d\r\n", 42), 0);
  ASSERT_EQ(std::fflush(stream), 0);
  char buf[64] = {};
  ASSERT_EQ(::read(sv[1], buf, sizeof(buf)), 9);
  EXPECT_STREQ(buf, "PING 42\r\n");
  const char reply[] = "+PONG\r\nrest";
  ASSERT_EQ(::write(sv[1], reply, std::strlen(reply)), static_cast<ssize_t>(std::strlen(reply)));
  char line[64] = {};
  ASSERT_NE(std::fgets(line, sizeof(line), stream), nullptr);
  EXPECT_STREQ(line, "+PONG\r\n");
  EXPECT_NE(std::fseek(stream, 0, SEEK_SET), 0) << "a socket does not seek";
  ASSERT_EQ(::shutdown(sv[1], SHUT_WR), 0);
  char rest[16] = {};
  EXPECT_EQ(std::fread(rest, 1, sizeof(rest), stream), 4u);
  EXPECT_TRUE(std::feof(stream));
  EXPECT_EQ(std::fclose(stream), 0);
  EXPECT_EQ(::fcntl(sv[0], F_GETFD), -1) << "fclose closes the descriptor, as for fdopen";
  ::close(sv[1]);
}

TEST(ShimSocketStream, ABadModeFails) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  errno = 0;
  EXPECT_EQ(OpenSocketStream(sv[0], "q"), nullptr);
  EXPECT_EQ(errno, EINVAL);
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
}  // namespace netshim
