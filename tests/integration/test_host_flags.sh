#!/usr/bin/env bash
# netshim-host rejects bad flags and values with exit 2 and one clear line naming the flag.
# Needs no root: every case fails before a device is touched.
set -uo pipefail
: "${NETSHIM_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
bin="$NETSHIM_BUILD/tools/netshim-host"
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_error() {  # expect_error <pattern> <args...>
  local pattern=$1; shift
  local out rc
  out=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] || fail "'$*' exited $rc, want 2 (stderr: $out)"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $out"
  printf '%s\n' "$out" | grep -qE -- "$pattern" || fail "'$*' said '$out', want /$pattern/"
  echo "ok: $* -> $out"
}

"$bin" --help | grep -q -- "--addr CIDR" || fail "--help does not document --addr"
expect_error "unknown argument" --bogus
expect_error "--tap needs a value" --tap
expect_error "--tap is required" --addr 198.18.0.2/24
expect_error "--addr is required" --tap t0
expect_error '--addr.*300\.1\.1\.1' --tap t0 --addr 300.1.1.1/24
expect_error '--mtu.*"abc"' --tap t0 --addr 198.18.0.2/24 --mtu abc
expect_error '--mtu.*"70000"' --tap t0 --addr 198.18.0.2/24 --mtu 70000
expect_error '--mac' --tap t0 --addr 198.18.0.2/24 --mac ff:ff:ff:ff:ff:ff
expect_error '--gw' --tap t0 --addr 198.18.0.2/24 --gw 10.0.0.1
expect_error '--log' --tap t0 --addr 198.18.0.2/24 --log loud
expect_error 'loss' --tap t0 --addr 198.18.0.2/24 --impair loss=2
expect_error "given twice" --tap t0 --tap t1
expect_error "--udp-echo \"0\" is invalid" --tap t0 --addr 198.18.0.2/24 --udp-echo 0
expect_error "--udp-echo \"70000\" is invalid" --tap t0 --addr 198.18.0.2/24 --udp-echo 70000
expect_error "--udp-echo needs a value" --tap t0 --udp-echo
echo PASS
