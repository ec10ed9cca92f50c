#include "stack/net/route_table.h"

#include "gtest/gtest.h"

namespace netshim {
namespace {

Ipv4Address Ip(const char* text) { return *Ipv4Address::Parse(text); }
Ipv4Cidr Net(const char* text) { return *Ipv4Cidr::Parse(text); }

TEST(RouteTableTest, EmptyTableHasNoRoute) {
  RouteTable table;
  EXPECT_FALSE(table.Lookup(Ip("198.18.0.1")).has_value());
  EXPECT_EQ(table.size(), 0u);
}

TEST(RouteTableTest, OnLinkRouteUsesTheDestinationAsNextHop) {
  RouteTable table;
  table.Add({Net("198.18.0.0/24"), std::nullopt, 0});
  auto r = table.Lookup(Ip("198.18.0.77"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->next_hop, Ip("198.18.0.77"));
  EXPECT_EQ(r->route.destination, Net("198.18.0.0/24"));
  EXPECT_FALSE(table.Lookup(Ip("198.18.1.1")).has_value());
}

TEST(RouteTableTest, DefaultRouteCatchesEverythingElse) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 0});
  table.Add({Net("198.18.0.0/24"), std::nullopt, 0});
  auto far = table.Lookup(Ip("8.8.8.8"));
  ASSERT_TRUE(far.has_value());
  EXPECT_EQ(far->next_hop, Ip("198.18.0.1"));
  EXPECT_EQ(far->route.destination.prefix_len, 0);
  auto near = table.Lookup(Ip("198.18.0.9"));
  ASSERT_TRUE(near.has_value());
  EXPECT_EQ(near->next_hop, Ip("198.18.0.9"));
  // Even the all-ones and all-zeros addresses match /0.
  EXPECT_TRUE(table.Lookup(Ip("255.255.255.255")).has_value());
  EXPECT_TRUE(table.Lookup(Ip("0.0.0.0")).has_value());
}

TEST(RouteTableTest, LongestPrefixWinsAcrossOverlappingRoutes) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 0});
  table.Add({Net("10.0.0.0/8"), Ip("198.18.0.2"), 0});
  table.Add({Net("10.1.0.0/16"), Ip("198.18.0.3"), 0});
  table.Add({Net("10.1.2.0/24"), Ip("198.18.0.4"), 0});
  table.Add({Net("10.1.2.128/25"), Ip("198.18.0.5"), 0});
  EXPECT_EQ(table.Lookup(Ip("10.1.2.200"))->next_hop, Ip("198.18.0.5"));
  EXPECT_EQ(table.Lookup(Ip("10.1.2.127"))->next_hop, Ip("198.18.0.4"));
  EXPECT_EQ(table.Lookup(Ip("10.1.3.1"))->next_hop, Ip("198.18.0.3"));
  EXPECT_EQ(table.Lookup(Ip("10.2.0.1"))->next_hop, Ip("198.18.0.2"));
  EXPECT_EQ(table.Lookup(Ip("11.0.0.1"))->next_hop, Ip("198.18.0.1"));
  EXPECT_EQ(table.size(), 5u);
}

TEST(RouteTableTest, HostRouteBeatsItsSubnet) {
  RouteTable table;
  table.Add({Net("198.18.0.0/24"), std::nullopt, 0});
  table.Add({Net("198.18.0.42/32"), Ip("198.18.0.254"), 0});
  EXPECT_EQ(table.Lookup(Ip("198.18.0.42"))->next_hop, Ip("198.18.0.254"));
  EXPECT_EQ(table.Lookup(Ip("198.18.0.43"))->next_hop, Ip("198.18.0.43"));
}

TEST(RouteTableTest, LowerMetricBreaksTiesOnPrefixLength) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 600});
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.2"), 100});
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.3"), 300});
  EXPECT_EQ(table.Lookup(Ip("1.2.3.4"))->next_hop, Ip("198.18.0.2"));
  EXPECT_EQ(table.Lookup(Ip("1.2.3.4"))->route.metric, 100u);
  // A longer prefix still wins over any metric.
  table.Add({Net("1.0.0.0/8"), Ip("198.18.0.9"), 9999});
  EXPECT_EQ(table.Lookup(Ip("1.2.3.4"))->next_hop, Ip("198.18.0.9"));
  // Removing the best of equal prefixes falls back to the next metric.
  ASSERT_TRUE(table.Remove(Net("1.0.0.0/8")));
  ASSERT_TRUE(table.Remove(Net("0.0.0.0/0"), 100));
  EXPECT_EQ(table.Lookup(Ip("1.2.3.4"))->next_hop, Ip("198.18.0.3"));
  EXPECT_FALSE(table.Remove(Net("0.0.0.0/0"), 100));
}

