#!/usr/bin/env bash
# Two programs under the shim, each with its own stack on its own TAP, the TAPs joined by a
# Linux bridge in the namespace: stack to stack through the kernel's bridge, no kernel
# socket in the path.
#   198.18.0.2 (TAP $TAP)  <-- bridge nsbr0 (198.18.0.1) -->  198.18.0.3 (TAP nstap1)
#   1. nc -l under the shim on .3 <-> nc under the shim on .2: a few MiB each way at once,
#      both half-closing at their input's end (-N), bytes verified both ways;
#   2. python3 -m http.server under the shim on .3 <- curl under the shim on .2 (http_get.py
#      with the ASan build, see lib.sh): a 20 MiB file, sha256 verified.
source "$(dirname "$0")/lib.sh"
require_programs nc
shim_setup
TAP_B=nstap1
BRIDGE=nsbr0
IP_B=198.18.0.3

# The kernel's address moves from the TAP to the bridge; both TAPs become its ports.
nsx ip addr flush dev "$TAP"
nsx ip tuntap add dev "$TAP_B" mode tap
nsx ip link add "$BRIDGE" type bridge
nsx ip link set "$TAP" master "$BRIDGE"
nsx ip link set "$TAP_B" master "$BRIDGE"
nsx ip addr add "$KERNEL_IP/24" dev "$BRIDGE"
nsx ip link set "$TAP_B" up
nsx ip link set "$BRIDGE" up
# With STP off (a new bridge's default) a port forwards as soon as its TAP has carrier,
# i.e. once a stack has opened it.

# shim_bg_b <log> -- <program...>: shim_bg on the second TAP as $IP_B.
shim_bg_b() { SHIM_TAP=$TAP_B SHIM_IP=$IP_B shim_bg "$@"; }

head -c $((3 * 1048576)) /dev/urandom >"$WORK/a.bin"
head -c $((3 * 1048576 + 4321)) /dev/urandom >"$WORK/b.bin"
b_size=$(stat -c %s "$WORK/b.bin")

log "nc under the shim ($STACK_IP) <-> nc -l under the shim ($IP_B), through the bridge"
shim_bg_b "$WORK/nc_b.log" -- bash -c "exec nc -n -v -l -N 5000 <'$WORK/b.bin' >'$WORK/b.out'"
nc_b=$SHIM_PID
wait_for 10 grep -q "Listening on" "$WORK/nc_b.log"
feed "$WORK/a.bin" "$WORK/a.out" "$b_size" | shim_run -- nc -N "$IP_B" 5000 >"$WORK/a.out" ||
  fail "nc under the shim exited with $?"
wait_exit 30 "$nc_b"
[ "$WAIT_RC" -eq 0 ] || fail "nc -l under the shim exited with $WAIT_RC"
[ "$(sha "$WORK/b.out")" = "$(sha "$WORK/a.bin")" ] || fail "nc -l received other bytes"
[ "$(sha "$WORK/a.out")" = "$(sha "$WORK/b.bin")" ] || fail "nc received other bytes"
echo "ok: 3 MiB each way between two stacks, EOF both ways"

log "python3 -m http.server under the shim ($IP_B) <- HTTP GET under the shim ($STACK_IP)"
mkdir "$WORK/www"
head -c $((20 * 1048576)) /dev/urandom >"$WORK/www/file.bin"
shim_bg_b "$WORK/http_b.log" -- "$SHIM_PYTHON" -u -m http.server --bind "$IP_B" \
  --directory "$WORK/www" 8000
http_b=$SHIM_PID
wait_for 15 grep -q "Serving HTTP" "$WORK/http_b.log"
shim_run -- "${HTTP_GET[@]}" -o "$WORK/file.out" "http://$IP_B:8000/file.bin" \
  >"$WORK/get.log" 2>&1 || {
  rc=$?
  cat "$WORK/get.log"
  fail "the HTTP client under the shim exited with $rc"
}
[ "$(sha "$WORK/file.out")" = "$(sha "$WORK/www/file.bin")" ] ||
  fail "the file came back different ($(stat -c %s "$WORK/file.out") bytes)"
kill -0 "$http_b" || fail "http.server under the shim died"
echo "ok: 20 MiB over HTTP between two stacks, sha256 matches"
echo PASS
