#include "tools/event_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "stack/runtime/log.h"

namespace netshim {

// The listener on one socket. It sees every readiness change but wakes the loop only for
// the bits the handler waits for, and only once until the handler has run.
class EventLoop::Watch final : public ReadinessListener {
 public:
  Watch(EventLoop& loop, Id id) : loop_(loop), id_(id) {}

  void OnReadinessChanged(uint32_t mask) override {
    const uint32_t wanted = interest.load(std::memory_order_acquire);
    NETSHIM_LOG(kTrace, "event loop: socket {} readiness {:#x}, waiting for {:#x}", id_, mask,
                wanted);
    if ((mask & wanted) != 0) loop_.Enqueue(*this);
  }

  Id id() const { return id_; }

  // Everything until the handler first runs, then what it asked for.
  std::atomic<uint32_t> interest{~0u};
  // Set while the id sits in ready_, so a busy socket is recorded once per pass.
  std::atomic<bool> queued{false};

 private:
  EventLoop& loop_;
  const Id id_;
};

struct EventLoop::Entry {
  std::shared_ptr<Socket> socket;
  std::unique_ptr<Handler> handler;
  std::unique_ptr<Watch> watch;
};

EventLoop::EventLoop(int wake_fd, int stop_fd) : wake_fd_(wake_fd), stop_fd_(stop_fd) {}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0 || stop_fd < 0) {
    const int e = errno;
    if (wake_fd >= 0) ::close(wake_fd);
    if (stop_fd >= 0) ::close(stop_fd);
    return absl::InternalError(fmt::format("event loop: eventfd: {}", std::strerror(e)));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(wake_fd, stop_fd));
}

EventLoop::~EventLoop() {
  Stop();
  ::close(wake_fd_);
  ::close(stop_fd_);
}

void EventLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  // The thread is gone: entries_ is ours now.
  for (auto& [id, entry] : entries_) CloseEntry(*entry);
  entries_.clear();
}

EventLoop::Id EventLoop::Add(std::shared_ptr<Socket> socket, std::unique_ptr<Handler> handler) {
  const Id id = next_id_++;
  auto entry = std::make_unique<Entry>();
  entry->socket = std::move(socket);
  entry->handler = std::move(handler);
  entry->watch = std::make_unique<Watch>(*this, id);
  // Readiness reached before the listener was added went unheard: run the handler once now.
  entry->socket->AddListener(entry->watch.get());
  Watch& watch = *entry->watch;
  entries_.emplace(id, std::move(entry));
  Enqueue(watch);
  return id;
}

void EventLoop::Schedule(Id id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) Enqueue(*it->second->watch);
}

void EventLoop::Enqueue(Watch& watch) {
  if (watch.queued.exchange(true, std::memory_order_acq_rel)) return;
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    ready_.push_back(watch.id());
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  // One write per pass, not per readiness change: the dispatcher thread calling us for
  // every segment should not pay a syscall each time while the loop is busy anyway.
  if (wake) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
}

void EventLoop::Run() {
  std::vector<Id> batch;
  for (;;) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      NETSHIM_LOG(kError, "event loop: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof(count));
    {
      absl::MutexLock lock(&mu_);
      batch.swap(ready_);
      wake_pending_ = false;
    }
    passes_.fetch_add(1, std::memory_order_relaxed);
    for (Id id : batch) RunHandler(id);
    batch.clear();
  }
}

void EventLoop::RunHandler(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;  // finished after it was recorded as ready
  Entry* entry = it->second.get();
  // Cleared before the handler's operations: a change after this point records it again.
  entry->watch->queued.store(false, std::memory_order_release);
  const std::optional<uint32_t> interest = entry->handler->OnReady(*entry->socket);
  NETSHIM_LOG(kTrace, "event loop: socket {} handled, waits for {:#x}", id,
              interest ? *interest : 0u);
  if (!interest) {
    CloseEntry(*entry);
    entries_.erase(id);  // `it` may be stale: the handler may have added sockets
    return;
  }
  const uint32_t bits = *interest | POLLERR | POLLHUP;
  entry->watch->interest.store(bits, std::memory_order_release);
  // A change between the handler's last -EAGAIN and the store above was filtered out by
  // the old interest; Poll() sees it. Also re-runs a handler that stopped on its budget.
  if ((entry->socket->Poll() & bits) != 0) Enqueue(*entry->watch);
}

void EventLoop::CloseEntry(Entry& entry) {
  // After RemoveListener() returns no call into the watch is in flight, so it may go.
  entry.socket->RemoveListener(entry.watch.get());
  entry.socket->Close();
  entry.handler.reset();
}

}  // namespace netshim
