#include "stack/link/impair_spec.h"

#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "stack/runtime/quote.h"

namespace netshim {
namespace {

constexpr int kMaxPercentDecimals = 4;  // 0.0001% = 1 ppm
constexpr size_t kMaxQuotedItem = 64;   // keeps error messages short whatever the input

enum class Key { kLoss, kReorder, kDup, kCorrupt, kDelay, kJitter, kSeed };

struct KeyName {
  std::string_view name;
  Key key;
};
constexpr std::array<KeyName, 7> kKeys = {{{"loss", Key::kLoss},
                                           {"reorder", Key::kReorder},
                                           {"dup", Key::kDup},
                                           {"corrupt", Key::kCorrupt},
                                           {"delay", Key::kDelay},
                                           {"jitter", Key::kJitter},
                                           {"seed", Key::kSeed}}};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The item as it appears in messages: printable, escaped, and cut if very long.
std::string Quote(std::string_view item) {
  std::string out = "\"";
  AppendEscaped(out, item.substr(0, kMaxQuotedItem));
  if (item.size() > kMaxQuotedItem) out += "...";
  return out + "\"";
}

absl::Status BadItem(std::string_view item, std::string_view expected) {
  return absl::InvalidArgumentError(fmt::format("bad item {}: {}", Quote(item), expected));
}

enum class FixedError { kShape, kDecimals, kTooLarge };

// Digits with an optional fraction, as an integer scaled by 10^decimals: "2.5" with 4
// decimals is 25000. Rejects more decimals than that, and more than `max_int_digits` digits
// before the point (which keeps the arithmetic far from overflow).
std::variant<uint64_t, FixedError> ParseFixed(std::string_view text, int decimals,
                                              size_t max_int_digits) {
  size_t i = 0;
  uint64_t value = 0;
  bool too_large = false;
  for (; i < text.size() && IsDigit(text[i]); ++i) {
    if (i >= max_int_digits) too_large = true;
    if (!too_large) value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return FixedError::kShape;
  int frac_digits = 0;
  bool too_precise = false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (i == text.size()) return FixedError::kShape;  // "2." is a typo, not a number
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      if (frac_digits == decimals) {
        // Trailing zeros are harmless ("1.50%"); anything else is finer than we keep.
        if (text[i] != '0') too_precise = true;
        continue;
      }
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
      ++frac_digits;
    }
  }
  if (i != text.size()) return FixedError::kShape;
  if (too_large) return FixedError::kTooLarge;
  if (too_precise) return FixedError::kDecimals;
  for (; frac_digits < decimals; ++frac_digits) value *= 10;
  return value;
}

absl::StatusOr<uint32_t> ParsePercent(std::string_view item, std::string_view value) {
  constexpr std::string_view kExpected = "expected a percentage like 2% (0% to 100%)";
  constexpr std::string_view kRange = "a percentage must be between 0% and 100%";
  if (value.empty() || value.back() != '%') return BadItem(item, kExpected);
  value.remove_suffix(1);
  // Units of 1/10000 percent = parts per million.
  const auto ppm = ParseFixed(value, kMaxPercentDecimals, 3);
  if (const FixedError* e = std::get_if<FixedError>(&ppm)) {
    switch (*e) {
      case FixedError::kDecimals:
        return BadItem(item, "a percentage takes at most 4 decimals (0.0001% is the finest)");
      case FixedError::kTooLarge:
        return BadItem(item, kRange);
      case FixedError::kShape:
        return BadItem(item, kExpected);
    }
  }
  if (std::get<uint64_t>(ppm) > ImpairDirection::kMillion) return BadItem(item, kRange);
  return static_cast<uint32_t>(std::get<uint64_t>(ppm));
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view item, std::string_view value) {
  constexpr std::string_view kExpected = "expected a duration like 5ms (units ns, us, ms, s)";
  constexpr std::string_view kRange = "a duration may not exceed 10s";
  struct Unit {
    std::string_view suffix;
    int decimals;  // digits after the point that still give whole nanoseconds
  };
  // Two-letter suffixes first so that "5ms" is not read as "5m" + "s".
  constexpr std::array<Unit, 4> kUnits = {{{"ns", 0}, {"us", 3}, {"ms", 6}, {"s", 9}}};
  for (const Unit& unit : kUnits) {
    if (value.size() <= unit.suffix.size() ||
        value.substr(value.size() - unit.suffix.size()) != unit.suffix) {
      continue;
    }
    const std::string_view number = value.substr(0, value.size() - unit.suffix.size());
    // At most 18 digits in all: fits int64 nanoseconds, and is far above 10s anyway.
    const auto ns = ParseFixed(number, unit.decimals, 18 - static_cast<size_t>(unit.decimals));
    if (const FixedError* e = std::get_if<FixedError>(&ns)) {
      switch (*e) {
        case FixedError::kDecimals:
          return BadItem(item, "a duration must be a whole number of nanoseconds");
        case FixedError::kTooLarge:
          return BadItem(item, kRange);
        case FixedError::kShape:
          return BadItem(item, kExpected);
      }
    }
    const absl::Duration d = absl::Nanoseconds(static_cast<int64_t>(std::get<uint64_t>(ns)));
    if (d > ImpairSpec::kMaxDuration) return BadItem(item, kRange);
    return d;
  }
  return BadItem(item, kExpected);
}

absl::StatusOr<uint64_t> ParseSeed(std::string_view item, std::string_view value) {
  constexpr std::string_view kExpected = "expected an unsigned 64-bit integer like 7";
  if (value.empty()) return BadItem(item, kExpected);
  uint64_t seed = 0;
  for (char c : value) {
    if (!IsDigit(c)) return BadItem(item, kExpected);
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (seed > (UINT64_MAX - digit) / 10) {
      return BadItem(item, "the seed does not fit in 64 bits");
    }
    seed = seed * 10 + digit;
  }
  return seed;
}

// Which fields of a direction an item set, to catch `loss=1%,rx.loss=2%`.
struct Seen {
  std::array<bool, 6> tx{};
  std::array<bool, 6> rx{};
  bool seed = false;
};

absl::Status ApplyItem(std::string_view item, ImpairSpec* spec, Seen* seen) {
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    return BadItem(item, "expected key=value, e.g. loss=2%");
  }
  std::string_view key_text = Trim(item.substr(0, eq));
  const std::string_view value = Trim(item.substr(eq + 1));
  bool to_tx = true;
  bool to_rx = true;
  if (key_text.substr(0, 3) == "tx.") {
    to_rx = false;
    key_text.remove_prefix(3);
  } else if (key_text.substr(0, 3) == "rx.") {
    to_tx = false;
    key_text.remove_prefix(3);
  }
  const KeyName* found = nullptr;
  for (const KeyName& k : kKeys) {
    if (k.name == key_text) found = &k;
  }
  if (found == nullptr) {
    return BadItem(item,
                   "unknown key: expected loss, reorder, dup, corrupt, delay or jitter "
                   "(optionally prefixed tx. or rx.), or seed");
  }
  if (found->key == Key::kSeed) {
    if (!(to_tx && to_rx)) {
      return BadItem(item, "seed applies to both directions and takes no tx./rx. prefix");
    }
    if (seen->seed) return BadItem(item, "seed is given twice");
    seen->seed = true;
    absl::StatusOr<uint64_t> seed = ParseSeed(item, value);
    if (!seed.ok()) return seed.status();
    spec->seed = *seed;
    return absl::OkStatus();
  }

