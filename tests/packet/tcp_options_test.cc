// setsockopt/getsockopt on TCP sockets, proved against Linux: each case runs on a real kernel
// socket (loopback) and on our stack (configured with this host's sysctls, so buffer limits
// and keepalive defaults agree), and both runs must record the same results. Where an
// option shows on the wire (TCP_MAXSEG, IP_TTL, IP_TOS) a single stack on the in-memory link
// is driven with crafted segments and the emitted fields are checked.
//
// Linux references: net/core/sock.c (sk_setsockopt, sk_getsockopt, sock_set_timeout),
// net/ipv4/ip_sockglue.c (do_ip_setsockopt, do_ip_getsockopt), net/ipv4/tcp.c
// (do_tcp_setsockopt, do_tcp_getsockopt, tcp_get_info, tcp_set_rcvlowat).
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
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
#include "stack/wire/bytes.h"
#include "stack/wire/tcp.h"
#include "tests/packet/stack_fixture.h"
#include "tests/packet/tcp_pair.h"

namespace netshim::testing {
namespace {

// ---------------------------------------------------------------------------------------
// This host's sysctls, which the kernel side obeys; our stack is configured with them.

std::vector<long> ReadSysctl(const char* path) {
  std::ifstream in(path);
  std::vector<long> v;
  long x;
  while (in >> x) v.push_back(x);
  return v;
}

struct HostLimits {
  int core_rmem_max = 212992;
  int core_wmem_max = 212992;
  int tcp_rmem[3] = {4096, 131072, 6291456};
  int tcp_wmem[3] = {4096, 16384, 4194304};
  int keepalive_time = 7200;
  int keepalive_intvl = 75;
  int keepalive_probes = 9;
  int syn_retries = 6;

  HostLimits() {
    auto one = [](const char* path, int* out) {
      auto v = ReadSysctl(path);
      if (v.size() == 1) *out = static_cast<int>(v[0]);
    };
    auto three = [](const char* path, int* out) {
      auto v = ReadSysctl(path);
      if (v.size() == 3) {
        for (int i = 0; i < 3; ++i) out[i] = static_cast<int>(v[i]);
      }
    };
    one("/proc/sys/net/core/rmem_max", &core_rmem_max);
    one("/proc/sys/net/core/wmem_max", &core_wmem_max);
    three("/proc/sys/net/ipv4/tcp_rmem", tcp_rmem);
    three("/proc/sys/net/ipv4/tcp_wmem", tcp_wmem);
    one("/proc/sys/net/ipv4/tcp_keepalive_time", &keepalive_time);
    one("/proc/sys/net/ipv4/tcp_keepalive_intvl", &keepalive_intvl);
    one("/proc/sys/net/ipv4/tcp_keepalive_probes", &keepalive_probes);
    one("/proc/sys/net/ipv4/tcp_syn_retries", &syn_retries);
  }

  TcpConfig Config() const {
    TcpConfig c;
    c.core_rmem_max = core_rmem_max;
    c.core_wmem_max = core_wmem_max;
    c.rmem_default = tcp_rmem[1];
    c.rmem_max = tcp_rmem[2];
    c.wmem_default = tcp_wmem[1];
    c.wmem_max = tcp_wmem[2];
    c.keepalive_time = absl::Seconds(keepalive_time);
    c.keepalive_intvl = absl::Seconds(keepalive_intvl);
    c.keepalive_probes = keepalive_probes;
    c.syn_retries = syn_retries;
    return c;
  }
};

const HostLimits& Host() {
  static const HostLimits* h = new HostLimits();
  return *h;
}

// ---------------------------------------------------------------------------------------
// One socket, kernel or ours (results >= 0 or -errno).

class Sock {
 public:
  virtual ~Sock() = default;
  virtual int Bind(Ipv4Address a, uint16_t port) = 0;
  virtual int Connect(Ipv4Address a, uint16_t port) = 0;
  virtual int Listen(int backlog) = 0;
  virtual std::unique_ptr<Sock> Accept() = 0;
  virtual ssize_t Send(const void* data, size_t len) = 0;
  virtual ssize_t Recv(void* data, size_t len) = 0;
  virtual int Shutdown(int how) = 0;
  virtual uint32_t Poll() = 0;
  virtual int SetOpt(int level, int name, const void* v, socklen_t len) = 0;
  virtual int GetOpt(int level, int name, void* v, socklen_t* len) = 0;
  virtual uint16_t Port() = 0;
  virtual int InQ() = 0;

