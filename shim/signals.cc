#include "shim/signals.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "shim/real_calls.h"

namespace netshim {
namespace {

// The program's own action for each signal, read by the trampoline in signal context: so
// only lock-free atomics. A handler and its flags are stored together in one word pair
// guarded by a sequence number, so a reader never mixes a new handler with old flags.
struct ProgramAction {
  std::atomic<uint32_t> seq{0};  // odd while being written
  std::atomic<void*> handler{nullptr};
  std::atomic<int> flags{0};
};
constinit ProgramAction g_actions[_NSIG];
// Serializes writers (sigaction calls from several threads). Writers block every signal
// while they hold it, so a handler that calls sigaction never finds it held by its own
// thread.
constinit std::atomic_flag g_writing = ATOMIC_FLAG_INIT;

// Counts per thread; initial-exec TLS is safe to touch in a signal handler.
__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_restarting = 0;
__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_interrupting = 0;

// DeferSignals: the depth of nested sections, the signals that came inside them, and the
// siginfo of the first few (more distinct ones at once are re-sent without it).
constexpr int kKeptInfos = 4;
__attribute__((tls_model("initial-exec"))) thread_local int t_defer_depth = 0;
__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_deferred = 0;  // bit sig-1
__attribute__((tls_model("initial-exec"))) thread_local siginfo_t t_deferred_info[kKeptInfos];
__attribute__((tls_model("initial-exec"))) thread_local int t_deferred_info_sig[kKeptInfos];
__attribute__((tls_model("initial-exec"))) thread_local void (*t_before_handler)() = nullptr;

bool Deferrable(int sig, int flags) {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
      return false;
    default:
      return sig <= 64 && (flags & SA_RESETHAND) == 0;
  }
}

// In signal context, inside a section: keeps the signal for re-delivery.
void Defer(int sig, const siginfo_t* info) {
  const uint64_t bit = uint64_t{1} << (sig - 1);
  if (t_deferred & bit) return;  // pending twice is pending once, as the kernel does
  t_deferred |= bit;
  for (int i = 0; i < kKeptInfos; ++i) {
    if (t_deferred_info_sig[i] == 0) {
      t_deferred_info_sig[i] = sig;
      t_deferred_info[i] = *info;
      return;
    }
  }
}

// Outside every section: sends the deferred signals to this thread again; each is
// delivered as the sending syscall returns.
void Redeliver() {
  const int saved_errno = errno;
  const pid_t pid = getpid();
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  while (t_deferred != 0) {
    const int sig = __builtin_ctzll(t_deferred) + 1;
    t_deferred &= ~(uint64_t{1} << (sig - 1));
    bool sent = false;
    for (int i = 0; i < kKeptInfos && !sent; ++i) {
      if (t_deferred_info_sig[i] != sig) continue;
      t_deferred_info_sig[i] = 0;
      siginfo_t info = t_deferred_info[i];
      sent = syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info) == 0;
    }
    if (!sent) syscall(SYS_tgkill, pid, tid, sig);
  }
  errno = saved_errno;
}

bool IsHandler(void* h) {
  return h != reinterpret_cast<void*>(SIG_DFL) && h != reinterpret_cast<void*>(SIG_IGN) &&
         h != reinterpret_cast<void*>(SIG_ERR);
}

void Read(int sig, void** handler, int* flags) {
  ProgramAction& a = g_actions[sig];
  for (;;) {
    const uint32_t before = a.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    *handler = a.handler.load(std::memory_order_relaxed);
    *flags = a.flags.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (a.seq.load(std::memory_order_relaxed) == before) return;
  }
}

void Write(int sig, void* handler, int flags) {
  ProgramAction& a = g_actions[sig];
  a.seq.fetch_add(1, std::memory_order_acq_rel);
  a.handler.store(handler, std::memory_order_relaxed);
  a.flags.store(flags, std::memory_order_relaxed);
  a.seq.fetch_add(1, std::memory_order_release);
}

