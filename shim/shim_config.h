// The shim's configuration: the NETSHIM_* environment (stack/runtime/config.h parses it),
// which must name a TAP and an address, turned into the stack's and the link's options.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "stack/link/link_builder.h"
#include "stack/runtime/config.h"
#include "stack/stack.h"

namespace netshim {

// Every variable through `getenv`; an error names the variable (InvalidArgument for a bad
// value, FailedPrecondition for a missing one).
absl::StatusOr<Config> LoadShimConfig(const std::function<const char*(const char*)>& getenv);

// The line the shim prints before stopping the program: "netshim: <what>\n".
std::string FatalLine(const absl::Status& status);

StackOptions StackOptionsFor(const Config& config);
// The per-boot TCP secret for this user, or nullopt (keys are then per process).
std::optional<std::array<uint8_t, 16>> BootTcpSecret();
LinkConfig LinkConfigFor(const Config& config);

// Exit statuses of a program the shim stops: a bad or missing NETSHIM_* value (as a usage
// error, like the launcher's bad flags), and a stack that could not start (TAP missing,
// no permission).
inline constexpr int kExitBadConfig = 2;
inline constexpr int kExitNoStack = 1;

}  // namespace netshim
