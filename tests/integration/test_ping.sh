#!/usr/bin/env bash
# The kernel pings netshim-host across the TAP: replies come back, the kernel learns the
# host's MAC through ARP, and the host's counters agree with what was sent.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host

log "ping -c 3"
nsx ping -c 3 -W 2 "$STACK_IP" | tee "$WORK/ping.txt"
grep -q "3 received" "$WORK/ping.txt" || fail "expected 3 replies"

log "ip neigh shows the host's MAC ($HOST_MAC)"
nsx ip neigh show "$STACK_IP" dev "$TAP" | tee "$WORK/neigh.txt"
grep -q "lladdr $HOST_MAC" "$WORK/neigh.txt" || fail "kernel neighbor entry lacks $HOST_MAC"

stop_host
cat "$HOST_OUT"
[ "$(counter Icmp InEchos)" -eq 3 ] || fail "InEchos = $(counter Icmp InEchos), want 3"
[ "$(counter Icmp OutEchoReps)" -eq 3 ] || fail "OutEchoReps != 3"
[ "$(counter Arp InRequests)" -ge 1 ] || fail "the kernel's ARP request was not counted"
[ "$(counter Arp OutReplies)" -ge 1 ] || fail "no ARP reply counted"
[ "$(counter Arp OutGratuitous)" -ge 1 ] || fail "no gratuitous ARP at start"
echo PASS