void Trampoline(int sig, siginfo_t* info, void* context) {
  void* handler;
  int flags;
  Read(sig, &handler, &flags);
  if (t_defer_depth > 0 && IsHandler(handler) && Deferrable(sig, flags)) {
    Defer(sig, info);
    return;
  }
  if (void (*hook)() = t_before_handler) {
    t_before_handler = nullptr;
    const int saved_errno = errno;
    hook();
    errno = saved_errno;
  }
  if (flags & SA_RESTART) {
    ++t_restarting;
  } else {
    ++t_interrupting;
  }
  // SA_RESETHAND: the kernel has put SIG_DFL back, which sigaction's `old` then shows
  // (the kernel's action is no longer the trampoline).
  if (!IsHandler(handler)) return;  // changed while this signal was on its way
  if (flags & SA_SIGINFO) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(sig, info, context);
  } else {
    reinterpret_cast<void (*)(int)>(handler)(sig);
  }
}

// Blocks every signal for the duration of an update, so a handler on this thread cannot
// interrupt it (and find g_writing held).
class WriterLock {
 public:
  WriterLock() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
    while (g_writing.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~WriterLock() {
    g_writing.clear(std::memory_order_release);
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }

 private:
  sigset_t saved_;
};

// What the kernel holds for a program action.
struct sigaction KernelAction(const struct sigaction& program) {
  struct sigaction k = program;
  k.sa_sigaction = Trampoline;
  k.sa_flags = program.sa_flags | SA_SIGINFO;
  return k;
}

}  // namespace

SignalMark CurrentSignalMark() { return SignalMark{t_restarting, t_interrupting}; }

bool ShouldRestart(const SignalMark& mark) {
  return t_interrupting == mark.interrupting && t_restarting != mark.restarting;
}

bool HandlerRanSince(const SignalMark& mark) {
  return t_interrupting != mark.interrupting || t_restarting != mark.restarting;
}

DeferSignals::DeferSignals() {
  ++t_defer_depth;
  // The compiler must not sink the stack's work above this (a handler reads the depth).
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

DeferSignals::~DeferSignals() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (--t_defer_depth == 0 && t_deferred != 0) Redeliver();
}

void SetBeforeHandlerHook(void (*hook)()) {
  t_before_handler = hook;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

int InstallSignalAction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig <= 0 || sig >= _NSIG) return -EINVAL;
  WriterLock lock;
  struct sigaction kernel_old {};
  struct sigaction kernel_new {};
  const struct sigaction* to_kernel = act;
  if (act != nullptr) {
    void* h = (act->sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(act->sa_sigaction)
                                           : reinterpret_cast<void*>(act->sa_handler);
    if (IsHandler(h)) {
      kernel_new = KernelAction(*act);
      to_kernel = &kernel_new;
    }
  }
  if (real::sigaction(sig, to_kernel, &kernel_old) < 0) return -errno;
  void* prev_handler;
  int prev_flags;
  Read(sig, &prev_handler, &prev_flags);
  if (old != nullptr) {
    *old = kernel_old;
    // Behind the trampoline is the program's own handler: show that one.
    if (kernel_old.sa_sigaction == Trampoline) {
      old->sa_flags = prev_flags;
      if (prev_flags & SA_SIGINFO) {
        old->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(prev_handler);
      } else {
        old->sa_handler = reinterpret_cast<void (*)(int)>(prev_handler);
      }
    }
  }
  if (act != nullptr) {
    void* h = (act->sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(act->sa_sigaction)
                                           : reinterpret_cast<void*>(act->sa_handler);
    Write(sig, h, act->sa_flags);
  }
  return 0;
}

int SetSignalInterrupt(int sig, int flag) {
  struct sigaction action {};
  if (int r = InstallSignalAction(sig, nullptr, &action); r < 0) return r;
  if (flag) {
    action.sa_flags &= ~SA_RESTART;
  } else {
    action.sa_flags |= SA_RESTART;
  }
  return InstallSignalAction(sig, &action, nullptr);
}

}  // namespace netshim
