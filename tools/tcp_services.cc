#include "tools/tcp_services.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "fmt/format.h"
#include "stack/runtime/log.h"

namespace netshim {
namespace {

// Operations one handler run may do before the other sockets get the thread.
constexpr int kBudget = 16;
// Printable ASCII, 32 (' ') to 126 ('~'): RFC 864's 95 characters.
constexpr int kPrintable = 95;

ssize_t Recv(Socket& socket, uint8_t* data, size_t size) {
  iovec iov{data, size};
  MessageInfo info;
  return socket.RecvMsg({&iov, 1}, info, MSG_DONTWAIT);
}

ssize_t Send(Socket& socket, const uint8_t* data, size_t size) {
  iovec iov{const_cast<uint8_t*>(data), size};
  MessageInfo info;
  // MSG_NOSIGNAL as a server must: a peer gone away is -EPIPE here, not a signal.
  return socket.SendMsg({&iov, 1}, info, MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::string_view GroupName(TcpServiceKind kind) {
  switch (kind) {
    case TcpServiceKind::kEcho:
      return "TcpEcho";
    case TcpServiceKind::kDiscard:
      return "TcpDiscard";
    case TcpServiceKind::kChargen:
      return "TcpChargen";
  }
  return "Tcp?";
}

}  // namespace

std::string_view TcpServiceName(TcpServiceKind kind) {
  switch (kind) {
    case TcpServiceKind::kEcho:
      return "echo";
    case TcpServiceKind::kDiscard:
      return "discard";
    case TcpServiceKind::kChargen:
      return "chargen";
  }
  return "?";
}

ChargenPattern::ChargenPattern(size_t window) : window_(window), bytes_(kPeriod + window) {
  for (size_t i = 0; i < bytes_.size(); ++i) {
    const size_t at = i % kPeriod;
    const size_t line = at / kLineBytes;
    const size_t column = at % kLineBytes;
    if (column == kLineChars) {
      bytes_[i] = '\r';
    } else if (column == kLineChars + 1) {
      bytes_[i] = '\n';
    } else {
      bytes_[i] = static_cast<uint8_t>(' ' + (line + column) % kPrintable);
    }
  }
}

std::string ChargenPattern::Line(uint64_t n) {
  std::string line;
  line.reserve(kLineBytes);
  for (size_t column = 0; column < kLineChars; ++column) {
    line.push_back(static_cast<char>(' ' + (n + column) % kPrintable));
  }
  line += "\r\n";
  return line;
}

// One listening port and what its connections share. Loop thread only, except the
// counters (atomic), which the host reads at the end.
struct TcpServices::Service {
  TcpServiceKind kind;
  uint16_t port;
  EventLoop* loop;
  uint8_t* scratch;  // the loop's one receive buffer, kIoSize bytes
  const ChargenPattern* pattern;
  TcpServiceStats stats;
  EventLoop::Id listener = 0;
  size_t active = 0;
  bool accept_paused = false;

  // An operation failed for good: the connection ends (the loop closes it).
  void CountFailure(ssize_t r, std::string_view what) {
    // A peer's RST surfaces as -ECONNRESET once, then as -EPIPE on send (Linux does both).
    if (r == -ECONNRESET || r == -EPIPE) {
      stats.Resets.Inc();
    } else {
      stats.Errors.Inc();
    }
    NETSHIM_LOG(kDebug, "tcp {} :{}: {}: {}", TcpServiceName(kind), port, what,
                std::strerror(static_cast<int>(-r)));
  }

  void ConnectionDone() {
    stats.Closed.Inc();
    --active;
    if (accept_paused) {
      accept_paused = false;
      loop->Schedule(listener);
    }
  }
};

namespace {

using Service = TcpServices::Service;

// A connection of one service; its subclasses are the protocols.
class Connection : public EventLoop::Handler {
 public:
  explicit Connection(Service& service) : service_(service) {}

 protected:
  std::optional<uint32_t> Finish() {
    service_.ConnectionDone();
    return std::nullopt;
  }
  std::optional<uint32_t> Fail(ssize_t r, std::string_view what) {
    service_.CountFailure(r, what);
    return Finish();
  }
  std::optional<uint32_t> PeerClosed() {
    service_.stats.PeerCloses.Inc();
    return Finish();
  }
  void Received(ssize_t n) { service_.stats.InBytes.Add(static_cast<uint64_t>(n)); }
  void Sent(ssize_t n) { service_.stats.OutBytes.Add(static_cast<uint64_t>(n)); }

  Service& service_;
};

// RFC 862: everything received goes back. What the send buffer cannot take now is kept, and
// the connection is not read again until it has gone out (backpressure reaches the peer
// through our receive window). After the peer's FIN the rest is sent, then our FIN.
class EchoConnection final : public Connection {
 public:
  using Connection::Connection;

  std::optional<uint32_t> OnReady(Socket& socket) override {
    for (int i = 0; i < kBudget; ++i) {
      if (pending_size_ > 0) {
        const ssize_t r = Send(socket, pending_.get() + pending_at_, pending_size_);
        if (r == -EAGAIN) return POLLOUT;
        if (r < 0) return Fail(r, "send");
        Sent(r);
        pending_at_ += static_cast<size_t>(r);
        pending_size_ -= static_cast<size_t>(r);
        if (pending_size_ > 0) return POLLOUT;  // a short send: the buffer is full
        continue;
      }
      if (peer_closed_) {
        // All echoed: close our half, then the socket (the loop closes it).
        socket.Shutdown(SHUT_WR);
        return Finish();
      }
      uint8_t* data = service_.scratch;
      const ssize_t n = Recv(socket, data, TcpServices::kIoSize);
      if (n == -EAGAIN) return POLLIN;
      if (n < 0) return Fail(n, "recv");
      if (n == 0) {
        service_.stats.PeerCloses.Inc();
        peer_closed_ = true;
        continue;
      }
      Received(n);
      ssize_t r = Send(socket, data, static_cast<size_t>(n));
      if (r == -EAGAIN) r = 0;
      if (r < 0) return Fail(r, "send");
      Sent(r);
      if (r < n) Keep(data + r, static_cast<size_t>(n - r));
    }
    return pending_size_ > 0 ? POLLOUT : POLLIN;
  }

 private:
  void Keep(const uint8_t* data, size_t size) {
    // At most one receive's worth is ever pending (nothing is read while some is).
    if (!pending_) pending_ = std::make_unique<uint8_t[]>(TcpServices::kIoSize);
    std::memcpy(pending_.get(), data, size);
    pending_at_ = 0;
    pending_size_ = size;
  }

  std::unique_ptr<uint8_t[]> pending_;
  size_t pending_at_ = 0;
  size_t pending_size_ = 0;
  bool peer_closed_ = false;
};

// RFC 863: read and drop; close when the peer has finished sending.
class DiscardConnection final : public Connection {
 public:
  using Connection::Connection;

  std::optional<uint32_t> OnReady(Socket& socket) override {
    for (int i = 0; i < kBudget; ++i) {
      const ssize_t n = Recv(socket, service_.scratch, TcpServices::kIoSize);
      if (n == -EAGAIN) return POLLIN;
      if (n < 0) return Fail(n, "recv");
      if (n == 0) return PeerClosed();  // all read: close(2) sends FIN, not RST
      Received(n);
    }
    return POLLIN;
  }
};

// RFC 864: the pattern as fast as the peer takes it, input read and dropped, until the peer
// closes (FIN) or resets.
class ChargenConnection final : public Connection {
 public:
  using Connection::Connection;

  std::optional<uint32_t> OnReady(Socket& socket) override {
    for (int i = 0; i < kBudget; ++i) {
      const ssize_t n = Recv(socket, service_.scratch, TcpServices::kIoSize);
      if (n == 0) return PeerClosed();
      if (n < 0 && n != -EAGAIN) return Fail(n, "recv");
      if (n > 0) Received(n);
      const ssize_t r = Send(socket, service_.pattern->At(offset_), service_.pattern->window());
      if (r < 0 && r != -EAGAIN) return Fail(r, "send");
      if (r > 0) {
        Sent(r);
        offset_ = (offset_ + static_cast<uint64_t>(r)) % ChargenPattern::kPeriod;
      }
      if (n == -EAGAIN && r == -EAGAIN) break;
    }
    return POLLIN | POLLOUT;
  }

 private:
  uint64_t offset_ = 0;  // into the pattern's period
};

// Accepts connections and hands each to a handler of the service's kind.
class Listener final : public EventLoop::Handler {
 public:
  explicit Listener(Service& service) : service_(service) {}

  std::optional<uint32_t> OnReady(Socket& socket) override {
    for (int i = 0; i < 4 * kBudget; ++i) {
      if (service_.active >= TcpServices::kMaxConnections) {
        // Picked up again when a connection closes (Service::ConnectionDone).
        service_.accept_paused = true;
        service_.stats.AcceptDeferred.Inc();
        return 0;
      }
      int error = 0;
      SocketAddress peer;
      std::shared_ptr<Socket> connection = socket.Accept(&peer, &error);
      if (!connection) {
        if (error == -EAGAIN) return POLLIN;
        service_.stats.AcceptErrors.Inc();
        NETSHIM_LOG(kWarn, "tcp {} :{}: accept: {}", TcpServiceName(service_.kind), service_.port,
                    std::strerror(-error));
        // Linux's accept(2) may fail for one connection (ECONNABORTED); try the next.
        if (error == -ECONNABORTED) continue;
        return POLLIN;
      }
      service_.stats.Accepted.Inc();
      ++service_.active;
      NETSHIM_LOG(kDebug, "tcp {} :{}: connection from {}:{}", TcpServiceName(service_.kind),
                  service_.port, peer.address.ToString(), peer.port);
      service_.loop->Add(std::move(connection), MakeConnection());
    }
    return POLLIN;
  }

 private:
  std::unique_ptr<EventLoop::Handler> MakeConnection() {
    switch (service_.kind) {
      case TcpServiceKind::kEcho:
        return std::make_unique<EchoConnection>(service_);
      case TcpServiceKind::kDiscard:
        return std::make_unique<DiscardConnection>(service_);
      case TcpServiceKind::kChargen:
        return std::make_unique<ChargenConnection>(service_);
    }
    return nullptr;
  }

  Service& service_;
};

}  // namespace

TcpServices::TcpServices(std::unique_ptr<EventLoop> loop)
    : scratch_(kIoSize), pattern_(kIoSize), loop_(std::move(loop)) {}

TcpServices::~TcpServices() { Stop(); }

void TcpServices::Stop() { loop_->Stop(); }

absl::StatusOr<std::unique_ptr<TcpServices>> TcpServices::Start(
    Stack& stack, const std::vector<std::pair<TcpServiceKind, uint16_t>>& services) {
  std::vector<Listening> listening;
  auto close_all = [&listening] {
    for (Listening& l : listening) l.socket->Close();
  };
  for (const auto& [kind, port] : services) {
    const std::string_view name = TcpServiceName(kind);
    int error = 0;
    std::shared_ptr<Socket> socket = stack.CreateSocket(SOCK_STREAM, IPPROTO_TCP, &error);
    if (!socket) {
      close_all();
      return absl::InternalError(fmt::format("tcp {}: socket: {}", name, std::strerror(-error)));
    }
    listening.push_back({kind, port, socket});
    if (int r = socket->Bind(SocketAddress{Ipv4Address::Any(), port}); r < 0) {
      close_all();
      return absl::InvalidArgumentError(
          fmt::format("tcp {}: bind to port {}: {}", name, port, std::strerror(-r)));
    }
    if (int r = socket->Listen(kBacklog); r < 0) {
      close_all();
      return absl::InternalError(
          fmt::format("tcp {}: listen on port {}: {}", name, port, std::strerror(-r)));
    }
  }
  return Serve(std::move(listening));
}

absl::StatusOr<std::unique_ptr<TcpServices>> TcpServices::Serve(std::vector<Listening> listening) {
  auto loop = EventLoop::Create();
  if (!loop.ok()) {
    for (Listening& l : listening) l.socket->Close();
    return loop.status();
  }
  std::unique_ptr<TcpServices> self(new TcpServices(std::move(*loop)));
  for (Listening& l : listening) {
    auto service = std::make_unique<Service>();
    service->kind = l.kind;
    service->port = l.port;
    service->loop = self->loop_.get();
    service->scratch = self->scratch_.data();
    service->pattern = &self->pattern_;
    // Not started yet: Add() from this thread is allowed.
    service->listener = self->loop_->Add(std::move(l.socket), std::make_unique<Listener>(*service));
    self->services_.push_back(std::move(service));
  }
  self->loop_->Start();
  return self;
}

std::string TcpServices::FormatTable() const {
  std::string out;
  for (const auto& service : services_) {
    const std::string group = fmt::format("{}:{}", GroupName(service->kind), service->port);
    service->stats.ForEach([&](std::string_view name, uint64_t value) {
      if (value != 0)
        fmt::format_to(std::back_inserter(out), "{:<5} {:<20} {:>12}\n", group, name, value);
    });
  }
  return out;
}

}  // namespace netshim
