#!/usr/bin/env bash
# close(2) with SO_LINGER {1, N} under the shim blocks as Linux's does:
#   1. until the peer has taken every byte (the kernel receiver, with a tiny receive buffer,
#      starts reading only after the close has begun: if close returned at once, the
#      program would find the receiver not yet reading);
#   2. for at most N seconds when the peer never reads, then returns 0.
source "$(dirname "$0")/lib.sh"
shim_setup

cat >"$WORK/receiver.py" <<PY
import os, socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
server.bind(("$KERNEL_IP", int(sys.argv[1])))
server.listen(1)
print("listening", flush=True)
conn, _ = server.accept()
if sys.argv[2] == "read":
    while not os.path.exists("$WORK/closing"):
        time.sleep(0.01)
    time.sleep(0.5)  # makes a close that does not wait finish before we read
    open("$WORK/reading", "w").close()
    total = 0
    while chunk := conn.recv(65536):
        total += len(chunk)
    print(f"received {total}", flush=True)
else:
    time.sleep(30)  # never reads
PY

cat >"$WORK/sender.py" <<PY
import os, socket, struct, sys, time
s = socket.create_connection(("$KERNEL_IP", int(sys.argv[1])), timeout=10)
s.setblocking(False)
sent = 0
data = b"L" * 65536
deadline = time.time() + 10
while sent < (1 << 20) and time.time() < deadline:
    try:
        sent += s.send(data)
    except BlockingIOError:
        time.sleep(0.01)
print(f"queued {sent}", flush=True)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, int(sys.argv[2])))
open("$WORK/closing", "w").close()
start = time.time()
s.close()  # blocks (the socket is non-blocking: Linux lingers anyway)
took = time.time() - start
print(f"close returned after {took:.2f} s; receiver reading: {os.path.exists('$WORK/reading')}",
      flush=True)
PY

log "SO_LINGER {1, 30}: close waits for the peer to take everything"
kernel_bg "$WORK/r1.log" "$SHIM_PYTHON" -u "$WORK/receiver.py" 7100 read
rpid=$BG_PID
wait_for 10 grep -q listening "$WORK/r1.log"
shim_run -- "$SHIM_PYTHON" -u "$WORK/sender.py" 7100 30 >"$WORK/s1.log" 2>&1 ||
  { cat "$WORK/s1.log"; fail "sender failed"; }
cat "$WORK/s1.log"
grep -q "receiver reading: True" "$WORK/s1.log" || fail "close returned before the peer read"
wait_exit 30 "$rpid"
cat "$WORK/r1.log"
queued=$(sed -n 's/^queued //p' "$WORK/s1.log")
grep -q "^received $queued$" "$WORK/r1.log" || fail "the receiver did not get all $queued bytes"

log "SO_LINGER {1, 1}: a peer that never reads: close returns after the linger time"
rm -f "$WORK/closing" "$WORK/reading"
kernel_bg "$WORK/r2.log" "$SHIM_PYTHON" -u "$WORK/receiver.py" 7101 never
wait_for 10 grep -q listening "$WORK/r2.log"
SHIM_TIMEOUT=30 shim_run --exit-timeout 1s -- "$SHIM_PYTHON" -u "$WORK/sender.py" 7101 1 \
  >"$WORK/s2.log" 2>&1 || { cat "$WORK/s2.log"; fail "sender failed"; }
cat "$WORK/s2.log"
grep -q "close returned after" "$WORK/s2.log" || fail "close did not return"
echo PASS
