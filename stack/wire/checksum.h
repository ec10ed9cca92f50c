// The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum TCP and UDP need
// (RFC 9293 3.1, RFC 768).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "stack/wire/address.h"

namespace netshim {

// Adds `bytes` to a running one's complement sum. The sum is kept unfolded in 64 bits so
// partial sums over several pieces can be combined; every piece but the last must have an
// even length (an odd piece would shift the next one's byte lanes).
uint64_t ChecksumAdd(std::span<const uint8_t> bytes, uint64_t sum = 0);

// Adds a piece that starts `position` bytes into the checksummed data, so pieces of any
// length can be summed one by one: a piece at an odd position has its byte lanes swapped
// (RFC 1071 2.B), which is the same as swapping its folded sum.
uint64_t ChecksumAddAt(std::span<const uint8_t> bytes, size_t position, uint64_t sum);

// Folds a running sum to 16 bits and complements it: the value to store in a header.
uint16_t ChecksumFinish(uint64_t sum);

// The checksum of one contiguous range. Verifying: a range that includes its own correct
// checksum field sums to 0.
inline uint16_t InternetChecksum(std::span<const uint8_t> bytes) {
  return ChecksumFinish(ChecksumAdd(bytes));
}

// The pseudo-header's contribution: source, destination, zero, protocol, length.
uint64_t PseudoHeaderSum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint16_t length);

// RFC 1624 eqn. 3: the new checksum after one 16-bit field changes from old_word to new_word.
uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word);

}  // namespace netshim
