// sendmmsg, recvmmsg, sendfile and the AT_EMPTY_PATH stat calls on fake sockets and real
// files, no preloading: batch counting and errors, MSG_WAITFORONE, recvmmsg's timeout,
// sendfile's offsets and file position, partial sends, EAGAIN and SIGPIPE.
#include "shim/batch_ops.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shim/fd_ops.h"
#include "shim/socket_ops.h"
#include "shim/waiter.h"
#include "tests/unit/shim/fake_socket.h"
#include "tests/unit/shim/signal_helper.h"

namespace netshim {
namespace {

using testing::FakeSocket;

// A datagram socket with message boundaries: each RecvMsg takes one queued datagram
// (MSG_TRUNC when it did not fit, as udp_recvmsg), and every receive's flags are kept.
class DatagramFake : public Socket {
 public:
  int type() const override { return SOCK_DGRAM; }
  int protocol() const override { return IPPROTO_UDP; }
  int Bind(const SocketAddress&) override { return 0; }
  int Connect(const SocketAddress&) override { return 0; }
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo&, int) override {
    return static_cast<ssize_t>(IovTotalLength(data));
  }
  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) override {
    ssize_t r;
    {
      absl::MutexLock lock(&mu_);
      recv_flags_.push_back(flags);
      if (queue_.empty()) {
        if (error_ == 0) return -EAGAIN;
        r = -error_;
        error_ = 0;
      } else {
        const std::string d = queue_.front().first;
        info.peer = queue_.front().second;
        queue_.pop_front();
        const size_t copied =
            CopyToIov({reinterpret_cast<const uint8_t*>(d.data()), d.size()}, data);
        if (copied < d.size()) info.flags |= MSG_TRUNC;
        r = static_cast<ssize_t>(copied);
      }
    }
    NotifyReadiness();
    return r;
  }
  int Shutdown(int) override { return 0; }
  void Close() override {}
  int GetSockName(SocketAddress*) const override { return 0; }
  int GetPeerName(SocketAddress*) const override { return -ENOTCONN; }
  int SetSockOpt(int, int, std::span<const uint8_t>) override { return 0; }
  int GetSockOpt(int, int, void*, socklen_t* len) override {
    *len = 0;
    return 0;
  }
  uint32_t Poll() const override {
    absl::MutexLock lock(&mu_);
    return POLLOUT | (!queue_.empty() ? POLLIN : 0) | (error_ != 0 ? POLLERR : 0);
  }
  int BytesReadable() const override { return 0; }

  void Deliver(const std::string& d, uint16_t from_port = 4000) {
    {
      absl::MutexLock lock(&mu_);
      queue_.emplace_back(d, SocketAddress{Ipv4Address::FromOctets(198, 18, 0, 1), from_port});
    }
    NotifyReadiness();
  }
  void SetError(int e) {
    {
      absl::MutexLock lock(&mu_);
      error_ = e;
    }
    NotifyReadiness();
  }
  std::vector<int> recv_flags() const {
    absl::MutexLock lock(&mu_);
    return recv_flags_;
  }
  size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<std::pair<std::string, SocketAddress>> queue_ ABSL_GUARDED_BY(mu_);
  int error_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> recv_flags_ ABSL_GUARDED_BY(mu_);
};

// --- sendmmsg ---

