// Feeds arbitrary bytes to the stack as received Ethernet frames: Ethernet → ARP / IPv4
// (with reassembly) → ICMP / UDP (two UDP sockets listen, and are drained after each input,
// so datagrams with a zero or correct checksum reach a receive queue and are read). One stack lives
// across inputs so state (neighbors, fragments waiting) builds up as it would under a real flood;
// the clock moves so timeouts run too. Each input is also split into several frames at its 0xff
// 0x00 0xff markers, so the fuzzer can build fragment sequences.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "stack/link/channel_link.h"
#include "stack/stack.h"
#include "stack/wire/arp.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmpv4.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/udp.h"

namespace netshim {
namespace {

struct Harness {
  ManualClock clock;
  ChannelLink* link = nullptr;
  std::unique_ptr<Stack> stack;
  std::shared_ptr<Socket> udp_any;        // 0.0.0.0:53
  std::shared_ptr<Socket> udp_connected;  // 198.18.0.2:5353 <-> 198.18.0.1:53

  Harness() {
    StackOptions options;
    options.address = *Ipv4Cidr::Parse("198.18.0.2/24");
    options.gateway = Ipv4Address::Parse("198.18.0.1");
    options.mac = MacAddress::Parse("02:00:00:00:00:02");
    options.clock = &clock;
    options.max_buffers = 256;
    options.reassembly.max_bytes = 256 * 1024;
    auto s = Stack::Create(options, [this](BufferPool*, LinkStats*) {
      auto l = std::make_unique<ChannelLink>(1500);
      link = l.get();
      return absl::StatusOr<std::unique_ptr<LinkEndpoint>>(std::move(l));
    });
    if (!s.ok()) std::abort();
    stack = std::move(*s);
    int err;
    udp_any = stack->CreateSocket(SOCK_DGRAM, 0, &err);
    udp_connected = stack->CreateSocket(SOCK_DGRAM, 0, &err);
    if (!udp_any || !udp_connected || udp_any->Bind({Ipv4Address::Any(), 53}) != 0 ||
        udp_connected->Bind({options.address.address, 5353}) != 0 ||
        udp_connected->Connect({*options.gateway, 53}) != 0) {
      std::abort();
    }
  }

  // Reads whatever the sockets hold, so queued datagrams give their buffers back.
  static void Drain(Socket& s) {
    uint8_t buf[64];
    iovec v{buf, sizeof(buf)};
    MessageInfo info;
    for (int i = 0; i < 1024; ++i) {
      const ssize_t n = s.RecvMsg({&v, 1}, info, MSG_DONTWAIT | (i % 2 ? MSG_TRUNC : 0));
      if (n == -EAGAIN) return;
    }
  }
};

void ParseDirectly(std::span<const uint8_t> bytes) {
  (void)EthernetHeader::Parse(bytes);
  (void)ArpPacket::Parse(bytes);
  Ipv4Header ip;
  (void)Ipv4Header::Parse(bytes, &ip);
  if (auto icmp = IcmpHeader::Parse(bytes); icmp && bytes.size() >= kIcmpHeaderSize) {
    (void)IcmpError::Parse(*icmp, bytes.subspan(kIcmpHeaderSize));
  }
  UdpHeader udp;
  if (UdpHeader::Parse(bytes, &udp) == UdpParseError::kOk) {
    (void)UdpChecksumValid(Ipv4Address::Any(), Ipv4Address::Broadcast(), bytes.first(udp.length));
  }
}

}  // namespace
}  // namespace netshim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  static Harness* h = new Harness();
  ParseDirectly({data, size});
  size_t start = 0;
  for (size_t i = 0; i + 3 <= size;) {
    if (data[i] == 0xff && data[i + 1] == 0x00 && data[i + 2] == 0xff) {
      h->link->Inject({data + start, i - start});
      start = i += 3;
    } else {
      ++i;
    }
  }
  h->link->Inject({data + start, size - start});
  h->stack->RunUntilIdle();
  Harness::Drain(*h->udp_any);
  Harness::Drain(*h->udp_connected);
  h->clock.Advance(absl::Milliseconds(size % 2000));
  h->stack->RunTimers(h->clock.Now());
  (void)h->link->TakeSent();
  return 0;
}
