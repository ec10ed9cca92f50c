// Feeds Ipv4Reassembler a sequence of fragments decoded from the input, with time moving
// forward, and checks its invariants: no crash, memory accounting never above the cap,
// every reassembled datagram consistent and byte-exact, and nothing left at the end.
//
// Each fragment takes 6 input bytes:
//   [0]    key: bits 0-1 id, bit 2 protocol, bit 3 source address
//   [1-2]  offset: low 13 bits in 8-byte units; bit 15 set: the raw 15 bits as a byte
//          offset (unaligned, hostile)
//   [3]    bit 0 MF; bits 1-3 header options (4 bytes each); bit 4 header and payload in
//          one block; bits 5-7 time advance (x 0.5 s) after this fragment
//   [4-5]  payload length: modulo 3000, or the full 16 bits when bit 15 is set
// Payload bytes are a function of (key, absolute position), so any reassembly can be
// checked against the pattern whatever order, overlap or duplication the input chose.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "stack/buffer/packet_buffer.h"
#include "stack/net/ipv4_reassembler.h"
#include "stack/runtime/stats.h"
#include "tests/fuzz/fuzz_check.h"

namespace netshim {
namespace {

uint8_t PatternByte(const FragmentKey& key, size_t pos) {
  const uint32_t k = key.id * 37u + key.protocol * 11u + (key.src.value & 0xff);
  return static_cast<uint8_t>(pos * 7 + (pos >> 8) * 3 + k);
}

FragmentKey KeyFrom(uint8_t bits) {
  FragmentKey key;
  key.src = Ipv4Address::FromOctets(198, 18, 0, (bits & 0x8) ? 3 : 2);
  key.dst = Ipv4Address::FromOctets(198, 18, 0, 1);
  key.protocol = (bits & 0x4) ? 6 : 17;
  key.id = bits & 0x3;
  return key;
}

Fragment Decode(const uint8_t* p) {
  Fragment f;
  f.key = KeyFrom(p[0]);
  const uint16_t off_raw = static_cast<uint16_t>(p[1] << 8 | p[2]);
  f.offset = (off_raw & 0x8000) ? (off_raw & 0x7fff) : (off_raw & 0x1fff) * 8u;
  f.more_fragments = p[3] & 0x1;
  const size_t header_len = 20 + 4 * ((p[3] >> 1) & 0x7);
  const bool one_block = p[3] & 0x10;
  const uint16_t len_raw = static_cast<uint16_t>(p[4] << 8 | p[5]);
  const size_t len = (len_raw & 0x8000) ? len_raw : len_raw % 3000;

  // As on the receive path: one block holding header then payload (or two blocks).
  PacketBuffer block = PacketBuffer::Heap(header_len + len);
  uint8_t* bytes = block.Append(header_len + len);
  for (size_t i = 0; i < header_len; ++i) bytes[i] = static_cast<uint8_t>(0x45 + i);
  for (size_t i = 0; i < len; ++i) bytes[header_len + i] = PatternByte(f.key, f.offset + i);
  if (one_block) {
    f.header = block.Slice(0, header_len);
    f.payload = block.Slice(header_len, len);
  } else {
    f.header = PacketBuffer::CopyOf(block.span().subspan(0, header_len));
    f.payload = PacketBuffer::CopyOf(block.span().subspan(header_len, len));
  }
  return f;
}

void CheckDatagram(const FragmentKey& key, const ReassembledDatagram& d) {
  FUZZ_CHECK(d.header.size() >= 20 && d.header.size() <= 60);
  FUZZ_CHECK(d.header.data()[0] == 0x45);
  FUZZ_CHECK(d.payload.size() > 0);
  FUZZ_CHECK(d.header.size() + d.payload.size() <= 65535);
  FUZZ_CHECK(d.payload.headroom() == d.header.size());
  const uint8_t* p = d.payload.data();
  for (size_t i = 0; i < d.payload.size(); ++i) FUZZ_CHECK(p[i] == PatternByte(key, i));
}

void CheckCounters(const IpStats& s) {
  // Every datagram that ends (done or failed) consumed at least one fragment of its own.
  FUZZ_CHECK(s.ReasmOKs.value() + s.ReasmFails.value() <= s.ReasmReqds.value());
  FUZZ_CHECK(s.ReasmTimeout.value() <= s.ReasmFails.value());
  FUZZ_CHECK(s.ReasmOverlaps.value() <= s.ReasmFails.value());
}

}  // namespace
}  // namespace netshim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  IpStats stats;
  Ipv4Reassembler::Limits limits;
  limits.max_bytes = 64 * 1024;  // small, so that eviction happens
  limits.timeout = absl::Seconds(5);
  limits.max_datagrams = 12;
  Ipv4Reassembler reasm(limits, stats);
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);

  constexpr size_t kRecord = 6;
  for (size_t at = 0; at + kRecord <= size; at += kRecord) {
    const uint8_t* rec = data + at;
    Fragment f = Decode(rec);
    const FragmentKey key = f.key;
    std::optional<ReassembledDatagram> out = reasm.Add(std::move(f), now);
    if (out) CheckDatagram(key, *out);
    FUZZ_CHECK(reasm.bytes_in_use() <= limits.max_bytes);
    FUZZ_CHECK(reasm.datagrams_in_progress() <= limits.max_datagrams);
    FUZZ_CHECK((reasm.datagrams_in_progress() == 0) == !reasm.NextDeadline().has_value());
    if (auto deadline = reasm.NextDeadline()) FUZZ_CHECK(*deadline > now);
    CheckCounters(stats);

    now += absl::Milliseconds(500) * (rec[3] >> 5);
    for (const TimedOutDatagram& t : reasm.Expire(now)) {
      FUZZ_CHECK(t.header.size() >= 20 && t.header.size() <= 60);
      FUZZ_CHECK(t.first_bytes.size() >= 1 && t.first_bytes.size() <= 8);
      for (size_t i = 0; i < t.first_bytes.size(); ++i) {
        FUZZ_CHECK(t.first_bytes.data()[i] == PatternByte(t.key, i));
      }
    }
    if (auto deadline = reasm.NextDeadline()) FUZZ_CHECK(*deadline > now);
  }
  // Everything expires eventually and all memory is given back.
  reasm.Expire(now + limits.timeout);
  FUZZ_CHECK(reasm.datagrams_in_progress() == 0);
  FUZZ_CHECK(reasm.bytes_in_use() == 0);
  FUZZ_CHECK(!reasm.NextDeadline().has_value());
  CheckCounters(stats);
  return 0;
}
