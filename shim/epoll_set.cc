#include "shim/epoll_set.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <string>

#include "shim/link_turn.h"
#include "shim/protected_fds.h"
#include "shim/real_calls.h"
#include "shim/signals.h"

namespace netshim {

// One registration of a stack descriptor in one set (the kernel's epitem).
struct EpollSet::Registration final : public ReadinessListener {
  EpollSet* set = nullptr;
  Key key;
  std::shared_ptr<Socket> socket;  // alive until the listener is detached
  uint32_t interest = 0;           // the event bits asked for
  uint32_t flags = 0;              // EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP
  epoll_data_t data{};
  bool armed = true;     // false once an EPOLLONESHOT registration has fired
  bool queued = false;   // on the ready list
  bool removed = false;  // out of the table: listener calls are ignored until detached
  Registration* prev = nullptr;
  Registration* next = nullptr;

  void OnReadinessChanged(uint32_t mask) override { set->OnReadiness(this, mask); }
};

namespace {

constexpr uint32_t kFlagBits = EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP;
// While the kernel instance holds no fd of the program's (that we know of), a wait with
// stack events ready asks it once in this many turns.
constexpr uint32_t kKernelLookEvery = 64;
// fs/eventpoll.c EPOLLEXCLUSIVE_OK_BITS: what may accompany EPOLLEXCLUSIVE.
constexpr uint32_t kExclusiveOkBits =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

}  // namespace

uint32_t EpollRevents(uint32_t mask, uint32_t interest) {
  if (mask & POLLIN) mask |= POLLRDNORM;
  if (mask & POLLOUT) mask |= POLLWRNORM;
  return mask & (interest | EPOLLERR | EPOLLHUP);
}

namespace {

// The targets registered in the epoll instance `epfd` (its /proc/self/fdinfo "tfd:"
// lines), or a large number when that cannot be read.
int RegisteredTargets(int epfd) {
  constexpr int kUnknown = 1 << 20;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kUnknown;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = real::read(fd, buf, sizeof(buf));
    if (n < 0) {
      real::close(fd);
      return kUnknown;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  real::close(fd);
  int targets = 0;
  for (size_t at = 0; (at = text.find("tfd:", at)) != std::string::npos; at += 4) ++targets;
  return targets;
}

}  // namespace

std::shared_ptr<EpollSet> EpollSet::Create(int epfd, int* error) {
  const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    *error = -errno;
    return nullptr;
  }
  OwnFds().Protect(wake);
  std::shared_ptr<EpollSet> set(new EpollSet(epfd, wake));
  // Level-triggered: every waiter sees the set as ready while anything is queued, as every
  // waiter of a kernel epoll fd does while its ready list is not empty.
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.ptr = set.get();
  if (real::epoll_ctl(epfd, EPOLL_CTL_ADD, wake, &e) < 0) {
    *error = -errno;
    return nullptr;  // the destructor closes the wake fd
  }
  set->kernel_fds_.store(RegisteredTargets(epfd) - 1, std::memory_order_relaxed);  // not ours
  return set;
}

bool EpollSet::KernelLookDue() {
  return kernel_looks_.fetch_add(1, std::memory_order_relaxed) % kKernelLookEvery == 0;
}

void EpollSet::KernelFdRemoved() {
  int n = kernel_fds_.load(std::memory_order_relaxed);
  while (n > 0 && !kernel_fds_.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
  }
}

EpollSet::EpollSet(int epfd, int wake_fd) : epfd_(epfd), wake_fd_(wake_fd) {}

EpollSet::~EpollSet() {
  std::vector<std::unique_ptr<Registration>> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, r] : registrations_) {
      r->removed = true;
      all.push_back(std::move(r));
    }
    registrations_.clear();
    ready_head_ = ready_tail_ = nullptr;
  }
  for (auto& r : all) Detach(std::move(r));
  OwnFds().Release(wake_fd_);
  real::close(wake_fd_);
}

