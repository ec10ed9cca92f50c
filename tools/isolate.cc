#include "tools/isolate.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include "fmt/format.h"
#include "stack/runtime/unique_fd.h"
#include "tools/cli_args.h"

namespace netshim {

const char kIsolateUsage[] =
    "usage: netshim-isolate --tap NAME [--user USER] [--offload on|off] [--mtu N]\n"
    "                       [--wait-up SECONDS] [--preload LIBS] [--] PROGRAM [ARGS...]\n"
    "Runs PROGRAM in a new network namespace that holds only `lo`, with an attached queue of\n"
    "TAP device NAME (from the caller's namespace) inherited as NETSHIM_TAP_FD: with\n"
    "libnetshim.so preloaded, the netshim stack on that TAP is the program's only network.\n"
    "Privileges are dropped for good before the exec: the uid and groups of USER, no\n"
    "capabilities at all (bounding set included), and no_new_privs.\n"
    "  --tap NAME        the TAP device; created (not persistent: it goes when the program\n"
    "                    and its children exit) and brought up if it does not exist. Its\n"
    "                    address on the kernel side is the caller's business\n"
    "  --user USER       run as USER, a name or a uid (default: stay the caller's uid)\n"
    "  --offload on|off  open the TAP with a virtio-net header for TSO and checksum offload,\n"
    "                    as NETSHIM_OFFLOAD does (default on)\n"
    "  --mtu N           the stack's MTU, 576..65521 (default 1500): set on a TAP created\n"
    "                    here; a warning if an existing TAP's is larger\n"
    "  --wait-up SECONDS wait this long for a TAP that is down to come up (default 10)\n"
    "  --preload LIBS    put LIBS (e.g. the path of libnetshim.so) in front of LD_PRELOAD for\n"
    "                    the program only, once USER is known to be able to read them\n"
    "NAME: 1..15 characters, none of / : % or whitespace, not . or ..\n"
    "Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_SETPCAP).\n"
    "The environment is passed on, except NETSHIM_TAP (unset) and NETSHIM_TAP_FD (set).\n"
    "Exit status: 2 bad arguments, 1 a step failed, 126 PROGRAM cannot run, 127 not found;\n"
    "else PROGRAM's.\n";

namespace {

constexpr size_t kMaxLookupBuffer = 1 << 20;
constexpr int kMaxGroups = 65536;  // NGROUPS_MAX on Linux
constexpr const char* kTunPath = "/dev/net/tun";
constexpr int kFirstProgramFd = 3;  // never stdin, stdout or stderr

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

absl::StatusOr<int> ParseBounded(std::string_view flag, std::string_view text, int min, int max) {
  const std::optional<uint64_t> value = ParseDecimal(text);
  if (!value || *value < static_cast<uint64_t>(min) || *value > static_cast<uint64_t>(max)) {
    return Invalid(fmt::format("{} {} is invalid: expected an integer from {} to {}", flag,
                               QuoteArg(text), min, max));
  }
  return static_cast<int>(*value);
}

enum class Flag { kTap, kUser, kOffload, kMtu, kWaitUp, kPreload };

const std::map<std::string_view, Flag> kFlags = {
    {"--tap", Flag::kTap}, {"--user", Flag::kUser},      {"--offload", Flag::kOffload},
    {"--mtu", Flag::kMtu}, {"--wait-up", Flag::kWaitUp}, {"--preload", Flag::kPreload},
};

absl::Status ApplyFlag(std::string_view flag, Flag kind, std::string_view value,
                       IsolateOptions& options) {
  if (value.find('\0') != std::string_view::npos) {
    return Invalid(fmt::format("{} {} contains a NUL byte", flag, QuoteArg(value)));
  }
  switch (kind) {
    case Flag::kTap:
      if (absl::Status s = ValidateTapName(value); !s.ok()) return s;
      options.tap = std::string(value);
      return absl::OkStatus();
    case Flag::kUser:
      if (value.empty()) return Invalid("--user needs a user name or uid");
      options.user = std::string(value);
      return absl::OkStatus();
    case Flag::kOffload:
      if (value != "on" && value != "off") {
        return Invalid(fmt::format("--offload {} is invalid: expected on or off", QuoteArg(value)));
      }
      options.offload = value == "on";
      return absl::OkStatus();
    case Flag::kMtu: {
      absl::StatusOr<int> mtu = ParseBounded(flag, value, kIsolateMinMtu, kIsolateMaxMtu);
      if (!mtu.ok()) return mtu.status();
      options.mtu = *mtu;
      return absl::OkStatus();
    }
    case Flag::kWaitUp: {
      absl::StatusOr<int> seconds = ParseBounded(flag, value, 0, kIsolateMaxWaitUp);
      if (!seconds.ok()) return seconds.status();
      options.wait_up_seconds = *seconds;
      return absl::OkStatus();
    }
    case Flag::kPreload:
      options.preload = std::string(value);
      return absl::OkStatus();
  }
  return Invalid("unreachable");
}

}  // namespace
absl::Status ValidateTapName(std::string_view name) {
  if (name.empty()) return Invalid("--tap needs a device name");
  return ValidateInterfaceName(name, "--tap");
}
absl::StatusOr<IsolateOptions> ParseIsolateArgs(const std::vector<std::string_view>& args) {
  IsolateOptions options;
  std::map<Flag, bool> seen;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      options.help = true;
      return options;
    }
    if (!arg.starts_with("-")) break;  // the program
    const size_t eq = arg.find('=');
    const std::string_view flag = arg.substr(0, eq);
    const auto it = kFlags.find(flag);
    if (it == kFlags.end()) {
      return Invalid(fmt::format("unknown flag {} (see --help)", QuoteArg(flag)));
    }
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];  // every flag takes a value, which may itself start with '-'
    } else {
      return Invalid(fmt::format("{} needs a value (see --help)", flag));
    }
    if (seen[it->second]) return Invalid(fmt::format("{} given twice", flag));
    seen[it->second] = true;
    if (absl::Status s = ApplyFlag(it->first, it->second, value, options); !s.ok()) return s;
  }
  for (; i < args.size(); ++i) options.program.emplace_back(args[i]);
  if (options.tap.empty()) return Invalid("--tap NAME is required (see --help)");
  if (options.program.empty()) {
    return Invalid("no program to run: expected [--] PROGRAM [ARGS...] (see --help)");
  }
  if (options.program[0].empty()) return Invalid("the program's name is empty");
  return options;
}

