#!/usr/bin/env bash
# A python asyncio echo server under the shim (epoll, non-blocking accept) against a burst
# of 500 kernel-side clients opening their connections at once:
#   - the server listens with a backlog of 511 (over 500; the namespace's somaxconn, 4096,
#     and the stack's own clamp leave it so) and accepts nothing until every client is
#     connected, so all 500 handshakes complete into the accept queue: the stack's counters
#     (--stats at exit) must show no listen overflow or drop and no SYN cookie (a SYN or
#     handshake dropped for a full queue costs the client a 1 s retransmission, or fails it);
#   - then each connection sends a few KiB of its own bytes, half-closes and must get
#     exactly those bytes back.
source "$(dirname "$0")/lib.sh"
shim_setup
BURST="$(cd "$(dirname "$0")" && pwd)/asyncio_burst.py"
CLIENTS=500
BACKLOG=511
PORT=7100
# 500 connections each hold a descriptor per side.
ulimit -n 4096

somaxconn=$(nsx sysctl -n net.core.somaxconn)
[ "$somaxconn" -ge "$BACKLOG" ] || fail "net.core.somaxconn is $somaxconn in the namespace"

# syn_retrans: SYN retransmissions by the namespace's kernel (its own MIB, fresh at 0):
# shown, not checked (a stack slowed past 1 s by a loaded machine is not a drop).
syn_retrans() { nsx nstat -asz TcpExtTCPSynRetrans | awk '$1 == "TcpExtTCPSynRetrans" { print $2 }'; }
# stack_counter <name>: a counter from the table the shim printed at exit (0 if absent).
stack_counter() {
  awk -v n="$1" '{ for (i = 1; i < NF; ++i) if ($i == n && $(i + 1) ~ /^[0-9]+$/) { print $(i + 1); f = 1 } }
    END { if (!f) print 0 }' "$WORK/server.log" | tail -n 1
}

log "asyncio server under the shim (backlog $BACKLOG, not accepting yet) <- $CLIENTS kernel clients"
shim_bg "$WORK/server.log" --stats -- "$SHIM_PYTHON" -u "$BURST" server "$STACK_IP" "$PORT" "$BACKLOG" \
  "$WORK/go"
server_pid=$SHIM_PID
wait_for 15 grep -q listening "$WORK/server.log"
before=$(syn_retrans)
timeout 90 ip netns exec "$NS" "$SHIM_PYTHON" "$BURST" client "$STACK_IP" "$PORT" "$CLIENTS" \
  "$WORK/go" >"$WORK/clients.log" 2>&1 || { cat "$WORK/clients.log"; fail "the clients failed"; }
cat "$WORK/clients.log"
grep -q "^$CLIENTS connections established before any accept" "$WORK/clients.log" ||
  fail "not every connection was established before the server accepted"
grep -qx "$CLIENTS/$CLIENTS connections echoed" "$WORK/clients.log" || fail "not every echo came back"
echo "kernel SYN retransmissions: $(($(syn_retrans) - before))"
kill -0 "$server_pid" || fail "the server under the shim died"
# The server stops at SIGTERM and exits normally, so the shim prints its counters.
kill -TERM "$server_pid"
wait_exit 20 "$server_pid"
[ "$WAIT_RC" -eq 0 ] || fail "the server exited with $WAIT_RC"
grep -q "counters of process" "$WORK/server.log" || fail "the shim printed no counters"
# The table is read right: every connection was a passive open.
[ "$(stack_counter PassiveOpens)" -ge "$CLIENTS" ] ||
  fail "the stack counted $(stack_counter PassiveOpens) passive opens"
for c in ListenOverflows ListenDrops SyncookiesSent; do
  [ "$(stack_counter "$c")" -eq 0 ] || fail "the stack counted $c $(stack_counter "$c")"
done
echo "ok: $CLIENTS connections queued before accept, no listen overflow, all echoes verified"
echo PASS
