// Assembles the link a program's stack runs on from its configuration: the TAP (by name or
// inherited fd), wrapped by the fault injector when NETSHIM_IMPAIR is set, and by the pcap
// recorder when NETSHIM_PCAP is set. The recorder sits on the wire side of the injector, so
// a capture shows what really crossed the TAP.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/link/link_endpoint.h"
#include "stack/runtime/clock.h"
#include "stack/runtime/stats.h"

namespace netshim {

struct LinkConfig {
  std::optional<std::string> tap;  // device name, or
  std::optional<int> tap_fd;       // an inherited, attached TAP fd
  uint32_t mtu = 1500;
  std::optional<std::string> pcap;
  std::string impair;  // ImpairSpec syntax; empty = none
  bool offload = true;  // TSO and checksum offload where the TAP allows (NETSHIM_OFFLOAD)
};

absl::StatusOr<std::unique_ptr<LinkEndpoint>> BuildLink(const LinkConfig& config, BufferPool* pool,
                                                        LinkStats* stats, const Clock& clock);

}  // namespace netshim
