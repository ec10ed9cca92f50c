// The TCP socket API's semantics and errno values, proved against Linux: every case runs
// twice, once on real kernel sockets over loopback (127.0.0.1, non-blocking, in this
// process) and once on our stack (two stacks back to back, TcpPair), and both runs must
// record the same sequence of results. Each case also states the value Linux gives (checked
// on both runs), so a failure says which side moved.
//
// Linux references: net/ipv4/af_inet.c (inet_bind, __inet_stream_connect, inet_listen,
// inet_accept, inet_shutdown, inet_getname), net/ipv4/tcp.c (tcp_poll, tcp_sendmsg_locked,
// tcp_recvmsg_locked, tcp_ioctl, tcp_disconnect), net/ipv4/inet_connection_sock.c
// (inet_csk_bind_conflict, inet_csk_listen_start).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

// The poll bits tcp_poll can report; both sides are compared on these.
constexpr uint32_t kPollBits =
    POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM | POLLRDHUP;
constexpr uint32_t kIn = POLLIN | POLLRDNORM;
constexpr uint32_t kOut = POLLOUT | POLLWRNORM;

std::string PollName(uint32_t m) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {POLLIN, "IN"},   {POLLPRI, "PRI"},       {POLLOUT, "OUT"},       {POLLERR, "ERR"},
      {POLLHUP, "HUP"}, {POLLRDNORM, "RDNORM"}, {POLLWRNORM, "WRNORM"}, {POLLRDHUP, "RDHUP"}};
  std::string s;
  for (const auto& [bit, name] : kNames) {
    if (m & bit) s += std::string(s.empty() ? "" : "|") + name;
  }
  return s.empty() ? "0" : s;
}

// ---------------------------------------------------------------------------------------
// One socket, in either world. Results are >= 0 or -errno, as our Socket API gives them.

class Sock {
 public:
  virtual ~Sock() = default;
  virtual int Bind(Ipv4Address a, uint16_t port) = 0;
  virtual int Connect(Ipv4Address a, uint16_t port) = 0;
  virtual int Listen(int backlog) = 0;
  virtual std::unique_ptr<Sock> Accept(int* error) = 0;
  virtual ssize_t Send(const void* data, size_t len, int flags = 0) = 0;
  virtual ssize_t Recv(void* data, size_t len, int flags = 0) = 0;
  virtual int Shutdown(int how) = 0;
  virtual uint32_t Poll() = 0;  // masked with kPollBits
  virtual int SetOpt(int level, int name, const void* v, socklen_t len) = 0;
  virtual int GetOpt(int level, int name, void* v, socklen_t* len) = 0;
  virtual int SockName(SocketAddress* out) = 0;
  virtual int PeerName(SocketAddress* out) = 0;
  virtual int InQ() = 0;   // FIONREAD / SIOCINQ
  virtual int OutQ() = 0;  // SIOCOUTQ

  int SetInt(int level, int name, int v) { return SetOpt(level, name, &v, sizeof(v)); }
  int GetInt(int level, int name) {
    int v = -12345;
    socklen_t len = sizeof(v);
    const int r = GetOpt(level, name, &v, &len);
    return r < 0 ? r : v;
  }
  int SoError() { return GetInt(SOL_SOCKET, SO_ERROR); }
  uint16_t Port() {
    SocketAddress a;
    return SockName(&a) == 0 ? a.port : 0;
  }
};

class KernelSock final : public Sock {
 public:
  explicit KernelSock(int fd) : fd_(fd) {}
  ~KernelSock() override { ::close(fd_); }

  static sockaddr_in Addr(Ipv4Address a, uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(a.value);
    return sin;
  }
  static int Result(long r) { return r < 0 ? -errno : static_cast<int>(r); }

