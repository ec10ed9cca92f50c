#!/usr/bin/env bash
# Pings of 4000 bytes do not fit a 1500-byte MTU: the kernel fragments the requests, the
# host reassembles them, and fragments its replies, which the kernel reassembles.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host

log "ping -s 4000 -c 3"
nsx ping -s 4000 -c 3 -W 2 "$STACK_IP" | tee "$WORK/ping.txt"
grep -q "3 received" "$WORK/ping.txt" || fail "expected 3 replies to 4000-byte pings"
grep -q "4008 bytes from" "$WORK/ping.txt" || fail "replies were not 4008 bytes"

log "ping -s 65507 -c 1 (the largest datagram)"
nsx ping -s 65507 -c 1 -W 3 "$STACK_IP" | tee "$WORK/ping-max.txt"
grep -q "1 received" "$WORK/ping-max.txt" || fail "no reply to a 65535-byte datagram"

stop_host
cat "$HOST_OUT"
[ "$(counter Ip ReasmOKs)" -eq 4 ] || fail "ReasmOKs = $(counter Ip ReasmOKs), want 4"
[ "$(counter Ip FragOKs)" -eq 4 ] || fail "FragOKs = $(counter Ip FragOKs), want 4"
# 4008-byte ICMP messages make 3 fragments each at MTU 1500; 65515 make 45.
[ "$(counter Ip FragCreates)" -eq $((3 * 3 + 45)) ] || fail "FragCreates = $(counter Ip FragCreates)"
[ "$(counter Ip ReasmFails)" -eq 0 ] || fail "reassembly failures"
echo PASS
