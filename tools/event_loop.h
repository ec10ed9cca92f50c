// One thread serving many sockets through the socket API, the way a program behind the shim
// would with epoll: a readiness listener on each socket records it as ready and signals an
// eventfd; the thread sleeps in a real poll(2) on that eventfd (and a stop eventfd), then
// runs the handler of each ready socket, which does non-blocking operations until -EAGAIN.
//
// Listeners run on the stack's threads under the socket's listener lock, so they only record
// the socket and wake the loop; every socket operation happens on the loop thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "stack/socket/socket.h"

namespace netshim {

class EventLoop {
 public:
  using Id = uint64_t;

  // What the loop does for one socket. Runs on the loop thread only.
  class Handler {
   public:
    virtual ~Handler() = default;
    // The socket may be ready (or was just added): do what can be done now without blocking.
    // Returns the poll(2) bits to wait for next (POLLERR and POLLHUP always count), or
    // nullopt when finished: the loop then stops watching, closes the socket and destroys
    // the handler. A handler that stops early to let others run (a work budget) is run again
    // as long as the socket polls ready for the returned bits.
    virtual std::optional<uint32_t> OnReady(Socket& socket) = 0;
  };

  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  // Stop().
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts the loop thread.
  void Start();
  // Stops and joins the thread, then closes every socket still watched and destroys its
  // handler. Idempotent.
  void Stop();

  // Watches `socket`; its handler runs on the next pass. Before Start() or on the loop
  // thread (from a handler).
  Id Add(std::shared_ptr<Socket> socket, std::unique_ptr<Handler> handler);
  // Runs `id`'s handler on the next pass (nothing if it is gone). Loop thread only.
  void Schedule(Id id);
  // Sockets watched. Loop thread only (or once stopped).
  size_t size() const { return entries_.size(); }

  // Wake-ups handled so far (for tests and curiosity).
  uint64_t passes() const { return passes_.load(std::memory_order_relaxed); }

 private:
  class Watch;
  struct Entry;  // a socket, its handler and its listener

  EventLoop(int wake_fd, int stop_fd);
  void Run();
  // Runs one ready socket's handler and acts on its answer.
  void RunHandler(Id id);
  // Records `watch`'s socket as ready (once until its handler runs) and wakes the loop.
  // Any thread.
  void Enqueue(Watch& watch) ABSL_LOCKS_EXCLUDED(mu_);
  void CloseEntry(Entry& entry);

  const int wake_fd_;
  const int stop_fd_;
  std::thread thread_;
  bool stopped_ = false;

  absl::Mutex mu_;
  std::vector<Id> ready_ ABSL_GUARDED_BY(mu_);  // each id at most once (Watch::queued)
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;

  // Loop thread only. Entries are boxed so that a handler adding sockets (rehashing the
  // map) does not move the entry whose handler is running.
  absl::flat_hash_map<Id, std::unique_ptr<Entry>> entries_;
  Id next_id_ = 1;
  std::atomic<uint64_t> passes_{0};
};

}  // namespace netshim
