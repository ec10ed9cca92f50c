#!/usr/bin/env bash
# Unmodified curl and python3 -m http.server on the stack through libnetshim.so:
#   1. curl (HTTP_GET, lib.sh) under the shim downloads 50 MiB from a kernel-side http.server;
#   2. http.server under the shim serves 50 MiB to a kernel-side curl;
# both byte for byte (sha256). The first also shows NETSHIM_STATS=1 (--stats) at exit.
source "$(dirname "$0")/lib.sh"
require_programs curl
shim_setup

head -c $((50 * 1048576)) /dev/urandom >"$WORK/big.bin"
want=$(sha "$WORK/big.bin")

log "curl under the shim <- kernel http.server"
kernel_bg "$WORK/kernel-http.log" "$SHIM_PYTHON" -m http.server --bind "$KERNEL_IP" \
  --directory "$WORK" 8000
wait_for 10 kernel_listening "$KERNEL_IP:8000"
shim_run --stats -- "${HTTP_GET[@]}" -o "$WORK/down.bin" \
  "http://$KERNEL_IP:8000/big.bin" 2>"$WORK/curl.log" || fail "curl under the shim failed (exit $?)"
[ "$(sha "$WORK/down.bin")" = "$want" ] || fail "downloaded bytes differ"
grep -q "counters of process" "$WORK/curl.log" || fail "--stats printed no counters"
awk '$1 == "Tcp" && $2 == "ActiveOpens" && $3 == 1 { ok = 1 } END { exit !ok }' \
  "$WORK/curl.log" || fail "expected Tcp ActiveOpens 1 in the counters"
echo "ok: 50 MiB down, sha256 $want"

log "python3 http.server under the shim -> kernel curl"
shim_bg "$WORK/shim-http.log" -- "$SHIM_PYTHON" -u -m http.server --bind "$STACK_IP" \
  --directory "$WORK" 8080
wait_for 10 grep -q "Serving HTTP" "$WORK/shim-http.log"
timeout 120 ip netns exec "$NS" curl -sS --fail -o "$WORK/up.bin" \
  "http://$STACK_IP:8080/big.bin" || fail "kernel curl from the shimmed server failed"
[ "$(sha "$WORK/up.bin")" = "$want" ] || fail "served bytes differ"
grep -q '"GET /big.bin HTTP/1.1" 200' "$WORK/shim-http.log" || fail "the server logged no GET"
kill -TERM "$SHIM_PID"
echo "ok: 50 MiB served, sha256 $want"
echo PASS
