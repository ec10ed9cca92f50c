// A secret shared by every netshim process of one user until the machine reboots, for TCP's
// ISNs and timestamp offsets (RFC 6528, RFC 7323 7.1). Linux keys secure_tcp_seq and
// secure_tcp_ts_off once per boot, so a client that reconnects on the same 4-tuple gets a
// larger ISN and TSval than last time, and a server still holding the old connection in
// TIME-WAIT accepts the new SYN (tcp_timewait_state_process). With a fresh random secret
// in every process, a restarted program's SYN falls behind half the time, is answered
// with the old connection's ACK, and the connect waits a whole SYN retransmission (1 s).
//
// The secret lives in a file only its owner can read, on a tmpfs that a reboot clears:
// /run/netshim/tcp-secret for root, $XDG_RUNTIME_DIR/netshim-tcp-secret otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace netshim {

using BootSecret = std::array<uint8_t, 16>;

// Reads the secret at `path`, creating it (random, mode 0600) when missing; two processes
// racing to create it agree on one. nullopt (the caller then keys per process) when the
// file cannot be had, or when it is not a regular file owned by us and private to us:
// a secret someone else could read or have planted is no secret.
std::optional<BootSecret> LoadOrCreateBootSecret(const std::string& path);

// The path for this user (see above), or nullopt when there is none (no XDG_RUNTIME_DIR
// for a non-root user). Creates /run/netshim (0700) for root.
std::optional<std::string> DefaultBootSecretPath();

}  // namespace netshim
