// Drives a ReassemblyQueue with segments decoded from the input, in any order, overlapping,
// duplicated, below rcv_nxt or far beyond it, with pops, FIN-like advances and buffer
// changes in between. Checks: no crash; never more than the byte and segment bounds; the
// accounting adds up; delivered data is exactly the stream, in order; SACK blocks are
// disjoint, non-adjacent and above rcv_nxt.
//
// Input: [0-3] the initial rcv_nxt (so runs cross the sequence wrap). Then 6-byte records:
//   [0-1] start, relative to rcv_nxt - 1024 (so some data is old)
//   [2-3] length: low 11 bits (0-2047)
//   [4]   bit 0: pop in-order data now; bit 1: advance rcv_nxt by 1 (as for a FIN) after
//         popping; bit 2: set the byte bound from [5]
//   [5]   new byte bound, in 64-byte units (when bit 2)
// The payload bytes are a function of their sequence number.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/buffer/packet_buffer.h"
#include "stack/transport/tcp/reassembly_queue.h"
#include "tests/fuzz/fuzz_check.h"

namespace netshim {
namespace {

uint8_t SeqByte(uint32_t seq) { return static_cast<uint8_t>(seq * 131 + (seq >> 9)); }

PacketBuffer MakePayload(uint32_t seq, size_t len) {
  PacketBuffer b = PacketBuffer::Heap(len);
  uint8_t* p = b.Append(len);
  for (size_t i = 0; i < len; ++i) p[i] = SeqByte(static_cast<uint32_t>(seq + i));
  return b;
}

}  // namespace
}  // namespace netshim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  if (size < 4) return 0;
  const uint32_t isn =
      uint32_t{data[0]} << 24 | uint32_t{data[1]} << 16 | uint32_t{data[2]} << 8 | data[3];
  ReassemblyQueue::Limits limits;
  limits.max_bytes = 8192;
  limits.max_segments = 16;
  ReassemblyQueue q(isn, limits);
  uint32_t expect_seq = isn;  // the next byte PopInOrder must hand out

  auto pop = [&] {
    q.PopInOrder([&](PacketBuffer b) {
      for (size_t i = 0; i < b.size(); ++i) FUZZ_CHECK(b.data()[i] == SeqByte(expect_seq++));
    });
    FUZZ_CHECK(q.rcv_nxt() == expect_seq);
  };

  constexpr size_t kRecord = 6;
  for (size_t at = 4; at + kRecord <= size; at += kRecord) {
    const uint8_t* r = data + at;
    const uint32_t start = q.rcv_nxt() - 1024 + (uint32_t{r[0]} << 8 | r[1]);
    const size_t len = (uint32_t{r[2]} << 8 | r[3]) & 0x7ff;
    const size_t bytes_before = q.bytes();
    const auto result = q.Insert(start, MakePayload(start, len));
    FUZZ_CHECK(result.new_bytes + result.duplicate_bytes + result.dropped_bytes == len);
    FUZZ_CHECK(q.bytes() == bytes_before + result.new_bytes - result.evicted_bytes);
    FUZZ_CHECK(q.bytes() <= q.limits().max_bytes);
    FUZZ_CHECK(q.segments() <= q.limits().max_segments);
    FUZZ_CHECK(q.empty() == (q.bytes() == 0));
    if (result.dsack) {
      const uint32_t dlen = result.dsack->end - result.dsack->start;
      FUZZ_CHECK(dlen > 0 && dlen <= result.duplicate_bytes);
    }

    SackBlock blocks[32];
    const size_t n = q.SackBlocks(blocks);
    FUZZ_CHECK(n <= q.segments());
    size_t covered = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t lo = blocks[i].start - q.rcv_nxt(), hi = blocks[i].end - q.rcv_nxt();
      FUZZ_CHECK(lo < hi && hi <= (1u << 20));
      covered += hi - lo;
      for (size_t j = 0; j < i; ++j) {
        const uint32_t lo2 = blocks[j].start - q.rcv_nxt(), hi2 = blocks[j].end - q.rcv_nxt();
        FUZZ_CHECK(hi < lo2 || hi2 < lo);  // disjoint and not even touching
      }
    }
    if (n < 32) FUZZ_CHECK(covered == q.bytes());  // ranges cover exactly the held bytes

    if (r[4] & 1) pop();
    if (r[4] & 2) {
      pop();
      q.Advance(1);
      ++expect_seq;
    }
    if (r[4] & 4) {
      q.SetMaxBytes(size_t{r[5]} * 64);
      FUZZ_CHECK(q.bytes() <= q.limits().max_bytes);
    }
  }
  // After popping, nothing held can start at rcv_nxt.
  pop();
  SackBlock blocks[32];
  const size_t n = q.SackBlocks(blocks);
  for (size_t i = 0; i < n; ++i) FUZZ_CHECK(blocks[i].start != q.rcv_nxt());
  return 0;
}
