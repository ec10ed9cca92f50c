// The one logger. Levels come from NETSHIM_LOG; the check is one relaxed atomic load, so
// debug and trace lines on the packet path cost nothing while they are off (the default).
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace netshim {

enum class LogLevel : int { kOff = 0, kError, kWarn, kInfo, kDebug, kTrace };

// "off", "error", "warn", "info", "debug", "trace".
std::optional<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

namespace log_internal {
extern std::atomic<int> g_level;
void Write(LogLevel level, std::string_view message);
}  // namespace log_internal

inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= log_internal::g_level.load(std::memory_order_relaxed);
}
void SetLogLevel(LogLevel level);
// Appends log lines to `path` instead of stderr.
absl::Status SetLogFile(const std::string& path);

}  // namespace netshim

#define NETSHIM_LOG(level, ...)                                                             \
  do {                                                                                      \
    if (::netshim::LogEnabled(::netshim::LogLevel::level))                                  \
      ::netshim::log_internal::Write(::netshim::LogLevel::level, fmt::format(__VA_ARGS__)); \
  } while (0)
