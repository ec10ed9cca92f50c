// A link decorator that records every frame in and out to a pcap file (NETSHIM_PCAP).
#pragma once

#include <memory>
#include <optional>

#include "stack/link/link_endpoint.h"
#include "stack/link/pcap_writer.h"

namespace netshim {

class PcapLink final : public LinkEndpoint, private FrameSink {
 public:
  PcapLink(std::unique_ptr<LinkEndpoint> inner, std::unique_ptr<PcapWriter> writer);

  uint32_t mtu() const override { return inner_->mtu(); }
  void Attach(FrameSink* sink) override;
  // Records the frame, then hands it on. Like a capture on Linux (dev_queue_xmit_nit runs
  // before the driver), the file shows what the stack sent even if the link then drops it.
  bool Write(TxFrame frame) override;
  size_t Poll(size_t budget) override { return inner_->Poll(budget); }
  int ReadableFd() const override { return inner_->ReadableFd(); }
  LinkOffloads offloads() const override { return inner_->offloads(); }
  std::optional<absl::Time> NextDeadline() const override { return inner_->NextDeadline(); }
  void OnTimer(absl::Time now) override { inner_->OnTimer(now); }
  void SetDeadlineChangedCallback(std::function<void()> callback) override {
    inner_->SetDeadlineChangedCallback(std::move(callback));
  }

  LinkEndpoint& inner() { return *inner_; }
  PcapWriter& writer() { return *writer_; }

 private:
  // Frames the inner link received: recorded, then passed to our sink.
  void DeliverFrame(PacketBuffer frame) override;

  std::unique_ptr<LinkEndpoint> inner_;
  std::unique_ptr<PcapWriter> writer_;
  FrameSink* sink_ = nullptr;
};

}  // namespace netshim
