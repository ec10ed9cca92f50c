#!/usr/bin/env bash
# The kernel talks UDP to netshim-host's echo service: datagrams from 0 to 65507 bytes
# (fragmented both ways above the MTU) and a stream of 2000 come back byte for byte, and a
# closed port is refused through ICMP port unreachable.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host --udp-echo 7 --udp-echo 9007
nsx python3 "$(dirname "$0")/udp_client.py" "$STACK_IP" 7 9 | tee "$WORK/client.txt"
grep -q "ok closed port refused" "$WORK/client.txt" || fail "client did not finish"
nsx python3 - "$STACK_IP" <<'PY' || fail "the second echo port did not answer"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"second", (sys.argv[1], 9007))
assert s.recvfrom(100) == (b"second", (sys.argv[1], 9007))
PY
stop_host
cat "$HOST_OUT"
[ "$(counter Udp NoPorts)" -ge 1 ] || fail "the closed-port datagram was not counted as NoPorts"
[ "$(counter Udp InDatagrams)" -ge 2010 ] || fail "InDatagrams = $(counter Udp InDatagrams)"
[ "$(counter Icmp OutDestUnreachs)" -ge 1 ] || fail "no port unreachable sent"
echo PASS
