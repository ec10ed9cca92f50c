#!/usr/bin/env bash
# A program under the shim restarted over and over, reconnecting from the same port to a
# kernel server that closes first (so the server holds each old connection in TIME-WAIT):
# every new SYN must be accepted at once. The kernel takes a SYN into TIME-WAIT only when
# its sequence number or timestamp is beyond the old connection's
# (tcp_timewait_state_process); otherwise it answers with the old ACK, the client resets
# and must retransmit its SYN a second later. Linux keys ISNs and timestamp offsets once
# per boot so they keep increasing across restarts; netshim keys them with its boot secret
# (stack/runtime/boot_secret.h) for the same reason. With per-process keys half the runs
# would fall behind, so six clean runs in a row (no RST, no retransmission) show it.
source "$(dirname "$0")/lib.sh"
shim_setup
port=8090
cat >"$WORK/server.py" <<'PY'
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(8)
print("listening", flush=True)
while True:
    c, _ = srv.accept()
    c.sendall(b"hello\n")
    c.close()  # the server closes first: TIME-WAIT stays here
PY
cat >"$WORK/client.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 41000))
s.settimeout(10)
s.connect((sys.argv[1], int(sys.argv[2])))
data = b""
while True:
    chunk = s.recv(100)
    if not chunk:
        break
    data += chunk
s.close()
assert data == b"hello\n", data
print("ok", flush=True)
PY
kernel_bg "$WORK/server.log" python3 "$WORK/server.py" "$KERNEL_IP" "$port"
wait_for 10 grep -q listening "$WORK/server.log"
for run in 1 2 3 4 5 6; do
  shim_run --stats -- "$SHIM_PYTHON" "$WORK/client.py" "$KERNEL_IP" "$port" \
    >"$WORK/run$run.out" 2>"$WORK/run$run.err" || { cat "$WORK/run$run.err"; fail "run $run failed"; }
  grep -q '^ok' "$WORK/run$run.out" || fail "run $run did not get the greeting"
  retrans=$(awk '$1 == "Tcp" && $2 == "RetransSegs" { print $3 }' "$WORK/run$run.err")
  resets=$(awk '$1 == "Tcp" && $2 == "OutRsts" { print $3 }' "$WORK/run$run.err")
  echo "run $run: retransmissions ${retrans:-0}, resets sent ${resets:-0}"
  [ "${retrans:-0}" -eq 0 ] && [ "${resets:-0}" -eq 0 ] ||
    fail "run $run: the SYN was not taken into the old connection's TIME-WAIT"
done
tw=$(nsx ss -Htan state time-wait "( sport = :$port )" | wc -l)
echo "server sockets in TIME-WAIT: $tw"
[ "$tw" -ge 1 ] || fail "the server held no TIME-WAIT, so nothing was tested"
echo PASS
