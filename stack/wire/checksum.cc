#include "stack/wire/checksum.h"

#include <cstring>

namespace netshim {

uint64_t ChecksumAdd(std::span<const uint8_t> bytes, uint64_t sum) {
  // Sum 32-bit big-endian-agnostic words into a 64-bit accumulator: one's complement
  // addition is byte-order independent (RFC 1071 2.B) as long as we fold in the same order,
  // so we add native words and swap once at the end in ChecksumFinish.
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, 32);
    for (uint64_t x : w) {
      sum += x >> 32;
      sum += x & 0xffffffffu;
    }
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The odd byte is the high-order byte of a zero-padded 16-bit word in network order;
    // in native (little-endian) order that is the low byte.
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    sum += w;
  }
  return sum;
}

uint64_t ChecksumAddAt(std::span<const uint8_t> bytes, size_t position, uint64_t sum) {
  if (position % 2 == 0) return ChecksumAdd(bytes, sum);
  uint64_t piece = ChecksumAdd(bytes);
  while (piece >> 16) piece = (piece & 0xffff) + (piece >> 16);
  return sum + (((piece & 0xff) << 8) | (piece >> 8));
}

uint16_t ChecksumFinish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t native = static_cast<uint16_t>(~sum & 0xffff);
  // The sum was taken over native-order words; the field is stored with memcpy of the
  // big-endian value, so convert back to a host-order number here.
  return static_cast<uint16_t>((native >> 8) | (native << 8));
}

uint64_t PseudoHeaderSum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint16_t length) {
  uint8_t pseudo[12];
  const uint32_t s = src.value, d = dst.value;
  pseudo[0] = s >> 24, pseudo[1] = s >> 16, pseudo[2] = s >> 8, pseudo[3] = s;
  pseudo[4] = d >> 24, pseudo[5] = d >> 16, pseudo[6] = d >> 8, pseudo[7] = d;
  pseudo[8] = 0, pseudo[9] = protocol, pseudo[10] = length >> 8, pseudo[11] = length & 0xff;
  return ChecksumAdd(pseudo);
}

uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  // HC' = ~(~HC + ~m + m')
  uint32_t sum = static_cast<uint16_t>(~checksum) + static_cast<uint16_t>(~old_word) + new_word;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace netshim
