#!/usr/bin/env bash
# AF_INET6 under the shim: dual-stack sockets served by the IPv4 stack, v4-mapped addresses.
#   iperf3 -s with no -4 (it binds [::] with IPV6_V6ONLY off) <- kernel iperf3 -c, both
#   directions; a python AF_INET6 server on [::] <- a kernel IPv4 client (accept, getpeername
#   and getsockname show ::ffff:...; sha256 checked); a python AF_INET6 client ->
#   ::ffff:198.18.0.1 (a kernel server; both directions sha256 checked); native IPv6 refused
#   as by a host without an IPv6 route (ENETUNREACH), ::1 is the kernel's loopback; UDP echo
#   through mapped addresses (fragmented datagrams too, recvfrom and recvmsg); an
#   IPV6_V6ONLY socket next to an IPv4 one on the same port (it becomes the kernel's);
#   redis-server with its default "bind * -::*".
source "$(dirname "$0")/lib.sh"
require_programs iperf3
shim_setup

HELPER="$(cd "$(dirname "$0")" && pwd)/dualstack.py"
export SHIM_TIMEOUT=60

# clean <log...>: nothing from the sanitizers of an ASan/UBSan shim.
clean() { ! grep -H -E "runtime error|Sanitizer" "$@" || fail "sanitizer report in $*"; }
# has <file> <line>: the helper printed exactly this line.
has() { grep -qxF -- "$2" "$1" || { cat "$1"; fail "$(basename "$1") lacks: $2"; }; }

head -c $((2 * 1048576 + 777)) /dev/urandom >"$WORK/a.bin"
head -c $((1048576 + 4321)) /dev/urandom >"$WORK/b.bin"
a=$(sha "$WORK/a.bin")
b=$(sha "$WORK/b.bin")

log "iperf3 -s under the shim without -4; kernel iperf3 -c, both directions"
CHECK="$WORK/check_iperf3.py"
cat >"$CHECK" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
if "error" in r:
    sys.exit(f"iperf3 reported an error: {r['error']}")
sent, received = r["end"]["sum_sent"]["bytes"], r["end"]["sum_received"]["bytes"]
if sent <= 0 or received <= 0:
    sys.exit(f"sent {sent}, received {received}")
print(f"{sent} bytes sent, {received} received")
PY
for dir in forward reverse; do
  flags=()
  [ $dir = reverse ] && flags=(-R)
  shim_bg "$WORK/iperf3-$dir-server.log" -- iperf3 --rcv-timeout 10000 --forceflush -s -1 -p 5201
  spid=$SHIM_PID
  wait_for 10 grep -q "Server listening" "$WORK/iperf3-$dir-server.log"
  # The stack serves it: the kernel has no listener of its own there.
  ! nsx ss -Hltn 'sport = :5201' | grep -q . || fail "a kernel socket listens on 5201"
  rc=0
  timeout 40 ip netns exec "$NS" iperf3 --connect-timeout 5000 -c "$STACK_IP" -p 5201 -t 2 \
    --json "${flags[@]}" >"$WORK/iperf3-$dir.json" 2>"$WORK/iperf3-$dir.log" || rc=$?
  [ $rc -eq 0 ] || { cat "$WORK/iperf3-$dir.json"; fail "kernel iperf3 -c ${flags[*]} exited $rc"; }
  wait_exit 20 "$spid"
  [ "$WAIT_RC" -eq 0 ] || fail "iperf3 -s under the shim exited with $WAIT_RC"
  "$SHIM_PYTHON" "$CHECK" "$WORK/iperf3-$dir.json" || fail "iperf3 $dir: see above"
  grep -q "Accepted connection from .*$KERNEL_IP" "$WORK/iperf3-$dir-server.log" ||
    fail "iperf3 -s did not log the kernel's address"
  clean "$WORK/iperf3-$dir-server.log"
  echo "ok: iperf3 -s on [::] under the shim, $dir"
