#include "stack/net/neighbor_cache.h"

#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "stack/runtime/log.h"

namespace netshim {
namespace {

// Linux re-draws reachable_time from base_reachable_time every 300 s (neigh_periodic_work).
constexpr absl::Duration kRerandomizeInterval = absl::Seconds(300);
// Linux never retransmits faster than HZ/100 (neigh_timer_handler).
constexpr absl::Duration kMinRetrans = absl::Milliseconds(10);

// NUD_VALID: the entry has an address we may send to.
bool IsValid(NudState s) {
  return s == NudState::kReachable || s == NudState::kStale || s == NudState::kDelay ||
         s == NudState::kProbe || s == NudState::kPermanent;
}

// RFC 1112 6.4: 01:00:5e + the low 23 bits of the group address.
MacAddress MulticastMac(Ipv4Address group) {
  const uint32_t v = group.value;
  return MacAddress{{0x01, 0x00, 0x5e, static_cast<uint8_t>((v >> 16) & 0x7f),
                     static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}};
}

}  // namespace

std::string_view NudStateName(NudState state) {
  switch (state) {
    case NudState::kNone:
      return "NONE";
    case NudState::kIncomplete:
      return "INCOMPLETE";
    case NudState::kReachable:
      return "REACHABLE";
    case NudState::kStale:
      return "STALE";
    case NudState::kDelay:
      return "DELAY";
    case NudState::kProbe:
      return "PROBE";
    case NudState::kFailed:
      return "FAILED";
    case NudState::kPermanent:
      return "PERMANENT";
  }
  return "?";
}

NeighborCache::NeighborCache(ArpStats& stats, NeighborConfig config)
    : config_(config), stats_(stats) {
  absl::MutexLock lock(&mu_);
  reachable_time_ = DrawReachableTime();
}

// Linux neigh_rand_reach_time(): uniform in [base/2, 3*base/2), here in whole
// microseconds (Linux counts jiffies) so that deadlines are exact instants.
absl::Duration NeighborCache::DrawReachableTime() {
  return absl::Floor(config_.base_reachable_time * absl::Uniform(rng_, 0.5, 1.5),
                     absl::Microseconds(1));
}

// The 300 s period starts at the first timer run (the cache has no clock of its own).
void NeighborCache::MaybeRerandomize(absl::Time now) {
  if (!last_rand_) {
    last_rand_ = now;
  } else if (now >= *last_rand_ + kRerandomizeInterval) {
    last_rand_ = now;
    reachable_time_ = DrawReachableTime();
  }
}

// ---------------------------------------------------------------------------------------
// Timers and entries.

void NeighborCache::Arm(Ipv4Address ip, Entry& e, absl::Time when) {
  Disarm(ip, e);
  timers_.emplace(when, ip);
  e.deadline = when;
}

void NeighborCache::Disarm(Ipv4Address ip, Entry& e) {
  if (e.deadline) timers_.erase({*e.deadline, ip});
  e.deadline.reset();
}

// STALE and FAILED entries have no protocol timer; this one only garbage-collects them
// once unused for gc_stale_time (Linux neigh_periodic_work()).
void NeighborCache::ArmGc(Ipv4Address ip, Entry& e, absl::Time now) {
  const absl::Time last = std::max({e.used, e.confirmed, e.updated});
  Arm(ip, e, std::max(last + config_.gc_stale_time, now + kMinRetrans));
}

void NeighborCache::Erase(Table::iterator it) {
  Disarm(it->first, it->second);
  entries_.erase(it);
}

// gc_thresh3: at the cap, make room by evicting one entry (Linux neigh_forced_gc()):
// FAILED first, then STALE, then the least recently updated. Entries still resolving
// (they hold queued frames) and permanent ones are never evicted. O(n), but only at the
// cap.
bool NeighborCache::MakeRoom() {
  if (entries_.size() < config_.max_entries) return true;
  auto rank = [](NudState s) { return s == NudState::kFailed ? 0 : s == NudState::kStale ? 1 : 2; };
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const Entry& e = it->second;
    if (e.state == NudState::kIncomplete || e.state == NudState::kPermanent) continue;
    if (victim == entries_.end() ||
        std::tuple(rank(e.state), e.updated) <
            std::tuple(rank(victim->second.state), victim->second.updated)) {
      victim = it;
    }
  }
  if (victim == entries_.end()) return false;
  NETSHIM_LOG(kDebug, "neighbour table full: evicting {} ({})", victim->first.ToString(),
              NudStateName(victim->second.state));
  Erase(victim);
  return true;
}

