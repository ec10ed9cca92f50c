// Two stacks joined back to back by an in-memory link (optionally impaired on one side,
// which impairs both directions), on one manual clock: TCP end to end, deterministic and
// fast, with time jumping straight to the next deadline whenever both stacks are idle.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "stack/link/impair_spec.h"
#include "stack/link/link_endpoint.h"
#include "stack/runtime/clock.h"
#include "stack/socket/socket.h"
#include "stack/stack.h"

namespace netshim::testing {

class TcpPair {
 public:
  // `impair`: a NETSHIM_IMPAIR spec applied to stack A's link ("" for none). `offloads`:
  // what both links claim (an impaired link claims none), finished in software on the
  // way, as an offloading NIC would.
  explicit TcpPair(const std::string& impair = "", StackOptions base = {},
                   LinkOffloads offloads = {});
  ~TcpPair();

  Stack& a() { return *a_; }
  Stack& b() { return *b_; }
  ManualClock& clock() { return clock_; }
  static Ipv4Address AddressA();
  static Ipv4Address AddressB();

  // Processes frames and timers until `done` returns true; when both stacks are idle the
  // clock jumps to the next deadline. Gives up (false) after `limit` of simulated time or
  // when nothing at all is pending.
  bool RunUntil(const std::function<bool()>& done, absl::Duration limit = absl::Minutes(5));
  // One round: frames and due timers on both sides; true if a frame moved.
  bool Step();

  // A connected pair of sockets: a listener on B accepts what A connects.
  struct Connection {
    std::shared_ptr<Socket> client;    // on A
    std::shared_ptr<Socket> server;    // on B
    std::shared_ptr<Socket> listener;  // on B
  };
  Connection Connect(uint16_t port = 5000);

 private:
  ManualClock clock_;
  std::unique_ptr<Stack> a_;
  std::unique_ptr<Stack> b_;
};

// Non-blocking helpers over the socket API.
ssize_t SendBytes(Socket& s, const uint8_t* data, size_t len, int flags = 0);
ssize_t RecvBytes(Socket& s, uint8_t* data, size_t len, int flags = 0);
std::shared_ptr<Socket> NewTcpSocket(Stack& stack);

}  // namespace netshim::testing
