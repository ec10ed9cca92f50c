#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stack/link/channel_link.h"
#include "stack/link/impair_link.h"
#include "stack/link/impair_spec.h"
#include "stack/runtime/clock.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::HasSubstr;

// ---------------------------------------------------------------- ImpairSpec

ImpairSpec Parse(std::string_view text) {
  absl::StatusOr<ImpairSpec> spec = ParseImpairSpec(text);
  EXPECT_TRUE(spec.ok()) << text << ": " << spec.status();
  return spec.ok() ? *spec : ImpairSpec{};
}

TEST(ImpairSpecTest, EmptyMeansNoImpairment) {
  EXPECT_TRUE(Parse("").IsNoop());
  EXPECT_TRUE(Parse("  ").IsNoop());
  EXPECT_EQ(Parse("").ToString(), "");
  EXPECT_FALSE(Parse("").seed.has_value());
}

TEST(ImpairSpecTest, ParsesTheFullExample) {
  ImpairSpec s = Parse("loss=2%,reorder=1%,dup=0.5%,delay=5ms,jitter=1ms,corrupt=0.1%,seed=7");
  for (const ImpairDirection* d : {&s.tx, &s.rx}) {
    EXPECT_EQ(d->loss_ppm, 20000u);
    EXPECT_EQ(d->reorder_ppm, 10000u);
    EXPECT_EQ(d->dup_ppm, 5000u);
    EXPECT_EQ(d->corrupt_ppm, 1000u);
    EXPECT_EQ(d->delay, absl::Milliseconds(5));
    EXPECT_EQ(d->jitter, absl::Milliseconds(1));
  }
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.ToString(), "loss=2%,reorder=1%,dup=0.5%,corrupt=0.1%,delay=5ms,jitter=1ms,seed=7");
}

TEST(ImpairSpecTest, PrefixesSelectOneDirection) {
  ImpairSpec s = Parse("rx.loss=5%,tx.delay=10ms");
  EXPECT_EQ(s.rx.loss_ppm, 50000u);
  EXPECT_EQ(s.tx.loss_ppm, 0u);
  EXPECT_EQ(s.tx.delay, absl::Milliseconds(10));
  EXPECT_EQ(s.rx.delay, absl::ZeroDuration());
  EXPECT_EQ(s.ToString(), "rx.loss=5%,tx.delay=10ms");
  ImpairSpec both = Parse("tx.loss=1%,rx.loss=1%");
  EXPECT_EQ(both.ToString(), "loss=1%") << "equal directions print unprefixed";
  ImpairSpec split = Parse("tx.dup=1%,rx.dup=2%");
  EXPECT_EQ(split.ToString(), "tx.dup=1%,rx.dup=2%");
}

TEST(ImpairSpecTest, NumbersAndUnits) {
  EXPECT_EQ(Parse("loss=0%").tx.loss_ppm, 0u);
  EXPECT_EQ(Parse("loss=100%").tx.loss_ppm, 1'000'000u);
  EXPECT_EQ(Parse("loss=100.0000%").tx.loss_ppm, 1'000'000u);
  EXPECT_EQ(Parse("loss=0.0001%").tx.loss_ppm, 1u);
  EXPECT_EQ(Parse("loss=1.50000%").tx.loss_ppm, 15000u) << "trailing zeros are harmless";
  EXPECT_EQ(Parse("delay=250ns").tx.delay, absl::Nanoseconds(250));
  EXPECT_EQ(Parse("delay=7us").tx.delay, absl::Microseconds(7));
  EXPECT_EQ(Parse("delay=1.5ms").tx.delay, absl::Microseconds(1500));
  EXPECT_EQ(Parse("delay=10s").tx.delay, absl::Seconds(10));
  EXPECT_EQ(Parse("delay=0.000000001s").tx.delay, absl::Nanoseconds(1));
  EXPECT_EQ(Parse("seed=18446744073709551615").seed, UINT64_MAX);
  EXPECT_EQ(Parse("seed=0").seed, 0u);
  EXPECT_EQ(Parse(" loss = 2% , delay=1ms ").tx.loss_ppm, 20000u) << "spaces are trimmed";
}

