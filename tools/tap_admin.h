// netshim-tap's logic: the command line, checked without touching the system; user and
// group resolution; and the TAP operations (TUNSETIFF & co. on /dev/net/tun, socket ioctls
// for MTU, bridge and link state), all in the caller's network namespace.
//
// Why persistent TAPs: a TAP created persistent and owned by uid U can be attached by U
// with TUNSETIFF without CAP_NET_ADMIN (Linux: drivers/net/tun.c, tun_not_capable()), so
// the stack runs unprivileged once an administrator has made the device.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/cli_args.h"

namespace netshim {

enum class TapCommand { kHelp, kAdd, kDel };

// The command line, checked for syntax; names are resolved later (ResolveTapOwner).
struct TapOptions {
  TapCommand command = TapCommand::kHelp;
  std::string name;                   // the TAP device (kAdd, kDel)
  std::optional<std::string> user;    // --user, as given (name or uid)
  std::optional<std::string> group;   // --group, as given (name or gid)
  std::optional<std::string> bridge;  // --bridge
  std::optional<int> mtu;             // --mtu
  bool up = false;                    // --up (implied by --bridge)
};

// Linux: drivers/net/tun.c gives a TAP min_mtu MIN_MTU (68, RFC 791's minimum) and
// max_mtu MAX_MTU - ETH_HLEN = 65535 - 14; the kernel rejects anything outside.
inline constexpr int kTapMinMtu = 68;
inline constexpr int kTapMaxMtu = 65521;

// The --help text.
extern const char kTapUsage[];

// Parses the arguments after argv[0]. The error (InvalidArgument) is one line for the user,
// without the "netshim-tap: " prefix. Never touches the system.
absl::StatusOr<TapOptions> ParseTapArgs(const std::vector<std::string_view>& args);

// Decimal MTU in kTapMinMtu..kTapMaxMtu.
absl::StatusOr<int> ParseMtu(std::string_view text);

// A user name (getpwnam_r) or, failing that, a numeric uid; likewise for groups.
absl::StatusOr<uid_t> ResolveUser(std::string_view user);
absl::StatusOr<gid_t> ResolveGroup(std::string_view group);

// Who may attach (Linux: drivers/net/tun.c tun_not_capable()): a process must match the
// owner uid if one is set AND be in the group if one is set — the kernel ANDs them, so a
// group only widens access when there is no owner.
struct TapOwner {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// The owner of a new TAP: --user; else, with --group alone, none (any member of the group may
// attach); else $SUDO_UID (`sudo_uid`, nullopt when unset; so `sudo netshim-tap add tap0`
// gives the TAP to whoever ran sudo); else `caller_uid`. --user with --group: both must match.
absl::StatusOr<TapOwner> ResolveTapOwner(const TapOptions& options,
                                         std::optional<std::string_view> sudo_uid,
                                         uid_t caller_uid);

// True when CAP_NET_ADMIN is in this process's effective set (libcap).
bool HasNetAdmin();

// What to tell a user without CAP_NET_ADMIN; `exe_path` is the binary's real path.
std::string CapabilityHint(std::string_view exe_path);

// Creates NAME as a persistent TAP (IFF_TAP | IFF_NO_PI) for `owner`, then sets its MTU,
// attaches it to the bridge and brings it up as asked. Fails if any device NAME exists. On a
// failure after the TAP exists, it is removed again. Errors are one line naming the device.
absl::Status AddTap(const TapOptions& options, const TapOwner& owner);

// Removes the persistent TAP NAME (attaches, then clears TUNSETPERSIST).
absl::Status DelTap(std::string_view name);

// One line for stdout after AddTap succeeded.
std::string DescribeAddedTap(const TapOptions& options, const TapOwner& owner);

}  // namespace netshim
