#!/usr/bin/env bash
# --impair drops a seeded share of the frames the host sends: a ping run sees about that
# loss, and the host still answers everything that gets through. (Determinism per seed is
# shown by the unit tests, where the sequence of frames is fixed.)
source "$(dirname "$0")/lib.sh"
ns_setup
start_host --impair "tx.loss=30%,seed=11"
nsx ping -c 60 -i 0.02 -W 1 "$STACK_IP" >"$WORK/ping.txt" || true
cat "$WORK/ping.txt" | tail -n 3
got=$(grep -c "icmp_seq=" "$WORK/ping.txt" || true)
stop_host
echo "replies received: $got of 60"
[ "$got" -ge 20 ] && [ "$got" -le 57 ] || fail "30% loss gave $got of 60 replies"
[ "$(counter Icmp InEchos)" -eq 60 ] || fail "the host saw $(counter Icmp InEchos) of 60 requests (rx must be unimpaired)"
echo PASS
