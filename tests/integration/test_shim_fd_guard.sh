#!/usr/bin/env bash
# A program that closes descriptors it does not know about — close_range(3, ~0U) as spawn
# helpers do, close() over 3..1023 as old daemons do, dup2 onto every number — cannot break
# the stack under it: the shim's own fds (TAP, epoll, eventfds) are not the program's to
# close. After each sweep the program still talks TCP through the stack.
source "$(dirname "$0")/lib.sh"
shim_setup
ECHO="$(cd "$(dirname "$0")" && pwd)/asyncio_echo.py"
kernel_bg "$WORK/kserver.log" "$SHIM_PYTHON" -u "$ECHO" server "$KERNEL_IP" 7003
wait_for 10 kernel_listening "$KERNEL_IP:7003"

cat >"$WORK/sweep.py" <<PY
import errno, os, socket
def roundtrip(tag):
    s = socket.create_connection(("$KERNEL_IP", 7003), timeout=10)
    s.sendall(tag.encode() * 1000)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    s.close()
    assert got == tag.encode() * 1000, f"{tag}: {len(got)} bytes back"
    print(f"ok: {tag}", flush=True)
roundtrip("before")                      # starts the stack
os.closerange(3, 1 << 20)                # close_range(2) in glibc
roundtrip("after-close_range")
refused = 0
for fd in range(3, 1024):
    try:
        os.close(fd)
    except OSError as e:
        refused += e.errno == errno.EBADF
roundtrip("after-close-loop")
null = os.open("/dev/null", os.O_RDONLY)
for fd in range(3, 1024):
    if fd != null:
        try:
            os.dup2(null, fd)
        except OSError as e:
            assert e.errno == errno.EBUSY, e
roundtrip("after-dup2-loop")
print("PASS-PY", flush=True)
PY
shim_run --log error -- "$SHIM_PYTHON" "$WORK/sweep.py" >"$WORK/sweep.log" 2>&1 ||
  { cat "$WORK/sweep.log"; fail "the program lost its network"; }
cat "$WORK/sweep.log"
grep -q PASS-PY "$WORK/sweep.log" || fail "the sweep did not finish"
echo PASS
