// An application thread's turn at the link (Dispatcher::AttendLink): while it blocks, it
// sleeps on the link's fd beside its own wake-up and takes the frames itself, so the reply
// it waits for wakes it directly instead of waking the dispatch thread, which would then
// wake it. The thread keeps the link's lease when the turn ends and polls the link at its
// next wait (PollLeasedLink), until another thread about to sleep takes the lease over or
// the dispatch thread takes the link back from a holder that left it unattended.
//
// A handler that runs while the thread sleeps with the turn gives the lease back before it
// runs (SetBeforeHandlerHook): a handler that longjmp()s must not carry the link away.
// Taking, polling and handing back defer signal handlers.
#pragma once

#include <cstdint>

#include "shim/signals.h"

namespace netshim {

class Dispatcher;

class LinkTurn {
 public:
  // Takes the turn (keeping or taking the lease) if the stack runs, NETSHIM_CALLER_POLL is
  // on and no other thread attends the link; inside another LinkTurn's scope on this
  // thread, shares that one's. `only_if_loop_asleep`: not from the dispatch thread while it
  // is awake (for epoll loops over many connections; Dispatcher::AttendLink).
  explicit LinkTurn(bool only_if_loop_asleep = false);
  // Ends the turn; the thread keeps the lease.
  ~LinkTurn();
  LinkTurn(const LinkTurn&) = delete;
  LinkTurn& operator=(const LinkTurn&) = delete;

  // Whether this thread still holds the turn (a handler may have given it back).
  bool held() const;
  // The link's fd to sleep on; only while held().
  int fd() const;
  // Takes the frames waiting on the link, as the dispatch thread would; only while held().
  // True when a handler has run on this thread since `mark` (one the poll deferred runs as
  // it ends): the caller's wait is interrupted.
  [[nodiscard]] bool Poll(const SignalMark& mark);

  // At the start of a wait (epoll_wait, poll, select) outside a turn: if this thread holds
  // the link's lease, takes the frames that came since its last wait. One read when none did.
  static void PollLeasedLink();
  // Right before a thread sleeps: sends the ACKs held for replies (Dispatcher::CallerPoll),
  // whichever thread's poll held them. None of those replies can come from a sleeper.
  static void BeforeSleep();

  // Tests: turns are taken on `d` instead of the shim's stack (nullptr: the stack's again).
  static void SetDispatcherForTesting(Dispatcher* d);

 private:
  Dispatcher* dispatcher_ = nullptr;  // set while this object took (or borrows) the turn
  bool borrowed_ = false;             // an outer LinkTurn on this thread took it
};

}  // namespace netshim
