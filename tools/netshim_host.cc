// netshim-host: the stack as a standalone host on a TAP device, until SIGINT or SIGTERM;
// then it prints its counters. It answers ARP and ping (and, with the transport, serves
// echo/discard/chargen).
//
// Flags are validated by the same parser as the NETSHIM_* environment, so the shim and the
// host accept exactly the same values.
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "stack/link/link_builder.h"
#include "stack/runtime/boot_secret.h"
#include "stack/runtime/config.h"
#include "stack/runtime/log.h"
#include "stack/stack.h"
#include "tools/host_services.h"
#include "tools/tcp_services.h"

namespace netshim {
namespace {

constexpr char kUsage[] =
    "usage: netshim-host --tap NAME --addr CIDR [--gw IP] [--mac MAC] [--mtu N]\n"
    "                    [--pcap FILE] [--impair SPEC] [--offload on|off] [--log LEVEL]\n"
    "                    [--udp-echo PORT]...\n"
    "                    [--tcp-echo PORT]... [--tcp-discard PORT]... [--tcp-chargen PORT]...\n"
    "Runs the netshim stack as a host on TAP device NAME until SIGINT/SIGTERM, then prints\n"
    "its counters.\n"
    "  --tap NAME      TAP device to attach to (created if missing and CAP_NET_ADMIN)\n"
    "  --addr CIDR     IPv4 address and prefix, e.g. 198.18.0.2/24\n"
    "  --gw IP         default gateway (inside the subnet)\n"
    "  --mac MAC       MAC address (default: 02:4e plus the IPv4 address bytes... derived)\n"
    "  --mtu N         link MTU (default 1500)\n"
    "  --pcap FILE     record every frame in and out to FILE (pcap, readable by tshark)\n"
    "  --impair SPEC   fault injection, e.g. loss=2%,reorder=1%,dup=0.5%,delay=5ms,seed=7\n"
    "  --offload on|off\n"
    "                  TSO and checksum offload through the TAP (default on where it works)\n"
    "  --log LEVEL     off|error|warn|info|debug|trace (default warn)\n"
    "  --udp-echo PORT serve RFC 862 echo over UDP on PORT (repeatable)\n"
    "  --tcp-echo PORT serve RFC 862 echo over TCP on PORT (repeatable)\n"
    "  --tcp-discard PORT\n"
    "                  serve RFC 863 discard over TCP on PORT (repeatable)\n"
    "  --tcp-chargen PORT\n"
    "                  serve RFC 864 character generator over TCP on PORT (repeatable)\n"
    "The TCP services share one thread and serve any number of connections; their counters\n"
    "follow the stack's, grouped as TcpEcho:PORT, TcpDiscard:PORT and TcpChargen:PORT.\n";

// Each flag and the environment variable whose syntax it shares.
const std::map<std::string_view, const char*> kFlagToVariable = {
    {"--tap", "NETSHIM_TAP"},       {"--addr", "NETSHIM_ADDR"}, {"--gw", "NETSHIM_GW"},
    {"--mac", "NETSHIM_MAC"},       {"--mtu", "NETSHIM_MTU"},   {"--pcap", "NETSHIM_PCAP"},
    {"--impair", "NETSHIM_IMPAIR"}, {"--log", "NETSHIM_LOG"},   {"--offload", "NETSHIM_OFFLOAD"},
};

const std::map<std::string_view, TcpServiceKind> kTcpServiceFlags = {
    {"--tcp-echo", TcpServiceKind::kEcho},
    {"--tcp-discard", TcpServiceKind::kDiscard},
    {"--tcp-chargen", TcpServiceKind::kChargen},
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "netshim-host: %s\n", message.c_str());
  std::exit(2);
}

// Rewrites "NETSHIM_MTU=..." in a config error as "--mtu ..." for this tool's user.
std::string InFlagTerms(std::string message) {
  for (const auto& [flag, var] : kFlagToVariable) {
    const std::string v(var);
    for (size_t at; (at = message.find(v)) != std::string::npos;) {
      message.replace(at, v.size(), flag);
    }
  }
  return message;
}

uint16_t ParsePort(std::string_view flag, std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    Fail(fmt::format("{} \"{}\" is invalid: expected a port from 1 to 65535", flag, text));
  }
  return static_cast<uint16_t>(value);
}

