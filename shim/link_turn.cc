#include "shim/link_turn.h"

#include <atomic>

#include "shim/runtime.h"
#include "shim/signals.h"
#include "stack/runtime/dispatcher.h"

namespace netshim {
namespace {

// The lease this thread holds (or held: the dispatcher may have passed it on), on which
// dispatcher; read and cleared in signal context. t_in_turn: inside a held turn's scope.
__attribute__((tls_model("initial-exec"))) thread_local Dispatcher* t_leased = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_lease = 0;
__attribute__((tls_model("initial-exec"))) thread_local bool t_in_turn = false;

// Before a handler runs during the turn: the lease goes back to the dispatch thread.
void HandBackForHandler() {
  Dispatcher* d = t_leased;
  if (d == nullptr) return;
  const uint64_t lease = t_lease;
  t_leased = nullptr;
  t_lease = 0;
  t_in_turn = false;
  d->ReturnLink(lease);
}

std::atomic<Dispatcher*> g_test_dispatcher{nullptr};

Dispatcher* CurrentDispatcher() {
  Dispatcher* d = g_test_dispatcher.load(std::memory_order_relaxed);
  return d != nullptr ? d : shim::CallerPollDispatcher();
}

}  // namespace

void LinkTurn::SetDispatcherForTesting(Dispatcher* d) { g_test_dispatcher.store(d); }

LinkTurn::LinkTurn(bool only_if_loop_asleep) {
  if (t_in_turn) {
    // This thread holds it already, further up its stack: used here, ended there.
    dispatcher_ = t_leased;
    borrowed_ = true;
    return;
  }
  Dispatcher* d = CurrentDispatcher();
  if (d == nullptr) return;
  DeferSignals defer;  // a handler between taking and recording would lose the lease
  const uint64_t lease = d->AttendLink(t_leased == d ? t_lease : 0, only_if_loop_asleep);
  if (lease == 0) return;
  t_leased = d;
  t_lease = lease;
  t_in_turn = true;
  dispatcher_ = d;
  SetBeforeHandlerHook(HandBackForHandler);
}

LinkTurn::~LinkTurn() {
  if (dispatcher_ == nullptr || borrowed_) return;
  DeferSignals defer;
  if (!t_in_turn) return;  // a handler gave it back
  SetBeforeHandlerHook(nullptr);
  t_in_turn = false;
  dispatcher_->LeaveLink(t_lease);
}

bool LinkTurn::held() const {
  return dispatcher_ != nullptr && t_in_turn && t_leased == dispatcher_;
}

int LinkTurn::fd() const { return dispatcher_->link_fd(); }

bool LinkTurn::Poll(const SignalMark& mark) {
  {
    DeferSignals defer;
    if (held()) dispatcher_->CallerPoll();
  }
  return HandlerRanSince(mark);
}

void LinkTurn::PollLeasedLink() {
  if (t_in_turn || t_leased == nullptr) return;
  DeferSignals defer;
  Dispatcher* d = CurrentDispatcher();
  if (d != t_leased || !d->HoldsLink(t_lease)) return;
  d->CallerPoll();
}

void LinkTurn::BeforeSleep() {
  if (Dispatcher* d = CurrentDispatcher()) d->ReleaseHeld();
}

}  // namespace netshim
