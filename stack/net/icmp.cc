#include "stack/net/icmp.h"

#include <algorithm>
#include <cstring>

#include "stack/net/ipv4_layer.h"
#include "stack/runtime/log.h"
#include "stack/wire/checksum.h"

namespace netshim {
namespace {

bool IsErrorType(uint8_t type) {
  switch (static_cast<IcmpType>(type)) {
    case IcmpType::kDestUnreachable:
    case IcmpType::kTimeExceeded:
    case IcmpType::kParameterProblem:
      return true;
    default:
      // Source quench (4) and redirect (5) are errors too, though obsolete.
      return type == 4 || type == 5;
  }
}

}  // namespace

Icmp::Icmp(Ipv4Layer& ipv4, BufferPool& pool, const Clock& clock, IcmpStats& stats)
    : ipv4_(ipv4), pool_(pool), clock_(clock), stats_(stats) {}

void Icmp::Receive(InboundDatagram dgram) {
  stats_.InMsgs.Inc();
  auto header = IcmpHeader::Parse(dgram.payload.span());
  if (!header) {
    stats_.InErrors.Inc();
    return;
  }
  if (InternetChecksum(dgram.payload.span()) != 0) {
    stats_.InCsumErrors.Inc();
    stats_.InErrors.Inc();
    return;
  }
  const auto body = dgram.payload.span().subspan(kIcmpHeaderSize);
  switch (static_cast<IcmpType>(header->type)) {
    case IcmpType::kEchoRequest:
      stats_.InEchos.Inc();
      // Linux's icmp_echo_ignore_broadcasts=1: do not answer broadcast pings (smurf).
      if (!ipv4_.nic().IsOurAddress(dgram.ip.dst)) return;
      ReplyToEcho(dgram, *header);
      return;
    case IcmpType::kEchoReply:
      stats_.InEchoReps.Inc();
      return;  // no ping sockets yet
    case IcmpType::kDestUnreachable:
      stats_.InDestUnreachs.Inc();
      break;
    case IcmpType::kTimeExceeded:
      stats_.InTimeExcds.Inc();
      break;
    case IcmpType::kParameterProblem:
      stats_.InParmProbs.Inc();
      break;
    default:
      return;
  }
  auto error = IcmpError::Parse(*header, body);
  if (!error) {
    stats_.InErrors.Inc();
    return;
  }
  // Only errors about datagrams we sent concern us.
  if (!ipv4_.nic().IsOurAddress(error->original.src)) return;
  ipv4_.DeliverIcmpError(*error);
}

void Icmp::ReplyToEcho(const InboundDatagram& request, const IcmpHeader& header) {
  const auto data = request.payload.span().subspan(kIcmpHeaderSize);
  // The reply's head holds the ICMP header; the echoed data rides along as a slice of the
  // request's buffer, uncopied (the IP layer fragments it if it came in fragments).
  TxFrame reply(pool_.Allocate(Nic::kHeadroom));
  if (!reply.head) {
    stats_.OutErrors.Inc();
    return;
  }
  IcmpHeader out{static_cast<uint8_t>(IcmpType::kEchoReply), 0, 0, header.rest};
  out.Write({reply.head.Append(kIcmpHeaderSize), kIcmpHeaderSize}, data);
  if (!data.empty()) reply.payload.push_back(request.payload.Slice(kIcmpHeaderSize, data.size()));
  stats_.OutMsgs.Inc();
  stats_.OutEchoReps.Inc();
  Ipv4SendOptions options;
  options.tos = request.ip.tos;
  if (int err = ipv4_.Send(request.ip.dst, request.ip.src, static_cast<uint8_t>(IpProtocol::kIcmp),
                           std::move(reply), options)) {
    stats_.OutErrors.Inc();
    NETSHIM_LOG(kDebug, "icmp: echo reply to {} failed: errno {}", request.ip.src.ToString(), err);
  }
}

void Icmp::SendError(IcmpType type, uint8_t code, uint32_t rest, const InboundDatagram& bad) {
  const Nic& nic = ipv4_.nic();
  // RFC 1122 3.2.2: never about an ICMP error, a broadcast or multicast, a non-initial
  // fragment, or a datagram whose source does not name one host.
  if (bad.link_broadcast || nic.IsBroadcast(bad.ip.dst) || bad.ip.dst.IsMulticast()) return;
  if (bad.ip.fragment_offset != 0) return;
  if (bad.ip.src.IsAny() || bad.ip.src.IsMulticast() || nic.IsBroadcast(bad.ip.src)) return;
  if (bad.ip.protocol == static_cast<uint8_t>(IpProtocol::kIcmp)) {
    const auto p = bad.payload.span();
    if (p.empty() || IsErrorType(p[0])) return;
  }
  if (!limiter_.Allow(bad.ip.src, clock_.Now())) {
    stats_.OutRateLimited.Inc();
    return;
  }
  const size_t room = kMaxErrorSize - kIpv4MinHeaderSize - kIcmpHeaderSize;
  const size_t header_len = std::min(bad.header.size(), room);
  const size_t payload_len = std::min(bad.payload.size(), room - header_len);
  TxFrame msg(pool_.Allocate(Nic::kHeadroom));
  if (!msg.head || msg.head.tailroom() < kIcmpHeaderSize + header_len + payload_len) {
    stats_.OutErrors.Inc();
    return;
  }
  uint8_t* hdr = msg.head.Append(kIcmpHeaderSize);
  uint8_t* quote = msg.head.Append(header_len + payload_len);
  std::memcpy(quote, bad.header.data(), header_len);
  std::memcpy(quote + header_len, bad.payload.data(), payload_len);
  IcmpHeader out{static_cast<uint8_t>(type), code, 0, rest};
  out.Write({hdr, kIcmpHeaderSize}, {quote, header_len + payload_len});
  stats_.OutMsgs.Inc();
  if (type == IcmpType::kDestUnreachable) stats_.OutDestUnreachs.Inc();
  if (ipv4_.Send(Ipv4Address::Any(), bad.ip.src, static_cast<uint8_t>(IpProtocol::kIcmp),
                 std::move(msg)) != 0) {
    stats_.OutErrors.Inc();
  }
}

}  // namespace netshim
