// TcpServices and EventLoop against in-memory stream sockets (no TCP needed): echo with
// backpressure and graceful close, discard, chargen's exact pattern, resets, many
// connections on the one thread, and the connection cap.
#include "tools/tcp_services.h"

#include <netinet/in.h>
#include <poll.h>

#include <deque>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "stack/socket/socket_waiter.h"

namespace netshim {
namespace {

// Both directions of one in-memory connection; `capacity` bytes each way at most.
struct FakeConnection {
  explicit FakeConnection(size_t cap) : capacity(cap) {}
  absl::Mutex mu;
  const size_t capacity;
  std::deque<uint8_t> bytes[2] ABSL_GUARDED_BY(mu);  // bytes[i]: written by side i
  bool fin[2] ABSL_GUARDED_BY(mu) = {false, false};  // side i shut its sending half
  bool reset[2] ABSL_GUARDED_BY(mu) = {false, false};  // side i was reset by the other
  bool closed[2] ABSL_GUARDED_BY(mu) = {false, false};
};

class FakeStream final : public Socket, public std::enable_shared_from_this<FakeStream> {
 public:
  FakeStream(std::shared_ptr<FakeConnection> c, int side) : c_(std::move(c)), side_(side) {}
  static std::pair<std::shared_ptr<FakeStream>, std::shared_ptr<FakeStream>> Pair(size_t cap) {
    auto c = std::make_shared<FakeConnection>(cap);
    auto a = std::make_shared<FakeStream>(c, 0);
    auto b = std::make_shared<FakeStream>(c, 1);
    a->peer_ = b;
    b->peer_ = a;
    return {a, b};
  }

  int type() const override { return SOCK_STREAM; }
  int protocol() const override { return IPPROTO_TCP; }
  int Bind(const SocketAddress&) override { return -EINVAL; }
  int Connect(const SocketAddress&) override { return -EISCONN; }

  ssize_t SendMsg(std::span<const iovec> data, MessageInfo&, int) override {
    ssize_t n = 0;
    {
      absl::MutexLock lock(&c_->mu);
      if (c_->reset[side_]) return -ECONNRESET;
      if (c_->fin[side_] || c_->closed[other()]) return -EPIPE;
      auto& out = c_->bytes[side_];
      for (const iovec& v : data) {
        const size_t room = c_->capacity - out.size();
        const size_t take = std::min(room, v.iov_len);
        auto* p = static_cast<const uint8_t*>(v.iov_base);
        out.insert(out.end(), p, p + take);
        n += take;
      }
      if (n == 0) return -EAGAIN;
    }
    NotifyBoth();
    return n;
  }

  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo&, int) override {
    ssize_t n = 0;
    {
      absl::MutexLock lock(&c_->mu);
      if (c_->reset[side_]) return -ECONNRESET;
      auto& in = c_->bytes[other()];
      if (in.empty()) return c_->fin[other()] ? 0 : -EAGAIN;
      for (const iovec& v : data) {
        const size_t take = std::min(in.size(), v.iov_len);
        std::copy_n(in.begin(), take, static_cast<uint8_t*>(v.iov_base));
        in.erase(in.begin(), in.begin() + take);
        n += take;
      }
    }
    NotifyBoth();
    return n;
  }

  int Shutdown(int how) override {
    {
      absl::MutexLock lock(&c_->mu);
      if (how != SHUT_RD) c_->fin[side_] = true;
    }
    NotifyBoth();
    return 0;
  }

  // Like Linux: unread data at close resets the peer; otherwise a FIN.
  void Close() override {
    {
      absl::MutexLock lock(&c_->mu);
      c_->closed[side_] = true;
      if (!c_->bytes[other()].empty()) {
        c_->reset[other()] = true;
        c_->bytes[side_].clear();
      }
      c_->fin[side_] = true;
    }
    NotifyBoth();
  }

  int GetSockName(SocketAddress*) const override { return 0; }
  int GetPeerName(SocketAddress*) const override { return 0; }
  int SetSockOpt(int, int, std::span<const uint8_t>) override { return -ENOPROTOOPT; }
  int GetSockOpt(int, int, void*, socklen_t*) override { return -ENOPROTOOPT; }
  int BytesReadable() const override {
    absl::MutexLock lock(&c_->mu);
    return static_cast<int>(c_->bytes[other()].size());
  }