// Messages with their own buffers, as a program builds them.
class Batch {
 public:
  explicit Batch(std::vector<std::string> payloads, size_t capacity = 0)
      : data_(std::move(payloads)) {
    for (auto& d : data_) {
      if (capacity > 0) d.assign(capacity, '\0');
    }
    iov_.resize(data_.size());
    msgs_.resize(data_.size());
    names_.resize(data_.size());
    for (size_t i = 0; i < data_.size(); ++i) {
      iov_[i] = {data_[i].data(), data_[i].size()};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_len = 12345;  // to see that it is written
    }
  }
  void WithNames() {
    for (size_t i = 0; i < msgs_.size(); ++i) {
      msgs_[i].msg_hdr.msg_name = &names_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
  }
  mmsghdr* get() { return msgs_.data(); }
  unsigned size() const { return static_cast<unsigned>(msgs_.size()); }
  mmsghdr& operator[](size_t i) { return msgs_[i]; }
  std::string Received(size_t i) const { return data_[i].substr(0, msgs_[i].msg_len); }
  const sockaddr_in& name(size_t i) const { return names_[i]; }

 private:
  std::vector<std::string> data_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
  std::vector<sockaddr_in> names_;
};

class ShimSendMmsg : public ::testing::Test {
 protected:
  OpenSocket& Open(bool nonblocking = false, int type = SOCK_STREAM) {
    fake_ = std::make_shared<FakeSocket>(type);
    open_ = std::make_unique<OpenSocket>(fake_, nonblocking);
    return *open_;
  }
  std::shared_ptr<FakeSocket> fake_;
  std::unique_ptr<OpenSocket> open_;
};

TEST_F(ShimSendMmsg, SendsEveryMessageAndFillsItsLength) {
  Open();
  fake_->SetSpace(100);
  Batch b({"ab", "", "cde"});
  ASSERT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 3);
  EXPECT_EQ(b[0].msg_len, 2u);
  EXPECT_EQ(b[1].msg_len, 0u);
  EXPECT_EQ(b[2].msg_len, 3u);
  EXPECT_EQ(fake_->sent(), "abcde");
  EXPECT_EQ(SendMessages(*open_, b.get(), 0, 0), 0);
  EXPECT_EQ(SendMessages(*open_, nullptr, 0, 0), 0);
  EXPECT_EQ(SendMessages(*open_, nullptr, 1, 0), -EFAULT);
}

TEST_F(ShimSendMmsg, AMessageSentInPartCountsAndEndsTheBatch) {
  Open(/*nonblocking=*/true);
  fake_->SetSpace(4);
  Batch b({"abc", "def", "ghi"});
  ASSERT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 2) << "msg_data_left ends it";
  EXPECT_EQ(b[0].msg_len, 3u);
  EXPECT_EQ(b[1].msg_len, 1u);
  EXPECT_EQ(b[2].msg_len, 12345u) << "not touched";
  EXPECT_EQ(fake_->sent(), "abcd");
}

TEST_F(ShimSendMmsg, NothingSentIsTheFirstMessagesError) {
  Open(true);
  Batch b({"abc", "def"});
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), -EAGAIN);
  Open(false);
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), MSG_DONTWAIT), -EAGAIN)
      << "MSG_DONTWAIT applies to each message";
  EXPECT_NE(fake_->last_send_flags() & MSG_DONTWAIT, 0);
  b[0].msg_hdr.msg_iovlen = kMaxIov + 1;
  fake_->SetSpace(100);
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), -EMSGSIZE);
  EXPECT_EQ(fake_->sent(), "");
}

TEST_F(ShimSendMmsg, AnErrorAfterSomeWereSentReturnsTheCount) {
  Open();
  fake_->SetSpace(100);
  Batch b({"abc", "def", "ghi"});
  b[1].msg_hdr.msg_iovlen = kMaxIov + 1;  // ___sys_sendmsg: -EMSGSIZE
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 1);
  EXPECT_EQ(fake_->sent(), "abc");
  b[1].msg_hdr.msg_iovlen = 1;
  b[1].msg_hdr.msg_iov = nullptr;  // -EFAULT
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 1);
}

TEST_F(ShimSendMmsg, ABlockingSocketWaitsForRoomForEachMessage) {
  Open();
  Batch b({"0123456789", "abcdefghij"});
  std::atomic<bool> done{false};
  std::thread t([&] {
    while (!done.load()) fake_->SetSpace(3);
  });
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 2);
  done = true;
  t.join();
  EXPECT_EQ(fake_->sent(), "0123456789abcdefghij");
}

TEST_F(ShimSendMmsg, AtMostUioMaxiovMessages) {
  Open();
  fake_->SetSpace(1 << 20);
  Batch b(std::vector<std::string>(kMaxIov + 50, "x"));
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), kMaxIov);
  EXPECT_EQ(fake_->sent().size(), static_cast<size_t>(kMaxIov));
  EXPECT_EQ(b[kMaxIov].msg_len, 12345u);
}

