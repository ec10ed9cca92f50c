#include "stack/transport/tcp/reassembly_queue.h"

#include <algorithm>
#include <iterator>

namespace netshim {

ReassemblyQueue::ReassemblyQueue(uint32_t rcv_nxt) : ReassemblyQueue(rcv_nxt, Limits()) {}

ReassemblyQueue::ReassemblyQueue(uint32_t rcv_nxt, Limits limits)
    : limits_(limits), rcv_nxt_(rcv_nxt) {
  limits_.max_segments = std::max<size_t>(limits_.max_segments, 1);
}

void ReassemblyQueue::Reset(uint32_t rcv_nxt) {
  segments_.clear();
  ranges_.clear();
  bytes_ = 0;
  base_ = 0;
  rcv_nxt_ = rcv_nxt;
}

void ReassemblyQueue::SetMaxBytes(size_t max_bytes) {
  limits_.max_bytes = max_bytes;
  InsertResult ignored;
  while (bytes_ > limits_.max_bytes) EvictTop(&ignored);
}

ReassemblyQueue::InsertResult ReassemblyQueue::Insert(uint32_t seq, PacketBuffer payload) {
  InsertResult result;
  if (payload.empty()) return result;
  auto note_duplicate = [&](Pos start, Pos end) {
    if (end <= start) return;
    result.duplicate_bytes += static_cast<uint32_t>(end - start);
    if (!result.dsack) result.dsack = SackBlock{SeqOf(start), SeqOf(end)};
  };

  Pos start = PosOf(seq);
  Pos end = start + static_cast<Pos>(payload.size());
  // Already delivered (RFC 9293: a retransmission; Linux sends a D-SACK for it).
  if (end <= base_) {
    result.duplicate_bytes = static_cast<uint32_t>(payload.size());
    result.dsack = SackBlock{seq, static_cast<uint32_t>(seq + payload.size())};
    result.in_order = !segments_.empty() && segments_.begin()->first == base_;
    return result;
  }
  if (start < base_) {
    note_duplicate(start, base_);
    start = base_;
  }
  const Pos touch_start = start, touch_end = end;

  // Data held just below `start` that overlaps it.
  auto next = segments_.upper_bound(start);
  if (next != segments_.begin()) {
    const auto prev = std::prev(next);
    const Pos prev_end = prev->first + static_cast<Pos>(prev->second.size());
    if (prev_end >= end) {  // wholly held already
      note_duplicate(start, end);
      Touch(touch_start, touch_end);  // RFC 2883 4.1.2: its block is reported next
      result.in_order = segments_.begin()->first == base_;
      return result;
    }
    if (prev_end > start) {
      note_duplicate(start, prev_end);
      start = prev_end;
    }
  }
  // Segments inside [start, end) are replaced; one overlapping the end trims ours.
  auto last = segments_.lower_bound(start);
  size_t covered_bytes = 0, covered_count = 0;
  while (last != segments_.end() && last->first < end) {
    const Pos seg_end = last->first + static_cast<Pos>(last->second.size());
    if (seg_end > end) {
      note_duplicate(last->first, end);
      end = last->first;
      break;
    }
    note_duplicate(last->first, seg_end);
    covered_bytes += last->second.size();
    ++covered_count;
    ++last;
  }
  const size_t piece = static_cast<size_t>(end - start);
  const size_t new_bytes = piece - covered_bytes;
  if (new_bytes == 0) {  // the held segments already fill it: keep them
    Touch(touch_start, touch_end);
    result.in_order = segments_.begin()->first == base_;
    return result;
  }
  // Room: the new bytes, and the segment count after the covered ones go.
  if (!MakeRoom(end, new_bytes, covered_count, &result)) {
    result.dropped_bytes = static_cast<uint32_t>(new_bytes);
    result.in_order = !segments_.empty() && segments_.begin()->first == base_;
    return result;
  }
  // Eviction may have removed segments at or above `end`: look the covered ones up again.
  bytes_ -= covered_bytes;
  segments_.erase(segments_.lower_bound(start), segments_.lower_bound(end));
  payload = payload.Slice(static_cast<size_t>(start - PosOf(seq)), piece);
  segments_.emplace(start, std::move(payload));
  bytes_ += piece;
  result.new_bytes = static_cast<uint32_t>(new_bytes);
  Touch(touch_start, std::min(touch_end, TopOfHeld()));
  result.in_order = segments_.begin()->first == base_;
  return result;
}

ReassemblyQueue::Pos ReassemblyQueue::TopOfHeld() const {
  if (segments_.empty()) return base_;
  const auto& top = *segments_.rbegin();
  return top.first + static_cast<Pos>(top.second.size());
}

bool ReassemblyQueue::MakeRoom(Pos above, size_t bytes, size_t freed_segments,
                               InsertResult* result) {
  auto over = [&](size_t evict_bytes, size_t evict_segments) {
    const size_t held_bytes = bytes_ - evict_bytes;
    const size_t held_segments = segments_.size() - freed_segments - evict_segments;
    return held_bytes + bytes > limits_.max_bytes || held_segments + 1 > limits_.max_segments;
  };
  // Count what evicting from the top (never below `above`) would free.
  size_t evict_bytes = 0, evict_segments = 0;
  for (auto it = segments_.rbegin(); over(evict_bytes, evict_segments); ++it) {
    if (it == segments_.rend() || it->first < above) return false;
    evict_bytes += it->second.size();
    ++evict_segments;
  }
  for (size_t i = 0; i < evict_segments; ++i) EvictTop(result);
  return true;
}

void ReassemblyQueue::EvictTop(InsertResult* result) {
  if (segments_.empty()) return;
  auto top = std::prev(segments_.end());
  const size_t size = top->second.size();
  const Pos start = top->first;
  bytes_ -= size;
  result->evicted_bytes += static_cast<uint32_t>(size);
  segments_.erase(top);
  TrimRangesAbove(start);
}

void ReassemblyQueue::TrimRangesAbove(Pos pos) {
  auto it = ranges_.lower_bound(pos);
  ranges_.erase(it, ranges_.end());
  if (!ranges_.empty()) {
    Range& last = ranges_.rbegin()->second;
    last.end = std::min(last.end, pos);
  }
}

void ReassemblyQueue::Touch(Pos start, Pos end) {
  if (end <= start) return;
  // Ranges that overlap or touch [start, end] merge into one.
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin() && std::prev(it)->second.end >= start) --it;
  Pos merged_start = start, merged_end = end;
  while (it != ranges_.end() && it->first <= end) {
    merged_start = std::min(merged_start, it->first);
    merged_end = std::max(merged_end, it->second.end);
    it = ranges_.erase(it);
  }
  ranges_[merged_start] = Range{merged_end, ++clock_};
}

