// Local port reservations for one transport protocol (UDP or TCP), with Linux's bind
// conflict rules and its ephemeral range.
//
// Conflicts (Linux net/ipv4/udp.c udp_lib_lport_inuse, net/ipv4/inet_connection_sock.c
// inet_bind_conflict): two bindings conflict when they have the same port and overlapping
// addresses (equal, or either the wildcard 0.0.0.0), unless
//   - both set SO_REUSEPORT (Linux also wants the same owner uid: one process, so always), or
//   - both set SO_REUSEADDR, and for TCP the existing binding is not listening (a listener
//     blocks SO_REUSEADDR reuse; TCP re-checks when a binding starts listening).
// Flags are read at each later check, as Linux reads sk_reuse/sk_reuseport then, so a
// setsockopt after bind is honoured.
//
// Thread-safe: one mutex guards the table. Lock order: the owning socket's lock, then the
// protocol's demux lock, then this table's lock.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "stack/transport/port_index.h"
#include "stack/wire/address.h"

namespace netshim {

// What a socket asks to bind.
struct PortRequest {
  Ipv4Address address;  // 0.0.0.0: every local address
  uint16_t port = 0;    // 0: pick an ephemeral port
  bool reuse_addr = false;
  bool reuse_port = false;
};

// The ephemeral range: Linux net.ipv4.ip_local_port_range defaults, inclusive.
struct PortRange {
  uint16_t low = 32768;
  uint16_t high = 60999;
};

class PortTable {
 public:
  enum class Protocol { kUdp, kTcp };
  using Range = PortRange;
  // Names one binding; 0 is never a valid id.
  using Id = uint64_t;
  static constexpr Id kNoId = 0;

  explicit PortTable(Protocol protocol, Range range = {});
  PortTable(const PortTable&) = delete;
  PortTable& operator=(const PortTable&) = delete;

  // Reserves request.address:request.port. Port 0 picks, from a random start in the range,
  // an ephemeral port nobody holds (Linux may share a port between SO_REUSEADDR sockets
  // here; we never do, which no program can tell apart from luck). Returns the port and sets
  // *id, or -EADDRINUSE (a conflict, or every ephemeral port taken: Linux's bind(2) answer;
  // connect(2) and sendmsg(2) autobinds turn that into -EAGAIN, see inet_autobind).
  int Bind(const PortRequest& request, Id* id) ABSL_LOCKS_EXCLUDED(mu_);

  // TCP's connect() without a bound port (Linux __inet_hash_connect): an ephemeral port that
  // is free, or held only by other connect()-made bindings and for which `tuple_is_free`
  // says the new 4-tuple would be unique. `tuple_is_free` runs under this table's lock and
  // must not call back into it. Returns the port and sets *id, or -EADDRNOTAVAIL (Linux's
  // connect(2) answer when the range is exhausted).
  int BindForConnect(Ipv4Address address, const std::function<bool(uint16_t)>& tuple_is_free,
                     Id* id) ABSL_LOCKS_EXCLUDED(mu_);

  // An accepted TCP connection shares its listener's port with no conflict check (Linux
  // inet_inherit_port); it keeps the port after the listener goes. kNoId if `parent` is not
  // a binding.
  Id Inherit(Id parent, Ipv4Address local) ABSL_LOCKS_EXCLUDED(mu_);

  // Gives the port back. Unknown ids are ignored.
  void Release(Id id) ABSL_LOCKS_EXCLUDED(mu_);

  // setsockopt(SO_REUSEADDR / SO_REUSEPORT) after bind.
  void SetReuse(Id id, bool reuse_addr, bool reuse_port) ABSL_LOCKS_EXCLUDED(mu_);

  // The local address chosen after an autobind (UDP connect fills in the source address;
  // Linux rehashes without a conflict check).
  void SetAddress(Id id, Ipv4Address address) ABSL_LOCKS_EXCLUDED(mu_);

  // TCP listen(): re-checks the binding against the others as a listener (Linux
  // inet_csk_listen_start calls get_port again) and marks it. 0, or -EADDRINUSE (then it is
  // left unmarked).
  int SetListening(Id id, bool listening) ABSL_LOCKS_EXCLUDED(mu_);

  Range range() const { return range_; }
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Bindings holding `port` (tests, diagnostics).
  size_t CountOnPort(uint16_t port) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    Id id = kNoId;
    Ipv4Address address;
    bool reuse_addr = false;
    bool reuse_port = false;
    bool listening = false;
    bool from_connect = false;
  };

  // Would `a` (new, or re-checked) conflict with the existing `b` on the same port?
  bool Conflicts(const Entry& a, const Entry& b) const;
  bool ConflictsOnPort(const Entry& a, uint16_t port) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Visits the ephemeral range once from a random start; returns the first port `usable`
  // accepts, or 0.
  uint16_t ScanEphemeral(const std::function<bool(uint16_t)>& usable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Id Insert(uint16_t port, Entry e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Protocol protocol_;
  const Range range_;

  mutable absl::Mutex mu_;
  PortIndex<Entry> index_ ABSL_GUARDED_BY(mu_);
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netshim