  const size_t field = static_cast<size_t>(found->key);
  if ((to_tx && seen->tx[field]) || (to_rx && seen->rx[field])) {
    return BadItem(item, fmt::format("{} is already set for {}", found->name,
                                     to_tx && seen->tx[field] ? "tx" : "rx"));
  }
  if (to_tx) seen->tx[field] = true;
  if (to_rx) seen->rx[field] = true;

  auto assign = [&](auto member, auto v) {
    if (to_tx) spec->tx.*member = v;
    if (to_rx) spec->rx.*member = v;
  };
  if (found->key == Key::kDelay || found->key == Key::kJitter) {
    absl::StatusOr<absl::Duration> d = ParseDuration(item, value);
    if (!d.ok()) return d.status();
    assign(found->key == Key::kDelay ? &ImpairDirection::delay : &ImpairDirection::jitter, *d);
    return absl::OkStatus();
  }
  absl::StatusOr<uint32_t> ppm = ParsePercent(item, value);
  if (!ppm.ok()) return ppm.status();
  switch (found->key) {
    case Key::kLoss:
      assign(&ImpairDirection::loss_ppm, *ppm);
      break;
    case Key::kReorder:
      assign(&ImpairDirection::reorder_ppm, *ppm);
      break;
    case Key::kDup:
      assign(&ImpairDirection::dup_ppm, *ppm);
      break;
    default:
      assign(&ImpairDirection::corrupt_ppm, *ppm);
      break;
  }
  return absl::OkStatus();
}

