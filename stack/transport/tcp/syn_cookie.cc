#include "stack/transport/tcp/syn_cookie.h"

#include <algorithm>

#include "stack/wire/bytes.h"

namespace netshim {
namespace {

constexpr uint32_t kCookieBits = 24;  // COOKIEBITS: the low bits carry hash + data
constexpr uint32_t kCookieMask = (1u << kCookieBits) - 1;
// TSval option bits (Linux TSBITS, TS_OPT_*).
constexpr uint32_t kTsBits = 6;
constexpr uint32_t kTsWscaleMask = 0xf;
constexpr uint32_t kTsSack = 1u << 4;
constexpr uint32_t kTsEcn = 1u << 5;

}  // namespace

uint32_t SynCookies::Minutes(absl::Time now) {
  return static_cast<uint32_t>(absl::ToInt64Minutes(now - absl::UnixEpoch()));
}

uint32_t SynCookies::Hash(const FourTuple& t, uint32_t count, int which) const {
  uint8_t m[16];
  Store32(m, t.remote_address.value);
  Store32(m + 4, t.local_address.value);
  Store16(m + 8, t.remote_port);
  Store16(m + 10, t.local_port);
  Store32(m + 12, count);
  return static_cast<uint32_t>(SipHash24(secrets_[which], m));
}

SynCookies::Cookie SynCookies::Encode(const FourTuple& tuple, uint32_t peer_isn, uint16_t peer_mss,
                                      absl::Time now) const {
  // The largest table entry not above the peer's MSS; the smallest entry otherwise.
  uint32_t index = kMssTable.size() - 1;
  while (index > 0 && peer_mss < kMssTable[index]) --index;
  const uint32_t count = Minutes(now);
  const uint32_t isn = Hash(tuple, 0, 0) + peer_isn + (count << kCookieBits) +
                       ((Hash(tuple, count, 1) + index) & kCookieMask);
  return {isn, kMssTable[index]};
}

std::optional<uint16_t> SynCookies::Check(const FourTuple& tuple, uint32_t seg_seq,
                                          uint32_t seg_ack, absl::Time now) const {
  const uint32_t peer_isn = seg_seq - 1;
  uint32_t cookie = seg_ack - 1;
  const uint32_t count = Minutes(now);
  cookie -= Hash(tuple, 0, 0) + peer_isn;
  // What is left: (minutes << 24) + (H1 + index) mod 2^24.
  const uint32_t age = (count - (cookie >> kCookieBits)) & (~0u >> kCookieBits);
  if (age >= kMaxAgeMinutes) return std::nullopt;
  const uint32_t index = (cookie - Hash(tuple, count - age, 1)) & kCookieMask;
  if (index >= kMssTable.size()) return std::nullopt;
  return kMssTable[index];
}

uint32_t SynCookies::EncodeTsval(uint32_t ts_now, const Options& options) {
  uint32_t bits =
      options.window_scale ? std::min<uint32_t>(*options.window_scale, 14) : kTsWscaleMask;
  if (options.sack_permitted) bits |= kTsSack;
  if (options.ecn) bits |= kTsEcn;
  uint32_t ts = ((ts_now >> kTsBits) << kTsBits) | bits;
  if (ts > ts_now) ts -= 1u << kTsBits;
  return ts;
}

SynCookies::Options SynCookies::DecodeTsecr(uint32_t tsecr) {
  Options options;
  options.sack_permitted = tsecr & kTsSack;
  options.ecn = tsecr & kTsEcn;
  if ((tsecr & kTsWscaleMask) != kTsWscaleMask) {
    options.window_scale = static_cast<uint8_t>(tsecr & kTsWscaleMask);
  }
  return options;
}

}  // namespace netshim
