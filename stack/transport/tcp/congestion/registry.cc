#include "stack/transport/tcp/congestion/registry.h"

#include <cerrno>

#include "stack/transport/tcp/congestion/cubic.h"
#include "stack/transport/tcp/congestion/newreno.h"

namespace netshim {

int NewCongestionControl(std::string_view name, std::unique_ptr<CongestionControl>* out) {
  if (name == NewReno::kName) {
    *out = std::make_unique<NewReno>();
    return 0;
  }
  if (name == Cubic::kName) {
    *out = std::make_unique<Cubic>();
    return 0;
  }
  return -ENOENT;
}

std::string_view AvailableCongestionControl() { return "reno cubic"; }

}  // namespace netshim
