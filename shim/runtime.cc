#include "shim/runtime.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "absl/base/call_once.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "shim/loopback.h"
#include "shim/protected_fds.h"
#include "shim/real_calls.h"
#include "shim/shim_config.h"
#include "shim/signals.h"
#include "stack/link/link_builder.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/log.h"

namespace netshim::shim {
namespace {

thread_local bool t_starting = false;
std::atomic<bool> g_forked_child{false};
std::atomic<bool> g_child_refusal_logged{false};
std::atomic<Stack*> g_stack{nullptr};
// Set at exit: a lingering close does not wait in an exiting process (PF_EXITING).
std::atomic<bool> g_exiting{false};
absl::once_flag g_start_once;
// Written once before g_stack is published, read after it.
const Config* g_config = nullptr;

ExitDrain& Drain() {
  static ExitDrain* drain = new ExitDrain();  // never destroyed: used by exit handlers
  return *drain;
}

void WriteStderr(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = real::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void StopProgram(int status, const absl::Status& why) {
  WriteStderr(FatalLine(why));
  _exit(status);
}

// fork(2) copies only the calling thread: a lock another thread held at that moment stays
// held in the child for good. The child's shim touches the descriptor table (every call
// looks its fd up; close takes it out), so fork waits until no other thread is inside a
// table operation and keeps them out until it returns (FdTable::QuiesceForFork). The
// child's close only takes the descriptor out of the table and keeps the parent's socket
// (FdTable::MarkForkedChild), so no OpenSocket teardown, epoll link or stack lock is
// reached there; every other call on a parent's socket is refused (RefuseInChild). close(2)
// also asks the epoll side table (EpollTable::Forget): its lock is held across fork too,
// taken after the descriptor table is quiet (a thread inside the table may be on its way
// to it; none holding it enters the table), and the child keeps the sets it forgets
// rather than unhooking them from the parent's sockets.
// glibc runs these prepare handlers before it takes its own locks (stdio, malloc), so a
// thread finishing a table operation can still allocate.
void OnForkPrepare() {
  Fds().QuiesceForFork();
  Epolls().LockForFork();
}
void OnForkParent() {
  Epolls().UnlockAfterFork();
  Fds().ResumeAfterFork();
}
void OnForkChild() {
  Epolls().MarkForkedChildLocked();
  Epolls().UnlockAfterFork();
  Fds().MarkForkedChild();
  Fds().ResumeAfterFork();
  g_forked_child.store(true, std::memory_order_release);
}

// atexit: Linux closes every descriptor of an exiting process and keeps delivering; here
// the process waits for that (bounded), then shows the counters if asked and stops the
// dispatch thread before static destructors run.
void OnExit() {
  if (InForkedChild()) return;
  g_exiting.store(true, std::memory_order_release);
  Stack* stack = g_stack.load(std::memory_order_acquire);
  if (stack == nullptr) return;
  Fds().ForEach([](int, const std::shared_ptr<OpenSocket>& s) { s->CloseNow(); });
  if (!Drain().Wait(g_config->exit_timeout)) {
    NETSHIM_LOG(kWarn, "exit: {} connection(s) still sending after {}; giving up",
                Drain().Pending(), absl::FormatDuration(g_config->exit_timeout));
  }
  if (g_config->stats) {
    WriteStderr(fmt::format("netshim: counters of process {}:\n{}", getpid(),
                            stack->stats().FormatTable()));
  }
  stack->Stop();
}

// NETSHIM_TAP_FD belongs to the stack from the program's first instruction, but the stack
// adopts it only at the first socket call: a daemon that closes every descriptor on
// startup (close_range(3, ~0U), or close() over 3..1023 before it opens anything) would
// close it first and be left without a network. So it is guarded from the moment the
// library loads; a number that is not an open descriptor is left for the stack's own
// check (which names the problem when a socket needs it).
__attribute__((constructor)) void GuardInheritedTap() {
  const char* value = ::getenv("NETSHIM_TAP_FD");
  int fd = -1;
  if (value == nullptr || !absl::SimpleAtoi(value, &fd)) return;
  const int saved_errno = errno;  // the program's errno is not ours to change
  if (fd >= 0 && fd < ProtectedFds::kMaxFds && real::fcntl(fd, F_GETFD, 0) >= 0) {
    OwnFds().Protect(fd);
  }
  errno = saved_errno;
}

void StartStack() {
  t_starting = true;
#ifdef NDEBUG
  // Abseil's lock-order checking costs on every lock (its graph lookups were a tenth of the
  // shim's own instructions in a release profile); debug builds and the tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  absl::StatusOr<Config> config = LoadShimConfig(::getenv);
  if (!config.ok()) StopProgram(kExitBadConfig, config.status());
  SetLoopbackMode(config->loopback);
  SetLogLevel(config->log_level);
  if (config->log_file) {
    if (absl::Status s = SetLogFile(*config->log_file); !s.ok()) StopProgram(kExitBadConfig, s);
  }
  if (config->threads > 1) {
    NETSHIM_LOG(kWarn, "NETSHIM_THREADS={}: the stack runs one dispatch thread for now",
                config->threads);
  }
  const LinkConfig link = LinkConfigFor(*config);
  absl::StatusOr<std::unique_ptr<Stack>> stack =
      Stack::Create(StackOptionsFor(*config), [&link](BufferPool* pool, LinkStats* stats) {
        return BuildLink(link, pool, stats, MonotonicClock::Get());
      });
  if (!stack.ok()) StopProgram(kExitNoStack, stack.status());
  // The dispatch thread inherits this mask: with every signal blocked there, the program's
  // signals reach its own threads, whose blocking calls they must interrupt (EINTR).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  const absl::Status started = (*stack)->Start();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!started.ok()) StopProgram(kExitNoStack, started);
  for (int fd : (*stack)->dispatcher()->Descriptors()) OwnFds().Protect(fd);
  g_config = new Config(*std::move(config));
  pthread_atfork(OnForkPrepare, OnForkParent, OnForkChild);
  std::atexit(OnExit);
  g_stack.store(stack->release(), std::memory_order_release);
  t_starting = false;
}

}  // namespace

FdTable& Fds() {
  static FdTable* table = new FdTable();
  return *table;
}

EpollTable& Epolls() {
  static EpollTable* table = new EpollTable();
  return *table;
}

Stack& EnsureStack() {
  absl::call_once(g_start_once, StartStack);
  return *g_stack.load(std::memory_order_acquire);
}

bool StartingStack() { return t_starting; }

Dispatcher* CallerPollDispatcher() {
  Stack* stack = g_stack.load(std::memory_order_acquire);
  if (stack == nullptr || !g_config->caller_poll || InForkedChild() ||
      g_exiting.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  return stack->dispatcher();
}

bool InForkedChild() { return g_forked_child.load(std::memory_order_acquire); }

std::shared_ptr<OpenSocket> MakeOpenSocket(std::shared_ptr<Socket> socket, bool nonblocking) {
  return std::make_shared<OpenSocket>(
      std::move(socket), nonblocking, [](const std::shared_ptr<Socket>& s) {
        if (InForkedChild()) return;  // the parent's socket: closing it there is theirs
        // inet_release: SO_LINGER makes close(2) wait, except in an exiting process.
        const std::optional<absl::Duration> linger = s->LingerTimeout();
        InStack([&] { s->Close(); });
        if (linger && !g_exiting.load(std::memory_order_acquire)) {
          WaitSendDrained(*s, DeadlineAfter(linger == absl::InfiniteDuration()
                                                ? std::nullopt
                                                : std::optional<absl::Duration>(*linger)));
        }
        if (s->type() == SOCK_STREAM) Drain().Track(s);
      });
}

int RefuseInChild(int fd) {
  if (!g_child_refusal_logged.exchange(true)) {
    WriteStderr(fd < 0 ? std::string("netshim: no new IPv4 sockets in a child forked after the "
                                     "stack started (the stack lives in the parent; exec "
                                     "starts afresh)\n")
                       : fmt::format("netshim: fd {} is a socket of the parent process's "
                                     "stack; after fork() without exec only close() works on "
                                     "it\n",
                                     fd));
  }
  return -EOPNOTSUPP;
}

}  // namespace netshim::shim
