#include "tools/tap_admin.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "fmt/format.h"
#include "stack/runtime/unique_fd.h"
#include "tools/cli_args.h"

namespace netshim {

const char kTapUsage[] =
    "usage: netshim-tap add NAME [--user U] [--group G] [--bridge BR] [--mtu N] [--up]\n"
    "       netshim-tap del NAME\n"
    "       netshim-tap --help\n"
    "Creates or deletes a persistent TAP device that an unprivileged user can attach to\n"
    "(netshim-host, the shim) without CAP_NET_ADMIN. Works in the caller's network\n"
    "namespace (use `ip netns exec NS netshim-tap ...` for another one).\n"
    "  add NAME        create TAP NAME (IFF_TAP, no packet info), persistent; fails if a\n"
    "                  device NAME exists\n"
    "  del NAME        delete the persistent TAP NAME; fails if it does not exist or is in use\n"
    "  --user U        owner, a user name or uid (default: $SUDO_UID, else the caller;\n"
    "                  none with --group alone)\n"
    "  --group G       group, a name or gid: alone, any member of G may attach; with --user,\n"
    "                  only U and only while in G (the kernel requires both)\n"
    "  --bridge BR     attach the TAP to the existing bridge BR (implies --up)\n"
    "  --mtu N         set the MTU (68..65521)\n"
    "  --up            bring the TAP up\n"
    "NAME and BR: 1..15 characters, none of / : % or whitespace, not . or ..\n"
    "Needs CAP_NET_ADMIN: run it as root (sudo), or grant it once with\n"
    "  sudo setcap cap_net_admin+ep /path/to/netshim-tap\n"
    "Exit status: 0 done, 1 the operation failed, 2 bad arguments.\n";

namespace {

constexpr size_t kMaxLookupBuffer = 1 << 20;  // getpwnam_r/getgrnam_r: grow to 1 MiB at most

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }
enum class Flag { kUser, kGroup, kBridge, kMtu, kUp };

const std::map<std::string_view, Flag> kFlags = {
    {"--user", Flag::kUser}, {"--group", Flag::kGroup}, {"--bridge", Flag::kBridge},
    {"--mtu", Flag::kMtu},   {"--up", Flag::kUp},
};

// Stores one flag's value into `options`; errors on a repeated flag or a bad value.
absl::Status ApplyFlag(std::string_view flag, Flag kind, std::string_view value,
                       TapOptions& options) {
  const auto set_once = [&](std::optional<std::string>& slot) -> absl::Status {
    if (slot) return Invalid(fmt::format("{} given twice", flag));
    if (value.empty()) return Invalid(fmt::format("{} needs a non-empty value", flag));
    if (value.find('\0') != std::string_view::npos) {
      return Invalid(fmt::format("{} {} contains a NUL byte", flag, QuoteArg(value)));
    }
    slot = std::string(value);
    return absl::OkStatus();
  };
  switch (kind) {
    case Flag::kUser:
      return set_once(options.user);
    case Flag::kGroup:
      return set_once(options.group);
    case Flag::kBridge: {
      if (absl::Status s = ValidateInterfaceName(value, "--bridge"); !s.ok()) return s;
      return set_once(options.bridge);
    }
    case Flag::kMtu: {
      if (options.mtu) return Invalid("--mtu given twice");
      absl::StatusOr<int> mtu = ParseMtu(value);
      if (!mtu.ok()) return mtu.status();
      options.mtu = *mtu;
      return absl::OkStatus();
    }
    case Flag::kUp:
      if (options.up) return Invalid("--up given twice");
      options.up = true;
      return absl::OkStatus();
  }
  return Invalid("unreachable");
}

bool AnyAddFlag(const TapOptions& o) { return o.user || o.group || o.bridge || o.mtu || o.up; }

}  // namespace
absl::StatusOr<int> ParseMtu(std::string_view text) {
  if (text.empty()) return Invalid("--mtu needs a number");
  if (!AllDigits(text)) return Invalid(fmt::format("--mtu {} is not a number", QuoteArg(text)));
  const std::optional<uint64_t> value = ParseDecimal(text);
  if (!value || *value < kTapMinMtu || *value > kTapMaxMtu) {
    return Invalid(
        fmt::format("--mtu {} is out of range ({}..{})", QuoteArg(text), kTapMinMtu, kTapMaxMtu));
  }
  return static_cast<int>(*value);
}
absl::StatusOr<TapOptions> ParseTapArgs(const std::vector<std::string_view>& args) {
  TapOptions options;
  std::vector<std::string_view> positional;
  std::string_view first_flag;  // for "del takes no flags"
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      return TapOptions{};  // kHelp
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    // --flag VALUE or --flag=VALUE.
    const size_t eq = arg.find('=');
    const std::string_view flag = arg.substr(0, eq);
    const auto it = kFlags.find(flag);
    if (it == kFlags.end()) {
      return Invalid(fmt::format("unknown flag {} (see --help)", QuoteArg(flag)));
    }
    if (first_flag.empty()) first_flag = it->first;
    std::string_view value;
    if (it->second == Flag::kUp) {
      if (eq != std::string_view::npos) return Invalid("--up takes no value");
    } else if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
      value = args[++i];
    } else {
      return Invalid(fmt::format("{} needs a value (see --help)", flag));
    }
    if (absl::Status s = ApplyFlag(it->first, it->second, value, options); !s.ok()) return s;
  }

  if (positional.empty()) return Invalid("missing command: add NAME or del NAME (see --help)");
  const std::string_view command = positional[0];
  if (command == "add") {
    options.command = TapCommand::kAdd;
  } else if (command == "del") {
    options.command = TapCommand::kDel;
  } else {
    return Invalid(
        fmt::format("unknown command {} (expected add or del; see --help)", QuoteArg(command)));
  }
  if (positional.size() < 2) return Invalid(fmt::format("{} needs a device NAME", command));
  if (positional.size() > 2) {
    return Invalid(fmt::format("unexpected argument {} (see --help)", QuoteArg(positional[2])));
  }
  if (absl::Status s = ValidateInterfaceName(positional[1], "NAME"); !s.ok()) return s;
  options.name = std::string(positional[1]);

  if (options.command == TapCommand::kDel && AnyAddFlag(options)) {
    return Invalid(fmt::format("{} is only valid with add", first_flag));
  }
  if (options.bridge && *options.bridge == options.name) {
    return Invalid("--bridge must name a bridge, not the TAP itself");
  }
  return options;
}