  int Bind(Ipv4Address a, uint16_t port) override {
    sockaddr_in sin = Addr(a, port);
    return Result(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  }
  int Connect(Ipv4Address a, uint16_t port) override {
    sockaddr_in sin = Addr(a, port);
    return Result(::connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  }
  int Listen(int backlog) override { return Result(::listen(fd_, backlog)); }
  std::unique_ptr<Sock> Accept(int* error) override {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
    *error = fd < 0 ? -errno : 0;
    return fd < 0 ? nullptr : std::make_unique<KernelSock>(fd);
  }
  ssize_t Send(const void* data, size_t len, int flags) override {
    const ssize_t r = ::send(fd_, data, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
    return r < 0 ? -errno : r;
  }
  ssize_t Recv(void* data, size_t len, int flags) override {
    const ssize_t r = ::recv(fd_, data, len, flags | MSG_DONTWAIT);
    return r < 0 ? -errno : r;
  }
  int Shutdown(int how) override { return Result(::shutdown(fd_, how)); }
  uint32_t Poll() override {
    pollfd p{fd_, static_cast<short>(kPollBits), 0};
    if (::poll(&p, 1, 0) < 0) return 0xffffffff;
    return static_cast<uint16_t>(p.revents) & kPollBits;
  }
  int SetOpt(int level, int name, const void* v, socklen_t len) override {
    return Result(::setsockopt(fd_, level, name, v, len));
  }
  int GetOpt(int level, int name, void* v, socklen_t* len) override {
    return Result(::getsockopt(fd_, level, name, v, len));
  }
  int SockName(SocketAddress* out) override { return Name(::getsockname, out); }
  int PeerName(SocketAddress* out) override { return Name(::getpeername, out); }
  int InQ() override { return Ioctl(SIOCINQ); }
  int OutQ() override { return Ioctl(SIOCOUTQ); }

 private:
  int Name(int (*fn)(int, sockaddr*, socklen_t*), SocketAddress* out) {
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    if (fn(fd_, reinterpret_cast<sockaddr*>(&sin), &len) < 0) return -errno;
    *out = {Ipv4Address{ntohl(sin.sin_addr.s_addr)}, ntohs(sin.sin_port)};
    return 0;
  }
  int Ioctl(unsigned long request) {
    int v = 0;
    return ::ioctl(fd_, request, &v) < 0 ? -errno : v;
  }
  int fd_;
};

class StackSock final : public Sock {
 public:
  explicit StackSock(std::shared_ptr<Socket> s) : s_(std::move(s)) {}
  ~StackSock() override { s_->Close(); }

  int Bind(Ipv4Address a, uint16_t port) override { return s_->Bind({a, port}); }
  int Connect(Ipv4Address a, uint16_t port) override { return s_->Connect({a, port}); }
  int Listen(int backlog) override { return s_->Listen(backlog); }
  std::unique_ptr<Sock> Accept(int* error) override {
    SocketAddress peer;
    auto child = s_->Accept(&peer, error);
    return child ? std::make_unique<StackSock>(std::move(child)) : nullptr;
  }
  ssize_t Send(const void* data, size_t len, int flags) override {
    return SendBytes(*s_, static_cast<const uint8_t*>(data), len, flags | MSG_NOSIGNAL);
  }
  ssize_t Recv(void* data, size_t len, int flags) override {
    return RecvBytes(*s_, static_cast<uint8_t*>(data), len, flags);
  }
  int Shutdown(int how) override { return s_->Shutdown(how); }
  uint32_t Poll() override { return s_->Poll() & kPollBits; }
  int SetOpt(int level, int name, const void* v, socklen_t len) override {
    return s_->SetSockOpt(level, name, {static_cast<const uint8_t*>(v), len});
  }
  int GetOpt(int level, int name, void* v, socklen_t* len) override {
    return s_->GetSockOpt(level, name, v, len);
  }
  int SockName(SocketAddress* out) override { return s_->GetSockName(out); }
  int PeerName(SocketAddress* out) override { return s_->GetPeerName(out); }
  int InQ() override { return s_->BytesReadable(); }
  int OutQ() override { return s_->BytesUnsent(); }

  TcpSocket& tcp() { return static_cast<TcpSocket&>(*s_); }

 private:
  std::shared_ptr<Socket> s_;
};

// ---------------------------------------------------------------------------------------
// The two worlds: a client host and a server host (the same host for the kernel).

class World {
 public:
  virtual ~World() = default;
  virtual bool kernel() const = 0;
  virtual std::unique_ptr<Sock> Client() = 0;  // a socket on the connecting host
  virtual std::unique_ptr<Sock> Server() = 0;  // a socket on the listening host
  virtual Ipv4Address ClientAddress() const = 0;
  virtual Ipv4Address ServerAddress() const = 0;
  // Lets the network run until `done` (false if it never became true).
  virtual bool Wait(const std::function<bool()>& done) = 0;
  // Delivers what is in flight without letting any timer run (ours); the kernel's loopback
  // delivers within the sending syscall, so there is nothing to do.
  virtual void Settle() = 0;
  // In the ephemeral port range (net.ipv4.ip_local_port_range; ours: PortRange).
  virtual bool Ephemeral(uint16_t port) const = 0;
};

class KernelWorld final : public World {
 public:
  bool kernel() const override { return true; }
  std::unique_ptr<Sock> Client() override { return New(); }
  std::unique_ptr<Sock> Server() override { return New(); }
  Ipv4Address ClientAddress() const override { return Ipv4Address::FromOctets(127, 0, 0, 1); }
  Ipv4Address ServerAddress() const override { return Ipv4Address::FromOctets(127, 0, 0, 1); }
  bool Wait(const std::function<bool()>& done) override {
    // Real sockets, real time: poll the condition for at most a second.
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }
  void Settle() override {}
  bool Ephemeral(uint16_t port) const override {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 32768, high = 60999;
    in >> low >> high;
    return port >= low && port <= high;
  }

 private:
  static std::unique_ptr<Sock> New() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_GE(fd, 0) << strerror(errno);
    return std::make_unique<KernelSock>(fd);
  }
};

class StackWorld final : public World {
 public:
  bool kernel() const override { return false; }
  std::unique_ptr<Sock> Client() override {
    return std::make_unique<StackSock>(NewTcpSocket(pair_.a()));
  }
  std::unique_ptr<Sock> Server() override {
    return std::make_unique<StackSock>(NewTcpSocket(pair_.b()));
  }
  Ipv4Address ClientAddress() const override { return TcpPair::AddressA(); }
  Ipv4Address ServerAddress() const override { return TcpPair::AddressB(); }
  bool Wait(const std::function<bool()>& done) override {
    return pair_.RunUntil(done, absl::Minutes(1));
  }
  void Settle() override {
    for (int i = 0; i < 1000 && pair_.Step(); ++i) {
    }
  }
  bool Ephemeral(uint16_t port) const override {
    const PortRange range;
    return port >= range.low && port <= range.high;
  }
  TcpPair& pair() { return pair_; }

 private:
  TcpPair pair_;
};

// ---------------------------------------------------------------------------------------
// Recording: every observation goes into the trace, and is checked against Linux's value.

class Trace {
 public:
  explicit Trace(World& w) : world_(w) {}
  World& w() { return world_; }
  const char* name() const { return world_.kernel() ? "kernel" : "netshim"; }

  void Check(const std::string& what, long value, long linux_value) {
    Record(what, std::to_string(value));
    EXPECT_EQ(value, linux_value) << "[" << name() << "] " << what << ": " << Errno(value);
  }
  void CheckPoll(const std::string& what, uint32_t mask, uint32_t linux_mask) {
    Record(what, PollName(mask));
    EXPECT_EQ(PollName(mask), PollName(linux_mask)) << "[" << name() << "] " << what;
  }
  void CheckTrue(const std::string& what, bool value) {
    Record(what, value ? "true" : "false");
    EXPECT_TRUE(value) << "[" << name() << "] " << what;
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  static std::string Errno(long v) { return v < 0 ? strerrorname_np(static_cast<int>(-v)) : ""; }
  void Record(const std::string& what, const std::string& value) {
    lines_.push_back(what + " = " + value);
  }
  World& world_;
  std::vector<std::string> lines_;
};

using Case = std::function<void(Trace&)>;

// Runs `c` on the kernel and on our stack; the two traces must be identical.
void RunBoth(const Case& c) {
  std::vector<std::string> kernel_lines, stack_lines;
  {
    KernelWorld kw;
    Trace t(kw);
    c(t);
    kernel_lines = t.lines();
  }
  {
    StackWorld sw;
    Trace t(sw);
    c(t);
    stack_lines = t.lines();
  }
  std::ostringstream diff;
  const size_t n = std::max(kernel_lines.size(), stack_lines.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string k = i < kernel_lines.size() ? kernel_lines[i] : "(missing)";
    const std::string s = i < stack_lines.size() ? stack_lines[i] : "(missing)";
    if (k != s) diff << "  kernel: " << k << "\n  netshim: " << s << "\n";
  }
  EXPECT_EQ(diff.str(), "") << "netshim differs from the kernel";
}

// A connected pair: client on the client host, server accepted on the server host.
struct Connected {
  std::unique_ptr<Sock> listener, client, server;
};

Connected Connect(Trace& t, int backlog = 8) {
  World& w = t.w();
  Connected c;
  c.listener = w.Server();
  EXPECT_EQ(c.listener->Bind(w.ServerAddress(), 0), 0);
  EXPECT_EQ(c.listener->Listen(backlog), 0);
  c.client = w.Client();
  EXPECT_EQ(c.client->Connect(w.ServerAddress(), c.listener->Port()), -EINPROGRESS);
  EXPECT_TRUE(w.Wait([&] {
    if (!c.server) {
      int err = 0;
      c.server = c.listener->Accept(&err);
    }
    return c.server && (c.client->Poll() & POLLOUT);
  })) << t.name()
      << ": handshake did not complete";
  EXPECT_EQ(c.client->Connect(w.ServerAddress(), c.listener->Port()), 0);
  return c;
}

// A port bound by nobody listening: connecting to it is answered with RST.
std::unique_ptr<Sock> ClosedPort(World& w, uint16_t* port) {
  auto s = w.Server();
  EXPECT_EQ(s->Bind(w.ServerAddress(), 0), 0);
  *port = s->Port();
  return s;
}

// ---------------------------------------------------------------------------------------
// bind

TEST(TcpSocketApi, BindTwiceIsEinval) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s = w.Server();
    t.Check("bind", s->Bind(w.ServerAddress(), 0), 0);
    const uint16_t port = s->Port();
    t.CheckTrue("bound port is ephemeral", t.w().Ephemeral(port));
    t.Check("bind again, same address", s->Bind(w.ServerAddress(), port), -EINVAL);
    t.Check("bind again, any address", s->Bind(Ipv4Address::Any(), 0), -EINVAL);
    // inet_bind checks the address before the socket's state.
    t.Check("bind again, foreign address", s->Bind(*Ipv4Address::Parse("198.51.100.7"), 0),
            -EADDRNOTAVAIL);
    t.CheckTrue("port unchanged", s->Port() == port);
  });
}

