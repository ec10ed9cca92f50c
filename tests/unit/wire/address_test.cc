#include "stack/wire/address.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

TEST(MacAddressTest, ParsesAndPrints) {
  auto mac = MacAddress::Parse("02:AB:cd:00:01:ff");
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->ToString(), "02:ab:cd:00:01:ff");
  EXPECT_FALSE(mac->IsMulticast());
  EXPECT_TRUE(MacAddress::Broadcast().IsBroadcast());
}

TEST(MacAddressTest, RejectsMalformed) {
  for (const char* bad : {"", "02:ab:cd:00:01", "02:ab:cd:00:01:ff:", "02-ab-cd-00-01-ff",
                          "0g:ab:cd:00:01:ff", "02:ab:cd:00:01:f", "02:ab:cd:00:01:fff"}) {
    EXPECT_FALSE(MacAddress::Parse(bad)) << bad;
  }
}

TEST(Ipv4AddressTest, ParsesDottedQuad) {
  auto a = Ipv4Address::Parse("198.18.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, 0xc6120001u);
  EXPECT_EQ(a->ToString(), "198.18.0.1");
  EXPECT_EQ(Ipv4Address::Parse("0.0.0.0")->value, 0u);
  EXPECT_EQ(Ipv4Address::Parse("255.255.255.255")->value, 0xffffffffu);
}

TEST(Ipv4AddressTest, RejectsMalformed) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.4 ", "+1.2.3.4",
                          "1..3.4", "1.2.3.0004", "a.b.c.d", "4294967296.1.1.1"}) {
    EXPECT_FALSE(Ipv4Address::Parse(bad)) << bad;
  }
}

TEST(Ipv4CidrTest, ParsesPrefixAndComputesNetwork) {
  auto c = Ipv4Cidr::Parse("198.18.0.2/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix_len, 24);
  EXPECT_EQ(c->Network().ToString(), "198.18.0.0");
  EXPECT_EQ(c->DirectedBroadcast().ToString(), "198.18.0.255");
  EXPECT_TRUE(c->Contains(*Ipv4Address::Parse("198.18.0.200")));
  EXPECT_FALSE(c->Contains(*Ipv4Address::Parse("198.18.1.1")));
  EXPECT_EQ(Ipv4Cidr::Parse("10.0.0.1")->prefix_len, 32);
  EXPECT_EQ(Ipv4Cidr::Parse("0.0.0.0/0")->Mask(), 0u);
  for (const char* bad :
       {"1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/024", "/24", "1.2.3.4/2x"}) {
    EXPECT_FALSE(Ipv4Cidr::Parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace netshim
