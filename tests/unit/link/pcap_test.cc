#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stack/link/channel_link.h"
#include "stack/link/pcap_link.h"
#include "stack/link/pcap_writer.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;

struct Record {
  uint32_t ts_sec;
  uint32_t ts_nsec;
  uint32_t incl_len;
  uint32_t orig_len;
  Bytes data;
};

struct Capture {
  uint32_t magic, snaplen, linktype;
  uint16_t major, minor;
  int32_t thiszone;
  uint32_t sigfigs;
  std::vector<Record> records;
  bool trailing_garbage = false;
};

uint32_t U32(const Bytes& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// Reads a capture back with nothing but the format description (pcap-savefile(5)).
Capture ReadCapture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Capture c{};
  EXPECT_GE(b.size(), 24u);
  if (b.size() < 24) return c;
  c.magic = U32(b, 0);
  std::memcpy(&c.major, b.data() + 4, 2);
  std::memcpy(&c.minor, b.data() + 6, 2);
  std::memcpy(&c.thiszone, b.data() + 8, 4);
  c.sigfigs = U32(b, 12);
  c.snaplen = U32(b, 16);
  c.linktype = U32(b, 20);
  size_t at = 24;
  while (at + 16 <= b.size()) {
    Record r{U32(b, at), U32(b, at + 4), U32(b, at + 8), U32(b, at + 12), {}};
    at += 16;
    if (at + r.incl_len > b.size()) {
      c.trailing_garbage = true;
      return c;
    }
    r.data.assign(b.begin() + static_cast<ptrdiff_t>(at),
                  b.begin() + static_cast<ptrdiff_t>(at + r.incl_len));
    at += r.incl_len;
    c.records.push_back(std::move(r));
  }
  c.trailing_garbage = at != b.size();
  return c;
}

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/netshim_" + name + "_" +
         std::to_string(getpid()) + ".pcap";
}

Bytes Frame(size_t size, uint8_t seed) {
  Bytes f(size);
  for (size_t i = 0; i < size; ++i) f[i] = static_cast<uint8_t>(seed + i);
  return f;
}

uint64_t RealtimeNanos() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

class CollectingSink : public FrameSink {
 public:
  void DeliverFrame(PacketBuffer frame) override {
    frames.emplace_back(frame.data(), frame.data() + frame.size());
  }
  std::vector<Bytes> frames;
};

TEST(PcapWriterTest, WritesHeaderAndRecordsWithTimestamps) {
  const std::string path = TempPath("basic");
  const uint64_t before = RealtimeNanos();
  {
    auto writer = PcapWriter::Open(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    (*writer)->Record(Frame(60, 1));
    TxFrame tx(PacketBuffer::CopyOf(Frame(34, 2)));
    tx.payload.push_back(PacketBuffer::CopyOf(Frame(100, 3)));
    tx.payload.push_back(PacketBuffer::CopyOf(Bytes{}));
    tx.payload.push_back(PacketBuffer::CopyOf(Frame(7, 4)));
    (*writer)->Record(tx);
    EXPECT_EQ((*writer)->records(), 2u);
    EXPECT_EQ((*writer)->errors(), 0u);
    // Written through, not buffered: the bytes are in the file before the writer closes.
    Capture live = ReadCapture(path);
    EXPECT_EQ(live.records.size(), 2u);
  }
  const uint64_t after = RealtimeNanos();
  Capture c = ReadCapture(path);
  EXPECT_EQ(c.magic, 0xa1b23c4du);
  EXPECT_EQ(c.major, 2);
  EXPECT_EQ(c.minor, 4);
  EXPECT_EQ(c.thiszone, 0);
  EXPECT_EQ(c.sigfigs, 0u);
  EXPECT_EQ(c.snaplen, 262144u);
  EXPECT_EQ(c.linktype, 1u);
  EXPECT_FALSE(c.trailing_garbage);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].data, Frame(60, 1));
  EXPECT_EQ(c.records[0].incl_len, 60u);
  EXPECT_EQ(c.records[0].orig_len, 60u);
  Bytes expected = Frame(34, 2);
  for (uint8_t v : Frame(100, 3)) expected.push_back(v);
  for (uint8_t v : Frame(7, 4)) expected.push_back(v);
  EXPECT_EQ(c.records[1].data, expected);
  EXPECT_EQ(c.records[1].orig_len, 141u);
  uint64_t last = 0;
  for (const Record& r : c.records) {
    EXPECT_LT(r.ts_nsec, 1'000'000'000u);
    const uint64_t t = uint64_t{r.ts_sec} * 1'000'000'000 + r.ts_nsec;
    EXPECT_GE(t, before);
    EXPECT_LE(t, after);
    EXPECT_GE(t, last);
    last = t;
  }
  unlink(path.c_str());
}