TEST(TcpSocketApi, BindNonLocalAddressIsEaddrnotavail) {
  RunBoth([](Trace& t) {
    auto s = t.w().Server();
    t.Check("bind 198.51.100.7", s->Bind(*Ipv4Address::Parse("198.51.100.7"), 0), -EADDRNOTAVAIL);
    t.Check("bind 198.51.100.7:80", s->Bind(*Ipv4Address::Parse("198.51.100.7"), 80),
            -EADDRNOTAVAIL);
    // The failed bind left the socket unbound: a good bind still works.
    t.Check("bind any", s->Bind(Ipv4Address::Any(), 0), 0);
  });
}

TEST(TcpSocketApi, BindConflictIsEaddrinuse) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s1 = w.Server();
    t.Check("bind s1", s1->Bind(w.ServerAddress(), 0), 0);
    const uint16_t port = s1->Port();
    auto s2 = w.Server();
    t.Check("same address", s2->Bind(w.ServerAddress(), port), -EADDRINUSE);
    t.Check("wildcard over specific", s2->Bind(Ipv4Address::Any(), port), -EADDRINUSE);
    // SO_REUSEADDR on one side only is not enough.
    t.Check("reuseaddr s2", s2->SetInt(SOL_SOCKET, SO_REUSEADDR, 1), 0);
    t.Check("reuseaddr on one side", s2->Bind(w.ServerAddress(), port), -EADDRINUSE);
    // The failed binds left s2 unbound.
    t.Check("s2 still unbound", s2->Port(), 0);
    s1.reset();
    t.Check("after s1 closed", s2->Bind(w.ServerAddress(), port), 0);
  });
}

TEST(TcpSocketApi, BindWildcardThenSpecificConflicts) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s1 = w.Server();
    t.Check("bind any", s1->Bind(Ipv4Address::Any(), 0), 0);
    auto s2 = w.Server();
    t.Check("specific over wildcard", s2->Bind(w.ServerAddress(), s1->Port()), -EADDRINUSE);
  });
}

TEST(TcpSocketApi, ReuseAddrAllowsSharingUntilListen) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s1 = w.Server();
    auto s2 = w.Server();
    auto s3 = w.Server();
    for (Sock* s : {s1.get(), s2.get(), s3.get()}) {
      t.Check("reuseaddr", s->SetInt(SOL_SOCKET, SO_REUSEADDR, 1), 0);
    }
    t.Check("bind s1", s1->Bind(w.ServerAddress(), 0), 0);
    const uint16_t port = s1->Port();
    // inet_csk_bind_conflict: both SO_REUSEADDR and the holder not listening.
    t.Check("bind s2 (neither listens)", s2->Bind(w.ServerAddress(), port), 0);
    // listen re-checks the port (inet_csk_listen_start): s2 is not listening, so s1 may.
    t.Check("listen s1", s1->Listen(4), 0);
    // Now s1 listens: a second listener, or a new bind, conflicts.
    t.Check("listen s2", s2->Listen(4), -EADDRINUSE);
    t.Check("bind s3 (s1 listens)", s3->Bind(w.ServerAddress(), port), -EADDRINUSE);
    t.Check("s2 acceptconn", s2->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 0);
  });
}

