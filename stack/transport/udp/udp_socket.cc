#include "stack/transport/udp/udp_socket.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "stack/net/nic.h"
#include "stack/socket/iov.h"
#include "stack/transport/udp/udp_protocol.h"
#include "stack/wire/checksum.h"
#include "stack/wire/udp.h"

namespace netshim {
namespace {

constexpr int kRcvShutdown = 1;   // RCV_SHUTDOWN
constexpr int kSendShutdown = 2;  // SEND_SHUTDOWN
constexpr int kShutdownMask = 3;
constexpr uint8_t kProtocolUdp = static_cast<uint8_t>(IpProtocol::kUdp);
// Linux's IP_MULTICAST_TTL default.
constexpr uint8_t kMulticastTtl = 1;


}  // namespace

UdpSocket::UdpSocket(UdpProtocol& protocol, uint64_t id) : protocol_(protocol), id_(id) {}

UdpSocket::~UdpSocket() { Close(); }

// --- binding ---

int UdpSocket::Bind(const SocketAddress& local) {
  absl::MutexLock lock(&mu_);
  if (closed_) return -EBADF;
  return BindLocked(local);
}

// Linux __inet_bind.
int UdpSocket::BindLocked(const SocketAddress& local) {
  const Nic& nic = protocol_.ipv4().nic();
  const Ipv4Address a = local.address;
  const bool broadcast = nic.IsBroadcast(a) || a.IsMulticast();
  // inet_addr_valid_or_nonlocal: the wildcard, one of ours, or a broadcast/multicast address.
  if (!a.IsAny() && !nic.IsOurAddress(a) && !broadcast) return -EADDRNOTAVAIL;
  // "sk->sk_state != TCP_CLOSE || inet->inet_num": connected, or bound already.
  if (connected_ || local_port_ != 0) return -EINVAL;
  const PortRequest request{a, local.port, options_.reuse_addr, options_.reuse_port};
  PortTable::Id binding;
  const int port = protocol_.Bind(id_, weak_from_this(), request, &binding);
  if (port < 0) return port;
  binding_ = binding;
  local_port_ = static_cast<uint16_t>(port);
  bound_address_ = a;
  // "In the BSD API these are the same except where it would be illegal to use them
  // (multicast/broadcast) in which case the sending device address is used."
  source_address_ = broadcast ? Ipv4Address::Any() : a;
  address_locked_ = !a.IsAny();
  port_locked_ = local.port != 0;
  return 0;
}

// Linux inet_autobind: an ephemeral port, the address left as it is.
int UdpSocket::AutobindLocked() {
  const PortRequest request{bound_address_, 0, options_.reuse_addr, options_.reuse_port};
  PortTable::Id binding;
  const int port = protocol_.Bind(id_, weak_from_this(), request, &binding);
  if (port < 0) return -EAGAIN;  // inet_autobind's answer when the range is exhausted
  binding_ = binding;
  local_port_ = static_cast<uint16_t>(port);
  return 0;
}

UdpEndpointKey UdpSocket::KeyLocked() const {
  UdpEndpointKey key;
  key.local = bound_address_;
  key.local_port = local_port_;
  if (connected_) {
    key.remote = remote_.address;
    key.remote_port = remote_.port;
  }
  key.connected = connected_;
  key.reuse_port = options_.reuse_port;
  return key;
}

int UdpSocket::CheckRouteLocked(Ipv4Address dst) {
  Ipv4Layer& ipv4 = protocol_.ipv4();
  // Linux routes 0.0.0.0 to 127.0.0.1 as well; that rewrite is not done here.
  if (dst.IsAny()) return -ENETUNREACH;
  if (ipv4.nic().IsBroadcast(dst)) return options_.broadcast ? 0 : -EACCES;  // RTCF_BROADCAST
  if (dst.IsMulticast()) return 0;
  // 127/8 and our own address go through the loopback queue; a 127/8 source only there.
  return -ipv4.CheckRoute(source_address_, dst);
}

// Linux inet_dgram_connect + __ip4_datagram_connect.
int UdpSocket::Connect(const SocketAddress& remote) {
  absl::MutexLock lock(&mu_);
  if (closed_) return -EBADF;
  if (local_port_ == 0 && AutobindLocked() != 0) return -EAGAIN;
  if (int err = CheckRouteLocked(remote.address)) return err;
  const Ipv4Address ours = protocol_.ipv4().SourceAddressFor(remote.address);
  if (source_address_.IsAny()) source_address_ = ours;  // "Update source address"
  if (bound_address_.IsAny()) bound_address_ = ours;    // and rehash
  remote_ = remote;
  connected_ = true;
  protocol_.Update(id_, binding_, KeyLocked(), options_.reuse_addr);
  return 0;
}

// Linux __udp_disconnect: forgets the peer, and whatever bind() did not choose.
int UdpSocket::Disconnect() {
  absl::MutexLock lock(&mu_);
  if (closed_) return -EBADF;
  connected_ = false;
  remote_ = {};
  if (!address_locked_) {
    bound_address_ = Ipv4Address::Any();  // inet_reset_saddr
    source_address_ = Ipv4Address::Any();
  }
  if (binding_ == PortTable::kNoId) return 0;
  if (!port_locked_) {
    protocol_.Unbind(id_, binding_);
    binding_ = PortTable::kNoId;
    local_port_ = 0;
  } else {
    protocol_.Update(id_, binding_, KeyLocked(), options_.reuse_addr);
  }
  return 0;
}

// --- sending ---

ssize_t UdpSocket::SendMsg(std::span<const iovec> data, MessageInfo& info, int flags) {
  const size_t len = IovTotalLength(data);
  SendPlan plan;
  int err;
  {
    absl::MutexLock lock(&mu_);
    err = PrepareSendLocked(info, flags, len, &plan);
  }
  if (plan.error_taken) NotifyReadiness();  // POLLERR went away
  if (err != 0) return err;
  return Transmit(data, len, plan);
}

// The checks of Linux inet_sendmsg and udp_sendmsg, in their order.
int UdpSocket::PrepareSendLocked(const MessageInfo& info, int flags, size_t len, SendPlan* plan) {
  if (closed_) return -EBADF;
  // inet_send_prepare: autobind before anything else.
  if (local_port_ == 0 && AutobindLocked() != 0) return -EAGAIN;
  if (len > 0xffff) return -EMSGSIZE;
  if (flags & MSG_OOB) return -EOPNOTSUPP;  // "Mirror BSD error message compatibility"
  if (info.peer) {
    if (info.peer->port == 0) return -EINVAL;
    plan->dst = *info.peer;
  } else {
    if (!connected_) return -EDESTADDRREQ;
    plan->dst = remote_;
  }
  // A connected socket's route was checked by connect(); for others the IPv4 layer finds
  // no route itself (ENETUNREACH), so only what it cannot know is checked here.
  const Nic& nic = protocol_.ipv4().nic();
  const Ipv4Address dst = plan->dst.address;
  if (dst.IsAny()) return -ENETUNREACH;
  if (nic.IsBroadcast(dst) && !options_.broadcast) return -EACCES;
  if (len > kUdpMaxPayload) return -EMSGSIZE;  // __ip_append_data
  // sock_alloc_send_pskb: a pending error first, then a shut down sending side.
  if (error_ != 0) {
    const int e = error_;
    error_ = 0;
    plan->error_taken = true;
    return -e;
  }
  if (shutdown_ & kSendShutdown) return -EPIPE;
  plan->src = source_address_.IsAny() ? protocol_.ipv4().SourceAddressFor(dst) : source_address_;
  plan->sport = local_port_;
  plan->ttl = dst.IsMulticast()
                  ? kMulticastTtl
                  : static_cast<uint8_t>(options_.ttl < 0 ? kDefaultTtl : options_.ttl);
  plan->tos = options_.tos;
  plan->sndbuf = options_.sndbuf;
  return 0;
}

ssize_t UdpSocket::Transmit(std::span<const iovec> data, size_t len, const SendPlan& plan) {
  UdpStats& stats = protocol_.stats();
  Ipv4Layer& ipv4 = protocol_.ipv4();
  const size_t mtu = ipv4.nic().mtu();
  const size_t per_fragment = (mtu - kIpv4MinHeaderSize) & ~size_t{7};
  const size_t fragments = (len + kUdpHeaderSize + per_fragment - 1) / per_fragment;
  // Linux __ip_append_data charges every fragment's skb to the socket, and past the first
  // one refuses to go over twice SO_SNDBUF: a datagram too big for the send buffer gets
  // ENOBUFS. Nothing stays charged after sending (the link writes synchronously), so the
  // first fragment always fits and the socket is always writable.
  if (fragments > 1 &&
      (fragments - 1) * (mtu + UdpReceiveQueue::kOverhead) > 2 * static_cast<size_t>(plan.sndbuf)) {
    stats.SndbufErrors.Inc();
    return -ENOBUFS;
  }

  // One copy in: the payload goes straight from the caller's iovecs into pool buffers; the
  // first piece shares the header's buffer. Every piece but the last has an even length,
  // so their checksums can be summed one by one.
  BufferPool& pool = protocol_.pool();
  TxFrame frame(pool.Allocate(Nic::kHeadroom));
  if (!frame.head) {
    stats.SndbufErrors.Inc();  // Linux counts ENOBUFS here
    return -ENOBUFS;
  }
  uint8_t* header = frame.head.Append(kUdpHeaderSize);
  IovReader reader(data);
  size_t left = len;
  uint64_t payload_sum = 0;
  auto fill = [&](PacketBuffer& buf) {
    size_t n = std::min(left, buf.tailroom());
    if (n < left) n &= ~size_t{1};
    uint8_t* at = buf.Append(n);
    reader.Read(at, n);
    payload_sum = ChecksumAdd({at, n}, payload_sum);
    left -= n;
  };
  fill(frame.head);
  while (left > 0) {
    PacketBuffer piece = pool.Allocate(0);
    if (!piece || piece.tailroom() < 2) {
      stats.SndbufErrors.Inc();
      return -ENOBUFS;
    }
    fill(piece);
    frame.payload.push_back(std::move(piece));
  }
  UdpHeader h;
  h.src_port = plan.sport;
  h.dst_port = plan.dst.port;
  h.length = static_cast<uint16_t>(kUdpHeaderSize + len);
  h.WriteWithChecksum({header, kUdpHeaderSize}, plan.src, plan.dst.address, payload_sum);

  // DF stays clear: Linux sets it on datagrams that fit (IP_PMTUDISC_WANT) and learns the
  // path MTU from ICMP; with no path MTU cache yet, letting routers fragment is what works.
  Ipv4SendOptions options;
  options.ttl = plan.ttl;
  options.tos = plan.tos;
  switch (const int err =
              ipv4.Send(plan.src, plan.dst.address, kProtocolUdp, std::move(frame), options)) {
    case 0:
      stats.OutDatagrams.Inc();
      return static_cast<ssize_t>(len);
    case ENOBUFS:
      // udp_send_skb: a datagram lost for want of buffers below us is reported as sent
      // (without IP_RECVERR) and counted.
      stats.SndbufErrors.Inc();
      return static_cast<ssize_t>(len);
    default:
      return -err;
  }
}

// --- receiving ---

bool UdpSocket::Deliver(const SocketAddress& from, PacketBuffer payload) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return true;  // raced with close(): gone quietly, as an unhashed socket
    if (!queue_.Push(from, std::move(payload), static_cast<size_t>(options_.rcvbuf))) {
      return false;
    }
  }
  NotifyReadiness();
  return true;
}