std::string FormatPercent(uint32_t ppm) {
  std::string out = std::to_string(ppm / 10000);
  uint32_t frac = ppm % 10000;
  if (frac != 0) {
    std::string digits = fmt::format("{:04d}", frac);
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out + "%";
}

std::string FormatDuration(absl::Duration d) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns != 0 && ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns != 0 && ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns != 0 && ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

}  // namespace

bool ImpairDirection::IsNoop() const {
  return loss_ppm == 0 && reorder_ppm == 0 && dup_ppm == 0 && corrupt_ppm == 0 &&
         delay == absl::ZeroDuration() && jitter == absl::ZeroDuration();
}

std::string ImpairSpec::ToString() const {
  std::vector<std::string> items;
  // One key at a time: unprefixed when both directions agree, else per direction.
  auto add = [&](std::string_view name, const auto& tx_value, const auto& rx_value,
                 const auto& zero, auto format) {
    if (tx_value == rx_value) {
      if (tx_value != zero) items.push_back(fmt::format("{}={}", name, format(tx_value)));
      return;
    }
    if (tx_value != zero) items.push_back(fmt::format("tx.{}={}", name, format(tx_value)));
    if (rx_value != zero) items.push_back(fmt::format("rx.{}={}", name, format(rx_value)));
  };
  add("loss", tx.loss_ppm, rx.loss_ppm, 0u, FormatPercent);
  add("reorder", tx.reorder_ppm, rx.reorder_ppm, 0u, FormatPercent);
  add("dup", tx.dup_ppm, rx.dup_ppm, 0u, FormatPercent);
  add("corrupt", tx.corrupt_ppm, rx.corrupt_ppm, 0u, FormatPercent);
  add("delay", tx.delay, rx.delay, absl::ZeroDuration(), FormatDuration);
  add("jitter", tx.jitter, rx.jitter, absl::ZeroDuration(), FormatDuration);
  if (seed) items.push_back(fmt::format("seed={}", *seed));
  return fmt::format("{}", fmt::join(items, ","));
}

absl::StatusOr<ImpairSpec> ParseImpairSpec(std::string_view text) {
  ImpairSpec spec;
  if (Trim(text).empty()) return spec;
  Seen seen;
  std::string_view rest = text;
  std::string_view previous;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view raw = rest.substr(0, comma);
    const std::string_view item = Trim(raw);
    if (item.empty()) {
      return absl::InvalidArgumentError(
          previous.empty()
              ? std::string("empty item at the start: expected key=value")
              : fmt::format("empty item after {}: expected key=value", Quote(previous)));
    }
    if (absl::Status s = ApplyItem(item, &spec, &seen); !s.ok()) return s;
    if (comma == std::string_view::npos) break;
    previous = item;
    rest.remove_prefix(comma + 1);
  }
  return spec;
}

}  // namespace netshim
