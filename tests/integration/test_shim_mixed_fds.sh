#!/usr/bin/env bash
# A python program under the shim with an AF_UNIX socketpair, a pipe, a file and two TCP
# connections to a kernel echo server in one selector (epoll, then poll, then select): all
# of it moves its bytes (mixed_fds.py checks each byte).
source "$(dirname "$0")/lib.sh"
shim_setup
ECHO="$(cd "$(dirname "$0")" && pwd)/asyncio_echo.py"

kernel_bg "$WORK/kserver.log" "$SHIM_PYTHON" -u "$ECHO" server "$KERNEL_IP" 7002
wait_for 10 kernel_listening "$KERNEL_IP:7002"
shim_run -- "$SHIM_PYTHON" "$(dirname "$0")/mixed_fds.py" "$KERNEL_IP" 7002 \
  >"$WORK/mixed.log" 2>&1 || { cat "$WORK/mixed.log"; fail "mixed_fds.py failed"; }
cat "$WORK/mixed.log"
[ "$(grep -c '^ok:' "$WORK/mixed.log")" -eq 3 ] || fail "expected three selectors to pass"
echo PASS
