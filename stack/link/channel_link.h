// An in-memory link for tests: frames a test injects come out of Poll(), frames the stack
// writes are kept for the test to inspect (or, for a pair, arrive at the peer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "stack/link/link_endpoint.h"

namespace netshim {

class ChannelLink final : public LinkEndpoint {
 public:
  // Inbound frames waiting for Poll() at most; more are dropped and counted.
  static constexpr size_t kInboundCap = 4096;
  // Written frames kept for TakeSent() at most; more are refused (Write returns false).
  static constexpr size_t kSentCap = 65536;

  explicit ChannelLink(uint32_t mtu = 1500);
  ~ChannelLink() override = default;
  ChannelLink(const ChannelLink&) = delete;
  ChannelLink& operator=(const ChannelLink&) = delete;

  // Two links joined back to back: what one writes, the other's Poll() delivers. Either may
  // be destroyed first.
  static std::pair<std::unique_ptr<ChannelLink>, std::unique_ptr<ChannelLink>> CreatePair(
      uint32_t mtu = 1500);

  // --- test side ---
  // Queues a copy of `frame` for Poll(), whatever its size or content (tests feed hostile
  // frames through here). Dropped and counted in inbound_drops() when the queue is full.
  void Inject(std::span<const uint8_t> frame);
  // Frames Write() accepted since the last call, in order, each flattened. Always empty for a
  // link created by CreatePair (its frames go to the peer).
  std::vector<std::vector<uint8_t>> TakeSent();
  // Frames waiting in TakeSent() (so 0 right after TakeSent()).
  size_t sent_count() const;
  // Frames Write() accepted over the link's lifetime.
  uint64_t total_sent() const;
  // Inbound frames waiting for Poll().
  size_t pending() const;
  // Inbound frames dropped because the queue was full.
  uint64_t inbound_drops() const;
  // Frames Write() refused: oversized, sent list full, or the peer's queue full.
  uint64_t tx_rejected() const;
  // Makes the link claim offloads, as a TAP with a virtio-net header does (before the stack
  // is built on it). Frames that use them are finished in software on Write
  // (ApplyOffloads), so what the peer or TakeSent() sees is what a wire would carry.
  void SetOffloads(LinkOffloads offloads) { offloads_ = offloads; }
  // TSO frames Write() accepted (each counted once, before it was cut up).
  uint64_t gso_frames() const;

  // --- LinkEndpoint ---
  uint32_t mtu() const override { return mtu_; }
  void Attach(FrameSink* sink) override { sink_ = sink; }
  // Refuses frames longer than mtu + 14 (+ 4 with a VLAN tag), as the TAP does, so a stack
  // that emits oversized frames fails in packet tests too.
  bool Write(TxFrame frame) override;
  size_t Poll(size_t budget) override;
  // An eventfd that polls readable exactly while inbound frames wait.
  int ReadableFd() const override;
  LinkOffloads offloads() const override { return offloads_; }

 private:
  // The inbound queue, shared with the peer of a pair so that either side may go first.
  class Inbox;

  // One finished frame onto the wire (the peer's inbox, or the sent list).
  bool WriteFlat(std::vector<uint8_t> bytes);

  const uint32_t mtu_;
  LinkOffloads offloads_;
  FrameSink* sink_ = nullptr;
  std::shared_ptr<Inbox> inbox_;
  std::shared_ptr<Inbox> peer_inbox_;  // null unless created by CreatePair

  mutable absl::Mutex mu_;
  std::deque<std::vector<uint8_t>> sent_ ABSL_GUARDED_BY(mu_);
  uint64_t total_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t tx_rejected_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gso_frames_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace netshim
