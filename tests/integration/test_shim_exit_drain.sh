#!/usr/bin/env bash
# "Write, then exit" loses nothing: socat -u under the shim writes 4 MiB and exits at once,
# while the kernel-side reader has a 16 KiB window and does not read for 2 s. As the
# kernel would after a process died, the shim delivers the rest and the FIN before the
# process is gone (NETSHIM_EXIT_TIMEOUT bounds the wait).
source "$(dirname "$0")/lib.sh"
require_programs socat
shim_setup

head -c $((4 * 1048576)) /dev/urandom >"$WORK/data.bin"
kernel_bg "$WORK/sink.log" "$SHIM_PYTHON" "$(dirname "$0")/shim_slow_sink.py" "$KERNEL_IP" 5004 \
  "$WORK/got.bin" 2
sink=$BG_PID
wait_for 10 grep -q listening "$WORK/sink.log"
start=$SECONDS
shim_run --exit-timeout 60 -- socat -u "FILE:$WORK/data.bin" "TCP:$KERNEL_IP:5004" ||
  fail "socat under the shim exited with $?"
echo "socat's process ended after $((SECONDS - start)) s"
wait_exit 30 "$sink"
[ "$WAIT_RC" -eq 0 ] || fail "the sink exited with $WAIT_RC: $(cat "$WORK/sink.log")"
grep -q eof "$WORK/sink.log" || fail "the sink saw no EOF"
[ "$(sha "$WORK/got.bin")" = "$(sha "$WORK/data.bin")" ] ||
  fail "the sink got $(stat -c %s "$WORK/got.bin") bytes, not the 4 MiB written"
echo "ok: 4 MiB delivered and closed after socat exited"
echo PASS