done

log "python AF_INET6 server on [::] under the shim; kernel IPv4 client"
shim_bg "$WORK/server.log" -- "$SHIM_PYTHON" "$HELPER" server 6001 "$WORK/server.out"
spid=$SHIM_PID
wait_for 10 grep -qx ready "$WORK/server.log"
timeout 60 ip netns exec "$NS" "$SHIM_PYTHON" "$HELPER" kernel-client "$STACK_IP" 6001 \
  "$WORK/a.bin" >"$WORK/kclient.log" 2>&1 || { cat "$WORK/kclient.log"; fail "kernel client"; }
wait_exit 30 "$spid"
[ "$WAIT_RC" -eq 0 ] || fail "the AF_INET6 server under the shim exited with $WAIT_RC"
has "$WORK/server.log" "listener: family AF_INET6 SO_DOMAIN 10 V6ONLY 0 name ('::', 6001)"
has "$WORK/server.log" "accepted from: ::ffff:$KERNEL_IP len 4"
has "$WORK/server.log" "peername: ::ffff:$KERNEL_IP"
has "$WORK/server.log" "sockname: ::ffff:$STACK_IP"
has "$WORK/server.log" "conn: family AF_INET6 SO_DOMAIN 10 V6ONLY 0"
[ "$(sha "$WORK/server.out")" = "$a" ] || fail "the server under the shim received other bytes"
has "$WORK/kclient.log" "reply: $a"
clean "$WORK/server.log"
echo "ok: AF_INET6 server, kernel IPv4 client shown as ::ffff:$KERNEL_IP, sha256 equal"

log "python AF_INET6 client under the shim -> ::ffff:$KERNEL_IP (kernel server)"
kernel_bg "$WORK/kserver.log" "$SHIM_PYTHON" "$HELPER" kernel-server 6002 "$WORK/b.bin" \
  "$WORK/kserver.out"
kpid=$BG_PID
wait_for 10 grep -qx ready "$WORK/kserver.log"
shim_run -- "$SHIM_PYTHON" "$HELPER" client "::ffff:$KERNEL_IP" 6002 "$WORK/a.bin" \
  "$WORK/client.out" >"$WORK/client.log" 2>&1 || { cat "$WORK/client.log"; fail "client"; }
wait_exit 30 "$kpid"
[ "$WAIT_RC" -eq 0 ] || fail "the kernel server exited with $WAIT_RC"
has "$WORK/kserver.log" "kernel accepted from: $STACK_IP"
has "$WORK/client.log" "peername: ::ffff:$KERNEL_IP"
has "$WORK/client.log" "sockname: ::ffff:$STACK_IP"
has "$WORK/client.log" "conn: family AF_INET6 SO_DOMAIN 10 V6ONLY 0"
[ "$(sha "$WORK/kserver.out")" = "$a" ] || fail "the kernel server received other bytes"
[ "$(sha "$WORK/client.out")" = "$b" ] || fail "the client under the shim received other bytes"
has "$WORK/client.log" "connect 2001:db8::1: ENETUNREACH"
has "$WORK/client.log" "connect ::1: ECONNREFUSED"
has "$WORK/client.log" "bind ::1: ok, port nonzero"
has "$WORK/client.log" "sendto 2001:db8::1: ENETUNREACH"
clean "$WORK/client.log"
echo "ok: AF_INET6 client to a mapped address, sha256 equal both ways; native IPv6 refused"

log "UDP: AF_INET6 socket under the shim <-> kernel echo, through mapped addresses"
kernel_bg "$WORK/kecho.log" "$SHIM_PYTHON" "$HELPER" kernel-udp-echo 6003
wait_for 10 grep -qx ready "$WORK/kecho.log"
shim_run -- "$SHIM_PYTHON" "$HELPER" udp-client "::ffff:$KERNEL_IP" 6003 >"$WORK/udp.log" 2>&1 ||
  { cat "$WORK/udp.log"; fail "UDP client"; }