TEST_F(ShimSendMmsg, DatagramsGoToTheirOwnAddresses) {
  Open(false, SOCK_DGRAM);
  fake_->SetSpace(100);
  Batch b({"a", "b"});
  b.WithNames();
  sockaddr_in* to = reinterpret_cast<sockaddr_in*>(b[1].msg_hdr.msg_name);
  to->sin_family = AF_INET;
  to->sin_port = htons(53);
  inet_pton(AF_INET, "198.18.0.1", &to->sin_addr);
  b[0].msg_hdr.msg_name = nullptr;  // no address: the connected peer
  ASSERT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 2);
  ASSERT_TRUE(fake_->last_send_peer().has_value());
  EXPECT_EQ(fake_->last_send_peer()->port, 53);
  // A bad address on the second message: the first still counts.
  to->sin_family = AF_INET6;
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), 1);
  b[0].msg_hdr.msg_name = to;
  b[0].msg_hdr.msg_namelen = sizeof(*to);
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), -EAFNOSUPPORT);
}

std::atomic<int> g_sigpipes{0};

// SIGPIPE counted rather than fatal while a test runs.
class SigpipeCounter {
 public:
  SigpipeCounter() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_sigpipes.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old_);
    g_sigpipes = 0;
  }
  ~SigpipeCounter() { sigaction(SIGPIPE, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

TEST_F(ShimSendMmsg, EpipeRaisesSigpipeUnlessNoSignal) {
  SigpipeCounter counter;
  Open();
  fake_->SetSendError(EPIPE);
  Batch b({"a", "b"});
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), 0), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1);
  EXPECT_EQ(SendMessages(*open_, b.get(), b.size(), MSG_NOSIGNAL), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1);
}

// --- recvmmsg ---

class ShimRecvMmsg : public ::testing::Test {
 protected:
  OpenSocket& Open(bool nonblocking) {
    fake_ = std::make_shared<DatagramFake>();
    open_ = std::make_unique<OpenSocket>(fake_, nonblocking);
    return *open_;
  }
  std::shared_ptr<DatagramFake> fake_;
  std::unique_ptr<OpenSocket> open_;
};

TEST_F(ShimRecvMmsg, TakesWhatIsQueuedWithLengthsNamesAndFlags) {
  Open(/*nonblocking=*/true);
  fake_->Deliver("first", 1001);
  fake_->Deliver("a datagram too long", 1002);
  Batch b({"", "", "", ""}, /*capacity=*/8);
  b.WithNames();
  b[0].msg_hdr.msg_flags = MSG_EOR;  // stale: must be replaced
  b[0].msg_hdr.msg_controllen = 64;
  ASSERT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), 2)
      << "a non-blocking socket returns what there is";
  EXPECT_EQ(b.Received(0), "first");
  EXPECT_EQ(b[0].msg_hdr.msg_flags, 0);
  EXPECT_EQ(b[0].msg_hdr.msg_controllen, 0u);
  EXPECT_EQ(b[0].msg_hdr.msg_namelen, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(b.name(0).sin_port), 1001);
  EXPECT_EQ(b.Received(1), "a datagr");
  EXPECT_EQ(b[1].msg_hdr.msg_flags, MSG_TRUNC);
  EXPECT_EQ(ntohs(b.name(1).sin_port), 1002);
  EXPECT_EQ(b[2].msg_len, 12345u);
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), -EAGAIN);
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), 0, 0, nullptr), 0);
  EXPECT_EQ(ReceiveMessages(*open_, nullptr, 1, 0, nullptr), -EFAULT);
}

TEST_F(ShimRecvMmsg, ABlockingCallWaitsForEveryMessage) {
  Open(false);
  std::thread t([this] {
    fake_->Deliver("one");
    fake_->Deliver("two");
    fake_->Deliver("three");
  });
  Batch b({"", "", ""}, 8);
  ASSERT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), 3);
  t.join();
  EXPECT_EQ(b.Received(0), "one");
  EXPECT_EQ(b.Received(2), "three");
  for (int f : fake_->recv_flags()) EXPECT_EQ(f & MSG_DONTWAIT, 0);
}

