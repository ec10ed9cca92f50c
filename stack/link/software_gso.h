// What a NIC (or the kernel's GSO) does with a frame that asks for offloads, done in
// software on a flat copy: finishes a partial checksum, and cuts a TSO frame into MTU-sized
// TCP/IPv4 segments with their headers fixed up as Linux's tcp_gso_segment and
// inet_gso_segment do. The in-memory test link uses it to act as an offloading NIC, so the
// metadata the stack hands a real TAP is checked by a peer stack in the packet tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/buffer/tx_frame.h"

namespace netshim {

// The frames that go on the wire for `frame` (a whole Ethernet frame) and `offload`:
// one frame with its checksum finished, or the segments of a TSO frame. nullopt when the
// frame does not hold what the offload claims (offsets outside it, GSO on something that
// is not TCP/IPv4, headers cut short), which a device would refuse.
std::optional<std::vector<std::vector<uint8_t>>> ApplyOffloads(std::span<const uint8_t> frame,
                                                               const TxOffload& offload);

}  // namespace netshim
