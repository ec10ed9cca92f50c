#include "stack/net/loopback_delivery.h"

#include <utility>

#include "absl/container/inlined_vector.h"

namespace netshim {

LoopbackDelivery::LoopbackDelivery(IpStats& stats, Limits limits)
    : stats_(stats), limits_(limits) {}

bool LoopbackDelivery::Enqueue(PacketBuffer datagram) {
  const size_t size = datagram.size();
  const size_t truesize = datagram.capacity();
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= limits_.max_packets || queued_truesize_ + truesize > limits_.max_bytes) {
    stats_.LoopbackDrops.Inc();
    return false;
  }
  const bool was_empty = queue_.empty();
  queue_.push_back(std::move(datagram));
  queued_.store(queue_.size(), std::memory_order_release);
  queued_truesize_ += truesize;
  stats_.LoopbackPackets.Inc();
  stats_.LoopbackBytes.Add(size);
  // Only the first datagram needs a wake-up: while the queue is non-empty a drain is
  // already due (the dispatcher consumes its wake-up before it drains, and a drain that
  // leaves datagrams behind used its whole budget, so the dispatcher polls again without
  // sleeping). The call is under the lock so Stop() cannot clear the callback mid-call;
  // waking is one eventfd write, which takes no lock.
  if (was_empty && wake_) wake_();
  return true;
}

size_t LoopbackDelivery::Drain(size_t budget, absl::FunctionRef<void(PacketBuffer)> deliver) {
  // The dispatcher polls on every wake-up, nearly always with nothing queued here: an atomic
  // read instead of the lock. A datagram queued after this read wakes the dispatcher again.
  if (queued_.load(std::memory_order_acquire) == 0) return 0;
  size_t delivered = 0;
  while (delivered < budget) {
    // Small batches: the lock is taken once per batch, and a batch's buffers are not held
    // back from the pool for long.
    absl::InlinedVector<PacketBuffer, 16> batch;
    {
      absl::MutexLock lock(&mu_);
      while (!queue_.empty() && batch.size() < batch.capacity() &&
             delivered + batch.size() < budget) {
        queued_truesize_ -= queue_.front().capacity();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_.store(queue_.size(), std::memory_order_release);
    }
    if (batch.empty()) break;
    for (PacketBuffer& p : batch) deliver(std::move(p));
    delivered += batch.size();
  }
  return delivered;
}

void LoopbackDelivery::SetWakeCallback(std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  wake_ = std::move(wake);
}

size_t LoopbackDelivery::queued() const { return queued_.load(std::memory_order_acquire); }

}  // namespace netshim
