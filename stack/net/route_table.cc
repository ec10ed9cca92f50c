#include "stack/net/route_table.h"

#include <algorithm>
#include <utility>

namespace netshim {

Route RouteTable::Normalize(Route route) {
  if (route.destination.prefix_len > 32) route.destination.prefix_len = 32;
  route.destination.address = route.destination.Network();
  return route;
}

void RouteTable::Add(Route route) {
  route = Normalize(route);
  const int len = route.destination.prefix_len;
  SameDestination& routes = by_prefix_[len][route.destination.address];
  auto it = std::find_if(routes.begin(), routes.end(),
                         [&](const Route& r) { return r.metric == route.metric; });
  if (it != routes.end()) {
    *it = route;  // replace: same destination, same metric
  } else {
    auto pos = std::upper_bound(routes.begin(), routes.end(), route.metric,
                                [](uint32_t m, const Route& r) { return m < r.metric; });
    routes.insert(pos, route);
    ++size_;
  }
  present_ |= uint64_t{1} << len;
}

void RouteTable::DropIfEmpty(int prefix_len, PrefixMap::iterator it) {
  PrefixMap& map = by_prefix_[prefix_len];
  if (!it->second.empty()) return;
  map.erase(it);
  if (map.empty()) present_ &= ~(uint64_t{1} << prefix_len);
}

bool RouteTable::Remove(Ipv4Cidr destination) {
  const Route key = Normalize(Route{destination, std::nullopt, 0});
  const int len = key.destination.prefix_len;
  auto it = by_prefix_[len].find(key.destination.address);
  if (it == by_prefix_[len].end()) return false;
  size_ -= it->second.size();
  it->second.clear();
  DropIfEmpty(len, it);
  return true;
}

bool RouteTable::Remove(Ipv4Cidr destination, uint32_t metric) {
  const Route key = Normalize(Route{destination, std::nullopt, metric});
  const int len = key.destination.prefix_len;
  auto it = by_prefix_[len].find(key.destination.address);
  if (it == by_prefix_[len].end()) return false;
  SameDestination& routes = it->second;
  auto r = std::find_if(routes.begin(), routes.end(),
                        [&](const Route& x) { return x.metric == metric; });
  if (r == routes.end()) return false;
  routes.erase(r);
  --size_;
  DropIfEmpty(len, it);
  return true;
}

void RouteTable::Clear() {
  for (PrefixMap& map : by_prefix_) map.clear();
  present_ = 0;
  size_ = 0;
}

std::optional<RouteResult> RouteTable::Lookup(Ipv4Address dst) const {
  for (int len = 32; len >= 0; --len) {
    if ((present_ & (uint64_t{1} << len)) == 0) continue;
    const Ipv4Address network = Ipv4Cidr{dst, static_cast<uint8_t>(len)}.Network();
    auto it = by_prefix_[len].find(network);
    if (it == by_prefix_[len].end()) continue;
    const Route& best = it->second.front();  // sorted by metric
    return RouteResult{best.gateway.value_or(dst), best};
  }
  return std::nullopt;
}

std::vector<Route> RouteTable::Routes() const {
  std::vector<Route> out;
  out.reserve(size_);
  for (int len = 32; len >= 0; --len) {
    const size_t first = out.size();
    for (const auto& [network, routes] : by_prefix_[len]) {
      out.insert(out.end(), routes.begin(), routes.end());
    }
    // Hash order is arbitrary: make listings stable.
    std::sort(out.begin() + first, out.end(), [](const Route& a, const Route& b) {
      return std::pair(a.destination.address, a.metric) <
             std::pair(b.destination.address, b.metric);
    });
  }
  return out;
}

}  // namespace netshim
