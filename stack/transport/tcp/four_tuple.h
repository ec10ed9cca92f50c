// A TCP connection's identity as seen from this host.
#pragma once

#include <cstdint>

#include "absl/hash/hash.h"
#include "stack/wire/address.h"

namespace netshim {

struct FourTuple {
  Ipv4Address local_address;
  uint16_t local_port = 0;
  Ipv4Address remote_address;
  uint16_t remote_port = 0;

  friend bool operator==(const FourTuple&, const FourTuple&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const FourTuple& t) {
    return H::combine(std::move(h), t.local_address, t.local_port, t.remote_address, t.remote_port);
  }
};

}  // namespace netshim
