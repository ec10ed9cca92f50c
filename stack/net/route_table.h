// IPv4 routes with longest-prefix match (RFC 1812 5.2.4.3; RFC 1122 3.3.1 for a host).
//
// Routes are kept in one hash map per prefix length, keyed by the network address, and a
// bitmask says which lengths hold any route; a lookup probes the present lengths from /32
// down to /0, so it costs one hash probe per distinct prefix length in use (a handful on a
// host), whatever the number of routes.
//
// Not thread-safe: the owner (the IPv4 layer) locks around it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "stack/wire/address.h"

namespace netshim {

struct Route {
  Ipv4Cidr destination;                // host bits are ignored (stored as the network)
  std::optional<Ipv4Address> gateway;  // nullopt: on-link (the destination is the next hop)
  uint32_t metric = 0;                 // lower wins among routes of equal prefix length

  friend bool operator==(const Route&, const Route&) = default;
};

struct RouteResult {
  Ipv4Address next_hop;  // the gateway if the route has one, else the destination itself
  Route route;
};

class RouteTable {
 public:
  // Adds a route. A route with the same destination and metric replaces the old one (as
  // `ip route replace`); routes to the same destination with other metrics coexist and the
  // lowest metric is used, as in Linux's FIB.
  void Add(Route route);
  // Removes every route to `destination` (compared as a network); false if there was none.
  bool Remove(Ipv4Cidr destination);
  // Removes the route to `destination` with `metric`; false if there was none.
  bool Remove(Ipv4Cidr destination, uint32_t metric);
  void Clear();

  // Longest prefix match; among equal prefixes the lowest metric. nullopt: no route
  // (the caller reports ENETUNREACH and counts OutNoRoutes).
  std::optional<RouteResult> Lookup(Ipv4Address dst) const;

  // Every route, most specific first then by metric (for `ip route`-style listings).
  std::vector<Route> Routes() const;
  size_t size() const { return size_; }

 private:
  // Routes to one network, sorted by metric (almost always exactly one).
  using SameDestination = absl::InlinedVector<Route, 1>;
  using PrefixMap = absl::flat_hash_map<Ipv4Address, SameDestination>;

  static Route Normalize(Route route);
  void DropIfEmpty(int prefix_len, PrefixMap::iterator it);

  std::array<PrefixMap, 33> by_prefix_;  // index: prefix length
  uint64_t present_ = 0;                 // bit n set: by_prefix_[n] is not empty
  size_t size_ = 0;
};

}  // namespace netshim