  int SetInt(int level, int name, int v) { return SetOpt(level, name, &v, sizeof(v)); }
  int GetInt(int level, int name) {
    int v = -12345;
    socklen_t len = sizeof(v);
    const int r = GetOpt(level, name, &v, &len);
    return r < 0 ? r : v;
  }
  tcp_info Info() {
    tcp_info info{};
    socklen_t len = sizeof(info);
    EXPECT_EQ(GetOpt(IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    return info;
  }
};

class KernelSock final : public Sock {
 public:
  explicit KernelSock(int fd) : fd_(fd) {}
  ~KernelSock() override { ::close(fd_); }
  static int Result(long r) { return r < 0 ? -errno : static_cast<int>(r); }
  static sockaddr_in Addr(Ipv4Address a, uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(a.value);
    return sin;
  }
  int Bind(Ipv4Address a, uint16_t port) override {
    sockaddr_in sin = Addr(a, port);
    return Result(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  }
  int Connect(Ipv4Address a, uint16_t port) override {
    sockaddr_in sin = Addr(a, port);
    return Result(::connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  }
  int Listen(int backlog) override { return Result(::listen(fd_, backlog)); }
  std::unique_ptr<Sock> Accept() override {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
    return fd < 0 ? nullptr : std::make_unique<KernelSock>(fd);
  }
  ssize_t Send(const void* data, size_t len) override {
    const ssize_t r = ::send(fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return r < 0 ? -errno : r;
  }
  ssize_t Recv(void* data, size_t len) override {
    const ssize_t r = ::recv(fd_, data, len, MSG_DONTWAIT);
    return r < 0 ? -errno : r;
  }
  int Shutdown(int how) override { return Result(::shutdown(fd_, how)); }
  uint32_t Poll() override {
    pollfd p{fd_, static_cast<short>(POLLIN | POLLOUT | POLLRDHUP), 0};
    ::poll(&p, 1, 0);
    return static_cast<uint16_t>(p.revents);
  }
  int SetOpt(int level, int name, const void* v, socklen_t len) override {
    return Result(::setsockopt(fd_, level, name, v, len));
  }
  int GetOpt(int level, int name, void* v, socklen_t* len) override {
    return Result(::getsockopt(fd_, level, name, v, len));
  }
  uint16_t Port() override {
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    return ntohs(sin.sin_port);
  }
  int InQ() override {
    int v = 0;
    return ::ioctl(fd_, SIOCINQ, &v) < 0 ? -errno : v;
  }

 private:
  int fd_;
};

class StackSock final : public Sock {
 public:
  explicit StackSock(std::shared_ptr<Socket> s) : s_(std::move(s)) {}
  ~StackSock() override { s_->Close(); }
  int Bind(Ipv4Address a, uint16_t port) override { return s_->Bind({a, port}); }
  int Connect(Ipv4Address a, uint16_t port) override { return s_->Connect({a, port}); }
  int Listen(int backlog) override { return s_->Listen(backlog); }
  std::unique_ptr<Sock> Accept() override {
    int err = 0;
    SocketAddress peer;
    auto child = s_->Accept(&peer, &err);
    return child ? std::make_unique<StackSock>(std::move(child)) : nullptr;
  }
  ssize_t Send(const void* data, size_t len) override {
    return SendBytes(*s_, static_cast<const uint8_t*>(data), len, MSG_NOSIGNAL);
  }
  ssize_t Recv(void* data, size_t len) override {
    return RecvBytes(*s_, static_cast<uint8_t*>(data), len);
  }
  int Shutdown(int how) override { return s_->Shutdown(how); }
  uint32_t Poll() override { return s_->Poll(); }
  int SetOpt(int level, int name, const void* v, socklen_t len) override {
    return s_->SetSockOpt(level, name, {static_cast<const uint8_t*>(v), len});
  }
  int GetOpt(int level, int name, void* v, socklen_t* len) override {
    return s_->GetSockOpt(level, name, v, len);
  }
  uint16_t Port() override {
    SocketAddress a;
    s_->GetSockName(&a);
    return a.port;
  }
  int InQ() override { return s_->BytesReadable(); }

 private:
  std::shared_ptr<Socket> s_;
};

class World {
 public:
  virtual ~World() = default;
  virtual bool kernel() const = 0;
  virtual std::unique_ptr<Sock> Client() = 0;
  virtual std::unique_ptr<Sock> Server() = 0;
  virtual Ipv4Address ServerAddress() const = 0;
  virtual bool Wait(const std::function<bool()>& done) = 0;
  // The congestion control a new socket gets (net.ipv4.tcp_congestion_control / config).
  virtual std::string DefaultCongestion() const = 0;
};

class KernelWorld final : public World {
 public:
  bool kernel() const override { return true; }
  std::unique_ptr<Sock> Client() override { return New(); }
  std::unique_ptr<Sock> Server() override { return New(); }
  Ipv4Address ServerAddress() const override { return Ipv4Address::FromOctets(127, 0, 0, 1); }
  bool Wait(const std::function<bool()>& done) override {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }
  std::string DefaultCongestion() const override {
    std::ifstream in("/proc/sys/net/ipv4/tcp_congestion_control");
    std::string s;
    in >> s;
    return s;
  }

 private:
  static std::unique_ptr<Sock> New() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_GE(fd, 0) << strerror(errno);
    return std::make_unique<KernelSock>(fd);
  }
};

StackOptions HostStackOptions() {
  StackOptions o;
  o.tcp = Host().Config();
  return o;
}

class StackWorld final : public World {
 public:
  // A 5 ms one-way delay gives the connection a real round-trip time to measure.
  StackWorld() : pair_("delay=5ms", HostStackOptions()) {}
  bool kernel() const override { return false; }
  std::unique_ptr<Sock> Client() override {
    return std::make_unique<StackSock>(NewTcpSocket(pair_.a()));
  }
  std::unique_ptr<Sock> Server() override {
    return std::make_unique<StackSock>(NewTcpSocket(pair_.b()));
  }
  Ipv4Address ServerAddress() const override { return TcpPair::AddressB(); }
  bool Wait(const std::function<bool()>& done) override {
    return pair_.RunUntil(done, absl::Minutes(1));
  }
  std::string DefaultCongestion() const override { return HostStackOptions().tcp.congestion; }

 private:
  TcpPair pair_;
};

class Trace {
 public:
  explicit Trace(World& w) : world_(w) {}
  World& w() { return world_; }
  const char* name() const { return world_.kernel() ? "kernel" : "netshim"; }
  void Check(const std::string& what, long value, long linux_value) {
    lines_.push_back(what + " = " + std::to_string(value));
    EXPECT_EQ(value, linux_value) << "[" << name() << "] " << what;
  }
  void CheckTrue(const std::string& what, bool value) {
    lines_.push_back(what + " = " + (value ? "true" : "false"));
    EXPECT_TRUE(value) << "[" << name() << "] " << what;
  }
  void Note(const std::string& what, const std::string& value) {
    lines_.push_back(what + " = " + value);
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  World& world_;
  std::vector<std::string> lines_;
};

using Case = std::function<void(Trace&)>;

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

struct Connected {
  std::unique_ptr<Sock> listener, client, server;
};

// `before_connect` runs on the client socket before connect().
Connected Connect(World& w, const std::function<void(Sock&)>& before_connect = {}) {
  Connected c;
  c.listener = w.Server();
  EXPECT_EQ(c.listener->Bind(w.ServerAddress(), 0), 0);
  EXPECT_EQ(c.listener->Listen(8), 0);
  c.client = w.Client();
  if (before_connect) before_connect(*c.client);
  EXPECT_EQ(c.client->Connect(w.ServerAddress(), c.listener->Port()), -EINPROGRESS);
  EXPECT_TRUE(w.Wait([&] {
    if (!c.server) c.server = c.listener->Accept();
    return c.server && (c.client->Poll() & POLLOUT);
  }));
  return c;
}

// Moves `n` bytes from `from` to `to` (read as they arrive).
void Transfer(World& w, Sock& from, Sock& to, size_t n) {
  std::vector<uint8_t> data(n, 0x5a), buf(65536);
  size_t sent = 0, got = 0;
  EXPECT_TRUE(w.Wait([&] {
    while (sent < n) {
      const ssize_t r = from.Send(data.data() + sent, n - sent);
      if (r <= 0) break;
      sent += static_cast<size_t>(r);
    }
    for (;;) {
      const ssize_t r = to.Recv(buf.data(), buf.size());
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    return got == n;
  })) << "moved "
      << got << " of " << n;
}

// The value Linux stores for SO_RCVBUF / SO_SNDBUF (sk_setsockopt: min_t(u32, val, max),
// then __sock_set_rcvbuf / set_sndbuf: min(val, INT_MAX / 2) * 2, at least the floor).
long LinuxBufferSize(int val, int max, int floor) {
  long v = std::min<unsigned>(static_cast<unsigned>(val), static_cast<unsigned>(max));
  v = std::min<long>(v, INT_MAX / 2);
  return std::max<long>(v * 2, floor);
}
// SO_RCVBUFFORCE / SO_SNDBUFFORCE (CAP_NET_ADMIN): no ceiling, negative values are 0.
long LinuxForcedBufferSize(int val, int floor) {
  long v = std::min<long>(std::max(val, 0), INT_MAX / 2);
  return std::max<long>(v * 2, floor);
}
uint32_t LoopbackMtu() {
  auto v = ReadSysctl("/sys/class/net/lo/mtu");
  return v.size() == 1 ? static_cast<uint32_t>(v[0]) : 65536;
}

constexpr int kSockMinRcvbuf = 2304;  // SOCK_MIN_RCVBUF on x86-64
constexpr int kSockMinSndbuf = 4608;  // SOCK_MIN_SNDBUF

// ---------------------------------------------------------------------------------------
// SOL_SOCKET

TEST(TcpOptions, BooleanOptionsReadBackAsZeroOrOne) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    const std::pair<int, int> kOptions[] = {{SOL_SOCKET, SO_REUSEADDR},
                                            {SOL_SOCKET, SO_REUSEPORT},
                                            {SOL_SOCKET, SO_KEEPALIVE},
                                            {IPPROTO_TCP, TCP_NODELAY},
                                            {IPPROTO_TCP, TCP_CORK}};
    for (const auto& [level, name] : kOptions) {
      const std::string n = std::to_string(level) + "/" + std::to_string(name);
      t.Check(n + " default", s->GetInt(level, name), 0);
      for (int v : {1, 7, -1, 0, INT_MIN, 1}) {
        t.Check(n + " set " + std::to_string(v), s->SetInt(level, name, v), 0);
        t.Check(n + " get after " + std::to_string(v), s->GetInt(level, name), v != 0 ? 1 : 0);
      }
    }
  });
}

TEST(TcpOptions, FlagOptionsWithoutTcpEffectStillReadBack) {
  // SO_BROADCAST, SO_DONTROUTE and SO_OOBINLINE are socket flags on Linux
  // (sock_valbool_flag): a TCP socket takes them and reports them, whatever they do.
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    for (int name : {SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE}) {
      const std::string n = "SOL_SOCKET/" + std::to_string(name);
      t.Check(n + " default", s->GetInt(SOL_SOCKET, name), 0);
      t.Check(n + " set 1", s->SetInt(SOL_SOCKET, name, 1), 0);
      t.Check(n + " get", s->GetInt(SOL_SOCKET, name), 1);
      t.Check(n + " set 0", s->SetInt(SOL_SOCKET, name, 0), 0);
      t.Check(n + " get 0", s->GetInt(SOL_SOCKET, name), 0);
    }
  });
}

TEST(TcpOptions, ReadOnlyOptions) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s = w.Server();
    t.Check("SO_TYPE", s->GetInt(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    t.Check("SO_DOMAIN", s->GetInt(SOL_SOCKET, SO_DOMAIN), AF_INET);
    t.Check("SO_PROTOCOL", s->GetInt(SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    t.Check("SO_ACCEPTCONN", s->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 0);
    t.Check("SO_ERROR", s->GetInt(SOL_SOCKET, SO_ERROR), 0);
    t.Check("SO_SNDLOWAT", s->GetInt(SOL_SOCKET, SO_SNDLOWAT), 1);
    for (int name : {SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR, SO_SNDLOWAT}) {
      t.Check("set " + std::to_string(name), s->SetInt(SOL_SOCKET, name, 1), -ENOPROTOOPT);
    }
    t.Check("listen", s->Listen(1), 0);
    t.Check("SO_ACCEPTCONN listening", s->GetInt(SOL_SOCKET, SO_ACCEPTCONN), 1);
    t.Check("SO_TYPE listening", s->GetInt(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  });
}

TEST(TcpOptions, Linger) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    auto check = [&](const std::string& what, linger want) {
      linger l{-7, -7};
      socklen_t len = sizeof(l);
      t.Check(what + " get", s->GetOpt(SOL_SOCKET, SO_LINGER, &l, &len), 0);
      t.Check(what + " len", len, sizeof(l));
      t.Check(what + " l_onoff", l.l_onoff, want.l_onoff);
      t.Check(what + " l_linger", l.l_linger, want.l_linger);
    };
    check("default", {0, 0});
    // l_onoff reads back as 0 or 1 (sock_flag).
    for (auto [set, want] :
         {std::pair{linger{1, 5}, linger{1, 5}}, std::pair{linger{1, 0}, linger{1, 0}},
          std::pair{linger{3, 100000}, linger{1, 100000}},
          std::pair{linger{1, INT_MAX}, linger{1, INT_MAX}}}) {
      const std::string n =
          "{" + std::to_string(set.l_onoff) + "," + std::to_string(set.l_linger) + "}";
      t.Check("set " + n, s->SetOpt(SOL_SOCKET, SO_LINGER, &set, sizeof(set)), 0);
      check("after " + n, want);
    }
    const linger l{1, 5};
    t.Check("set short", s->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l) - 1), -EINVAL);
    t.Check("set 4 bytes", s->SetOpt(SOL_SOCKET, SO_LINGER, &l, 4), -EINVAL);
    // A short read gets the first bytes (sk_getsockopt: len = min(len, lv)).
    int onoff = -1;
    socklen_t len = sizeof(onoff);
    t.Check("get 4 bytes", s->GetOpt(SOL_SOCKET, SO_LINGER, &onoff, &len), 0);
    t.Check("get 4 bytes len", len, 4);
    t.Check("get 4 bytes l_onoff", onoff, 1);
  });
}

TEST(TcpOptions, LingerOffKeepsTheTimeAndNegativeMeansForever) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    auto get = [&] {
      linger l{-7, -7};
      socklen_t len = sizeof(l);
      s->GetOpt(SOL_SOCKET, SO_LINGER, &l, &len);
      return l;
    };
    linger l{1, 5};
    t.Check("set {1,5}", s->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    // sk_setsockopt: l_onoff == 0 only clears SOCK_LINGER; sk_lingertime stays.
    l = {0, 7};
    t.Check("set {0,7}", s->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    t.Check("l_onoff", get().l_onoff, 0);
    t.Check("l_linger kept", get().l_linger, 5);
    // A negative l_linger is a huge unsigned time: MAX_SCHEDULE_TIMEOUT, lingering
    // "forever" -- not 0, which would make close() abort with RST.
    l = {1, -1};
    t.Check("set {1,-1}", s->SetOpt(SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    t.Check("l_onoff on", get().l_onoff, 1);
    t.CheckTrue("l_linger not 0", get().l_linger != 0);
  });
}

TEST(TcpOptions, BufferSizesDoubleAndClampAsLinux) {
  RunBoth([](Trace& t) {
    const HostLimits& h = Host();
    auto s = t.w().Client();
    t.Check("SO_RCVBUF default", s->GetInt(SOL_SOCKET, SO_RCVBUF), h.tcp_rmem[1]);
    t.Check("SO_SNDBUF default", s->GetInt(SOL_SOCKET, SO_SNDBUF), h.tcp_wmem[1]);
    for (int v : {0, 1, 1000, 1152, 1153, 2303, 2304, 65536, 106496, h.core_rmem_max,
                  h.core_rmem_max + 1, 1 << 30, INT_MAX, -1, -100, INT_MIN}) {
      const std::string n = std::to_string(v);
      t.Check("SO_RCVBUF set " + n, s->SetInt(SOL_SOCKET, SO_RCVBUF, v), 0);
      t.Check("SO_RCVBUF " + n, s->GetInt(SOL_SOCKET, SO_RCVBUF),
              LinuxBufferSize(v, h.core_rmem_max, kSockMinRcvbuf));
      t.Check("SO_SNDBUF set " + n, s->SetInt(SOL_SOCKET, SO_SNDBUF, v), 0);
      t.Check("SO_SNDBUF " + n, s->GetInt(SOL_SOCKET, SO_SNDBUF),
              LinuxBufferSize(v, h.core_wmem_max, kSockMinSndbuf));
    }
    t.Check("SO_RCVBUF short", s->SetOpt(SOL_SOCKET, SO_RCVBUF, "ab", 2), -EINVAL);
  });
}

TEST(TcpOptions, ForcedBufferSizes) {
  if (geteuid() != 0) GTEST_SKIP() << "SO_RCVBUFFORCE needs CAP_NET_ADMIN on the kernel";
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    for (int v : {0, 4096, 1 << 26, INT_MAX, -1, INT_MIN}) {
      const std::string n = std::to_string(v);
      t.Check("SO_RCVBUFFORCE set " + n, s->SetInt(SOL_SOCKET, SO_RCVBUFFORCE, v), 0);
      t.Check("SO_RCVBUF " + n, s->GetInt(SOL_SOCKET, SO_RCVBUF),
              LinuxForcedBufferSize(v, kSockMinRcvbuf));
      t.Check("SO_SNDBUFFORCE set " + n, s->SetInt(SOL_SOCKET, SO_SNDBUFFORCE, v), 0);
      t.Check("SO_SNDBUF " + n, s->GetInt(SOL_SOCKET, SO_SNDBUF),
              LinuxForcedBufferSize(v, kSockMinSndbuf));
    }
  });
}

