// For tests of EINTR: a SIGUSR1 handler installed without SA_RESTART, and a thread that
// keeps signalling a target thread until told to stop (a signal that lands before the
// target sleeps is simply sent again, so no timing is assumed).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

namespace netshim::testing {

// Sends `sig` to `target` every few milliseconds until destroyed (whatever handler is set).
class SignalSender {
 public:
  SignalSender(pthread_t target, int sig)
      : thread_([this, target, sig] {
          while (!stop_.load()) {
            pthread_kill(target, sig);
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
          }
        }) {}
  ~SignalSender() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// SIGUSR1 with a counting handler installed without SA_RESTART, sent until destroyed.
class SignalPoker {
 public:
  explicit SignalPoker(pthread_t target) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { handled.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGUSR1, &sa, &old_);
    sender_.emplace(target, SIGUSR1);
  }
  ~SignalPoker() {
    sender_.reset();
    sigaction(SIGUSR1, &old_, nullptr);
  }
  static inline std::atomic<int> handled{0};

 private:
  struct sigaction old_ {};
  std::optional<SignalSender> sender_;
};

}  // namespace netshim::testing
