#include "stack/wire/ethernet.h"

#include <algorithm>
#include <cassert>

#include "stack/wire/bytes.h"

namespace netshim {

std::optional<EthernetHeader> EthernetHeader::Parse(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeaderSize) return std::nullopt;
  EthernetHeader h;
  std::copy_n(frame.data(), 6, h.dst.bytes.begin());
  std::copy_n(frame.data() + 6, 6, h.src.bytes.begin());
  h.ether_type = Load16(frame.data() + 12);
  if (h.ether_type < 0x0600) return std::nullopt;  // 802.3 length field: not Ethernet II
  return h;
}

void EthernetHeader::Write(std::span<uint8_t> out) const {
  assert(out.size() >= kEthernetHeaderSize);
  std::copy(dst.bytes.begin(), dst.bytes.end(), out.data());
  std::copy(src.bytes.begin(), src.bytes.end(), out.data() + 6);
  Store16(out.data() + 12, ether_type);
}

}  // namespace netshim
