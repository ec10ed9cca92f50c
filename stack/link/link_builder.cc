#include "stack/link/link_builder.h"

#include "fmt/format.h"
#include "stack/link/impair_link.h"
#include "stack/link/impair_spec.h"
#include "stack/link/pcap_link.h"
#include "stack/link/pcap_writer.h"
#include "stack/link/tap_link.h"

namespace netshim {

absl::StatusOr<std::unique_ptr<LinkEndpoint>> BuildLink(const LinkConfig& config, BufferPool* pool,
                                                        LinkStats* stats, const Clock& clock) {
  // Validate everything before touching a device.
  auto spec = ParseImpairSpec(config.impair);
  if (!spec.ok()) return spec.status();

  std::unique_ptr<LinkEndpoint> link;
  if (config.tap_fd) {
    auto tap = TapLink::FromFd(*config.tap_fd, config.mtu, pool, stats, config.offload);
    if (!tap.ok()) return tap.status();
    link = std::move(*tap);
  } else if (config.tap) {
    auto tap = TapLink::Open(*config.tap, config.mtu, pool, stats, config.offload);
    if (!tap.ok()) return tap.status();
    link = std::move(*tap);
  } else {
    return absl::InvalidArgumentError("no TAP device: set a device name or an inherited fd");
  }
  if (config.pcap) {
    auto writer = PcapWriter::Open(*config.pcap);
    if (!writer.ok()) return writer.status();
    link = std::make_unique<PcapLink>(std::move(link), std::move(*writer));
  }
  if (!config.impair.empty()) link = std::make_unique<ImpairLink>(std::move(link), *spec, clock);
  return link;
}

}  // namespace netshim
