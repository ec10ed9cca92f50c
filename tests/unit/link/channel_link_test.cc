#include "stack/link/channel_link.h"

#include <poll.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;

class CollectingSink : public FrameSink {
 public:
  void DeliverFrame(PacketBuffer frame) override {
    frames.emplace_back(frame.data(), frame.data() + frame.size());
  }
  std::vector<Bytes> frames;
};

Bytes Frame(size_t size, uint8_t fill) { return Bytes(size, fill); }

TxFrame ToTx(const Bytes& bytes) { return TxFrame(PacketBuffer::CopyOf(bytes)); }

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(ChannelLinkTest, InjectedFramesArePolledInOrderWithinBudget) {
  ChannelLink link;
  CollectingSink sink;
  link.Attach(&sink);
  EXPECT_EQ(link.Poll(8), 0u);
  link.Inject(Frame(60, 1));
  link.Inject(Frame(61, 2));
  link.Inject(Frame(62, 3));
  EXPECT_EQ(link.pending(), 3u);
  EXPECT_EQ(link.Poll(2), 2u);
  ASSERT_EQ(sink.frames.size(), 2u);
  EXPECT_EQ(sink.frames[0], Frame(60, 1));
  EXPECT_EQ(sink.frames[1], Frame(61, 2));
  EXPECT_EQ(link.Poll(8), 1u);
  EXPECT_EQ(sink.frames[2], Frame(62, 3));
  EXPECT_EQ(link.Poll(8), 0u);
}

TEST(ChannelLinkTest, ReadableFdIsReadableExactlyWhileFramesWait) {
  ChannelLink link;
  CollectingSink sink;
  link.Attach(&sink);
  ASSERT_GE(link.ReadableFd(), 0);
  EXPECT_FALSE(Readable(link.ReadableFd()));
  link.Inject(Frame(60, 1));
  link.Inject(Frame(60, 2));
  EXPECT_TRUE(Readable(link.ReadableFd()));
  link.Poll(1);
  EXPECT_TRUE(Readable(link.ReadableFd())) << "one frame still waits";
  link.Poll(1);
  EXPECT_FALSE(Readable(link.ReadableFd()));
  link.Inject(Frame(60, 3));
  EXPECT_TRUE(Readable(link.ReadableFd()));
}