void UdpSocket::DeliverError(int error) {
  {
    absl::MutexLock lock(&mu_);
    // "if (!harderr || sk->sk_state != TCP_ESTABLISHED) goto out;"
    if (closed_ || !connected_) return;
    error_ = error;
  }
  NotifyReadiness();
}

// Linux udp_recvmsg / __skb_recv_udp.
ssize_t UdpSocket::RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) {
  // No IP_RECVERR, so the error queue is always empty (ip_recv_error).
  if (flags & MSG_ERRQUEUE) return -EAGAIN;
  UdpReceiveQueue::Datagram d;
  bool now_empty = false;
  int error = 0;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return -EBADF;
    if (error_ != 0) {  // sock_error(): read and cleared
      error = error_;
      error_ = 0;
    } else if (queue_.empty()) {
      // A shut down receiving side ends a blocking read with 0; a non-blocking one still
      // says EAGAIN (__skb_wait_for_more_packets is only reached when blocking).
      if ((shutdown_ & kRcvShutdown) && !(flags & MSG_DONTWAIT)) return 0;
      return -EAGAIN;
    } else if (flags & MSG_PEEK) {
      d.from = queue_.Front().from;
      d.payload = queue_.Front().payload;  // shares the bytes
    } else {
      d = queue_.Pop();
      now_empty = queue_.empty();
    }
  }
  if (error != 0) {
    NotifyReadiness();  // POLLERR went away
    return -error;
  }
  const size_t size = d.payload.size();
  const size_t copied = CopyToIov(d.payload.span(), data);
  info.peer = d.from;
  info.flags = copied < size ? MSG_TRUNC : 0;
  if (!(flags & MSG_PEEK)) protocol_.stats().InDatagrams.Inc();  // counted when read
  if (now_empty) NotifyReadiness();
  return static_cast<ssize_t>((flags & MSG_TRUNC) ? size : copied);
}