TEST(TcpOptions, Timeouts) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    for (int name : {SO_RCVTIMEO, SO_SNDTIMEO}) {
      const std::string n = name == SO_RCVTIMEO ? "SO_RCVTIMEO" : "SO_SNDTIMEO";
      auto get = [&](const std::string& what) {
        timeval tv{-1, -1};
        socklen_t len = sizeof(tv);
        t.Check(n + " get " + what, s->GetOpt(SOL_SOCKET, name, &tv, &len), 0);
        t.Check(n + " len " + what, len, sizeof(tv));
        t.Note(n + " value " + what, std::to_string(tv.tv_sec) + "." + std::to_string(tv.tv_usec));
      };
      auto set = [&](long sec, long usec) {
        const timeval tv{sec, usec};
        return s->SetOpt(SOL_SOCKET, name, &tv, sizeof(tv));
      };
      get("default");
      // Values that are whole jiffies at any HZ (100, 250, 1000) read back exactly.
      t.Check(n + " set 2.5", set(2, 500000), 0);
      get("2.5");
      t.Check(n + " set 0.02", set(0, 20000), 0);
      get("0.02");
      t.Check(n + " set 0 (forever)", set(0, 0), 0);
      get("0");
      t.Check(n + " set 3600", set(3600, 0), 0);
      get("3600");
      // sock_set_timeout: a negative time means "do not wait" (stored as 0, read as 0).
      t.Check(n + " set -5", set(-5, 0), 0);
      get("-5");
      t.Check(n + " usec 1000000", set(1, 1000000), -EDOM);
      t.Check(n + " usec -1", set(1, -1), -EDOM);
      const timeval tv{1, 0};
      t.Check(n + " short", s->SetOpt(SOL_SOCKET, name, &tv, sizeof(tv) - 1), -EINVAL);
      // A short read gets tv_sec only.
      t.Check(n + " set 7", set(7, 0), 0);
      long sec = -1;
      socklen_t len = sizeof(sec);
      t.Check(n + " get 8 bytes", s->GetOpt(SOL_SOCKET, name, &sec, &len), 0);
      t.Check(n + " get 8 bytes len", len, 8);
      t.Check(n + " get 8 bytes tv_sec", sec, 7);
    }
  });
}

