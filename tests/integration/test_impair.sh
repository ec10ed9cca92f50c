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

# A delay in both directions holds frames in the injector's delay line; the dispatcher must
# wake for them (they are released by its timers), so every reply comes, each at least
# 2 x 20 ms after its request.
start_host --impair "delay=20ms"
nsx ping -c 5 -i 0.05 -W 2 "$STACK_IP" >"$WORK/ping-delay.txt" || true
cat "$WORK/ping-delay.txt" | tail -n 2
stop_host
grep -q "5 received" "$WORK/ping-delay.txt" || fail "delayed replies were lost"
min=$(sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/.*|\1|p' "$WORK/ping-delay.txt")
awk -v m="$min" 'BEGIN { exit !(m >= 40) }' || fail "minimum RTT $min ms is below the 40 ms of injected delay"
echo PASS
