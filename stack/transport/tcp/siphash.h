// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
// 64-bit hash, the PRF Linux uses for ISNs and SYN cookies (lib/siphash.c).
//
// Pure functions; a SipKey is a plain value.
#pragma once

#include <cstdint>
#include <span>

namespace netshim {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;

  // The paper's convention: k0 and k1 are the key's bytes 0-7 and 8-15, little-endian.
  static SipKey FromBytes(std::span<const uint8_t, 16> bytes);
  // 128 bits from getrandom(2) (the kernel's CSPRNG).
  static SipKey Random();
};

uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> message);

}  // namespace netshim
