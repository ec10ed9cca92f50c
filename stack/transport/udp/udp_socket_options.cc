// UdpSocket's setsockopt/getsockopt: Linux net/core/sock.c (sk_setsockopt, sk_getsockopt),
// net/ipv4/ip_sockglue.c (do_ip_setsockopt, do_ip_getsockopt) and net/ipv4/udp.c
// (udp_lib_setsockopt), with their value checks and errno values.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "stack/net/nic.h"
#include "stack/socket/option_values.h"
#include "stack/transport/udp/udp_protocol.h"
#include "stack/transport/udp/udp_socket.h"

namespace netshim {

int UdpSocket::SetSockOpt(int level, int name, std::span<const uint8_t> value) {
  absl::MutexLock lock(&mu_);
  if (closed_) return -EBADF;
  switch (level) {
    case SOL_SOCKET:
      return SetSocketOptionLocked(name, value);
    case IPPROTO_IP:
      return SetIpOptionLocked(name, value);
    case IPPROTO_UDP:
      // udp_lib_setsockopt: the length is checked first; UDP_CORK, UDP_SEGMENT, UDP_GRO and
      // the encapsulation options are not supported yet.
      if (value.size() < sizeof(int)) return -EINVAL;
      return -ENOPROTOOPT;
    default:
      return -ENOPROTOOPT;  // ip_setsockopt: "if (level != SOL_IP) return -ENOPROTOOPT"
  }
}

int UdpSocket::SetSocketOptionLocked(int name, std::span<const uint8_t> value) {
  if (value.size() < sizeof(int)) return -EINVAL;
  const int val = ReadInt(value);
  if (IsRcvTimeo(name)) return ParseTimeout(value, &options_.rcvtimeo);
  if (IsSndTimeo(name)) return ParseTimeout(value, &options_.sndtimeo);
  switch (name) {
    case SO_REUSEADDR:
    case SO_REUSEPORT:
      (name == SO_REUSEADDR ? options_.reuse_addr : options_.reuse_port) = val != 0;
      // Later binds by others check the flags as they are now.
      if (binding_ != PortTable::kNoId) {
        protocol_.Update(id_, binding_, KeyLocked(), options_.reuse_addr);
      }
      return 0;
    case SO_BROADCAST:
      options_.broadcast = val != 0;
      return 0;
    case SO_KEEPALIVE:
      options_.keepalive = val != 0;
      return 0;
    case SO_DONTROUTE:
      options_.dontroute = val != 0;
      return 0;
    case SO_PRIORITY:
      // Values above 6 need CAP_NET_ADMIN, which a program under the shim is not granted.
      if (val < 0 || val > 6) return -EPERM;
      options_.priority = val;
      return 0;
    case SO_RCVBUF:
      options_.rcvbuf = BufferSize(val, kUdpRmemMax, kSockMinRcvbuf);
      return 0;
    case SO_SNDBUF:
      options_.sndbuf = BufferSize(val, kUdpWmemMax, kSockMinSndbuf);
      return 0;
    case SO_RCVBUFFORCE:
    case SO_SNDBUFFORCE:
      return -EPERM;  // CAP_NET_ADMIN only
    case SO_RCVLOWAT:
      // No set_rcvlowat for datagram sockets: "sk->sk_rcvlowat = val ? : 1", negative = max.
      options_.rcvlowat = val < 0 ? INT_MAX : (val == 0 ? 1 : val);
      return 0;
    default:
      // Read-only ones (SO_TYPE, SO_ERROR, SO_SNDLOWAT, ...) and what we lack.
      return -ENOPROTOOPT;
  }
}

int UdpSocket::SetIpOptionLocked(int name, std::span<const uint8_t> value) {
  // do_ip_setsockopt: an int, or a single byte; no bytes at all reads as 0.
  int val = 0;
  if (value.size() >= sizeof(int)) {
    val = ReadInt(value);
  } else if (!value.empty()) {
    val = value[0];
  }
  switch (name) {
    case IP_TTL:
      if (value.empty()) return -EINVAL;
      if (val != -1 && (val < 1 || val > 255)) return -EINVAL;
      options_.ttl = val;
      return 0;
    case IP_TOS:
      options_.tos = static_cast<uint8_t>(val);  // the field is 8 bits; UDP keeps ECN bits
      return 0;
    default:
      return -ENOPROTOOPT;
  }
}

int UdpSocket::GetSockOpt(int level, int name, void* value, socklen_t* len) {
  if (level != SOL_SOCKET && level != IPPROTO_IP && level != IPPROTO_UDP) {
    return -EOPNOTSUPP;  // ip_getsockopt, before it looks at anything else
  }
  if (static_cast<int>(*len) < 0) return -EINVAL;  // "if (len < 0) return -EINVAL"
  if (level == SOL_SOCKET && name == SO_ERROR) {
    int error;
    {
      absl::MutexLock lock(&mu_);
      error = error_;  // sock_error(): read and cleared
      error_ = 0;
    }
    if (error != 0) NotifyReadiness();
    return PutInt(error, value, len);
  }
  absl::MutexLock lock(&mu_);
  switch (level) {
    case SOL_SOCKET:
      return GetSocketOptionLocked(name, value, len);
    case IPPROTO_IP:
      return GetIpOptionLocked(name, value, len);
    default:  // IPPROTO_UDP: UDP_CORK, UDP_SEGMENT, ... are not supported yet
      return -ENOPROTOOPT;
  }
}

int UdpSocket::GetSocketOptionLocked(int name, void* value, socklen_t* len) {
  if (IsRcvTimeo(name)) return PutTimeout(options_.rcvtimeo, value, len);
  if (IsSndTimeo(name)) return PutTimeout(options_.sndtimeo, value, len);
  switch (name) {
    case SO_TYPE:
      return PutInt(SOCK_DGRAM, value, len);
    case SO_PROTOCOL:
      return PutInt(IPPROTO_UDP, value, len);
    case SO_DOMAIN:
      return PutInt(AF_INET, value, len);
    case SO_ACCEPTCONN:
      return PutInt(0, value, len);
    case SO_REUSEADDR:
      return PutInt(options_.reuse_addr, value, len);
    case SO_REUSEPORT:
      return PutInt(options_.reuse_port, value, len);
    case SO_BROADCAST:
      return PutInt(options_.broadcast, value, len);
    case SO_KEEPALIVE:
      return PutInt(options_.keepalive, value, len);
    case SO_DONTROUTE:
      return PutInt(options_.dontroute, value, len);
    case SO_PRIORITY:
      return PutInt(options_.priority, value, len);
    case SO_RCVBUF:
      return PutInt(options_.rcvbuf, value, len);
    case SO_SNDBUF:
      return PutInt(options_.sndbuf, value, len);
    case SO_RCVLOWAT:
      return PutInt(options_.rcvlowat, value, len);
    case SO_SNDLOWAT:
      return PutInt(1, value, len);  // fixed in Linux
    default:
      return -ENOPROTOOPT;
  }
}

int UdpSocket::GetIpOptionLocked(int name, void* value, socklen_t* len) {
  int val;
  switch (name) {
    case IP_TTL:
      val = options_.ttl < 0 ? kDefaultTtl : options_.ttl;
      break;
    case IP_TOS:
      val = options_.tos;
      break;
    case IP_MTU:
      if (!connected_) return -ENOTCONN;  // needs the route a connect() made
      val = static_cast<int>(protocol_.ipv4().nic().mtu());
      break;
    default:
      return -ENOPROTOOPT;
  }
  // do_ip_getsockopt: a buffer shorter than an int gets one byte when the value fits.
  if (*len < sizeof(int) && *len > 0 && val >= 0 && val <= 255) {
    const auto byte = static_cast<unsigned char>(val);
    std::memcpy(value, &byte, 1);
    *len = 1;
    return 0;
  }
  return PutInt(val, value, len);
}

}  // namespace netshim
