#include "tools/cli_args.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include "fmt/format.h"

namespace netshim {
namespace {

constexpr size_t kMaxQuoted = 40;
constexpr uint32_t kMaxId = std::numeric_limits<uint32_t>::max() - 1;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

}  // namespace

std::string QuoteArg(std::string_view text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == kMaxQuoted) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (!AllDigits(text)) return std::nullopt;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

absl::StatusOr<uint32_t> ParseNumericId(std::string_view text) {
  if (!AllDigits(text)) return Invalid(fmt::format("{} is not a number", QuoteArg(text)));
  const std::optional<uint64_t> value = ParseDecimal(text);
  if (!value || *value > kMaxId) {
    return Invalid(fmt::format("{} is out of range (0..{})", QuoteArg(text), kMaxId));
  }
  return static_cast<uint32_t>(*value);
}

absl::Status ValidateInterfaceName(std::string_view name, std::string_view what) {
  constexpr size_t kMaxName = IFNAMSIZ - 1;  // include/uapi/linux/if.h: IFNAMSIZ with the NUL
  if (name.empty()) return Invalid(fmt::format("{} must not be empty", what));
  if (name.size() > kMaxName) {
    return Invalid(fmt::format("{} {} is too long ({} characters, at most {})", what,
                               QuoteArg(name), name.size(), kMaxName));
  }
  if (name == "." || name == "..") {
    return Invalid(fmt::format("{} {} is not a valid interface name", what, QuoteArg(name)));
  }
  for (char c : name) {
    // dev_valid_name() rejects '/', ':' and isspace(); NUL would silently cut the name short.
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r') || c == '\0') {
      return Invalid(fmt::format("{} {} may not contain '/', ':', whitespace or control bytes",
                                 what, QuoteArg(name)));
    }
    if (c == '%') {
      return Invalid(fmt::format("{} {} may not contain '%' (the kernel would pick the name)", what,
                                 QuoteArg(name)));
    }
  }
  return absl::OkStatus();
}

ifreq InterfaceRequest(std::string_view name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof(ifr.ifr_name) - 1));
  return ifr;
}

}  // namespace netshim
