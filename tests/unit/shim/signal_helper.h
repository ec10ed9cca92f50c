// For tests of EINTR: a SIGUSR1 handler installed without SA_RESTART, and a thread that
// keeps signalling a target thread until told to stop (a signal that lands before the
// target sleeps is simply sent again, so no timing is assumed).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace netshim::testing {

class SignalPoker {
 public:
  explicit SignalPoker(pthread_t target) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { handled.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGUSR1, &sa, &old_);
    thread_ = std::thread([this, target] {
      while (!stop_.load()) {
        pthread_kill(target, SIGUSR1);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ~SignalPoker() {
    stop_ = true;
    thread_.join();
    sigaction(SIGUSR1, &old_, nullptr);
  }
  static inline std::atomic<int> handled{0};

 private:
  struct sigaction old_ {};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace netshim::testing