// --- Users.

namespace {

absl::StatusOr<std::optional<UserEntry>> FromPasswd(int rc, const passwd* result,
                                                    std::string_view key) {
  if (result != nullptr) {
    return std::optional<UserEntry>(UserEntry{result->pw_name, result->pw_uid, result->pw_gid});
  }
  // getpwnam_r(3): 0, ENOENT, ESRCH, EBADF or EPERM all mean "not found" in some NSS module.
  if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
    return std::optional<UserEntry>();
  }
  return absl::UnavailableError(
      fmt::format("cannot look up user {}: {}", QuoteArg(key), std::strerror(rc)));
}

// Runs getpwnam_r/getpwuid_r with a buffer grown on ERANGE up to kMaxLookupBuffer.
template <typename Lookup>
absl::StatusOr<std::optional<UserEntry>> LookupPasswd(std::string_view key, Lookup lookup) {
  std::vector<char> buffer(4096);
  for (;;) {
    passwd entry;
    passwd* result = nullptr;
    const int rc = lookup(&entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    return FromPasswd(rc, result, key);
  }
}

class SystemUsers final : public UserDatabase {
 public:
  absl::StatusOr<std::optional<UserEntry>> ByName(std::string_view name) const override {
    const std::string key(name);
    return LookupPasswd(name, [&](passwd* e, char* b, size_t n, passwd** r) {
      return getpwnam_r(key.c_str(), e, b, n, r);
    });
  }
  absl::StatusOr<std::optional<UserEntry>> ByUid(uid_t uid) const override {
    return LookupPasswd(std::to_string(uid), [&](passwd* e, char* b, size_t n, passwd** r) {
      return getpwuid_r(uid, e, b, n, r);
    });
  }
  absl::StatusOr<std::vector<gid_t>> Groups(const UserEntry& user) const override {
    // getgrouplist(3) returns -1 and the count needed when the array is too small.
    std::vector<gid_t> groups(32);
    for (;;) {
      int n = static_cast<int>(groups.size());
      if (getgrouplist(user.name.c_str(), user.gid, groups.data(), &n) >= 0) {
        groups.resize(static_cast<size_t>(n));
        return groups;
      }
      if (n <= static_cast<int>(groups.size()) || n > kMaxGroups) {
        return absl::UnavailableError(
            fmt::format("cannot list the groups of user {}", QuoteArg(user.name)));
      }
      groups.resize(static_cast<size_t>(n));
    }
  }
};

}  // namespace

const UserDatabase& SystemUserDatabase() {
  static const SystemUsers* db = new SystemUsers();
  return *db;
}