  uint32_t Poll() const override {
    absl::MutexLock lock(&c_->mu);
    uint32_t mask = 0;
    if (c_->reset[side_]) return POLLIN | POLLOUT | POLLERR | POLLHUP;
    if (!c_->bytes[other()].empty() || c_->fin[other()]) mask |= POLLIN;
    if (c_->fin[other()]) mask |= POLLRDHUP;
    if (c_->bytes[side_].size() < c_->capacity && !c_->fin[side_]) mask |= POLLOUT;
    if (c_->fin[side_] && c_->fin[other()]) mask |= POLLHUP;
    return mask;
  }

  bool PeerClosed() const {
    absl::MutexLock lock(&c_->mu);
    return c_->closed[other()];
  }
  bool WasReset() const {
    absl::MutexLock lock(&c_->mu);
    return c_->reset[side_];
  }

 private:
  int other() const { return 1 - side_; }
  void NotifyBoth() {
    NotifyReadiness();
    if (auto p = peer_.lock()) p->NotifyReadiness();
  }

  std::shared_ptr<FakeConnection> c_;
  const int side_;
  std::weak_ptr<FakeStream> peer_;
};

class FakeListener final : public Socket {
 public:
  int type() const override { return SOCK_STREAM; }
  int protocol() const override { return IPPROTO_TCP; }
  int Bind(const SocketAddress&) override { return 0; }
  int Connect(const SocketAddress&) override { return -EISCONN; }
  // The client's end; the server's waits for Accept().
  std::shared_ptr<FakeStream> Connect(size_t capacity) {
    auto [client, server] = FakeStream::Pair(capacity);
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(server);
    }
    NotifyReadiness();
    return client;
  }
  std::shared_ptr<Socket> Accept(SocketAddress* peer, int* error) override {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) {
      *error = -EAGAIN;
      return nullptr;
    }
    auto s = queue_.front();
    queue_.pop_front();
    *peer = SocketAddress{Ipv4Address(0x0a000001), 1234};
    *error = 0;
    return s;
  }
  ssize_t SendMsg(std::span<const iovec>, MessageInfo&, int) override { return -ENOTCONN; }
  ssize_t RecvMsg(std::span<const iovec>, MessageInfo&, int) override { return -ENOTCONN; }
  int Shutdown(int) override { return -ENOTCONN; }
  void Close() override { closed_ = true; }
  int GetSockName(SocketAddress*) const override { return 0; }
  int GetPeerName(SocketAddress*) const override { return -ENOTCONN; }
  int SetSockOpt(int, int, std::span<const uint8_t>) override { return -ENOPROTOOPT; }
  int GetSockOpt(int, int, void*, socklen_t*) override { return -ENOPROTOOPT; }
  int BytesReadable() const override { return 0; }
  uint32_t Poll() const override {
    absl::MutexLock lock(&mu_);
    return queue_.empty() ? 0 : POLLIN;
  }
  size_t waiting() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }
  std::atomic<bool> closed_{false};

 private:
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<FakeStream>> queue_ ABSL_GUARDED_BY(mu_);
};