int EpollSet::Control(int op, int fd, const std::shared_ptr<OpenSocket>& file,
                      const epoll_event* event) {
  const Key key{fd, file.get()};
  absl::MutexLock ctl(&ctl_mu_);
  switch (op) {
    case EPOLL_CTL_ADD: {
      {
        absl::MutexLock lock(&mu_);
        if (registrations_.contains(key)) return -EEXIST;
      }
      auto r = std::make_unique<Registration>();
      r->set = this;
      r->key = key;
      r->socket = file->shared_socket();
      r->interest = event->events & ~kFlagBits;
      r->flags = event->events & kFlagBits;
      r->data = event->data;
      Registration* raw = r.get();
      {
        absl::MutexLock lock(&mu_);
        registrations_.emplace(key, std::move(r));
      }
      file->AddEpollLink(shared_from_this(), fd);
      raw->socket->AddListener(raw);
      // ep_insert polls the file once: a socket already ready is reported at once.
      OnReadiness(raw, raw->socket->Poll());
      return 0;
    }
    case EPOLL_CTL_MOD: {
      Registration* raw;
      {
        absl::MutexLock lock(&mu_);
        auto it = registrations_.find(key);
        if (it == registrations_.end()) return -ENOENT;
        raw = it->second.get();
        // An exclusive registration cannot be modified (ep_modify is refused for it).
        if (raw->flags & EPOLLEXCLUSIVE) return -EINVAL;
        raw->interest = event->events & ~kFlagBits;
        raw->flags = event->events & kFlagBits;
        raw->data = event->data;
        raw->armed = true;
        // A queued entry stays queued; harvest re-checks it against the new interest.
      }
      // ep_modify polls again: readiness already there is reported (and re-arms
      // EPOLLONESHOT and edge-triggered registrations).
      OnReadiness(raw, raw->socket->Poll());
      return 0;
    }
    case EPOLL_CTL_DEL: {
      std::unique_ptr<Registration> r;
      {
        absl::MutexLock lock(&mu_);
        r = Take(key);
      }
      if (!r) return -ENOENT;
      Detach(std::move(r));
      return 0;
    }
    default:
      return -EINVAL;
  }
}

void EpollSet::ForgetFile(int fd, const OpenSocket* file) {
  absl::MutexLock ctl(&ctl_mu_);
  std::unique_ptr<Registration> r;
  {
    absl::MutexLock lock(&mu_);
    r = Take(Key{fd, file});
  }
  if (r) Detach(std::move(r));
}

std::optional<epoll_event> EpollSet::Release(int fd, const OpenSocket* file) {
  absl::MutexLock ctl(&ctl_mu_);
  std::unique_ptr<Registration> r;
  {
    absl::MutexLock lock(&mu_);
    r = Take(Key{fd, file});
  }
  if (!r) return std::nullopt;
  epoll_event e{};
  e.events = (r->armed ? r->interest : 0) | r->flags;
  e.data = r->data;
  Detach(std::move(r));
  return e;
}

std::unique_ptr<EpollSet::Registration> EpollSet::Take(const Key& key) {
  auto it = registrations_.find(key);
  if (it == registrations_.end()) return nullptr;
  std::unique_ptr<Registration> r = std::move(it->second);
  registrations_.erase(it);
  r->removed = true;
  if (r->queued) Unlink(r.get());
  SetWake(ready_head_ != nullptr);
  return r;
}

void EpollSet::Detach(std::unique_ptr<Registration> r) {
  // After RemoveListener returns no listener call is in flight, so `r` can go.
  r->socket->RemoveListener(r.get());
}

void EpollSet::OnReadiness(Registration* r, uint32_t mask) {
  absl::MutexLock lock(&mu_);
  if (r->removed || !r->armed || r->queued) return;
  if (EpollRevents(mask, r->interest) == 0) return;
  Enqueue(r);
}

void EpollSet::Enqueue(Registration* r) {
  r->queued = true;
  r->next = nullptr;
  r->prev = ready_tail_;
  if (ready_tail_ != nullptr) {
    ready_tail_->next = r;
  } else {
    ready_head_ = r;
  }
  ready_tail_ = r;
  SetWake(true);
}

void EpollSet::Unlink(Registration* r) {
  (r->prev != nullptr ? r->prev->next : ready_head_) = r->next;
  (r->next != nullptr ? r->next->prev : ready_tail_) = r->prev;
  r->prev = r->next = nullptr;
  r->queued = false;
}

void EpollSet::SetWake(bool readable) {
  // Every change to the ready list ends here with readable == (ready_head_ != nullptr).
  has_ready_.store(readable, std::memory_order_release);
  if (readable == wake_readable_) return;
  if (readable) {
    const uint64_t one = 1;
    (void)real::write(wake_fd_, &one, sizeof(one));
  } else {
    uint64_t value;
    (void)real::read(wake_fd_, &value, sizeof(value));
  }
  wake_readable_ = readable;
}

int EpollSet::Harvest(epoll_event* out, int max) {
  // Nothing queued: no need for mu_ (see HasReady; a registration queued meanwhile keeps
  // the wake fd readable, and EpollWaitMerged looks again).
  if (!HasReady()) return 0;
  absl::MutexLock lock(&mu_);
  // As ep_send_events: each entry on the list now is looked at once; level-triggered ones
  // still ready go back at the tail, after this pass.
  std::vector<Registration*> requeue;
  int n = 0;
  while (n < max && ready_head_ != nullptr) {
    Registration* r = ready_head_;
    Unlink(r);
    if (!r->armed) continue;
    const uint32_t revents = EpollRevents(r->socket->Poll(), r->interest);
    if (revents == 0) continue;
    out[n].events = revents;
    out[n].data = r->data;
    ++n;
    if (r->flags & EPOLLONESHOT) {
      r->armed = false;
    } else if (!(r->flags & EPOLLET)) {
      requeue.push_back(r);
    }
  }
  for (Registration* r : requeue) Enqueue(r);
  SetWake(ready_head_ != nullptr);
  return n;
}