absl::StatusOr<TargetUser> ResolveTargetUser(std::string_view user, const UserDatabase& db) {
  if (user.empty()) return Invalid("--user needs a user name or uid");
  if (user.find('\0') != std::string_view::npos) {
    return Invalid(fmt::format("--user {} contains a NUL byte", QuoteArg(user)));
  }
  absl::StatusOr<std::optional<UserEntry>> entry = db.ByName(user);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) {
    if (!AllDigits(user)) {
      return Invalid(
          fmt::format("--user {}: no such user (expected a user name or a uid)", QuoteArg(user)));
    }
    absl::StatusOr<uid_t> uid = ParseNumericId(user);
    if (!uid.ok())
      return Invalid(fmt::format("--user uid {}", std::string(uid.status().message())));
    entry = db.ByUid(*uid);
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) return TargetUser{"", *uid, kNoGroup, {}};
  }
  TargetUser target{(*entry)->name, (*entry)->uid, (*entry)->gid, {}};
  absl::StatusOr<std::vector<gid_t>> groups = db.Groups(**entry);
  if (!groups.ok()) return groups.status();
  target.groups = *std::move(groups);
  return target;
}

std::string DescribeUser(const TargetUser& user) {
  if (user.name.empty()) return fmt::format("uid {}", user.uid);
  return fmt::format("{} (uid {})", QuoteArg(user.name), user.uid);
}

// --- Environment.

std::vector<std::string> SplitPreload(std::string_view list) {
  std::vector<std::string> entries;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(" :", start);
    if (end == std::string_view::npos) end = list.size();
    if (end > start) entries.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return entries;
}

std::vector<std::string> ProgramEnvironment(const std::vector<std::string>& env, int tap_fd,
                                            std::string_view preload) {
  std::vector<std::string> out;
  bool has_preload = false;
  for (const std::string& entry : env) {
    if (entry.starts_with("NETSHIM_TAP=") || entry.starts_with("NETSHIM_TAP_FD=")) continue;
    if (entry.starts_with("LD_PRELOAD=")) {
      if (has_preload) continue;  // getenv(3) sees only the first; so will the program
      has_preload = true;
      const std::string_view old = std::string_view(entry).substr(std::strlen("LD_PRELOAD="));
      if (!preload.empty()) {
        out.push_back(fmt::format("LD_PRELOAD={}{}{}", preload, old.empty() ? "" : " ", old));
        continue;
      }
    }
    out.push_back(entry);
  }
  if (!has_preload && !preload.empty()) out.push_back(fmt::format("LD_PRELOAD={}", preload));
  out.push_back(fmt::format("NETSHIM_TAP_FD={}", tap_fd));
  return out;
}

// --- The steps.