TEST_F(ShimRecvMmsg, WaitForOneBlocksOnlyForTheFirst) {
  Open(false);
  std::thread t([this] { fake_->Deliver("only"); });
  Batch b({"", "", ""}, 8);
  ASSERT_EQ(ReceiveMessages(*open_, b.get(), b.size(), MSG_WAITFORONE, nullptr), 1);
  t.join();
  EXPECT_EQ(b.Received(0), "only");
  const std::vector<int> flags = fake_->recv_flags();
  ASSERT_GE(flags.size(), 2u);
  EXPECT_EQ(flags.front() & MSG_DONTWAIT, 0) << "the first one blocks";
  EXPECT_NE(flags.back() & MSG_DONTWAIT, 0) << "the next ones do not";
  for (int f : flags) EXPECT_EQ(f & MSG_WAITFORONE, 0) << "not a recvmsg flag";
  // With several queued, WAITFORONE takes them all.
  fake_->Deliver("x");
  fake_->Deliver("y");
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), MSG_WAITFORONE, nullptr), 2);
}

TEST_F(ShimRecvMmsg, TheTimeoutDoesNotBoundTheWaitForAMessage) {
  Open(false);
  timespec timeout{0, 1000000};  // 1 ms
  const absl::Time start = MonotonicNow();
  std::thread t([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    fake_->Deliver("late");
  });
  Batch b({"", ""}, 8);
  // man recvmmsg, BUGS: the timeout is checked only after each datagram is received.
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &timeout), 1);
  t.join();
  EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(29));
  EXPECT_EQ(b.Received(0), "late");
  EXPECT_EQ(timeout.tv_sec, 0);
  EXPECT_EQ(timeout.tv_nsec, 0) << "the expired timeout is written back as zero";
}

TEST_F(ShimRecvMmsg, AnExpiredTimeoutEndsTheBatchAfterOneMessage) {
  Open(false);
  for (const char* d : {"a", "b", "c"}) fake_->Deliver(d);
  Batch b({"", "", ""}, 8);
  timespec zero{0, 0};
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &zero), 1);
  timespec tiny{0, 1};
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &tiny), 1);
  EXPECT_EQ(tiny.tv_nsec, 0);
  EXPECT_EQ(fake_->queued(), 1u);
}

TEST_F(ShimRecvMmsg, TheTimeLeftIsWrittenBackOnlyWhenSomethingCame) {
  Open(true);
  fake_->Deliver("a");
  fake_->Deliver("b");
  Batch b({"", "", ""}, 8);
  timespec timeout{10, 0};
  ASSERT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &timeout), 2);
  EXPECT_TRUE(timeout.tv_sec == 9 || (timeout.tv_sec == 10 && timeout.tv_nsec == 0))
      << timeout.tv_sec << "." << timeout.tv_nsec;
  EXPECT_GT(timeout.tv_sec, 8);
  timespec untouched{5, 7};
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &untouched), -EAGAIN);
  EXPECT_EQ(untouched.tv_sec, 5);
  EXPECT_EQ(untouched.tv_nsec, 7);
}

TEST_F(ShimRecvMmsg, ABadTimeoutIsEinvalBeforeAnythingIsTaken) {
  Open(true);
  fake_->Deliver("kept");
  Batch b({""}, 8);
  for (timespec bad : {timespec{0, 1000000000}, timespec{0, -1}, timespec{-1, 0}}) {
    EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, &bad), -EINVAL);
  }
  EXPECT_EQ(fake_->queued(), 1u);
}

TEST_F(ShimRecvMmsg, AnErrorAfterSomeMessagesReturnsTheCount) {
  Open(true);
  fake_->Deliver("a");
  fake_->SetError(ECONNREFUSED);
  Batch b({"", "", ""}, 8);
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), 1);
  fake_->SetError(ECONNREFUSED);
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), -ECONNREFUSED);
  fake_->Deliver("a");
  b[1].msg_hdr.msg_iovlen = kMaxIov + 1;
  EXPECT_EQ(ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr), 1);
  EXPECT_EQ(ReceiveMessages(*open_, b.get() + 1, 1, 0, nullptr), -EMSGSIZE);
}