namespace {

// getpwnam_r/getgrnam_r with a buffer grown on ERANGE (sysconf's hint may be -1 or too small),
// up to kMaxLookupBuffer. Returns the id, nullopt when there is no such entry.
template <typename Entry, typename Lookup, typename GetId>
absl::StatusOr<std::optional<uint32_t>> LookupId(std::string_view kind, std::string_view name,
                                                 Lookup lookup, GetId get_id) {
  const std::string key(name);
  std::vector<char> buffer(4096);
  for (;;) {
    Entry entry;
    Entry* result = nullptr;
    const int rc = lookup(key.c_str(), &entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (result != nullptr) return std::optional<uint32_t>(get_id(*result));
    // getpwnam_r(3): 0, ENOENT, ESRCH, EBADF or EPERM all mean "not found" somewhere.
    if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
      return std::optional<uint32_t>();
    }
    return absl::UnavailableError(
        fmt::format("cannot look up {} {}: {}", kind, QuoteArg(name), std::strerror(rc)));
  }
}

// A name first (as chown(1) does), then a number: a user called "1000" wins over uid 1000.
template <typename Entry, typename Lookup, typename GetId>
absl::StatusOr<uint32_t> ResolveId(std::string_view kind, std::string_view text, Lookup lookup,
                                   GetId get_id) {
  if (text.empty()) return Invalid(fmt::format("empty {} name", kind));
  if (text.find('\0') != std::string_view::npos) {
    return Invalid(fmt::format("{} {} contains a NUL byte", kind, QuoteArg(text)));
  }
  absl::StatusOr<std::optional<uint32_t>> found = LookupId<Entry>(kind, text, lookup, get_id);
  if (!found.ok()) return found.status();
  if (found->has_value()) return **found;
  if (!AllDigits(text)) return Invalid(fmt::format("unknown {} {}", kind, QuoteArg(text)));
  absl::StatusOr<uint32_t> id = ParseNumericId(text);
  if (!id.ok()) return Invalid(fmt::format("{} {}", kind, std::string(id.status().message())));
  return *id;
}

}  // namespace

absl::StatusOr<uid_t> ResolveUser(std::string_view user) {
  return ResolveId<passwd>("user", user, getpwnam_r, [](const passwd& p) { return p.pw_uid; });
}

absl::StatusOr<gid_t> ResolveGroup(std::string_view group) {
  return ResolveId<struct group>("group", group, getgrnam_r,
                                 [](const struct group& g) { return g.gr_gid; });
}

