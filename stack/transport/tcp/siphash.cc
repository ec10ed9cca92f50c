#include "stack/transport/tcp/siphash.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "absl/random/random.h"

namespace netshim {
namespace {

uint64_t Load64Le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

constexpr uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
  uint64_t v0, v1, v2, v3;

  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
  void Absorb(uint64_t m) {  // c = 2 compression rounds
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

}  // namespace

SipKey SipKey::FromBytes(std::span<const uint8_t, 16> bytes) {
  return {Load64Le(bytes.data()), Load64Le(bytes.data() + 8)};
}

SipKey SipKey::Random() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < sizeof(bytes)) {
    // No getrandom (very old kernel or seccomp): Abseil's generator, seeded from the OS.
    absl::BitGen gen;
    return {absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen)};
  }
  return FromBytes(std::span<const uint8_t, 16>(bytes, 16));
}

uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> message) {
  // "somepseudorandomlygeneratedbytes"
  State s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
          key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const size_t n = message.size();
  const uint8_t* p = message.data();
  size_t at = 0;
  for (; at + 8 <= n; at += 8) s.Absorb(Load64Le(p + at));
  // The last block: the remaining bytes, little-endian, with the length mod 256 on top.
  uint64_t last = uint64_t{n & 0xff} << 56;
  for (size_t i = 0; at + i < n; ++i) last |= uint64_t{p[at + i]} << (8 * i);
  s.Absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.Round();  // d = 4 finalization rounds
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace netshim
