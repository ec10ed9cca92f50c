// epoll(7) over any mix of stack sockets and kernel fds.
//
// The kernel's epoll instance stays the program's: kernel fds are registered in it exactly
// as asked. Stack sockets cannot be (their placeholder eventfds know nothing of readiness),
// so each set that holds one gets an EpollSet beside it: a side table of registrations
// keyed as the kernel keys them — (fd number, open file) — each a ReadinessListener on its
// socket, and a ready list like the kernel's rdllist. One private eventfd per set, the
// "wake" fd, sits in the kernel instance with our own key and is readable exactly while the
// ready list is not empty, so a program blocked in epoll_wait (or polling the epoll fd
// itself, or nesting it in another epoll set) wakes when a stack socket becomes ready.
// epoll_wait merges the kernel's events with the ready list, re-checking each entry's
// readiness at harvest as ep_send_events does: level-triggered entries go back on the list,
// edge-triggered ones wait for the next event, EPOLLONESHOT ones are disabled until
// EPOLL_CTL_MOD.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "shim/open_socket.h"
#include "shim/waiter.h"

namespace netshim {

// What epoll reports for a socket whose poll mask is `mask` when `interest` was registered:
// EPOLLRDNORM/EPOLLWRNORM ride with EPOLLIN/EPOLLOUT, EPOLLERR and EPOLLHUP come unasked.
uint32_t EpollRevents(uint32_t mask, uint32_t interest);

class EpollSet : public std::enable_shared_from_this<EpollSet> {
 public:
  // Creates the wake eventfd and registers it in the kernel instance `epfd`. Null with
  // *error set when the kernel refuses (-EMFILE, ...).
  static std::shared_ptr<EpollSet> Create(int epfd, int* error);
  ~EpollSet();
  EpollSet(const EpollSet&) = delete;
  EpollSet& operator=(const EpollSet&) = delete;

  int epfd() const { return epfd_; }

  // EPOLL_CTL_ADD / MOD / DEL of the stack descriptor `fd` (whose open file is `file`),
  // with epoll_ctl(2)'s errno: -EEXIST, -ENOENT, -EINVAL (bad flags). `event` is already
  // checked to be non-null for ADD and MOD.
  int Control(int op, int fd, const std::shared_ptr<OpenSocket>& file, const epoll_event* event);

  // Moves up to `max` ready stack events into `out` (the program's epoll_data in each);
  // returns how many.
  int Harvest(epoll_event* out, int max);
  bool HasReady() const;

  // The file's last descriptor closed: its registrations go, as eventpoll_release does.
  void ForgetFile(int fd, const OpenSocket* file);

  // Descriptor `fd` stopped being `file` (it was handed to the kernel): its registration
  // leaves the side table, and what the program registered comes back, for the caller to
  // register the kernel socket now under `fd` in the kernel instance: events with their
  // flags, and the data. A disarmed EPOLLONESHOT registration comes back with its flags
  // only. nullopt when the set holds no such registration.
  std::optional<epoll_event> Release(int fd, const OpenSocket* file);

  // True for the kernel event that is our wake fd, not the program's.
  bool IsWakeEvent(const epoll_event& e) const { return e.data.ptr == this; }

  // Registrations held now (tests; bounded by what the program registered).
  size_t size() const;

  // Alternates which kind of event, kernel or stack, fills a caller's array first.
  uint32_t NextTurn();

  // Kernel fds in the kernel instance besides our wake fd, as far as we know: those there
  // when the set was made (/proc/self/fdinfo), then the program's ADDs less its DELs (a
  // kernel fd closed while registered leaves it counted: the safe side). While there are
  // none, a wait that finds stack events ready need not ask the kernel instance (a
  // syscall) except now and then, for any registration made behind our back.
  void KernelFdAdded() { kernel_fds_.fetch_add(1, std::memory_order_relaxed); }
  void KernelFdRemoved();
  bool MayHaveKernelFds() const { return kernel_fds_.load(std::memory_order_relaxed) > 0; }
  // True once in kKernelLookEvery calls.
  bool KernelLookDue();

 private:
  struct Registration;
  using Key = std::pair<int, const OpenSocket*>;

  EpollSet(int epfd, int wake_fd);

