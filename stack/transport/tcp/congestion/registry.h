// Congestion control by name, for setsockopt/getsockopt(TCP_CONGESTION) and the default
// (Linux net.ipv4.tcp_congestion_control, tcp_available_congestion_control).
#pragma once

#include <memory>
#include <string_view>

#include "stack/transport/tcp/congestion/congestion_control.h"

namespace netshim {

// Linux's default since 2.6.19.
inline constexpr std::string_view kDefaultCongestionControl = "cubic";

// Creates the algorithm Linux calls `name` ("reno" or "cubic", exact and case-sensitive as
// Linux compares them). Returns 0, or -ENOENT for any other name (Linux
// tcp_set_congestion_control when no such module exists).
int NewCongestionControl(std::string_view name, std::unique_ptr<CongestionControl>* out);

// The algorithms available, space-separated as Linux's sysctl lists them: "reno cubic".
std::string_view AvailableCongestionControl();

}  // namespace netshim
