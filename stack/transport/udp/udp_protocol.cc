#include "stack/transport/udp/udp_protocol.h"

#include <cerrno>

#include "stack/runtime/log.h"
#include "stack/transport/udp/udp_socket.h"
#include "stack/wire/bytes.h"
#include "stack/wire/udp.h"

namespace netshim {
namespace {

// What an ICMP error means to a UDP socket (Linux __udp4_lib_err and icmp_err_convert[]):
// the errno, and whether it is "hard" (reported without IP_RECVERR).
struct IcmpVerdict {
  int error = 0;
  bool hard = false;
};

IcmpVerdict Classify(const IcmpError& e) {
  switch (e.type) {
    case IcmpType::kDestUnreachable: {
      // Linux net/ipv4/icmp.c icmp_err_convert[], indexed by code.
      static constexpr IcmpVerdict kByCode[] = {
          {ENETUNREACH, false},   // 0 net unreachable
          {EHOSTUNREACH, false},  // 1 host unreachable
          {ENOPROTOOPT, true},    // 2 protocol unreachable
          {ECONNREFUSED, true},   // 3 port unreachable
          {EMSGSIZE, false},      // 4 fragmentation needed (handled below)
          {EOPNOTSUPP, false},    // 5 source route failed
          {ENETUNREACH, true},    // 6 net unknown
          {EHOSTDOWN, true},      // 7 host unknown
          {ENONET, true},         // 8 host isolated
          {ENETUNREACH, true},    // 9 net administratively prohibited
          {EHOSTUNREACH, true},   // 10 host administratively prohibited
          {ENETUNREACH, false},   // 11 net unreachable for TOS
          {EHOSTUNREACH, false},  // 12 host unreachable for TOS
          {EHOSTUNREACH, true},   // 13 communication administratively prohibited
          {EHOSTUNREACH, true},   // 14 host precedence violation
          {EHOSTUNREACH, true},   // 15 precedence cutoff
      };
      if (e.code == static_cast<uint8_t>(IcmpUnreachCode::kFragmentationNeeded)) {
        // Path MTU discovery: with the default IP_PMTUDISC_WANT the socket hears EMSGSIZE.
        return {EMSGSIZE, true};
      }
      if (e.code < std::size(kByCode)) return kByCode[e.code];
      return {EHOSTUNREACH, false};
    }
    case IcmpType::kParameterProblem:
      return {EPROTO, true};
    default:  // time exceeded, and anything else: soft
      return {EHOSTUNREACH, false};
  }
}

}  // namespace

UdpProtocol::UdpProtocol(Ipv4Layer& ipv4, Icmp& icmp, BufferPool& pool, UdpStats& stats,
                         PortTable::Range ephemeral)
    : ipv4_(ipv4),
      icmp_(icmp),
      pool_(pool),
      stats_(stats),
      ports_(PortTable::Protocol::kUdp, ephemeral) {}

UdpProtocol::~UdpProtocol() = default;

std::shared_ptr<UdpSocket> UdpProtocol::CreateSocket() {
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    id = next_socket_id_++;
  }
  return std::make_shared<UdpSocket>(*this, id);
}

size_t UdpProtocol::bound_sockets() const {
  absl::MutexLock lock(&mu_);
  return demux_.size();
}

int UdpProtocol::Bind(uint64_t socket_id, const std::weak_ptr<UdpSocket>& socket,
                      const PortRequest& request, PortTable::Id* binding) {
  absl::MutexLock lock(&mu_);
  const int port = ports_.Bind(request, binding);
  if (port < 0) return port;
  UdpEndpointKey key;
  key.local = request.address;
  key.local_port = static_cast<uint16_t>(port);
  key.reuse_port = request.reuse_port;
  demux_.Insert(socket_id, key);
  sockets_[socket_id] = socket;
  return port;
}

void UdpProtocol::Update(uint64_t socket_id, PortTable::Id binding, const UdpEndpointKey& key,
                         bool reuse_addr) {
  absl::MutexLock lock(&mu_);
  ports_.SetAddress(binding, key.local);
  ports_.SetReuse(binding, reuse_addr, key.reuse_port);
  demux_.Update(socket_id, key);
}

void UdpProtocol::Unbind(uint64_t socket_id, PortTable::Id binding) {
  absl::MutexLock lock(&mu_);
  demux_.Remove(socket_id);
  sockets_.erase(socket_id);
  ports_.Release(binding);
}