  // A listener saw `mask`: queue the registration if it is interested.
  void OnReadiness(Registration* r, uint32_t mask) ABSL_LOCKS_EXCLUDED(mu_);
  void Enqueue(Registration* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unlink(Registration* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the registration out of the table (and the ready list); the caller detaches the
  // listener with mu_ released (listener calls take mu_) and then deletes it.
  std::unique_ptr<Registration> Take(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Detach(std::unique_ptr<Registration> r);
  void SetWake(bool readable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int epfd_;
  const int wake_fd_;
  std::atomic<uint32_t> turn_{0};
  std::atomic<int> kernel_fds_{0};
  std::atomic<uint32_t> kernel_looks_{0};
  // Serializes EPOLL_CTL_* and close-time removal, which attach and detach listeners with
  // mu_ released (a listener call takes mu_). Order: ctl_mu_, then a socket's listener
  // lock, then mu_.
  absl::Mutex ctl_mu_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, std::unique_ptr<Registration>> registrations_ ABSL_GUARDED_BY(mu_);
  // The ready list, intrusive through Registration::prev/next.
  Registration* ready_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  Registration* ready_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool wake_readable_ ABSL_GUARDED_BY(mu_) = false;
  // ready_head_ != nullptr, as of the last change (written under mu_, read without).
  std::atomic<bool> has_ready_{false};
};

// Which kernel epoll fds have an EpollSet: fd number -> set. dup(2) of an epoll fd shares
// its set, close(2) forgets it (the set lives while an epoll_wait still uses it).
class EpollTable {
 public:
  // The set of `epfd`, or null when it has none (a kernel-only epoll set).
  std::shared_ptr<EpollSet> Get(int epfd) const;
  // The set of `epfd`, made on first use.
  std::shared_ptr<EpollSet> GetOrCreate(int epfd, int* error);
  // close(2) of `fd` (or a new fd reusing a number whose close we did not see).
  void Forget(int fd);
  // close_range(2) over [first, last].
  void ForgetRange(unsigned first, unsigned last);
  // dup(2): `copy` now refers to the same epoll instance as `fd`.
  void Copy(int fd, int copy);
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }

  // fork(2): held from the prepare handler to the parent's and the child's, so the child
  // never inherits the table's lock held by a thread that does not exist there.
  void LockForFork() ABSL_EXCLUSIVE_LOCK_FUNCTION(mu_) { mu_.Lock(); }
  void UnlockAfterFork() ABSL_UNLOCK_FUNCTION(mu_) { mu_.Unlock(); }
  // In a forked child, sets the program forgets are kept, never destroyed: tearing one
  // down unhooks it from the parent's stack sockets, whose locks the child must not touch.
  // (Between LockForFork and UnlockAfterFork.)
  void MarkForkedChildLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { forked_child_ = true; }

 private:
  // Where a set leaving the table goes: released by the caller after the lock, or kept
  // for good in a forked child.
  void Retire(std::shared_ptr<EpollSet> set, std::vector<std::shared_ptr<EpollSet>>& gone)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, std::shared_ptr<EpollSet>> sets_ ABSL_GUARDED_BY(mu_);
  bool forked_child_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<EpollSet>> kept_in_child_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> count_{0};
};

// epoll_ctl(2) on `epfd` for the stack descriptor `fd`: validates as the kernel does (EBADF,
// EINVAL for a non-epoll epfd or epfd == fd, EFAULT, EEXIST/ENOENT), then records it in the
// side table. Returns 0 or a negative errno.
int EpollControlSocket(EpollTable& table, int epfd, int op, int fd,
                       const std::shared_ptr<OpenSocket>& file, epoll_event* event);

// epoll_ctl(2) on `epfd` for the kernel descriptor `fd`: the kernel's call, counted in the
// set of `epfd` if it has one (EpollSet::KernelFdAdded). Returns its result, errno set.
int EpollControlKernel(EpollTable& table, int epfd, int op, int fd, epoll_event* event);

// epoll_pwait2(2) on a set that may hold stack sockets: kernel events and stack events
// together; sleeps in the real epoll_pwait2 with the caller's signal mask until either kind
// is ready or `deadline` passes. Returns the count, 0 on timeout or a negative errno.
int EpollWaitMerged(EpollSet& set, epoll_event* events, int maxevents, const Deadline& deadline,
                    const sigset_t* sigmask);

}  // namespace netshim