TEST(TcpOptions, TimeoutBeyondMaxScheduleTimeoutIsForever) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // sock_set_timeout: tv_sec >= MAX_SCHEDULE_TIMEOUT / HZ - 1 is MAX_SCHEDULE_TIMEOUT,
    // which getsockopt reports as {0, 0}.
    const timeval tv{LONG_MAX / 2, 0};
    t.Check("set", s->SetOpt(SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    timeval out{-1, -1};
    socklen_t len = sizeof(out);
    t.Check("get", s->GetOpt(SOL_SOCKET, SO_RCVTIMEO, &out, &len), 0);
    t.Check("tv_sec", out.tv_sec, 0);
    t.Check("tv_usec", out.tv_usec, 0);
  });
}

TEST(TcpOptions, RcvlowatRangeAndEffect) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(w);
    Sock& s = *c.server;
    t.Check("default", s.GetInt(SOL_SOCKET, SO_RCVLOWAT), 1);
    t.Check("set 0", s.SetInt(SOL_SOCKET, SO_RCVLOWAT, 0), 0);
    t.Check("0 reads as 1", s.GetInt(SOL_SOCKET, SO_RCVLOWAT), 1);
    t.Check("set 20", s.SetInt(SOL_SOCKET, SO_RCVLOWAT, 20), 0);
    t.Check("get 20", s.GetInt(SOL_SOCKET, SO_RCVLOWAT), 20);
    uint8_t buf[64] = {};
    t.Check("client sends 10", c.client->Send(buf, 10), 10);
    t.CheckTrue("arrives", w.Wait([&] { return s.InQ() == 10; }));
    // tcp_poll: readable only at SO_RCVLOWAT bytes ...
    t.Check("not readable below lowat", s.Poll() & POLLIN, 0);
    t.Check("client sends 10 more", c.client->Send(buf, 10), 10);
    t.CheckTrue("readable at lowat", w.Wait([&] { return (s.Poll() & POLLIN) != 0; }));
    // ... but a non-blocking read returns what there is.
    t.Check("set 50", s.SetInt(SOL_SOCKET, SO_RCVLOWAT, 50), 0);
    t.Check("not readable below new lowat", s.Poll() & POLLIN, 0);
    t.Check("recv", s.Recv(buf, sizeof(buf)), 20);
  });
}

TEST(TcpOptions, RcvlowatIsCappedAtHalfTheLargestBuffer) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // tcp_set_rcvlowat: min(val, tcp_rmem[2] / 2) (or sk_rcvbuf / 2 once SO_RCVBUF set);
    // a negative value means INT_MAX first.
    const int cap = Host().tcp_rmem[2] >> 1;
    t.Check("set -1", s->SetInt(SOL_SOCKET, SO_RCVLOWAT, -1), 0);
    t.Check("get", s->GetInt(SOL_SOCKET, SO_RCVLOWAT), cap);
    t.Check("set INT_MAX", s->SetInt(SOL_SOCKET, SO_RCVLOWAT, INT_MAX), 0);
    t.Check("get INT_MAX", s->GetInt(SOL_SOCKET, SO_RCVLOWAT), cap);
    t.Check("SO_RCVBUF 8192", s->SetInt(SOL_SOCKET, SO_RCVBUF, 8192), 0);
    t.Check("set 1000000 with SO_RCVBUF", s->SetInt(SOL_SOCKET, SO_RCVLOWAT, 1000000), 0);
    t.Check("capped at sk_rcvbuf / 2", s->GetInt(SOL_SOCKET, SO_RCVLOWAT), 8192);
  });
}

// ---------------------------------------------------------------------------------------
// IPPROTO_IP

TEST(TcpOptions, IpTtlAndTos) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    t.Check("IP_TTL default", s->GetInt(IPPROTO_IP, IP_TTL), 64);
    for (int v : {0, 256, -2, INT_MAX, INT_MIN}) {
      t.Check("IP_TTL set " + std::to_string(v), s->SetInt(IPPROTO_IP, IP_TTL, v), -EINVAL);
    }
    for (int v : {1, 255, 17}) {
      t.Check("IP_TTL set " + std::to_string(v), s->SetInt(IPPROTO_IP, IP_TTL, v), 0);
      t.Check("IP_TTL get " + std::to_string(v), s->GetInt(IPPROTO_IP, IP_TTL), v);
    }
    t.Check("IP_TTL set -1", s->SetInt(IPPROTO_IP, IP_TTL, -1), 0);
    t.Check("IP_TTL -1 is the default", s->GetInt(IPPROTO_IP, IP_TTL), 64);

    t.Check("IP_TOS default", s->GetInt(IPPROTO_IP, IP_TOS), 0);
    t.Check("IP_TOS set 0x10", s->SetInt(IPPROTO_IP, IP_TOS, 0x10), 0);
    t.Check("IP_TOS get 0x10", s->GetInt(IPPROTO_IP, IP_TOS), 0x10);
    // TCP keeps the ECN bits its own (__ip_sock_set_tos).
    t.Check("IP_TOS set 0xff", s->SetInt(IPPROTO_IP, IP_TOS, 0xff), 0);
    t.Check("IP_TOS get 0xfc", s->GetInt(IPPROTO_IP, IP_TOS), 0xfc);
    t.Check("IP_TOS set 0x103", s->SetInt(IPPROTO_IP, IP_TOS, 0x103), 0);
    t.Check("IP_TOS get 0x103", s->GetInt(IPPROTO_IP, IP_TOS), 0);
    const uint8_t one = 0x28;
    t.Check("IP_TOS set one byte", s->SetOpt(IPPROTO_IP, IP_TOS, &one, 1), 0);
    t.Check("IP_TOS get one byte", s->GetInt(IPPROTO_IP, IP_TOS), 0x28);
  });
}