TEST(ImpairSpecTest, ToStringRoundTrips) {
  for (const char* text :
       {"loss=33.3333%", "tx.delay=1500us,rx.jitter=3ns", "delay=2s,jitter=999999999ns",
        "rx.reorder=100%,tx.corrupt=0.0001%,seed=123", "tx.dup=50%,rx.dup=50%"}) {
    ImpairSpec s = Parse(text);
    absl::StatusOr<ImpairSpec> again = ParseImpairSpec(s.ToString());
    ASSERT_TRUE(again.ok()) << s.ToString() << ": " << again.status();
    EXPECT_EQ(*again, s) << text << " -> " << s.ToString();
  }
  EXPECT_EQ(Parse("delay=1500us").ToString(), "delay=1500us");
  EXPECT_EQ(Parse("delay=2000ms").ToString(), "delay=2s");
}

struct BadCase {
  const char* text;
  const char* message_part;
};

TEST(ImpairSpecTest, BadInputsAreRejectedWithAClearMessage) {
  const BadCase cases[] = {
      {"loss=2", "bad item \"loss=2\": expected a percentage like 2%"},
      {"loss=2%%", "expected a percentage"},
      {"loss=%", "expected a percentage"},
      {"loss=", "expected a percentage"},
      {"loss=-1%", "expected a percentage"},
      {"loss=+1%", "expected a percentage"},
      {"loss=1e2%", "expected a percentage"},
      {"loss=nan%", "expected a percentage"},
      {"loss=.5%", "expected a percentage"},
      {"loss=2.%", "expected a percentage"},
      {"loss=0x10%", "expected a percentage"},
      {"loss=100.0001%", "between 0% and 100%"},
      {"loss=101%", "between 0% and 100%"},
      {"loss=99999999999999999999999999%", "between 0% and 100%"},
      {"loss=0.00001%", "at most 4 decimals"},
      {"delay=5", "bad item \"delay=5\": expected a duration like 5ms"},
      {"delay=5m", "expected a duration"},
      {"delay=5 ms", "expected a duration"},
      {"delay=ms", "expected a duration"},
      {"delay=-5ms", "expected a duration"},
      {"delay=11s", "may not exceed 10s"},
      {"delay=10.000000001s", "may not exceed 10s"},
      {"jitter=99999999999999999999999s", "may not exceed 10s"},
      {"delay=99999999999999999999ns", "may not exceed 10s"},
      {"delay=1.5ns", "whole number of nanoseconds"},
      {"delay=0.0000000001s", "whole number of nanoseconds"},
      {"seed=-1", "expected an unsigned 64-bit integer"},
      {"seed=abc", "expected an unsigned 64-bit integer"},
      {"seed=", "expected an unsigned 64-bit integer"},
      {"seed=18446744073709551616", "does not fit in 64 bits"},
      {"seed=1,seed=2", "seed is given twice"},
      {"rx.seed=1", "takes no tx./rx. prefix"},
      {"loss=1%,loss=2%", "bad item \"loss=2%\": loss is already set"},
      {"loss=1%,rx.loss=2%", "already set for rx"},
      {"tx.loss=1%,loss=2%", "already set for tx"},
      {"bogus=1%", "bad item \"bogus=1%\": unknown key"},
      {"Loss=1%", "unknown key"},
      {"tx.=1%", "unknown key"},
      {"up.loss=1%", "unknown key"},
      {"loss", "bad item \"loss\": expected key=value"},
      {"=", "unknown key"},
      {"loss=2%,", "empty item after \"loss=2%\""},
      {",loss=2%", "empty item at the start"},
      {"loss=2%,,dup=1%", "empty item after \"loss=2%\""},
      {"loss=2%;dup=1%", "bad item \"loss=2%;dup=1%\""},
      {"loss=2% garbage", "expected a percentage"},
      {"loss=2%\n", "expected a percentage"},
      {"loss=\x01%", "\\x01"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<ImpairSpec> spec = ParseImpairSpec(c.text);
    ASSERT_FALSE(spec.ok()) << "accepted: " << c.text;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(c.message_part)) << c.text;
  }
}

TEST(ImpairSpecTest, HugeItemsGiveShortMessages) {
  std::string text = "loss=" + std::string(100000, '9') + "%";
  absl::StatusOr<ImpairSpec> spec = ParseImpairSpec(text);
  ASSERT_FALSE(spec.ok());
  EXPECT_LT(spec.status().message().size(), 200u);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("..."));
}

// ---------------------------------------------------------------- ImpairLink

class CollectingSink : public FrameSink {
 public:
  void DeliverFrame(PacketBuffer frame) override {
    frames.emplace_back(frame.data(), frame.data() + frame.size());
  }
  std::vector<Bytes> frames;
};

