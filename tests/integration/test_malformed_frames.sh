#!/usr/bin/env bash
# A burst of hostile frames from the kernel side: the host drops and counts them, does not
# crash, and keeps answering pings.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host
nsx ping -c 1 -W 2 "$STACK_IP" >/dev/null || fail "no reply before the burst"

log "injecting malformed frames"
sent=$(nsx python3 "$(dirname "$0")/inject_malformed.py" "$TAP" "$HOST_MAC" "$KERNEL_IP" "$STACK_IP" 20)
echo "sent $sent frames"
[ "$sent" -gt 500 ] || fail "only $sent frames could be sent"

log "ping -c 3 after the burst"
nsx ping -c 3 -W 2 "$STACK_IP" | tee "$WORK/ping.txt"
grep -q "3 received" "$WORK/ping.txt" || fail "host stopped answering after malformed frames"
kill -0 "$HOST_PID" || fail "host died"

stop_host
cat "$HOST_OUT"
for c in "Ip InHdrErrors" "Ip InCsumErrors" "Ip InTruncatedPkts" "Ip InAddrErrors" \
         "Ip InUnknownProtos" "Ip ReasmFails" "Ip ReasmOverlaps" "Icmp InCsumErrors" \
         "Link RxUnknownEtherType" "Link RxErrors" "Arp InErrors" "Icmp OutDestUnreachs"; do
  v=$(counter $c)
  [ "$v" -gt 0 ] || fail "counter $c is $v: that kind of bad frame was not counted"
done
echo PASS
