// The socket API the shim and the tests call: one object per socket, Linux semantics,
// results as Linux gives them (a value >= 0, or a negative errno such as -EAGAIN).
//
// Every operation here is non-blocking: it does what it can now and says -EAGAIN (or
// -EINPROGRESS for connect) otherwise. Blocking is the caller's business, done by sleeping
// in a real syscall until readiness changes (see socket_waiter.h), so that signals, EINTR
// and timeouts behave as signal(7) says. Readiness is the poll(2) mask; listeners hear of
// every change, always with no stack lock held.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stack/wire/address.h"

namespace netshim {

// An IPv4 socket address with the port in host order.
struct SocketAddress {
  Ipv4Address address;
  uint16_t port = 0;
  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

// Told whenever a socket's readiness mask may have changed. Called with no stack lock held,
// from any thread (the dispatcher, or an application thread whose call changed it).
class ReadinessListener {
 public:
  virtual ~ReadinessListener() = default;
  virtual void OnReadinessChanged(uint32_t mask) = 0;
};

// The source of an incoming datagram or the destination of an outgoing one, and control
// data (recvmsg/sendmsg); kept small: only what Linux IPv4 sockets carry that we support.
struct MessageInfo {
  std::optional<SocketAddress> peer;  // from / to
  int flags = 0;                      // msg_flags on return (MSG_TRUNC, ...)
};

class Socket {
 public:
  virtual ~Socket() = default;

  virtual int type() const = 0;      // SOCK_STREAM or SOCK_DGRAM
  virtual int protocol() const = 0;  // IPPROTO_TCP or IPPROTO_UDP

  virtual int Bind(const SocketAddress& local) = 0;
  // Datagram sockets: sets the default peer (port 0 / AF_UNSPEC semantics via Disconnect).
  // Stream sockets: starts the handshake and returns -EINPROGRESS; the caller waits for
  // kPollOut and reads SO_ERROR, as a non-blocking connect(2) does.
  virtual int Connect(const SocketAddress& remote) = 0;
  virtual int Disconnect() { return -EOPNOTSUPP; }  // connect(AF_UNSPEC)
  virtual int Listen(int /*backlog*/) { return -EOPNOTSUPP; }
  // A connection from the accept queue, or null with *error set (-EAGAIN, -EINVAL, ...).
  virtual std::shared_ptr<Socket> Accept(SocketAddress* /*peer*/, int* error) {
    *error = -EOPNOTSUPP;
    return nullptr;
  }

  // sendmsg(2)/recvmsg(2) without blocking: MSG_DONTWAIT is implied. Flags are Linux's
  // (MSG_PEEK, MSG_TRUNC, MSG_WAITALL, MSG_NOSIGNAL, MSG_MORE, ...); the result is the byte
  // count or a negative errno. -EPIPE is returned as is: raising SIGPIPE is the caller's
  // (Linux raises it for stream sockets only; UDP's -EPIPE after SHUT_WR comes without it).
  // Callers pass MSG_DONTWAIT when the program's call is non-blocking (O_NONBLOCK or the
  // flag): the answer differs only where Linux's does, e.g. a datagram socket whose
  // receiving side is shut down returns 0 to a blocking recv and -EAGAIN to a
  // non-blocking one.
  virtual ssize_t SendMsg(std::span<const iovec> data, MessageInfo& info, int flags) = 0;
  virtual ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) = 0;

  virtual int Shutdown(int how) = 0;  // SHUT_RD, SHUT_WR, SHUT_RDWR
  // The last reference is going: release the port, close the connection as Linux does on
  // close(2) (FIN, or RST when unread data remains, or per SO_LINGER).
  virtual void Close() = 0;

  virtual int GetSockName(SocketAddress* out) const = 0;
  virtual int GetPeerName(SocketAddress* out) const = 0;
  virtual int SetSockOpt(int level, int name, std::span<const uint8_t> value) = 0;
  // *len is the caller's buffer size in, the option's size out (Linux truncates silently).
  virtual int GetSockOpt(int level, int name, void* value, socklen_t* len) = 0;

  // The current poll(2) mask (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP, POLLPRI).
  virtual uint32_t Poll() const = 0;

  // SO_RCVTIMEO / SO_SNDTIMEO, for the caller's blocking loop: nullopt = wait forever (the
  // default, and what {0, 0} sets), zero = do not wait at all (what a negative tv_sec sets:
  // Linux then stores a timeout of 0).
  virtual std::optional<absl::Duration> ReceiveTimeout() const { return std::nullopt; }
  virtual std::optional<absl::Duration> SendTimeout() const { return std::nullopt; }

  // Bytes waiting to be read / not yet acknowledged (FIONREAD/SIOCINQ, SIOCOUTQ).
  virtual int BytesReadable() const = 0;
  virtual int BytesUnsent() const { return 0; }

  // SO_LINGER with a timeout, for a caller that blocks in close(2) as Linux does: nullopt
  // when close should not wait (the default, and for datagrams).
  virtual std::optional<absl::Duration> LingerTimeout() const { return std::nullopt; }
  // Everything written was acknowledged, FIN included (or the connection is gone): what a
  // lingering close, or a process exiting, waits for. Datagrams leave at once.
  virtual bool SendDrained() const { return true; }

  // Listeners are called under an internal lock so that RemoveListener() returning means no
  // call is in flight; a listener therefore must not add or remove listeners itself.
  void AddListener(ReadinessListener* l) ABSL_LOCKS_EXCLUDED(listeners_mu_);
  void RemoveListener(ReadinessListener* l) ABSL_LOCKS_EXCLUDED(listeners_mu_);

 protected:
  // Implementations call this after any change that may affect Poll(), with their own
  // lock released.
  void NotifyReadiness() ABSL_LOCKS_EXCLUDED(listeners_mu_);

 private:
  mutable absl::Mutex listeners_mu_;
  absl::InlinedVector<ReadinessListener*, 2> listeners_ ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace netshim
