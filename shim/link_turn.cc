#include "shim/link_turn.h"

#include <atomic>

#include "shim/runtime.h"
#include "shim/signals.h"
#include "stack/runtime/dispatcher.h"

namespace netshim {
namespace {

// The dispatcher whose link this thread holds; read and cleared in signal context.
__attribute__((tls_model("initial-exec"))) thread_local Dispatcher* t_turn = nullptr;

// Before a handler runs during the sleep: the turn goes back to the dispatch thread.
void HandBackForHandler() {
  Dispatcher* d = t_turn;
  if (d == nullptr) return;
  t_turn = nullptr;
  d->EndCallerPoll();
}

std::atomic<Dispatcher*> g_test_dispatcher{nullptr};

}  // namespace

void LinkTurn::SetDispatcherForTesting(Dispatcher* d) { g_test_dispatcher.store(d); }

LinkTurn::LinkTurn(bool only_if_loop_asleep) {
  if (t_turn != nullptr) {
    // This thread holds it already, further up its stack: used here, handed back there.
    dispatcher_ = t_turn;
    borrowed_ = true;
    return;
  }
  Dispatcher* d = g_test_dispatcher.load(std::memory_order_relaxed);
  if (d == nullptr) d = shim::CallerPollDispatcher();
  if (d == nullptr) return;
  DeferSignals defer;  // a handler between taking and recording would lose the turn
  if (!d->BeginCallerPoll(only_if_loop_asleep)) return;
  t_turn = d;
  dispatcher_ = d;
  SetBeforeHandlerHook(HandBackForHandler);
}

LinkTurn::~LinkTurn() {
  if (dispatcher_ == nullptr || borrowed_) return;
  DeferSignals defer;
  if (t_turn == nullptr) return;  // a handler handed it back
  SetBeforeHandlerHook(nullptr);
  t_turn = nullptr;
  dispatcher_->EndCallerPoll();
}

bool LinkTurn::held() const { return dispatcher_ != nullptr && t_turn == dispatcher_; }

int LinkTurn::fd() const { return dispatcher_->link_fd(); }

bool LinkTurn::Poll(const SignalMark& mark) {
  {
    DeferSignals defer;
    if (held()) dispatcher_->CallerPoll();
  }
  return HandlerRanSince(mark);
}

}  // namespace netshim