std::string Pattern(size_t bytes) {
  std::string s;
  for (uint64_t n = 0; s.size() < bytes; ++n) s += ChargenPattern::Line(n);
  s.resize(bytes);
  return s;
}

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (char& c : s) {
    x = x * 1664525 + 1013904223;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Drives one client end without blocking: pushes `out`, collects everything until EOF
// (or reset), shutting down its sending half once all is sent.
struct Client {
  std::shared_ptr<FakeStream> s;
  std::string out;
  size_t sent = 0;
  std::string in;
  bool eof = false;
  bool shut = false;
  ssize_t error = 0;

  // One step; false when nothing could be done.
  bool Step() {
    bool progress = false;
    MessageInfo info;
    if (sent < out.size()) {
      iovec v{out.data() + sent, std::min<size_t>(out.size() - sent, 8192)};
      ssize_t r = s->SendMsg({&v, 1}, info, 0);
      if (r > 0) {
        sent += r;
        progress = true;
      }
    } else if (!shut) {
      s->Shutdown(SHUT_WR);
      shut = true;
      progress = true;
    }
    if (!eof) {
      char buf[8192];
      iovec v{buf, sizeof(buf)};
      ssize_t r = s->RecvMsg({&v, 1}, info, 0);
      if (r > 0) {
        in.append(buf, r);
        progress = true;
      } else if (r == 0) {
        eof = true;
        progress = true;
      } else if (r != -EAGAIN) {
        error = r;
        eof = true;
        progress = true;
      }
    }
    return progress;
  }
  bool done() const { return eof && shut; }
};

// Runs clients until all are done (each waits on readiness, never sleeps blindly).
void RunClients(std::vector<Client>& clients, absl::Duration limit = absl::Seconds(60)) {
  const absl::Time deadline = absl::Now() + limit;
  for (;;) {
    bool all_done = true, progress = false;
    for (Client& c : clients) {
      if (c.done()) continue;
      all_done = false;
      while (c.Step()) progress = true;
    }
    if (all_done) return;
    ASSERT_LT(absl::Now(), deadline) << "clients stalled";
    if (!progress) {
      // Wait for any change on the first unfinished client (others are rechecked then).
      for (Client& c : clients) {
        if (c.done()) continue;
        SocketWaiter w(*c.s, POLLIN | POLLOUT);
        w.Wait(absl::Milliseconds(20));
        break;
      }
    }
  }
}

struct Served {
  std::shared_ptr<FakeListener> listener = std::make_shared<FakeListener>();
  std::unique_ptr<TcpServices> services;
  explicit Served(TcpServiceKind kind) {
    std::vector<TcpServices::Listening> l;
    l.push_back({kind, 7, listener});
    auto s = TcpServices::Serve(std::move(l));
    EXPECT_TRUE(s.ok());
    services = std::move(*s);
  }
  uint64_t Counter(std::string_view name) {
    std::string table = services->FormatTable();
    size_t at = table.find(" " + std::string(name) + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(table.substr(at + name.size() + 2));
  }
};

TEST(ChargenPatternTest, LinesFollowTheRing) {
  // BSD inetd's ring starts at the space; line 1 is the first line of RFC 864's example.
  EXPECT_EQ(ChargenPattern::Line(0),
            " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n");
  EXPECT_EQ(ChargenPattern::Line(1),
            "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n");
  EXPECT_EQ(ChargenPattern::Line(95), ChargenPattern::Line(0));
  EXPECT_EQ(ChargenPattern::Line(94).substr(0, 3), "~ !");
}

TEST(ChargenPatternTest, AtMatchesLinesFromAnyOffset) {
  ChargenPattern p(1000);
  const std::string ref = Pattern(ChargenPattern::kPeriod * 2 + 1000);
  for (uint64_t off : {0ul, 1ul, 73ul, 74ul, 7029ul, 7030ul, 7031ul, 123456789ul}) {
    const uint64_t r = off % ChargenPattern::kPeriod;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.At(off)), 1000), ref.substr(r, 1000))
        << off;
  }
}

TEST(TcpServicesTest, EchoReturnsEverythingThroughBackpressureThenCloses) {
  Served served(TcpServiceKind::kEcho);
  std::vector<Client> clients(1);
  clients[0].s = served.listener->Connect(3000);  // far less than one 64 KiB read
  clients[0].out = Bytes(4 << 20, 1);
  RunClients(clients);
  EXPECT_EQ(clients[0].error, 0);
  EXPECT_TRUE(clients[0].in == clients[0].out);
  served.services->Stop();
  EXPECT_EQ(served.Counter("InBytes"), 4u << 20);
  EXPECT_EQ(served.Counter("OutBytes"), 4u << 20);
  EXPECT_EQ(served.Counter("PeerCloses"), 1u);
  EXPECT_EQ(served.Counter("Closed"), 1u);
  EXPECT_EQ(served.Counter("Resets"), 0u);
  EXPECT_TRUE(clients[0].s->PeerClosed());
}

