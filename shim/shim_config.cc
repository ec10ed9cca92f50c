#include "shim/shim_config.h"

#include "stack/runtime/boot_secret.h"

namespace netshim {

absl::StatusOr<Config> LoadShimConfig(const std::function<const char*(const char*)>& getenv) {
  absl::StatusOr<Config> config = ParseConfig(getenv);
  if (!config.ok()) return config.status();
  if (absl::Status s = RequireLinkConfig(*config); !s.ok()) return s;
  return config;
}

std::string FatalLine(const absl::Status& status) {
  std::string line = "netshim: ";
  line += std::string(status.message());
  line += '\n';
  return line;
}

std::optional<BootSecret> BootTcpSecret() {
  const std::optional<std::string> path = DefaultBootSecretPath();
  return path ? LoadOrCreateBootSecret(*path) : std::nullopt;
}

StackOptions StackOptionsFor(const Config& config) {
  StackOptions options;
  options.address = *config.addr;
  options.gateway = config.gateway;
  options.mac = config.mac;
  options.mtu = config.mtu;
  options.tcp.secret = BootTcpSecret();
  options.tcp.ack_hold_time = config.ack_hold;
  return options;
}

LinkConfig LinkConfigFor(const Config& config) {
  LinkConfig link;
  link.tap = config.tap;
  link.tap_fd = config.tap_fd;
  link.mtu = config.mtu;
  link.pcap = config.pcap;
  link.impair = config.impair;
  link.offload = config.offload;
  return link;
}

}  // namespace netshim
