#include "stack/net/ipv4_reassembler.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "stack/runtime/log.h"

namespace netshim {
namespace {

constexpr uint64_t kMaxDatagram = 65535;  // RFC 791: total length is 16 bits
constexpr size_t kMinHeader = 20;

// True when both windows lie in the same storage block, so holding one already pins the
// other's bytes and charging both would count the block twice.
bool SameBlock(const PacketBuffer& a, const PacketBuffer& b) {
  if (!a || !b) return false;
  return a.data() - a.headroom() == b.data() - b.headroom();
}

}  // namespace

Ipv4Reassembler::Ipv4Reassembler(Limits limits, IpStats& stats) : limits_(limits), stats_(stats) {}

size_t Ipv4Reassembler::ChargeFor(const Fragment& fragment) {
  // The payload pins its whole block (a pooled receive buffer), not just its window.
  size_t charge = fragment.payload.capacity() + kFragmentOverhead;
  if (fragment.offset == 0 && !SameBlock(fragment.header, fragment.payload)) {
    charge += fragment.header.capacity();
  }
  return charge;
}

std::optional<ReassembledDatagram> Ipv4Reassembler::Add(Fragment fragment, absl::Time now) {
  stats_.ReasmReqds.Inc();
  const uint64_t size = fragment.payload.size();
  const uint64_t offset = fragment.offset;
  const uint64_t end = offset + size;  // 64-bit: a hostile offset cannot wrap
  auto it = datagrams_.find(fragment.key);

  // The header length bounds the payload (ping of death). Until the offset-0 fragment is
  // here, assume the largest header seen so far, at least the minimum.
  size_t ihl = std::max(kMinHeader, fragment.header.size());
  if (it != datagrams_.end() && it->second.first_in) {
    ihl = std::max(ihl, it->second.header.size());
  }
  // RFC 791: offsets count 8-byte units, so every fragment but the last carries a multiple
  // of 8 bytes; an empty fragment carries nothing (Linux: "end == offset" discards the
  // queue). Linux trims an unaligned non-last fragment; we treat it as the corruption it is.
  const bool valid = size > 0 && offset % 8 == 0 && (!fragment.more_fragments || size % 8 == 0) &&
                     end + ihl <= kMaxDatagram;
  if (!valid) {
    NETSHIM_LOG(kDebug, "reassembly: bad fragment id={} offset={} size={} mf={}", fragment.key.id,
                offset, size, fragment.more_fragments);
    if (it != datagrams_.end()) {
      Fail(it);
    } else {
      stats_.ReasmFails.Inc();  // Linux creates the queue, then kills it
    }
    return std::nullopt;
  }

  if (it == datagrams_.end()) it = FindOrCreate(fragment.key, now);
  Datagram& d = it->second;
  if (!UpdateEnd(d, end, fragment.more_fragments)) {
    Fail(it);
    return std::nullopt;
  }
  switch (CheckPlacement(d, static_cast<uint32_t>(offset), static_cast<uint32_t>(end))) {
    case Insert::kDuplicate:
      return std::nullopt;  // RFC 5722 errata 3089: ignore duplicates, keep the queue
    case Insert::kOverlap:
      stats_.ReasmOverlaps.Inc();
      Fail(it);
      return std::nullopt;
    case Insert::kOk:
      break;
  }

  return Hold(it, std::move(fragment));
}

// Holds a checked, well-placed fragment; returns the datagram if it is now complete.
std::optional<ReassembledDatagram> Ipv4Reassembler::Hold(DatagramMap::iterator it,
                                                         Fragment&& fragment) {
  Datagram& d = it->second;
  const uint32_t offset = fragment.offset;
  const uint32_t size = static_cast<uint32_t>(fragment.payload.size());
  // A fragment that completes the datagram is copied out at once and never held, so it
  // needs no room (and evicts nobody). Otherwise evicting other datagrams leaves `it` and
  // `d` valid (flat_hash_map::erase does not move the remaining elements).
  const bool completes = (d.first_in || offset == 0) && d.last_in && d.meat + size == d.len;
  const size_t charge = ChargeFor(fragment);
  if (!completes && !MakeRoom(charge, fragment.key)) {
    stats_.ReasmMemoryDrops.Inc();  // this datagram alone would exceed the cap
    Fail(it);
    return std::nullopt;
  }
  if (offset == 0) {
    d.first_in = true;
    d.header = std::move(fragment.header);
  }
  d.fragments.emplace(offset, HeldFragment{offset + size, charge, std::move(fragment.payload)});
  d.meat += size;
  d.charge += charge;
  bytes_in_use_ += charge;

  // The real header may be longer than what the earlier fragments were checked against.
  if (d.first_in && d.header.size() + d.len > kMaxDatagram) {
    Fail(it);
    return std::nullopt;
  }
  if (!d.first_in || !d.last_in || d.meat != d.len) return std::nullopt;

  ReassembledDatagram out = Assemble(d);
  stats_.ReasmOKs.Inc();
  Release(it);
  return out;
}

Ipv4Reassembler::DatagramMap::iterator Ipv4Reassembler::FindOrCreate(const FragmentKey& key,
                                                                     absl::Time now) {
  while (!datagrams_.empty() && datagrams_.size() >= limits_.max_datagrams) {
    stats_.ReasmMemoryDrops.Inc();
    EvictOldest(key);
  }
  auto [it, inserted] = datagrams_.try_emplace(key);
  assert(inserted);
  Datagram& d = it->second;
  // Linux arms the timer once, when the queue is created (inet_frag_create), and never
  // extends it: a trickle of fragments cannot keep a datagram alive.
  d.deadline = now + limits_.timeout;
  d.age_it = age_.insert(age_.end(), key);
  d.charge = kDatagramOverhead;
  bytes_in_use_ += kDatagramOverhead;
  return it;
}

// Linux ip_frag_queue(): the last fragment fixes the end; data beyond it, or a second last
// fragment with another end, means corruption.
bool Ipv4Reassembler::UpdateEnd(Datagram& d, uint64_t end, bool more_fragments) {
  if (!more_fragments) {
    if (end < d.len || (d.last_in && end != d.len)) return false;
    d.last_in = true;
    d.len = static_cast<uint32_t>(end);
  } else if (end > d.len) {
    if (d.last_in) return false;
    d.len = static_cast<uint32_t>(end);
  }
  return true;
}

// Held fragments are disjoint and sorted, so only the neighbours of `offset` can meet it.
Ipv4Reassembler::Insert Ipv4Reassembler::CheckPlacement(const Datagram& d, uint32_t offset,
                                                        uint32_t end) {
  auto next = d.fragments.lower_bound(offset);
  if (next != d.fragments.end()) {
    if (next->first == offset) {
      return next->second.end == end ? Insert::kDuplicate : Insert::kOverlap;
    }
    if (next->first < end) return Insert::kOverlap;
  }
  if (next != d.fragments.begin() && std::prev(next)->second.end > offset) {
    return Insert::kOverlap;
  }
  return Insert::kOk;
}

bool Ipv4Reassembler::MakeRoom(size_t charge, const FragmentKey& keep) {
  while (bytes_in_use_ + charge > limits_.max_bytes) {
    if (datagrams_.size() <= 1) return false;  // only `keep` is left
    stats_.ReasmMemoryDrops.Inc();
    EvictOldest(keep);
  }
  return true;
}

void Ipv4Reassembler::EvictOldest(const FragmentKey& keep) {
  auto victim = age_.begin();
  if (*victim == keep) ++victim;
  assert(victim != age_.end());
  NETSHIM_LOG(kDebug, "reassembly: memory cap, evicting id={}", victim->id);
  Fail(datagrams_.find(*victim));
}

void Ipv4Reassembler::Fail(DatagramMap::iterator it) {
  stats_.ReasmFails.Inc();
  Release(it);
}

void Ipv4Reassembler::Release(DatagramMap::iterator it) {
  assert(it != datagrams_.end());
  assert(bytes_in_use_ >= it->second.charge);
  bytes_in_use_ -= it->second.charge;
  age_.erase(it->second.age_it);
  datagrams_.erase(it);
}

ReassembledDatagram Ipv4Reassembler::Assemble(Datagram& d) {
  const size_t headroom = d.header.size();
  PacketBuffer payload = PacketBuffer::Heap(headroom + d.len, headroom);
  uint8_t* out = payload.Append(d.len);
  for (const auto& [offset, frag] : d.fragments) {
    assert(frag.end <= d.len);
    std::memcpy(out + offset, frag.payload.data(), frag.payload.size());
  }
  return ReassembledDatagram{std::move(d.header), std::move(payload)};
}

std::vector<TimedOutDatagram> Ipv4Reassembler::Expire(absl::Time now) {
  std::vector<TimedOutDatagram> out;
  while (!age_.empty()) {
    auto it = datagrams_.find(age_.front());
    Datagram& d = it->second;
    if (d.deadline > now) break;
    // Linux ip_expire(): counts every expiry, but answers only when the first fragment
    // arrived (RFC 1122 3.3.2: "if fragment zero has not been received", no ICMP).
    stats_.ReasmTimeout.Inc();
    stats_.ReasmFails.Inc();
    if (d.first_in) {
      const PacketBuffer& first = d.fragments.begin()->second.payload;
      out.push_back(TimedOutDatagram{it->first, std::move(d.header),
                                     first.Slice(0, std::min<size_t>(8, first.size()))});
    }
    Release(it);
  }
  return out;
}

std::optional<absl::Time> Ipv4Reassembler::NextDeadline() const {
  if (age_.empty()) return std::nullopt;
  return datagrams_.find(age_.front())->second.deadline;
}

}  // namespace netshim
