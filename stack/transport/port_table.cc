#include "stack/transport/port_table.h"

#include <algorithm>
#include <cerrno>

namespace netshim {

PortTable::PortTable(Protocol protocol, Range range)
    : protocol_(protocol),
      // Port 0 is never a port; an inverted range is taken the right way round.
      range_{std::max<uint16_t>(1, std::min(range.low, range.high)),
             std::max<uint16_t>(1, std::max(range.low, range.high))} {}

bool PortTable::Conflicts(const Entry& a, const Entry& b) const {
  if (a.id == b.id) return false;
  const bool overlap =
      a.address.IsAny() || b.address.IsAny() || a.address == b.address;  // inet_rcv_saddr_equal
  if (!overlap) return false;
  if (a.reuse_port && b.reuse_port) return false;  // same owner: we are one process
  if (a.reuse_addr && b.reuse_addr) {
    // TCP: "sk2->sk_state != TCP_LISTEN" (inet_bind_conflict); UDP has no listeners.
    return protocol_ == Protocol::kTcp && b.listening;
  }
  return true;
}

bool PortTable::ConflictsOnPort(const Entry& a, uint16_t port) const {
  const auto* entries = index_.OnPort(port);
  return entries != nullptr && std::any_of(entries->begin(), entries->end(),
                                           [&](const Entry& b) { return Conflicts(a, b); });
}

uint16_t PortTable::ScanEphemeral(const std::function<bool(uint16_t)>& usable) {
  const uint32_t count = uint32_t{range_.high} - range_.low + 1;
  // A random start (Linux udp_lib_get_port / __inet_hash_connect) makes ports hard to guess
  // (RFC 6056) and spreads sockets that come and go over the range.
  const uint32_t start = absl::Uniform<uint32_t>(rng_, 0, count);
  for (uint32_t i = 0; i < count; ++i) {
    const auto port = static_cast<uint16_t>(range_.low + (start + i) % count);
    if (usable(port)) return port;
  }
  return 0;
}

PortTable::Id PortTable::Insert(uint16_t port, Entry e) {
  e.id = next_id_++;
  index_.Add(port, e);
  return e.id;
}

int PortTable::Bind(const PortRequest& request, Id* id) {
  absl::MutexLock lock(&mu_);
  Entry e;
  e.address = request.address;
  e.reuse_addr = request.reuse_addr;
  e.reuse_port = request.reuse_port;
  uint16_t port = request.port;
  if (port == 0) {
    port = ScanEphemeral([this](uint16_t p) { return !index_.InUse(p); });
    if (port == 0) return -EADDRINUSE;
  } else if (ConflictsOnPort(e, port)) {
    return -EADDRINUSE;
  }
  *id = Insert(port, e);
  return port;
}

int PortTable::BindForConnect(Ipv4Address address,
                              const std::function<bool(uint16_t)>& tuple_is_free, Id* id) {
  absl::MutexLock lock(&mu_);
  const uint16_t port = ScanEphemeral([&](uint16_t p) {
    const auto* entries = index_.OnPort(p);
    if (entries == nullptr) return true;
    // Ports taken by bind() are left alone; ports of other connections may be shared when
    // the 4-tuple differs (Linux: bind buckets with fastreuse == -1).
    const bool all_connect = std::all_of(entries->begin(), entries->end(),
                                         [](const Entry& e) { return e.from_connect; });
    return all_connect && tuple_is_free(p);
  });
  if (port == 0) return -EADDRNOTAVAIL;
  Entry e;
  e.address = address;
  e.from_connect = true;
  *id = Insert(port, e);
  return port;
}

PortTable::Id PortTable::Inherit(Id parent, Ipv4Address local) {
  absl::MutexLock lock(&mu_);
  const Entry* p = index_.Find(parent);
  if (p == nullptr) return kNoId;
  Entry e = *p;
  e.address = local;
  e.listening = false;
  e.from_connect = false;
  return Insert(*index_.PortOf(parent), e);
}

void PortTable::Release(Id id) {
  absl::MutexLock lock(&mu_);
  index_.Remove(id);
}

void PortTable::SetReuse(Id id, bool reuse_addr, bool reuse_port) {
  absl::MutexLock lock(&mu_);
  if (Entry* e = index_.Find(id)) {
    e->reuse_addr = reuse_addr;
    e->reuse_port = reuse_port;
  }
}

void PortTable::SetAddress(Id id, Ipv4Address address) {
  absl::MutexLock lock(&mu_);
  if (Entry* e = index_.Find(id)) e->address = address;
}

int PortTable::SetListening(Id id, bool listening) {
  absl::MutexLock lock(&mu_);
  Entry* e = index_.Find(id);
  if (e == nullptr) return -EINVAL;
  if (listening) {
    Entry probe = *e;
    probe.listening = true;
    // As a bind by a listener: SO_REUSEADDR sharing holds only while the others are not
    // listening themselves, so of two such sockets the second to listen gets EADDRINUSE.
    if (ConflictsOnPort(probe, *index_.PortOf(id))) return -EADDRINUSE;
  }
  e->listening = listening;
  return 0;
}

size_t PortTable::size() const {
  absl::MutexLock lock(&mu_);
  return index_.size();
}

size_t PortTable::CountOnPort(uint16_t port) const {
  absl::MutexLock lock(&mu_);
  const auto* entries = index_.OnPort(port);
  return entries == nullptr ? 0 : entries->size();
}

}  // namespace netshim
