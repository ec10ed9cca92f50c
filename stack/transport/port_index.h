// Entries grouped by local port, each findable by its id: the index the port table (who
// holds a port) and the UDP demultiplexer (who receives on it) both keep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>

#include "absl/container/flat_hash_map.h"

namespace netshim {

// `Entry` has a member `id` of type uint64_t. Entries on a port stay in insertion order.
// Add, Find and Remove are O(1) whatever the number of entries on a port: every connection
// a listener accepts shares its port, so a busy server has thousands there, and a scan per
// accept (Inherit finds the listener) and per close would make the cost of a connection
// grow with the number of connections. Not thread-safe: the owner locks.
template <typename Entry>
class PortIndex {
 public:
  using Id = uint64_t;
  // A list: its iterators stay valid while other entries come and go, so the id map can
  // point straight at an entry.
  using Entries = std::list<Entry>;

  void Add(uint16_t port, const Entry& e) {
    Entries& entries = by_port_[port];
    entries.push_back(e);
    by_id_[e.id] = Where{port, std::prev(entries.end())};
  }

  void Remove(Id id) {
    auto w = by_id_.find(id);
    if (w == by_id_.end()) return;
    auto it = by_port_.find(w->second.port);
    it->second.erase(w->second.entry);
    if (it->second.empty()) by_port_.erase(it);
    by_id_.erase(w);
  }

  Entry* Find(Id id) {
    auto w = by_id_.find(id);
    return w == by_id_.end() ? nullptr : &*w->second.entry;
  }

  // The entries on `port`, or null when nobody holds it.
  const Entries* OnPort(uint16_t port) const {
    auto it = by_port_.find(port);
    return it == by_port_.end() ? nullptr : &it->second;
  }

  std::optional<uint16_t> PortOf(Id id) const {
    auto w = by_id_.find(id);
    if (w == by_id_.end()) return std::nullopt;
    return w->second.port;
  }

  bool InUse(uint16_t port) const { return by_port_.contains(port); }
  size_t size() const { return by_id_.size(); }

 private:
  struct Where {
    uint16_t port;
    typename Entries::iterator entry;
  };
  // The lists move when the map grows; iterators to their elements stay valid across a
  // move ([container.reqmts]: only end() is invalidated), and Where never holds end().
  absl::flat_hash_map<uint16_t, Entries> by_port_;
  absl::flat_hash_map<Id, Where> by_id_;
};

}  // namespace netshim