TEST(TcpSocketApi, ReusePortAllowsTwoListeners) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s1 = w.Server();
    auto s2 = w.Server();
    auto s3 = w.Server();
    t.Check("reuseport s1", s1->SetInt(SOL_SOCKET, SO_REUSEPORT, 1), 0);
    t.Check("reuseport s2", s2->SetInt(SOL_SOCKET, SO_REUSEPORT, 1), 0);
    t.Check("bind s1", s1->Bind(w.ServerAddress(), 0), 0);
    const uint16_t port = s1->Port();
    t.Check("listen s1", s1->Listen(4), 0);
    t.Check("bind s2", s2->Bind(w.ServerAddress(), port), 0);
    t.Check("listen s2", s2->Listen(4), 0);
    // Without SO_REUSEPORT the third conflicts.
    t.Check("bind s3", s3->Bind(w.ServerAddress(), port), -EADDRINUSE);
    // Connections reach one of the two listeners.
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), port), -EINPROGRESS);
    t.CheckTrue("a listener is readable",
                w.Wait([&] { return ((s1->Poll() | s2->Poll()) & POLLIN) != 0; }));
  });
}

// ---------------------------------------------------------------------------------------
// listen, accept

TEST(TcpSocketApi, ListenAutobindsAndGetsocknameShowsIt) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s = w.Server();
    SocketAddress a{Ipv4Address::FromOctets(1, 2, 3, 4), 99};
    t.Check("getsockname unbound", s->SockName(&a), 0);
    t.Check("unbound address", a.address.value, 0);
    t.Check("unbound port", a.port, 0);
    t.Check("acceptconn before", s->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 0);
    t.Check("listen unbound", s->Listen(5), 0);
    t.Check("getsockname", s->SockName(&a), 0);
    t.Check("autobound address is any", a.address.value, 0);
    t.CheckTrue("autobound port is ephemeral", t.w().Ephemeral(a.port));
    t.Check("acceptconn", s->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 1);
    t.Check("listen again (new backlog)", s->Listen(10), 0);
    t.Check("bind after listen", s->Bind(Ipv4Address::Any(), 0), -EINVAL);
    t.Check("connect on listener", s->Connect(w.ServerAddress(), a.port), -EISCONN);
    SocketAddress peer;
    t.Check("getpeername on listener", s->PeerName(&peer), -ENOTCONN);
    t.CheckPoll("listener poll, empty queue", s->Poll(), 0);
  });
}

TEST(TcpSocketApi, AcceptOnNonListenerIsEinvalAndEmptyQueueEagain) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s = w.Server();
    int err = 0;
    t.CheckTrue("accept fresh fails", s->Accept(&err) == nullptr);
    t.Check("accept fresh", err, -EINVAL);
    t.Check("bind", s->Bind(w.ServerAddress(), 0), 0);
    t.CheckTrue("accept bound fails", s->Accept(&err) == nullptr);
    t.Check("accept bound", err, -EINVAL);
    t.Check("listen", s->Listen(1), 0);
    t.CheckTrue("accept empty fails", s->Accept(&err) == nullptr);
    t.Check("accept empty", err, -EAGAIN);
    // A connected socket is not a listener either.
    auto c = Connect(t);
    t.CheckTrue("accept on connected fails", c.client->Accept(&err) == nullptr);
    t.Check("accept on connected", err, -EINVAL);
  });
}

TEST(TcpSocketApi, ListenerPollShowsPendingConnection) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto l = w.Server();
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(4), 0);
    t.CheckPoll("listener, nothing pending", l->Poll(), 0);
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.CheckTrue("listener becomes readable", w.Wait([&] { return (l->Poll() & POLLIN) != 0; }));
    t.CheckPoll("listener, one pending", l->Poll(), kIn);
    int err = 0;
    auto s = l->Accept(&err);
    t.Check("accept", err, 0);
    t.CheckPoll("listener after accept", l->Poll(), 0);
    ASSERT_TRUE(s);
    // The accepted socket's names are the client's, swapped.
    SocketAddress client_name, server_peer, server_name;
    t.Check("client getsockname", c->SockName(&client_name), 0);
    t.Check("server getpeername", s->PeerName(&server_peer), 0);
    t.Check("server getsockname", s->SockName(&server_name), 0);
    t.CheckTrue("peer is the client", server_peer == client_name);
    t.CheckTrue("server name is the listener's address and port",
                server_name == SocketAddress{w.ServerAddress(), l->Port()});
    t.CheckTrue("client port is ephemeral", t.w().Ephemeral(client_name.port));
    t.CheckTrue("client address is its host's", client_name.address == w.ClientAddress());
    t.CheckPoll("accepted socket", s->Poll(), kOut);
  });
}

// ---------------------------------------------------------------------------------------
// connect

TEST(TcpSocketApi, ConnectCompletesThenZeroThenEisconn) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto l = w.Server();
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(4), 0);
    auto c = w.Client();
    SocketAddress peer;
    t.Check("getpeername before connect", c->PeerName(&peer), -ENOTCONN);
    t.Check("connect", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.CheckTrue("connected", w.Wait([&] { return (c->Poll() & POLLOUT) != 0; }));
    t.CheckPoll("client established", c->Poll(), kOut);
    t.Check("so_error", c->SoError(), 0);
    // __inet_stream_connect: SS_CONNECTING and established -> SS_CONNECTED, 0.
    t.Check("connect after completion", c->Connect(w.ServerAddress(), l->Port()), 0);
    t.Check("connect again", c->Connect(w.ServerAddress(), l->Port()), -EISCONN);
    t.Check("connect elsewhere", c->Connect(w.ServerAddress(), 1), -EISCONN);
    t.Check("listen on connected", c->Listen(4), -EINVAL);
    t.Check("bind on connected", c->Bind(Ipv4Address::Any(), 0), -EINVAL);
    t.Check("getpeername", c->PeerName(&peer), 0);
    t.CheckTrue("peer is the listener", peer == SocketAddress{w.ServerAddress(), l->Port()});
  });
}

