#include "stack/wire/virtio_net.h"

#include "stack/wire/bytes.h"
#include "stack/wire/checksum.h"

namespace netshim {
namespace {

uint16_t LoadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void StoreLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

}  // namespace

VirtioNetHeader VirtioNetHeader::Parse(std::span<const uint8_t, kVirtioNetHeaderSize> bytes) {
  VirtioNetHeader h;
  h.flags = bytes[0];
  h.gso_type = bytes[1];
  h.hdr_len = LoadLe16(&bytes[2]);
  h.gso_size = LoadLe16(&bytes[4]);
  h.csum_start = LoadLe16(&bytes[6]);
  h.csum_offset = LoadLe16(&bytes[8]);
  return h;
}

void VirtioNetHeader::Write(std::span<uint8_t, kVirtioNetHeaderSize> out) const {
  out[0] = flags;
  out[1] = gso_type;
  StoreLe16(&out[2], hdr_len);
  StoreLe16(&out[4], gso_size);
  StoreLe16(&out[6], csum_start);
  StoreLe16(&out[8], csum_offset);
}

VirtioNetHeader VirtioNetHeader::ForTransmit(const TxOffload& offload, size_t headers_size) {
  VirtioNetHeader h;
  if (offload.needs_checksum) {
    h.flags = kNeedsCsum;
    h.csum_start = offload.csum_start;
    h.csum_offset = offload.csum_offset;
  }
  if (offload.gso_size != 0) {
    // Linux virtio_net_hdr_to_skb needs NEEDS_CSUM with GSO (the segments' checksums are
    // computed from it) and takes hdr_len as a hint for the linear part.
    h.gso_type = kGsoTcpV4;
    h.gso_size = offload.gso_size;
    h.hdr_len = static_cast<uint16_t>(headers_size);
  }
  return h;
}

RxOffloadVerdict ClassifyRxOffload(const VirtioNetHeader& header, size_t frame_size) {
  const uint8_t gso = header.gso_type & static_cast<uint8_t>(~VirtioNetHeader::kGsoEcn);
  const bool needs_csum = (header.flags & VirtioNetHeader::kNeedsCsum) != 0;
  if (needs_csum) {
    // The checksum field (2 bytes at csum_start + csum_offset) must lie inside the frame.
    const size_t field = size_t{header.csum_start} + header.csum_offset;
    if (field + 2 > frame_size) return RxOffloadVerdict::kDrop;
  }
  if (gso != VirtioNetHeader::kGsoNone) {
    // We enable TSO4 only (TUNSETOFFLOAD); anything else was not ours to receive.
    if (gso != VirtioNetHeader::kGsoTcpV4 || header.gso_size == 0 || !needs_csum) {
      return RxOffloadVerdict::kDrop;
    }
  }
  if (needs_csum || (header.flags & VirtioNetHeader::kDataValid) != 0) {
    return RxOffloadVerdict::kChecksumTrusted;
  }
  return RxOffloadVerdict::kPlain;
}

bool CompletePartialChecksum(std::span<uint8_t> frame, uint16_t csum_start, uint16_t csum_offset) {
  const size_t field = size_t{csum_start} + csum_offset;
  if (csum_start > frame.size() || field + 2 > frame.size()) return false;
  // The field holds the pseudo-header sum, so summing over it gives the whole checksum.
  // A result of 0 goes out as 0xffff (Linux skb_checksum_help's CSUM_MANGLED_0): the same
  // number in one's complement, and to UDP 0 would mean "no checksum" (RFC 768).
  const uint16_t sum = ChecksumFinish(ChecksumAdd(frame.subspan(csum_start)));
  Store16(&frame[field], sum == 0 ? 0xffff : sum);
  return true;
}

}  // namespace netshim
