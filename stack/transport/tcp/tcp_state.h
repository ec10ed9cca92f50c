// The states of RFC 9293 3.3.2, numbered as Linux numbers them (include/net/tcp_states.h)
// because getsockopt(TCP_INFO) reports tcpi_state with these values.
#pragma once

#include <cstdint>
#include <string_view>

namespace netshim {

enum class TcpState : uint8_t {
  kEstablished = 1,
  kSynSent = 2,
  kSynReceived = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClosed = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
};

constexpr std::string_view TcpStateName(TcpState s) {
  switch (s) {
    case TcpState::kEstablished: return "ESTABLISHED";
    case TcpState::kSynSent: return "SYN-SENT";
    case TcpState::kSynReceived: return "SYN-RECEIVED";
    case TcpState::kFinWait1: return "FIN-WAIT-1";
    case TcpState::kFinWait2: return "FIN-WAIT-2";
    case TcpState::kTimeWait: return "TIME-WAIT";
    case TcpState::kClosed: return "CLOSED";
    case TcpState::kCloseWait: return "CLOSE-WAIT";
    case TcpState::kLastAck: return "LAST-ACK";
    case TcpState::kListen: return "LISTEN";
    case TcpState::kClosing: return "CLOSING";
  }
  return "?";
}

// RFC 9293 3.3.2: the states after the handshake, where sequence numbers are synchronized.
constexpr bool IsSynchronized(TcpState s) {
  return s != TcpState::kClosed && s != TcpState::kListen && s != TcpState::kSynSent;
}

}  // namespace netshim
