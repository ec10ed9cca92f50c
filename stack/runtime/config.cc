#include "stack/runtime/config.h"

#include <charconv>
#include <climits>
#include <string_view>

#include "fmt/format.h"
#include "stack/runtime/quote.h"

namespace netshim {
namespace {

// Why a value was refused. `reason` may be empty (the value is simply not of the expected
// form); `expected` overrides the field's usual description when the problem lies elsewhere.
struct Refusal {
  std::string reason;
  std::string expected;
};
using Verdict = std::optional<Refusal>;  // nullopt: accepted

const Verdict kAccepted = std::nullopt;
Verdict Malformed() { return Refusal{}; }
Verdict Because(std::string reason) { return Refusal{std::move(reason), {}}; }

// Quotes a value for an error message: printable ASCII as is, everything else (newlines
// included, so the message stays one line) as \xNN, long values cut short.
std::string Quote(std::string_view value) {
  constexpr size_t kShown = 64;
  std::string out = "\"";
  AppendEscaped(out, value.substr(0, kShown));
  if (value.size() > kShown) return out + fmt::format("...\" ({} bytes)", value.size());
  return out + "\"";
}

// Digits only (no sign, no spaces, no hex), at most `max`.
std::optional<uint64_t> ParseUint(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// "10", "2.5", "2.5s", "500ms": decimal seconds or milliseconds, up to nanosecond precision.
std::optional<absl::Duration> ParseDuration(std::string_view text) {
  absl::Duration unit = absl::Seconds(1);
  if (text.ends_with("ms")) {
    unit = absl::Milliseconds(1);
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  }
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (dot != std::string_view::npos && (fraction.empty() || fraction.size() > 9)) {
    return std::nullopt;
  }
  // Ten digits are already far beyond any limit; more could overflow.
  const auto units = ParseUint(whole, 9'999'999'999);
  const auto fraction_value =
      fraction.empty() ? std::optional<uint64_t>(0) : ParseUint(fraction, 999'999'999);
  if (!units || !fraction_value) return std::nullopt;
  int64_t scale = 1;
  for (size_t i = 0; i < fraction.size(); ++i) scale *= 10;
  return static_cast<int64_t>(*units) * unit + static_cast<int64_t>(*fraction_value) * unit / scale;
}

// Why `a` cannot be a host's own address, or nullopt if it can. Checks that need the
// subnet are made by the caller.
std::optional<std::string> NotAHostAddress(Ipv4Address a) {
  if (a.IsLimitedBroadcast()) return "the limited broadcast address";
  if (a.IsMulticast()) return "a multicast address";
  if (a.IsLoopback()) return "a loopback address";
  // RFC 1122 3.2.1.3: 0.0.0.0/8 only ever means "this host on this network" as a source.
  if ((a.value >> 24) == 0) return "in 0.0.0.0/8, which is not a host address";
  return std::nullopt;
}

// The subnet's own network and broadcast addresses are not hosts' (RFC 1122 3.2.1.3),
// except on /31 links (RFC 3021) and /32, where every address is a host's.
std::optional<std::string> SubnetEdge(Ipv4Address a, const Ipv4Cidr& subnet) {
  if (subnet.prefix_len >= 31) return std::nullopt;
  const Ipv4Cidr network{subnet.Network(), subnet.prefix_len};
  if (a == subnet.Network()) return fmt::format("the network address of {}", network.ToString());
  if (a == subnet.DirectedBroadcast()) {
    return fmt::format("the broadcast address of {}", network.ToString());
  }
  return std::nullopt;
}

Verdict ParseTap(std::string_view v, Config& config) {
  // Linux: dev_valid_name() in net/core/dev.c (IFNAMSIZ is 16 with the NUL). Only
  // printable ASCII, as the kernel's isspace() also counts 0xa0 as a space.
  if (v.size() > 15 || v == "." || v == "..") return Malformed();
  for (unsigned char c : v) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':') return Malformed();
  }
  config.tap = std::string(v);
  return kAccepted;
}

Verdict ParseTapFd(std::string_view v, Config& config) {
  const auto fd = ParseUint(v, INT_MAX);
  if (!fd) return Malformed();
  if (config.tap) {
    return Refusal{fmt::format("NETSHIM_TAP={} is also set", Quote(*config.tap)),
                   "only one of NETSHIM_TAP and NETSHIM_TAP_FD"};
  }
  config.tap_fd = static_cast<int>(*fd);
  return kAccepted;
}

Verdict ParseAddr(std::string_view v, Config& config) {
  // A bare address would mean /32, a subnet with no neighbours: almost surely a mistake.
  if (v.find('/') == std::string_view::npos) return Because("no prefix length");
  const auto cidr = Ipv4Cidr::Parse(v);
  if (!cidr) return Malformed();
  if (auto why = NotAHostAddress(cidr->address)) return Because(*why);
  if (auto why = SubnetEdge(cidr->address, *cidr)) return Because(*why);
  config.addr = *cidr;
  return kAccepted;
}

Verdict ParseGateway(std::string_view v, Config& config) {
  const auto gw = Ipv4Address::Parse(v);
  if (!gw) return Malformed();
  if (auto why = NotAHostAddress(*gw)) return Because(*why);
  if (!config.addr) {
    return Refusal{"NETSHIM_ADDR is not set",
                   "NETSHIM_ADDR to be set too, with the gateway inside its subnet"};
  }
  const Ipv4Cidr& addr = *config.addr;
  const std::string addr_text = fmt::format("NETSHIM_ADDR={}", Quote(addr.ToString()));
  if (*gw == addr.address) return Because(fmt::format("it is {} itself", addr_text));
  if (!addr.Contains(*gw)) {
    return Because(fmt::format("outside the subnet {} of {}",
                               Ipv4Cidr{addr.Network(), addr.prefix_len}.ToString(), addr_text));
  }
  if (auto why = SubnetEdge(*gw, addr)) return Because(*why);
  config.gateway = *gw;
  return kAccepted;
}

Verdict ParseMac(std::string_view v, Config& config) {
  const auto mac = MacAddress::Parse(v);
  if (!mac) return Malformed();
  if (mac->IsBroadcast()) return Because("the broadcast address");
  if (mac->IsMulticast()) return Because("a multicast address (first byte odd)");
  if (mac->IsZero()) return Because("the all-zero address");
  config.mac = *mac;
  return kAccepted;
}

Verdict ParseMtu(std::string_view v, Config& config) {
  const auto mtu = ParseUint(v, kMaxMtu);
  if (!mtu || *mtu < kMinMtu) return Malformed();
  config.mtu = static_cast<uint32_t>(*mtu);
  return kAccepted;
}

Verdict ParseLog(std::string_view v, Config& config) {
  const auto level = ParseLogLevel(v);
  if (!level) return Malformed();
  config.log_level = *level;
  return kAccepted;
}

// Paths are bytes to Linux; the common checks (length, control characters, edge spaces)
// are all we ask. The file is opened later, where the error can say why it failed.
Verdict ParseLogFile(std::string_view v, Config& config) {
  config.log_file = std::string(v);
  return kAccepted;
}

Verdict ParsePcap(std::string_view v, Config& config) {
  config.pcap = std::string(v);
  return kAccepted;
}

Verdict ParseImpair(std::string_view v, Config& config) {
  config.impair = std::string(v);  // its syntax belongs to the impairment parser
  return kAccepted;
}

Verdict ParseStats(std::string_view v, Config& config) {
  if (v != "0" && v != "1") return Malformed();
  config.stats = v == "1";
  return kAccepted;
}

Verdict ParseThreads(std::string_view v, Config& config) {
  const auto threads = ParseUint(v, kMaxThreads);
  if (!threads || *threads < 1) return Malformed();
  config.threads = static_cast<uint32_t>(*threads);
  return kAccepted;
}

Verdict ParseOffload(std::string_view v, Config& config) {
  if (v != "on" && v != "off") return Malformed();
  config.offload = v == "on";
  return kAccepted;
}

Verdict ParseCallerPoll(std::string_view v, Config& config) {
  if (v != "on" && v != "off") return Malformed();
  config.caller_poll = v == "on";
  return kAccepted;
}

Verdict ParseLoopback(std::string_view v, Config& config) {
  if (v == "kernel") {
    config.loopback = Config::Loopback::kKernel;
  } else if (v == "stack") {
    config.loopback = Config::Loopback::kStack;
  } else {
    return Malformed();
  }
  return kAccepted;
}

Verdict ParseDns(std::string_view v, Config& config) {
  if (v == "stack") {
    config.dns = Config::Dns::kStack;
  } else if (v == "kernel") {
    config.dns = Config::Dns::kKernel;
  } else {
    return Malformed();
  }
  return kAccepted;
}

Verdict ParseExitTimeout(std::string_view v, Config& config) {
  const auto timeout = ParseDuration(v);
  if (!timeout || *timeout > kMaxExitTimeout) return Malformed();
  config.exit_timeout = *timeout;
  return kAccepted;
}

Verdict ParseAckHold(std::string_view v, Config& config) {
  const auto hold = ParseDuration(v);
  if (!hold || *hold > kMaxAckHold) return Malformed();
  config.ack_hold = *hold;
  return kAccepted;
}

struct Field {
  const char* name;
  const char* expected;
  Verdict (*parse)(std::string_view value, Config& config);
};

// In this order: NETSHIM_TAP_FD and NETSHIM_GW look at what came before them.
constexpr Field kFields[] = {
    {"NETSHIM_TAP",
     "a network interface name of 1 to 15 printable characters, not \".\" or \"..\", without "
     "'/', ':' or spaces",
     ParseTap},
    {"NETSHIM_TAP_FD", "a file descriptor number from 0 to 2147483647", ParseTapFd},
    {"NETSHIM_ADDR", "a unicast IPv4 host address with its prefix length, e.g. 198.18.0.2/24",
     ParseAddr},
    {"NETSHIM_GW", "a unicast IPv4 address inside NETSHIM_ADDR's subnet, e.g. 198.18.0.1",
     ParseGateway},
    {"NETSHIM_MAC", "a unicast MAC address such as 02:00:00:00:00:01", ParseMac},
    {"NETSHIM_MTU", "an integer from 576 to 65521", ParseMtu},
    {"NETSHIM_LOG", "one of off, error, warn, info, debug, trace", ParseLog},
    {"NETSHIM_LOG_FILE", "a file path", ParseLogFile},
    {"NETSHIM_PCAP", "a file path", ParsePcap},
    {"NETSHIM_IMPAIR", "a fault-injection spec", ParseImpair},
    {"NETSHIM_STATS", "0 or 1", ParseStats},
    {"NETSHIM_THREADS", "an integer from 1 to 64", ParseThreads},
    {"NETSHIM_OFFLOAD", "on or off", ParseOffload},
    {"NETSHIM_CALLER_POLL", "on or off", ParseCallerPoll},
    {"NETSHIM_LOOPBACK", "kernel or stack", ParseLoopback},
    {"NETSHIM_DNS", "stack or kernel", ParseDns},
    {"NETSHIM_EXIT_TIMEOUT",
     "a duration from 0 to 3600 seconds, in seconds or with a unit, e.g. 10, 2.5, 1.5s or 500ms",
     ParseExitTimeout},
    {"NETSHIM_ACK_HOLD",
     "a duration from 0 to 100 ms, in seconds or with a unit, e.g. 0.005, 5ms or 0.5ms",
     ParseAckHold},
};

// Checks every variable shares: a bounded length, no control characters (which would also
// garble the error line), no spaces at either end (a quoting mistake in a shell script).
std::optional<std::string> CommonProblem(std::string_view v) {
  if (v.size() > kMaxConfigValueLength) {
    return fmt::format("longer than {} bytes", kMaxConfigValueLength);
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  if (v.front() == ' ' || v.back() == ' ') return "has leading or trailing spaces";
  return std::nullopt;
}

absl::Status Invalid(const Field& field, std::string_view value, const Refusal& refusal) {
  const std::string_view expected =
      refusal.expected.empty() ? std::string_view(field.expected) : refusal.expected;
  const std::string reason = refusal.reason.empty() ? "" : refusal.reason + "; ";
  return absl::InvalidArgumentError(
      fmt::format("{}={} is invalid: {}expected {}", field.name, Quote(value), reason, expected));
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::function<const char*(const char*)>& getenv) {
  Config config;
  for (const Field& field : kFields) {
    const char* raw = getenv(field.name);
    if (raw == nullptr || *raw == '\0') continue;  // empty means unset
    const std::string_view value(raw);
    Verdict verdict;
    if (auto problem = CommonProblem(value)) {
      verdict = Because(*problem);
    } else {
      verdict = field.parse(value, config);
    }
    if (verdict) return Invalid(field, value, *verdict);
  }
  return config;
}

absl::Status RequireLinkConfig(const Config& config) {
  if (!config.tap && !config.tap_fd) {
    return absl::FailedPreconditionError(
        "NETSHIM_TAP or NETSHIM_TAP_FD must be set: expected a TAP device name such as tap0, "
        "or the number of an inherited TAP file descriptor");
  }
  if (!config.addr) {
    return absl::FailedPreconditionError(
        "NETSHIM_ADDR must be set: expected a unicast IPv4 host address with its prefix "
        "length, e.g. 198.18.0.2/24");
  }
  return absl::OkStatus();
}

MacAddress DefaultMacFor(Ipv4Address address) {
  const uint32_t a = address.value;
  return MacAddress{{0x02, 0x4e, static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
                     static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)}};
}

}  // namespace netshim
