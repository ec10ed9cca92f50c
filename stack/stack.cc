#include "stack/stack.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "stack/runtime/config.h"
#include "stack/runtime/log.h"
#include "stack/transport/tcp/tcp_socket.h"
#include "stack/transport/udp/udp_socket.h"

namespace netshim {

Stack::Stack(const StackOptions& options, const Clock& clock)
    : clock_(clock),
      // One block holds a whole frame plus headroom for headers we prepend on transmit
      // (+4 for a VLAN tag a bridge may leave on).
      pool_(BufferPool::Create(Nic::kHeadroom + options.mtu + kEthernetHeaderSize + 4,
                               options.max_buffers)),
      timers_(clock.Now()) {}

absl::StatusOr<std::unique_ptr<Stack>> Stack::Create(const StackOptions& options,
                                                     const LinkFactory& make_link) {
  const Clock& clock = options.clock ? *options.clock : MonotonicClock::Get();
  std::unique_ptr<Stack> s(new Stack(options, clock));
  auto link = make_link(s->pool_.get(), &s->stats_.link);
  if (!link.ok()) return link.status();
  s->link_ = std::move(*link);
  if (s->link_->mtu() != options.mtu) {
    return absl::InvalidArgumentError(
        fmt::format("link MTU {} differs from the configured {}", s->link_->mtu(), options.mtu));
  }
  const MacAddress mac = options.mac.value_or(DefaultMacFor(options.address.address));
  s->nic_ = std::make_unique<Nic>(s->link_.get(), mac, options.address, s->stats_.link);
  s->neighbors_ = std::make_unique<NeighborCache>(s->stats_.arp, options.neighbor);
  s->arp_ = std::make_unique<Arp>(*s->nic_, *s->neighbors_, *s->pool_, clock, s->stats_.arp);
  s->ipv4_ = std::make_unique<Ipv4Layer>(*s->nic_, *s->arp_, *s->pool_, clock, s->stats_.ip,
                                         options.reassembly);
  s->icmp_ = std::make_unique<Icmp>(*s->ipv4_, *s->pool_, clock, s->stats_.icmp);
  s->ipv4_->SetIcmp(s->icmp_.get());
  s->ipv4_->RegisterTransport(static_cast<uint8_t>(IpProtocol::kIcmp), s->icmp_.get());
  s->udp_ = std::make_unique<UdpProtocol>(*s->ipv4_, *s->icmp_, *s->pool_, s->stats_.udp);
  s->ipv4_->RegisterTransport(static_cast<uint8_t>(IpProtocol::kUdp), s->udp_.get());
  s->tcp_ = std::make_unique<TcpProtocol>(*s->ipv4_, *s->pool_, clock, s->timers_, s->stats_.tcp,
                                          options.tcp);
  s->ipv4_->RegisterTransport(static_cast<uint8_t>(IpProtocol::kTcp), s->tcp_.get());
  s->nic_->SetReceivers(s->arp_.get(), s->ipv4_.get());
  s->link_->Attach(s->nic_.get());

  // The subnet is on-link; everything else goes through the gateway, if there is one.
  Route on_link;
  on_link.destination = Ipv4Cidr{options.address.Network(), options.address.prefix_len};
  s->ipv4_->AddRoute(on_link);
  if (options.gateway) {
    if (!options.address.Contains(*options.gateway)) {
      return absl::InvalidArgumentError(fmt::format(
          "gateway {} is outside {}", options.gateway->ToString(), options.address.ToString()));
    }
    Route default_route;
    default_route.destination = Ipv4Cidr{Ipv4Address::Any(), 0};
    default_route.gateway = *options.gateway;
    s->ipv4_->AddRoute(default_route);
  }
  Stack* self = s.get();
  s->arp_->SetDeadlineHook([self](absl::Time t) {
    if (self->dispatcher_) self->dispatcher_->WakeIfBefore(t);
  });
  NETSHIM_LOG(kInfo, "stack: {} at {} mtu {}", options.address.ToString(), mac.ToString(),
              options.mtu);
  return s;
}

Stack::~Stack() { Stop(); }

absl::Status Stack::Start() {
  if (dispatcher_) return absl::OkStatus();
  arp_->Announce();
  dispatcher_ = std::make_unique<Dispatcher>(this, clock_, link_->ReadableFd());
  if (auto status = dispatcher_->Start(); !status.ok()) return status;
  Dispatcher* d = dispatcher_.get();
  link_->SetDeadlineChangedCallback([d] { d->Wake(); });
  tcp_->SetWakeCallback([d](absl::Time t) { d->WakeIfBefore(t); });
  // A datagram to ourselves is like a frame arriving: the loop must come and poll.
  ipv4_->loopback().SetWakeCallback([d] { d->Wake(); });
  return absl::OkStatus();
}

void Stack::Stop() {
  if (!dispatcher_) return;
  link_->SetDeadlineChangedCallback(nullptr);
  tcp_->SetWakeCallback(nullptr);
  ipv4_->loopback().SetWakeCallback(nullptr);
  dispatcher_->Stop();
}

size_t Stack::PollOnce(size_t budget) {
  // The link and the loopback queue each get the whole budget, so a flood on one cannot
  // starve the other (Linux's NAPI: each device polled with its own weight). Reporting the
  // budget as used when either filled it keeps the dispatcher polling without sleeping.
  const size_t from_link = link_->Poll(budget);
  const size_t from_loopback = PollBesidesLink(budget);
  return std::min(from_link + from_loopback, budget);
}

size_t Stack::PollBesidesLink(size_t budget) { return ipv4_->PollLoopback(budget); }

size_t Stack::PollForCaller(size_t budget) {
  TcpProtocol::HoldAcksScope hold;
  return PollOnce(budget);
}

void Stack::AgeHeld() { tcp_->ReleaseHeldAcks(/*all=*/false); }

void Stack::ReleaseHeld() { tcp_->ReleaseHeldAcks(/*all=*/true); }

void Stack::RunTimers(absl::Time now) {
  link_->OnTimer(now);
  arp_->OnTimer(now);
  ipv4_->OnTimer(now);
  tcp_->SyncTimers();  // sockets' requests onto the wheel first, so their timers run now
  timers_.Advance(now);
  tcp_->SyncTimers();
}

std::optional<absl::Time> Stack::NextDeadline() {
  std::optional<absl::Time> next;
  auto merge = [&next](std::optional<absl::Time> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  merge(link_->NextDeadline());
  merge(arp_->NextDeadline());
  merge(ipv4_->NextDeadline());
  tcp_->SyncTimers();
  merge(timers_.NextDeadline());
  return next;
}

std::shared_ptr<Socket> Stack::CreateSocket(int type, int protocol, int* error) {
  type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  // __sock_create: "type < 0 || type >= SOCK_MAX"; inet_create: "protocol < 0 ||
  // protocol >= IPPROTO_MAX" (263 since Linux 5.6 added IPPROTO_MPTCP).
  constexpr int kLinuxIpProtoMax = 263;
  if (type < 0 || type > SOCK_PACKET || protocol < 0 || protocol >= kLinuxIpProtoMax) {
    *error = -EINVAL;
    return nullptr;
  }
  switch (type) {
    case SOCK_DGRAM:
      if (protocol == 0 || protocol == IPPROTO_UDP) {
        *error = 0;
        return udp_->CreateSocket();
      }
      // Ping sockets exist in Linux but net.ipv4.ping_group_range ("1 0") lets nobody in.
      *error = protocol == IPPROTO_ICMP ? -EACCES : -EPROTONOSUPPORT;
      return nullptr;
    case SOCK_STREAM:
      if (protocol == 0 || protocol == IPPROTO_TCP) {
        *error = 0;
        return tcp_->CreateSocket();
      }
      *error = -EPROTONOSUPPORT;
      return nullptr;
    case SOCK_RAW:
    case SOCK_PACKET:
      *error = -EPERM;  // what a process without CAP_NET_RAW gets
      return nullptr;
    default:
      *error = -ESOCKTNOSUPPORT;  // no IPv4 protocol registered for the type
      return nullptr;
  }
}

void Stack::RunUntilIdle() {
  while (PollOnce(64) > 0) {
  }
  RunTimers(clock_.Now());
  while (PollOnce(64) > 0) {
  }
}

}  // namespace netshim
