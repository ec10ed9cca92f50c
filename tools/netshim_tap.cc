// netshim-tap: creates and deletes persistent TAP devices owned by a user, so that the
// stack (netshim-host, the shim) can attach to them without CAP_NET_ADMIN.
//
// Exit status: 0 done, 1 the operation failed (one line naming the device and the error),
// 2 bad arguments (one line). See kTapUsage for the flags.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "tools/tap_admin.h"

namespace netshim {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Report(const absl::Status& status, int exit_code) {
  std::fprintf(stderr, "netshim-tap: %.*s\n", static_cast<int>(status.message().size()),
               status.message().data());
  return exit_code;
}

// The binary's real path for the setcap hint (setcap needs the file, not a symlink).
std::string ExePath(const char* argv0) {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return argv0 != nullptr ? argv0 : "netshim-tap";
  return std::string(path, static_cast<size_t>(n));
}

int Run(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  absl::StatusOr<TapOptions> options = ParseTapArgs(args);
  if (!options.ok()) return Report(options.status(), kExitUsage);
  if (options->command == TapCommand::kHelp) {
    std::fputs(kTapUsage, stdout);
    return 0;
  }

  TapOwner owner;
  if (options->command == TapCommand::kAdd) {
    // secure_getenv: when a user runs a setcap'd copy, their environment does not choose the
    // owner (it is then their own uid, or --user).
    const char* sudo_uid = secure_getenv("SUDO_UID");
    absl::StatusOr<TapOwner> resolved = ResolveTapOwner(
        *options, sudo_uid ? std::optional<std::string_view>(sudo_uid) : std::nullopt, getuid());
    if (!resolved.ok()) return Report(resolved.status(), kExitUsage);
    owner = *resolved;
  }

  // Checked up front so the user gets the remedy rather than a bare EPERM from TUNSETIFF.
  if (!HasNetAdmin()) {
    return Report(absl::PermissionDeniedError(CapabilityHint(ExePath(argv[0]))), kExitFailed);
  }

  if (options->command == TapCommand::kAdd) {
    if (absl::Status s = AddTap(*options, owner); !s.ok()) return Report(s, kExitFailed);
    std::printf("%s\n", DescribeAddedTap(*options, owner).c_str());
  } else {
    if (absl::Status s = DelTap(options->name); !s.ok()) return Report(s, kExitFailed);
    std::printf("%s: deleted\n", options->name.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace netshim

int main(int argc, char** argv) { return netshim::Run(argc, argv); }