bool EpollSet::HasReady() const {
  // Without mu_: epoll_wait asks on every call, and taking mu_ there made the program's
  // thread wait (futex) behind the dispatcher queuing readiness. A stale answer is
  // harmless: a registration queued after this read has made the wake fd readable, so a
  // sleep in the kernel instance returns at once.
  return has_ready_.load(std::memory_order_acquire);
}

size_t EpollSet::size() const {
  absl::MutexLock lock(&mu_);
  return registrations_.size();
}

uint32_t EpollSet::NextTurn() { return turn_.fetch_add(1, std::memory_order_relaxed); }

// --- EpollTable ---

std::shared_ptr<EpollSet> EpollTable::Get(int epfd) const {
  if (empty()) return nullptr;
  absl::MutexLock lock(&mu_);
  auto it = sets_.find(epfd);
  return it == sets_.end() ? nullptr : it->second;
}

std::shared_ptr<EpollSet> EpollTable::GetOrCreate(int epfd, int* error) {
  absl::MutexLock lock(&mu_);
  auto it = sets_.find(epfd);
  if (it != sets_.end()) return it->second;
  std::shared_ptr<EpollSet> set = EpollSet::Create(epfd, error);
  if (set) {
    sets_.emplace(epfd, set);
    count_.store(sets_.size(), std::memory_order_relaxed);
  }
  return set;
}

void EpollTable::Retire(std::shared_ptr<EpollSet> set,
                        std::vector<std::shared_ptr<EpollSet>>& gone) {
  if (forked_child_) {
    kept_in_child_.push_back(std::move(set));
  } else {
    gone.push_back(std::move(set));
  }
}

void EpollTable::Forget(int fd) {
  if (empty()) return;
  std::vector<std::shared_ptr<EpollSet>> gone;  // released after the lock
  absl::MutexLock lock(&mu_);
  auto it = sets_.find(fd);
  if (it == sets_.end()) return;
  Retire(std::move(it->second), gone);
  sets_.erase(it);
  count_.store(sets_.size(), std::memory_order_relaxed);
}

void EpollTable::ForgetRange(unsigned first, unsigned last) {
  if (empty()) return;
  std::vector<std::shared_ptr<EpollSet>> gone;
  absl::MutexLock lock(&mu_);
  for (auto it = sets_.begin(); it != sets_.end();) {
    const auto fd = static_cast<unsigned>(it->first);
    if (fd >= first && fd <= last) {
      Retire(std::move(it->second), gone);
      sets_.erase(it++);
    } else {
      ++it;
    }
  }
  count_.store(sets_.size(), std::memory_order_relaxed);
}

void EpollTable::Copy(int fd, int copy) {
  if (empty()) return;
  std::vector<std::shared_ptr<EpollSet>> replaced;  // released after the lock
  absl::MutexLock lock(&mu_);
  auto it = sets_.find(fd);
  if (it == sets_.end()) {
    // A kernel-only epoll fd (or none) copied over a tracked number.
    if (auto old = sets_.find(copy); old != sets_.end()) {
      Retire(std::move(old->second), replaced);
      sets_.erase(old);
    }
  } else {
    std::shared_ptr<EpollSet> set = it->second;
    if (auto old = std::exchange(sets_[copy], std::move(set))) Retire(std::move(old), replaced);
  }
  count_.store(sets_.size(), std::memory_order_relaxed);
}

// --- The calls ---

int EpollControlSocket(EpollTable& table, int epfd, int op, int fd,
                       const std::shared_ptr<OpenSocket>& file, epoll_event* event) {
  const bool has_event = op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD;
  if (has_event && event == nullptr) return -EFAULT;
  // An epfd we already track is a good epoll fd (close, dup2 and exec untrack it). For any
  // other the kernel judges (EBADF, EINVAL when it is not an epoll fd or is fd itself): a
  // placeholder is never in a kernel set, so its DEL answers ENOENT exactly when epfd is a
  // good epoll fd. Skipping that probe saves a syscall on every accepted connection.
  std::shared_ptr<EpollSet> set = table.Get(epfd);
  if (!set) {
    if (real::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr) == 0) return -EINVAL;
    if (errno != ENOENT) return -errno;
  }
  if (has_event && (event->events & EPOLLEXCLUSIVE)) {
    if (op == EPOLL_CTL_MOD) return -EINVAL;
    if (event->events & ~kExclusiveOkBits) return -EINVAL;
  }
  if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL) return -EINVAL;
  int error = 0;
  if (!set && op == EPOLL_CTL_ADD) set = table.GetOrCreate(epfd, &error);
  if (!set) return op == EPOLL_CTL_ADD ? error : -ENOENT;
  return set->Control(op, fd, file, event);
}