grep -qE "^udp: family AF_INET6 SO_DOMAIN 10 V6ONLY 0 name \('::', [1-9][0-9]*\)$" \
  "$WORK/udp.log" || { cat "$WORK/udp.log"; fail "udp.log: the socket on [::]"; }
for size in 1 1000 8000 65000; do
  has "$WORK/udp.log" "udp echo: $size bytes from ::ffff:$KERNEL_IP port 6003"
done
has "$WORK/udp.log" "udp connected peer: ::ffff:$KERNEL_IP name: ::ffff:$STACK_IP"
has "$WORK/udp.log" "udp recvmsg from: ::ffff:$KERNEL_IP"
clean "$WORK/udp.log"
echo "ok: UDP echo through v4-mapped addresses"

log "IPV6_V6ONLY [::]:6004 next to 0.0.0.0:6004 under the shim"
shim_bg "$WORK/v6only.log" -- "$SHIM_PYTHON" "$HELPER" v6only 6004
spid=$SHIM_PID
wait_for 10 grep -qx ready "$WORK/v6only.log"
# The IPv6-only socket is the kernel's now; the IPv4 one is the stack's.
nsx ss -Hltn 'sport = :6004' | grep -q '\[::\]:6004' || fail "no kernel listener on [::]:6004"
timeout 30 ip netns exec "$NS" "$SHIM_PYTHON" "$HELPER" kernel-client "$STACK_IP" 6004 \
  /dev/null >"$WORK/v6only-client.log" 2>&1 || { cat "$WORK/v6only-client.log"; fail "client"; }
wait_exit 20 "$spid"
[ "$WAIT_RC" -eq 0 ] || { cat "$WORK/v6only.log"; fail "the v6only program exited $WAIT_RC"; }
has "$WORK/v6only.log" "v6only: family AF_INET6 SO_DOMAIN 10 V6ONLY 1 REUSEADDR 1"
has "$WORK/v6only.log" "v4 accepted from: $KERNEL_IP"
has "$WORK/v6only.log" "accept on the IPv6-only socket: EAGAIN"
has "$WORK/v6only-client.log" "reply: served by the IPv4 socket"
clean "$WORK/v6only.log"
echo "ok: an IPv6-only socket and an IPv4 one share a port"

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  log "redis-server under the shim with its default bind (* -::*); kernel redis-cli"
  # --protected-mode no: redis answers only loopback clients without a password.
  shim_bg "$WORK/redis.log" -- redis-server --port 6390 --save "" --appendonly no \
    --protected-mode no --dir "$WORK"
  rpid=$SHIM_PID
  wait_for 20 grep -q "Ready to accept connections" "$WORK/redis.log"
  ! grep -q "Could not create server TCP listening socket" "$WORK/redis.log" ||
    { cat "$WORK/redis.log"; fail "redis could not listen on one of its addresses"; }
  # Its IPV6_V6ONLY listener is the kernel's.
  nsx ss -Hltn 'sport = :6390' | grep -q '\[::\]:6390' || fail "no kernel listener on [::]:6390"
  rcli() { timeout 10 ip netns exec "$NS" redis-cli -h "$STACK_IP" -p 6390 "$@"; }
  [ "$(rcli ping)" = PONG ] || fail "redis-cli ping"
  [ "$(rcli set dualstack yes)" = OK ] || fail "redis-cli set"
  [ "$(rcli get dualstack)" = yes ] || fail "redis-cli get"
  kill -TERM "$rpid"
  wait_exit 20 "$rpid"
  [ "$WAIT_RC" -eq 0 ] || { cat "$WORK/redis.log"; fail "redis-server exited with $WAIT_RC"; }
  clean "$WORK/redis.log"
  echo "ok: redis-server with both its default listeners"
else
  echo "skipped: redis (not installed)"
fi
echo PASS