TEST(TcpOptions, IpOptionsTakeOneByteValues) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // do_ip_setsockopt reads an int, or a single byte when optlen < sizeof(int).
    const uint8_t ttl[2] = {7, 0};
    t.Check("IP_TTL one byte", s->SetOpt(IPPROTO_IP, IP_TTL, ttl, 1), 0);
    t.Check("IP_TTL is 7", s->GetInt(IPPROTO_IP, IP_TTL), 7);
    t.Check("IP_TTL two bytes", s->SetOpt(IPPROTO_IP, IP_TTL, ttl, 2), 0);
    t.Check("IP_TTL empty", s->SetOpt(IPPROTO_IP, IP_TTL, ttl, 0), -EINVAL);
    // IP_TOS with no bytes sets 0 (val defaults to 0, no length check).
    t.Check("IP_TOS set 0x10", s->SetInt(IPPROTO_IP, IP_TOS, 0x10), 0);
    t.Check("IP_TOS empty", s->SetOpt(IPPROTO_IP, IP_TOS, ttl, 0), 0);
    t.Check("IP_TOS after empty", s->GetInt(IPPROTO_IP, IP_TOS), 0);
    // do_ip_getsockopt: a buffer shorter than an int gets one byte for values 0..255.
    uint8_t out[4] = {0xee, 0xee, 0xee, 0xee};
    socklen_t len = 2;
    t.Check("IP_TTL get 2 bytes", s->GetOpt(IPPROTO_IP, IP_TTL, out, &len), 0);
    t.Check("IP_TTL get 2 bytes len", len, 1);
    t.Check("IP_TTL get 2 bytes value", out[0], 7);
    // An unknown IP option with a short value is still unknown.
    t.Check("unknown IP option, one byte", s->SetOpt(IPPROTO_IP, 99, ttl, 1), -ENOPROTOOPT);
  });
}

// ---------------------------------------------------------------------------------------
// IPPROTO_TCP

TEST(TcpOptions, MaxsegRange) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    t.Check("default (TCP_MSS_DEFAULT)", s->GetInt(IPPROTO_TCP, TCP_MAXSEG), 536);
    // do_tcp_setsockopt: 0, or TCP_MIN_MSS (88) .. MAX_TCP_WINDOW (32767).
    for (int v : {87, 65536, -1, 1, INT_MAX}) {
      t.Check("set " + std::to_string(v), s->SetInt(IPPROTO_TCP, TCP_MAXSEG, v), -EINVAL);
    }
    for (int v : {88, 1000, 32767}) {
      t.Check("set " + std::to_string(v), s->SetInt(IPPROTO_TCP, TCP_MAXSEG, v), 0);
      t.Check("get " + std::to_string(v), s->GetInt(IPPROTO_TCP, TCP_MAXSEG), v);
    }
    t.Check("set 0 (reset)", s->SetInt(IPPROTO_TCP, TCP_MAXSEG, 0), 0);
    t.Check("get after reset", s->GetInt(IPPROTO_TCP, TCP_MAXSEG), 536);
    t.Check("short", s->SetOpt(IPPROTO_TCP, TCP_MAXSEG, "ab", 2), -EINVAL);
    // A listener reports what the user set too (do_tcp_getsockopt: CLOSE or LISTEN).
    t.Check("set 700", s->SetInt(IPPROTO_TCP, TCP_MAXSEG, 700), 0);
    t.Check("listen", s->Listen(1), 0);
    t.Check("get on listener", s->GetInt(IPPROTO_TCP, TCP_MAXSEG), 700);
  });
}

TEST(TcpOptions, MaxsegAboveMaxTcpWindowIsEinval) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // MAX_TCP_WINDOW is 32767U (include/net/tcp.h), not 65535.
    for (int v : {32768, 40000, 65535}) {
      t.Check("set " + std::to_string(v), s->SetInt(IPPROTO_TCP, TCP_MAXSEG, v), -EINVAL);
    }
    t.Check("get", s->GetInt(IPPROTO_TCP, TCP_MAXSEG), 536);
  });
}

TEST(TcpOptions, MaxsegClampsTheConnectionsMss) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(
        w, [&](Sock& s) { t.Check("TCP_MAXSEG 500", s.SetInt(IPPROTO_TCP, TCP_MAXSEG, 500), 0); });
    // Both ends: 500 less the 12 bytes of timestamps every segment carries.
    t.Check("client TCP_MAXSEG", c.client->GetInt(IPPROTO_TCP, TCP_MAXSEG), 488);
    t.Check("server TCP_MAXSEG", c.server->GetInt(IPPROTO_TCP, TCP_MAXSEG), 488);
    t.Check("client tcpi_snd_mss", c.client->Info().tcpi_snd_mss, 488);
    t.Check("server tcpi_snd_mss", c.server->Info().tcpi_snd_mss, 488);
    Transfer(w, *c.client, *c.server, 5000);
    Transfer(w, *c.server, *c.client, 5000);
    t.Check("server tcpi_rcv_mss", c.server->Info().tcpi_rcv_mss, 488);
    t.Check("client tcpi_rcv_mss", c.client->Info().tcpi_rcv_mss, 488);
  });
}

TEST(TcpOptions, MaxsegOnAnEstablishedConnectionChangesNothing) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(w, [&](Sock& s) { s.SetInt(IPPROTO_TCP, TCP_MAXSEG, 1000); });
    // Linux only records user_mss; the MSS was settled by the handshake (tcp_connect_init
    // and the SYN's MSS option) and tcp_current_mss does not look at user_mss again.
    t.Check("set 300", c.client->SetInt(IPPROTO_TCP, TCP_MAXSEG, 300), 0);
    t.Check("TCP_MAXSEG", c.client->GetInt(IPPROTO_TCP, TCP_MAXSEG), 988);
    Transfer(w, *c.client, *c.server, 5000);
    t.Check("tcpi_snd_mss", c.client->Info().tcpi_snd_mss, 988);
    t.Check("server tcpi_rcv_mss", c.server->Info().tcpi_rcv_mss, 988);
  });
}

TEST(TcpOptions, KeepaliveRanges) {
  RunBoth([](Trace& t) {
    const HostLimits& h = Host();
    auto s = t.w().Client();
    t.Check("TCP_KEEPIDLE default", s->GetInt(IPPROTO_TCP, TCP_KEEPIDLE), h.keepalive_time);
    t.Check("TCP_KEEPINTVL default", s->GetInt(IPPROTO_TCP, TCP_KEEPINTVL), h.keepalive_intvl);
    t.Check("TCP_KEEPCNT default", s->GetInt(IPPROTO_TCP, TCP_KEEPCNT), h.keepalive_probes);
    t.Check("TCP_SYNCNT default", s->GetInt(IPPROTO_TCP, TCP_SYNCNT), h.syn_retries);
    struct Range {
      int name;
      const char* label;
      int max;
    };
    for (const Range& r :
         {Range{TCP_KEEPIDLE, "TCP_KEEPIDLE", 32767}, Range{TCP_KEEPINTVL, "TCP_KEEPINTVL", 32767},
          Range{TCP_KEEPCNT, "TCP_KEEPCNT", 127}, Range{TCP_SYNCNT, "TCP_SYNCNT", 127}}) {
      const std::string n = r.label;
      for (int v : {0, -1, r.max + 1, INT_MIN}) {
        t.Check(n + " set " + std::to_string(v), s->SetInt(IPPROTO_TCP, r.name, v), -EINVAL);
      }
      for (int v : {1, r.max, 5}) {
        t.Check(n + " set " + std::to_string(v), s->SetInt(IPPROTO_TCP, r.name, v), 0);
        t.Check(n + " get " + std::to_string(v), s->GetInt(IPPROTO_TCP, r.name), v);
      }
      t.Check(n + " short", s->SetOpt(IPPROTO_TCP, r.name, "ab", 2), -EINVAL);
    }
    t.Check("TCP_USER_TIMEOUT default", s->GetInt(IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
    t.Check("TCP_USER_TIMEOUT -1", s->SetInt(IPPROTO_TCP, TCP_USER_TIMEOUT, -1), -EINVAL);
    t.Check("TCP_USER_TIMEOUT 5000", s->SetInt(IPPROTO_TCP, TCP_USER_TIMEOUT, 5000), 0);
    t.Check("TCP_USER_TIMEOUT get", s->GetInt(IPPROTO_TCP, TCP_USER_TIMEOUT), 5000);
  });
}

TEST(TcpOptions, Quickack) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    t.Check("set 0", s->SetInt(IPPROTO_TCP, TCP_QUICKACK, 0), 0);
    t.Check("get after 0 (pingpong)", s->GetInt(IPPROTO_TCP, TCP_QUICKACK), 0);
    t.Check("set 5", s->SetInt(IPPROTO_TCP, TCP_QUICKACK, 5), 0);
    t.Check("get after 5", s->GetInt(IPPROTO_TCP, TCP_QUICKACK), 1);
    t.Check("short", s->SetOpt(IPPROTO_TCP, TCP_QUICKACK, "a", 1), -EINVAL);
  });
}