NeighborCache::Entry* NeighborCache::Create(Ipv4Address ip, absl::Time now) {
  if (!MakeRoom()) return nullptr;
  Entry& e = entries_[ip];
  e.updated = e.used = now;
  // Linux neigh_alloc(): "confirmed" starts in the past so nothing counts as confirmed.
  e.confirmed = now - 2 * config_.base_reachable_time;
  return &e;
}

// ---------------------------------------------------------------------------------------
// Resolution.

int NeighborCache::MaxProbes(const Entry& e) const {
  // Linux neigh_max_probes(): INCOMPLETE starts its count at ucast_solicit, so it sends
  // mcast_solicit broadcasts; PROBE starts at 0 and sends ucast_solicit unicasts.
  return config_.ucast_solicit +
         (e.state == NudState::kProbe ? config_.mcast_resolicit : config_.mcast_solicit);
}

void NeighborCache::SendProbe(Ipv4Address ip, Entry& e, NeighborActions& actions) {
  // Linux arp_solicit(): unicast to the cached address for the first ucast_solicit probes.
  ArpRequestToSend req{ip};
  if (e.probes < config_.ucast_solicit && e.has_mac) req.dst_mac = e.mac;
  ++e.probes;
  actions.requests.push_back(req);
}

void NeighborCache::StartResolution(Ipv4Address ip, Entry& e, absl::Time now,
                                    NeighborActions& actions) {
  // Linux __neigh_event_send(): INCOMPLETE, first request at once, retransmit timer.
  e.state = NudState::kIncomplete;
  e.probes = config_.ucast_solicit;
  e.updated = now;
  Arm(ip, e, now + std::max(config_.retrans_time, kMinRetrans));
  SendProbe(ip, e, actions);
}

void NeighborCache::Enqueue(Entry& e, TxFrame&& frame, std::vector<TxFrame>& dropped) {
  // Linux __neigh_event_send(): make room by dropping the oldest (unres_discards).
  const size_t cost = frame.size();
  while (!e.queue.empty() && (e.queue.size() >= config_.max_queued_frames ||
                              e.queued_bytes + cost > config_.max_queued_bytes)) {
    e.queued_bytes -= e.queue.front().size();
    dropped.push_back(std::move(e.queue.front()));
    e.queue.pop_front();
    stats_.UnresolvedDiscards.Inc();
  }
  e.queued_bytes += cost;
  e.queue.push_back(std::move(frame));
}

void NeighborCache::Fail(Ipv4Address ip, Entry& e, absl::Time now, NeighborActions& actions) {
  // Linux neigh_timer_handler() + neigh_invalidate(): every waiting frame is reported
  // (arp_error_report() -> ICMP host unreachable) and dropped.
  NETSHIM_LOG(kDebug, "neighbour {} FAILED ({} frames dropped)", ip.ToString(), e.queue.size());
  e.state = NudState::kFailed;
  e.updated = now;
  stats_.ResolutionFailures.Inc();
  stats_.UnresolvedDiscards.Add(e.queue.size());
  for (TxFrame& f : e.queue) actions.failed.push_back(std::move(f));
  e.queue.clear();
  e.queued_bytes = 0;
  ArmGc(ip, e, now);
}

void NeighborCache::Flush(Entry& e, NeighborActions& actions) {
  for (TxFrame& f : e.queue) actions.ready.push_back(ResolvedFrame{e.mac, std::move(f)});
  e.queue.clear();
  e.queued_bytes = 0;
}

ResolveResult NeighborCache::Resolve(Ipv4Address next_hop, TxFrame&& frame, absl::Time now) {
  ResolveResult result;
  // Linux arp_constructor(): these need no resolution (NUD_NOARP).
  if (next_hop.IsLimitedBroadcast() || next_hop.IsMulticast()) {
    result.mac = next_hop.IsMulticast() ? MulticastMac(next_hop) : MacAddress::Broadcast();
    result.frame = std::move(frame);
    return result;
  }
  std::vector<TxFrame> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(next_hop);
  Entry* e = it != entries_.end() ? &it->second : Create(next_hop, now);
  if (e == nullptr) {
    // Full of entries that cannot go: Linux fails neigh_create() and drops the packet.
    stats_.UnresolvedDiscards.Inc();
    result.actions.failed.push_back(std::move(frame));
    return result;
  }
  e->used = now;
  switch (e->state) {
    case NudState::kStale:
      // Linux __neigh_event_send(): a use of a STALE entry starts the DELAY timer.
      e->state = NudState::kDelay;
      e->updated = now;
      Arm(next_hop, *e, now + config_.delay_first_probe_time);
      [[fallthrough]];
    case NudState::kReachable:
    case NudState::kDelay:
    case NudState::kProbe:
    case NudState::kPermanent:
      result.mac = e->mac;
      result.frame = std::move(frame);
      return result;
    case NudState::kNone:
    case NudState::kFailed:
      StartResolution(next_hop, *e, now, result.actions);
      break;
    case NudState::kIncomplete:
      break;
  }
  Enqueue(*e, std::move(frame), dropped);
  return result;
}

