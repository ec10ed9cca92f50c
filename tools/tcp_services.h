// The TCP services netshim-host offers: echo (RFC 862), discard (RFC 863) and character
// generator (RFC 864), written against the socket API only, all on one event-loop thread
// (tools/event_loop.h) that serves any number of connections without a thread each.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "stack/runtime/stats.h"
#include "stack/stack.h"
#include "tools/event_loop.h"

namespace netshim {

enum class TcpServiceKind { kEcho, kDiscard, kChargen };

// "echo", "discard", "chargen".
std::string_view TcpServiceName(TcpServiceKind kind);

// The RFC 864 pattern: the 95 printable ASCII characters (32..126) in a ring; line n holds
// the 72 characters starting at character n % 95, then CR LF. The stream is periodic with a
// period of 95 lines.
class ChargenPattern {
 public:
  static constexpr size_t kLineChars = 72;
  static constexpr size_t kLineBytes = kLineChars + 2;  // + "\r\n"
  static constexpr size_t kPeriod = 95 * kLineBytes;    // 7030 bytes

  // `window`: how many bytes At() must be able to hand out from any offset.
  explicit ChargenPattern(size_t window);

  // The stream from byte `offset` on, valid for window() bytes.
  const uint8_t* At(uint64_t offset) const { return bytes_.data() + offset % kPeriod; }
  size_t window() const { return window_; }

  // Line n of the stream (74 bytes with its CR LF).
  static std::string Line(uint64_t n);

 private:
  size_t window_;
  std::vector<uint8_t> bytes_;
};

// Counters of one service, named like the stack's ("Group Name Value" in the host's table).
#define NETSHIM_TCP_SERVICE_COUNTERS(X) \
  X(Accepted)                           \
  X(AcceptErrors)                       \
  X(AcceptDeferred) X(Closed) X(PeerCloses) X(Resets) X(Errors) X(InBytes) X(OutBytes)
NETSHIM_COUNTER_GROUP(TcpServiceStats, NETSHIM_TCP_SERVICE_COUNTERS)

class TcpServices {
 public:
  // Most connections one service keeps open; past it the service stops accepting (the
  // stack's backlog holds, then refuses, the rest) until one closes.
  static constexpr size_t kMaxConnections = 1024;
  // Bytes per RecvMsg/SendMsg.
  static constexpr size_t kIoSize = 64 * 1024;
  static constexpr int kBacklog = 1024;

  // Listens on every (kind, port) and starts the service thread.
  static absl::StatusOr<std::unique_ptr<TcpServices>> Start(
      Stack& stack, const std::vector<std::pair<TcpServiceKind, uint16_t>>& services);
  // A socket already listening, and what to serve on it.
  struct Listening {
    TcpServiceKind kind;
    uint16_t port;  // for the counters' names
    std::shared_ptr<Socket> socket;
  };
  // Serves on sockets the caller made listen (tests pass fakes); starts the thread.
  static absl::StatusOr<std::unique_ptr<TcpServices>> Serve(std::vector<Listening> listening);

  // Stop().
  ~TcpServices();
  TcpServices(const TcpServices&) = delete;
  TcpServices& operator=(const TcpServices&) = delete;

  // Stops the thread and closes every socket (idempotent); the counters stay readable.
  void Stop();

  // "Group Name Value" lines like StackStats::FormatTable(), group "TcpEcho:7" and so on;
  // zero counters left out. Call after Stop() for final figures.
  std::string FormatTable() const;

  // One listening port and its connections' shared state (tcp_services.cc).
  struct Service;

 private:
  explicit TcpServices(std::unique_ptr<EventLoop> loop);

  // Declared before loop_ so they outlive it: handlers point at their service, the one
  // receive buffer and the pattern.
  std::vector<uint8_t> scratch_;
  ChargenPattern pattern_;
  std::vector<std::unique_ptr<Service>> services_;
  std::unique_ptr<EventLoop> loop_;
};

}  // namespace netshim