TEST(TcpOptions, QuickackReadsOneOnAFreshSocket) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // do_tcp_getsockopt: !inet_csk_in_pingpong_mode(sk); a new socket is not in pingpong.
    t.Check("fresh", s->GetInt(IPPROTO_TCP, TCP_QUICKACK), 1);
    auto c = Connect(t.w());
    t.Check("established", c.server->GetInt(IPPROTO_TCP, TCP_QUICKACK), 1);
  });
}

TEST(TcpOptions, QuickackReadsZeroAfterThePeersFin) {
  RunBoth([](Trace& t) {
    auto c = Connect(t.w());
    t.Check("client shutdown", c.client->Shutdown(SHUT_WR), 0);
    t.CheckTrue("FIN in", t.w().Wait([&] { return (c.server->Poll() & POLLRDHUP) != 0; }));
    // tcp_fin: CLOSE-WAIT enters pingpong mode, delaying the FIN's ACK for ours to carry.
    t.Check("close-wait", c.server->GetInt(IPPROTO_TCP, TCP_QUICKACK), 0);
  });
}

TEST(TcpOptions, CongestionControl) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto s = w.Client();
    auto get = [&](socklen_t buflen, socklen_t* len) {
      char name[64];
      std::memset(name, 'x', sizeof(name));
      *len = buflen;
      const int r = s->GetOpt(IPPROTO_TCP, TCP_CONGESTION, name, len);
      EXPECT_EQ(r, 0);
      return std::string(name, strnlen(name, std::min<size_t>(*len, sizeof(name))));
    };
    socklen_t len = 0;
    t.CheckTrue("default is net.ipv4.tcp_congestion_control",
                get(16, &len) == w.DefaultCongestion());
    t.Check("len 16", len, 16);
    t.Check("set reno", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "reno", 5), 0);
    t.Note("get", get(16, &len));
    // TCP_CA_NAME_MAX bytes at most, NULs included.
    t.Note("get 64", get(64, &len));
    t.Check("len 64 -> 16", len, 16);
    t.Note("get 3", get(3, &len));
    t.Check("len 3", len, 3);
    t.Check("set cubic without NUL", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), 0);
    t.Note("get cubic", get(16, &len));
    t.Check("set unknown", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "nope", 5), -ENOENT);
    t.Check("set Reno", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "Reno", 5), -ENOENT);
    t.Note("unchanged", get(16, &len));
    t.Check("set reno, NUL then junk", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "reno\0xyz", 8), 0);
    t.Note("get reno", get(16, &len));
    // On an established connection too.
    auto c = Connect(w);
    t.Check("set reno established", c.client->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
    Transfer(w, *c.client, *c.server, 100000);
    socklen_t n = 16;
    char name[16] = {};
    t.Check("get established", c.client->GetOpt(IPPROTO_TCP, TCP_CONGESTION, name, &n), 0);
    t.Note("name established", name);
  });
}

TEST(TcpOptions, CongestionControlEmptyNameIsEinval) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    // do_tcp_setsockopt: optlen < 1 -> EINVAL, before any lookup.
    t.Check("empty", s->SetOpt(IPPROTO_TCP, TCP_CONGESTION, "", 0), -EINVAL);
  });
}

TEST(TcpOptions, TcpInfoAfterATransfer) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    {
      auto fresh = w.Client();
      t.Check("fresh tcpi_state (TCP_CLOSE)", fresh->Info().tcpi_state, 7);
      t.Check("listen", fresh->Listen(1), 0);
      t.Check("listener tcpi_state (TCP_LISTEN)", fresh->Info().tcpi_state, 10);
    }
    auto c = Connect(w, [&](Sock& s) { s.SetInt(IPPROTO_TCP, TCP_MAXSEG, 1000); });
    Transfer(w, *c.client, *c.server, 30000);
    Transfer(w, *c.server, *c.client, 100);
    t.CheckTrue("client acked", w.Wait([&] { return c.client->Info().tcpi_unacked == 0; }));
    t.CheckTrue("server acked", w.Wait([&] { return c.server->Info().tcpi_unacked == 0; }));
    const tcp_info ci = c.client->Info();
    const tcp_info si = c.server->Info();
    t.Check("state", ci.tcpi_state, 1);
    t.Check("server state", si.tcpi_state, 1);
    t.Check("ca_state", ci.tcpi_ca_state, 0);
    t.Check("options", ci.tcpi_options, TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
    t.Check("retransmits", ci.tcpi_retransmits, 0);
    t.Check("total_retrans", ci.tcpi_total_retrans, 0);
    t.Check("snd_mss", ci.tcpi_snd_mss, 988);
    t.Check("server rcv_mss", si.tcpi_rcv_mss, 988);
    t.Check("server snd_mss", si.tcpi_snd_mss, 988);
    // tcp_initialize_rcv_mss: min(advmss, mss_cache, rcv_wnd / 2, 536), and 100-byte
    // segments never raise it.
    t.Check("client rcv_mss", ci.tcpi_rcv_mss, 536);
    t.CheckTrue("rto at least 200 ms and at most 1 s",
                ci.tcpi_rto >= 200000 && ci.tcpi_rto <= 1000000);
    t.CheckTrue("rtt measured, below rto", ci.tcpi_rtt > 0 && ci.tcpi_rtt < ci.tcpi_rto);
    t.CheckTrue("cwnd at least the initial 10", ci.tcpi_snd_cwnd >= 10);
    t.CheckTrue("no loss: ssthresh untouched", ci.tcpi_snd_ssthresh >= 0x7fff);
    t.Check("unacked", ci.tcpi_unacked, 0);
    t.Check("server bytes_acked", si.tcpi_bytes_acked, 100);
    t.Check("server bytes_received", si.tcpi_bytes_received, 30000);
    t.Check("client bytes_received", ci.tcpi_bytes_received, 100);
    t.CheckTrue("client bytes_acked covers the data", ci.tcpi_bytes_acked >= 30000);
    t.CheckTrue("segs_out counts the data", ci.tcpi_segs_out >= 30000 / 988);
    t.CheckTrue("server segs_in counts the data", si.tcpi_segs_in >= 30000 / 988);
    t.Check("notsent_bytes", ci.tcpi_notsent_bytes, 0);
    // A short buffer gets the first bytes.
    uint8_t head[8];
    socklen_t len = sizeof(head);
    t.Check("short TCP_INFO", c.client->GetOpt(IPPROTO_TCP, TCP_INFO, head, &len), 0);
    t.Check("short TCP_INFO len", len, 8);
    t.Check("short TCP_INFO state", head[0], 1);
  });
}

