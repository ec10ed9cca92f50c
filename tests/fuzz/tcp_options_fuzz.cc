// Parses arbitrary bytes as TCP option lists and as whole TCP segments, then rebuilds what
// parsed and parses it again: the result must be the same (SACK blocks cut to what fits
// beside the other options), the built list must be well formed, and nothing may crash or
// read out of bounds.
//
// Input: [0] bit 0: parse as a SYN; bits 1-7 unused. The rest: the option bytes, and also
// a whole segment (header + options + payload).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stack/wire/tcp.h"
#include "tests/fuzz/fuzz_check.h"

namespace netshim {
namespace {

void CheckOptionsRoundTrip(std::span<const uint8_t> bytes, bool syn) {
  const TcpOptions parsed = TcpOptions::Parse(bytes, syn);
  FUZZ_CHECK(parsed.sack_block_count <= kTcpMaxSackBlocks);
  if (parsed.window_scale) FUZZ_CHECK(*parsed.window_scale <= kTcpMaxWindowScale);
  if (parsed.mss) FUZZ_CHECK(*parsed.mss != 0);
  if (!syn) FUZZ_CHECK(!parsed.mss && !parsed.window_scale && !parsed.sack_permitted);

  const size_t size = parsed.WrittenSize();
  FUZZ_CHECK(size <= kTcpMaxOptionsSize && size % 4 == 0);
  uint8_t out[kTcpMaxOptionsSize + 8];
  std::fill(std::begin(out), std::end(out), 0xee);
  FUZZ_CHECK(parsed.Write({out, size}) == size);
  FUZZ_CHECK(out[size] == 0xee);  // wrote nothing past its size

  TcpOptions expected = parsed;
  expected.sack_block_count =
      static_cast<uint8_t>(std::min<size_t>(parsed.sack_block_count, parsed.SackBlocksThatFit()));
  FUZZ_CHECK(TcpOptions::Parse({out, size}, syn) == expected);
}

void CheckSegment(std::span<const uint8_t> segment, bool syn_hint) {
  TcpHeader h;
  if (TcpHeader::Parse(segment, &h) != TcpParseError::kOk) {
    FUZZ_CHECK(segment.size() < kTcpMinHeaderSize || (segment[12] >> 4) < 5 ||
               size_t{segment[12]} / 16 * 4 > segment.size());
    return;
  }
  FUZZ_CHECK(h.header_length >= kTcpMinHeaderSize && h.header_length <= kTcpMaxHeaderSize);
  FUZZ_CHECK(h.header_length <= segment.size() && h.header_length % 4 == 0);
  const std::span<const uint8_t> options = h.Options(segment);
  CheckOptionsRoundTrip(options, h.syn() || syn_hint);
  // Checksums over any bytes: never crash; a segment stamped with its checksum verifies.
  const Ipv4Address src{0xc6120002u}, dst{0xc6120001u};
  (void)TcpChecksumValid(src, dst, segment);
  std::vector<uint8_t> copy(segment.begin(), segment.end());
  if (copy.size() <= 0xffff) {
    TcpHeader z = h;
    z.checksum = 0;
    z.Write(copy);
    const std::span<const uint8_t> all(copy);
    z.checksum = TcpChecksum(src, dst, all.first(h.header_length), all.subspan(h.header_length));
    z.Write(copy);
    FUZZ_CHECK(TcpChecksumValid(src, dst, copy));
  }
  // The fixed header round-trips field by field.
  uint8_t again[kTcpMinHeaderSize];
  h.Write(again);
  std::vector<uint8_t> rebuilt(again, again + kTcpMinHeaderSize);
  rebuilt.insert(rebuilt.end(), options.begin(), options.end());
  TcpHeader h2;
  FUZZ_CHECK(TcpHeader::Parse(rebuilt, &h2) == TcpParseError::kOk);
  FUZZ_CHECK(h2.src_port == h.src_port && h2.dst_port == h.dst_port && h2.seq == h.seq &&
             h2.ack == h.ack && h2.header_length == h.header_length && h2.flags == h.flags &&
             h2.window == h.window && h2.checksum == h.checksum && h2.urgent == h.urgent);
}

}  // namespace
}  // namespace netshim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  if (size < 1) return 0;
  const bool syn = data[0] & 1;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  CheckOptionsRoundTrip(rest, syn);
  CheckOptionsRoundTrip(rest, !syn);
  CheckSegment(rest, syn);
  return 0;
}