TEST_F(ShimRecvMmsg, ASignalEndsTheBatchWithTheCount) {
  Open(false);
  fake_->Deliver("a");
  Batch b({"", ""}, 8);
  int r1, r2;
  {
    testing::SignalPoker poker(pthread_self());
    r1 = ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr);
    r2 = ReceiveMessages(*open_, b.get(), b.size(), 0, nullptr);
  }
  EXPECT_EQ(r1, 1);
  EXPECT_EQ(r2, -EINTR);
}

// --- sendfile ---

class ShimSendFile : public ::testing::Test {
 protected:
  void SetUp() override {
    content_.resize(300000);
    for (size_t i = 0; i < content_.size(); ++i) content_[i] = static_cast<char>(i * 131 + i / 7);
    file_ = ::memfd_create("sendfile-test", MFD_CLOEXEC);
    ASSERT_GE(file_, 0);
    ASSERT_EQ(::write(file_, content_.data(), content_.size()),
              static_cast<ssize_t>(content_.size()));
    ASSERT_EQ(::lseek(file_, 0, SEEK_SET), 0);
    Open(false);
  }
  void TearDown() override {
    table_.ForEach([this](int fd, const std::shared_ptr<OpenSocket>&) { CloseFd(table_, fd); });
    ::close(file_);
  }
  OpenSocket& Open(bool nonblocking) {
    fake_ = std::make_shared<FakeSocket>();
    open_ = std::make_unique<OpenSocket>(fake_, nonblocking);
    return *open_;
  }
  ssize_t Send(off_t* offset, size_t count) {
    return SendFile(table_, *open_, file_, offset, count);
  }
  off_t Position() const { return ::lseek(file_, 0, SEEK_CUR); }

  std::string content_;
  int file_ = -1;
  FdTable table_;
  std::shared_ptr<FakeSocket> fake_;
  std::unique_ptr<OpenSocket> open_;
};

TEST_F(ShimSendFile, WithAnOffsetReadsThereAndLeavesThePositionAlone) {
  fake_->SetSpace(1 << 20);
  off_t offset = 1000;
  ASSERT_EQ(Send(&offset, 150000), 150000);
  EXPECT_EQ(offset, 151000);
  EXPECT_EQ(Position(), 0);
  EXPECT_EQ(fake_->sent(), content_.substr(1000, 150000));
}

TEST_F(ShimSendFile, WithoutAnOffsetReadsAtThePositionAndMovesIt) {
  fake_->SetSpace(1 << 20);
  ASSERT_EQ(::lseek(file_, 500, SEEK_SET), 500);
  ASSERT_EQ(Send(nullptr, 100000), 100000);
  EXPECT_EQ(Position(), 100500);
  EXPECT_EQ(fake_->sent(), content_.substr(500, 100000));
}

TEST_F(ShimSendFile, StopsAtTheEndOfTheFile) {
  fake_->SetSpace(1 << 20);
  off_t offset = 299990;
  EXPECT_EQ(Send(&offset, 1000), 10);
  EXPECT_EQ(offset, 300000);
  EXPECT_EQ(Send(&offset, 1000), 0);
  EXPECT_EQ(offset, 300000);
  ASSERT_EQ(::lseek(file_, 0, SEEK_SET), 0);
  EXPECT_EQ(Send(nullptr, 1 << 20), 300000);
  EXPECT_EQ(Position(), 300000);
}