TEST(PcapWriterTest, FramesLongerThanSnaplenAreCutKeepingTheirLength) {
  const std::string path = TempPath("snap");
  {
    auto writer = PcapWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    (*writer)->Record(Frame(300000, 5));
    TxFrame tx(PacketBuffer::CopyOf(Frame(14, 0)));
    tx.payload.push_back(PacketBuffer::CopyOf(Frame(270000, 6)));
    (*writer)->Record(tx);
  }
  Capture c = ReadCapture(path);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].incl_len, 262144u);
  EXPECT_EQ(c.records[0].orig_len, 300000u);
  const Bytes big = Frame(300000, 5);
  EXPECT_EQ(c.records[0].data, Bytes(big.begin(), big.begin() + 262144));
  EXPECT_EQ(c.records[1].incl_len, 262144u);
  EXPECT_EQ(c.records[1].orig_len, 270014u);
  EXPECT_FALSE(c.trailing_garbage);
  unlink(path.c_str());
}

TEST(PcapWriterTest, OpenFailsWithThePathInTheMessage) {
  auto writer = PcapWriter::Open("/nonexistent-dir/x.pcap");
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find("/nonexistent-dir/x.pcap"), std::string::npos);
}

TEST(PcapWriterTest, RecordsFromManyThreadsNeverInterleave) {
  const std::string path = TempPath("threads");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  {
    auto writer = PcapWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          (*writer)->Record(Bytes(60 + static_cast<size_t>(i % 50), static_cast<uint8_t>(t)));
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  Capture c = ReadCapture(path);
  EXPECT_FALSE(c.trailing_garbage);
  ASSERT_EQ(c.records.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const Record& r : c.records) {
    // A record whose bytes mix two threads' fills would show up here.
    EXPECT_EQ(r.data, Bytes(r.data.size(), r.data[0]));
  }
  unlink(path.c_str());
}

TEST(PcapLinkTest, RecordsBothDirectionsAndForwards) {
  const std::string path = TempPath("link");
  auto channel = std::make_unique<ChannelLink>(1500);
  ChannelLink* raw = channel.get();
  auto writer = PcapWriter::Open(path);
  ASSERT_TRUE(writer.ok());
  PcapLink link(std::move(channel), *std::move(writer));
  CollectingSink sink;
  link.Attach(&sink);
  EXPECT_EQ(link.mtu(), 1500u);
  EXPECT_EQ(link.ReadableFd(), raw->ReadableFd());
  EXPECT_FALSE(link.NextDeadline().has_value());

  raw->Inject(Frame(60, 10));
  raw->Inject(Frame(70, 20));
  EXPECT_EQ(link.Poll(1), 1u);
  EXPECT_TRUE(link.Write(TxFrame(PacketBuffer::CopyOf(Frame(80, 30)))));
  EXPECT_EQ(link.Poll(10), 1u);

  ASSERT_EQ(sink.frames.size(), 2u);
  EXPECT_EQ(sink.frames[0], Frame(60, 10));
  EXPECT_EQ(sink.frames[1], Frame(70, 20));
  std::vector<Bytes> sent = raw->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], Frame(80, 30));

  Capture c = ReadCapture(path);
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[0].data, Frame(60, 10));
  EXPECT_EQ(c.records[1].data, Frame(80, 30));
  EXPECT_EQ(c.records[2].data, Frame(70, 20));
  EXPECT_EQ(link.writer().records(), 3u);
  unlink(path.c_str());
}

// An Ethernet + IPv4 + UDP frame with valid checksums, so tshark decodes it fully.
Bytes UdpFrame() {
  Bytes f = {0x02, 0,    0,    0,    0,   2,  0x02, 0, 0,  0,  0, 1, 0x08, 0x00,  // Ethernet
             0x45, 0,    0,    32,   0,   1,  0,    0, 64, 17, 0, 0,  // IPv4, csum below
             198,  18,   0,    1,    198, 18, 0,    2,                //
             0x30, 0x39, 0x00, 0x35, 0,   12, 0,    0,                // UDP 12345 -> 53, no csum
             'p',  'i',  'n',  'g'};
  uint32_t sum = 0;
  for (size_t i = 14; i < 34; i += 2) sum += (f[i] << 8) | f[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[24] = static_cast<uint8_t>(~sum >> 8);
  f[25] = static_cast<uint8_t>(~sum);
  return f;
}

TEST(PcapWriterTest, TsharkReadsTheCapture) {
  if (system("command -v tshark >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "tshark is not installed";
  }
  const std::string path = TempPath("tshark");
  {
    auto writer = PcapWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    (*writer)->Record(UdpFrame());
    (*writer)->Record(UdpFrame());
  }
  const std::string cmd = "tshark -n -r " + path +
                          " -T fields -e frame.len -e ip.dst -e udp.dstport "
                          "-e frame.time_epoch 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  EXPECT_EQ(pclose(p), 0) << out;
  // Two lines, each "46 <tab> 198.18.0.2 <tab> 53 <tab> <epoch>".
  size_t lines = 0;
  for (size_t at = 0; (at = out.find("46\t198.18.0.2\t53\t", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << out;
  unlink(path.c_str());
}

}  // namespace
}  // namespace netshim
