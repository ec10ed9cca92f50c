// The interposed signal calls: sigaction, signal, bsd_signal, sysv_signal, siginterrupt.
// The shim keeps the program's handlers behind a counting trampoline (shim/signals.h) so
// that socket calls interrupted by an SA_RESTART handler restart as on Linux.
#include <signal.h>

#include <cerrno>

#include "shim/signals.h"

namespace {

int Result(int r) {
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

// glibc's signal(): BSD semantics, SA_RESTART and the signal blocked in its handler, or
// System V's (SA_RESETHAND | SA_NODEFER, no restart) for sysv_signal.
sighandler_t Install(int sig, sighandler_t handler, int flags) {
  if (handler == SIG_ERR) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  if (!(flags & SA_NODEFER) && sig > 0 && sig < _NSIG) sigaddset(&act.sa_mask, sig);
  act.sa_flags = flags;
  if (Result(netshim::InstallSignalAction(sig, &act, &old)) < 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace

extern "C" {

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return Result(netshim::InstallSignalAction(sig, act, old));
}

sighandler_t signal(int sig, sighandler_t handler) noexcept {
  return Install(sig, handler, SA_RESTART);
}

sighandler_t bsd_signal(int sig, sighandler_t handler) noexcept {
  return Install(sig, handler, SA_RESTART);
}

sighandler_t sysv_signal(int sig, sighandler_t handler) noexcept {
  return Install(sig, handler, SA_RESETHAND | SA_NODEFER);
}

int siginterrupt(int sig, int flag) noexcept {
  return Result(netshim::SetSignalInterrupt(sig, flag));
}

}  // extern "C"
