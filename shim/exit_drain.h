// Exit behaves like the kernel, which keeps delivering after a process dies: sockets closed
// by the program (or by exit itself) are remembered until everything written was
// acknowledged and the FIN too, and the exit handler waits for that, bounded by
// NETSHIM_EXIT_TIMEOUT. So "write, then exit" (nc -N, socat -u) loses nothing.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "shim/waiter.h"
#include "stack/socket/socket.h"

namespace netshim {

class ExitDrain {
 public:
  // Whether a closed socket has nothing left to deliver (default: TcpSocket::SendDrained,
  // true for every other kind).
  using DrainedFn = std::function<bool(Socket&)>;
  static bool SendDrained(Socket& socket);

  explicit ExitDrain(DrainedFn drained = SendDrained) : drained_(std::move(drained)) {}

  // A socket the program closed (Close() already called). Kept weakly: once the stack
  // forgets it, it is done.
  void Track(const std::shared_ptr<Socket>& socket) ABSL_LOCKS_EXCLUDED(mu_);
  // Sockets tracked and not yet drained.
  size_t Pending() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until Pending() is 0 (true) or `timeout` passes (false). Sleeps in ppoll, woken
  // by the sockets' readiness changes, looking again at least every `recheck` for state
  // changes that move no readiness bit (FIN-WAIT-1 to FIN-WAIT-2).
  bool Wait(absl::Duration timeout, absl::Duration recheck = absl::Milliseconds(50))
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Drops entries that are done; returns those still pending.
  std::vector<std::shared_ptr<Socket>> Prune() ABSL_LOCKS_EXCLUDED(mu_);

  const DrainedFn drained_;
  absl::Mutex mu_;
  std::vector<std::weak_ptr<Socket>> closed_ ABSL_GUARDED_BY(mu_);
  // Prune when the list reaches this size, so it stays proportional to what is pending.
  size_t prune_at_ ABSL_GUARDED_BY(mu_) = 64;
};

// close(2) with SO_LINGER on and a timeout (Linux tcp_close -> sk_stream_wait_close): blocks
// until everything written and the FIN are acknowledged (0), `deadline` passes
// (-ETIMEDOUT) or a signal handler runs (-EINTR); either way close(2) then returns 0 and
// the connection goes on in the background. Looks again at least every `recheck`: not
// every state change is a readiness change.
int WaitSendDrained(Socket& socket, const Deadline& deadline,
                    absl::Duration recheck = absl::Milliseconds(50));

}  // namespace netshim