// --- state ---

// Linux inet_shutdown: the flags are set even on an unconnected socket, which gets ENOTCONN
// (the "hack to wake up other listeners": a thread blocked in recv() returns 0).
int UdpSocket::Shutdown(int how) {
  if (how < SHUT_RD || how > SHUT_RDWR) return -EINVAL;
  int err;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return -EBADF;
    shutdown_ |= how + 1;
    err = connected_ ? 0 : -ENOTCONN;
  }
  NotifyReadiness();
  return err;
}

void UdpSocket::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  if (binding_ != PortTable::kNoId) protocol_.Unbind(id_, binding_);
  binding_ = PortTable::kNoId;
  local_port_ = 0;
  connected_ = false;
  queue_.Clear();
}

int UdpSocket::GetSockName(SocketAddress* out) const {
  absl::MutexLock lock(&mu_);
  // inet_getname: rcv_saddr, or saddr when that is unset.
  out->address = bound_address_.IsAny() ? source_address_ : bound_address_;
  out->port = local_port_;
  return 0;
}

int UdpSocket::GetPeerName(SocketAddress* out) const {
  absl::MutexLock lock(&mu_);
  // inet_getname: "if (!inet->inet_dport ...) return -ENOTCONN" (connect to port 0 too).
  if (!connected_ || remote_.port == 0) return -ENOTCONN;
  *out = remote_;
  return 0;
}

