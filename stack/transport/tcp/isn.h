// Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323 5.4, 7.1).
//
// RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with M a
// timer ticking every 4 microseconds and F SipHash-2-4 under a secret chosen at random once
// per stack. Successive connections on one 4-tuple get increasing ISNs (so old duplicates
// and TIME-WAIT reuse stay safe, RFC 9293 3.4.1) while other tuples' ISNs reveal nothing.
// (Linux secure_tcp_seq uses the same construction with a 64 ns timer.)
//
// Immutable after construction: safe to share between threads.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "stack/transport/tcp/four_tuple.h"
#include "stack/transport/tcp/siphash.h"
#include "stack/wire/address.h"

namespace netshim {

class IsnGenerator {
 public:
  static constexpr absl::Duration kTick = absl::Microseconds(4);  // RFC 6528 / RFC 793 M

  explicit IsnGenerator(SipKey secret = SipKey::Random()) : secret_(secret) {}

  // The ISN for a connection on `tuple` started at `now`.
  uint32_t Isn(const FourTuple& tuple, absl::Time now) const;
  // The keyed hash F alone (the ISN at M = 0).
  uint32_t Offset(const FourTuple& tuple) const;
  // The offset added to this host's timestamp clock for the address pair (Linux
  // secure_tcp_ts_off): TSvals reveal neither uptime nor other peers' clocks (RFC 7323 7.1),
  // and stay monotonic across connections to one peer (RFC 7323 5.4, for PAWS).
  uint32_t TimestampOffset(Ipv4Address local, Ipv4Address remote) const;

 private:
  SipKey secret_;
};

}  // namespace netshim
