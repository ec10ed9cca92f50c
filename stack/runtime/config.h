// The stack's configuration, read once from the environment (DESIGN.md "Configuration").
//
// Every variable is optional on its own; an empty value counts as unset. A bad value is an
// error of one line naming the variable, the value and what was expected, e.g.
//   NETSHIM_MTU="abc" is invalid: expected an integer from 576 to 65521
// so the shim can print it and stop at startup.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "stack/runtime/log.h"
#include "stack/wire/address.h"

namespace netshim {

struct Config {
  // Which stack serves connections to 127.0.0.0/8: the kernel's (the default, so local
  // services keep working) or ours.
  enum class Loopback { kKernel, kStack };
  // Who resolves names: our stack (DNS queries go out of the TAP) or the kernel.
  enum class Dns { kStack, kKernel };

  // NETSHIM_TAP: the TAP device to open, e.g. "tap0". Exclusive with tap_fd.
  std::optional<std::string> tap;
  // NETSHIM_TAP_FD: an already attached TAP fd inherited from the launcher.
  std::optional<int> tap_fd;
  // NETSHIM_ADDR: our address and subnet, e.g. 198.18.0.2/24.
  std::optional<Ipv4Cidr> addr;
  // NETSHIM_GW: the default gateway, inside addr's subnet.
  std::optional<Ipv4Address> gateway;
  // NETSHIM_MAC: our MAC; DefaultMacFor(addr) when unset.
  std::optional<MacAddress> mac;
  // NETSHIM_MTU.
  uint32_t mtu = 1500;
  // NETSHIM_LOG.
  LogLevel log_level = LogLevel::kWarn;
  // NETSHIM_LOG_FILE: log here instead of stderr.
  std::optional<std::string> log_file;
  // NETSHIM_PCAP: capture every frame to this file.
  std::optional<std::string> pcap;
  // NETSHIM_IMPAIR: fault injection spec, checked by the impairment parser.
  std::string impair;
  // NETSHIM_STATS: publish counters.
  bool stats = false;
  // NETSHIM_OFFLOAD: TSO and checksum offload through the TAP's virtio-net header where the
  // kernel allows them (on), or plain MTU-sized frames checksummed here (off).
  bool offload = true;
  // NETSHIM_CALLER_POLL: an application thread that blocks takes frames off the link itself
  // (on), or always leaves them to the dispatch thread (off).
  bool caller_poll = true;
  // NETSHIM_THREADS: dispatch threads.
  uint32_t threads = 1;
  // NETSHIM_LOOPBACK.
  Loopback loopback = Loopback::kKernel;
  // NETSHIM_DNS.
  Dns dns = Dns::kStack;
  // NETSHIM_EXIT_TIMEOUT: how long exit waits for sockets to finish sending.
  absl::Duration exit_timeout = absl::Seconds(10);
  // NETSHIM_ACK_HOLD: how long an ACK may wait for the application's reply to carry it
  // (TcpConfig::ack_hold_time); 0: never.
  absl::Duration ack_hold = absl::Milliseconds(5);
};

// Limits, exposed for tests and the launcher's help text.
//
// MTU: 576 is the datagram size every IPv4 host must accept (RFC 791 p.13, RFC 1122
// 3.3.2), so it is the smallest link MTU on which the default TCP MSS of 536 (RFC 1122
// 4.2.2.6) travels unfragmented. 65521 is the largest MTU Linux lets a TAP device have:
// MAX_MTU (65535) minus the 14-byte Ethernet header (drivers/net/tun.c, tun_net_initialize).
inline constexpr uint32_t kMinMtu = 576;
inline constexpr uint32_t kMaxMtu = 65521;
inline constexpr uint32_t kMaxThreads = 64;
inline constexpr absl::Duration kMaxExitTimeout = absl::Seconds(3600);
// Under the smallest retransmission timeout (200 ms): a held ACK must never cost the peer
// a retransmission.
inline constexpr absl::Duration kMaxAckHold = absl::Milliseconds(100);
// The longest value accepted for any variable: PATH_MAX (4096) with its terminating NUL.
inline constexpr size_t kMaxConfigValueLength = 4095;

// Reads every NETSHIM_* variable through `getenv` (::getenv in production, a fake in
// tests); returns the first invalid one as an InvalidArgument error.
absl::StatusOr<Config> ParseConfig(const std::function<const char*(const char*)>& getenv);

// Fails (FailedPrecondition, naming the variable) unless the config says how to reach the
// network: a TAP (NETSHIM_TAP or NETSHIM_TAP_FD) and an address (NETSHIM_ADDR).
absl::Status RequireLinkConfig(const Config& config);

// The MAC used when NETSHIM_MAC is unset: 02:4e:a:b:c:d for address a.b.c.d. 0x02 marks a
// locally administered unicast address (IEEE 802 U/L bit set, I/G bit clear), 0x4e is 'N'
// for netshim, and the last four bytes are the IPv4 address, so a program restarted on the
// same address comes back with the same MAC and peers' ARP caches stay right.
MacAddress DefaultMacFor(Ipv4Address address);

}  // namespace netshim