absl::StatusOr<TapOwner> ResolveTapOwner(const TapOptions& options,
                                         std::optional<std::string_view> sudo_uid,
                                         uid_t caller_uid) {
  TapOwner owner;
  if (options.user) {
    absl::StatusOr<uid_t> uid = ResolveUser(*options.user);
    if (!uid.ok()) return uid.status();
    owner.uid = *uid;
  } else if (options.group) {
    // No owner: tun_not_capable() would otherwise require the uid as well as the group.
  } else if (sudo_uid && !sudo_uid->empty()) {
    absl::StatusOr<uint32_t> uid = ParseNumericId(*sudo_uid);
    if (!uid.ok()) {
      return Invalid(
          fmt::format("SUDO_UID {} (pass --user instead)", std::string(uid.status().message())));
    }
    owner.uid = *uid;
  } else {
    owner.uid = caller_uid;
  }
  if (options.group) {
    absl::StatusOr<gid_t> gid = ResolveGroup(*options.group);
    if (!gid.ok()) return gid.status();
    owner.gid = *gid;
  }
  return owner;
}

bool HasNetAdmin() {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t value = CAP_CLEAR;
  const bool ok = cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &value) == 0;
  cap_free(caps);
  return ok && value == CAP_SET;
}

namespace {

// A path as a shell word: as is when plain, else single-quoted. Control bytes become '?' so
// the hint stays one line (such a path cannot be pasted anyway).
std::string ShellWord(std::string_view text) {
  bool plain = !text.empty();
  for (char c : text) {
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '/' || c == '.' || c == '_' || c == '-' || c == '+');
  }
  if (plain) return std::string(text);
  std::string word(1, '\'');
  for (char c : text) {
    if (c == '\'') {
      word.append("'\\''");  // close the quote, an escaped quote, reopen
    } else {
      const auto u = static_cast<unsigned char>(c);
      word.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
  }
  word.push_back('\'');
  return word;
}

}  // namespace

std::string CapabilityHint(std::string_view exe_path) {
  return fmt::format(
      "needs CAP_NET_ADMIN: run it as root (sudo netshim-tap ...) or grant it once with: "
      "sudo setcap cap_net_admin+ep {}",
      ShellWord(exe_path));
}

namespace {

// "tap0: cannot <what>: <detail> (<strerror>)": one line naming the device.
absl::Status DeviceError(std::string_view name, std::string_view what, int err,
                         std::string_view detail = {}) {
  std::string message = fmt::format("{}: cannot {}: ", name, what);
  message += detail.empty() ? std::string(std::strerror(err))
                            : fmt::format("{} ({})", detail, std::strerror(err));
  switch (err) {
    case ENODEV:
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
    case EBUSY:
      return absl::FailedPreconditionError(message);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnknownError(message);
  }
}
absl::StatusOr<int> OpenTun(std::string_view name, std::string_view what) {
  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return DeviceError(name, what, err,
                       err == ENOENT ? "no /dev/net/tun (is the tun module loaded? modprobe tun)"
                                     : "cannot open /dev/net/tun");
  }
  return fd;
}

// A datagram socket for interface ioctls; AF_INET is the usual one, AF_UNIX when the kernel
// has no IPv4 (both reach dev_ioctl(): Linux net/socket.c sock_do_ioctl()).
absl::StatusOr<int> IoctlSocket(std::string_view name, std::string_view what) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return DeviceError(name, what, errno, "cannot open a socket for ioctls");
  return fd;
}