TEST(TcpSocketApi, ConnectWhileConnectingIsEalready) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    // listen(0) takes one connection; with it unaccepted, further SYNs are dropped
    // (sk_acceptq_is_full), so the next client stays in SYN-SENT.
    auto l = w.Server();
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(0), 0);
    auto filler = w.Client();
    t.Check("filler connect", filler->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.CheckTrue("filler queued", w.Wait([&] { return (l->Poll() & POLLIN) != 0; }));
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    w.Settle();
    t.CheckPoll("connecting poll", c->Poll(), 0);
    t.Check("connect again while connecting", c->Connect(w.ServerAddress(), l->Port()), -EALREADY);
    t.Check("connect elsewhere while connecting", c->Connect(w.ServerAddress(), 1), -EALREADY);
    t.Check("listen while connecting", c->Listen(4), -EINVAL);
    uint8_t buf[8] = {};
    t.Check("send while connecting", c->Send(buf, sizeof(buf)), -EAGAIN);
    t.Check("recv while connecting", c->Recv(buf, sizeof(buf)), -EAGAIN);
    SocketAddress a;
    t.Check("getpeername while connecting", c->PeerName(&a), -ENOTCONN);
    t.Check("getsockname while connecting", c->SockName(&a), 0);
    t.CheckTrue("autobound by connect", a.port != 0 && a.address == w.ClientAddress());
    t.Check("so_error while connecting", c->SoError(), 0);
    t.Check("inq while connecting", c->InQ(), 0);
    t.Check("outq while connecting", c->OutQ(), 0);
  });
}

TEST(TcpSocketApi, ShutdownWhileConnectingAbandonsTheAttempt) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto l = w.Server();
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(0), 0);
    auto filler = w.Client();
    t.Check("filler connect", filler->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.CheckTrue("filler queued", w.Wait([&] { return (l->Poll() & POLLIN) != 0; }));
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    w.Settle();
    // inet_shutdown in SYN-SENT: tcp_disconnect, sk_err = ECONNRESET, SS_UNCONNECTED.
    t.Check("shutdown while connecting", c->Shutdown(SHUT_WR), 0);
    t.CheckPoll("after shutdown", c->Poll(), kOut | POLLHUP | POLLERR);
    t.Check("so_error", c->SoError(), ECONNRESET);
    t.Check("so_error again", c->SoError(), 0);
    t.CheckPoll("after so_error", c->Poll(), kOut | POLLHUP);
  });
}

TEST(TcpSocketApi, ConnectToClosedPortIsRefused) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    uint16_t port = 0;
    auto holder = ClosedPort(w, &port);
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), port), -EINPROGRESS);
    t.CheckTrue("refused", w.Wait([&] { return (c->Poll() & POLLERR) != 0; }));
    // tcp_reset in SYN-SENT: sk_err = ECONNREFUSED, tcp_done (CLOSED, SHUTDOWN_MASK).
    t.CheckPoll("poll after refusal", c->Poll(), kIn | kOut | POLLRDHUP | POLLHUP | POLLERR);
    t.Check("so_error", c->SoError(), ECONNREFUSED);
    t.Check("so_error is cleared", c->SoError(), 0);
    t.CheckPoll("poll after so_error", c->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    uint8_t buf[4];
    t.Check("recv after refusal", c->Recv(buf, sizeof(buf)), 0);
    t.Check("send after refusal", c->Send(buf, sizeof(buf)), -EPIPE);
    SocketAddress a;
    t.Check("getpeername after refusal", c->PeerName(&a), -ENOTCONN);
    // The error was read: connect reports ECONNABORTED (sock_error is 0) and disconnects.
    t.Check("connect after so_error", c->Connect(w.ServerAddress(), port), -ECONNABORTED);
    t.CheckPoll("poll after disconnect", c->Poll(), kOut | POLLHUP);
    t.Check("recv after disconnect", c->Recv(buf, sizeof(buf)), -ENOTCONN);
    // A new attempt: refused again, and this time connect itself reports it.
    t.Check("connect again", c->Connect(w.ServerAddress(), port), -EINPROGRESS);
    t.CheckTrue("refused again", w.Wait([&] { return (c->Poll() & POLLERR) != 0; }));
    t.Check("connect reports the refusal", c->Connect(w.ServerAddress(), port), -ECONNREFUSED);
    t.Check("so_error after connect reported it", c->SoError(), 0);
    t.Check("connect once more", c->Connect(w.ServerAddress(), port), -EINPROGRESS);
  });
}

TEST(TcpSocketApi, ShutdownAfterRefusalLeavesSocketDisconnecting) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    uint16_t port = 0;
    auto holder = ClosedPort(w, &port);
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), port), -EINPROGRESS);
    t.CheckTrue("refused", w.Wait([&] { return (c->Poll() & POLLERR) != 0; }));
    // inet_shutdown: SS_CONNECTING with the socket CLOSED becomes SS_DISCONNECTING, and
    // CLOSED answers ENOTCONN.
    t.Check("shutdown", c->Shutdown(SHUT_RDWR), -ENOTCONN);
    t.Check("so_error", c->SoError(), ECONNREFUSED);
    // __inet_stream_connect: SS_DISCONNECTING is the default case: EINVAL.
    t.Check("connect", c->Connect(w.ServerAddress(), port), -EINVAL);
  });
}

// ---------------------------------------------------------------------------------------
// unconnected sockets

