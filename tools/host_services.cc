#include "tools/host_services.h"

#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fmt/format.h"
#include "stack/runtime/log.h"

namespace netshim {

absl::StatusOr<std::unique_ptr<UdpEchoService>> UdpEchoService::Start(Stack& stack, uint16_t port) {
  int error = 0;
  std::shared_ptr<Socket> socket = stack.CreateSocket(SOCK_DGRAM, IPPROTO_UDP, &error);
  if (!socket) {
    return absl::InternalError(fmt::format("udp echo: socket: {}", std::strerror(-error)));
  }
  if (int r = socket->Bind(SocketAddress{Ipv4Address::Any(), port}); r < 0) {
    socket->Close();
    return absl::InvalidArgumentError(
        fmt::format("udp echo: bind to port {}: {}", port, std::strerror(-r)));
  }
  std::unique_ptr<UdpEchoService> service(new UdpEchoService(std::move(socket)));
  service->thread_ = std::thread([s = service.get()] { s->Run(); });
  return service;
}

UdpEchoService::UdpEchoService(std::shared_ptr<Socket> socket)
    : socket_(std::move(socket)), waiter_(*socket_, POLLIN) {}

UdpEchoService::~UdpEchoService() {
  stop_.store(true);
  waiter_.Wake();
  if (thread_.joinable()) thread_.join();
  socket_->Close();
}

void UdpEchoService::Run() {
  std::vector<uint8_t> buffer(65536);
  while (!stop_.load()) {
    MessageInfo info;
    iovec iov{buffer.data(), buffer.size()};
    const ssize_t n = socket_->RecvMsg({&iov, 1}, info, 0);
    if (n == -EAGAIN) {
      waiter_.Wait(std::nullopt);
      continue;
    }
    if (n < 0) {
      NETSHIM_LOG(kDebug, "udp echo: recv: {}", std::strerror(static_cast<int>(-n)));
      continue;  // an ICMP error reported on the socket; keep serving
    }
    iovec out{buffer.data(), static_cast<size_t>(n)};
    MessageInfo reply;
    reply.peer = info.peer;
    if (ssize_t r = socket_->SendMsg({&out, 1}, reply, 0); r < 0) {
      NETSHIM_LOG(kDebug, "udp echo: send: {}", std::strerror(static_cast<int>(-r)));
    }
  }
}

}  // namespace netshim