// MTU, bridge and link state of the fresh TAP, through a socket.
absl::Status ConfigureLink(const TapOptions& options) {
  const std::string& name = options.name;
  absl::StatusOr<int> sock_or = IoctlSocket(name, "configure");
  if (!sock_or.ok()) return sock_or.status();
  const UniqueFd sock(*sock_or);

  if (options.mtu) {
    ifreq ifr = InterfaceRequest(name);
    ifr.ifr_mtu = *options.mtu;
    if (ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0) {
      return DeviceError(name, fmt::format("set MTU {}", *options.mtu), errno);
    }
  }
  if (options.bridge) {
    const std::string& bridge = *options.bridge;
    const std::string what = fmt::format("attach to bridge {}", bridge);
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) return DeviceError(name, what, errno, "the TAP vanished");
    // SIOCBRADDIF names the bridge and carries the port's index (Linux: net/core/dev_ioctl.c
    // dev_ifsioc(): ENODEV without the bridge, EOPNOTSUPP when it is not a bridge).
    ifreq ifr = InterfaceRequest(bridge);
    ifr.ifr_ifindex = static_cast<int>(index);
    if (ioctl(sock.get(), SIOCBRADDIF, &ifr) < 0) {
      const int err = errno;
      if (err == ENODEV) return DeviceError(name, what, err, bridge + " does not exist");
      if (err == EOPNOTSUPP) return DeviceError(name, what, err, bridge + " is not a bridge");
      return DeviceError(name, what, err);
    }
  }
  if (options.up || options.bridge) {
    ifreq ifr = InterfaceRequest(name);
    if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return DeviceError(name, "read flags", errno);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return DeviceError(name, "bring up", errno);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AddTap(const TapOptions& options, const TapOwner& owner) {
  const std::string& name = options.name;
  if (options.bridge && if_nametoindex(options.bridge->c_str()) == 0) {
    // Checked before creating anything, so there is nothing to undo.
    return absl::NotFoundError(
        fmt::format("{0}: cannot attach to bridge {1}: {2}; create it first: ip link add {1} "
                    "type bridge",
                    name, *options.bridge, std::strerror(errno)));
  }
  absl::StatusOr<int> tun_or = OpenTun(name, "create");
  if (!tun_or.ok()) return tun_or.status();
  const UniqueFd tun(*tun_or);

  // IFF_TUN_EXCL: EBUSY if any device NAME exists, instead of attaching to an existing TAP
  // (Linux: drivers/net/tun.c tun_set_iff()).
  ifreq ifr = InterfaceRequest(name);
  // IFF_TUN_EXCL is 0x8000: the short field holds it as a negative number.
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL);
  if (ioctl(tun.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    if (err == EBUSY)
      return DeviceError(name, "create", EEXIST, "a device with this name already exists");
    return DeviceError(name, "create", err);
  }
  // Until TUNSETPERSIST, closing `tun` removes the device again: an early return undoes it.
  if (owner.uid && ioctl(tun.get(), TUNSETOWNER, static_cast<unsigned long>(*owner.uid)) < 0) {
    return DeviceError(name, fmt::format("set owner uid {}", *owner.uid), errno);
  }
  if (owner.gid && ioctl(tun.get(), TUNSETGROUP, static_cast<unsigned long>(*owner.gid)) < 0) {
    return DeviceError(name, fmt::format("set group gid {}", *owner.gid), errno);
  }
  if (ioctl(tun.get(), TUNSETPERSIST, 1UL) < 0) return DeviceError(name, "make persistent", errno);

  absl::Status status = ConfigureLink(options);
  if (!status.ok() && ioctl(tun.get(), TUNSETPERSIST, 0UL) < 0) {
    // Leave a way out in the one line: the TAP outlives us.
    return absl::Status(status.code(),
                        fmt::format("{}; it was left behind (remove it: netshim-tap del {})",
                                    std::string(status.message()), name));
  }
  return status;
}

absl::Status DelTap(std::string_view name) {
  const std::string key(name);
  // Without this check TUNSETIFF would create NAME, and "deleting" it would quietly succeed.
  if (if_nametoindex(key.c_str()) == 0) return DeviceError(name, "delete", ENODEV);
  absl::StatusOr<int> tun_or = OpenTun(name, "delete");
  if (!tun_or.ok()) return tun_or.status();
  const UniqueFd tun(*tun_or);

  ifreq ifr = InterfaceRequest(name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  int rc = ioctl(tun.get(), TUNSETIFF, &ifr);
  if (rc < 0 && errno == EINVAL) {
    // A multiqueue TAP (ip tuntap add ... multi_queue) refuses a single-queue attach.
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    rc = ioctl(tun.get(), TUNSETIFF, &ifr);
  }
  if (rc < 0) {
    const int err = errno;
    if (err == EINVAL) return DeviceError(name, "delete", err, "not a TAP device");
    if (err == EBUSY) return DeviceError(name, "delete", err, "in use by another process");
    return DeviceError(name, "delete", err);
  }
  // TUNGETIFF reports IFF_PERSIST: without it, NAME vanished after the check above and
  // TUNSETIFF made a fresh one, which closing `tun` removes again.
  ifreq got{};
  if (ioctl(tun.get(), TUNGETIFF, &got) == 0 && (got.ifr_flags & IFF_PERSIST) == 0) {
    return DeviceError(name, "delete", ENODEV);
  }
  if (ioctl(tun.get(), TUNSETPERSIST, 0UL) < 0) return DeviceError(name, "delete", errno);
  return absl::OkStatus();  // closing `tun`, the last file, unregisters the device
}

std::string DescribeAddedTap(const TapOptions& options, const TapOwner& owner) {
  std::string line = fmt::format("{}: created persistent TAP", options.name);
  if (owner.uid) line += fmt::format(" owned by uid {}", *owner.uid);
  if (owner.gid) line += fmt::format("{} gid {}", owner.uid ? ", group" : " for group", *owner.gid);
  if (options.mtu) line += fmt::format(", mtu {}", *options.mtu);
  if (options.bridge) line += fmt::format(", in bridge {}", *options.bridge);
  if (options.up || options.bridge) line += ", up";
  return line;
}

}  // namespace netshim
