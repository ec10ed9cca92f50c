// SYN cookies: round trips for every MSS class, expiry after two minute counts, tampering,
// and the timestamp-encoded options.
#include "stack/transport/tcp/syn_cookie.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

FourTuple Tuple() {
  return {Ipv4Address::FromOctets(198, 18, 0, 1), 80, Ipv4Address::FromOctets(198, 18, 0, 2),
          40000};
}

absl::Time T0() { return absl::UnixEpoch() + absl::Hours(100); }  // a minute boundary

TEST(SynCookieTest, RoundTripPicksLinuxMssClass) {
  SynCookies cookies(SipKey{1, 2}, SipKey{3, 4});
  const struct {
    uint16_t peer_mss, expected;
  } cases[] = {{100, 536},   {536, 536},   {1299, 536},  {1300, 1300}, {1439, 1300},
               {1440, 1440}, {1459, 1440}, {1460, 1460}, {9000, 1460}, {65535, 1460}};
  for (const auto& c : cases) {
    const uint32_t peer_isn = 0x12345678u + c.peer_mss;
    const SynCookies::Cookie cookie = cookies.Encode(Tuple(), peer_isn, c.peer_mss, T0());
    EXPECT_EQ(cookie.mss, c.expected) << c.peer_mss;
    // The ACK: seq = peer ISN + 1, ack = cookie + 1.
    EXPECT_EQ(cookies.Check(Tuple(), peer_isn + 1, cookie.isn + 1, T0() + absl::Seconds(5)),
              c.expected)
        << c.peer_mss;
  }
}

TEST(SynCookieTest, AcceptedForUnderTwoMinuteCounts) {
  SynCookies cookies(SipKey{1, 2}, SipKey{3, 4});
  const absl::Time made = T0() + absl::Seconds(30);
  const auto cookie = cookies.Encode(Tuple(), 1000, 1460, made);
  // Same minute, next minute: good (MAX_SYNCOOKIE_AGE = 2: counts 0 and 1 back).
  EXPECT_TRUE(cookies.Check(Tuple(), 1001, cookie.isn + 1, made + absl::Seconds(29)));
  EXPECT_TRUE(cookies.Check(Tuple(), 1001, cookie.isn + 1, made + absl::Seconds(89)));
  // Two minute counts later: expired.
  EXPECT_FALSE(cookies.Check(Tuple(), 1001, cookie.isn + 1, made + absl::Seconds(90)));
  EXPECT_FALSE(cookies.Check(Tuple(), 1001, cookie.isn + 1, made + absl::Minutes(10)));
  // And from the future (clock went backwards by a minute): rejected too.
  EXPECT_FALSE(cookies.Check(Tuple(), 1001, cookie.isn + 1, made - absl::Minutes(1)));
}

TEST(SynCookieTest, TamperingDetected) {
  SynCookies cookies(SipKey{1, 2}, SipKey{3, 4});
  const auto cookie = cookies.Encode(Tuple(), 5000, 1460, T0());
  const absl::Time now = T0() + absl::Seconds(1);
  ASSERT_TRUE(cookies.Check(Tuple(), 5001, cookie.isn + 1, now));
  // A different peer sequence number, other ports or addresses, other secrets.
  EXPECT_FALSE(cookies.Check(Tuple(), 5001 + 1000, cookie.isn + 1, now));
  FourTuple other = Tuple();
  other.remote_port = 40001;
  EXPECT_FALSE(cookies.Check(other, 5001, cookie.isn + 1, now));
  other = Tuple();
  other.remote_address = Ipv4Address::FromOctets(198, 18, 0, 3);
  EXPECT_FALSE(cookies.Check(other, 5001, cookie.isn + 1, now));
  EXPECT_FALSE(SynCookies(SipKey{1, 2}, SipKey{3, 5}).Check(Tuple(), 5001, cookie.isn + 1, now));
  // As in Linux, the MSS index is simply added in: a change of the low 2 bits (or of the
  // peer's sequence number by 1) can only move to another table entry, never pass as the
  // original. Any other single-bit change is rejected.
  EXPECT_NE(cookies.Check(Tuple(), 5002, cookie.isn + 1, now), std::optional<uint16_t>(1460));
  for (int bit = 2; bit < 32; ++bit) {
    EXPECT_FALSE(cookies.Check(Tuple(), 5001, (cookie.isn ^ (1u << bit)) + 1, now)) << bit;
  }
  // Random guesses essentially never pass.
  int guessed = 0;
  for (uint32_t guess = 0; guess < 100000; ++guess) {
    guessed += cookies.Check(Tuple(), 5001, guess * 42949u + 1, now).has_value();
  }
  EXPECT_LE(guessed, 2);
}

TEST(SynCookieTest, TimestampCarriesOptions) {
  SynCookies::Options in;
  in.window_scale = 7;
  in.sack_permitted = true;
  in.ecn = false;
  const uint32_t now = 1000000;
  const uint32_t tsval = SynCookies::EncodeTsval(now, in);
  EXPECT_LE(tsval, now);
  EXPECT_GT(tsval, now - 64);
  const SynCookies::Options out = SynCookies::DecodeTsecr(tsval);
  EXPECT_EQ(out.window_scale, 7);
  EXPECT_TRUE(out.sack_permitted);
  EXPECT_FALSE(out.ecn);

  SynCookies::Options none;  // no window scaling, no SACK, ECN on
  none.ecn = true;
  const SynCookies::Options back = SynCookies::DecodeTsecr(SynCookies::EncodeTsval(now, none));
  EXPECT_FALSE(back.window_scale);
  EXPECT_FALSE(back.sack_permitted);
  EXPECT_TRUE(back.ecn);
  // Linux's layout: low 4 bits the scale (0xf: none), bit 4 SACK, bit 5 ECN.
  EXPECT_EQ(SynCookies::EncodeTsval(64 * 100 + 63, in) & 0x3f, 0x17u);
  EXPECT_EQ(SynCookies::EncodeTsval(64 * 100, in), 64u * 99 + 0x17);  // never above now
}

}  // namespace
}  // namespace netshim
