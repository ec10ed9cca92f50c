#include "stack/transport/udp/udp_demux.h"

#include <algorithm>
#include <tuple>

#include "absl/hash/hash.h"

namespace netshim {

void UdpDemux::Insert(Id id, const UdpEndpointKey& key) {
  Remove(id);
  by_port_[key.local_port].push_back(Entry{id, key});
  port_of_[id] = key.local_port;
}

void UdpDemux::Update(Id id, const UdpEndpointKey& key) {
  auto p = port_of_.find(id);
  if (p != port_of_.end() && p->second == key.local_port) {
    for (Entry& e : by_port_[key.local_port]) {
      if (e.id == id) e.key = key;
    }
    return;
  }
  Insert(id, key);
}

void UdpDemux::Remove(Id id) {
  auto p = port_of_.find(id);
  if (p == port_of_.end()) return;
  auto it = by_port_.find(p->second);
  port_of_.erase(p);
  if (it == by_port_.end()) return;
  Entries& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(), [id](const Entry& e) { return e.id == id; }), v.end());
  if (v.empty()) by_port_.erase(it);
}

int UdpDemux::Score(const UdpEndpointKey& k, Ipv4Address src, uint16_t sport, Ipv4Address dst) {
  int score = 2;  // PF_INET
  if (!k.local.IsAny()) {
    if (k.local != dst) return -1;
    score += 16;  // Linux's first pass is for the exact address: it wins over any wildcard
  }
  if (!k.remote.IsAny()) {
    if (k.remote != src) return -1;
    score += 4;
  }
  if (k.remote_port != 0) {
    if (k.remote_port != sport) return -1;
    score += 4;
  }
  return score;
}

UdpDemux::Id UdpDemux::Lookup(Ipv4Address src, uint16_t sport, Ipv4Address dst,
                              uint16_t dport) const {
  auto it = by_port_.find(dport);
  if (it == by_port_.end()) return kNone;
  int best = -1;
  IdList group;  // unconnected SO_REUSEPORT sockets with the best score, oldest first
  const Entry* winner = nullptr;
  for (const Entry& e : it->second) {
    const int s = Score(e.key, src, sport, dst);
    if (s < 0 || s < best) continue;
    if (s > best) {
      best = s;
      group.clear();
    }
    winner = &e;  // the newest of equals
    if (e.key.reuse_port && !e.key.connected) group.push_back(e.id);
  }
  if (winner == nullptr) return kNone;
  if (!winner->key.reuse_port || winner->key.connected || group.size() < 2) return winner->id;
  const size_t h = absl::Hash<std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>>{}(
      std::make_tuple(src.value, sport, dst.value, dport));
  return group[h % group.size()];
}

UdpDemux::IdList UdpDemux::LookupAll(Ipv4Address src, uint16_t sport, Ipv4Address dst,
                                     uint16_t dport) const {
  IdList out;
  auto it = by_port_.find(dport);
  if (it == by_port_.end()) return out;
  for (const Entry& e : it->second) {
    if (Score(e.key, src, sport, dst) >= 0) out.push_back(e.id);
  }
  return out;
}

}  // namespace netshim