// Frame number i: 60 bytes, the number in bytes 14..17 (after the Ethernet header).
Bytes Numbered(uint32_t i) {
  Bytes f(60, 0);
  for (int k = 0; k < 4; ++k) f[14 + static_cast<size_t>(k)] = static_cast<uint8_t>(i >> (8 * k));
  f[12] = 0x08;
  return f;
}
uint32_t NumberOf(const Bytes& f) {
  uint32_t i = 0;
  for (int k = 0; k < 4; ++k) i |= uint32_t{f[14 + static_cast<size_t>(k)]} << (8 * k);
  return i;
}
std::vector<uint32_t> Numbers(const std::vector<Bytes>& frames) {
  std::vector<uint32_t> out;
  for (const Bytes& f : frames) out.push_back(NumberOf(f));
  return out;
}
TxFrame ToTx(const Bytes& b) { return TxFrame(PacketBuffer::CopyOf(b)); }

// An ImpairLink over a ChannelLink, driven by a manual clock.
struct Rig {
  explicit Rig(std::string_view spec_text) : spec(Parse(spec_text)) {
    auto ch = std::make_unique<ChannelLink>(1500);
    channel = ch.get();
    link = std::make_unique<ImpairLink>(std::move(ch), spec, clock);
    link->Attach(&sink);
  }
  // Sends n numbered frames, each at the current time.
  void Send(uint32_t n, uint32_t first = 0) {
    for (uint32_t i = first; i < first + n; ++i) EXPECT_TRUE(link->Write(ToTx(Numbered(i))));
  }
  // Receives n numbered frames through the inner link.
  void Receive(uint32_t n, uint32_t first = 0) {
    for (uint32_t i = first; i < first + n; ++i) {
      channel->Inject(Numbered(i));
      link->Poll(1);
    }
  }
  void RunTimersUntil(absl::Time t) {
    while (true) {
      std::optional<absl::Time> due = link->NextDeadline();
      if (!due || *due > t) break;
      clock.Set(std::max(*due, clock.Now()));
      link->OnTimer(clock.Now());
    }
    clock.Set(std::max(t, clock.Now()));
  }

  ImpairSpec spec;
  ManualClock clock;
  ChannelLink* channel;
  std::unique_ptr<ImpairLink> link;
  CollectingSink sink;
};

std::vector<uint32_t> Iota(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(ImpairLinkTest, NoImpairmentPassesEverythingInOrder) {
  for (const char* text : {"", "loss=0%", "loss=0%,dup=0%,delay=0ms,seed=5"}) {
    Rig rig(text);
    rig.Send(100);
    rig.Receive(100);
    EXPECT_EQ(Numbers(rig.channel->TakeSent()), Iota(100)) << text;
    EXPECT_EQ(Numbers(rig.sink.frames), Iota(100)) << text;
    EXPECT_FALSE(rig.link->NextDeadline().has_value());
    EXPECT_EQ(rig.link->tx_counters().dropped, 0u);
  }
}

TEST(ImpairLinkTest, FullLossDropsEverythingBothWays) {
  Rig rig("loss=100%");
  rig.Send(100);  // Send() checks Write returned true: a lost frame went "on the wire"
  rig.Receive(100);
  EXPECT_EQ(rig.channel->sent_count(), 0u);
  EXPECT_TRUE(rig.sink.frames.empty());
  EXPECT_EQ(rig.link->tx_counters().dropped, 100u);
  EXPECT_EQ(rig.link->rx_counters().dropped, 100u);
}

TEST(ImpairLinkTest, PrefixedLossHitsOnlyItsDirection) {
  Rig rig("rx.loss=100%");
  rig.Send(10);
  rig.Receive(10);
  EXPECT_EQ(rig.channel->sent_count(), 10u);
  EXPECT_TRUE(rig.sink.frames.empty());
}

std::vector<uint32_t> SentWithLoss(std::string_view spec, uint32_t n) {
  Rig rig(spec);
  rig.Send(n);
  std::vector<uint32_t> sent = Numbers(rig.channel->TakeSent());
  EXPECT_EQ(rig.link->tx_counters().dropped, n - sent.size());
  return sent;
}

TEST(ImpairLinkTest, PartialLossIsNearTheRateAndRepeatsWithTheSeed) {
  constexpr uint32_t kFrames = 10000;
  std::vector<uint32_t> a = SentWithLoss("loss=20%,seed=42", kFrames);
  // Binomial(10000, 0.2): sd = 40; +-250 is over 6 sd.
  const size_t dropped = kFrames - a.size();
  EXPECT_GT(dropped, 1750u);
  EXPECT_LT(dropped, 2250u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end())) << "loss alone never reorders";
  EXPECT_EQ(SentWithLoss("loss=20%,seed=42", kFrames), a) << "same seed, same run";
  EXPECT_NE(SentWithLoss("loss=20%,seed=43", kFrames), a) << "another seed, another run";
}

