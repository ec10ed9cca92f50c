// An application thread's turn at the link while it blocks (Dispatcher::BeginCallerPoll):
// it sleeps on the link's fd beside its own wake-up and takes the frames itself, so the
// reply it waits for wakes it directly instead of waking the dispatch thread, which would
// then wake it. One thread holds the turn at a time; the others sleep as before.
//
// A handler that runs while the thread sleeps with the turn hands the turn back before it
// runs (SetBeforeHandlerHook): a handler that longjmp()s must not carry the link away, or no
// thread would watch it again. Taking, polling and handing back defer signal handlers.
#pragma once

#include "shim/signals.h"

namespace netshim {

class Dispatcher;

class LinkTurn {
 public:
  // Takes the turn if the stack runs, NETSHIM_CALLER_POLL is on and no other thread has it;
  // inside another LinkTurn's scope on this thread, shares that one's.
  // `only_if_loop_asleep`: not while the dispatch thread is awake (for epoll loops over many
  // connections; Dispatcher::BeginCallerPoll).
  explicit LinkTurn(bool only_if_loop_asleep = false);
  // Hands it back unless a handler did (or an outer LinkTurn took it).
  ~LinkTurn();
  LinkTurn(const LinkTurn&) = delete;
  LinkTurn& operator=(const LinkTurn&) = delete;

  // Whether this thread still holds the turn (a handler may have handed it back).
  bool held() const;
  // The link's fd to sleep on; only while held().
  int fd() const;
  // Takes the frames waiting on the link, as the dispatch thread would; only while held().
  // True when a handler has run on this thread since `mark` (one the poll deferred runs as
  // it ends): the caller's wait is interrupted.
  [[nodiscard]] bool Poll(const SignalMark& mark);

  // Tests: turns are taken on `d` instead of the shim's stack (nullptr: the stack's again).
  static void SetDispatcherForTesting(Dispatcher* d);

 private:
  Dispatcher* dispatcher_ = nullptr;  // set while this object took (or borrows) the turn
  bool borrowed_ = false;             // an outer LinkTurn on this thread took it
};

}  // namespace netshim