TEST(RouteTableTest, SameDestinationAndMetricReplaces) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 0});
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.2"), 0});
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Lookup(Ip("9.9.9.9"))->next_hop, Ip("198.18.0.2"));
}

TEST(RouteTableTest, HostBitsInTheDestinationAreIgnored) {
  RouteTable table;
  table.Add({Net("198.18.0.77/24"), std::nullopt, 0});
  auto r = table.Lookup(Ip("198.18.0.5"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->route.destination, Net("198.18.0.0/24"));
  EXPECT_TRUE(table.Remove(Net("198.18.0.200/24")));
  EXPECT_FALSE(table.Lookup(Ip("198.18.0.5")).has_value());
}

TEST(RouteTableTest, RemoveTakesOnlyThatDestination) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 0});
  table.Add({Net("10.0.0.0/8"), Ip("198.18.0.2"), 0});
  table.Add({Net("10.0.0.0/8"), Ip("198.18.0.3"), 50});
  table.Add({Net("10.0.0.0/16"), Ip("198.18.0.4"), 0});
  EXPECT_FALSE(table.Remove(Net("10.0.0.0/9")));
  EXPECT_FALSE(table.Remove(Net("11.0.0.0/8")));
  EXPECT_TRUE(table.Remove(Net("10.0.0.0/8")));  // both metrics
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Lookup(Ip("10.200.0.1"))->next_hop, Ip("198.18.0.1"));
  EXPECT_EQ(table.Lookup(Ip("10.0.0.1"))->next_hop, Ip("198.18.0.4"));
  EXPECT_FALSE(table.Remove(Net("10.0.0.0/8")));
  EXPECT_TRUE(table.Remove(Net("0.0.0.0/0")));
  EXPECT_FALSE(table.Lookup(Ip("10.200.0.1")).has_value());
  table.Clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.Lookup(Ip("10.0.0.1")).has_value());
}

TEST(RouteTableTest, RoutesListsMostSpecificFirst) {
  RouteTable table;
  table.Add({Net("0.0.0.0/0"), Ip("198.18.0.1"), 0});
  table.Add({Net("198.18.0.0/24"), std::nullopt, 0});
  table.Add({Net("10.0.0.0/24"), Ip("198.18.0.2"), 0});
  table.Add({Net("198.18.0.5/32"), Ip("198.18.0.3"), 0});
  std::vector<Route> routes = table.Routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].destination, Net("198.18.0.5/32"));
  EXPECT_EQ(routes[1].destination, Net("10.0.0.0/24"));
  EXPECT_EQ(routes[2].destination, Net("198.18.0.0/24"));
  EXPECT_EQ(routes[3].destination, Net("0.0.0.0/0"));
}

TEST(RouteTableTest, AgreesWithABruteForceScan) {
  // Many random overlapping routes: the per-length maps must pick what a linear scan would.
  RouteTable table;
  std::vector<Route> all;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int i = 0; i < 300; ++i) {
    const uint8_t len = static_cast<uint8_t>(next() % 33);
    // Cluster addresses so that prefixes overlap.
    const uint32_t addr = (0x0a000000u | (next() & 0x0000ffffu)) << (next() % 2 ? 0 : 8);
    Route r{Ipv4Cidr{Ipv4Address{addr}, len}, Ipv4Address{next()}, next() % 4};
    r.destination.address = r.destination.Network();
    table.Add(r);
    std::erase_if(all, [&](const Route& x) {
      return x.destination == r.destination && x.metric == r.metric;
    });
    all.push_back(r);
  }
  ASSERT_EQ(table.size(), all.size());
  for (int i = 0; i < 5000; ++i) {
    const Ipv4Address dst{(0x0a000000u | (next() & 0x0003ffffu)) << (i % 2 ? 0 : 8)};
    const Route* best = nullptr;
    for (const Route& r : all) {
      if (!r.destination.Contains(dst)) continue;
      if (best == nullptr || r.destination.prefix_len > best->destination.prefix_len ||
          (r.destination.prefix_len == best->destination.prefix_len && r.metric < best->metric)) {
        best = &r;
      }
    }
    auto got = table.Lookup(dst);
    ASSERT_EQ(got.has_value(), best != nullptr) << dst.ToString();
    if (best != nullptr) {
      EXPECT_EQ(got->route, *best) << dst.ToString();
    }
  }
}

}  // namespace
}  // namespace netshim