// ---------------------------------------------------------------------------------------
// Updates from ARP packets and upper layers.

// Linux neigh_update() without the admin flags: `proposed` is REACHABLE (a reply to us)
// or STALE (anything else that names the sender's address).
void NeighborCache::Update(Ipv4Address ip, Entry& e, MacAddress mac, NudState proposed,
                           bool may_override, absl::Time now, NeighborActions& actions) {
  if (e.state == NudState::kPermanent) return;  // only the administrator changes these
  const NudState old = e.state;
  NudState next = proposed;
  bool mac_changed = !IsValid(old) || !e.has_mac || e.mac != mac;
  if (proposed == NudState::kReachable) e.confirmed = now;
  if (IsValid(old)) {
    // "If several different ARP replies follow back-to-back, use the FIRST one."
    if (mac_changed && !may_override) return;
    // Same address: a STALE hint does not demote a fresher state.
    if (!mac_changed && proposed == NudState::kStale) next = old;
  }
  if (next != old || mac_changed) e.updated = now;
  if (mac_changed) {
    e.mac = mac;
    e.has_mac = true;
    if (next != NudState::kReachable) e.confirmed = now - 2 * config_.base_reachable_time;
  }
  if (next == old) return;
  e.state = next;
  e.probes = 0;
  if (next == NudState::kReachable) {
    Arm(ip, e, now + reachable_time_);
  } else {
    ArmGc(ip, e, now);
  }
  if (!IsValid(old)) Flush(e, actions);  // the frames that waited on resolution
}

NeighborActions NeighborCache::OnArpReceived(const ArpSender& sender, absl::Time now) {
  NeighborActions actions;
  // RFC 5227 probes carry sender 0.0.0.0 and must not touch the table; a group or
  // broadcast address is never a neighbour's own (Linux arp_process()).
  if (sender.ip.IsAny() || sender.ip.IsLimitedBroadcast() || sender.ip.IsMulticast() ||
      sender.mac.IsMulticast() || sender.mac.IsZero()) {
    return actions;
  }
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(sender.ip);
  Entry* e = nullptr;
  if (it != entries_.end()) {
    e = &it->second;
  } else if (sender.origin == ArpOrigin::kRequestForUs) {
    // RFC 826: "If the pair <protocol type, sender protocol address> is not already in
    // the table, merge it only if I am the target". Linux arp_accept=0 agrees.
    e = Create(sender.ip, now);
  }
  if (e == nullptr) return actions;
  // A different address replaces the cached one only after the lock time (the first of
  // several back-to-back replies wins), or at once from a gratuitous ARP or from a request
  // to us (Linux arp_process() / neigh_event_ns()).
  const bool may_override = sender.gratuitous || sender.origin == ArpOrigin::kRequestForUs ||
                            now > e->updated + config_.locktime;
  // "Broadcast replies and request packets do not assert neighbour reachability."
  const NudState proposed =
      sender.origin == ArpOrigin::kReplyToUs ? NudState::kReachable : NudState::kStale;
  Update(sender.ip, *e, sender.mac, proposed, may_override, now, actions);
  return actions;
}

void NeighborCache::ConfirmReachable(Ipv4Address ip, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  // Linux neigh_confirm(): only the timestamp; the timers read it when they fire.
  if (it != entries_.end() && IsValid(it->second.state)) it->second.confirmed = now;
}

// ---------------------------------------------------------------------------------------
// Timers.

