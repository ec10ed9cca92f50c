// Reading setsockopt values and writing getsockopt results as Linux's net/core/sock.c
// does, shared by every socket type.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "absl/time/time.h"

namespace netshim {

inline int ReadInt(std::span<const uint8_t> value) {
  int v;
  std::memcpy(&v, value.data(), sizeof(v));
  return v;
}

// sk_getsockopt's tail: "if (len > lv) len = lv", then copy len bytes.
inline int PutBytes(const void* v, socklen_t size, void* out, socklen_t* len) {
  if (static_cast<int>(*len) < 0) return -EINVAL;
  const socklen_t n = std::min(*len, size);
  std::memcpy(out, v, n);
  *len = n;
  return 0;
}

inline int PutInt(int v, void* out, socklen_t* len) { return PutBytes(&v, sizeof(v), out, len); }

// Linux __sock_set_rcvbuf / SO_SNDBUF: min(val as unsigned, max) doubled, at least `floor`.
inline int BufferSize(int val, int max, int floor) {
  int v = static_cast<int>(std::min<unsigned>(static_cast<unsigned>(val), max));
  v = std::min(v, INT_MAX / 2);
  return std::max(v * 2, floor);
}

inline bool IsRcvTimeo(int name) {
#ifdef SO_RCVTIMEO_NEW
  if (name == SO_RCVTIMEO_NEW) return true;
#endif
  return name == SO_RCVTIMEO;
}

inline bool IsSndTimeo(int name) {
#ifdef SO_SNDTIMEO_NEW
  if (name == SO_SNDTIMEO_NEW) return true;
#endif
  return name == SO_SNDTIMEO;
}

// Linux sock_set_timeout. A timeval (on 64-bit Linux the old and new layouts agree).
inline int ParseTimeout(std::span<const uint8_t> value, std::optional<absl::Duration>* out) {
  timeval tv;
  if (value.size() < sizeof(tv)) return -EINVAL;
  std::memcpy(&tv, value.data(), sizeof(tv));
  if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return -EDOM;
  if (tv.tv_sec < 0) {
    *out = absl::ZeroDuration();  // Linux stores 0: the socket stops blocking
    return 0;
  }
  // Zero, or beyond what jiffies can count (MAX_SCHEDULE_TIMEOUT / HZ - 1 at HZ=1000):
  // MAX_SCHEDULE_TIMEOUT, wait forever (getsockopt then reports {0, 0}).
  constexpr int64_t kMaxSeconds = INT64_MAX / 1000 - 1;
  if ((tv.tv_sec == 0 && tv.tv_usec == 0) || tv.tv_sec >= kMaxSeconds) {
    *out = std::nullopt;
    return 0;
  }
  *out = absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
  return 0;
}

inline int PutTimeout(const std::optional<absl::Duration>& t, void* out, socklen_t* len) {
  timeval tv{};
  if (t) tv = absl::ToTimeval(*t);
  return PutBytes(&tv, sizeof(tv), out, len);
}

}  // namespace netshim
