#include "stack/transport/udp/udp_demux.h"

#include <algorithm>
#include <tuple>

#include "absl/hash/hash.h"

namespace netshim {

void UdpDemux::Insert(Id id, const UdpEndpointKey& key) {
  Remove(id);
  index_.Add(key.local_port, Entry{id, key});
}

void UdpDemux::Update(Id id, const UdpEndpointKey& key) {
  if (Entry* e = index_.Find(id); e != nullptr && e->key.local_port == key.local_port) {
    e->key = key;
    return;
  }
  Insert(id, key);
}

void UdpDemux::Remove(Id id) { index_.Remove(id); }

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
  const auto* entries = index_.OnPort(dport);
  if (entries == nullptr) return kNone;
  int best = -1;
  IdList group;  // unconnected SO_REUSEPORT sockets with the best score, oldest first
  const Entry* winner = nullptr;
  for (const Entry& e : *entries) {
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
  const auto* entries = index_.OnPort(dport);
  if (entries == nullptr) return out;
  for (const Entry& e : *entries) {
    if (Score(e.key, src, sport, dst) >= 0) out.push_back(e.id);
  }
  return out;
}

}  // namespace netshim
