// The receive queue's SO_RCVBUF accounting: Linux drops while the charge is above the
// limit, so one datagram may overshoot it.
#include "stack/transport/udp/udp_receive_queue.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

PacketBuffer Payload(size_t n) { return PacketBuffer::CopyOf(std::vector<uint8_t>(n, 0x5a)); }

TEST(UdpReceiveQueueTest, ChargesTruesizeAndOvershootsByOne) {
  UdpReceiveQueue q;
  const SocketAddress from{*Ipv4Address::Parse("198.18.0.1"), 9};
  const size_t limit = 2304;
  EXPECT_TRUE(q.Push(from, Payload(1000), limit));
  EXPECT_EQ(q.memory(), 1000 + UdpReceiveQueue::kOverhead);
  EXPECT_TRUE(q.Push(from, Payload(1000), limit)) << "1768 <= 2304: still room";
  EXPECT_FALSE(q.Push(from, Payload(1), limit)) << "3536 > 2304: full";
  EXPECT_EQ(q.size(), 2u);
  UdpReceiveQueue::Datagram d = q.Pop();
  EXPECT_EQ(d.from, from);
  EXPECT_EQ(d.payload.size(), 1000u);
  EXPECT_EQ(q.memory(), 1000 + UdpReceiveQueue::kOverhead);
  EXPECT_TRUE(q.Push(from, Payload(0), limit));
  EXPECT_EQ(q.Front().payload.size(), 1000u) << "first in, first out";
  q.Clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.memory(), 0u);
}

}  // namespace
}  // namespace netshim
