// A UDP socket with Linux's semantics (net/ipv4/udp.c, net/ipv4/af_inet.c,
// net/ipv4/datagram.c, net/core/sock.c): bind, connect as a default peer, datagrams kept
// whole, errno values as the kernel gives them.
//
// Threads. Every field below is guarded by mu_. Application threads call the Socket API;
// the dispatch thread calls Deliver()/DeliverError(). Lock order: mu_, then the protocol's
// demux lock, then the port table's (see udp_protocol.h). Neither the IPv4 layer nor the
// readiness listeners are ever called with mu_ held: a send takes what it needs under the
// lock and transmits after letting go.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stack/socket/socket.h"
#include "stack/transport/port_table.h"
#include "stack/transport/udp/udp_demux.h"
#include "stack/transport/udp/udp_receive_queue.h"

namespace netshim {

class UdpProtocol;

// Linux defaults (net.core.*mem_default / *mem_max; SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF).
inline constexpr int kUdpDefaultRcvbuf = 212992;
inline constexpr int kUdpDefaultSndbuf = 212992;
inline constexpr int kUdpRmemMax = 212992;
inline constexpr int kUdpWmemMax = 212992;
inline constexpr int kSockMinRcvbuf = 2304;
inline constexpr int kSockMinSndbuf = 4608;

class UdpSocket final : public Socket, public std::enable_shared_from_this<UdpSocket> {
 public:
  // Made by UdpProtocol::CreateSocket().
  UdpSocket(UdpProtocol& protocol, uint64_t id);
  // Releases the port if Close() was not called.
  ~UdpSocket() override;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int type() const override { return SOCK_DGRAM; }
  int protocol() const override { return IPPROTO_UDP; }

  int Bind(const SocketAddress& local) override ABSL_LOCKS_EXCLUDED(mu_);
  int Connect(const SocketAddress& remote) override ABSL_LOCKS_EXCLUDED(mu_);
  int Disconnect() override ABSL_LOCKS_EXCLUDED(mu_);
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo& info, int flags) override
      ABSL_LOCKS_EXCLUDED(mu_);
  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) override
      ABSL_LOCKS_EXCLUDED(mu_);
  int Shutdown(int how) override ABSL_LOCKS_EXCLUDED(mu_);
  void Close() override ABSL_LOCKS_EXCLUDED(mu_);
  int GetSockName(SocketAddress* out) const override ABSL_LOCKS_EXCLUDED(mu_);
  int GetPeerName(SocketAddress* out) const override ABSL_LOCKS_EXCLUDED(mu_);
  int SetSockOpt(int level, int name, std::span<const uint8_t> value) override
      ABSL_LOCKS_EXCLUDED(mu_);
  int GetSockOpt(int level, int name, void* value, socklen_t* len) override
      ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t Poll() const override ABSL_LOCKS_EXCLUDED(mu_);
  // FIONREAD/SIOCINQ: the size of the first datagram (Linux udp_ioctl), 0 when none.
  int BytesReadable() const override ABSL_LOCKS_EXCLUDED(mu_);

  std::optional<absl::Duration> ReceiveTimeout() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Duration> SendTimeout() const override ABSL_LOCKS_EXCLUDED(mu_);
  // SO_RCVLOWAT as set (Linux's UDP stores it and otherwise ignores it).
  int receive_low_watermark() const ABSL_LOCKS_EXCLUDED(mu_);
  // sk_rmem_alloc: the receive queue's charge (tests, SIOCINQ-like diagnostics).
  size_t receive_memory() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class UdpProtocol;

  // Socket options (SOL_SOCKET and SOL_IP) as Linux keeps them.
  struct Options {
    bool reuse_addr = false;
    bool reuse_port = false;
    bool broadcast = false;
    bool keepalive = false;  // accepted and reported; no effect on UDP (as in Linux)
    bool dontroute = false;  // likewise
    int priority = 0;
    int rcvbuf = kUdpDefaultRcvbuf;
    int sndbuf = kUdpDefaultSndbuf;
    int rcvlowat = 1;
    std::optional<absl::Duration> rcvtimeo;  // nullopt: forever
    std::optional<absl::Duration> sndtimeo;
    int ttl = -1;  // IP_TTL; -1: net.ipv4.ip_default_ttl
    uint8_t tos = 0;
  };

  // Where and how one send goes, decided under the lock.
  struct SendPlan {
    Ipv4Address src;  // 0: the interface address
    uint16_t sport = 0;
    SocketAddress dst;
    uint8_t ttl = 0;
    uint8_t tos = 0;
    int sndbuf = 0;
    bool error_taken = false;  // a pending so_error was returned (and cleared)
  };

  // --- called by UdpProtocol on the dispatch thread ---
  // Queues a datagram; false when it was dropped for want of receive buffer.
  bool Deliver(const SocketAddress& from, PacketBuffer payload) ABSL_LOCKS_EXCLUDED(mu_);
  // A hard ICMP error about a datagram sent from this socket to `about`: recorded as
  // so_error when the socket is connected (Linux __udp4_lib_err without IP_RECVERR).
  void DeliverError(int error) ABSL_LOCKS_EXCLUDED(mu_);

  // Binds to an ephemeral port on 0.0.0.0 (inet_autobind). 0 or -EAGAIN.
  int AutobindLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int BindLocked(const SocketAddress& local) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  UdpEndpointKey KeyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks a destination the way ip_route_connect / ip_route_output do for us: 0 or -errno.
  int CheckRouteLocked(Ipv4Address dst) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The checks of udp_sendmsg up to allocating the datagram, filling in *plan.
  int PrepareSendLocked(const MessageInfo& info, int flags, size_t len, SendPlan* plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the payload into pool buffers, adds the header and hands it to IPv4.
  ssize_t Transmit(std::span<const iovec> data, size_t len, const SendPlan& plan)
      ABSL_LOCKS_EXCLUDED(mu_);

  int SetSocketOptionLocked(int name, std::span<const uint8_t> value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int SetIpOptionLocked(int name, std::span<const uint8_t> value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int GetSocketOptionLocked(int name, void* value, socklen_t* len)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int GetIpOptionLocked(int name, void* value, socklen_t* len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  UdpProtocol& protocol_;
  const uint64_t id_;

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  PortTable::Id binding_ ABSL_GUARDED_BY(mu_) = PortTable::kNoId;
  uint16_t local_port_ ABSL_GUARDED_BY(mu_) = 0;      // inet_num; 0 = unbound
  Ipv4Address bound_address_ ABSL_GUARDED_BY(mu_);    // inet_rcv_saddr: received on
  Ipv4Address source_address_ ABSL_GUARDED_BY(mu_);   // inet_saddr: sent from (0: interface)
  bool address_locked_ ABSL_GUARDED_BY(mu_) = false;  // SOCK_BINDADDR_LOCK: bind() chose it
  bool port_locked_ ABSL_GUARDED_BY(mu_) = false;     // SOCK_BINDPORT_LOCK
  bool connected_ ABSL_GUARDED_BY(mu_) = false;       // sk_state == TCP_ESTABLISHED
  SocketAddress remote_ ABSL_GUARDED_BY(mu_);
  int shutdown_ ABSL_GUARDED_BY(mu_) = 0;  // RCV_SHUTDOWN (1) | SEND_SHUTDOWN (2)
  int error_ ABSL_GUARDED_BY(mu_) = 0;     // sk_err, a positive errno
  UdpReceiveQueue queue_ ABSL_GUARDED_BY(mu_);
  Options options_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
