// The stack's loopback device (Linux `lo`): IPv4 datagrams the stack sends to itself (to
// 127.0.0.0/8 or to its own address) never reach the link. They wait here until the
// dispatch thread hands them to the IPv4 layer's input, as Linux's loopback_xmit() ->
// netif_rx() queues them on the per-CPU backlog that the NET_RX softirq drains.
//
// Why a queue and not a direct call: the sender may be an application thread holding its
// socket's lock (a TCP socket sending to itself, or the ACK a delivery provokes coming
// back to the sender), so delivering on the sender's call stack would re-enter that
// socket or take socket locks in the opposite order. Queued, every delivery runs on the
// dispatch thread with no socket lock held, exactly like a frame read from the link.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/packet_buffer.h"
#include "stack/runtime/stats.h"

namespace netshim {

class LoopbackDelivery {
 public:
  struct Limits {
    // Datagrams waiting at most. Linux bounds its backlog at net.core.netdev_max_backlog =
    // 1000, but there TCP over lo sends 64 KiB segments; TCP here keeps the link's MSS, so
    // a window's worth of segments is far more packets: this holds a whole 4 MiB send
    // buffer (tcp_wmem[2]) of 1448-byte segments and their ACKs, so one bulk connection
    // sending faster than the dispatcher delivers is not made to lose segments.
    size_t max_packets = 8192;
    // Memory waiting at most, counted as Linux's truesize (the whole buffer a datagram
    // occupies: a pool block even for one byte, a heap block for a big one).
    size_t max_bytes = 16 << 20;
  };
  // Linux gives `lo` an MTU of 64 KiB (LOOPBACK_MTU_MAX since 4.x: 65536), so no datagram
  // is ever fragmented on the way to ourselves.
  static constexpr uint32_t kMtu = 65536;

  explicit LoopbackDelivery(IpStats& stats) : LoopbackDelivery(stats, Limits{}) {}
  LoopbackDelivery(IpStats& stats, Limits limits);
  LoopbackDelivery(const LoopbackDelivery&) = delete;
  LoopbackDelivery& operator=(const LoopbackDelivery&) = delete;

  // Any thread, any lock held. Queues a whole IPv4 datagram (header included). False when
  // the queue is full: the datagram is dropped and counted (Ip LoopbackDrops), and the
  // sender is not told, as netif_rx's drop is invisible to loopback_xmit's caller.
  bool Enqueue(PacketBuffer datagram) ABSL_LOCKS_EXCLUDED(mu_);

  // Dispatch thread. Hands up to `budget` datagrams to `deliver`, oldest first, with no lock
  // held (delivering may queue more: a SYN's SYN-ACK). Returns how many were delivered.
  size_t Drain(size_t budget, absl::FunctionRef<void(PacketBuffer)> deliver)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Called (from the enqueuing thread) when the queue goes from empty to non-empty, so a
  // sleeping dispatcher comes to drain it. Null: nobody to wake (tests poll by hand).
  void SetWakeCallback(std::function<void()> wake) ABSL_LOCKS_EXCLUDED(mu_);

  size_t queued() const;

 private:
  IpStats& stats_;
  const Limits limits_;
  mutable absl::Mutex mu_;
  std::deque<PacketBuffer> queue_ ABSL_GUARDED_BY(mu_);
  // queue_.size(), written under mu_, read without it (Drain's empty check, queued()).
  std::atomic<size_t> queued_{0};
  size_t queued_truesize_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