int Main(int argc, char** argv) {
  std::map<std::string, std::string> values;
  std::vector<uint16_t> udp_echo_ports;
  std::vector<std::pair<TcpServiceKind, uint16_t>> tcp_services;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--udp-echo") {
      if (i + 1 >= argc) Fail(fmt::format("{} needs a value (see --help)", arg));
      udp_echo_ports.push_back(ParsePort(arg, argv[++i]));
      continue;
    }
    if (auto kind = kTcpServiceFlags.find(arg); kind != kTcpServiceFlags.end()) {
      if (i + 1 >= argc) Fail(fmt::format("{} needs a value (see --help)", arg));
      tcp_services.emplace_back(kind->second, ParsePort(arg, argv[++i]));
      continue;
    }
    auto it = kFlagToVariable.find(arg);
    if (it == kFlagToVariable.end()) Fail(fmt::format("unknown argument \"{}\" (see --help)", arg));
    if (i + 1 >= argc) Fail(fmt::format("{} needs a value (see --help)", arg));
    if (!values.emplace(it->second, argv[++i]).second) Fail(fmt::format("{} given twice", arg));
  }
  auto config = ParseConfig([&values](const char* name) -> const char* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  });
  if (!config.ok()) Fail(InFlagTerms(std::string(config.status().message())));
  if (!config->tap) Fail("--tap is required (see --help)");
  if (!config->addr) Fail("--addr is required (see --help)");
  SetLogLevel(config->log_level);

  // Block the stop signals before any thread starts so every thread inherits the mask and
  // only sigwait() below sees them. A signal ignored at exec (a background job of a
  // non-interactive shell ignores SIGINT) would be discarded, never reaching sigwait().
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  StackOptions options;
  options.address = *config->addr;
  options.gateway = config->gateway;
  options.mac = config->mac;
  options.mtu = config->mtu;
  // ISNs that keep increasing across restarts, as the kernel's (boot_secret.h).
  if (auto path = DefaultBootSecretPath()) options.tcp.secret = LoadOrCreateBootSecret(*path);
  LinkConfig link_config{config->tap,  std::nullopt,   config->mtu,
                         config->pcap, config->impair, config->offload};
  auto stack = Stack::Create(options, [&](BufferPool* pool, LinkStats* stats) {
    return BuildLink(link_config, pool, stats, MonotonicClock::Get());
  });
  if (!stack.ok()) Fail(std::string(stack.status().message()));
  if (auto status = (*stack)->Start(); !status.ok()) Fail(std::string(status.message()));
  std::vector<std::unique_ptr<UdpEchoService>> services;
  for (uint16_t port : udp_echo_ports) {
    auto service = UdpEchoService::Start(**stack, port);
    if (!service.ok()) Fail(std::string(service.status().message()));
    services.push_back(std::move(*service));
  }
  std::unique_ptr<TcpServices> tcp;
  if (!tcp_services.empty()) {
    auto started = TcpServices::Start(**stack, tcp_services);
    if (!started.ok()) Fail(std::string(started.status().message()));
    tcp = std::move(*started);
  }
  std::fprintf(stderr, "netshim-host: %s (%s) on %s, mtu %u; Ctrl-C to stop\n",
               config->addr->ToString().c_str(), (*stack)->nic().mac().ToString().c_str(),
               config->tap->c_str(), config->mtu);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  services.clear();
  // Closes every TCP socket while the dispatcher still runs, so peers see our FIN or RST.
  if (tcp) tcp->Stop();
  (*stack)->Stop();
  const std::string tcp_table = tcp ? tcp->FormatTable() : "";
  std::fprintf(stdout, "netshim-host: stopped by %s\n%s%s", strsignal(sig),
               (*stack)->stats().FormatTable().c_str(), tcp_table.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace netshim

int main(int argc, char** argv) {
  // Abseil's lock-order checking costs on every lock in builds without NDEBUG; the tests
  // keep it (they exercise the same locks), a running host does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return netshim::Main(argc, argv);
}