TEST_F(ShimSendFile, ANonBlockingSocketTakesWhatFitsAndThePositionMovesByThat) {
  Open(/*nonblocking=*/true);
  fake_->SetSpace(70000);  // more than a chunk: the second one goes in part
  ASSERT_EQ(::lseek(file_, 100, SEEK_SET), 100);
  ASSERT_EQ(Send(nullptr, 200000), 70000);
  EXPECT_EQ(Position(), 70100) << "exactly what was sent";
  EXPECT_EQ(fake_->sent(), content_.substr(100, 70000));
  EXPECT_EQ(Send(nullptr, 200000), -EAGAIN);
  EXPECT_EQ(Position(), 70100);
  off_t offset = 5;
  EXPECT_EQ(Send(&offset, 10), -EAGAIN);
  EXPECT_EQ(offset, 5);
  fake_->SetSpace(3);
  EXPECT_EQ(Send(&offset, 10), 3);
  EXPECT_EQ(offset, 8);
}

TEST_F(ShimSendFile, ABlockingSocketSendsEverythingAsRoomComes) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    while (!done.load()) fake_->SetSpace(5000);
  });
  off_t offset = 0;
  EXPECT_EQ(Send(&offset, 200000), 200000);
  done = true;
  t.join();
  EXPECT_EQ(offset, 200000);
  EXPECT_EQ(fake_->sent(), content_.substr(0, 200000));
}

TEST_F(ShimSendFile, ASendTimeoutAfterSomeWasSentReturnsTheCount) {
  fake_->SetSpace(1000);
  fake_->SetSendTimeout(absl::Milliseconds(20));
  EXPECT_EQ(Send(nullptr, 5000), 1000);
  EXPECT_EQ(Position(), 1000);
  EXPECT_EQ(Send(nullptr, 5000), -EAGAIN);
  EXPECT_EQ(Position(), 1000);
}

TEST_F(ShimSendFile, ASignalWithNothingSentIsEintr) {
  ssize_t r;
  {
    testing::SignalPoker poker(pthread_self());
    r = Send(nullptr, 100);
  }
  EXPECT_EQ(r, -EINTR);
  EXPECT_EQ(Position(), 0);
}

TEST_F(ShimSendFile, EpipeRaisesSigpipe) {
  SigpipeCounter counter;
  fake_->SetSendError(EPIPE);
  EXPECT_EQ(Send(nullptr, 100), -EPIPE);
  EXPECT_EQ(g_sigpipes.load(), 1) << "sendfile has no MSG_NOSIGNAL";
  EXPECT_EQ(Position(), 0);
}

TEST_F(ShimSendFile, CountZeroSendsNothing) {
  off_t offset = 7;
  EXPECT_EQ(Send(&offset, 0), 0);
  EXPECT_EQ(offset, 7);
  EXPECT_EQ(Send(nullptr, 0), 0);
  EXPECT_EQ(fake_->sent(), "");
}

TEST_F(ShimSendFile, AStackSocketIsNoInput) {
  const int in = InstallSocket(table_, std::make_shared<OpenSocket>(fake_, false), false);
  ASSERT_GE(in, 0);
  EXPECT_EQ(SendFile(table_, *open_, in, nullptr, 10), -EINVAL);
  EXPECT_EQ(SendFile(table_, *open_, in, nullptr, 0), -EINVAL) << "even for nothing";
  off_t offset = 0;
  EXPECT_EQ(SendFile(table_, *open_, in, &offset, 10), -ESPIPE) << "no FMODE_PREAD";
}

TEST_F(ShimSendFile, InputsLinuxRefuses) {
  fake_->SetSpace(100);
  off_t offset = 0;
  EXPECT_EQ(SendFile(table_, *open_, -1, nullptr, 10), -EBADF);
  const int wronly = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  EXPECT_EQ(SendFile(table_, *open_, wronly, nullptr, 10), -EBADF);
  ::close(wronly);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ASSERT_EQ(::write(pipe_fds[1], "abc", 3), 3);
  EXPECT_EQ(SendFile(table_, *open_, pipe_fds[0], nullptr, 10), -EINVAL);
  EXPECT_EQ(SendFile(table_, *open_, pipe_fds[0], &offset, 10), -ESPIPE);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  const int dir = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_EQ(SendFile(table_, *open_, dir, nullptr, 10), -EINVAL);
  ::close(dir);
  offset = -1;
  EXPECT_EQ(Send(&offset, 10), -EINVAL);
  EXPECT_EQ(offset, -1);
  offset = std::numeric_limits<off_t>::max() - 5;
  EXPECT_EQ(Send(&offset, 10), -EINVAL) << "rw_verify_area: pos + count overflows";
  EXPECT_EQ(Send(nullptr, static_cast<size_t>(std::numeric_limits<ssize_t>::max()) + 1), -EINVAL);
  EXPECT_EQ(fake_->sent(), "");
}

