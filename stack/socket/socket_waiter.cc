#include "stack/socket/socket_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "stack/runtime/clock.h"

namespace netshim {

SocketWaiter::SocketWaiter(Socket& socket, uint32_t interest)
    : socket_(socket), interest_(interest | POLLERR | POLLHUP) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) std::abort();  // out of fds: nothing sane to do in a blocking call
  socket_.AddListener(this);
}

SocketWaiter::~SocketWaiter() {
  socket_.RemoveListener(this);
  ::close(event_fd_);
}

void SocketWaiter::OnReadinessChanged(uint32_t mask) {
  if ((mask & interest_) != 0) Wake();
}

void SocketWaiter::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof(one));
}

bool SocketWaiter::Ready() const { return (socket_.Poll() & interest_) != 0; }

int SocketWaiter::Wait(std::optional<absl::Duration> timeout, const sigset_t* sigmask) {
  const MonotonicClock& clock = MonotonicClock::Get();
  const std::optional<absl::Time> deadline =
      timeout ? std::optional<absl::Time>(clock.Now() + *timeout) : std::nullopt;
  for (;;) {
    // Drain first, then check: a change after the check writes the eventfd again.
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(event_fd_, &count, sizeof(count));
    if (Ready()) return 0;
    timespec ts{};
    if (deadline) {
      const absl::Duration left = *deadline - clock.Now();
      if (left <= absl::ZeroDuration()) return -ETIMEDOUT;
      ts = absl::ToTimespec(left);
    }
    pollfd pfd{event_fd_, POLLIN, 0};
    const int r = ::ppoll(&pfd, 1, deadline ? &ts : nullptr, sigmask);
    if (r < 0 && errno == EINTR) return -EINTR;
    if (r > 0 && !Ready()) return 0;  // Wake(): the caller looks at why
  }
}

}  // namespace netshim
