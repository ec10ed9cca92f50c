// Which signal handlers ran during a blocking wait, so that an interrupted socket call
// can be restarted exactly when Linux would restart it (signal(7)): the handler was
// installed with SA_RESTART and the socket has no timeout for that direction
// (sock_intr_errno: -ERESTARTSYS only when the timeout is infinite).
//
// The shim sees every handler the program installs through sigaction(2), signal(3),
// bsd_signal, sysv_signal and siginterrupt(3), and installs a trampoline in its place that
// counts, per thread, handlers with and without SA_RESTART before calling the program's
// handler. The program always sees its own handler and flags back. A handler installed
// behind our back (a raw rt_sigaction) is unknown: the call returns EINTR, as before.
#pragma once

#include <signal.h>

#include <cstdint>

namespace netshim {

struct SignalMark {
  uint64_t restarting = 0;    // handlers with SA_RESTART that ran on this thread
  uint64_t interrupting = 0;  // handlers without it
};

// This thread's counts now.
SignalMark CurrentSignalMark();

// After a wait ended in EINTR: true when Linux would restart the call, i.e. since `mark`
// at least one handler ran on this thread and every one had SA_RESTART.
bool ShouldRestart(const SignalMark& mark);

// sigaction(2) as the program sees it (its own handler and flags in `old`); installs the
// counting trampoline for a handler. Returns 0 or a negative errno.
int InstallSignalAction(int sig, const struct sigaction* act, struct sigaction* old);

// siginterrupt(3): flag = 1 clears SA_RESTART for sig's current handler, 0 sets it.
int SetSignalInterrupt(int sig, int flag);

// True when a handler ran on this thread since `mark`.
bool HandlerRanSince(const SignalMark& mark);

// While a thread does the stack's work it holds the stack's locks: a handler that
// longjmp()s out (iperf3's) would leave them held for good, one that calls into the stack
// could deadlock on them. So the program's handlers wait until the outermost section ends
// (Onload defers them the same way): an asynchronous signal that arrives inside is
// re-delivered to this thread then, with its original siginfo (rt_tgsigqueueinfo(2)), and
// the kernel runs the handler with the right mask and context. Synchronous signals
// (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) and SA_RESETHAND handlers run at once:
// the first must, the second would find SIG_DFL on re-delivery. Cheap: a thread-local
// counter.
class DeferSignals {
 public:
  DeferSignals();
  ~DeferSignals();
  DeferSignals(const DeferSignals&) = delete;
  DeferSignals& operator=(const DeferSignals&) = delete;
};

// Runs `f` (a call into the stack) with handlers deferred; returns what it returns.
template <typename F>
auto InStack(F&& f) {
  DeferSignals defer;
  return f();
}

// Called on this thread, in signal context, before the program's next handler runs outside
// a DeferSignals section, then forgotten: for a thread that sleeps holding something a
// handler's longjmp() must not carry away. Must be async-signal-safe. nullptr: none.
void SetBeforeHandlerHook(void (*hook)());

}  // namespace netshim
