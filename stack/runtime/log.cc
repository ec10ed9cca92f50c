#include "stack/runtime/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netshim {
namespace log_internal {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
namespace {
std::atomic<int> g_fd{STDERR_FILENO};
}

void Write(LogLevel level, std::string_view message) {
  // One write() per line so lines from several threads never interleave mid-line.
  std::string line = fmt::format("netshim[{}] {}: {}\n", getpid(), LogLevelName(level), message);
  const int fd = g_fd.load(std::memory_order_relaxed);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace log_internal

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel l : {LogLevel::kOff, LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo,
                     LogLevel::kDebug, LogLevel::kTrace}) {
    if (text == LogLevelName(l)) return l;
  }
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kOff:
      return "off";
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kTrace:
      return "trace";
  }
  return "?";
}

void SetLogLevel(LogLevel level) {
  log_internal::g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

absl::Status SetLogFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        fmt::format("cannot open log file {}: {}", path, std::strerror(errno)));
  }
  int old = log_internal::g_fd.exchange(fd);
  if (old != STDERR_FILENO) ::close(old);
  return absl::OkStatus();
}

}  // namespace netshim
