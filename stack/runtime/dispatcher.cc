#include "stack/runtime/dispatcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "stack/runtime/log.h"

namespace netshim {
namespace {
// Frames handled per wake-up before timers get a turn, so a flood cannot starve them.
constexpr size_t kPollBudget = 64;
}  // namespace

Dispatcher::Dispatcher(DispatchTarget* target, const Clock& clock, int link_fd)
    : target_(target), clock_(clock), link_fd_(link_fd) {}

Dispatcher::~Dispatcher() {
  Stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::Status Dispatcher::Start() {
  if (running()) return absl::OkStatus();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(fmt::format("dispatcher: {}", std::strerror(errno)));
  }
  epoll_event ev{};
  // Edge-triggered: every Wake() write is one event however high the counter already is,
  // so the loop never reads the eventfd back (2^64 writes would fill it).
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return absl::InternalError(fmt::format("dispatcher: epoll_ctl: {}", std::strerror(errno)));
  }
  if (link_fd_ >= 0) {
    // Level-triggered: PollOnce may leave frames queued (its budget); epoll reports them.
    ev.events = EPOLLIN;
    ev.data.fd = link_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, link_fd_, &ev) != 0) {
      return absl::InternalError(fmt::format("dispatcher: epoll_ctl: {}", std::strerror(errno)));
    }
  }
  stop_.store(false);
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Dispatcher::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  Wake();
  thread_.join();
  running_.store(false, std::memory_order_release);
}

void Dispatcher::Wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  // The write queues an edge event that the loop's next (or current) epoll_wait returns,
  // so PollOnce runs again before it sleeps.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void Dispatcher::WakeIfBefore(absl::Time deadline) {
  if (absl::ToUnixNanos(deadline) < planned_wake_nanos_.load()) Wake();
}

void Dispatcher::Loop() {
  epoll_event events[4];
  while (!stop_.load(std::memory_order_acquire)) {
    // Drain what is waiting; a full budget means more may be queued, so do not sleep.
    const size_t polled = target_->PollOnce(kPollBudget);
    const absl::Time now = clock_.Now();
    target_->RunTimers(now);
    if (polled == kPollBudget) continue;

    const std::optional<absl::Time> deadline = target_->NextDeadline();
    const int64_t planned = deadline ? absl::ToUnixNanos(*deadline) : INT64_MAX;
    planned_wake_nanos_.store(planned);
    // A thread that armed an earlier timer before the store above saw us awake and did not
    // wake us; look once more so its deadline is not slept through. One that arms it after
    // sees `planned` and writes the eventfd.
    const std::optional<absl::Time> again = target_->NextDeadline();
    if (again && (!deadline || *again < *deadline)) continue;
    int timeout_ms = -1;
    if (deadline) {
      // Round up: waking a little late is fine, waking early spins.
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(*deadline - clock_.Now(), absl::Milliseconds(1))), 0,
          60'000));
    }
    const int n = ::epoll_wait(epoll_fd_, events, 4, timeout_ms);
    planned_wake_nanos_.store(INT64_MIN);  // awake: nobody needs to wake us
    if (n < 0 && errno != EINTR) {
      NETSHIM_LOG(kError, "dispatcher: epoll_wait: {}", std::strerror(errno));
      break;
    }
    // Nothing to read back: the wake eventfd is edge-triggered, the link's fd is PollOnce's.
  }
}

std::vector<int> Dispatcher::Descriptors() const {
  std::vector<int> fds;
  for (int fd : {link_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

}  // namespace netshim
