// A Socket the shim's tests drive by hand: bytes to read, room to write, errors and
// readiness set from the test (any thread), every change announced to listeners as the
// stack's sockets do.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "stack/socket/iov.h"
#include "stack/socket/socket.h"

namespace netshim::testing {

class FakeSocket : public Socket {
 public:
  explicit FakeSocket(int type = SOCK_STREAM) : type_(type) {}

  int type() const override { return type_; }
  int protocol() const override { return type_ == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP; }
  int Bind(const SocketAddress& local) override {
    absl::MutexLock lock(&mu_);
    bound_ = local;
    return 0;
  }
  int Connect(const SocketAddress& remote) override {
    absl::MutexLock lock(&mu_);
    peer_ = remote;
    ++connects_;
    if (connect_results_.empty()) return 0;
    const int r = connect_results_.front();
    if (connect_results_.size() > 1) connect_results_.pop_front();
    return r;
  }
  int Disconnect() override {
    absl::MutexLock lock(&mu_);
    ++disconnects_;
    return 0;
  }
  int Listen(int) override { return 0; }
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo& info, int flags) override {
    ssize_t r;
    {
      absl::MutexLock lock(&mu_);
      last_send_flags_ = flags;
      last_send_peer_ = info.peer;
      if (send_error_ != 0) return -send_error_;
      const size_t len = IovTotalLength(data);
      if (len == 0) return 0;
      if (space_ == 0) return -EAGAIN;
      const size_t n = std::min(len, space_);
      std::string bytes(n, '\0');
      IovReader(data).Read(reinterpret_cast<uint8_t*>(bytes.data()), n);
      sent_ += bytes;
      space_ -= n;
      r = static_cast<ssize_t>(n);
    }
    NotifyReadiness();
    return r;
  }
  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) override {
    ssize_t r;
    {
      absl::MutexLock lock(&mu_);
      last_recv_flags_ = flags;
      if (incoming_.empty()) {
        if (recv_error_ != 0) return -recv_error_;
        return eof_ ? 0 : -EAGAIN;
      }
      const size_t copied =
          CopyToIov({reinterpret_cast<const uint8_t*>(incoming_.data()), incoming_.size()}, data);
      if (!(flags & MSG_PEEK)) incoming_.erase(0, copied);
      info.peer = from_;
      r = static_cast<ssize_t>(copied);
    }
    NotifyReadiness();
    return r;
  }
  int Shutdown(int) override { return 0; }
  void Close() override {
    absl::MutexLock lock(&mu_);
    ++closes_;
  }
  int GetSockName(SocketAddress* out) const override {
    absl::MutexLock lock(&mu_);
    *out = bound_;
    return 0;
  }
  int GetPeerName(SocketAddress* out) const override {
    absl::MutexLock lock(&mu_);
    if (!peer_) return -ENOTCONN;
    *out = *peer_;
    return 0;
  }
  // Options are kept as set and read back whole (an option never set reads as 0 bytes).
  int SetSockOpt(int level, int name, std::span<const uint8_t> value) override {
    absl::MutexLock lock(&mu_);
    options_[{level, name}] = std::string(value.begin(), value.end());
    return 0;
  }
  int GetSockOpt(int level, int name, void* value, socklen_t* len) override {
    absl::MutexLock lock(&mu_);
    const auto it = options_.find({level, name});
    if (it == options_.end()) {
      *len = 0;
      return 0;
    }
    *len = std::min<socklen_t>(*len, it->second.size());
    std::memcpy(value, it->second.data(), *len);
    return 0;
  }
  uint32_t Poll() const override {
    absl::MutexLock lock(&mu_);
    uint32_t mask = extra_;
    if (!incoming_.empty() || eof_) mask |= POLLIN;
    if (space_ > 0) mask |= POLLOUT;
    return mask;
  }
  std::optional<absl::Duration> ReceiveTimeout() const override {
    absl::MutexLock lock(&mu_);
    return rcvtimeo_;
  }
  std::optional<absl::Duration> SendTimeout() const override {
    absl::MutexLock lock(&mu_);
    return sndtimeo_;
  }
  int BytesReadable() const override {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(incoming_.size());
  }
  int BytesUnsent() const override { return 7; }

  // --- the test's side; each change is announced to listeners ---
  void Deliver(const std::string& bytes) {
    Change([&] { incoming_ += bytes; });
  }
  void SetEof() {
    Change([&] { eof_ = true; });
  }
  void SetSpace(size_t n) {
    Change([&] { space_ = n; });
  }
  void SetExtra(uint32_t mask) {
    Change([&] { extra_ = mask; });
  }
  void SetSendError(int e) {
    Change([&] { send_error_ = e; });
  }
  void SetReceiveTimeout(std::optional<absl::Duration> t) {
    absl::MutexLock lock(&mu_);
    rcvtimeo_ = t;
  }
  void SetSendTimeout(std::optional<absl::Duration> t) {
    absl::MutexLock lock(&mu_);
    sndtimeo_ = t;
  }
  void SetFrom(SocketAddress a) {
    absl::MutexLock lock(&mu_);
    from_ = a;
  }
  void SetBound(SocketAddress a) {
    absl::MutexLock lock(&mu_);
    bound_ = a;
  }
  void SetPeer(std::optional<SocketAddress> a) {
    absl::MutexLock lock(&mu_);
    peer_ = a;
  }
  void SetConnectResults(std::deque<int> results) {
    absl::MutexLock lock(&mu_);
    connect_results_ = std::move(results);
  }

  std::string sent() const {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  int closes() const {
    absl::MutexLock lock(&mu_);
    return closes_;
  }
  int connects() const {
    absl::MutexLock lock(&mu_);
    return connects_;
  }
  int disconnects() const {
    absl::MutexLock lock(&mu_);
    return disconnects_;
  }
  int last_send_flags() const {
    absl::MutexLock lock(&mu_);
    return last_send_flags_;
  }
  int last_recv_flags() const {
    absl::MutexLock lock(&mu_);
    return last_recv_flags_;
  }
  std::optional<SocketAddress> last_send_peer() const {
    absl::MutexLock lock(&mu_);
    return last_send_peer_;
  }
  std::optional<SocketAddress> bound() const {
    absl::MutexLock lock(&mu_);
    return bound_;
  }
  std::optional<SocketAddress> peer() const {
    absl::MutexLock lock(&mu_);
    return peer_;
  }

 private:
  template <typename F>
  void Change(F f) {
    {
      absl::MutexLock lock(&mu_);
      f();
    }
    NotifyReadiness();
  }

  const int type_;
  mutable absl::Mutex mu_;
  std::string incoming_ ABSL_GUARDED_BY(mu_);
  std::string sent_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
  size_t space_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t extra_ ABSL_GUARDED_BY(mu_) = 0;
  int send_error_ ABSL_GUARDED_BY(mu_) = 0;
  int recv_error_ ABSL_GUARDED_BY(mu_) = 0;
  int closes_ ABSL_GUARDED_BY(mu_) = 0;
  int connects_ ABSL_GUARDED_BY(mu_) = 0;
  int disconnects_ ABSL_GUARDED_BY(mu_) = 0;
  int last_send_flags_ ABSL_GUARDED_BY(mu_) = 0;
  int last_recv_flags_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<SocketAddress> last_send_peer_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Duration> rcvtimeo_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Duration> sndtimeo_ ABSL_GUARDED_BY(mu_);
  SocketAddress bound_ ABSL_GUARDED_BY(mu_);
  std::optional<SocketAddress> peer_ ABSL_GUARDED_BY(mu_);
  std::optional<SocketAddress> from_ ABSL_GUARDED_BY(mu_);
  std::deque<int> connect_results_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int, int>, std::string> options_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim::testing
