// netshim-isolate's logic: runs a program in a network namespace of its own whose only way
// out is a TAP queue it inherits (NETSHIM_TAP_FD), served by the shim's stack inside it.
//
// The steps, as root (or with CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID and
// CAP_SETPCAP):
//   1. attach to the TAP in the caller's network namespace (creating it, non-persistent,
//      when it does not exist), with IFF_VNET_HDR when offloads are on, as TapLink::FromFd
//      expects; wait (bounded) for it to be up;
//   2. unshare(CLONE_NEWNET): the program's namespace holds only `lo`, brought up here;
//   3. drop privileges for good: supplementary groups, gid and uid of --user, then every
//      capability set (bounding, ambient, inheritable, permitted, effective) and
//      PR_SET_NO_NEW_PRIVS, so nothing the program execs can gain any back;
//   4. exec the program with the TAP fd open (no FD_CLOEXEC), NETSHIM_TAP_FD naming it and
//      LD_PRELOAD from --preload.
//
// The fd and exec: the fd is inherited across every exec until a stack adopts it; then the
// shim marks it FD_CLOEXEC (TapLink::FromFd) and guards it against the program's close,
// close_range and dup2 (shim/protected_fds.h). So `sh -c 'curl ...'` works (the shell has no
// stack, curl inherits the fd), while a program exec'd by a process whose stack runs does
// not share its parent's TAP queue: two stacks on one queue would steal each other's frames.
// Such a child finds NETSHIM_TAP_FD closed and its first IPv4 socket fails with one line.
// One stack per isolated program tree at a time.
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

// What the command line asks for, checked for syntax; the user is resolved later.
struct IsolateOptions {
  bool help = false;
  std::string tap;                   // --tap NAME (required)
  std::optional<std::string> user;   // --user NAME|UID, as given
  bool offload = true;               // --offload on|off: IFF_VNET_HDR
  std::optional<int> mtu;            // --mtu N: the stack's MTU (set on a TAP we create)
  int wait_up_seconds = 10;          // --wait-up S: how long a TAP that is down may take
  std::string preload;               // --preload LIBS: prepended to LD_PRELOAD after the drop
  std::vector<std::string> program;  // after --
};

inline constexpr int kIsolateMinMtu = 576;  // the stack's limits (stack/runtime/config.h)
inline constexpr int kIsolateMaxMtu = 65521;
inline constexpr int kIsolateMaxWaitUp = 3600;

// Exit statuses: bad usage, a failed step, and exec's (as env(1) and timeout(1) use them).
inline constexpr int kIsolateExitFailed = 1;
inline constexpr int kIsolateExitUsage = 2;
inline constexpr int kIsolateExitCannotExec = 126;
inline constexpr int kIsolateExitNotFound = 127;

extern const char kIsolateUsage[];

// Parses the arguments after argv[0]. Errors are InvalidArgument, one line without the
// "netshim-isolate: " prefix. Never touches the system.
absl::StatusOr<IsolateOptions> ParseIsolateArgs(const std::vector<std::string_view>& args);

// --tap's value: a name the kernel accepts (ValidateInterfaceName).
absl::Status ValidateTapName(std::string_view name);

// One passwd entry, as far as a privilege drop needs it.
struct UserEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user database, behind an interface so the resolution logic is testable.
class UserDatabase {
 public:
  virtual ~UserDatabase() = default;
  // nullopt when there is no such entry; an error when the lookup itself failed.
  virtual absl::StatusOr<std::optional<UserEntry>> ByName(std::string_view name) const = 0;
  virtual absl::StatusOr<std::optional<UserEntry>> ByUid(uid_t uid) const = 0;
  // The user's supplementary groups (getgrouplist(3), which includes `user.gid`).
  virtual absl::StatusOr<std::vector<gid_t>> Groups(const UserEntry& user) const = 0;
};

// getpwnam_r, getpwuid_r, getgrouplist.
const UserDatabase& SystemUserDatabase();

// Who the program runs as.
struct TargetUser {
  std::string name;  // empty for a uid without a passwd entry
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, as setgroups(2) takes them
};

// The gid and groups of a uid that has no passwd entry: the kernel's overflow gid
// ("nogroup"), never a number that happens to equal the uid (gid 27 is sudo on Debian).
inline constexpr gid_t kNoGroup = 65534;

// --user: a name first (as chown(1) does), else a decimal uid (its passwd entry's gid and
// groups, or kNoGroup and none when it has no entry). What su/runuser set: initgroups().
absl::StatusOr<TargetUser> ResolveTargetUser(std::string_view user, const UserDatabase& db);

// "nobody (uid 65534)" or "uid 12345", for messages.
std::string DescribeUser(const TargetUser& user);

// The LD_PRELOAD list's entries (ld.so(8): separated by spaces or colons).
std::vector<std::string> SplitPreload(std::string_view list);

// The program's environment: `env` (NAME=VALUE entries) without NETSHIM_TAP and
// NETSHIM_TAP_FD (only one of them may be set, and the fd is the way now), with
// NETSHIM_TAP_FD=`tap_fd`, and with `preload` in front of any LD_PRELOAD already there.
std::vector<std::string> ProgramEnvironment(const std::vector<std::string>& env, int tap_fd,
                                            std::string_view preload);

// --- The steps (they touch the system; exercised by tests/integration/test_shim_isolate.sh).
// Errors are one line naming what failed, with strerror.

// Attaches to TAP `name` in this network namespace (creating it, brought up with `mtu`, when
// it does not exist): IFF_TAP | IFF_NO_PI, and IFF_VNET_HDR when `offload`. Returns an fd
// numbered 3 or above with FD_CLOEXEC set. `created` tells whether the device is ours (it
// goes away when the last fd on it closes).
absl::StatusOr<int> OpenTap(const std::string& name, bool offload, std::optional<int> mtu,
                            bool* created);

// Waits up to `seconds` for TAP `name` to be up (a TAP that is down fails the stack's writes
// with EIO), printing one note while it waits. Also warns when its MTU is above `mtu` (the
// stack would drop the longer frames; inside the namespace it cannot see the device to say so).
absl::Status WaitTapUp(const std::string& name, int seconds, int mtu);

// unshare(CLONE_NEWNET), then `lo` up in the new namespace.
absl::Status EnterNewNetworkNamespace();

// setgroups/setresgid/setresuid to `user` when given; then clears the bounding set (when
// CAP_SETPCAP allows), the ambient, inheritable, permitted and effective sets, and sets
// PR_SET_NO_NEW_PRIVS. Verifies the result (no capability left; uid 0 not regained).
absl::Status DropPrivileges(const std::optional<TargetUser>& user);

// After the drop: every --preload entry can be opened for reading by whoever we are now
// (else ld.so would skip it with a warning and the program would run without the shim, in a
// namespace without a network).
absl::Status CheckPreloadReadable(std::string_view preload, std::string_view who);

}  // namespace netshim