TEST(TcpSocketApi, UnconnectedSocketErrors) {
  RunBoth([](Trace& t) {
    auto s = t.w().Server();
    uint8_t buf[16] = {};
    t.CheckPoll("fresh socket poll", s->Poll(), kOut | POLLHUP);
    // tcp_sendmsg_locked -> sk_stream_wait_connect: not connecting -> EPIPE.
    t.Check("send", s->Send(buf, sizeof(buf)), -EPIPE);
    t.Check("send zero bytes", s->Send(buf, 0), -EPIPE);
    // tcp_recvmsg_locked: CLOSED and never connected -> ENOTCONN.
    t.Check("recv", s->Recv(buf, sizeof(buf)), -ENOTCONN);
    t.Check("recv peek", s->Recv(buf, sizeof(buf), MSG_PEEK), -ENOTCONN);
    SocketAddress a;
    t.Check("getpeername", s->PeerName(&a), -ENOTCONN);
    t.Check("inq", s->InQ(), 0);
    t.Check("outq", s->OutQ(), 0);
    t.Check("so_error", s->SoError(), 0);
    // inet_shutdown checks `how` before the state.
    t.Check("shutdown(-1)", s->Shutdown(-1), -EINVAL);
    t.Check("shutdown(3)", s->Shutdown(3), -EINVAL);
    t.Check("shutdown(100)", s->Shutdown(100), -EINVAL);
    t.CheckPoll("poll after invalid shutdown", s->Poll(), kOut | POLLHUP);
    t.Check("shutdown(SHUT_RD)", s->Shutdown(SHUT_RD), -ENOTCONN);
    // ... but still records it: "hack to wake up other listeners" (POLLIN|POLLRDHUP).
    t.CheckPoll("poll after SHUT_RD", s->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    t.Check("recv after SHUT_RD", s->Recv(buf, sizeof(buf)), 0);
    t.Check("shutdown(SHUT_RDWR)", s->Shutdown(SHUT_RDWR), -ENOTCONN);
    t.Check("send after SHUT_RDWR", s->Send(buf, sizeof(buf)), -EPIPE);
  });
}

TEST(TcpSocketApi, ListenerSendRecvShutdown) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto l = w.Server();
    t.Check("listen", l->Listen(4), 0);
    uint8_t buf[16] = {};
    t.Check("send on listener", l->Send(buf, sizeof(buf)), -EPIPE);
    t.Check("recv on listener", l->Recv(buf, sizeof(buf)), -ENOTCONN);
    t.Check("inq on listener", l->InQ(), -EINVAL);
    t.Check("outq on listener", l->OutQ(), -EINVAL);
    // SHUT_WR on a listener does nothing; SHUT_RD stops it (tcp_disconnect).
    t.Check("shutdown(SHUT_WR) on listener", l->Shutdown(SHUT_WR), 0);
    t.Check("still listening", l->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 1);
    t.Check("shutdown(SHUT_RD) on listener", l->Shutdown(SHUT_RD), 0);
    t.Check("no longer listening", l->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 0);
    t.CheckPoll("stopped listener poll", l->Poll(), kOut | POLLHUP);
    auto c = w.Client();
    t.Check("connect to stopped listener", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.CheckTrue("refused", w.Wait([&] { return (c->Poll() & POLLERR) != 0; }));
    t.Check("so_error", c->SoError(), ECONNREFUSED);
  });
}

// ---------------------------------------------------------------------------------------
// data

TEST(TcpSocketApi, PeekWaitallTruncAndQueueSizes) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    uint8_t data[100];
    for (int i = 0; i < 100; ++i) data[i] = static_cast<uint8_t>(i);
    t.Check("send", c.client->Send(data, sizeof(data)), 100);
    t.CheckTrue("arrives", w.Wait([&] { return c.server->InQ() == 100; }));
    t.CheckTrue("acknowledged", w.Wait([&] { return c.client->OutQ() == 0; }));
    t.CheckPoll("server readable", c.server->Poll(), kIn | kOut);
    uint8_t buf[1000] = {};
    t.Check("peek", c.server->Recv(buf, 10, MSG_PEEK), 10);
    t.Check("peek byte 9", buf[9], 9);
    t.Check("inq after peek", c.server->InQ(), 100);
    t.Check("peek again", c.server->Recv(buf, 20, MSG_PEEK), 20);
    t.Check("peek again byte 0", buf[0], 0);
    t.Check("recv 30", c.server->Recv(buf, 30), 30);
    t.Check("recv byte 29", buf[29], 29);
    t.Check("inq", c.server->InQ(), 70);
    // MSG_TRUNC on TCP: the bytes are discarded, and counted.
    t.Check("recv MSG_TRUNC", c.server->Recv(buf, 20, MSG_TRUNC), 20);
    t.Check("inq after MSG_TRUNC", c.server->InQ(), 50);
    // MSG_WAITALL without blocking returns what there is (tcp_recvmsg: !timeo -> break).
    t.Check("recv MSG_WAITALL", c.server->Recv(buf, sizeof(buf), MSG_WAITALL), 50);
    t.Check("recv byte 50", buf[0], 50);
    t.Check("recv empty", c.server->Recv(buf, sizeof(buf)), -EAGAIN);
    t.Check("peek empty", c.server->Recv(buf, sizeof(buf), MSG_PEEK), -EAGAIN);
    t.Check("recv zero bytes", c.server->Recv(buf, 0), -EAGAIN);
    t.CheckPoll("server drained", c.server->Poll(), kOut);
    t.Check("send zero bytes", c.client->Send(data, 0), 0);
  });
}

