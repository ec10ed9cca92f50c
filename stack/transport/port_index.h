// Entries grouped by local port, each findable by its id: the index the port table (who
// holds a port) and the UDP demultiplexer (who receives on it) both keep.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"

namespace netshim {

// `Entry` has a member `id` of type uint64_t. Entries on a port stay in insertion order.
// Not thread-safe: the owner locks.
template <typename Entry, size_t kInline>
class PortIndex {
 public:
  using Id = uint64_t;
  using Entries = absl::InlinedVector<Entry, kInline>;

  void Add(uint16_t port, const Entry& e) {
    by_port_[port].push_back(e);
    port_of_[e.id] = port;
  }

  void Remove(Id id) {
    auto p = port_of_.find(id);
    if (p == port_of_.end()) return;
    auto it = by_port_.find(p->second);
    port_of_.erase(p);
    if (it == by_port_.end()) return;
    Entries& v = it->second;
    v.erase(std::remove_if(v.begin(), v.end(), [id](const Entry& e) { return e.id == id; }),
            v.end());
    if (v.empty()) by_port_.erase(it);
  }

  Entry* Find(Id id) {
    auto p = port_of_.find(id);
    if (p == port_of_.end()) return nullptr;
    auto it = by_port_.find(p->second);
    if (it == by_port_.end()) return nullptr;
    for (Entry& e : it->second) {
      if (e.id == id) return &e;
    }
    return nullptr;
  }

  // The entries on `port`, or null when nobody holds it.
  const Entries* OnPort(uint16_t port) const {
    auto it = by_port_.find(port);
    return it == by_port_.end() ? nullptr : &it->second;
  }

  std::optional<uint16_t> PortOf(Id id) const {
    auto p = port_of_.find(id);
    if (p == port_of_.end()) return std::nullopt;
    return p->second;
  }

  bool InUse(uint16_t port) const { return by_port_.contains(port); }
  size_t size() const { return port_of_.size(); }

 private:
  absl::flat_hash_map<uint16_t, Entries> by_port_;
  absl::flat_hash_map<Id, uint16_t> port_of_;
};

}  // namespace netshim
