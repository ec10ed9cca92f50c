#!/usr/bin/env bash
# Resets both ways between the kernel and netshim-host:
#  - the host resets what it has no connection for: a client connected to one host process
#    sends again after it was killed (no FIN) and a new one took its place; and a SYN to a
#    closed port is refused;
#  - the kernel resets the host's connections: a client aborts (SO_LINGER {1, 0}) while the
#    chargen service is sending, and a client killed with unread echo data; the services
#    take each as the end of that connection and go on serving.
source "$(dirname "$0")/lib.sh"
ns_setup
client="$(dirname "$0")/tcp_client.py"
run() { timeout 60 ip netns exec "$NS" python3 "$client" "$@"; }

log "a connection the host no longer knows is reset"
start_host --tcp-echo 7
ip netns exec "$NS" python3 "$client" stale "$STACK_IP" 7 --marker "$WORK/restarted" \
  >"$WORK/stale.log" 2>&1 &
stale_pid=$!
PIDS+=("$stale_pid")
wait_for 10 grep -q "^connected" "$WORK/stale.log"
kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
start_host --tcp-echo 7 --tcp-chargen 19
touch "$WORK/restarted"
wait "$stale_pid" || { cat "$WORK/stale.log"; fail "the stale connection was not reset"; }
cat "$WORK/stale.log"

log "a closed port refuses"
run refused "$STACK_IP" 9 || fail "connecting to a closed port was not refused"

log "the kernel aborts connections while chargen sends"
for i in 1 2 3; do
  run abort "$STACK_IP" 19 --bytes 1M || fail "abort $i failed"
done

log "a client dies with unread echo data"
(run killed "$STACK_IP" 7 >"$WORK/killed.log" 2>&1) 2>/dev/null || true  # no "Killed" notice
cat "$WORK/killed.log"
grep -q "^ok killing" "$WORK/killed.log" || fail "the killed client did not get to its end"

# The services still serve. This also orders the checks below: the stack handles frames in
# order and the service thread runs the reset connections' handlers no later than the new
# ones', so once these exchanges are done the resets have been seen.
log "the services go on"
run chargen "$STACK_IP" 19 --bytes 64K || fail "chargen stopped serving"
run echo "$STACK_IP" 7 --bytes 64K || fail "echo stopped serving"
stop_host
cat "$HOST_OUT"
[ "$(counter TcpChargen:19 Resets)" -ge 3 ] \
  || fail "chargen saw $(counter TcpChargen:19 Resets) of 3 resets"
[ "$(counter TcpEcho:7 Resets)" -ge 1 ] || fail "echo did not see the killed client's reset"
if [ "$(counter Tcp InSegs)" -gt 0 ]; then  # the stack's Tcp counters, when printed
  [ "$(counter Tcp EstabResets)" -ge 4 ] || fail "Tcp EstabResets = $(counter Tcp EstabResets), want >= 4"
  [ "$(counter Tcp OutRsts)" -ge 2 ] || fail "Tcp OutRsts = $(counter Tcp OutRsts), want >= 2"
fi
echo PASS
