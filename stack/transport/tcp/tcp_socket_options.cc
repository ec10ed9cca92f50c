// TcpSocket's setsockopt/getsockopt: Linux net/core/sock.c (sk_setsockopt, sk_getsockopt),
// net/ipv4/ip_sockglue.c for IP_TTL/IP_TOS, and net/ipv4/tcp.c (do_tcp_setsockopt,
// do_tcp_getsockopt, tcp_get_info) with their value checks and errno values. Options we
// do not implement get ENOPROTOOPT, never a silent success.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "stack/socket/option_values.h"
#include "stack/transport/tcp/congestion/registry.h"
#include "stack/transport/tcp/seq.h"
#include "stack/transport/tcp/tcp_protocol.h"
#include "stack/transport/tcp/tcp_socket.h"

namespace netshim {
namespace {

constexpr int kSockMinRcvbuf = 2304;  // SOCK_MIN_RCVBUF
constexpr int kSockMinSndbuf = 4608;  // SOCK_MIN_SNDBUF
constexpr int kMaxTcpKeepIdle = 32767;  // MAX_TCP_KEEPIDLE, seconds
constexpr int kMaxTcpKeepIntvl = 32767;
constexpr int kMaxTcpKeepCnt = 127;
constexpr int kMaxTcpSynCnt = 127;
constexpr int kMaxTcpWindow = 32767;  // MAX_TCP_WINDOW: TCP_MAXSEG's upper bound
constexpr int kMinTcpMss = 88;        // TCP_MIN_MSS

}  // namespace

int TcpSocket::SetSockOpt(int level, int name, std::span<const uint8_t> value) {
  mu_.Lock();
  Effects fx;
  int result = -ENOPROTOOPT;
  const bool has_int = value.size() >= sizeof(int);
  const int val = has_int ? ReadInt(value) : 0;
  if (level == SOL_SOCKET) {
    if (IsRcvTimeo(name)) {
      result = ParseTimeout(value, &options_.rcvtimeo);
    } else if (IsSndTimeo(name)) {
      result = ParseTimeout(value, &options_.sndtimeo);
    } else if (name == SO_LINGER) {
      linger l{};
      if (value.size() < sizeof(l)) {
        result = -EINVAL;
      } else {
        // sk_setsockopt: l_onoff 0 only stops lingering (the time stays); a negative
        // l_linger is a huge unsigned time, i.e. forever.
        std::memcpy(&l, value.data(), sizeof(l));
        options_.linger = l.l_onoff != 0;
        if (l.l_onoff != 0) options_.linger_seconds = l.l_linger;
        result = 0;
      }
    } else if (!has_int) {
      result = -EINVAL;
    } else {
      result = 0;
      switch (name) {
        case SO_REUSEADDR:
        case SO_REUSEPORT:
          (name == SO_REUSEADDR ? options_.reuse_addr : options_.reuse_port) = val != 0;
          if (binding_ != PortTable::kNoId) {
            protocol_.ports().SetReuse(binding_, options_.reuse_addr, options_.reuse_port);
          }
          break;
        case SO_KEEPALIVE:
          options_.keepalive = val != 0;
          ArmKeepaliveLocked();
          break;
        case SO_BROADCAST:
          options_.broadcast = val != 0;  // kept; no effect on TCP, as on Linux
          break;
        case SO_DONTROUTE:
          options_.dontroute = val != 0;
          break;
        case SO_OOBINLINE:
          options_.oobinline = val != 0;
          break;
        case SO_PRIORITY:
          if (val < 0 || val > 6) {
            result = -EPERM;
          } else {
            options_.priority = val;
          }
          break;
        case SO_RCVBUF:
        case SO_RCVBUFFORCE:
          // SO_RCVBUF: min(val as unsigned, rmem_max); the FORCE variant: max(val, 0).
          options_.rcvbuf = name == SO_RCVBUF
                                ? BufferSize(val, config_.core_rmem_max, kSockMinRcvbuf)
                                : BufferSize(std::max(val, 0), INT_MAX / 2, kSockMinRcvbuf);
          options_.rcvbuf_locked = true;
          ofo_.SetMaxBytes(ReceiveSpaceLocked());
          break;
        case SO_SNDBUF:
        case SO_SNDBUFFORCE:
          options_.sndbuf = name == SO_SNDBUF
                                ? BufferSize(val, config_.core_wmem_max, kSockMinSndbuf)
                                : BufferSize(std::max(val, 0), INT_MAX / 2, kSockMinSndbuf);
          options_.sndbuf_locked = true;
          fx.notify = true;
          break;
        case SO_RCVLOWAT: {
          // sk_setsockopt (negative: INT_MAX) then tcp_set_rcvlowat: at most half the
          // largest buffer (tcp_rmem[2], or SO_RCVBUF once the user set it); 0 means 1.
          const int cap = (options_.rcvbuf_locked ? options_.rcvbuf : config_.rmem_max) / 2;
          const int v = std::min(val < 0 ? INT_MAX : val, cap);
          options_.rcvlowat = v == 0 ? 1 : v;
          fx.notify = true;
          break;
        }
        default:
          result = -ENOPROTOOPT;
      }
    }
  } else if (level == IPPROTO_IP) {
    // do_ip_setsockopt reads an int, or one byte when the value is shorter.
    const int v = has_int ? val : (value.empty() ? 0 : value[0]);
    if (name == IP_TTL) {
      if (value.empty() || (v != -1 && (v < 1 || v > 255))) {
        result = -EINVAL;
      } else {
        options_.ttl = v;
        result = 0;
      }
    } else if (name == IP_TOS) {
      // TCP keeps the ECN bits its own (__ip_sock_set_tos).
      options_.tos = static_cast<uint8_t>((v & ~0x03) | (options_.tos & 0x03));
      result = 0;
    }
  } else if (level == IPPROTO_TCP) {
    result = SetTcpOptionLocked(name, value, fx);
  }
  Finish(fx);
  return result;
}

int TcpSocket::SetTcpOptionLocked(int name, std::span<const uint8_t> value, Effects& fx) {
  if (name == TCP_CONGESTION) {
    if (value.empty()) return -EINVAL;
    std::string algorithm(reinterpret_cast<const char*>(value.data()),
                          strnlen(reinterpret_cast<const char*>(value.data()),
                                  std::min<size_t>(value.size(), 16)));
    std::unique_ptr<CongestionControl> cc;
    const int err = NewCongestionControl(algorithm, &cc);
    if (err != 0) return err;
    if (IsSynchronized(state_)) cc->OnEstablished(syn_retransmits_, protocol_.clock().Now());
    cc_ = std::move(cc);
    return 0;
  }
  if (value.size() < sizeof(int)) return -EINVAL;
  const int val = ReadInt(value);
  switch (name) {
    case TCP_NODELAY:
      options_.nodelay = val != 0;
      if (options_.nodelay) PushLocked();  // tcp_push_pending_frames
      return 0;
    case TCP_CORK:
      options_.cork = val != 0;
      if (!options_.cork) PushLocked();  // uncorking sends what was held
      return 0;
    case TCP_MAXSEG:
      // do_tcp_setsockopt: 0 resets; else TCP_MIN_MSS (88) .. MAX_TCP_WINDOW.
      // Recorded only: the MSS was settled by the handshake (Linux never revisits it).
      if (val != 0 && (val < kMinTcpMss || val > kMaxTcpWindow)) return -EINVAL;
      options_.user_mss = static_cast<uint16_t>(val);
      return 0;
    case TCP_QUICKACK:
      // Linux: 1 leaves the delayed-ACK ("pingpong") mode and sends an ACK owed now;
      // 0 enters it.
      if (val != 0) {
        pingpong_ = false;
        quickacks_ = config_.quickack_segments;
        if (ack_pending_) SendAckLocked();
      } else {
        pingpong_ = true;
      }
      return 0;
    case TCP_KEEPIDLE:
      if (val < 1 || val > kMaxTcpKeepIdle) return -EINVAL;
      options_.keepidle = absl::Seconds(val);
      ArmKeepaliveLocked();
      return 0;
    case TCP_KEEPINTVL:
      if (val < 1 || val > kMaxTcpKeepIntvl) return -EINVAL;
      options_.keepintvl = absl::Seconds(val);
      return 0;
    case TCP_KEEPCNT:
      if (val < 1 || val > kMaxTcpKeepCnt) return -EINVAL;
      options_.keepcnt = val;
      return 0;
    case TCP_SYNCNT:
      if (val < 1 || val > kMaxTcpSynCnt) return -EINVAL;
      options_.syn_count = val;
      return 0;
    case TCP_USER_TIMEOUT:
      if (val < 0) return -EINVAL;
      options_.user_timeout = absl::Milliseconds(val);
      return 0;
    default:
      (void)fx;
      return -ENOPROTOOPT;
  }
}

int TcpSocket::GetSockOpt(int level, int name, void* value, socklen_t* len) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(*len) < 0) return -EINVAL;
  if (level == SOL_SOCKET) {
    if (IsRcvTimeo(name)) return PutTimeout(options_.rcvtimeo, value, len);
    if (IsSndTimeo(name)) return PutTimeout(options_.sndtimeo, value, len);
    switch (name) {
      case SO_TYPE: return PutInt(SOCK_STREAM, value, len);
      case SO_DOMAIN: return PutInt(AF_INET, value, len);
      case SO_PROTOCOL: return PutInt(IPPROTO_TCP, value, len);
      case SO_ACCEPTCONN: return PutInt(state_ == TcpState::kListen ? 1 : 0, value, len);
      case SO_ERROR: {
        const int e = error_;
        error_ = 0;
        return PutInt(e, value, len);
      }
      case SO_REUSEADDR: return PutInt(options_.reuse_addr ? 1 : 0, value, len);
      case SO_REUSEPORT: return PutInt(options_.reuse_port ? 1 : 0, value, len);
      case SO_KEEPALIVE: return PutInt(options_.keepalive ? 1 : 0, value, len);
      case SO_BROADCAST: return PutInt(options_.broadcast ? 1 : 0, value, len);
      case SO_DONTROUTE: return PutInt(options_.dontroute ? 1 : 0, value, len);
      case SO_OOBINLINE: return PutInt(options_.oobinline ? 1 : 0, value, len);
      case SO_PRIORITY: return PutInt(options_.priority, value, len);
      case SO_RCVBUF: return PutInt(options_.rcvbuf, value, len);
      case SO_SNDBUF: return PutInt(options_.sndbuf, value, len);
      case SO_RCVLOWAT: return PutInt(options_.rcvlowat, value, len);
      case SO_SNDLOWAT: return PutInt(1, value, len);
      case SO_LINGER: {
        linger l{options_.linger ? 1 : 0, static_cast<int>(options_.linger_seconds)};
        return PutBytes(&l, sizeof(l), value, len);
      }
      default: return -ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_IP) {
    int v;
    switch (name) {
      case IP_TTL: v = options_.ttl < 0 ? 64 : options_.ttl; break;
      case IP_TOS: v = options_.tos; break;
      default: return -ENOPROTOOPT;
    }
    // do_ip_getsockopt: a buffer shorter than an int gets one byte for 0..255.
    if (*len > 0 && *len < sizeof(int) && v >= 0 && v <= 255) {
      const uint8_t byte = static_cast<uint8_t>(v);
      return PutBytes(&byte, 1, value, len);
    }
    return PutInt(v, value, len);
  }
  // ip_getsockopt answers any other level with EOPNOTSUPP.
  if (level != IPPROTO_TCP) return -EOPNOTSUPP;
  switch (name) {
    case TCP_NODELAY: return PutInt(options_.nodelay ? 1 : 0, value, len);
    case TCP_CORK: return PutInt(options_.cork ? 1 : 0, value, len);
    case TCP_MAXSEG: {
      // do_tcp_getsockopt: the current MSS once connected, else what the user set (or
      // the default 536).
      int mss = IsSynchronized(state_) ? send_mss_ : options_.user_mss;
      if (mss == 0) mss = 536;
      return PutInt(mss, value, len);
    }
    case TCP_QUICKACK: return PutInt(pingpong_ ? 0 : 1, value, len);
    case TCP_KEEPIDLE: return PutInt(static_cast<int>(absl::ToInt64Seconds(KeepIdleLocked())), value, len);
    case TCP_KEEPINTVL:
      return PutInt(static_cast<int>(absl::ToInt64Seconds(KeepIntvlLocked())), value, len);
    case TCP_KEEPCNT: return PutInt(KeepCntLocked(), value, len);
    case TCP_SYNCNT:
      return PutInt(options_.syn_count > 0 ? options_.syn_count : config_.syn_retries, value, len);
    case TCP_USER_TIMEOUT:
      return PutInt(static_cast<int>(absl::ToInt64Milliseconds(options_.user_timeout)), value,
                    len);
    case TCP_CONGESTION: {
      char name_buf[16] = {};
      const std::string_view n = cc_->name();
      std::memcpy(name_buf, n.data(), std::min(n.size(), sizeof(name_buf) - 1));
      return PutBytes(name_buf, sizeof(name_buf), value, len);
    }
    case TCP_INFO: {
      tcp_info info{};
      FillTcpInfoLocked(&info);
      return PutBytes(&info, sizeof(info), value, len);
    }
    default: return -ENOPROTOOPT;
  }
}

