// Feeds arbitrary NAME=VALUE lines to ParseConfig as its environment. It must never crash,
// every error must be one line naming a NETSHIM_ variable, and an accepted config must keep
// the documented invariants.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "stack/runtime/config.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckAccepted(const netshim::Config& c) {
  Check(c.mtu >= netshim::kMinMtu && c.mtu <= netshim::kMaxMtu);
  Check(c.threads >= 1 && c.threads <= netshim::kMaxThreads);
  Check(c.exit_timeout >= absl::ZeroDuration() && c.exit_timeout <= netshim::kMaxExitTimeout);
  Check(!(c.tap && c.tap_fd));
  Check(!c.tap_fd || *c.tap_fd >= 0);
  Check(!c.gateway || (c.addr && c.addr->Contains(*c.gateway)));
  Check(!c.mac || (!c.mac->IsMulticast() && !c.mac->IsZero()));
  if (c.addr) {
    Check(!c.addr->address.IsAny() && !c.addr->address.IsMulticast());
    Check(!netshim::DefaultMacFor(c.addr->address).IsMulticast());
  }
  const absl::Status link = netshim::RequireLinkConfig(c);
  Check(link.ok() ||
        std::string_view(link.message().data(), link.message().size()).starts_with("NETSHIM_"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, std::string> env;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) {
    const size_t eol = input.find('\n');
    const std::string_view line = input.substr(0, eol);
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    // Like a real environment, a value ends at its first NUL.
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  const auto config = netshim::ParseConfig([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  if (config.ok()) {
    CheckAccepted(*config);
  } else {
    const std::string message(config.status().message());
    Check(message.starts_with("NETSHIM_"));
    Check(message.find('\n') == std::string::npos);
    Check(message.find("expected") != std::string::npos);
    Check(message.size() < 1024);
  }
  return 0;
}
