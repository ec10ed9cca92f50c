// Blocking on a socket the way the design asks: sleeping inside a real ppoll(2) on an
// eventfd that a readiness listener signals, so a signal interrupts the wait (EINTR),
// timeouts are the kernel's, and no stack lock is held while asleep.
#pragma once

#include <signal.h>

#include <atomic>
#include <optional>

#include "absl/time/time.h"
#include "stack/socket/socket.h"

namespace netshim {

class SocketWaiter final : public ReadinessListener {
 public:
  // Listens on `socket` for any bit of `interest` (POLLERR and POLLHUP always count).
  SocketWaiter(Socket& socket, uint32_t interest);
  ~SocketWaiter() override;
  SocketWaiter(const SocketWaiter&) = delete;
  SocketWaiter& operator=(const SocketWaiter&) = delete;

  // Returns at once when the socket is ready; else sleeps until it may be (0: try the
  // operation again, it can still say -EAGAIN if another thread got there first, or Wake()
  // was called), `timeout` passes (-ETIMEDOUT; nullopt = forever) or a signal arrives
  // (-EINTR). `sigmask` as ppoll's.
  int Wait(std::optional<absl::Duration> timeout, const sigset_t* sigmask = nullptr);

  // Ends a Wait() in progress on another thread (it returns 0 whether or not the socket is
  // ready), e.g. to stop a service thread.
  void Wake();

  void OnReadinessChanged(uint32_t mask) override;

 private:
  bool Ready() const;

  Socket& socket_;
  const uint32_t interest_;
  int event_fd_ = -1;
};

}  // namespace netshim
