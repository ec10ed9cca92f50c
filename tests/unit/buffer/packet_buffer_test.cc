#include "stack/buffer/packet_buffer.h"

#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/buffer/tx_frame.h"

namespace netshim {
namespace {

TEST(PacketBufferTest, PrependAppendConsumeKeepTheWindow) {
  auto pool = BufferPool::Create(256, 4);
  PacketBuffer b = pool->Allocate(64);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.headroom(), 64u);
  EXPECT_EQ(b.size(), 0u);
  std::memcpy(b.Append(4), "data", 4);
  std::memcpy(b.Prepend(3), "hdr", 3);
  EXPECT_EQ(b.headroom(), 61u);
  ASSERT_EQ(b.size(), 7u);
  EXPECT_EQ(std::memcmp(b.data(), "hdrdata", 7), 0);
  b.Consume(3);
  EXPECT_EQ(std::memcmp(b.data(), "data", 4), 0);
  b.Truncate(2);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.tailroom(), 256u - 64 - 2);
}

TEST(PacketBufferTest, CopiesShareStorageAndSlicesNarrow) {
  PacketBuffer a = PacketBuffer::CopyOf(std::vector<uint8_t>{1, 2, 3, 4, 5});
  EXPECT_TRUE(a.IsUnique());
  PacketBuffer s = a.Slice(1, 3);
  EXPECT_FALSE(a.IsUnique());
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.data()[0], 2);
  EXPECT_EQ(s.data(), a.data() + 1);
  a.Reset();
  EXPECT_TRUE(s.IsUnique());
  EXPECT_EQ(s.data()[2], 4);
}

TEST(BufferPoolTest, CapIsEnforcedAndBlocksAreRecycled) {
  auto pool = BufferPool::Create(128, 2);
  PacketBuffer a = pool->Allocate(0);
  PacketBuffer b = pool->Allocate(0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(pool->blocks_in_use(), 2u);
  PacketBuffer c = pool->Allocate(0);
  EXPECT_FALSE(c);
  EXPECT_EQ(pool->allocation_failures(), 1u);
  const uint8_t* a_storage = a.data();
  a.Reset();
  EXPECT_EQ(pool->blocks_in_use(), 1u);
  PacketBuffer d = pool->Allocate(0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d.data(), a_storage) << "a freed block is reused, not reallocated";
}

TEST(BufferPoolTest, BuffersMayOutliveThePoolHandle) {
  PacketBuffer survivor;
  {
    auto pool = BufferPool::Create(64, 8);
    PacketBuffer idle = pool->Allocate(0);
    survivor = pool->Allocate(0);
    std::memcpy(survivor.Append(2), "ok", 2);
  }  // ASan checks the orphaned pool is freed exactly once, when `survivor` goes.
  EXPECT_EQ(std::memcmp(survivor.data(), "ok", 2), 0);
}

TEST(BufferPoolTest, ConcurrentAllocateAndRelease) {
  auto pool = BufferPool::Create(64, 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        PacketBuffer b = pool->Allocate(0);
        if (b) {
          PacketBuffer copy = b;
          b.Reset();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(pool->blocks_in_use(), 0u);
}

TEST(TxFrameTest, IovecAndFlattenCoverHeadAndPayload) {
  TxFrame f(PacketBuffer::CopyOf(std::vector<uint8_t>{1, 2}));
  f.payload.push_back(PacketBuffer::CopyOf(std::vector<uint8_t>{3}));
  f.payload.push_back(PacketBuffer::CopyOf(std::vector<uint8_t>{4, 5}));
  EXPECT_EQ(f.size(), 5u);
  iovec iov[4];
  EXPECT_EQ(f.ToIovec(iov, 4), 3);
  EXPECT_EQ(f.Flatten(), (std::vector<uint8_t>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace netshim