TEST(TcpServicesTest, EchoServesHundredsOfConnectionsOnOneThread) {
  Served served(TcpServiceKind::kEcho);
  std::vector<Client> clients(300);
  for (size_t i = 0; i < clients.size(); ++i) {
    clients[i].s = served.listener->Connect(20000);
    clients[i].out = Bytes(100000 + i, static_cast<uint32_t>(i));
  }
  RunClients(clients);
  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_EQ(clients[i].error, 0);
    EXPECT_TRUE(clients[i].in == clients[i].out) << i;
  }
  served.services->Stop();
  EXPECT_EQ(served.Counter("Accepted"), 300u);
  EXPECT_EQ(served.Counter("Closed"), 300u);
}

TEST(TcpServicesTest, DiscardReadsAllThenClosesWithoutReset) {
  Served served(TcpServiceKind::kDiscard);
  std::vector<Client> clients(1);
  clients[0].s = served.listener->Connect(10000);
  clients[0].out = Bytes(1 << 20, 2);
  RunClients(clients);
  EXPECT_EQ(clients[0].error, 0);
  EXPECT_TRUE(clients[0].in.empty());
  EXPECT_FALSE(clients[0].s->WasReset());
  served.services->Stop();
  EXPECT_EQ(served.Counter("InBytes"), 1u << 20);
  EXPECT_EQ(served.Counter("PeerCloses"), 1u);
}

TEST(TcpServicesTest, ChargenSendsThePatternUntilReset) {
  Served served(TcpServiceKind::kChargen);
  auto client = served.listener->Connect(5000);
  std::string got;
  const size_t want = 3 << 20;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  SocketWaiter waiter(*client, POLLIN);
  while (got.size() < want) {
    ASSERT_LT(absl::Now(), deadline);
    char buf[4096];
    iovec v{buf, std::min(sizeof(buf), want - got.size())};
    MessageInfo info;
    ssize_t r = client->RecvMsg({&v, 1}, info, 0);
    if (r == -EAGAIN) {
      waiter.Wait(absl::Seconds(1));
      continue;
    }
    ASSERT_GT(r, 0);
    got.append(buf, r);
  }
  EXPECT_TRUE(got == Pattern(want));
  client->Close();  // with unread data: the server sees a reset
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (served.services && absl::Now() < until) {
    std::string t = served.services->FormatTable();  // counters are atomic
    if (t.find("Resets") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  served.services->Stop();
  EXPECT_EQ(served.Counter("Resets"), 1u);
  EXPECT_EQ(served.Counter("Closed"), 1u);
}

TEST(TcpServicesTest, ChargenClosesOnThePeersFin) {
  Served served(TcpServiceKind::kChargen);
  std::vector<Client> clients(1);
  clients[0].s = served.listener->Connect(5000);
  clients[0].out = "ignored input";
  RunClients(clients);  // sends, shuts down, reads until the server's FIN
  EXPECT_EQ(clients[0].error, 0);
  EXPECT_TRUE(clients[0].in == Pattern(clients[0].in.size()));
  served.services->Stop();
  EXPECT_EQ(served.Counter("PeerCloses"), 1u);
  EXPECT_EQ(served.Counter("InBytes"), 13u);
}

TEST(TcpServicesTest, StopsAcceptingAtTheCapAndResumes) {
  Served served(TcpServiceKind::kEcho);
  const size_t n = TcpServices::kMaxConnections + 10;
  std::vector<std::shared_ptr<FakeStream>> held;
  for (size_t i = 0; i < n; ++i) held.push_back(served.listener->Connect(100));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (served.listener->waiting() > 10) {
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(served.listener->waiting(), 10u);  // the cap holds
  for (size_t i = 0; i < 10; ++i) held[i]->Shutdown(SHUT_WR);  // ten finish
  while (served.listener->waiting() > 0) {
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(1));
  }
  served.services->Stop();
  EXPECT_EQ(served.Counter("Accepted"), n);
  EXPECT_GE(served.Counter("AcceptDeferred"), 1u);
  EXPECT_TRUE(served.listener->closed_);
  for (auto& h : held) EXPECT_TRUE(h->PeerClosed());  // Stop() closed the rest
}

}  // namespace
}  // namespace netshim
