#include "stack/link/pcap_link.h"

#include <utility>

namespace netshim {

PcapLink::PcapLink(std::unique_ptr<LinkEndpoint> inner, std::unique_ptr<PcapWriter> writer)
    : inner_(std::move(inner)), writer_(std::move(writer)) {}

void PcapLink::Attach(FrameSink* sink) {
  sink_ = sink;
  inner_->Attach(this);
}

bool PcapLink::Write(TxFrame frame) {
  writer_->Record(frame);
  return inner_->Write(std::move(frame));
}

void PcapLink::DeliverFrame(PacketBuffer frame) {
  writer_->Record(frame.span());
  if (sink_ != nullptr) sink_->DeliverFrame(std::move(frame));
}

}  // namespace netshim
