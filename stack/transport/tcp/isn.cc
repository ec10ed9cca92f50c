#include "stack/transport/tcp/isn.h"

#include "stack/wire/bytes.h"

namespace netshim {

uint32_t IsnGenerator::Offset(const FourTuple& t) const {
  uint8_t m[12];
  Store32(m, t.local_address.value);
  Store32(m + 4, t.remote_address.value);
  Store16(m + 8, t.local_port);
  Store16(m + 10, t.remote_port);
  return static_cast<uint32_t>(SipHash24(secret_, m));
}

uint32_t IsnGenerator::Isn(const FourTuple& tuple, absl::Time now) const {
  const uint64_t ticks = static_cast<uint64_t>(absl::ToInt64Nanoseconds(now - absl::UnixEpoch()) /
                                               absl::ToInt64Nanoseconds(kTick));
  return static_cast<uint32_t>(ticks) + Offset(tuple);
}

uint32_t IsnGenerator::TimestampOffset(Ipv4Address local, Ipv4Address remote) const {
  // A 9-byte message: a different length from the ISN's keeps the two hashes apart.
  uint8_t m[9];
  Store32(m, local.value);
  Store32(m + 4, remote.value);
  m[8] = 'T';
  return static_cast<uint32_t>(SipHash24(secret_, m));
}

}  // namespace netshim
