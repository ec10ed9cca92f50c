// The services netshim-host offers on its stack, each on its own thread, written against
// the socket API only (as a program behind the shim would be). The TCP services, which
// share one event-loop thread, are in tools/tcp_services.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "stack/socket/socket.h"
#include "stack/socket/socket_waiter.h"
#include "stack/stack.h"

namespace netshim {

// RFC 862 echo over UDP: every datagram goes back to its sender unchanged.
class UdpEchoService {
 public:
  static absl::StatusOr<std::unique_ptr<UdpEchoService>> Start(Stack& stack, uint16_t port);
  ~UdpEchoService();
  UdpEchoService(const UdpEchoService&) = delete;
  UdpEchoService& operator=(const UdpEchoService&) = delete;

 private:
  explicit UdpEchoService(std::shared_ptr<Socket> socket);
  void Run();

  std::shared_ptr<Socket> socket_;
  SocketWaiter waiter_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace netshim
