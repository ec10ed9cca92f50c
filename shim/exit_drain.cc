#include "shim/exit_drain.h"

#include <poll.h>

#include <algorithm>

#include "shim/waiter.h"

namespace netshim {

bool ExitDrain::SendDrained(Socket& socket) { return socket.SendDrained(); }

void ExitDrain::Track(const std::shared_ptr<Socket>& socket) {
  bool prune = false;
  {
    absl::MutexLock lock(&mu_);
    closed_.push_back(socket);
    prune = closed_.size() >= prune_at_;
  }
  if (!prune) return;
  const size_t pending = Prune().size();
  absl::MutexLock lock(&mu_);
  prune_at_ = std::max<size_t>(64, 2 * pending);
}

std::vector<std::shared_ptr<Socket>> ExitDrain::Prune() {
  std::vector<std::weak_ptr<Socket>> all;
  {
    absl::MutexLock lock(&mu_);
    all.swap(closed_);
  }
  // Asked with mu_ released: SendDrained takes the socket's lock.
  std::vector<std::shared_ptr<Socket>> pending;
  for (const auto& weak : all) {
    std::shared_ptr<Socket> s = weak.lock();
    if (s && !drained_(*s)) pending.push_back(std::move(s));
  }
  absl::MutexLock lock(&mu_);
  for (const auto& s : pending) closed_.push_back(s);
  return pending;
}

size_t ExitDrain::Pending() { return Prune().size(); }

bool ExitDrain::Wait(absl::Duration timeout, absl::Duration recheck) {
  const absl::Time deadline = MonotonicNow() + timeout;
  Waiter waiter;
  for (;;) {
    waiter.Drain();
    std::vector<std::shared_ptr<Socket>> pending = Prune();
    if (pending.empty()) return true;
    const absl::Time now = MonotonicNow();
    if (now >= deadline) return false;
    std::vector<std::unique_ptr<Watch>> watches;
    for (const auto& s : pending) {
      // Any change at all is worth a look (an ACK that empties the send queue makes it
      // writable; the peer's FIN makes it readable; a reset, POLLERR).
      watches.push_back(std::make_unique<Watch>(waiter, *s, POLLIN | POLLOUT | POLLRDHUP));
    }
    // A signal (EINTR) is not a reason to give up: the wait is the kernel's job at exit.
    waiter.Sleep(std::min(deadline, now + recheck));
  }
}

int WaitSendDrained(Socket& socket, const Deadline& deadline, absl::Duration recheck) {
  WaiterLease waiter;
  for (;;) {
    waiter->Drain();
    Watch watch(*waiter, socket, POLLIN | POLLOUT | POLLRDHUP);
    if (socket.SendDrained()) return 0;
    const absl::Time now = MonotonicNow();
    if (deadline && now >= *deadline) return -ETIMEDOUT;
    const absl::Time next = deadline ? std::min(*deadline, now + recheck) : now + recheck;
    if (const int r = waiter->Sleep(next); r == -EINTR) return r;
  }
}

}  // namespace netshim
