#!/usr/bin/env bash
# TCP through a lossy, reordering, delaying link: netshim-host runs with 2% loss, 1% reorder
# and 2 ms delay in both directions (unprefixed impair keys apply to both), and a stream
# through its echo service still comes back byte for byte, both ways at once.
source "$(dirname "$0")/lib.sh"
ns_setup
: "${TCP_IMPAIRED_BYTES:=100M}"
start_host --tcp-echo 7 --impair "loss=2%,reorder=1%,delay=2ms"
timeout 230 ip netns exec "$NS" python3 "$(dirname "$0")/tcp_client.py" echo "$STACK_IP" 7 \
  --bytes "$TCP_IMPAIRED_BYTES" --deadline 220 | tee "$WORK/echo.txt" || fail "the echo failed"
grep -q "^ok echo" "$WORK/echo.txt" || fail "the echo did not finish"
stop_host
cat "$HOST_OUT"
[ "$(counter TcpEcho:7 PeerCloses)" -eq 1 ] || fail "the connection did not end with FIN"
if [ "$(counter Tcp InSegs)" -gt 0 ]; then  # the stack's Tcp counters, when printed
  [ "$(counter Tcp RetransSegs)" -gt 0 ] || fail "2% loss and no retransmission?"
fi
echo PASS
