// One host: a NIC on a link, ARP, IPv4 (with its loopback device for 127/8 and the own
// address), ICMP and the dispatch thread that drives them.
// Tests drive it by hand (PollOnce/RunTimers with a ManualClock and an in-memory link);
// programs Start() it and let the dispatcher run.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/link/link_endpoint.h"
#include "stack/net/arp.h"
#include "stack/net/icmp.h"
#include "stack/net/ipv4_layer.h"
#include "stack/net/ipv4_reassembler.h"
#include "stack/net/neighbor_cache.h"
#include "stack/net/nic.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/dispatcher.h"
#include "stack/runtime/stats.h"
#include "stack/runtime/timer_wheel.h"
#include "stack/socket/socket.h"
#include "stack/transport/tcp/tcp_config.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/udp/udp_protocol.h"

namespace netshim {

struct StackOptions {
  Ipv4Cidr address;
  std::optional<Ipv4Address> gateway;
  std::optional<MacAddress> mac;  // default: DefaultMacFor(address)
  uint32_t mtu = 1500;
  const Clock* clock = nullptr;  // default: the monotonic clock
  size_t max_buffers = 16384;    // packet buffers in the pool (the memory bound)
  Ipv4Reassembler::Limits reassembly;
  NeighborConfig neighbor;
  TcpConfig tcp;
};

// Builds the link once the pool exists (the link reads frames into pool buffers).
using LinkFactory = std::function<absl::StatusOr<std::unique_ptr<LinkEndpoint>>(BufferPool* pool,
                                                                                LinkStats* stats)>;

class Stack final : public DispatchTarget {
 public:
  static absl::StatusOr<std::unique_ptr<Stack>> Create(const StackOptions& options,
                                                       const LinkFactory& make_link);
  ~Stack() override;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Announces the address and starts the dispatch thread.
  absl::Status Start();
  // Stops the dispatch thread (idempotent).
  void Stop();

  // DispatchTarget: also called directly by tests that drive the stack without a thread.
  // PollOnce handles frames from the link and datagrams from the loopback queue, up to
  // `budget` of each.
  size_t PollOnce(size_t budget = 64) override;
  size_t PollBesidesLink(size_t budget) override;
  // PollOnce holding the ACKs a reply may carry (TcpProtocol's held ACKs).
  size_t PollForCaller(size_t budget) override;
  void AgeHeld() override;
  void ReleaseHeld() override;
  void RunTimers(absl::Time now) override;
  std::optional<absl::Time> NextDeadline() override;
  // Tests: processes every waiting frame and everything due now.
  void RunUntilIdle();

  // socket(AF_INET, type, protocol): a new socket, or null with *error set as Linux's
  // inet_create sets it: -EINVAL for a type or protocol out of range (SOCK_NONBLOCK and
  // SOCK_CLOEXEC in `type` are ignored: they belong to the file descriptor),
  // -ESOCKTNOSUPPORT for a type IPv4 has no protocol for, -EPROTONOSUPPORT for a protocol
  // the type does not carry. Sockets must be closed before the stack is destroyed.
  std::shared_ptr<Socket> CreateSocket(int type, int protocol, int* error);

  const StackStats& stats() const { return stats_; }
  const Clock& clock() const { return clock_; }
  BufferPool& pool() { return *pool_; }
  Nic& nic() { return *nic_; }
  Arp& arp() { return *arp_; }
  NeighborCache& neighbors() { return *neighbors_; }
  Ipv4Layer& ipv4() { return *ipv4_; }
  Icmp& icmp() { return *icmp_; }
  UdpProtocol& udp() { return *udp_; }
  TcpProtocol& tcp() { return *tcp_; }
  TimerWheel& timers() { return timers_; }
  LinkEndpoint& link() { return *link_; }
  // Null until Start().
  Dispatcher* dispatcher() { return dispatcher_.get(); }

 private:
  Stack(const StackOptions& options, const Clock& clock);

  const Clock& clock_;
  StackStats stats_;
  // Declared first so it is destroyed last: every other member may hold its buffers.
  BufferPoolPtr pool_;
  std::unique_ptr<LinkEndpoint> link_;
  std::unique_ptr<Nic> nic_;
  std::unique_ptr<NeighborCache> neighbors_;
  std::unique_ptr<Arp> arp_;
  std::unique_ptr<Ipv4Layer> ipv4_;
  std::unique_ptr<Icmp> icmp_;
  std::unique_ptr<UdpProtocol> udp_;
  TimerWheel timers_;
  // After the wheel: TCP cancels its sockets' timers when it goes.
  std::unique_ptr<TcpProtocol> tcp_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

}  // namespace netshim