TEST(TcpSocketApi, SendAfterShutdownWrIsEpipeAndPeerSeesEofRepeatedly) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    uint8_t buf[64] = {1, 2, 3};
    t.Check("server sends", c.server->Send(buf, 3), 3);
    t.Check("server shutdown(SHUT_WR)", c.server->Shutdown(SHUT_WR), 0);
    t.Check("server send after SHUT_WR", c.server->Send(buf, 3), -EPIPE);
    t.Check("server shutdown(SHUT_WR) again", c.server->Shutdown(SHUT_WR), 0);
    t.CheckPoll("server after SHUT_WR", c.server->Poll(), kOut);
    t.CheckTrue("client sees FIN", w.Wait([&] { return (c.client->Poll() & POLLRDHUP) != 0; }));
    t.CheckPoll("client after peer FIN", c.client->Poll(), kIn | kOut | POLLRDHUP);
    t.Check("inq before read", c.client->InQ(), 3);
    t.Check("client reads the data", c.client->Recv(buf, sizeof(buf)), 3);
    t.Check("eof", c.client->Recv(buf, sizeof(buf)), 0);
    t.Check("eof again", c.client->Recv(buf, sizeof(buf)), 0);
    t.Check("eof with peek", c.client->Recv(buf, sizeof(buf), MSG_PEEK), 0);
    t.Check("eof a third time", c.client->Recv(buf, sizeof(buf)), 0);
    // Half-close: the client can still send, the server still receives.
    t.Check("client sends after peer FIN", c.client->Send(buf, 10), 10);
    t.CheckTrue("server receives", w.Wait([&] { return c.server->InQ() == 10; }));
    t.Check("server reads", c.server->Recv(buf, sizeof(buf)), 10);
    t.Check("client shutdown(SHUT_WR)", c.client->Shutdown(SHUT_WR), 0);
    t.CheckTrue("server sees FIN", w.Wait([&] { return (c.server->Poll() & POLLRDHUP) != 0; }));
    t.CheckPoll("server, both directions shut", c.server->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    t.Check("server eof", c.server->Recv(buf, sizeof(buf)), 0);
    // The client got the ACK of its FIN in LAST-ACK: CLOSED.
    t.CheckTrue("client closes", w.Wait([&] {
      SocketAddress a;
      return c.client->PeerName(&a) == -ENOTCONN;
    }));
    t.CheckPoll("client closed", c.client->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    t.Check("client eof after close", c.client->Recv(buf, sizeof(buf)), 0);
    t.Check("client send after close", c.client->Send(buf, 1), -EPIPE);
    t.Check("client shutdown after close", c.client->Shutdown(SHUT_RDWR), -ENOTCONN);
    t.Check("client so_error", c.client->SoError(), 0);
  });
}

TEST(TcpSocketApi, ShutdownRdStillDeliversArrivingData) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    uint8_t buf[64] = {};
    t.Check("client shutdown(SHUT_RD)", c.client->Shutdown(SHUT_RD), 0);
    t.CheckPoll("client after SHUT_RD", c.client->Poll(), kIn | kOut | POLLRDHUP);
    t.Check("recv after SHUT_RD", c.client->Recv(buf, sizeof(buf)), 0);
    // TCP sends nothing for SHUT_RD: the peer can still send, and the data is readable.
    t.Check("server sends", c.server->Send(buf, 7), 7);
    t.CheckTrue("data arrives", w.Wait([&] { return c.client->InQ() == 7; }));
    t.Check("recv the data", c.client->Recv(buf, sizeof(buf)), 7);
    t.Check("then eof", c.client->Recv(buf, sizeof(buf)), 0);
    t.Check("client can still send", c.client->Send(buf, 5), 5);
  });
}

TEST(TcpSocketApi, PeerResetReportsEconnresetOnceThenEof) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    uint8_t buf[64] = {9, 8, 7, 6, 5};
    t.Check("server sends", c.server->Send(buf, 5), 5);
    t.CheckTrue("data arrives", w.Wait([&] { return c.client->InQ() == 5; }));
    // SO_LINGER {1, 0} makes close send RST (tcp_close -> tcp_disconnect).
    const linger l{1, 0};
    t.Check("linger 0", c.server->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    c.server.reset();
    t.CheckTrue("client sees RST", w.Wait([&] { return (c.client->Poll() & POLLERR) != 0; }));
    t.CheckPoll("client after RST", c.client->Poll(), kIn | kOut | POLLRDHUP | POLLHUP | POLLERR);
    // Queued data is still read first; then the error, once; then end of stream.
    t.Check("recv data", c.client->Recv(buf, sizeof(buf)), 5);
    t.Check("recv error", c.client->Recv(buf, sizeof(buf)), -ECONNRESET);
    t.Check("recv eof", c.client->Recv(buf, sizeof(buf)), 0);
    t.Check("so_error after recv reported it", c.client->SoError(), 0);
    t.CheckPoll("after the error was read", c.client->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    t.Check("send", c.client->Send(buf, 1), -EPIPE);
    SocketAddress a;
    t.Check("getpeername", c.client->PeerName(&a), -ENOTCONN);
    t.Check("connect after reset", c.client->Connect(w.ServerAddress(), 1), -EISCONN);
  });
}

TEST(TcpSocketApi, SoErrorIsClearedByReadingIt) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    const linger l{1, 0};
    t.Check("linger 0", c.server->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    c.server.reset();
    t.CheckTrue("client sees RST", w.Wait([&] { return (c.client->Poll() & POLLERR) != 0; }));
    t.Check("so_error", c.client->SoError(), ECONNRESET);
    t.Check("so_error cleared", c.client->SoError(), 0);
    t.CheckPoll("no POLLERR", c.client->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    uint8_t buf[4];
    t.Check("recv", c.client->Recv(buf, sizeof(buf)), 0);
  });
}

TEST(TcpSocketApi, SendAfterResetReportsErrorFirst) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    const linger l{1, 0};
    t.Check("linger 0", c.server->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    c.server.reset();
    t.CheckTrue("client sees RST", w.Wait([&] { return (c.client->Poll() & POLLERR) != 0; }));
    uint8_t buf[4] = {};
    // sk_stream_wait_connect: a pending error wins over EPIPE, and is consumed.
    t.Check("send", c.client->Send(buf, sizeof(buf)), -ECONNRESET);
    t.Check("send again", c.client->Send(buf, sizeof(buf)), -EPIPE);
    t.Check("so_error", c.client->SoError(), 0);
  });
}