int EpollControlKernel(EpollTable& table, int epfd, int op, int fd, epoll_event* event) {
  const int r = real::epoll_ctl(epfd, op, fd, event);
  if (r == 0 && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_DEL)) {
    if (std::shared_ptr<EpollSet> set = table.Get(epfd)) {
      if (op == EPOLL_CTL_ADD) {
        set->KernelFdAdded();
      } else {
        set->KernelFdRemoved();
      }
    }
  }
  return r;
}

namespace {

// The kernel instance's events, without our wake fd's; a negative errno on failure.
int KernelEvents(EpollSet& set, epoll_event* events, int max, const timespec* timeout,
                 const sigset_t* sigmask) {
  const int k = real::epoll_pwait2(set.epfd(), events, max, timeout, sigmask);
  if (k < 0) return -errno;
  int kept = 0;
  for (int i = 0; i < k; ++i) {
    if (!set.IsWakeEvent(events[i])) events[kept++] = events[i];
  }
  return kept;
}

// The sleep of a thread that holds the link's turn: on the kernel instance and the link at
// once; the frames are taken here, then the kernel instance's events (if it became ready).
// -EINTR also when a handler the poll deferred ran.
int KernelEventsOrFrames(EpollSet& set, LinkTurn& turn, const SignalMark& mark, epoll_event* events,
                         int max, const timespec* timeout, const sigset_t* sigmask) {
  pollfd p[2] = {{set.epfd(), POLLIN, 0}, {turn.fd(), POLLIN, 0}};
  if (real::ppoll(p, 2, timeout, sigmask) < 0) return -errno;
  if (p[1].revents != 0) {
    if (turn.Poll(mark)) return -EINTR;
  }
  if (p[0].revents == 0) return 0;
  const timespec zero{0, 0};
  return KernelEvents(set, events, max, &zero, nullptr);
}

}  // namespace

int EpollWaitMerged(EpollSet& set, epoll_event* events, int maxevents, const Deadline& deadline,
                    const sigset_t* sigmask) {
  const timespec zero{0, 0};
  LinkTurn::PollLeasedLink();  // what came since this thread last waited, if it holds the link
  // Taken before the first sleep (never by a call that does not sleep: taking the link
  // from the dispatch thread costs a syscall); a handler may give it back meanwhile. Only
  // from a sleeping dispatch thread: an awake one takes the frames at no wake-up cost.
  std::optional<LinkTurn> turn;
  const SignalMark mark = CurrentSignalMark();
  for (;;) {
    // Taking turns at who fills the caller's array first keeps a busy kind of fd from
    // starving the other when maxevents is small.
    const bool stack_first = (set.NextTurn() & 1) != 0;
    int n = stack_first ? set.Harvest(events, maxevents) : 0;
    if (n < maxevents) {
      const bool may_sleep = n == 0 && !set.HasReady();
      timespec left{};
      const timespec* timeout = &zero;
      if (may_sleep) {
        if (deadline) {
          left = TimeLeft(*deadline);
          timeout = &left;
        } else {
          timeout = nullptr;
        }
      }
      const bool sleeps =
          may_sleep && (timeout == nullptr || timeout->tv_sec != 0 || timeout->tv_nsec != 0);
      if (sleeps && !turn) turn.emplace(/*only_if_loop_asleep=*/true);
      if (sleeps) LinkTurn::BeforeSleep();
      // Stack events are ready and the kernel instance holds only our wake fd: nothing to
      // ask it (a syscall per wait), but every 64th turn, for registrations we missed.
      const bool ask_kernel = may_sleep || set.MayHaveKernelFds() || set.KernelLookDue();
      if (ask_kernel) {
        const int k = sleeps && turn->held() ? KernelEventsOrFrames(set, *turn, mark, events + n,
                                                                    maxevents - n, timeout, sigmask)
                                             : KernelEvents(set, events + n, maxevents - n, timeout,
                                                            may_sleep ? sigmask : nullptr);
        if (k < 0) return n > 0 ? n : k;
        n += k;
      }
    }
    // Once per call: a level-triggered entry harvested above is back on the list already.
    if (!stack_first && n < maxevents) n += set.Harvest(events + n, maxevents - n);
    if (n > 0) return n;
    // Nothing, yet: a timeout, or a wake for entries no longer ready (look again).
    if (deadline && MonotonicNow() >= *deadline) return 0;
  }
}

}  // namespace netshim