namespace {
// "<what>: <strerror>[; <hint>]".
absl::Status Errno(std::string_view what, int err, std::string_view hint = {}) {
  std::string message = fmt::format("{}: {}", what, std::strerror(err));
  if (!hint.empty()) message += fmt::format("; {}", hint);
  switch (err) {
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(message);
    case ENOENT:
    case ENODEV:
      return absl::NotFoundError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// Why TUNSETIFF failed, and what to do (Linux: drivers/net/tun.c tun_set_iff()).
absl::Status AttachError(const std::string& name, bool existed, int err) {
  if (!existed) {
    return Errno(fmt::format("cannot create TAP device {} (TUNSETIFF)", name), err,
                 err == EPERM ? "creating one needs CAP_NET_ADMIN: run as root" : "");
  }
  std::string_view hint;
  if (err == EPERM)
    hint =
        "it belongs to another user or group and this process lacks "
        "CAP_NET_ADMIN";
  if (err == EBUSY) hint = "another process is attached to it";
  if (err == EINVAL) hint = "it is not a single-queue TAP device";
  return Errno(fmt::format("cannot attach to TAP device {} (TUNSETIFF)", name), err, hint);
}

// MTU and IFF_UP for a TAP we just created (while our fd holds it, it exists).
absl::Status BringUpCreated(const std::string& name, std::optional<int> mtu) {
  const UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0)
    return Errno(fmt::format("cannot configure TAP device {}: socket", name), errno);
  ifreq ifr = InterfaceRequest(name);
  if (mtu) {
    ifr.ifr_mtu = *mtu;
    if (ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0) {
      return Errno(fmt::format("cannot set the MTU of TAP device {} to {}", name, *mtu), errno);
    }
  }
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) {
    return Errno(fmt::format("cannot read the flags of TAP device {}", name), errno);
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) {
    return Errno(fmt::format("cannot bring TAP device {} up", name), errno);
  }
  return absl::OkStatus();
}

int64_t MonotonicMillis() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

absl::StatusOr<int> OpenTap(const std::string& name, bool offload, std::optional<int> mtu,
                            bool* created) {
  *created = false;
  const bool existed = if_nametoindex(name.c_str()) != 0;
  UniqueFd tun(open(kTunPath, O_RDWR | O_CLOEXEC));
  if (tun.get() < 0) {
    const int err = errno;
    return Errno(fmt::format("cannot open {}", kTunPath), err,
                 err == ENOENT   ? "is the tun module loaded? (modprobe tun)"
                 : err == EACCES ? "it must be readable and writable by this user (run as root)"
                                 : "");
  }
  ifreq ifr = InterfaceRequest(name);
  // What TapLink::FromFd expects: Ethernet frames without the packet-info prefix, and the
  // virtio-net header when offloads are wanted (it cannot be switched on once attached).
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
  if (ioctl(tun.get(), TUNSETIFF, &ifr) < 0) return AttachError(name, existed, errno);
  if (!existed) {
    *created = true;  // not TUNSETPERSIST: it goes when the last fd on it closes
    if (absl::Status s = BringUpCreated(name, mtu); !s.ok()) return s;
  }
  if (tun.get() >= kFirstProgramFd) return tun.release();
  // With stdin, stdout or stderr closed, the program must not find the TAP there.
  const int moved = fcntl(tun.get(), F_DUPFD_CLOEXEC, kFirstProgramFd);
  if (moved < 0) return Errno("cannot move the TAP fd above 2 (fcntl F_DUPFD)", errno);
  return moved;
}

absl::Status WaitTapUp(const std::string& name, int seconds, int mtu) {
  const UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Errno(fmt::format("cannot check TAP device {}: socket", name), errno);
  ifreq ifr = InterfaceRequest(name);
  if (ioctl(sock.get(), SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > mtu) {
    std::fprintf(stderr,
                 "netshim-isolate: warning: TAP device %s has MTU %d but the stack uses %d: "
                 "longer frames will be dropped (ip link set %s mtu %d, or --mtu)\n",
                 name.c_str(), ifr.ifr_mtu, mtu, name.c_str(), mtu);
  }
  const int64_t deadline = MonotonicMillis() + int64_t{seconds} * 1000;
  bool noted = false;
  for (;;) {
    ifr = InterfaceRequest(name);
    if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) {
      return Errno(fmt::format("cannot read the flags of TAP device {}", name), errno);
    }
    if ((ifr.ifr_flags & IFF_UP) != 0) return absl::OkStatus();
    if (MonotonicMillis() >= deadline) {
      return absl::FailedPreconditionError(fmt::format(
          "TAP device {} is down{}: the stack cannot send through it (EIO); bring it up with "
          "`ip link set {} up`",
          name, seconds > 0 ? fmt::format(" after waiting {} s", seconds) : "", name));
    }
    if (!noted) {
      std::fprintf(stderr,
                   "netshim-isolate: TAP device %s is down; waiting up to %d s for "
                   "`ip link set %s up`\n",
                   name.c_str(), seconds, name.c_str());
      noted = true;
    }
    const timespec tick{0, 50'000'000};
    nanosleep(&tick, nullptr);
  }
}

absl::Status EnterNewNetworkNamespace() {
  if (unshare(CLONE_NEWNET) < 0) {
    const int err = errno;
    return Errno("cannot create a network namespace (unshare CLONE_NEWNET)", err,
                 err == EPERM ? "needs CAP_SYS_ADMIN: run as root" : "");
  }
  // A new namespace's lo is down (Linux: net/core/net_namespace.c); 127.0.0.1 comes with up.
  const UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Errno("cannot bring lo up in the new namespace: socket", errno);
  ifreq ifr = InterfaceRequest("lo");
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) {
    return Errno("cannot read the flags of lo in the new namespace", errno);
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) {
    return Errno("cannot bring lo up in the new namespace", errno);
  }
  return absl::OkStatus();
}

