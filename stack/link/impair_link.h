// A link decorator that injects faults (loss, duplication, corruption, reordering, delay
// with jitter) in each direction, deterministically from a seed. The stand-in for `tc netem`
// on machines that lack it (NETSHIM_IMPAIR); see impair_spec.h for the spec.
//
// Each frame goes through, in netem's order:
//   loss -> duplication -> corruption (of each copy) -> delay/jitter -> reordering -> out
// Received frames are impaired before they reach the sink, sent ones before inner->Write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "stack/link/impair_spec.h"
#include "stack/link/link_endpoint.h"
#include "stack/runtime/clock.h"

namespace netshim {

// What the link did to one direction's frames.
struct ImpairCounters {
  uint64_t dropped = 0;         // lost on purpose (loss=)
  uint64_t duplicated = 0;      // extra copies made (dup=)
  uint64_t corrupted = 0;       // copies with one bit flipped (corrupt=)
  uint64_t reordered = 0;       // held back to let a later frame pass (reorder=)
  uint64_t delayed = 0;         // put in the delay line (delay=, jitter=)
  uint64_t overflow = 0;        // refused because the delay line was full
  uint64_t inner_rejected = 0;  // held TX frames that inner->Write refused on release
};

class ImpairLink final : public LinkEndpoint, private FrameSink {
 public:
  // Bounds of the delay line of each direction; frames beyond them are dropped and counted
  // in `overflow` (for TX, Write then returns false).
  static constexpr size_t kMaxHeldFrames = 4096;
  static constexpr size_t kMaxHeldBytes = 16 << 20;
  // How long a frame picked for reordering waits for a successor to overtake it.
  static constexpr absl::Duration kReorderHold = absl::Milliseconds(1);

  // `clock` must outlive the link. Received frames held in the delay line keep their pool
  // blocks, as a real delay line holds memory: size the pool for delay x rate.
  ImpairLink(std::unique_ptr<LinkEndpoint> inner, const ImpairSpec& spec, const Clock& clock);
  ~ImpairLink() override;

  uint32_t mtu() const override { return inner_->mtu(); }
  void Attach(FrameSink* sink) override;
  // True also for frames lost or held on purpose: they went "on the wire" (as netem reports
  // them). False when the delay line is full, or when the inner link refused every frame
  // this Write passed on to it.
  bool Write(TxFrame frame) override;
  // Returns what the inner link delivered to us, whether passed on, held or dropped.
  size_t Poll(size_t budget) override { return inner_->Poll(budget); }
  int ReadableFd() const override { return inner_->ReadableFd(); }
  // The earliest release time of a held frame, merged with the inner link's deadline.
  std::optional<absl::Time> NextDeadline() const override;
  // Releases every held frame due at `now` (and runs the inner link's timers).
  void OnTimer(absl::Time now) override;

  // Called (on the writing thread, without locks held) when a Write puts a frame in the delay
  // line that is due before anything else held, so a dispatcher sleeping until the old
  // NextDeadline() can be woken to re-read it.
  void SetDeadlineChangedCallback(std::function<void()> callback) override;

  ImpairCounters tx_counters() const;
  ImpairCounters rx_counters() const;
  const ImpairSpec& spec() const { return spec_; }
  LinkEndpoint& inner() { return *inner_; }

 private:
  // One direction's state. Frames are TxFrames in both directions (an RX frame is a TxFrame
  // with only a head), so one implementation serves both.
  using FrameList = absl::InlinedVector<TxFrame, 4>;
  struct HeldFrame {
    absl::Time due;
    uint64_t seq;  // arrival order, to keep FIFO among equal due times
    TxFrame frame;
  };
  class Direction {
   public:
    Direction(const ImpairDirection& config, uint64_t seed);
    bool is_noop() const { return noop_; }
    // Runs `frame` through the impairments at `now`. Appends the frames to emit now to `out`.
    // Returns false when the frame was refused (delay line full). Sets *new_earliest when the
    // frame became the earliest-due held frame.
    bool Ingress(TxFrame frame, absl::Time now, FrameList* out, bool* new_earliest);
    // Appends the frames due at `now` to `out`, in release order.
    void Release(absl::Time now, FrameList* out);
    std::optional<absl::Time> NextDue() const;
    std::optional<absl::Time> NextDueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    ImpairCounters counters() const;
    void CountInnerRejected();

   private:
    bool Chance(uint32_t ppm) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    TxFrame Corrupt(const TxFrame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    // The delay stage: holds the frame or passes it to the reorder stage. False when the
    // delay line is full.
    bool Delay(TxFrame frame, absl::Time now, FrameList* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    // The reorder stage: holds the frame back or emits it (and whatever it overtook).
    void Reorder(TxFrame frame, absl::Time now, FrameList* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

    const ImpairDirection config_;
    const bool noop_;
    mutable absl::Mutex mu_;
    std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
    // The delay line, a min-heap on (due, seq).
    std::vector<HeldFrame> delayed_ ABSL_GUARDED_BY(mu_);
    size_t delayed_bytes_ ABSL_GUARDED_BY(mu_) = 0;
    uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
    // The frame held back for reordering, released after the next frame or at its deadline.
    std::optional<TxFrame> reorder_held_ ABSL_GUARDED_BY(mu_);
    absl::Time reorder_due_ ABSL_GUARDED_BY(mu_);
    ImpairCounters counters_ ABSL_GUARDED_BY(mu_);
  };

  void DeliverFrame(PacketBuffer frame) override;
  void EmitRx(FrameList& frames);
  // Hands frames to inner->Write; true when it took at least one (or there were none).
  bool EmitTx(FrameList& frames);

  std::unique_ptr<LinkEndpoint> inner_;
  const ImpairSpec spec_;
  const Clock& clock_;
  FrameSink* sink_ = nullptr;
  Direction tx_;
  Direction rx_;
  absl::Mutex callback_mu_;
  std::function<void()> deadline_changed_ ABSL_GUARDED_BY(callback_mu_);
};

}  // namespace netshim
