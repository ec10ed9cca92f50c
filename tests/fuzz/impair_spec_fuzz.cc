// Feeds arbitrary bytes to ParseImpairSpec (NETSHIM_IMPAIR comes from the environment, so
// anything may arrive). Beyond not crashing: whatever parses must print back to a spec that
// parses to the same thing, and errors must stay short.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "stack/link/impair_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<netshim::ImpairSpec> spec = netshim::ParseImpairSpec(text);
  if (!spec.ok()) {
    if (spec.status().message().size() > 512) std::abort();
    return 0;
  }
  absl::StatusOr<netshim::ImpairSpec> again = netshim::ParseImpairSpec(spec->ToString());
  if (!again.ok() || !(*again == *spec)) std::abort();
  return 0;
}
