#!/usr/bin/env bash
# ping -f -c 1000: a flood of echo requests, each answered; none lost.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host

log "ping -f -c 1000"
nsx timeout 60 ping -f -c 1000 -W 2 "$STACK_IP" | tee "$WORK/ping.txt"
grep -q "1000 packets transmitted, 1000 received" "$WORK/ping.txt" || fail "flood lost replies"

stop_host
[ "$(counter Icmp OutEchoReps)" -eq 1000 ] || fail "OutEchoReps = $(counter Icmp OutEchoReps)"
echo PASS
