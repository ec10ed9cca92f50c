// IPv4 fragment reassembly (RFC 791 3.2, RFC 815), with Linux's policies
// (net/ipv4/ip_fragment.c, net/ipv4/inet_fragment.c):
//  - a datagram lives at most `timeout` (30 s, ipfrag_time) from its first fragment; on
//    expiry, if the offset-0 fragment had arrived, the caller sends ICMP Time Exceeded
//    code 1 (RFC 792, RFC 1122 3.3.2);
//  - any overlap between fragments with different extents discards the whole datagram
//    (Linux since 4.19 / RFC 5722 4); exact duplicates are dropped quietly;
//  - inconsistent ends, data past the known end, empty fragments, and datagrams that
//    would exceed 65535 bytes (ping of death) discard the datagram;
//  - every held byte is accounted and capped (ipfrag_high_thresh, 4 MiB); past the cap the
//    oldest datagrams are evicted.
//
// It works on plain values (no wire parsing) and takes time as an argument; it is not
// thread-safe (the IPv4 layer locks around it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "stack/buffer/packet_buffer.h"
#include "stack/runtime/stats.h"
#include "stack/wire/address.h"

namespace netshim {

// RFC 791: fragments belong together when source, destination, protocol and
// identification all match.
struct FragmentKey {
  Ipv4Address src;
  Ipv4Address dst;
  uint8_t protocol = 0;
  uint16_t id = 0;

  friend bool operator==(const FragmentKey&, const FragmentKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const FragmentKey& k) {
    return H::combine(std::move(h), k.src, k.dst, k.protocol, k.id);
  }
};

struct Fragment {
  FragmentKey key;
  uint32_t offset = 0;  // in bytes (the header's 13-bit field times 8)
  bool more_fragments = false;
  // The IP header including options. Kept only from the offset-0 fragment (it becomes the
  // reassembled datagram's header); may be empty on the others.
  PacketBuffer header;
  PacketBuffer payload;  // the fragment's data, after the header
};

struct ReassembledDatagram {
  PacketBuffer header;  // the offset-0 fragment's header, as given
  // The whole payload in one contiguous heap buffer, with header.size() bytes of headroom
  // so the caller may Prepend the header and hold the full datagram in one piece.
  PacketBuffer payload;
};

// A datagram that timed out after its offset-0 fragment arrived: what ICMP Time Exceeded
// quotes (RFC 792: the internet header + the first 64 bits of the original data).
struct TimedOutDatagram {
  FragmentKey key;
  PacketBuffer header;
  PacketBuffer first_bytes;  // the first min(8, size) payload bytes (a slice, no copy)
};

class Ipv4Reassembler {
 public:
  struct Limits {
    size_t max_bytes = 4 * 1024 * 1024;          // Linux ipfrag_high_thresh
    absl::Duration timeout = absl::Seconds(30);  // Linux ipfrag_time
    size_t max_datagrams = 4096;                 // datagrams in progress at once
  };

  // Accounting charged besides buffer capacity, so that tiny fragments cannot hold more
  // memory than the cap says (Linux charges skb->truesize and sizeof(struct ipq)).
  static constexpr size_t kFragmentOverhead = 64;
  static constexpr size_t kDatagramOverhead = 256;

  Ipv4Reassembler(Limits limits, IpStats& stats);
  Ipv4Reassembler(const Ipv4Reassembler&) = delete;
  Ipv4Reassembler& operator=(const Ipv4Reassembler&) = delete;

  // Adds one fragment; returns the datagram when this fragment completes it. Counts
  // ReasmReqds for every fragment, and ReasmOKs / ReasmFails / ReasmOverlaps /
  // ReasmMemoryDrops as datagrams complete or are discarded.
  std::optional<ReassembledDatagram> Add(Fragment fragment, absl::Time now);

  // Discards the datagrams whose time is up (ReasmTimeout and ReasmFails for each) and
  // returns those that had their offset-0 fragment, for ICMP Time Exceeded.
  std::vector<TimedOutDatagram> Expire(absl::Time now);

  // When Expire() next has work; nullopt when nothing is held.
  std::optional<absl::Time> NextDeadline() const;

  size_t bytes_in_use() const { return bytes_in_use_; }
  size_t datagrams_in_progress() const { return datagrams_.size(); }
  const Limits& limits() const { return limits_; }

 private:
  struct HeldFragment {
    uint32_t end = 0;  // offset + payload size
    size_t charge = 0;
    PacketBuffer payload;
  };
  struct Datagram {
    absl::Time deadline;
    std::list<FragmentKey>::iterator age_it;     // position in age_
    std::map<uint32_t, HeldFragment> fragments;  // by offset, disjoint
    PacketBuffer header;                         // from the offset-0 fragment
    uint32_t len = 0;                            // known end so far (exact once last_in)
    uint32_t meat = 0;                           // bytes received (fragments are disjoint)
    size_t charge = 0;                           // everything this datagram holds in bytes_in_use_
    bool first_in = false;
    bool last_in = false;
  };
  using DatagramMap = absl::flat_hash_map<FragmentKey, Datagram>;
  enum class Insert { kOk, kDuplicate, kOverlap };

  DatagramMap::iterator FindOrCreate(const FragmentKey& key, absl::Time now);
  std::optional<ReassembledDatagram> Hold(DatagramMap::iterator it, Fragment&& fragment);
  static bool UpdateEnd(Datagram& d, uint64_t end, bool more_fragments);
  static Insert CheckPlacement(const Datagram& d, uint32_t offset, uint32_t end);
  static size_t ChargeFor(const Fragment& fragment);
  bool MakeRoom(size_t charge, const FragmentKey& keep);
  void EvictOldest(const FragmentKey& keep);
  void Fail(DatagramMap::iterator it);
  void Release(DatagramMap::iterator it);
  ReassembledDatagram Assemble(Datagram& d);

  const Limits limits_;
  IpStats& stats_;
  DatagramMap datagrams_;
  std::list<FragmentKey> age_;  // oldest first: creation order is deadline order
  size_t bytes_in_use_ = 0;
};

}  // namespace netshim