TEST(TcpOptions, TcpInfoCountsSynAndFinAsLinuxDoes) {
  RunBoth([](Trace& t) {
    World& w = t.w();
    auto c = Connect(w);
    // tcp_snd_una_update / tcp_rcv_nxt_update count sequence space: the active opener's
    // SYN is acknowledged by the SYN-ACK (tcp_ack on it), and a FIN counts as a byte.
    t.CheckTrue("client SYN acked", w.Wait([&] { return c.client->Info().tcpi_bytes_acked == 1; }));
    t.Check("server bytes_acked", c.server->Info().tcpi_bytes_acked, 0);
    Transfer(w, *c.client, *c.server, 1000);
    t.CheckTrue("client 1000 + SYN",
                w.Wait([&] { return c.client->Info().tcpi_bytes_acked == 1001; }));
    t.Check("client shutdown", c.client->Shutdown(SHUT_WR), 0);
    t.CheckTrue("FIN acked", w.Wait([&] { return c.client->Info().tcpi_bytes_acked == 1002; }));
    t.Check("server bytes_received with FIN", c.server->Info().tcpi_bytes_received, 1001);
    // tcpi_advmss: the advertised MSS (MTU - 40) less the timestamp option once it is in
    // use (tcp_rcv_synsent_state_process: advmss -= TCPOLEN_TSTAMP_ALIGNED).
    // (ipv4_default_advmss caps the MTU at IPV4_MAX_PMTU, 65535.)
    const uint32_t mtu = w.kernel() ? std::min<uint32_t>(LoopbackMtu(), 65535) : 1500;
    t.CheckTrue("advmss is MTU - 40 - 12", c.client->Info().tcpi_advmss == mtu - 52);
  });
}

// ---------------------------------------------------------------------------------------
// Unknown options and short values

TEST(TcpOptions, UnknownOptionsAreEnoprotoopt) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    int v = 1;
    socklen_t len = sizeof(v);
    t.Check("SOL_SOCKET set", s->SetInt(SOL_SOCKET, 9999, 1), -ENOPROTOOPT);
    t.Check("SOL_SOCKET get", s->GetOpt(SOL_SOCKET, 9999, &v, &len), -ENOPROTOOPT);
    t.Check("IPPROTO_IP set", s->SetInt(IPPROTO_IP, 99, 1), -ENOPROTOOPT);
    // (An unknown IP getsockopt goes on to netfilter on Linux, which answers as it is
    // configured: only "an error" is certain.)
    len = sizeof(v);
    t.Check("IPPROTO_IP get fails", s->GetOpt(IPPROTO_IP, 99, &v, &len) < 0, 1);
    len = sizeof(v);
    t.Check("IPPROTO_TCP set", s->SetInt(IPPROTO_TCP, 99, 1), -ENOPROTOOPT);
    t.Check("IPPROTO_TCP get", s->GetOpt(IPPROTO_TCP, 99, &v, &len), -ENOPROTOOPT);
    // tcp_setsockopt hands other levels to ip_setsockopt: not SOL_IP -> ENOPROTOOPT.
    t.Check("level 12345 set", s->SetInt(12345, 1, 1), -ENOPROTOOPT);
    t.Check("IPPROTO_UDP level set", s->SetInt(IPPROTO_UDP, 1, 1), -ENOPROTOOPT);
  });
}

TEST(TcpOptions, UnknownLevelGetIsEopnotsupp) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    int v = 1;
    socklen_t len = sizeof(v);
    // do_ip_getsockopt: level != SOL_IP -> EOPNOTSUPP (setsockopt says ENOPROTOOPT).
    t.Check("level 12345 get", s->GetOpt(12345, 1, &v, &len), -EOPNOTSUPP);
  });
}