TEST(ChannelLinkTest, WritesAreFlattenedAndTakenInOrder) {
  ChannelLink link;
  TxFrame frame(PacketBuffer::CopyOf(Bytes{1, 2, 3}));
  frame.payload.push_back(PacketBuffer::CopyOf(Bytes{4, 5}));
  frame.payload.push_back(PacketBuffer::CopyOf(Bytes{}));
  frame.payload.push_back(PacketBuffer::CopyOf(Bytes{6}));
  Bytes eth(14, 0xee);
  ASSERT_TRUE(link.Write(ToTx(eth)));
  ASSERT_TRUE(link.Write(std::move(frame)));
  EXPECT_EQ(link.sent_count(), 2u);
  std::vector<Bytes> sent = link.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0], eth);
  EXPECT_EQ(sent[1], (Bytes{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(link.sent_count(), 0u);
  EXPECT_TRUE(link.TakeSent().empty());
  EXPECT_EQ(link.total_sent(), 2u);
}

TEST(ChannelLinkTest, OversizedWritesAreRefusedButVlanTagsGetFourBytes) {
  ChannelLink link(1000);
  EXPECT_EQ(link.mtu(), 1000u);
  EXPECT_TRUE(link.Write(ToTx(Frame(1014, 0))));
  EXPECT_FALSE(link.Write(ToTx(Frame(1015, 0))));
  Bytes tagged = Frame(1018, 0);
  tagged[12] = 0x81;
  tagged[13] = 0x00;
  EXPECT_TRUE(link.Write(ToTx(tagged)));
  tagged.push_back(0);
  EXPECT_FALSE(link.Write(ToTx(tagged)));
  EXPECT_EQ(link.tx_rejected(), 2u);
  EXPECT_EQ(link.sent_count(), 2u);
}

TEST(ChannelLinkTest, InboundQueueIsBoundedAndDropsAreCounted) {
  ChannelLink link;
  CollectingSink sink;
  link.Attach(&sink);
  for (size_t i = 0; i < ChannelLink::kInboundCap + 5; ++i) link.Inject(Frame(20, 0));
  EXPECT_EQ(link.pending(), ChannelLink::kInboundCap);
  EXPECT_EQ(link.inbound_drops(), 5u);
  EXPECT_EQ(link.Poll(1'000'000), ChannelLink::kInboundCap);
}

TEST(ChannelLinkTest, HostileInjectedFramesAreDeliveredAsIs) {
  // Size checks belong to the layers above; the test link passes anything through.
  ChannelLink link(100);
  CollectingSink sink;
  link.Attach(&sink);
  link.Inject(Bytes{});
  link.Inject(Frame(3, 9));
  link.Inject(Frame(5000, 7));
  EXPECT_EQ(link.Poll(10), 3u);
  ASSERT_EQ(sink.frames.size(), 3u);
  EXPECT_TRUE(sink.frames[0].empty());
  EXPECT_EQ(sink.frames[2].size(), 5000u);
}

TEST(ChannelLinkTest, PairDeliversEachSidesWritesToTheOther) {
  auto [a, b] = ChannelLink::CreatePair(1500);
  CollectingSink sink_a, sink_b;
  a->Attach(&sink_a);
  b->Attach(&sink_b);
  EXPECT_TRUE(a->Write(ToTx(Frame(60, 0xa))));
  EXPECT_TRUE(b->Write(ToTx(Frame(61, 0xb))));
  EXPECT_TRUE(Readable(b->ReadableFd()));
  EXPECT_EQ(b->Poll(10), 1u);
  EXPECT_EQ(a->Poll(10), 1u);
  ASSERT_EQ(sink_b.frames.size(), 1u);
  EXPECT_EQ(sink_b.frames[0], Frame(60, 0xa));
  ASSERT_EQ(sink_a.frames.size(), 1u);
  EXPECT_EQ(sink_a.frames[0], Frame(61, 0xb));
  EXPECT_TRUE(a->TakeSent().empty());
  EXPECT_EQ(a->total_sent(), 1u);
}

TEST(ChannelLinkTest, PairSurvivesEitherSideGoingFirst) {
  auto [a, b] = ChannelLink::CreatePair(1500);
  CollectingSink sink;
  b->Attach(&sink);
  ASSERT_TRUE(a->Write(ToTx(Frame(60, 1))));
  a.reset();
  EXPECT_EQ(b->Poll(10), 1u) << "frames already sent still arrive";
  EXPECT_TRUE(b->Write(ToTx(Frame(60, 2)))) << "writing towards a gone peer is harmless";
}

// A sink that answers every frame on the same link, as the stack answers an ARP request.
class EchoSink : public FrameSink {
 public:
  explicit EchoSink(LinkEndpoint* link) : link_(link) {}
  void DeliverFrame(PacketBuffer frame) override { link_->Write(TxFrame(std::move(frame))); }

 private:
  LinkEndpoint* link_;
};

TEST(ChannelLinkTest, SinkMayWriteOnTheLinkFromInsideDelivery) {
  auto [a, b] = ChannelLink::CreatePair(1500);
  EchoSink echo(b.get());
  b->Attach(&echo);
  CollectingSink sink;
  a->Attach(&sink);
  a->Write(ToTx(Frame(60, 5)));
  EXPECT_EQ(b->Poll(10), 1u);  // would deadlock if delivery held the queue lock
  EXPECT_EQ(a->Poll(10), 1u);
  ASSERT_EQ(sink.frames.size(), 1u);
  EXPECT_EQ(sink.frames[0], Frame(60, 5));
}

TEST(ChannelLinkTest, ConcurrentWritersAndAPollerLoseNothing) {
  auto [a, b] = ChannelLink::CreatePair(1500);
  CollectingSink sink;
  b->Attach(&sink);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;  // 2000 < kInboundCap: nothing may drop
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Bytes f = Frame(64, static_cast<uint8_t>(t));
        f[20] = static_cast<uint8_t>(i);
        f[21] = static_cast<uint8_t>(i >> 8);
        EXPECT_TRUE(a->Write(ToTx(f)));
      }
    });
  }
  size_t polled = 0;
  while (polled < kThreads * kPerThread) {
    pollfd p{b->ReadableFd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "the eventfd must wake the poller";
    polled += b->Poll(64);
  }
  for (std::thread& w : writers) w.join();
  // Each writer's frames arrive in its own order.
  std::vector<int> next(kThreads, 0);
  for (const Bytes& f : sink.frames) {
    const int t = f[0];
    const int i = f[20] | (f[21] << 8);
    EXPECT_EQ(i, next[t]++);
  }
  EXPECT_EQ(b->inbound_drops(), 0u);
}

}  // namespace
}  // namespace netshim
