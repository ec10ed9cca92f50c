// 32-bit sequence number arithmetic (RFC 9293 3.4): sequence numbers live on a circle of
// 2^32, so "a before b" means b is less than 2^31 ahead of a. All comparisons are
// wrap-around safe as long as the numbers compared are within 2^31 of each other (the
// window of a connection is far smaller: 2^30 at most, RFC 7323 2.3).
//
// Exactly 2^31 apart is ambiguous: then SeqLt(a, b) and SeqLt(b, a) are both true, as with
// Linux before()/after() (include/net/tcp.h). Callers never compare numbers that far apart.
//
// Pure functions, usable from any thread.
#pragma once

#include <cstdint>

namespace netshim {

// a - b as a signed distance: > 0 when a is after b (e.g. SeqDiff(snd_nxt, snd_una) is
// the bytes in flight).
constexpr int32_t SeqDiff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

constexpr bool SeqLt(uint32_t a, uint32_t b) { return SeqDiff(a, b) < 0; }  // Linux before()
constexpr bool SeqLeq(uint32_t a, uint32_t b) { return SeqDiff(a, b) <= 0; }
constexpr bool SeqGt(uint32_t a, uint32_t b) { return SeqDiff(a, b) > 0; }  // Linux after()
constexpr bool SeqGeq(uint32_t a, uint32_t b) { return SeqDiff(a, b) >= 0; }

// lo <= x <= hi on the circle, i.e. x lies in the arc going forward from lo to hi (Linux
// between(seq1, seq2, seq3)). Valid for any arc shorter than 2^32, not only 2^31.
constexpr bool SeqBetween(uint32_t x, uint32_t lo, uint32_t hi) { return hi - lo >= x - lo; }

// lo <= x < hi on the circle: membership of the half-open range [lo, hi), as used for
// "the segment starts inside the receive window" (RFC 9293 3.10.7.4). Empty when lo == hi.
constexpr bool SeqInRange(uint32_t x, uint32_t lo, uint32_t hi) { return x - lo < hi - lo; }

constexpr uint32_t SeqMax(uint32_t a, uint32_t b) { return SeqLt(a, b) ? b : a; }
constexpr uint32_t SeqMin(uint32_t a, uint32_t b) { return SeqLt(a, b) ? a : b; }

}  // namespace netshim
