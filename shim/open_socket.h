// What a stack socket's file descriptors share: the kernel's "open file description" for a
// socket. dup(2), dup2(2), fcntl(F_DUPFD) and fork(2) make more descriptors for the same
// one; O_NONBLOCK lives here (shared by every copy, as on Linux), FD_CLOEXEC stays with
// each descriptor (in the kernel, on the placeholder eventfd). The socket is closed when
// the last descriptor goes, exactly once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "stack/socket/socket.h"

namespace netshim {

class EpollSet;

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

  // Runs the close now rather than at the last reference (process exit: Linux closes every
  // descriptor). Only the first call, from here or the destructor, does anything.
  void CloseNow();

  bool nonblocking() const { return nonblocking_.load(std::memory_order_relaxed); }
  void set_nonblocking(bool on) { nonblocking_.store(on, std::memory_order_relaxed); }

  // `set` holds this file under descriptor `fd`: when the file closes, the registration
  // goes (Linux eventpoll_release). Repeats are kept once.
  void AddEpollLink(const std::shared_ptr<EpollSet>& set, int fd) ABSL_LOCKS_EXCLUDED(links_mu_);

 private:
  std::shared_ptr<Socket> socket_;
  std::atomic<bool> nonblocking_;
  std::atomic<bool> closed_{false};
  CloseHook on_close_;
  absl::Mutex links_mu_;
  std::vector<std::pair<std::weak_ptr<EpollSet>, int>> epoll_links_ ABSL_GUARDED_BY(links_mu_);
};

}  // namespace netshim
