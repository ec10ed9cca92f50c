// Argument checking shared by the command-line tools (netshim-tap, netshim-isolate): quoting
// untrusted text for one-line messages, strict decimal numbers, uid/gid values and interface
// names as the kernel accepts them.
#pragma once

#include <net/if.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace netshim {

// A user-supplied string for an error message: quoted, one line whatever it holds (control
// bytes, quote and backslash written as \xNN) and at most 40 bytes of it, so hostile input
// can neither forge nor flood the output.
std::string QuoteArg(std::string_view text);

// Decimal digits only: no sign, space, base prefix or other script's digits; not empty.
bool AllDigits(std::string_view text);
// AllDigits text as a uint64; nullopt when it is not, or on overflow.
std::optional<uint64_t> ParseDecimal(std::string_view text);

// A decimal uid/gid: 0..4294967294 ((uid_t)-1 means "none" or "unchanged" to the kernel).
absl::StatusOr<uint32_t> ParseNumericId(std::string_view text);

// A name the kernel accepts for an interface as is: 1..15 bytes (IFNAMSIZ - 1), not "." or
// "..", no '/', ':', whitespace or NUL (Linux: net/core/dev.c dev_valid_name()), and no '%'
// (TUNSETIFF would take it as a template such as "tap%d" and pick another name). `what`
// names the argument in the message ("NAME", "--tap").
absl::Status ValidateInterfaceName(std::string_view name, std::string_view what);

// An ifreq naming `name` (validated: it fits with its terminator).
ifreq InterfaceRequest(std::string_view name);

}  // namespace netshim
