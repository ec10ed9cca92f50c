// TCP's tunables, with Linux's sysctl defaults (Documentation/networking/ip-sysctl.rst).
// One value per stack; sockets read it, never change it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace netshim {

struct TcpConfig {
  int syn_retries = 6;     // net.ipv4.tcp_syn_retries: ~127 s before ETIMEDOUT
  int synack_retries = 5;  // net.ipv4.tcp_synack_retries
  int retries2 = 15;       // net.ipv4.tcp_retries2: RTOs before an established one gives up
  int orphan_retries = 8;  // net.ipv4.tcp_orphan_retries (0 means 8)
  absl::Duration fin_timeout = absl::Seconds(60);       // net.ipv4.tcp_fin_timeout (orphans)
  absl::Duration time_wait = absl::Seconds(60);         // TCP_TIMEWAIT_LEN
  size_t max_time_wait = 16384;                         // net.ipv4.tcp_max_tw_buckets (scaled)
  bool syncookies = true;                               // net.ipv4.tcp_syncookies = 1
  int somaxconn = 4096;                                 // net.core.somaxconn
  int rmem_default = 131072;                            // tcp_rmem[1]
  int rmem_max = 6291456;                               // tcp_rmem[2]: autotuning's ceiling
  int wmem_default = 16384;                             // tcp_wmem[1]
  int wmem_max = 4194304;                               // tcp_wmem[2]
  int core_rmem_max = 212992;                           // net.core.rmem_max: SO_RCVBUF's ceiling
  int core_wmem_max = 212992;                           // net.core.wmem_max: SO_SNDBUF's ceiling
  absl::Duration keepalive_time = absl::Seconds(7200);  // tcp_keepalive_time
  absl::Duration keepalive_intvl = absl::Seconds(75);   // tcp_keepalive_intvl
  int keepalive_probes = 9;                             // tcp_keepalive_probes
  absl::Duration delayed_ack = absl::Milliseconds(40);  // TCP_DELACK_MIN, our one delay
  uint32_t quickack_segments = 16;                      // TCP_MAX_QUICKACKS
  std::string congestion = "cubic";                     // tcp_congestion_control
  size_t max_ofo_segments = 4096;
  // How long a holder's polls keep an ACK held for a reply to carry while the application
  // has not read what it acknowledges (TcpProtocol's held ACKs); zero: hold none. Well
  // under the 40 ms a delayed ACK may wait.
  absl::Duration ack_hold_time = absl::Milliseconds(5);
  // The key of ISNs and timestamp offsets (RFC 6528); random per stack when unset. Programs
  // pass the boot secret (stack/runtime/boot_secret.h) so restarts keep ISNs increasing.
  std::optional<std::array<uint8_t, 16>> secret;
};

}  // namespace netshim