// Linux udp_poll / datagram_poll.
uint32_t UdpSocket::Poll() const {
  absl::MutexLock lock(&mu_);
  uint32_t mask = 0;
  if (error_ != 0) mask |= POLLERR;
  if (shutdown_ & kRcvShutdown) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
  if (shutdown_ == kShutdownMask) mask |= POLLHUP;
  if (!queue_.empty()) mask |= POLLIN | POLLRDNORM;
  // sock_writeable: nothing stays charged to the send buffer once sent.
  mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
  return mask;
}

int UdpSocket::BytesReadable() const {
  absl::MutexLock lock(&mu_);
  return queue_.empty() ? 0 : static_cast<int>(queue_.Front().payload.size());
}

std::optional<absl::Duration> UdpSocket::ReceiveTimeout() const {
  absl::MutexLock lock(&mu_);
  return options_.rcvtimeo;
}

std::optional<absl::Duration> UdpSocket::SendTimeout() const {
  absl::MutexLock lock(&mu_);
  return options_.sndtimeo;
}

int UdpSocket::receive_low_watermark() const {
  absl::MutexLock lock(&mu_);
  return options_.rcvlowat;
}

size_t UdpSocket::receive_memory() const {
  absl::MutexLock lock(&mu_);
  return queue_.memory();
}

}  // namespace netshim
