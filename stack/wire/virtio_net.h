// The virtio-net header a TAP opened with IFF_VNET_HDR puts in front of every frame
// (struct virtio_net_hdr, Virtio 1.2 5.1.6; Linux include/uapi/linux/virtio_net.h): how the
// kernel asks us to finish a checksum or tells us it checked one, and how we hand it a TCP
// segment longer than the MTU to cut up (GSO). Fields are little-endian, as for a modern
// virtio device and for a TAP on a little-endian host (TUNSETVNETLE is not needed there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/buffer/tx_frame.h"

namespace netshim {

inline constexpr size_t kVirtioNetHeaderSize = 10;  // without num_buffers

struct VirtioNetHeader {
  static constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  static constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
  static constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
  static constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
  static constexpr uint8_t kGsoUdp = 3;     // VIRTIO_NET_HDR_GSO_UDP (UFO)
  static constexpr uint8_t kGsoTcpV6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
  static constexpr uint8_t kGsoUdpL4 = 5;   // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
  static constexpr uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN

  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;  // bytes of headers in front of the payload (a hint)
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;

  static VirtioNetHeader Parse(std::span<const uint8_t, kVirtioNetHeaderSize> bytes);
  void Write(std::span<uint8_t, kVirtioNetHeaderSize> out) const;

  // The header for a frame we send: a partial checksum and TSO as TxOffload asks.
  // `headers_size` is the Ethernet + IPv4 + TCP header length (hdr_len).
  static VirtioNetHeader ForTransmit(const TxOffload& offload, size_t headers_size);
};

// What a received frame's header means for the stack.
enum class RxOffloadVerdict {
  kPlain,            // nothing to do: verify checksums as usual
  kChecksumTrusted,  // NEEDS_CSUM or DATA_VALID: the transport checksum need not be checked
  kDrop,             // a header the stack cannot honour (bad offsets, GSO we never enabled)
};
// Checks a received header against the frame it came with. GSO frames are accepted only as
// TCP/IPv4 (all TUNSETOFFLOAD enables) with a partial checksum inside the frame.
RxOffloadVerdict ClassifyRxOffload(const VirtioNetHeader& header, size_t frame_size);

// Finishes a partial checksum in a flat frame, as a device would: the one's complement sum
// from csum_start to the end, stored at csum_start + csum_offset. False (frame untouched)
// when the offsets do not fit the frame.
bool CompletePartialChecksum(std::span<uint8_t> frame, uint16_t csum_start, uint16_t csum_offset);

}  // namespace netshim