void TcpSocket::FillTcpInfoLocked(tcp_info* info) const {
  // Linux tcp_get_info. Times in microseconds (rto, ato, rtt) or milliseconds (last_*).
  const absl::Time now = protocol_.clock().Now();
  info->tcpi_state = static_cast<uint8_t>(state_);
  info->tcpi_ca_state = in_recovery_ ? 3 /* TCP_CA_Recovery */ : (in_loss_ ? 4 /* Loss */ : 0);
  info->tcpi_retransmits = static_cast<uint8_t>(std::min<uint32_t>(retransmits_, 255));
  info->tcpi_probes = static_cast<uint8_t>(std::min<uint32_t>(probes_out_, 255));
  info->tcpi_backoff = static_cast<uint8_t>(std::min<uint32_t>(rtt_.backoff_count(), 255));
  uint8_t opts = 0;
  if (ts_ok_) opts |= TCPI_OPT_TIMESTAMPS;
  if (sack_ok_) opts |= TCPI_OPT_SACK;
  if (wscale_ok_) opts |= TCPI_OPT_WSCALE;
  info->tcpi_options = opts;
  info->tcpi_snd_wscale = snd_wscale_ & 0xf;
  info->tcpi_rcv_wscale = rcv_wscale_ & 0xf;
  info->tcpi_rto = static_cast<uint32_t>(absl::ToInt64Microseconds(rtt_.rto()));
  info->tcpi_ato = static_cast<uint32_t>(absl::ToInt64Microseconds(config_.delayed_ack));
  info->tcpi_snd_mss = send_mss_;
  info->tcpi_rcv_mss = rcv_mss_;
  const bool live = IsSynchronized(state_) && state_ != TcpState::kTimeWait;
  const uint32_t mss = std::max<uint32_t>(send_mss_, 1);
  if (live) {
    info->tcpi_unacked = (SeqDiff(snd_max_, snd_una_) + mss - 1) / mss;
    info->tcpi_sacked = scoreboard_.sacked_bytes() / mss;
    info->tcpi_lost = sack_ok_ ? scoreboard_.LostBytes(mss) / mss : 0;
  }
  info->tcpi_retrans = in_recovery_ || in_loss_ ? 1 : 0;
  auto ms_since = [&](absl::Time t) {
    return t == absl::Time() ? 0u : static_cast<uint32_t>(absl::ToInt64Milliseconds(now - t));
  };
  info->tcpi_last_data_sent = ms_since(last_send_);
  info->tcpi_last_data_recv = ms_since(last_data_receive_);
  info->tcpi_last_ack_recv = ms_since(last_receive_);
  info->tcpi_pmtu = std::min<uint32_t>(path_mtu_, protocol_.ipv4().nic().mtu());
  info->tcpi_rcv_ssthresh = ReceiveSpaceLocked();
  info->tcpi_rtt = static_cast<uint32_t>(absl::ToInt64Microseconds(rtt_.srtt()));
  info->tcpi_rttvar = static_cast<uint32_t>(absl::ToInt64Microseconds(rtt_.rttvar()));
  info->tcpi_snd_ssthresh = cc_->ssthresh();
  info->tcpi_snd_cwnd = cc_->cwnd();
  info->tcpi_advmss = AdvertisedMssLocked() - (ts_ok_ ? 12 : 0);
  info->tcpi_reordering = SackScoreboard::kDupThresh;
  info->tcpi_rcv_rtt = static_cast<uint32_t>(absl::ToInt64Microseconds(rcv_rtt_));
  info->tcpi_rcv_space = ReceiveSpaceLocked();
  info->tcpi_total_retrans = total_retrans_;
  info->tcpi_bytes_acked = bytes_acked_;
  info->tcpi_bytes_received = bytes_received_;
  info->tcpi_segs_out = segs_out_;
  info->tcpi_segs_in = segs_in_;
  info->tcpi_notsent_bytes = SeqGt(write_seq_, snd_max_) ? write_seq_ - snd_max_ : 0;
  info->tcpi_min_rtt = info->tcpi_rtt;
  info->tcpi_data_segs_out = segs_out_;
  info->tcpi_bytes_sent = bytes_sent_;
  info->tcpi_bytes_retrans = 0;
  info->tcpi_snd_wnd = snd_wnd_;
}

}  // namespace netshim
