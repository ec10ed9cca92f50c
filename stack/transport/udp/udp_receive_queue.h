// The datagrams waiting in a UDP socket, charged against SO_RCVBUF as Linux charges them.
//
// Linux charges each queued skb's truesize (the sk_buff, its shared info and the whole
// buffer the NIC filled) to sk_rmem_alloc and drops a new datagram while the charge is
// already above sk_rcvbuf (net/ipv4/udp.c __udp_enqueue_schedule_skb: "if (rmem > rcvbuf)
// goto drop"), so one datagram may overshoot. We charge the payload plus kOverhead, about
// what a small frame from a TAP device costs there, so that the number of datagrams a
// given SO_RCVBUF holds is close to the kernel's.
//
// Not locked: the owning socket's lock guards it.
#pragma once

#include <cstddef>
#include <deque>

#include "stack/buffer/packet_buffer.h"
#include "stack/socket/socket.h"

namespace netshim {

class UdpReceiveQueue {
 public:
  static constexpr size_t kOverhead = 768;
  static constexpr size_t Truesize(size_t payload) { return payload + kOverhead; }

  struct Datagram {
    SocketAddress from;
    PacketBuffer payload;
    size_t truesize = 0;
  };

  // Queues the datagram unless the charge is already above `limit`; false when dropped.
  bool Push(const SocketAddress& from, PacketBuffer payload, size_t limit) {
    if (memory_ > limit) return false;
    const size_t charge = Truesize(payload.size());
    queue_.push_back(Datagram{from, std::move(payload), charge});
    memory_ += charge;
    return true;
  }
  // The oldest datagram; the queue must not be empty.
  const Datagram& Front() const { return queue_.front(); }
  Datagram Pop() {
    Datagram d = std::move(queue_.front());
    queue_.pop_front();
    memory_ -= d.truesize;
    return d;
  }
  void Clear() {
    queue_.clear();
    memory_ = 0;
  }

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  size_t memory() const { return memory_; }  // sk_rmem_alloc

 private:
  std::deque<Datagram> queue_;
  size_t memory_ = 0;
};

}  // namespace netshim