TEST(TcpOptions, ShortValuesAreEinval) {
  RunBoth([](Trace& t) {
    auto s = t.w().Client();
    const int v = 1;
    // sk_setsockopt: optlen < sizeof(int) -> EINVAL before the name is looked at.
    t.Check("SO_KEEPALIVE 2 bytes", s->SetOpt(SOL_SOCKET, SO_KEEPALIVE, &v, 2), -EINVAL);
    t.Check("SO_REUSEADDR 0 bytes", s->SetOpt(SOL_SOCKET, SO_REUSEADDR, &v, 0), -EINVAL);
    t.Check("unknown SOL_SOCKET 2 bytes", s->SetOpt(SOL_SOCKET, 9999, &v, 2), -EINVAL);
    // do_tcp_setsockopt: the same for int options, unknown ones included.
    t.Check("TCP_NODELAY 2 bytes", s->SetOpt(IPPROTO_TCP, TCP_NODELAY, &v, 2), -EINVAL);
    t.Check("unknown TCP 2 bytes", s->SetOpt(IPPROTO_TCP, 99, &v, 2), -EINVAL);
    // getsockopt truncates silently, to 0 bytes too; a negative length is EINVAL.
    t.Check("SO_KEEPALIVE set", s->SetInt(SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    for (int level_name : {0, 1}) {
      const int level = level_name == 0 ? SOL_SOCKET : IPPROTO_TCP;
      const int name = level_name == 0 ? SO_KEEPALIVE : TCP_KEEPCNT;
      const std::string n = level_name == 0 ? "SO_KEEPALIVE" : "TCP_KEEPCNT";
      uint8_t out[4] = {0xee, 0xee, 0xee, 0xee};
      socklen_t len = 2;
      t.Check(n + " get 2", s->GetOpt(level, name, out, &len), 0);
      t.Check(n + " get 2 len", len, 2);
      t.Check(n + " get 2 byte 2 untouched", out[2], 0xee);
      len = 0;
      t.Check(n + " get 0", s->GetOpt(level, name, out, &len), 0);
      t.Check(n + " get 0 len", len, 0);
      len = static_cast<socklen_t>(-1);
      t.Check(n + " get -1", s->GetOpt(level, name, out, &len), -EINVAL);
    }
  });
}

// ---------------------------------------------------------------------------------------
// On the wire: one stack, crafted peer segments, emitted fields checked.

class TcpOptionsWire : public StackTest {
 protected:
  static constexpr uint16_t kPeerPort = 40000;

  // A TCP segment from the peer (198.18.0.1) to the stack, in an Ethernet frame.
  Bytes Segment(uint16_t src_port, uint16_t dst_port, uint32_t seq, uint32_t ack, uint8_t flags,
                const TcpOptions& options, size_t payload_len = 0) {
    const size_t opt_len = options.WrittenSize();
    Bytes seg(kTcpMinHeaderSize + opt_len + payload_len, 0);
    TcpHeader h;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.seq = seq;
    h.ack = ack;
    h.flags = flags;
    h.window = 65535;
    h.header_length = static_cast<uint8_t>(kTcpMinHeaderSize + opt_len);
    h.Write(seg);
    options.Write({seg.data() + kTcpMinHeaderSize, opt_len});
    const size_t hl = kTcpMinHeaderSize + opt_len;
    Store16(seg.data() + 16,
            TcpChecksum(kPeerIp, kStackIp, {seg.data(), hl}, {seg.data() + hl, payload_len}));
    Ipv4Spec ip;
    ip.protocol = static_cast<uint8_t>(IpProtocol::kTcp);
    return EthernetFrame(kStackMac, kPeerMac, EtherType::kIpv4, Ipv4Packet(ip, seg));
  }

  struct Out {
    Ipv4Header ip;
    TcpHeader tcp;
    TcpOptions options;
    size_t payload = 0;
  };
  std::vector<Out> TakeTcp() {
    std::vector<Out> out;
    for (const Sent& s : TakeSent()) {
      if (!s.ip || s.ip->protocol != static_cast<uint8_t>(IpProtocol::kTcp)) continue;
      Out o;
      o.ip = *s.ip;
      EXPECT_EQ(TcpHeader::Parse(s.ip_payload, &o.tcp), TcpParseError::kOk);
      o.options = TcpOptions::Parse(o.tcp.Options(s.ip_payload), o.tcp.syn());
      o.payload = s.ip_payload.size() - o.tcp.header_length;
      out.push_back(o);
    }
    return out;
  }

  std::shared_ptr<Socket> NewSocket() {
    int err = 0;
    auto s = stack_->CreateSocket(SOCK_STREAM, 0, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  static int SetInt(Socket& s, int level, int name, int v) {
    return s.SetSockOpt(level, name, {reinterpret_cast<const uint8_t*>(&v), sizeof(v)});
  }
};

TEST_F(TcpOptionsWire, MaxsegIsAnnouncedAndLimitsDataSegments) {
  LearnPeer();
  auto listener = NewSocket();
  ASSERT_EQ(listener->Bind({Ipv4Address::Any(), 80}), 0);
  ASSERT_EQ(SetInt(*listener, IPPROTO_TCP, TCP_MAXSEG, 500), 0);
  ASSERT_EQ(listener->Listen(4), 0);
  TcpOptions syn;
  syn.mss = 1460;
  syn.sack_permitted = true;
  syn.timestamps = TcpTimestamps{1000, 0};
  syn.window_scale = 7;
  Inject(Segment(kPeerPort, 80, 5000, 0, kTcpSyn, syn));
  Run();
  auto out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].tcp.flags, kTcpSyn | kTcpAck);
  // The child inherits TCP_MAXSEG: its SYN-ACK announces 500 (Linux tcp_mss_clamp).
  ASSERT_TRUE(out[0].options.mss);
  EXPECT_EQ(*out[0].options.mss, 500);
  ASSERT_TRUE(out[0].options.timestamps);
  const uint32_t iss = out[0].tcp.seq;
  TcpOptions ack;
  ack.timestamps = TcpTimestamps{1001, out[0].options.timestamps->value};
  Inject(Segment(kPeerPort, 80, 5001, iss + 1, kTcpAck, ack));
  Run();
  int err = 0;
  SocketAddress peer;
  auto child = listener->Accept(&peer, &err);
  ASSERT_TRUE(child) << err;
  EXPECT_EQ(SetInt(*child, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  std::vector<uint8_t> data(2000, 0x42);
  ASSERT_EQ(SendBytes(*child, data.data(), data.size()), 2000);
  Run();
  out = TakeTcp();
  // 500 less 12 bytes of timestamps per segment: 488, 488, 488, 488, 48.
  ASSERT_EQ(out.size(), 5u);
  size_t total = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].payload, i < 4 ? 488u : 48u) << "segment " << i;
    EXPECT_EQ(out[i].tcp.seq, iss + 1 + 488 * i);
    EXPECT_TRUE(out[i].options.timestamps);
    total += out[i].payload;
  }
  EXPECT_EQ(total, 2000u);
  child->Close();
  listener->Close();
}

// Nagle, TCP_NODELAY and TCP_CORK as the peer sees them (Linux tcp_nagle_test /
// tcp_nagle_check): a connection without options, MSS 1460, so payload sizes are exact.
TEST_F(TcpOptionsWire, NagleNodelayAndCork) {
  LearnPeer();
  auto listener = NewSocket();
  ASSERT_EQ(listener->Bind({Ipv4Address::Any(), 80}), 0);
  ASSERT_EQ(listener->Listen(4), 0);
  TcpOptions syn;
  syn.mss = 1460;
  Inject(Segment(kPeerPort, 80, 7000, 0, kTcpSyn, syn));
  Run();
  auto out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  const uint32_t iss = out[0].tcp.seq;
  uint32_t next = iss + 1;
  Inject(Segment(kPeerPort, 80, 7001, next, kTcpAck, {}));
  Run();
  int err = 0;
  SocketAddress peer;
  auto child = listener->Accept(&peer, &err);
  ASSERT_TRUE(child) << err;
  std::vector<uint8_t> data(4000, 0x42);
  auto send = [&](size_t n) { ASSERT_EQ(SendBytes(*child, data.data(), n), ssize_t(n)); };
  auto ack = [&](uint32_t a) {
    Inject(Segment(kPeerPort, 80, 7001, a, kTcpAck, {}));
    Run();
  };

  // Nagle: a small segment goes out when nothing is in flight ...
  send(10);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 10u);
  next += 10;
  // ... the next small one waits for its ACK, and then leaves with what joined it.
  send(10);
  send(5);
  Run();
  EXPECT_TRUE(TakeTcp().empty());
  ack(next);
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 15u);
  next += 15;
  ack(next);
  // A full segment never waits for Nagle.
  send(10);
  Run();
  ASSERT_EQ(TakeTcp().size(), 1u);
  next += 10;
  send(1460);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 1460u);
  next += 1460;
  ack(next);

  // TCP_NODELAY: small segments go at once, one after the other.
  ASSERT_EQ(SetInt(*child, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  send(7);
  send(8);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, 7u);
  EXPECT_EQ(out[1].payload, 8u);
  next += 15;
  ack(next);

  // TCP_CORK (it wins over TCP_NODELAY): only full segments leave; uncorking sends the rest.
  ASSERT_EQ(SetInt(*child, IPPROTO_TCP, TCP_CORK, 1), 0);
  send(100);
  Run();
  EXPECT_TRUE(TakeTcp().empty());
  send(2000);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 1460u);
  EXPECT_EQ(out[0].tcp.seq, next);
  ASSERT_EQ(SetInt(*child, IPPROTO_TCP, TCP_CORK, 0), 0);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 640u);
  EXPECT_EQ(out[0].tcp.seq, next + 1460);
  child->Close();
  listener->Close();
}

TEST_F(TcpOptionsWire, TtlAndTosGoOnEverySegment) {
  LearnPeer();
  auto s = NewSocket();
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, 17), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TOS, 0x28), 0);
  ASSERT_EQ(s->Connect({kPeerIp, 80}), -EINPROGRESS);
  Run();
  auto out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tcp.flags, kTcpSyn);
  EXPECT_EQ(out[0].ip.ttl, 17);
  EXPECT_EQ(out[0].ip.tos, 0x28);
  const uint16_t port = out[0].tcp.src_port;
  const uint32_t iss = out[0].tcp.seq;
  // The SYN-ACK: the stack answers with an ACK carrying the same TTL and TOS.
  TcpOptions synack;
  synack.mss = 1460;
  Inject(Segment(80, port, 9000, iss + 1, kTcpSyn | kTcpAck, synack));
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tcp.flags, kTcpAck);
  EXPECT_EQ(out[0].ip.ttl, 17);
  EXPECT_EQ(out[0].ip.tos, 0x28);
  // IP_TTL -1 goes back to the default (64) for the next segment; TOS changes apply too.
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TTL, -1), 0);
  ASSERT_EQ(SetInt(*s, IPPROTO_IP, IP_TOS, 0x10), 0);
  uint8_t byte = 1;
  ASSERT_EQ(SendBytes(*s, &byte, 1), 1);
  Run();
  out = TakeTcp();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, 1u);
  EXPECT_EQ(out[0].ip.ttl, 64);
  EXPECT_EQ(out[0].ip.tos, 0x10);
  s->Close();
}

}  // namespace
}  // namespace netshim::testing
