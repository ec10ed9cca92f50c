#include "stack/link/impair_link.h"

#include <algorithm>
#include <utility>

namespace netshim {
namespace {

constexpr size_t kEthernetHeader = 14;

// SplitMix64 (Steele et al., "Fast splittable pseudorandom number generators"): turns the
// one user seed into well-separated seeds for the two directions' generators.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Heap order for the delay line: std::push_heap keeps the largest first, so "larger" is
// "due later" (ties broken by arrival).
bool DueLater(const auto& a, const auto& b) {
  return a.due != b.due ? a.due > b.due : a.seq > b.seq;
}

}  // namespace

ImpairLink::Direction::Direction(const ImpairDirection& config, uint64_t seed)
    : config_(config), noop_(config.IsNoop()), rng_(SplitMix64(seed)) {}

bool ImpairLink::Direction::Chance(uint32_t ppm) {
  if (ppm == 0) return false;
  // A plain modulo rather than std::uniform_int_distribution, whose algorithm differs between
  // standard libraries: the same seed must give the same run everywhere. The bias, 2^64 mod
  // 10^6 over 2^64, is far below anything a test could see.
  return rng_() % ImpairDirection::kMillion < ppm;
}

TxFrame ImpairLink::Direction::Corrupt(const TxFrame& frame) {
  // Frames share their buffers with the stack (a retransmission queue, a duplicate), so the
  // flip goes into a private copy. Only bytes after the Ethernet header are hit, so that the
  // frame still reaches the layer whose checksum should catch it.
  std::vector<uint8_t> bytes = frame.Flatten();
  if (bytes.size() <= kEthernetHeader) return frame;
  const uint64_t bit = rng_() % ((bytes.size() - kEthernetHeader) * 8);
  bytes[kEthernetHeader + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  ++counters_.corrupted;
  return TxFrame(PacketBuffer::CopyOf(bytes));
}

bool ImpairLink::Direction::Ingress(TxFrame frame, absl::Time now, FrameList* out,
                                    bool* new_earliest) {
  absl::MutexLock lock(&mu_);
  const std::optional<absl::Time> before = NextDueLocked();
  if (Chance(config_.loss_ppm)) {
    ++counters_.dropped;
    return true;
  }
  FrameList copies;
  copies.push_back(std::move(frame));
  if (Chance(config_.dup_ppm)) {
    copies.push_back(copies.front());  // shares the bytes; Corrupt() copies before changing
    ++counters_.duplicated;
  }
  bool accepted = true;
  for (size_t i = 0; i < copies.size(); ++i) {
    if (Chance(config_.corrupt_ppm)) copies[i] = Corrupt(copies[i]);
    // The caller learns the fate of its own frame, not of the duplicate.
    const bool ok = Delay(std::move(copies[i]), now, out);
    if (i == 0) accepted = ok;
  }
  const std::optional<absl::Time> after = NextDueLocked();
  *new_earliest = after.has_value() && (!before.has_value() || *after < *before);
  return accepted;
}

bool ImpairLink::Direction::Delay(TxFrame frame, absl::Time now, FrameList* out) {
  absl::Duration wait = config_.delay;
  if (config_.jitter > absl::ZeroDuration()) {
    // netem's default: uniform in [delay - jitter, delay + jitter].
    const uint64_t j = static_cast<uint64_t>(absl::ToInt64Nanoseconds(config_.jitter));
    const int64_t offset = static_cast<int64_t>(rng_() % (2 * j + 1)) - static_cast<int64_t>(j);
    wait = std::max(absl::ZeroDuration(), wait + absl::Nanoseconds(offset));
  }
  if (wait == absl::ZeroDuration()) {
    Reorder(std::move(frame), now, out);
    return true;
  }
  const size_t size = frame.size();
  if (delayed_.size() >= kMaxHeldFrames || delayed_bytes_ + size > kMaxHeldBytes) {
    ++counters_.overflow;
    return false;
  }
  delayed_.push_back(HeldFrame{now + wait, next_seq_++, std::move(frame)});
  std::push_heap(delayed_.begin(), delayed_.end(), DueLater<HeldFrame, HeldFrame>);
  delayed_bytes_ += size;
  ++counters_.delayed;
  return true;
}

void ImpairLink::Direction::Reorder(TxFrame frame, absl::Time now, FrameList* out) {
  if (reorder_held_.has_value()) {
    // The frame overtakes the one held back, which follows it at once.
    out->push_back(std::move(frame));
    out->push_back(std::move(*reorder_held_));
    reorder_held_.reset();
    ++counters_.reordered;
    return;
  }
  if (Chance(config_.reorder_ppm)) {
    reorder_held_ = std::move(frame);
    reorder_due_ = now + kReorderHold;
    return;
  }
  out->push_back(std::move(frame));
}

void ImpairLink::Direction::Release(absl::Time now, FrameList* out) {
  absl::MutexLock lock(&mu_);
  // Events are replayed in time order, so the result does not depend on how late the timer
  // fired: a held-back frame whose hold ran out before a delayed frame came due goes first.
  while (true) {
    const bool delayed_due = !delayed_.empty() && delayed_.front().due <= now;
    const bool held_due = reorder_held_.has_value() && reorder_due_ <= now &&
                          (!delayed_due || reorder_due_ <= delayed_.front().due);
    if (held_due) {
      out->push_back(std::move(*reorder_held_));
      reorder_held_.reset();
    } else if (delayed_due) {
      std::pop_heap(delayed_.begin(), delayed_.end(), DueLater<HeldFrame, HeldFrame>);
      HeldFrame held = std::move(delayed_.back());
      delayed_.pop_back();
      delayed_bytes_ -= held.frame.size();
      Reorder(std::move(held.frame), held.due, out);
    } else {
      break;
    }
  }
}

std::optional<absl::Time> ImpairLink::Direction::NextDueLocked() const {
  std::optional<absl::Time> due;
  if (!delayed_.empty()) due = delayed_.front().due;
  if (reorder_held_.has_value() && (!due || reorder_due_ < *due)) due = reorder_due_;
  return due;
}

std::optional<absl::Time> ImpairLink::Direction::NextDue() const {
  absl::MutexLock lock(&mu_);
  return NextDueLocked();
}

ImpairCounters ImpairLink::Direction::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

void ImpairLink::Direction::CountInnerRejected() {
  absl::MutexLock lock(&mu_);
  ++counters_.inner_rejected;
}

ImpairLink::ImpairLink(std::unique_ptr<LinkEndpoint> inner, const ImpairSpec& spec,
                       const Clock& clock)
    : inner_(std::move(inner)),
      spec_(spec),
      clock_(clock),
      // Separate generators per direction: what the stack sends (from any thread) must not
      // change what happens to what it receives, or runs would not repeat.
      tx_(spec.tx, spec.seed_or_default() ^ 0x7478),    // "tx"
      rx_(spec.rx, spec.seed_or_default() ^ 0x7278) {}  // "rx"

ImpairLink::~ImpairLink() = default;

void ImpairLink::Attach(FrameSink* sink) {
  sink_ = sink;
  inner_->Attach(this);
}

void ImpairLink::SetDeadlineChangedCallback(std::function<void()> callback) {
  absl::MutexLock lock(&callback_mu_);
  deadline_changed_ = std::move(callback);
}

bool ImpairLink::Write(TxFrame frame) {
  if (tx_.is_noop()) return inner_->Write(std::move(frame));
  FrameList out;
  bool new_earliest = false;
  const bool accepted = tx_.Ingress(std::move(frame), clock_.Now(), &out, &new_earliest);
  const bool written = EmitTx(out);
  if (new_earliest) {
    absl::ReaderMutexLock lock(&callback_mu_);
    if (deadline_changed_) deadline_changed_();
  }
  return accepted && written;
}

void ImpairLink::DeliverFrame(PacketBuffer frame) {
  if (rx_.is_noop()) {
    if (sink_ != nullptr) sink_->DeliverFrame(std::move(frame));
    return;
  }
  FrameList out;
  bool new_earliest = false;  // we run on the dispatcher, which reads NextDeadline() next
  rx_.Ingress(TxFrame(std::move(frame)), clock_.Now(), &out, &new_earliest);
  EmitRx(out);
}

std::optional<absl::Time> ImpairLink::NextDeadline() const {
  std::optional<absl::Time> due = inner_->NextDeadline();
  for (const Direction* d : {&tx_, &rx_}) {
    const std::optional<absl::Time> mine = d->NextDue();
    if (mine && (!due || *mine < *due)) due = mine;
  }
  return due;
}

void ImpairLink::OnTimer(absl::Time now) {
  inner_->OnTimer(now);
  FrameList out;
  tx_.Release(now, &out);
  EmitTx(out);
  out.clear();
  rx_.Release(now, &out);
  EmitRx(out);
}

void ImpairLink::EmitRx(FrameList& frames) {
  for (TxFrame& frame : frames) {
    if (sink_ != nullptr) sink_->DeliverFrame(std::move(frame.head));
  }
}

bool ImpairLink::EmitTx(FrameList& frames) {
  bool any = frames.empty();
  for (TxFrame& frame : frames) {
    if (inner_->Write(std::move(frame))) {
      any = true;
    } else {
      tx_.CountInnerRejected();
    }
  }
  return any;
}

ImpairCounters ImpairLink::tx_counters() const { return tx_.counters(); }
ImpairCounters ImpairLink::rx_counters() const { return rx_.counters(); }

}  // namespace netshim