TEST(ImpairLinkTest, DirectionsDrawFromSeparateStreams) {
  // What the stack receives must not depend on what it happens to send in between.
  Rig quiet("loss=50%,seed=9");
  quiet.Receive(1000);
  Rig busy("loss=50%,seed=9");
  for (uint32_t i = 0; i < 1000; ++i) {
    busy.Send(3, i * 3);
    busy.Receive(1, i);
  }
  EXPECT_EQ(Numbers(busy.sink.frames), Numbers(quiet.sink.frames));
}

TEST(ImpairLinkTest, FullDuplicationDoublesEveryFrame) {
  Rig rig("dup=100%");
  rig.Send(50);
  rig.Receive(50);
  std::vector<uint32_t> expected;
  for (uint32_t i = 0; i < 50; ++i) expected.insert(expected.end(), {i, i});
  EXPECT_EQ(Numbers(rig.channel->TakeSent()), expected);
  EXPECT_EQ(Numbers(rig.sink.frames), expected);
  EXPECT_EQ(rig.link->tx_counters().duplicated, 50u);
  EXPECT_EQ(rig.link->rx_counters().duplicated, 50u);
}

int BitsDiffering(const Bytes& a, const Bytes& b) {
  int bits = 0;
  for (size_t i = 0; i < a.size(); ++i) bits += __builtin_popcount(a[i] ^ b[i]);
  return bits;
}

TEST(ImpairLinkTest, CorruptionFlipsExactlyOneBitAfterTheEthernetHeader) {
  Rig rig("corrupt=100%,seed=3");
  std::vector<PacketBuffer> originals;
  for (uint32_t i = 0; i < 200; ++i) {
    PacketBuffer buf = PacketBuffer::CopyOf(Numbered(i));
    originals.push_back(buf);  // shares the bytes with the frame being sent
    ASSERT_TRUE(rig.link->Write(TxFrame(buf)));
  }
  std::vector<Bytes> sent = rig.channel->TakeSent();
  ASSERT_EQ(sent.size(), 200u);
  std::vector<bool> byte_hit(60, false);
  for (uint32_t i = 0; i < 200; ++i) {
    const Bytes original = Numbered(i);
    ASSERT_EQ(sent[i].size(), original.size());
    EXPECT_EQ(BitsDiffering(sent[i], original), 1) << "frame " << i;
    EXPECT_TRUE(std::equal(original.begin(), original.begin() + 14, sent[i].begin()))
        << "the Ethernet header is left alone";
    for (size_t k = 0; k < 60; ++k) byte_hit[k] = byte_hit[k] || sent[i][k] != original[k];
    EXPECT_TRUE(std::equal(original.begin(), original.end(), originals[i].data()))
        << "the shared buffer must not change";
  }
  EXPECT_GT(std::count(byte_hit.begin(), byte_hit.end(), true), 20) << "flips spread out";
  EXPECT_EQ(rig.link->tx_counters().corrupted, 200u);

  rig.Receive(50);
  ASSERT_EQ(rig.sink.frames.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) EXPECT_EQ(BitsDiffering(rig.sink.frames[i], Numbered(i)), 1);
}

TEST(ImpairLinkTest, CorruptionLeavesHeaderOnlyFramesAlone) {
  Rig rig("corrupt=100%");
  EXPECT_TRUE(rig.link->Write(ToTx(Bytes(14, 0x55))));
  std::vector<Bytes> sent = rig.channel->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], Bytes(14, 0x55));
  EXPECT_EQ(rig.link->tx_counters().corrupted, 0u);
}

