// The ARP neighbour table (RFC 826, RFC 1122 2.3.2), with Linux's NUD state machine and
// default timings (net/core/neighbour.c, net/ipv4/arp.c):
//
//   INCOMPLETE  broadcast request at once and every retrans_time; mcast_solicit unanswered:
//               FAILED, the queued frames dropped and handed back for ICMP host unreachable
//   REACHABLE   until confirmed + reachable_time; then STALE (DELAY if used in the last 5 s)
//   STALE       usable; the first use moves it to DELAY
//   DELAY       after delay_first_probe_time: REACHABLE if an upper layer confirmed
//               meanwhile, else PROBE
//   PROBE       unicast request every retrans_time; ucast_solicit unanswered: FAILED
//   A reply to us makes any entry REACHABLE; other ARP traffic updates it (RFC 826 merge).
//
// Thread-safe: one mutex guards the table, and no method calls out while holding it.
// Instead, every method returns the work it leaves to the caller (ARP requests to send,
// frames now resolved, frames dropped): the caller does it after the call returns, so the
// cache never nests inside another lock and never re-enters itself. Time is an argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stack/buffer/tx_frame.h"
#include "stack/runtime/stats.h"
#include "stack/wire/address.h"

namespace netshim {

// Linux's NUD_* states (include/uapi/linux/neighbour.h), as `ip neigh` prints them.
enum class NudState : uint8_t {
  kNone,  // just created, about to move (never seen outside the cache)
  kIncomplete,
  kReachable,
  kStale,
  kDelay,
  kProbe,
  kFailed,
  kPermanent,
};
std::string_view NudStateName(NudState state);

// Linux defaults: /proc/sys/net/ipv4/neigh/default/* and arp_tbl in net/ipv4/arp.c.
struct NeighborConfig {
  int ucast_solicit = 3;    // unicast probes in PROBE
  int mcast_solicit = 3;    // broadcast requests in INCOMPLETE
  int mcast_resolicit = 0;  // broadcast requests in PROBE after the unicast ones
  absl::Duration retrans_time = absl::Seconds(1);
  absl::Duration base_reachable_time = absl::Seconds(30);  // randomised to [0.5, 1.5)×
  absl::Duration delay_first_probe_time = absl::Seconds(5);
  absl::Duration gc_stale_time = absl::Seconds(60);
  absl::Duration locktime = absl::Seconds(1);  // first reply wins for this long
  size_t gc_thresh1 = 128;    // below this many entries, unused STALE entries are kept
  size_t max_entries = 1024;  // gc_thresh3: the table never grows beyond
  // Frames waiting for resolution, per neighbour (Linux unres_qlen / unres_qlen_bytes).
  // Bytes are TxFrame::size(): payload slices share the sockets' buffers, so their
  // capacity is not this queue's to count.
  size_t max_queued_frames = 101;
  size_t max_queued_bytes = 64 * 1024;
};

struct ArpRequestToSend {
  Ipv4Address target;
  // Broadcast while resolving (INCOMPLETE); the cached MAC when re-checking it (PROBE).
  MacAddress dst_mac = MacAddress::Broadcast();
  bool unicast() const { return !dst_mac.IsBroadcast(); }
};

struct ResolvedFrame {
  MacAddress dst_mac;
  TxFrame frame;  // an IPv4 packet; its head has headroom for the Ethernet header
};

// Work for the caller, to be done after the call returned (outside the cache's lock).
struct NeighborActions {
  std::vector<ArpRequestToSend> requests;
  std::vector<ResolvedFrame> ready;  // queued frames now resolved, in queue order
  // Frames dropped because resolution failed: send ICMP host unreachable for them
  // (Linux arp_error_report()). Already counted in ArpStats.
  std::vector<TxFrame> failed;

  bool empty() const { return requests.empty() && ready.empty() && failed.empty(); }
};

struct ResolveResult {
  std::optional<MacAddress> mac;  // set: send `frame` to it now
  TxFrame frame;                  // the frame handed back when `mac` is set
  NeighborActions actions;        // otherwise the frame was queued (or dropped: `failed`)
};

// How an ARP packet reached us; it decides what the packet may do to the table, as in
// Linux's arp_process().
enum class ArpOrigin {
  kReplyToUs,     // a reply unicast to our MAC: proves reachability (REACHABLE)
  kRequestForUs,  // a request whose target is our address: create or update (STALE)
  kOther,         // a broadcast reply or a request for another host: update only (STALE)
};

struct ArpSender {
  Ipv4Address ip;
  MacAddress mac;
  ArpOrigin origin = ArpOrigin::kOther;
  bool gratuitous = false;  // sender IP == target IP: overrides the lock time
};

struct NeighborInfo {
  Ipv4Address ip;
  NudState state = NudState::kNone;
  std::optional<MacAddress> mac;
  int probes = 0;
  size_t queued_frames = 0;
  size_t queued_bytes = 0;
  std::optional<absl::Time> deadline;
};

class NeighborCache {
 public:
  explicit NeighborCache(ArpStats& stats, NeighborConfig config = {});
  NeighborCache(const NeighborCache&) = delete;
  NeighborCache& operator=(const NeighborCache&) = delete;

