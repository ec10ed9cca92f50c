#include "stack/runtime/dispatcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "stack/runtime/log.h"

// The loop's own descriptors are driven with syscall(2): in a process whose C library calls
// are interposed (the shim), they are no business of the interposer.
namespace netshim {
namespace {

constexpr size_t kKernelSigsetSize = 8;

int EpollCtl(int epfd, int op, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  return static_cast<int>(::syscall(SYS_epoll_ctl, epfd, op, fd, &ev));
}

}  // namespace

Dispatcher::Dispatcher(DispatchTarget* target, const Clock& clock, int link_fd)
    : target_(target), clock_(clock), link_fd_(link_fd) {}

Dispatcher::~Dispatcher() {
  Stop();
  for (int fd : {epoll_fd_, wake_fd_, timer_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status Dispatcher::Start() {
  if (running()) return absl::OkStatus();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0) {
    return absl::InternalError(fmt::format("dispatcher: {}", std::strerror(errno)));
  }
  // Edge-triggered: every Wake() write and every expiry is one event, so the loop never
  // reads either back (2^64 writes would fill the eventfd; timerfd_settime resets the
  // timer's count).
  // Level-triggered link: PollOnce may leave frames queued (its budget); epoll reports them.
  if (EpollCtl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, EPOLLIN | EPOLLET) != 0 ||
      EpollCtl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, EPOLLIN | EPOLLET) != 0 ||
      (link_fd_ >= 0 && EpollCtl(epoll_fd_, EPOLL_CTL_ADD, link_fd_, EPOLLIN) != 0)) {
    return absl::InternalError(fmt::format("dispatcher: epoll_ctl: {}", std::strerror(errno)));
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
  [[maybe_unused]] long n = ::syscall(SYS_write, wake_fd_, &one, sizeof(one));
}

void Dispatcher::WakeIfBefore(absl::Time deadline) {
  const int64_t want = absl::ToUnixNanos(deadline);
  // planned_wake_nanos_ only moves earlier while the loop sleeps: a later deadline needs no
  // lock. Awake, the loop reads the deadlines before it sleeps again.
  int64_t planned = planned_wake_nanos_.load();
  if (planned == kAwake || want >= planned) return;
  absl::MutexLock lock(&arm_mu_);
  planned = planned_wake_nanos_.load();
  if (planned == kAwake || want >= planned) return;
  planned_wake_nanos_.store(want);
  ArmTimer(want);
}

void Dispatcher::Plan(int64_t nanos) {
  absl::MutexLock lock(&arm_mu_);
  planned_wake_nanos_.store(nanos);
  if (nanos != kAwake) ArmTimer(nanos);
}

void Dispatcher::ArmTimer(int64_t nanos) {
  if (nanos == armed_nanos_) return;
  itimerspec spec{};
  if (nanos != kNever) {
    // Relative to the clock's now, which may be a test's: a past deadline fires at once.
    const int64_t left = std::max<int64_t>(nanos - absl::ToUnixNanos(clock_.Now()), 1);
    spec.it_value.tv_sec = left / 1'000'000'000;
    spec.it_value.tv_nsec = left % 1'000'000'000;
  }
  if (::syscall(SYS_timerfd_settime, timer_fd_, 0, &spec, nullptr) != 0) {
    NETSHIM_LOG(kError, "dispatcher: timerfd_settime: {}", std::strerror(errno));
    return;
  }
  armed_nanos_ = nanos;
}

// Lease ids for the whole process: a thread's id from a dispatcher since destroyed (a
// test's) never matches a newer one's.
std::atomic<uint64_t> g_next_lease{1};

bool Dispatcher::SwitchLink(uint64_t from, uint64_t to) {
  uint64_t expected = from;
  if (!lease_.compare_exchange_strong(expected, kSwitching)) return false;
  // Off the loop's set, a frame wakes the holder alone; back in it (level-triggered), frames
  // that came meanwhile wake the loop at once.
  if (to == kLoopOwns) {
    EpollCtl(epoll_fd_, EPOLL_CTL_ADD, link_fd_, EPOLLIN);
  } else if (from == kLoopOwns) {
    EpollCtl(epoll_fd_, EPOLL_CTL_DEL, link_fd_, 0);
  }
  lease_.store(to);
  return true;
}

uint64_t Dispatcher::AttendLink(uint64_t lease, bool only_if_asleep) {
  if (link_fd_ < 0 || !running()) return 0;
  if (HoldsLink(lease)) {
    lease_attended_.store(true);
    return lease;
  }
  const uint64_t current = lease_.load();
  if (current == kSwitching) return 0;
  if (current == kLoopOwns) {
    if (only_if_asleep && planned_wake_nanos_.load(std::memory_order_relaxed) == kAwake) return 0;
  } else if (lease_attended_.load()) {
    return 0;  // its holder sleeps on the link (or is about to poll it)
  }
  const uint64_t mine = g_next_lease.fetch_add(1, std::memory_order_relaxed);
  if (current == kLoopOwns) {
    if (!SwitchLink(kLoopOwns, mine)) return 0;
  } else {
    // A holder away from the link: the lease passes at no cost. (Should it attend again
    // meanwhile, both sleep on the link until it sees the lease gone: harmless, the frames
    // are processed one thread at a time.)
    uint64_t expected = current;
    if (!lease_.compare_exchange_strong(expected, mine)) return 0;
  }
  lease_attended_.store(true);
  return mine;
}

void Dispatcher::LeaveLink(uint64_t lease) {
  if (!HoldsLink(lease)) return;
  lease_attended_.store(false);
  lease_polls_.fetch_add(1);
  ScheduleLeaseCheck(absl::ToUnixNanos(clock_.Now()));
}

void Dispatcher::ReturnLink(uint64_t lease) {
  if (lease == kLoopOwns || lease == kSwitching) return;
  SwitchLink(lease, kLoopOwns);
}

void Dispatcher::ScheduleLeaseCheck(int64_t now) {
  // Seen after lease_attended_ was cleared (both sequentially consistent): either this sees
  // the loop's "no look scheduled" or the loop's next look sees the holder gone.
  if (lease_check_at_.load() != kNever) return;
  int64_t expected = kNever;
  const int64_t at = now + lease_period_nanos_;
  if (lease_check_at_.compare_exchange_strong(expected, at)) WakeIfBefore(absl::FromUnixNanos(at));
}

int64_t Dispatcher::CheckLease(int64_t now) {
  const int64_t at = lease_check_at_.load();
  if (at == kNever || now < at) return at;
  const int64_t next = now + lease_period_nanos_;
  uint64_t lease = lease_.load();
  if (lease != kLoopOwns && lease != kSwitching && !lease_attended_.load()) {
    const uint64_t polls = lease_polls_.load();
    if (polls != lease_polls_seen_) {
      // Polled (or waited) within the period: look again one period on.
      lease_polls_seen_ = polls;
      lease_check_at_.store(next);
      return next;
    }
    if (SwitchLink(lease, kLoopOwns)) {
      leases_revoked_.fetch_add(1, std::memory_order_relaxed);
      // Its holder went elsewhere: what it held goes now, a lease period at most late.
      target_->ReleaseHeld();
    } else {
      lease_check_at_.store(next);  // it changed hands meanwhile
      return next;
    }
  }
  lease_check_at_.store(kNever);
  // A holder that left after the look above schedules the next one itself, or is seen here.
  lease = lease_.load();
  if (lease != kLoopOwns && lease != kSwitching && !lease_attended_.load()) {
    lease_check_at_.store(next);
    return next;
  }
  return kNever;
}

size_t Dispatcher::CallerPoll() {
  lease_polls_.fetch_add(1, std::memory_order_relaxed);
  // What its application's replies have not carried for a while goes now.
  target_->AgeHeld();
  absl::MutexLock lock(&work_mu_);
  const size_t n = target_->PollForCaller(kPollBudget);
  // What the frames set going (a delayed ACK, a retransmission, a reassembly's end) is for
  // the loop to run: it must not sleep past it.
  if (n > 0) {
    if (const std::optional<absl::Time> next = target_->NextDeadline()) WakeIfBefore(*next);
  }
  return n;
}

void Dispatcher::Loop() {
  epoll_event events[4];
  while (!stop_.load(std::memory_order_acquire)) {
    std::optional<absl::Time> deadline;
    {
      absl::MutexLock lock(&work_mu_);
      // Drain what is waiting; a full budget means more may be queued, so do not sleep.
      // Not the link while a thread holds its lease: the holder takes those frames at its
      // next wait, and a loop woken for a timer (or its look at the lease) reading them
      // too would only race it for the frames and the lock, and spend a read on an empty
      // link. A holder that stops polling loses the lease within a period (CheckLease).
      const size_t polled =
          link_leased() ? target_->PollBesidesLink(kPollBudget) : target_->PollOnce(kPollBudget);
      target_->RunTimers(clock_.Now());
      // No holder: what one held is for nobody to carry any more.
      if (!link_leased()) target_->ReleaseHeld();
      if (polled == kPollBudget) continue;
      deadline = target_->NextDeadline();
    }
    const int64_t wake = std::min(deadline ? absl::ToUnixNanos(*deadline) : kNever,
                                  CheckLease(absl::ToUnixNanos(clock_.Now())));
    Plan(wake);
    // A thread that armed an earlier timer (or scheduled a look at its lease) before Plan()
    // saw us awake and did not re-arm the timerfd; look once more so its deadline is not
    // slept through. One that arms it after sees the plan and re-arms.
    std::optional<absl::Time> again;
    {
      absl::MutexLock lock(&work_mu_);
      again = target_->NextDeadline();
    }
    if ((again && absl::ToUnixNanos(*again) < wake) || lease_check_at_.load() < wake) {
      Plan(kAwake);
      continue;
    }
    const int n = static_cast<int>(
        ::syscall(SYS_epoll_pwait, epoll_fd_, events, 4, -1, nullptr, kKernelSigsetSize));
    bool timer_fired = false;
    for (int i = 0; i < n; ++i) timer_fired |= events[i].data.fd == timer_fd_;
    {
      absl::MutexLock lock(&arm_mu_);
      planned_wake_nanos_.store(kAwake);  // awake: nobody needs to re-arm for us
      if (timer_fired) armed_nanos_ = kNever;
    }
    if (n < 0 && errno != EINTR) {
      NETSHIM_LOG(kError, "dispatcher: epoll_wait: {}", std::strerror(errno));
      break;
    }
    // Nothing to read back: the wake and timer fds are edge-triggered, the link is PollOnce's.
  }
}

std::vector<int> Dispatcher::Descriptors() const {
  std::vector<int> fds;
  for (int fd : {link_fd_, epoll_fd_, wake_fd_, timer_fd_}) {
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

}  // namespace netshim