namespace {

bool HasEffective(cap_value_t cap) {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t value = CAP_CLEAR;
  const bool ok = cap_get_flag(caps, cap, CAP_EFFECTIVE, &value) == 0;
  cap_free(caps);
  return ok && value == CAP_SET;
}

absl::Status SwitchGroups(const TargetUser& user) {
  if (setgroups(user.groups.size(), user.groups.data()) < 0) {
    return Errno(
        fmt::format("cannot set the supplementary groups of {} (setgroups)", DescribeUser(user)),
        errno);
  }
  if (setresgid(user.gid, user.gid, user.gid) < 0) {
    return Errno(fmt::format("cannot switch to gid {} (setresgid)", user.gid), errno);
  }
  return absl::OkStatus();
}

// What needs CAP_SETPCAP, done while we may still have it (a uid switch away from 0 clears
// the effective set, but not the bounding set: capabilities(7)).
absl::Status DropBoundingAndLockRoot(bool stays_root) {
  if (!HasEffective(CAP_SETPCAP)) {
    // Without it the bounding set stays. no_new_privs still stops file capabilities and
    // set-user-ID bits; but an exec as uid 0 would be handed the bounding set back.
    if (stays_root) {
      return absl::PermissionDeniedError(
          "cannot drop uid 0's capabilities for good without CAP_SETPCAP (the bounding set "
          "and SECBIT_NOROOT need it): run as root or pass --user");
    }
    std::fputs("netshim-isolate: warning: no CAP_SETPCAP: the bounding set is left as it is\n",
               stderr);
    return absl::OkStatus();
  }
  // capabilities(7) "The securebits flags": uid 0 gains nothing at exec, and ambient
  // capabilities cannot be raised again, locked so the program cannot undo it.
  const unsigned bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (cap_set_secbits(bits) < 0)
    return Errno("cannot set the securebits (PR_SET_SECUREBITS)", errno);
  // Every capability the running kernel knows (cap_max_bits(): it may know more than the
  // headers we were built with).
  const cap_value_t last = static_cast<cap_value_t>(cap_max_bits());
  for (cap_value_t cap = 0; cap < last; ++cap) {
    if (cap_drop_bound(cap) < 0) {
      return Errno(fmt::format("cannot drop capability {} from the bounding set", cap), errno);
    }
  }
  return absl::OkStatus();
}

// Checks that the drop holds: every set empty, ids as asked, uid 0 out of reach.
absl::Status VerifyDropped(const std::optional<TargetUser>& user) {
  cap_t now = cap_get_proc();
  cap_t none = cap_init();
  const bool empty = now != nullptr && none != nullptr && cap_compare(now, none) == 0;
  cap_free(now);
  cap_free(none);
  if (!empty) return absl::InternalError("capabilities remain after dropping them all");
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    return absl::InternalError("no_new_privs did not stick");
  }
  if (!user) return absl::OkStatus();
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) < 0 || r != user->uid || e != user->uid || s != user->uid ||
      getresgid(&rg, &eg, &sg) < 0 || rg != user->gid || eg != user->gid || sg != user->gid) {
    return absl::InternalError(fmt::format("the switch to {} did not stick", DescribeUser(*user)));
  }
  // CERT POS37-C: make sure the way back is closed.
  if (user->uid != 0 && setuid(0) == 0) {
    return absl::InternalError(fmt::format("{} could switch back to uid 0", DescribeUser(*user)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DropPrivileges(const std::optional<TargetUser>& user) {
  if (user) {
    if (absl::Status s = SwitchGroups(*user); !s.ok()) return s;
  }
  const bool stays_root = user ? user->uid == 0 : getuid() == 0 || geteuid() == 0;
  if (absl::Status s = DropBoundingAndLockRoot(stays_root); !s.ok()) return s;
  // EINVAL: a kernel without ambient capabilities (before 4.3), which has none to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    return Errno("cannot clear the ambient capabilities", errno);
  }
  if (user && setresuid(user->uid, user->uid, user->uid) < 0) {
    return Errno(fmt::format("cannot switch to {} (setresuid)", DescribeUser(*user)), errno);
  }
  cap_t none = cap_init();
  if (none == nullptr) return Errno("cannot clear the capabilities (cap_init)", errno);
  const int rc = cap_set_proc(none);  // effective, permitted, inheritable
  const int err = errno;
  cap_free(none);
  if (rc < 0) return Errno("cannot clear the capabilities (capset)", err);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    return Errno("cannot set no_new_privs (PR_SET_NO_NEW_PRIVS)", errno);
  }
  return VerifyDropped(user);
}

absl::Status CheckPreloadReadable(std::string_view preload, std::string_view who) {
  for (const std::string& path : SplitPreload(preload)) {
    if (path.find('/') == std::string::npos) continue;  // ld.so searches its paths for these
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    const int err = errno;
    return Errno(fmt::format("{} cannot read {}", who, path), err,
                 "the program would run without it: make the file and every directory above "
                 "it readable by that user");
  }
  return absl::OkStatus();
}

}  // namespace netshim
