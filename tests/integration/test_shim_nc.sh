#!/usr/bin/env bash
# OpenBSD nc under the shim against kernel nc, both roles:
#   TCP: 3 MiB each way at once, each side shutting down its sending half at its input's
#        end (-N), so both see EOF after the last byte and exit 0. (nc -l quits once its
#        peer's half is closed even if it has more to send, so the client's input ends
#        only when it has received everything: see feed.)
#   UDP: a datagram each way (nc -u), the server answering the client's address.
source "$(dirname "$0")/lib.sh"
require_programs nc
shim_setup

head -c $((3 * 1048576)) /dev/urandom >"$WORK/a.bin"
head -c $((3 * 1048576 + 12345)) /dev/urandom >"$WORK/b.bin"
a=$(sha "$WORK/a.bin")
b=$(sha "$WORK/b.bin")
b_size=$(stat -c %s "$WORK/b.bin")

log "TCP: nc under the shim connects to kernel nc -l"
kernel_bg "$WORK/k1.log" bash -c "nc -l -N $KERNEL_IP 5000 <'$WORK/b.bin' >'$WORK/k1.out'"
kpid=$BG_PID
wait_for 10 kernel_listening "$KERNEL_IP:5000"
feed "$WORK/a.bin" "$WORK/s1.out" "$b_size" | shim_run -- nc -N "$KERNEL_IP" 5000 >"$WORK/s1.out" ||
  fail "nc under the shim exited with $?"
wait_exit 30 "$kpid"
[ "$WAIT_RC" -eq 0 ] || fail "kernel nc exited with $WAIT_RC"
[ "$(sha "$WORK/k1.out")" = "$a" ] || fail "kernel nc received other bytes"
[ "$(sha "$WORK/s1.out")" = "$b" ] || fail "nc under the shim received other bytes"
echo "ok: client under the shim, 3 MiB each way, EOF both ways"

log "TCP: kernel nc connects to nc -l under the shim"
shim_bg "$WORK/s2.log" -- bash -c "exec nc -n -v -l -N 5001 <'$WORK/b.bin' >'$WORK/s2.out'"
spid=$SHIM_PID
wait_for 10 grep -q "Listening on" "$WORK/s2.log"
feed "$WORK/a.bin" "$WORK/k2.out" "$b_size" |
  timeout 60 ip netns exec "$NS" nc -N "$STACK_IP" 5001 >"$WORK/k2.out" ||
  fail "kernel nc exited with $?"
wait_exit 30 "$spid"
[ "$WAIT_RC" -eq 0 ] || fail "nc -l under the shim exited with $WAIT_RC"
[ "$(sha "$WORK/s2.out")" = "$a" ] || fail "nc -l under the shim received other bytes"
[ "$(sha "$WORK/k2.out")" = "$b" ] || fail "kernel nc received other bytes"
echo "ok: server under the shim, 3 MiB each way, EOF both ways"

# The sleeps only pace the input: each server answers once the client's datagram came.
log "UDP: nc -u under the shim talks to kernel nc -u -l"
kernel_bg "$WORK/k3.log" bash -c \
  "(sleep 1; echo from-kernel-server; sleep 2) | timeout 5 nc -u -l $KERNEL_IP 5002 >'$WORK/k3.out'"
kpid=$BG_PID
wait_for 10 bash -c "ip netns exec $NS ss -Hlun 'sport = :5002' | grep -q ."
(echo from-shim-client; sleep 2) | shim_run -- nc -u -w 1 "$KERNEL_IP" 5002 >"$WORK/s3.out" ||
  fail "nc -u under the shim exited with $?"
wait_exit 10 "$kpid"
grep -qx from-shim-client "$WORK/k3.out" || fail "the kernel server got: $(cat "$WORK/k3.out")"
grep -qx from-kernel-server "$WORK/s3.out" || fail "the shim client got: $(cat "$WORK/s3.out")"
echo "ok: UDP client under the shim"

log "UDP: kernel nc -u talks to nc -u -l under the shim"
shim_bg "$WORK/s4.log" -- bash -c \
  "(sleep 1; echo from-shim-server; sleep 2) | exec timeout 5 nc -n -v -u -l 5003 >'$WORK/s4.out'"
spid=$SHIM_PID
wait_for 10 grep -q "Bound on" "$WORK/s4.log"
(echo from-kernel-client; sleep 2) |
  timeout 10 ip netns exec "$NS" nc -u -w 1 "$STACK_IP" 5003 >"$WORK/k4.out" ||
  fail "kernel nc -u exited with $?"
wait_exit 10 "$spid"
grep -qx from-kernel-client "$WORK/s4.out" || fail "the shim server got: $(cat "$WORK/s4.out")"
grep -qx from-shim-server "$WORK/k4.out" || fail "the kernel client got: $(cat "$WORK/k4.out")"
echo "ok: UDP server under the shim"
echo PASS