TEST(ImpairLinkTest, DelayHoldsFramesUntilTheClockPassesIt) {
  Rig rig("delay=5ms");
  const absl::Time t0 = rig.clock.Now();
  rig.Send(3);
  rig.Receive(2);
  EXPECT_EQ(rig.channel->sent_count(), 0u);
  EXPECT_TRUE(rig.sink.frames.empty());
  ASSERT_TRUE(rig.link->NextDeadline().has_value());
  EXPECT_EQ(*rig.link->NextDeadline(), t0 + absl::Milliseconds(5));

  rig.clock.Advance(absl::Milliseconds(5) - absl::Nanoseconds(1));
  rig.link->OnTimer(rig.clock.Now());
  EXPECT_EQ(rig.channel->sent_count(), 0u) << "not yet due";
  rig.clock.Advance(absl::Nanoseconds(1));
  rig.link->OnTimer(rig.clock.Now());
  EXPECT_EQ(Numbers(rig.channel->TakeSent()), Iota(3));
  EXPECT_EQ(Numbers(rig.sink.frames), Iota(2));
  EXPECT_FALSE(rig.link->NextDeadline().has_value());
  EXPECT_EQ(rig.link->tx_counters().delayed, 3u);
  EXPECT_EQ(rig.link->rx_counters().delayed, 2u);
}

TEST(ImpairLinkTest, JitterSpreadsReleaseTimesWithinBounds) {
  Rig rig("delay=5ms,jitter=1ms,seed=11");
  const absl::Time t0 = rig.clock.Now();
  rig.Send(500);
  rig.RunTimersUntil(t0 + absl::Milliseconds(4) - absl::Nanoseconds(1));
  EXPECT_EQ(rig.channel->sent_count(), 0u) << "nothing leaves before delay - jitter";
  rig.RunTimersUntil(t0 + absl::Milliseconds(5));
  const size_t half = rig.channel->sent_count();
  EXPECT_GT(half, 150u);
  EXPECT_LT(half, 350u);
  rig.RunTimersUntil(t0 + absl::Milliseconds(6));
  std::vector<uint32_t> sent = Numbers(rig.channel->TakeSent());
  EXPECT_EQ(sent.size(), 500u) << "everything is out by delay + jitter";
  EXPECT_FALSE(std::is_sorted(sent.begin(), sent.end())) << "jitter reorders, as in netem";
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent, Iota(500));
}

TEST(ImpairLinkTest, ReorderChangesOrderButLosesNothing) {
  Rig rig("reorder=30%,seed=5");
  rig.Send(1000);
  rig.RunTimersUntil(rig.clock.Now() + absl::Seconds(1));  // releases a frame still held
  std::vector<uint32_t> sent = Numbers(rig.channel->TakeSent());
  ASSERT_EQ(sent.size(), 1000u);
  EXPECT_NE(sent, Iota(1000));
  const uint64_t reordered = rig.link->tx_counters().reordered;
  EXPECT_GT(reordered, 150u);
  uint64_t swaps = 0;
  for (size_t i = 0; i + 1 < sent.size(); ++i) swaps += sent[i] > sent[i + 1];
  EXPECT_EQ(swaps, reordered) << "each reordering is one frame overtaking another";
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent, Iota(1000));
}

TEST(ImpairLinkTest, AHeldBackFrameGoesAfterAShortTimeWithoutSuccessor) {
  Rig rig("reorder=100%");
  rig.Send(1);
  EXPECT_EQ(rig.channel->sent_count(), 0u);
  ASSERT_TRUE(rig.link->NextDeadline().has_value());
  EXPECT_EQ(*rig.link->NextDeadline(), rig.clock.Now() + ImpairLink::kReorderHold);
  rig.RunTimersUntil(rig.clock.Now() + ImpairLink::kReorderHold);
  EXPECT_EQ(Numbers(rig.channel->TakeSent()), Iota(1));
  EXPECT_EQ(rig.link->tx_counters().reordered, 0u) << "nothing overtook it";
}

TEST(ImpairLinkTest, DelayLineIsBoundedAndOverflowIsCounted) {
  Rig rig("delay=1s");
  for (uint32_t i = 0; i < ImpairLink::kMaxHeldFrames; ++i) {
    ASSERT_TRUE(rig.link->Write(ToTx(Numbered(i))));
  }
  EXPECT_FALSE(rig.link->Write(ToTx(Numbered(0)))) << "a full delay line refuses";
  for (uint32_t i = 0; i < ImpairLink::kMaxHeldFrames + 4; ++i) {
    rig.channel->Inject(Numbered(i));
    rig.link->Poll(1);
  }
  EXPECT_EQ(rig.link->tx_counters().overflow, 1u);
  EXPECT_EQ(rig.link->rx_counters().overflow, 4u);
  rig.RunTimersUntil(rig.clock.Now() + absl::Seconds(1));
  EXPECT_EQ(rig.channel->sent_count(), ImpairLink::kMaxHeldFrames);
  EXPECT_EQ(rig.sink.frames.size(), ImpairLink::kMaxHeldFrames);
}

