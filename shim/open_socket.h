// What a stack socket's file descriptors share: the kernel's "open file description" for a
// socket. dup(2), dup2(2), fcntl(F_DUPFD) and fork(2) make more descriptors for the same
// one; O_NONBLOCK lives here (shared by every copy, as on Linux), FD_CLOEXEC stays with
// each descriptor (in the kernel, on the placeholder eventfd). The socket is closed when
// the last descriptor goes, exactly once.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"

#include "stack/socket/socket.h"

namespace netshim {

class EpollSet;

// The IPv6 side of an AF_INET6 stack socket. Such a socket is dual-stack and served by the
// IPv4 stack (its peers are v4-mapped); the IPPROTO_IPV6 options below only shape IPv6
// packets, which it never sends, so they are kept here and read back exactly as Linux keeps
// them in struct ipv6_pinfo (net/ipv6/ipv6_sockglue.c), with its defaults.
struct Inet6State {
  // Bound to a v4-mapped address (::ffff:a.b.c.d, even ::ffff:0.0.0.0) rather than `::`:
  // Linux then shows the wildcard as ::ffff:0.0.0.0 and connect(::) means 127.0.0.1.
  bool bound_mapped = false;
  int tclass = 0;                         // IPV6_TCLASS
  int unicast_hops = -1;                  // IPV6_UNICAST_HOPS; -1: the route's (64)
  int multicast_hops = 1;                 // IPV6_MULTICAST_HOPS (IPV6_DEFAULT_MCASTHOPS)
  bool multicast_loop = true;             // IPV6_MULTICAST_LOOP
  int mtu_discover = IPV6_PMTUDISC_WANT;  // IPV6_MTU_DISCOVER
};

// One setsockopt(2) the program made that the socket accepted, as the program passed it.
struct RecordedOption {
  int level = 0;
  int name = 0;
  absl::InlinedVector<uint8_t, 16> value;
};

// The options a program set on a stack socket, kept so that a socket handed to the kernel
// later (shim/loopback.h) gets them replayed exactly as given: the value passed, not the
// value read back (Linux doubles SO_RCVBUF/SO_SNDBUF on the way in; replaying the doubled
// value would double it again). Each (level, name) is kept once, with its latest value, in
// the order of the latest setting; bounded, since a program may set options in a loop.
class OptionLog {
 public:
  // Bounds: a few dozen distinct options is what real programs set; TCP_MD5SIG (216 bytes)
  // is the largest value Linux takes for the options the stack knows.
  static constexpr size_t kMaxOptions = 64;
  static constexpr size_t kMaxValueBytes = 256;

  // False (nothing kept) when the value is too long or the log is full of other options.
  bool Record(int level, int name, const void* value, socklen_t len) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<RecordedOption> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<RecordedOption> options_ ABSL_GUARDED_BY(mu_);
};

class OpenSocket {
 public:
  // Called once with the socket when the last reference goes (the shim closes it and hands
  // it to the exit drain; tests watch it).
  using CloseHook = std::function<void(const std::shared_ptr<Socket>&)>;

  OpenSocket(std::shared_ptr<Socket> socket, bool nonblocking, CloseHook on_close = {});
  ~OpenSocket();
  OpenSocket(const OpenSocket&) = delete;
  OpenSocket& operator=(const OpenSocket&) = delete;

  Socket& socket() const { return *socket_; }
  const std::shared_ptr<Socket>& shared_socket() const { return socket_; }
  bool stream() const { return socket_->type() == SOCK_STREAM; }

  // AF_INET, or AF_INET6 for a dual-stack socket (socket(AF_INET6), or accepted from such a
  // listener). Set before the descriptor is published; it never changes after.
  int family() const { return family_.load(std::memory_order_relaxed); }
  void set_family(int family) { family_.store(family, std::memory_order_relaxed); }
  Inet6State inet6() const ABSL_LOCKS_EXCLUDED(inet6_mu_) {
    absl::MutexLock lock(&inet6_mu_);
    return inet6_;
  }
  void set_inet6(const Inet6State& state) ABSL_LOCKS_EXCLUDED(inet6_mu_) {
    absl::MutexLock lock(&inet6_mu_);
    inet6_ = state;
  }
  // Runs f(Inet6State&) under the lock (a read-modify-write from racing setsockopt calls).
  template <typename F>
  auto UpdateInet6(F f) ABSL_LOCKS_EXCLUDED(inet6_mu_) {
    absl::MutexLock lock(&inet6_mu_);
    return f(inet6_);
  }

  // Runs the close now rather than at the last reference (process exit: Linux closes every
  // descriptor). Only the first call, from here or the destructor, does anything.
  void CloseNow();

  bool nonblocking() const { return nonblocking_.load(std::memory_order_relaxed); }
  void set_nonblocking(bool on) { nonblocking_.store(on, std::memory_order_relaxed); }

  // `set` holds this file under descriptor `fd`: when the file closes, the registration
  // goes (Linux eventpoll_release). Repeats are kept once.
  void AddEpollLink(const std::shared_ptr<EpollSet>& set, int fd) ABSL_LOCKS_EXCLUDED(links_mu_);
  // The sets that hold this file under `fd`, forgotten here: `fd` is leaving the socket
  // (a handover to the kernel moves its registrations into the kernel's epoll instances).
  std::vector<std::shared_ptr<EpollSet>> TakeEpollLinks(int fd) ABSL_LOCKS_EXCLUDED(links_mu_);

  // What the program set with setsockopt(2), for a handover to the kernel.
  OptionLog& options() { return options_; }
  const OptionLog& options() const { return options_; }

  // Held while a descriptor of this socket is handed to the kernel, so two threads racing
  // to hand the same descriptor over make one kernel socket, not two.
  absl::Mutex& handover_mu() ABSL_LOCK_RETURNED(handover_mu_) { return handover_mu_; }

 private:
  std::shared_ptr<Socket> socket_;
  std::atomic<bool> nonblocking_;
  std::atomic<bool> closed_{false};
  std::atomic<int> family_{AF_INET};
  mutable absl::Mutex inet6_mu_;
  Inet6State inet6_ ABSL_GUARDED_BY(inet6_mu_);
  CloseHook on_close_;
  absl::Mutex links_mu_;
  std::vector<std::pair<std::weak_ptr<EpollSet>, int>> epoll_links_ ABSL_GUARDED_BY(links_mu_);
  OptionLog options_;
  absl::Mutex handover_mu_;
};

}  // namespace netshim
