#!/usr/bin/env bash
# The kernel sends 100 MiB to netshim-host's discard service, which reads it all and closes
# with FIN when the client has (never RST), and reads 100 MiB from the chargen service,
# checking every byte against the RFC 864 pattern.
source "$(dirname "$0")/lib.sh"
ns_setup
start_host --tcp-discard 9 --tcp-chargen 19
client="$(dirname "$0")/tcp_client.py"
timeout 150 ip netns exec "$NS" python3 "$client" discard "$STACK_IP" 9 --bytes 100M \
  | tee "$WORK/discard.txt" || fail "discard failed"
grep -q "^ok discard" "$WORK/discard.txt" || fail "discard did not finish"
timeout 150 ip netns exec "$NS" python3 "$client" chargen "$STACK_IP" 19 --bytes 100M \
  | tee "$WORK/chargen.txt" || fail "chargen failed"
grep -q "^ok chargen" "$WORK/chargen.txt" || fail "chargen did not finish"
stop_host
cat "$HOST_OUT"
[ "$(counter TcpDiscard:9 InBytes)" -eq $((100 * 1048576)) ] \
  || fail "discard read $(counter TcpDiscard:9 InBytes) bytes"
[ "$(counter TcpDiscard:9 PeerCloses)" -eq 1 ] || fail "discard saw no FIN"
[ "$(counter TcpDiscard:9 Resets)" -eq 0 ] || fail "discard saw a reset"
[ "$(counter TcpChargen:19 OutBytes)" -ge $((100 * 1048576)) ] \
  || fail "chargen sent only $(counter TcpChargen:19 OutBytes) bytes"
echo PASS