size_t ReassemblyQueue::PopInOrder(absl::FunctionRef<void(PacketBuffer)> sink) {
  size_t delivered = 0;
  while (!segments_.empty() && segments_.begin()->first == base_) {
    auto node = segments_.extract(segments_.begin());
    const size_t size = node.mapped().size();
    base_ += static_cast<Pos>(size);
    rcv_nxt_ += static_cast<uint32_t>(size);
    bytes_ -= size;
    delivered += size;
    sink(std::move(node.mapped()));
  }
  if (delivered > 0) DropBelow(base_);
  return delivered;
}

void ReassemblyQueue::Advance(uint32_t n) {
  base_ += n;
  rcv_nxt_ += n;
  DropBelow(base_);
}

void ReassemblyQueue::DropBelow(Pos pos) {
  while (!segments_.empty() && segments_.begin()->first < pos) {
    auto node = segments_.extract(segments_.begin());
    PacketBuffer& data = node.mapped();
    const Pos seg_end = node.key() + static_cast<Pos>(data.size());
    if (seg_end <= pos) {
      bytes_ -= data.size();
      continue;
    }
    const size_t cut = static_cast<size_t>(pos - node.key());
    data.Consume(cut);
    bytes_ -= cut;
    node.key() = pos;
    segments_.insert(std::move(node));
    break;
  }
  while (!ranges_.empty() && ranges_.begin()->first < pos) {
    auto node = ranges_.extract(ranges_.begin());
    if (node.mapped().end <= pos) continue;
    node.key() = pos;
    ranges_.insert(std::move(node));
    break;
  }
}

size_t ReassemblyQueue::SackBlocks(std::span<SackBlock> out) const {
  struct Entry {
    uint64_t touched;
    Pos start, end;
  };
  std::vector<Entry> entries;
  entries.reserve(ranges_.size());
  for (const auto& [start, range] : ranges_) entries.push_back({range.touched, start, range.end});
  const size_t n = std::min(out.size(), entries.size());
  std::partial_sort(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(n), entries.end(),
                    [](const Entry& a, const Entry& b) { return a.touched > b.touched; });
  for (size_t i = 0; i < n; ++i) out[i] = SackBlock{SeqOf(entries[i].start), SeqOf(entries[i].end)};
  return n;
}

}  // namespace netshim