std::shared_ptr<UdpSocket> UdpProtocol::FindUnicast(Ipv4Address src, uint16_t sport,
                                                    Ipv4Address dst, uint16_t dport) {
  absl::MutexLock lock(&mu_);
  const UdpDemux::Id id = demux_.Lookup(src, sport, dst, dport);
  if (id == UdpDemux::kNone) return nullptr;
  auto it = sockets_.find(id);
  return it == sockets_.end() ? nullptr : it->second.lock();
}

void UdpProtocol::Enqueue(UdpSocket& socket, const SocketAddress& from, PacketBuffer data) {
  if (!socket.Deliver(from, std::move(data))) {
    // Linux __udp_queue_rcv_skb: "an ENOMEM error is charged twice".
    stats_.RcvbufErrors.Inc();
    stats_.InErrors.Inc();
  }
}

void UdpProtocol::Receive(InboundDatagram dgram) {
  UdpHeader h;
  if (UdpHeader::Parse(dgram.payload.span(), &h) != UdpParseError::kOk) {
    stats_.InErrors.Inc();  // a short packet (Linux: "short_packet" -> UDP_MIB_INERRORS)
    return;
  }
  // Bytes beyond the UDP length are not the datagram's: trim them, for the checksum too.
  dgram.payload.Truncate(h.length);
  if (!dgram.payload.checksum_trusted() &&
      !UdpChecksumValid(dgram.ip.src, dgram.ip.dst, dgram.payload.span())) {
    stats_.InCsumErrors.Inc();
    stats_.InErrors.Inc();
    return;
  }
  const SocketAddress from{dgram.ip.src, h.src_port};
  PacketBuffer data = dgram.payload.Slice(kUdpHeaderSize, h.length - kUdpHeaderSize);

  const Nic& nic = ipv4_.nic();
  if (nic.IsBroadcast(dgram.ip.dst) || dgram.ip.dst.IsMulticast()) {
    DeliverBroadcast(dgram, from, h.dst_port, data);
    return;
  }
  std::shared_ptr<UdpSocket> socket =
      FindUnicast(dgram.ip.src, h.src_port, dgram.ip.dst, h.dst_port);
  if (socket == nullptr) {
    // RFC 1122 4.1.3.1: SHOULD send port unreachable. Icmp applies the rate limit and the
    // rules against answering broadcasts.
    stats_.NoPorts.Inc();
    icmp_.SendError(IcmpType::kDestUnreachable, static_cast<uint8_t>(IcmpUnreachCode::kPort), 0,
                    dgram);
    return;
  }
  Enqueue(*socket, from, std::move(data));
}

// Linux __udp4_lib_mcast_deliver: every matching socket gets the datagram (here a shared
// reference, not a copy); none means IgnoredMulti and, for a broadcast, no ICMP.
void UdpProtocol::DeliverBroadcast(const InboundDatagram& dgram, const SocketAddress& from,
                                   uint16_t dport, const PacketBuffer& data) {
  absl::InlinedVector<std::shared_ptr<UdpSocket>, 4> targets;
  {
    absl::MutexLock lock(&mu_);
    for (UdpDemux::Id id : demux_.LookupAll(dgram.ip.src, from.port, dgram.ip.dst, dport)) {
      auto it = sockets_.find(id);
      if (it == sockets_.end()) continue;
      if (auto s = it->second.lock()) targets.push_back(std::move(s));
    }
  }
  if (targets.empty()) {
    stats_.IgnoredMulti.Inc();
    return;
  }
  for (auto& s : targets) Enqueue(*s, from, data);
}

void UdpProtocol::ReceiveIcmpError(const IcmpError& error) {
  if (error.original_payload.size() < kUdpHeaderSize) return;
  const IcmpVerdict v = Classify(error);
  // Without IP_RECVERR only hard errors are reported, and only to connected sockets.
  if (!v.hard) return;
  const uint16_t our_port = Load16(error.original_payload.data());
  const uint16_t their_port = Load16(error.original_payload.data() + 2);
  // The quoted datagram went from us to them: look up as if it were coming back.
  std::shared_ptr<UdpSocket> socket =
      FindUnicast(error.original.dst, their_port, error.original.src, our_port);
  if (socket == nullptr) return;
  NETSHIM_LOG(kDebug, "udp: icmp error {} for :{} -> {}:{}", v.error, our_port,
              error.original.dst.ToString(), their_port);
  socket->DeliverError(v.error);
}

}  // namespace netshim
