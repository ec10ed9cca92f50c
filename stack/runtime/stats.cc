#include "stack/runtime/stats.h"

#include "fmt/format.h"

namespace netshim {

std::string StackStats::FormatTable(bool all) const {
  std::string out;
  ForEach([&](std::string_view group, std::string_view name, uint64_t value) {
    if (value == 0 && !all) return;
    fmt::format_to(std::back_inserter(out), "{:<5} {:<20} {:>12}\n", group, name, value);
  });
  return out;
}

}  // namespace netshim
