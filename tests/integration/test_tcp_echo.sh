#!/usr/bin/env bash
# The kernel talks TCP to netshim-host's echo service through the TAP: 100 MiB streamed both
# ways at once on one connection, then 50 connections at once echoing 1 MiB each, all byte
# for byte (sha256), and 20 fresh connections each echoing a few bytes at once (a small
# first write must not wait for anything). Every connection ends gracefully: the client's
# FIN (shutdown SHUT_WR) comes back as EOF after the last byte, then the service's FIN, so
# the kernel's socket ends in TIME-WAIT (a RST would leave none).
source "$(dirname "$0")/lib.sh"
ns_setup
start_host --tcp-echo 7
client="$(dirname "$0")/tcp_client.py"
timeout 200 ip netns exec "$NS" python3 "$client" echo "$STACK_IP" 7 --bytes 100M \
  --deadline 180 | tee "$WORK/bulk.txt" || fail "the 100 MiB echo failed"
grep -q "^ok echo" "$WORK/bulk.txt" || fail "the 100 MiB echo did not finish"
timeout 100 ip netns exec "$NS" python3 "$client" echo "$STACK_IP" 7 --bytes 1M --conns 50 \
  --deadline 90 | tee "$WORK/many.txt" || fail "the 50 concurrent echoes failed"
grep -q "^ok echo" "$WORK/many.txt" || fail "the 50 concurrent echoes did not finish"
timeout 60 ip netns exec "$NS" python3 "$client" small "$STACK_IP" 7 --conns 20 --timeout 2 \
  | tee "$WORK/small.txt" || fail "small writes were held back"
timewait=$(nsx ss -Htan state time-wait dst "$STACK_IP:7" | wc -l)
echo "kernel sockets in TIME-WAIT: $timewait"
[ "$timewait" -eq 71 ] || fail "$timewait of 71 connections closed gracefully (TIME-WAIT)"
stop_host
cat "$HOST_OUT"
[ "$(counter TcpEcho:7 Accepted)" -eq 71 ] || fail "Accepted = $(counter TcpEcho:7 Accepted)"
[ "$(counter TcpEcho:7 PeerCloses)" -eq 71 ] || fail "PeerCloses = $(counter TcpEcho:7 PeerCloses)"
[ "$(counter TcpEcho:7 Resets)" -eq 0 ] || fail "the service saw $(counter TcpEcho:7 Resets) resets"
want=$((100 * 1048576 + 50 * 1048576 + 150))  # + "small 0" .. "small 19"
[ "$(counter TcpEcho:7 OutBytes)" -eq "$want" ] || fail "OutBytes = $(counter TcpEcho:7 OutBytes), want $want"
echo PASS
