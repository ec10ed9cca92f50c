#include "tests/packet/tcp_pair.h"

#include <netinet/in.h>

#include <algorithm>

#include "stack/link/channel_link.h"
#include "stack/link/impair_link.h"
#include "tests/packet/stack_fixture.h"

namespace netshim::testing {

Ipv4Address TcpPair::AddressA() { return *Ipv4Address::Parse("198.18.0.1"); }
Ipv4Address TcpPair::AddressB() { return *Ipv4Address::Parse("198.18.0.2"); }

TcpPair::TcpPair(const std::string& impair, StackOptions base, LinkOffloads offloads) {
  auto [la, lb] = ChannelLink::CreatePair(base.mtu);
  la->SetOffloads(offloads);
  lb->SetOffloads(offloads);
  std::unique_ptr<LinkEndpoint> link_a = std::move(la);
  if (!impair.empty()) {
    auto spec = ParseImpairSpec(impair);
    EXPECT_TRUE(spec.ok()) << spec.status();
    link_a = std::make_unique<ImpairLink>(std::move(link_a), *spec, clock_);
  }
  StackOptions oa = base;
  oa.address = Ipv4Cidr{AddressA(), 24};
  oa.clock = &clock_;
  StackOptions ob = base;
  ob.address = Ipv4Cidr{AddressB(), 24};
  ob.clock = &clock_;
  auto sa = Stack::Create(oa, [&link_a](BufferPool*, LinkStats*) {
    return absl::StatusOr<std::unique_ptr<LinkEndpoint>>(std::move(link_a));
  });
  EXPECT_TRUE(sa.ok()) << sa.status();
  a_ = std::move(*sa);
  b_ = StackOnLink(ob, std::move(lb));
}

TcpPair::~TcpPair() = default;

bool TcpPair::Step() {
  size_t moved = a_->PollOnce(256) + b_->PollOnce(256);
  const absl::Time now = clock_.Now();
  a_->RunTimers(now);
  b_->RunTimers(now);
  // Timers may have put frames on the wire (retransmissions, frames an impaired link held):
  // deliver them before anyone decides the pair is idle.
  moved += a_->PollOnce(256) + b_->PollOnce(256);
  return moved > 0;
}

bool TcpPair::RunUntil(const std::function<bool()>& done, absl::Duration limit) {
  const absl::Time give_up = clock_.Now() + limit;
  for (int rounds = 0; rounds < 50'000'000; ++rounds) {
    if (done()) return true;
    if (Step()) continue;
    if (done()) return true;
    std::optional<absl::Time> next;
    for (Stack* s : {a_.get(), b_.get()}) {
      auto t = s->NextDeadline();
      if (t && (!next || *t < *next)) next = t;
    }
    if (!next) return done();
    if (*next > give_up) return false;
    if (*next > clock_.Now()) clock_.Set(*next);
  }
  return false;
}

TcpPair::Connection TcpPair::Connect(uint16_t port) {
  Connection c;
  c.listener = NewTcpSocket(*b_);
  EXPECT_EQ(c.listener->Bind({Ipv4Address::Any(), port}), 0);
  EXPECT_EQ(c.listener->Listen(16), 0);
  c.client = NewTcpSocket(*a_);
  EXPECT_EQ(c.client->Connect({AddressB(), port}), -EINPROGRESS);
  EXPECT_TRUE(RunUntil([&] {
    if (!c.server) {
      int err = 0;
      SocketAddress peer;
      c.server = c.listener->Accept(&peer, &err);
    }
    return c.server && (c.client->Poll() & POLLOUT);
  })) << "handshake did not complete";
  if (c.client) {
    EXPECT_EQ(c.client->Connect({AddressB(), port}), 0);
  }
  return c;
}

ssize_t SendBytes(Socket& s, const uint8_t* data, size_t len, int flags) {
  iovec v{const_cast<uint8_t*>(data), len};
  MessageInfo info;
  return s.SendMsg({&v, 1}, info, flags | MSG_DONTWAIT);
}

ssize_t RecvBytes(Socket& s, uint8_t* data, size_t len, int flags) {
  iovec v{data, len};
  MessageInfo info;
  return s.RecvMsg({&v, 1}, info, flags | MSG_DONTWAIT);
}

std::shared_ptr<Socket> NewTcpSocket(Stack& stack) {
  int err = 0;
  auto s = stack.CreateSocket(SOCK_STREAM, 0, &err);
  EXPECT_TRUE(s) << err;
  return s;
}

}  // namespace netshim::testing