TEST(TcpSocketApi, ClosingWithUnreadDataResetsPeer) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    uint8_t buf[16] = {};
    t.Check("client sends", c.client->Send(buf, sizeof(buf)), 16);
    t.CheckTrue("server has it", w.Wait([&] { return c.server->InQ() == 16; }));
    c.server.reset();  // RFC 2525 2.17: RST, not FIN
    t.CheckTrue("client sees RST", w.Wait([&] { return (c.client->Poll() & POLLERR) != 0; }));
    t.Check("so_error", c.client->SoError(), ECONNRESET);
  });
}

TEST(TcpSocketApi, PollThroughTheLifeOfAConnection) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    t.CheckPoll("client established", c.client->Poll(), kOut);
    t.CheckPoll("server established", c.server->Poll(), kOut);
    uint8_t buf[32] = {};
    t.Check("client sends", c.client->Send(buf, 1), 1);
    t.CheckTrue("arrives", w.Wait([&] { return c.server->InQ() == 1; }));
    t.CheckPoll("server with data", c.server->Poll(), kIn | kOut);
    t.Check("server reads", c.server->Recv(buf, sizeof(buf)), 1);
    t.CheckPoll("server drained", c.server->Poll(), kOut);
    t.Check("client shutdown(SHUT_WR)", c.client->Shutdown(SHUT_WR), 0);
    t.CheckTrue("server sees FIN", w.Wait([&] { return (c.server->Poll() & POLLRDHUP) != 0; }));
    t.CheckPoll("server after FIN", c.server->Poll(), kIn | kOut | POLLRDHUP);
    t.CheckPoll("client after SHUT_WR", c.client->Poll(), kOut);
    t.Check("server shutdown(SHUT_RDWR)", c.server->Shutdown(SHUT_RDWR), 0);
    t.CheckTrue("client sees FIN", w.Wait([&] { return (c.client->Poll() & POLLRDHUP) != 0; }));
    // Both directions shut: POLLHUP (tcp_poll: sk_shutdown == SHUTDOWN_MASK).
    t.CheckPoll("client, both shut", c.client->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
    t.CheckPoll("server, both shut", c.server->Poll(), kIn | kOut | POLLRDHUP | POLLHUP);
  });
}

TEST(TcpSocketApi, SiocoutqCountsWhatThePeerHasNotAcknowledged) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    // A small receive buffer on the server (inherited from the listener) so that the
    // client's data backs up: what the server holds is acknowledged, the rest is not.
    auto l = w.Server();
    t.Check("SO_RCVBUF", l->SetInt(SOL_SOCKET, SO_RCVBUF, 4096), 0);
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(4), 0);
    auto c = w.Client();
    t.Check("connect", c->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    std::unique_ptr<Sock> s;
    t.CheckTrue("connected", w.Wait([&] {
      int err = 0;
      if (!s) s = l->Accept(&err);
      return s && (c->Poll() & POLLOUT);
    }));
    std::vector<uint8_t> data(65536, 7);
    long sent = 0;
    t.CheckTrue("the client fills its buffers", w.Wait([&] {
      for (;;) {
        const ssize_t n = c->Send(data.data(), data.size());
        if (n <= 0) break;
        sent += n;
      }
      // Settled: nothing in flight (tcpi_unacked), the server's window is full, and
      // everything sent is either held by the server (acknowledged) or still queued.
      tcp_info ci{};
      socklen_t len = sizeof(ci);
      return (c->Poll() & POLLOUT) == 0 && s->InQ() > 0 &&
             c->GetOpt(IPPROTO_TCP, TCP_INFO, &ci, &len) == 0 && ci.tcpi_unacked == 0 &&
             c->OutQ() + s->InQ() == sent;
    }));
    t.CheckTrue("the server holds some", s->InQ() > 0);
    t.CheckTrue("the client holds the rest", c->OutQ() > 0);
    t.CheckTrue("nothing more is readable than its buffer", s->InQ() <= 8192);
    uint8_t buf[1024];
    const int before = s->InQ();
    t.Check("server reads", s->Recv(buf, sizeof(buf)), static_cast<long>(sizeof(buf)));
    t.CheckTrue("inq drops by what was read", s->InQ() == before - static_cast<int>(sizeof(buf)));
  });
}

// Nagle (RFC 896, Linux tcp_nagle_check) holds a small segment only while another small one
// is unacknowledged: the first write of a connection always leaves at once.
TEST(TcpSocketApi, NagleDoesNotHoldTheFirstSmallWrite) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    // Several connections, so several initial sequence numbers.
    for (int i = 0; i < 16; ++i) {
      auto c = Connect(t);
      uint8_t byte = static_cast<uint8_t>(i);
      t.Check("client sends one byte", c.client->Send(&byte, 1), 1);
      t.CheckTrue("the server gets it", w.Wait([&] { return c.server->InQ() == 1; }));
      t.Check("server sends one byte", c.server->Send(&byte, 1), 1);
      t.CheckTrue("the client gets it", w.Wait([&] { return c.client->InQ() == 1; }));
    }
  });
}

TEST(TcpSocketApi, GetsocknameAfterConnectAutobind) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(t);
    SocketAddress a;
    t.Check("getsockname", c.client->SockName(&a), 0);
    t.CheckTrue("address", a.address == w.ClientAddress());
    t.CheckTrue("ephemeral port", t.w().Ephemeral(a.port));
    // A socket bound to the wildcard gets its address filled in by connect.
    auto l = w.Server();
    t.Check("bind", l->Bind(w.ServerAddress(), 0), 0);
    t.Check("listen", l->Listen(4), 0);
    auto d = w.Client();
    t.Check("bind any", d->Bind(Ipv4Address::Any(), 0), 0);
    const uint16_t port = d->Port();
    t.Check("connect", d->Connect(w.ServerAddress(), l->Port()), -EINPROGRESS);
    t.Check("getsockname", d->SockName(&a), 0);
    t.CheckTrue("address filled in", a.address == w.ClientAddress());
    t.CheckTrue("port kept", a.port == port);
  });
}

}  // namespace
}  // namespace netshim::testing
