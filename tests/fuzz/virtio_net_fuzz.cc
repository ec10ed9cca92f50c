// The virtio-net header a TAP puts in front of every frame when offloads are on, and the
// offload work a frame may ask of a link: arbitrary bytes as header + frame. The header is
// classified against the frame (what TapLink does on receive); whatever is accepted with a
// partial checksum must be finishable in place; and the same fields, taken as a transmit
// request, go through the software GSO the test link uses, whose segments must each carry
// at most gso_size payload bytes and be no longer than the frame's headers plus that.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stack/link/software_gso.h"
#include "stack/wire/virtio_net.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netshim;
  if (size < kVirtioNetHeaderSize) return 0;
  const VirtioNetHeader header = VirtioNetHeader::Parse(
      std::span<const uint8_t, kVirtioNetHeaderSize>(data, kVirtioNetHeaderSize));
  std::vector<uint8_t> frame(data + kVirtioNetHeaderSize, data + size);

  const RxOffloadVerdict verdict = ClassifyRxOffload(header, frame.size());
  if (verdict != RxOffloadVerdict::kDrop && (header.flags & VirtioNetHeader::kNeedsCsum)) {
    FUZZ_CHECK(CompletePartialChecksum(frame, header.csum_start, header.csum_offset));
  }

  TxOffload offload;
  offload.needs_checksum = (header.flags & VirtioNetHeader::kNeedsCsum) != 0;
  offload.csum_start = header.csum_start;
  offload.csum_offset = header.csum_offset;
  offload.gso_size = header.gso_size;
  const auto wire = ApplyOffloads(frame, offload);
  if (wire) {
    FUZZ_CHECK(!wire->empty());
    if (offload.gso_size == 0) {
      FUZZ_CHECK(wire->size() == 1 && (*wire)[0].size() == frame.size());
    } else if (wire->size() > 1) {
      // Every segment is the same headers (H bytes) plus its share of the payload, the
      // shares adding up to the frame's payload: sum = n*H + (frame - H).
      const size_t n = wire->size();
      size_t sum = 0;
      for (const std::vector<uint8_t>& seg : *wire) sum += seg.size();
      FUZZ_CHECK(sum >= frame.size() && (sum - frame.size()) % (n - 1) == 0);
      const size_t headers = (sum - frame.size()) / (n - 1);
      for (size_t i = 0; i < n; ++i) {
        const size_t share = (*wire)[i].size() - headers;
        FUZZ_CHECK(share > 0 && share <= offload.gso_size);
        if (i + 1 < n) FUZZ_CHECK(share == offload.gso_size);  // only the last is short
      }
    }
  }
  return 0;
}