TEST(ImpairLinkTest, TheSameSeedGivesTheSameRunWithEveryImpairment) {
  auto run = [] {
    Rig rig("loss=5%,dup=5%,corrupt=5%,reorder=10%,delay=2ms,jitter=1ms,seed=77");
    std::vector<std::pair<absl::Time, Bytes>> out;
    for (uint32_t i = 0; i < 2000; ++i) {
      rig.link->Write(ToTx(Numbered(i)));
      rig.RunTimersUntil(rig.clock.Now() + absl::Microseconds(100));
      for (Bytes& f : rig.channel->TakeSent()) out.emplace_back(rig.clock.Now(), std::move(f));
    }
    rig.RunTimersUntil(rig.clock.Now() + absl::Seconds(1));
    for (Bytes& f : rig.channel->TakeSent()) out.emplace_back(rig.clock.Now(), std::move(f));
    ImpairCounters c = rig.link->tx_counters();
    EXPECT_GT(c.dropped, 0u);
    EXPECT_GT(c.duplicated, 0u);
    EXPECT_GT(c.corrupted, 0u);
    EXPECT_GT(c.reordered, 0u);
    EXPECT_GT(c.delayed, 0u);
    EXPECT_EQ(out.size(), 2000 - c.dropped + c.duplicated);
    return out;
  };
  EXPECT_EQ(run(), run());
}

// An inner link with a deadline of its own.
class TimedLink : public LinkEndpoint {
 public:
  uint32_t mtu() const override { return 1500; }
  void Attach(FrameSink*) override {}
  bool Write(TxFrame) override { return writes_accepted; }
  size_t Poll(size_t) override { return 0; }
  std::optional<absl::Time> NextDeadline() const override { return deadline; }
  void OnTimer(absl::Time now) override { timer_calls.push_back(now); }

  bool writes_accepted = true;
  std::optional<absl::Time> deadline;
  std::vector<absl::Time> timer_calls;
};

TEST(ImpairLinkTest, DeadlinesMergeWithTheInnerLinksAndTimersReachIt) {
  ManualClock clock;
  const absl::Time t0 = clock.Now();
  auto inner = std::make_unique<TimedLink>();
  TimedLink* raw = inner.get();
  ImpairLink link(std::move(inner), Parse("tx.delay=10ms"), clock);
  CollectingSink sink;
  link.Attach(&sink);
  raw->deadline = t0 + absl::Milliseconds(3);
  EXPECT_EQ(link.NextDeadline(), t0 + absl::Milliseconds(3));
  link.Write(ToTx(Numbered(1)));
  EXPECT_EQ(link.NextDeadline(), t0 + absl::Milliseconds(3));
  raw->deadline.reset();
  EXPECT_EQ(link.NextDeadline(), t0 + absl::Milliseconds(10));
  link.OnTimer(t0 + absl::Milliseconds(3));
  ASSERT_EQ(raw->timer_calls.size(), 1u);
  EXPECT_EQ(raw->timer_calls[0], t0 + absl::Milliseconds(3));
}

TEST(ImpairLinkTest, ReleasedFramesTheInnerLinkRefusesAreCounted) {
  ManualClock clock;
  auto inner = std::make_unique<TimedLink>();
  inner->writes_accepted = false;
  ImpairLink link(std::move(inner), Parse("delay=1ms"), clock);
  EXPECT_TRUE(link.Write(ToTx(Numbered(1)))) << "held: the caller cannot know yet";
  clock.Advance(absl::Milliseconds(1));
  link.OnTimer(clock.Now());
  EXPECT_EQ(link.tx_counters().inner_rejected, 1u);
}

TEST(ImpairLinkTest, AWriteThatMovesTheDeadlineEarlierCallsBack) {
  Rig rig("delay=5ms");
  int calls = 0;
  rig.link->SetDeadlineChangedCallback([&] { ++calls; });
  rig.Send(1);
  EXPECT_EQ(calls, 1);
  rig.Send(1);
  EXPECT_EQ(calls, 1) << "a later frame does not move the deadline";
  rig.RunTimersUntil(rig.clock.Now() + absl::Milliseconds(5));
  rig.Send(1);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace netshim