  // The MAC for `next_hop` if it is usable (REACHABLE, STALE, DELAY, PROBE, PERMANENT; a
  // STALE entry moves to DELAY, as any use does in Linux), with the frame handed back.
  // Otherwise the frame waits in the neighbour's queue and the first broadcast request is
  // in the actions. The limited broadcast and multicast addresses map directly
  // (RFC 1112 6.4) without an entry.
  ResolveResult Resolve(Ipv4Address next_hop, TxFrame&& frame, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Merges what a valid ARP packet says about its sender (RFC 826 "Packet Reception"):
  // updates an existing entry, creates one only when the packet was a request for us, and
  // flushes the frames that waited for it.
  NeighborActions OnArpReceived(const ArpSender& sender, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Advances every timer due at `now`: retransmits, state ageing, failures, GC.
  NeighborActions OnTimer(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<absl::Time> NextDeadline() const ABSL_LOCKS_EXCLUDED(mu_);

  // Forward progress seen by an upper layer (TCP acks new data): Linux dst_confirm() /
  // neigh_confirm(). Keeps a REACHABLE entry reachable and lets DELAY skip probing.
  void ConfirmReachable(Ipv4Address ip, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // A permanent entry (`ip neigh replace ... nud permanent`). Frames waiting for it are
  // released. ResourceExhausted when the table is full of entries that cannot be evicted.
  absl::StatusOr<NeighborActions> AddStatic(Ipv4Address ip, MacAddress mac)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes any entry for `ip`; frames still waiting are dropped into `failed`.
  NeighborActions Remove(Ipv4Address ip) ABSL_LOCKS_EXCLUDED(mu_);

  // The cached MAC if the entry is usable; no state change (unlike Resolve).
  std::optional<MacAddress> Peek(Ipv4Address ip) const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<NeighborInfo> Lookup(Ipv4Address ip) const ABSL_LOCKS_EXCLUDED(mu_);
  // All entries, by address (for debugging and `ip neigh`-style listings).
  std::vector<NeighborInfo> Entries() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  // The current randomised reachable time (re-drawn every 300 s, as Linux does).
  absl::Duration reachable_time() const ABSL_LOCKS_EXCLUDED(mu_);
  const NeighborConfig& config() const { return config_; }

 private:
  struct Entry {
    NudState state = NudState::kNone;
    bool has_mac = false;
    MacAddress mac;
    int probes = 0;
    absl::Time updated;    // last state or address change
    absl::Time used;       // last Resolve()
    absl::Time confirmed;  // last proof of reachability
    std::optional<absl::Time> deadline;
    std::deque<TxFrame> queue;
    size_t queued_bytes = 0;
  };
  using Table = absl::flat_hash_map<Ipv4Address, Entry>;

  Entry* Create(Ipv4Address ip, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool MakeRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Erase(Table::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Arm(Ipv4Address ip, Entry& e, absl::Time when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Disarm(Ipv4Address ip, Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmGc(Ipv4Address ip, Entry& e, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(Entry& e, TxFrame&& frame, std::vector<TxFrame>& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartResolution(Ipv4Address ip, Entry& e, absl::Time now, NeighborActions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendProbe(Ipv4Address ip, Entry& e, NeighborActions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int MaxProbes(const Entry& e) const;
  void Fail(Ipv4Address ip, Entry& e, absl::Time now, NeighborActions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Update(Ipv4Address ip, Entry& e, MacAddress mac, NudState proposed, bool may_override,
              absl::Time now, NeighborActions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Flush(Entry& e, NeighborActions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // May erase the entry (GC).
  void HandleTimer(Table::iterator it, absl::Time now, NeighborActions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration DrawReachableTime() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeRerandomize(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static NeighborInfo InfoOf(Ipv4Address ip, const Entry& e);

  const NeighborConfig config_;
  ArpStats& stats_;

  mutable absl::Mutex mu_;
  Table entries_ ABSL_GUARDED_BY(mu_);
  // Every armed deadline, earliest first (at most one per entry).
  std::set<std::pair<absl::Time, Ipv4Address>> timers_ ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
  absl::Duration reachable_time_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> last_rand_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
