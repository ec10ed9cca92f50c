// What the fault-injecting link (ImpairLink) does, parsed from NETSHIM_IMPAIR, e.g.
//   loss=2%,reorder=1%,dup=0.5%,delay=5ms,jitter=1ms,corrupt=0.1%,seed=7
// Keys apply to both directions unless prefixed `tx.` (frames the stack sends) or `rx.`
// (frames it receives): `rx.loss=5%,tx.delay=10ms`. The machines we test on have no
// `tc netem`, so this plays its part; the key names follow netem's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace netshim {

// Impairments of one direction. Probabilities are kept in parts per million, so that the
// four decimals a spec may carry (0.0001% = 1 ppm) are exact and ToString() round-trips.
struct ImpairDirection {
  static constexpr uint32_t kMillion = 1'000'000;

  uint32_t loss_ppm = 0;
  uint32_t reorder_ppm = 0;
  uint32_t dup_ppm = 0;
  uint32_t corrupt_ppm = 0;
  absl::Duration delay = absl::ZeroDuration();
  // Each delayed frame waits delay + U[-jitter, +jitter] (never less than 0). As with netem,
  // jitter larger than the gap between frames reorders them.
  absl::Duration jitter = absl::ZeroDuration();

  bool IsNoop() const;
  bool operator==(const ImpairDirection&) const = default;
};

struct ImpairSpec {
  // Longest delay or jitter a spec may ask for.
  static constexpr absl::Duration kMaxDuration = absl::Seconds(10);
  // Used when the spec names no seed, so that runs are reproducible by default.
  static constexpr uint64_t kDefaultSeed = 1;

  ImpairDirection tx;
  ImpairDirection rx;
  std::optional<uint64_t> seed;

  bool IsNoop() const { return tx.IsNoop() && rx.IsNoop(); }
  uint64_t seed_or_default() const { return seed.value_or(kDefaultSeed); }
  // The canonical spec string: unprefixed keys where both directions agree, `tx.`/`rx.`
  // where they differ, zero values left out; "" for no impairment.
  // ParseImpairSpec(s.ToString()) == s.
  std::string ToString() const;
  bool operator==(const ImpairSpec&) const = default;
};

// Parses a spec. The empty string means no impairment. Percentages are 0..100 with up to
// four decimals and a mandatory `%`; durations take ns/us/ms/s and may not exceed 10s; the
// seed is a decimal uint64. Errors name the offending item and what was expected.
absl::StatusOr<ImpairSpec> ParseImpairSpec(std::string_view text);

}  // namespace netshim
