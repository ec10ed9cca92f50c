#include "stack/link/software_gso.h"

#include <algorithm>

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"
#include "stack/wire/virtio_net.h"

namespace netshim {
namespace {

// The TCP/IPv4 headers of a TSO frame: where each starts and how long it is.
struct TcpIpv4Layout {
  size_t ip = 0;
  size_t tcp = 0;
  size_t payload = 0;  // first payload byte
};

std::optional<TcpIpv4Layout> FindTcpIpv4(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeaderSize + kIpv4MinHeaderSize) return std::nullopt;
  if (Load16(&frame[12]) != 0x0800) return std::nullopt;  // untagged IPv4 only
  TcpIpv4Layout l;
  l.ip = kEthernetHeaderSize;
  const uint8_t version_ihl = frame[l.ip];
  const size_t ihl = size_t{version_ihl & 0x0fu} * 4;
  if ((version_ihl >> 4) != 4 || ihl < kIpv4MinHeaderSize || frame[l.ip + 9] != 6)
    return std::nullopt;
  l.tcp = l.ip + ihl;
  if (frame.size() < l.tcp + kTcpMinHeaderSize) return std::nullopt;
  const size_t doff = static_cast<size_t>(frame[l.tcp + 12] >> 4) * 4;
  if (doff < kTcpMinHeaderSize) return std::nullopt;
  l.payload = l.tcp + doff;
  if (frame.size() < l.payload) return std::nullopt;
  return l;
}

void FinishTcpChecksum(std::vector<uint8_t>& seg, const TcpIpv4Layout& l) {
  const Ipv4Address src{Load32(&seg[l.ip + 12])};
  const Ipv4Address dst{Load32(&seg[l.ip + 16])};
  const size_t tcp_length = seg.size() - l.tcp;
  Store16(&seg[l.tcp + 16], 0);
  uint64_t sum = PseudoHeaderSum(src, dst, 6, static_cast<uint16_t>(tcp_length));
  sum = ChecksumAdd(std::span<const uint8_t>(seg).subspan(l.tcp), sum);
  Store16(&seg[l.tcp + 16], ChecksumFinish(sum));
}

}  // namespace

std::optional<std::vector<std::vector<uint8_t>>> ApplyOffloads(std::span<const uint8_t> frame,
                                                               const TxOffload& offload) {
  std::vector<std::vector<uint8_t>> out;
  if (offload.gso_size == 0) {
    std::vector<uint8_t> copy(frame.begin(), frame.end());
    if (offload.needs_checksum &&
        !CompletePartialChecksum(copy, offload.csum_start, offload.csum_offset)) {
      return std::nullopt;
    }
    out.push_back(std::move(copy));
    return out;
  }
  const std::optional<TcpIpv4Layout> l = FindTcpIpv4(frame);
  // Linux virtio_net_hdr_to_skb: GSO needs the partial checksum, at the TCP checksum field.
  if (!l || !offload.needs_checksum || offload.csum_start != l->tcp || offload.csum_offset != 16) {
    return std::nullopt;
  }
  const std::span<const uint8_t> headers = frame.first(l->payload);
  const std::span<const uint8_t> payload = frame.subspan(l->payload);
  const uint32_t seq = Load32(&frame[l->tcp + 4]);
  const uint16_t id = Load16(&frame[l->ip + 4]);
  const uint8_t flags = frame[l->tcp + 13];
  const size_t count =
      std::max<size_t>(1, (payload.size() + offload.gso_size - 1) / offload.gso_size);
  for (size_t i = 0; i < count; ++i) {
    const size_t off = i * offload.gso_size;
    const size_t len = std::min<size_t>(offload.gso_size, payload.size() - off);
    std::vector<uint8_t> seg(headers.begin(), headers.end());
    seg.insert(seg.end(), payload.begin() + static_cast<ptrdiff_t>(off),
               payload.begin() + static_cast<ptrdiff_t>(off + len));
    // inet_gso_segment: each segment's length and checksum, and IDs counting up.
    Store16(&seg[l->ip + 2], static_cast<uint16_t>(seg.size() - l->ip));
    Store16(&seg[l->ip + 4], static_cast<uint16_t>(id + i));
    Store16(&seg[l->ip + 10], 0);
    Store16(&seg[l->ip + 10],
            InternetChecksum(std::span<const uint8_t>(seg).subspan(l->ip, l->tcp - l->ip)));
    // tcp_gso_segment: sequence numbers advance; CWR only on the first segment, FIN and
    // PSH only on the last.
    Store32(&seg[l->tcp + 4], seq + static_cast<uint32_t>(off));
    uint8_t f = flags;
    if (i > 0) f &= static_cast<uint8_t>(~kTcpCwr);
    if (i + 1 < count) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    seg[l->tcp + 13] = f;
    FinishTcpChecksum(seg, *l);
    out.push_back(std::move(seg));
  }
  return out;
}

}  // namespace netshim
