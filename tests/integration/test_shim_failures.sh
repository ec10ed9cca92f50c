# Failures under the shim look as on Linux, and configuration errors are one clear line
# (the client is curl, or its stand-in under the ASan shim: HTTP_GET in lib.sh):
#   - connect to a closed port: exit 7 having seen "Connection refused";
#   - connect to a silent address: the client's own connect timeout (exit 28);
#   - the server resets mid-transfer: exit 56 "Connection reset by peer", not a hang;
#   - a bad or missing NETSHIM_* value stops the program at its first socket with one
#     line naming the variable (exit status 2), while a program that never opens a socket
#     runs undisturbed (the stack starts lazily).
source "$(dirname "$0")/lib.sh"
require_programs curl
shim_setup

log "closed port"
rc=0
shim_run -- "${HTTP_GET[@]}" "http://$KERNEL_IP:9/" >"$WORK/refused.out" 2>"$WORK/refused.log" || rc=$?
[ "$rc" -eq 7 ] || fail "the client exited with $rc, expected 7"
grep -q "Connection refused" "$WORK/refused.log" || fail "no 'Connection refused' from the client"
echo "ok: exit 7, Connection refused"

log "silent address"
rc=0
shim_run -- "${HTTP_GET[@]}" --connect-timeout 1 "http://198.18.0.77:80/" 2>"$WORK/silent.log" || rc=$?
[ "$rc" -eq 28 ] || fail "the client exited with $rc, expected 28 (timeout)"
echo "ok: exit 28 ($(cat "$WORK/silent.log"))"

log "peer resets mid-transfer"
kernel_bg "$WORK/reset-server.log" "$SHIM_PYTHON" -u "$(dirname "$0")/reset_server.py" \
  "$KERNEL_IP" 8081
wait_for 10 grep -q listening "$WORK/reset-server.log"
rc=0
SHIM_TIMEOUT=60 shim_run -- "${HTTP_GET[@]}" -o "$WORK/partial.bin" "http://$KERNEL_IP:8081/" \
  2>"$WORK/reset.log" || rc=$?
[ "$rc" -eq 56 ] || fail "the client exited with $rc, expected 56 (reset)"
grep -q "Connection reset by peer" "$WORK/reset.log" || fail "no 'Connection reset by peer'"
echo "ok: exit 56, $(grep -o 'Connection reset by peer' "$WORK/reset.log" | head -n 1)"

# check_fatal <log> <variable>: exactly one line, from the shim, naming the variable.
check_fatal() {
  [ "$(wc -l <"$1")" -eq 1 ] || fail "expected one line, got: $(cat "$1")"
  grep -q "^netshim: .*$2" "$1" || fail "the line does not name $2: $(cat "$1")"
}

log "bad NETSHIM_MTU"
rc=0
NETSHIM_MTU=abc shim_run -- "${HTTP_GET[@]}" "http://$KERNEL_IP:9/" 2>"$WORK/mtu.log" || rc=$?
[ "$rc" -eq 2 ] || fail "exit status $rc, expected 2"
check_fatal "$WORK/mtu.log" 'NETSHIM_MTU="abc"'
echo "ok: $(cat "$WORK/mtu.log")"

log "missing NETSHIM_ADDR (preloaded without the launcher)"
rc=0
ip netns exec "$NS" env LD_PRELOAD="$(shim_preload)" NETSHIM_TAP="$TAP" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  "${HTTP_GET[@]}" "http://$KERNEL_IP:9/" 2>"$WORK/addr.log" || rc=$?
[ "$rc" -eq 2 ] || fail "exit status $rc, expected 2"
check_fatal "$WORK/addr.log" NETSHIM_ADDR
echo "ok: $(cat "$WORK/addr.log")"

log "no socket, no stack"
out=$(NETSHIM_MTU=abc shim_run -- sh -c 'echo untouched') || fail "a program without sockets failed"
[ "$out" = untouched ] || fail "got: $out"
echo "ok: a program without sockets ignores the bad value"
echo PASS
