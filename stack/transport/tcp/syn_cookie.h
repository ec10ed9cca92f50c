// SYN cookies as Linux makes them (net/ipv4/syncookies.c): when the SYN queue is full the
// listener answers with a SYN-ACK whose ISN encodes what it needs, keeps no state, and
// rebuilds the connection from the ACK that echoes the cookie.
//
//   cookie = H0(tuple) + peer_isn + (minutes << 24) + ((H1(tuple, minutes) + mss_index) mod 2^24)
//
// where H0 and H1 are SipHash-2-4 under two secrets and `minutes` counts minutes (8 bits
// kept). The MSS is one of Linux's table {536, 1300, 1440, 1460}: the largest not above
// the peer's. A cookie is accepted while fewer than MAX_SYNCOOKIE_AGE (2) minute counts
// have passed, i.e. for 1 to 2 minutes.
//
// With timestamps, Linux also stores the peer's window scale, SACK-permitted and ECN in
// the low 6 bits of the SYN-ACK's TSval (cookie_init_timestamp); the ACK echoes them in
// TSecr (cookie_timestamp_decode). EncodeTsval / DecodeTsecr do that part.
//
// Immutable after construction: safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "stack/transport/tcp/four_tuple.h"
#include "stack/transport/tcp/siphash.h"

namespace netshim {

class SynCookies {
 public:
  static constexpr std::array<uint16_t, 4> kMssTable = {536, 1300, 1440, 1460};  // msstab
  static constexpr uint32_t kMaxAgeMinutes = 2;  // MAX_SYNCOOKIE_AGE

  explicit SynCookies(SipKey secret0 = SipKey::Random(), SipKey secret1 = SipKey::Random())
      : secrets_{secret0, secret1} {}

  struct Cookie {
    uint32_t isn;  // our ISN for the SYN-ACK
    uint16_t mss;  // the MSS the connection will use (from the table)
  };
  // For a SYN on `tuple` with sequence number `peer_isn` and MSS option `peer_mss`.
  Cookie Encode(const FourTuple& tuple, uint32_t peer_isn, uint16_t peer_mss, absl::Time now) const;

  // For the ACK completing the handshake (its seq = peer_isn + 1, its ack = cookie + 1):
  // the MSS encoded, or nullopt when the cookie is forged, tampered with or too old.
  std::optional<uint16_t> Check(const FourTuple& tuple, uint32_t seg_seq, uint32_t seg_ack,
                                absl::Time now) const;

  struct Options {
    std::optional<uint8_t> window_scale;  // the shift the peer announced (0-14)
    bool sack_permitted = false;
    bool ecn = false;
  };
  // The TSval for the SYN-ACK: `ts_now` with its low 6 bits replaced by `options`, never
  // above ts_now (later TSvals must not go backwards).
  static uint32_t EncodeTsval(uint32_t ts_now, const Options& options);
  // The options from the ACK's TSecr.
  static Options DecodeTsecr(uint32_t tsecr);

 private:
  uint32_t Hash(const FourTuple& tuple, uint32_t count, int which) const;
  static uint32_t Minutes(absl::Time now);

  std::array<SipKey, 2> secrets_;
};

}  // namespace netshim