// Linux neigh_timer_handler(), plus the GC of neigh_periodic_work() for STALE and FAILED.
void NeighborCache::HandleTimer(Table::iterator it, absl::Time now, NeighborActions& actions) {
  const Ipv4Address ip = it->first;
  Entry& e = it->second;
  const absl::Duration retrans = std::max(config_.retrans_time, kMinRetrans);
  switch (e.state) {
    case NudState::kReachable:
      if (now < e.confirmed + reachable_time_) {
        Arm(ip, e, e.confirmed + reachable_time_);  // confirmed since the timer was set
      } else if (now < e.used + config_.delay_first_probe_time) {
        e.state = NudState::kDelay;  // expired while in use: re-check soon
        e.updated = now;
        Arm(ip, e, now + config_.delay_first_probe_time);
      } else {
        e.state = NudState::kStale;
        e.updated = now;
        ArmGc(ip, e, now);
      }
      return;
    case NudState::kDelay:
      if (now < e.confirmed + config_.delay_first_probe_time) {
        e.state = NudState::kReachable;  // an upper layer confirmed in time
        e.updated = now;
        Arm(ip, e, e.confirmed + reachable_time_);
        return;
      }
      e.state = NudState::kProbe;
      e.updated = now;
      e.probes = 0;
      break;
    case NudState::kIncomplete:
    case NudState::kProbe:
      break;
    case NudState::kStale:
    case NudState::kFailed: {
      const absl::Time last = std::max({e.used, e.confirmed, e.updated});
      const bool unused = now >= last + config_.gc_stale_time;
      // Linux leaves small tables alone (gc_thresh1), but FAILED entries hold nothing.
      if (unused && (e.state == NudState::kFailed || entries_.size() >= config_.gc_thresh1)) {
        Erase(it);
        return;
      }
      Arm(ip, e, unused ? now + config_.gc_stale_time : last + config_.gc_stale_time);
      return;
    }
    case NudState::kNone:
    case NudState::kPermanent:
      return;
  }
  // INCOMPLETE or PROBE: another request, or give up.
  if (e.probes >= MaxProbes(e)) {
    Fail(ip, e, now, actions);
    return;
  }
  Arm(ip, e, now + retrans);
  SendProbe(ip, e, actions);
  return;
}

NeighborActions NeighborCache::OnTimer(absl::Time now) {
  NeighborActions actions;
  absl::MutexLock lock(&mu_);
  MaybeRerandomize(now);
  // Each handler arms its next deadline strictly after `now` or moves the entry to a
  // state whose deadline is, so this loop ends.
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const Ipv4Address ip = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = entries_.find(ip);
    it->second.deadline.reset();
    HandleTimer(it, now, actions);
  }
  return actions;
}

std::optional<absl::Time> NeighborCache::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

// ---------------------------------------------------------------------------------------
// Administration and inspection.

absl::StatusOr<NeighborActions> NeighborCache::AddStatic(Ipv4Address ip, MacAddress mac) {
  NeighborActions actions;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  Entry* e = it != entries_.end() ? &it->second : Create(ip, absl::InfinitePast());
  if (e == nullptr) {
    return absl::ResourceExhaustedError("neighbour table full of busy entries");
  }
  Disarm(ip, *e);
  e->state = NudState::kPermanent;
  e->mac = mac;
  e->has_mac = true;
  e->probes = 0;
  Flush(*e, actions);
  return actions;
}

NeighborActions NeighborCache::Remove(Ipv4Address ip) {
  NeighborActions actions;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return actions;
  stats_.UnresolvedDiscards.Add(it->second.queue.size());
  for (TxFrame& f : it->second.queue) actions.failed.push_back(std::move(f));
  Erase(it);
  return actions;
}

std::optional<MacAddress> NeighborCache::Peek(Ipv4Address ip) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end() || !IsValid(it->second.state)) return std::nullopt;
  return it->second.mac;
}

NeighborInfo NeighborCache::InfoOf(Ipv4Address ip, const Entry& e) {
  NeighborInfo info;
  info.ip = ip;
  info.state = e.state;
  if (e.has_mac) info.mac = e.mac;
  info.probes = e.probes;
  info.queued_frames = e.queue.size();
  info.queued_bytes = e.queued_bytes;
  info.deadline = e.deadline;
  return info;
}

std::optional<NeighborInfo> NeighborCache::Lookup(Ipv4Address ip) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return std::nullopt;
  return InfoOf(it->first, it->second);
}

std::vector<NeighborInfo> NeighborCache::Entries() const {
  std::vector<NeighborInfo> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(entries_.size());
    for (const auto& [ip, e] : entries_) out.push_back(InfoOf(ip, e));
  }
  std::sort(out.begin(), out.end(),
            [](const NeighborInfo& a, const NeighborInfo& b) { return a.ip < b.ip; });
  return out;
}

size_t NeighborCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::Duration NeighborCache::reachable_time() const {
  absl::MutexLock lock(&mu_);
  return reachable_time_;
}

}  // namespace netshim
