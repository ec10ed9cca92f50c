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

}  // namespace netshim