// A socket that takes everything and keeps only the count.
class SinkSocket : public FakeSocket {
 public:
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo&, int) override {
    const size_t n = IovTotalLength(data);
    total_ += n;
    return static_cast<ssize_t>(n);
  }
  uint32_t Poll() const override { return POLLOUT; }
  size_t total() const { return total_.load(); }

 private:
  std::atomic<size_t> total_{0};
};

TEST_F(ShimSendFile, OneCallMovesAtMostMaxRwCount) {
  // A sparse file a little past MAX_RW_COUNT: reading it costs no disk.
  ASSERT_EQ(::ftruncate(file_, static_cast<off_t>(kMaxRwCount) + 8192), 0);
  auto sink = std::make_shared<SinkSocket>();
  OpenSocket open(sink, false);
  off_t offset = 0;
  ASSERT_EQ(SendFile(table_, open, file_, &offset, std::numeric_limits<ssize_t>::max()),
            static_cast<ssize_t>(kMaxRwCount));
  EXPECT_EQ(offset, static_cast<off_t>(kMaxRwCount));
  EXPECT_EQ(sink->total(), kMaxRwCount);
}

// --- statx / fstatat with AT_EMPTY_PATH ---

TEST(ShimBatchStat, NamesDescriptorItself) {
  EXPECT_TRUE(NamesDescriptorItself("", AT_EMPTY_PATH));
  EXPECT_TRUE(NamesDescriptorItself(nullptr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  EXPECT_FALSE(NamesDescriptorItself("", 0)) << "an empty path without the flag is ENOENT";
  EXPECT_FALSE(NamesDescriptorItself("x", AT_EMPTY_PATH));
  EXPECT_FALSE(NamesDescriptorItself("/etc/passwd", AT_EMPTY_PATH));
}

class ShimBatchStatSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = InstallSocket(table_, std::make_shared<OpenSocket>(std::make_shared<FakeSocket>(), false),
                        true);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override { CloseFd(table_, fd_); }
  FdTable table_;
  int fd_ = -1;
};

TEST_F(ShimBatchStatSocket, FstatatIsFstat) {
  struct stat st {};
  ASSERT_EQ(FstatatSocket(fd_, &st, AT_EMPTY_PATH), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  EXPECT_EQ(st.st_size, 0);
  struct stat placeholder {};
  ASSERT_EQ(::fstat(fd_, &placeholder), 0);
  EXPECT_EQ(st.st_ino, placeholder.st_ino);
  EXPECT_EQ(FstatatSocket(fd_, &st, AT_EMPTY_PATH | 0x40000000), -EINVAL);
}

TEST_F(ShimBatchStatSocket, StatxTypesItAsASocket) {
  struct statx stx {};
  ASSERT_EQ(StatxSocket(fd_, AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), 0);
  EXPECT_TRUE(S_ISSOCK(stx.stx_mode));
  EXPECT_EQ(stx.stx_mode & 07777, 0777u);
  EXPECT_EQ(stx.stx_mask & (STATX_TYPE | STATX_MODE), unsigned{STATX_TYPE | STATX_MODE});
  EXPECT_EQ(stx.stx_size, 0u);
  struct stat placeholder {};
  ASSERT_EQ(::fstat(fd_, &placeholder), 0);
  EXPECT_EQ(stx.stx_ino, placeholder.st_ino) << "the placeholder's inode";
  // The kernel's own checks still apply (AT_STATX_SYNC_TYPE both ways is EINVAL).
  EXPECT_EQ(StatxSocket(fd_, AT_EMPTY_PATH | AT_STATX_SYNC_TYPE, STATX_BASIC_STATS, &stx), -EINVAL);
}

}  // namespace
}  // namespace netshim
