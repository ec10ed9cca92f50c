#!/usr/bin/env bash
# Redis under the shim, both roles:
#   1. redis-server under the shim (its default bind "* -::*": 0.0.0.0 and [::], the latter
#      served by the IPv4 stack) against redis-benchmark from the kernel side: every test
#      reports a rate, no error line, and the server counted every command;
#      A server bound to [::] alone (IPV6_V6ONLY, as redis sets it) refuses IPv4 clients.
#   2. redis-cli under the shim against a kernel redis-server: SET and GET of a binary value
#      (every byte value, CR and LF included) comes back byte for byte;
#   3. BGSAVE in the shimmed server: redis forks a child that writes the RDB and closes its
#      inherited sockets; the parent's client connections (a raw kernel-side client holding
#      two of them) must stay intact: no FIN or RST, PING answered on the same connections;
#   4. a python client under the shim makes children every way (subprocess's vfork path,
#      posix_spawn, system, fork while another thread uses the shim) and fdopen(3)s its
#      socket: its connections to the kernel redis-server stay up and answer.
source "$(dirname "$0")/lib.sh"
require_programs redis-server redis-cli redis-benchmark
shim_setup
HOLD="$(cd "$(dirname "$0")" && pwd)/redis_hold.py"
FORK_KEEP="$(cd "$(dirname "$0")" && pwd)/fork_keep.py"
PORT=6379
# The ASan build is several times slower: fewer requests, same checks. Two tests keep the
# run well under a minute on a loaded 2-core machine.
if shim_is_asan; then REQUESTS=20000; else REQUESTS=100000; fi
TESTS=set,get

redis_info() {  # redis_info <host> <port> <field>
  nsx redis-cli -h "$1" -p "$2" INFO | tr -d '\r' | sed -n "s/^$3://p"
}

log "redis-server under the shim <- redis-benchmark (kernel), $REQUESTS requests per test"
shim_bg "$WORK/server.log" -- redis-server --save '' --appendonly no --port "$PORT" \
  --protected-mode no --dir "$WORK" --loglevel notice
server_pid=$SHIM_PID
wait_for 15 grep -q "Ready to accept connections" "$WORK/server.log"
# "-::*" makes the [::] listener optional: it must not have been dropped either.
! grep -qi "could not create\|warning.*::" "$WORK/server.log" ||
  fail "redis-server could not listen on every address: $(grep -i 'could not\|::' "$WORK/server.log")"
timeout 120 ip netns exec "$NS" redis-benchmark -h "$STACK_IP" -p "$PORT" -n "$REQUESTS" -c 50 \
  -q -t "$TESTS" >"$WORK/bench.raw" 2>&1 || {
  rc=$?
  tr '\r' '\n' <"$WORK/bench.raw" | tail -n 5
  fail "redis-benchmark exited with $rc"
}
# -q rewrites a progress line with CRs; the final line of each test ends in a newline.
tr '\r' '\n' <"$WORK/bench.raw" | grep "requests per second" | sed 's/^ *//' | sort -u >"$WORK/bench.txt"
cat "$WORK/bench.txt"
! grep -qi "error\|refused\|reset\|timeout" "$WORK/bench.raw" ||
  fail "redis-benchmark reported errors: $(grep -i 'error\|refused\|reset\|timeout' "$WORK/bench.raw" | head -n 5)"
# One rate line per requested test.
for t in SET GET; do
  grep -q "^$t: [0-9.]* requests per second" "$WORK/bench.txt" || fail "no rate for $t"
done
processed=$(redis_info "$STACK_IP" "$PORT" total_commands_processed)
[ "${processed:-0}" -ge $((2 * REQUESTS)) ] ||
  fail "the server processed ${processed:-?} commands, fewer than the benchmark sent"
rejected=$(redis_info "$STACK_IP" "$PORT" rejected_connections)
[ "${rejected:-1}" -eq 0 ] || fail "the server rejected $rejected connections"
echo "ok: redis-benchmark, $processed commands processed, no errors"

log "BGSAVE in the shimmed redis-server: the forked child leaves the parent's connections"
timeout 60 ip netns exec "$NS" "$SHIM_PYTHON" "$HOLD" "$STACK_IP" "$PORT" "$WORK" \
  >"$WORK/hold.log" 2>&1 || { cat "$WORK/hold.log"; fail "connections did not survive BGSAVE"; }
cat "$WORK/hold.log"
grep -q "Background saving terminated with success" "$WORK/server.log" ||
  fail "the server did not log a successful background save"
kill -0 "$server_pid" || fail "redis-server under the shim died"
echo "ok: BGSAVE, the parent's client connections intact"
kill -TERM "$server_pid"
wait_exit 20 "$server_pid"

log "redis-server under the shim bound to [::] only: IPV6_V6ONLY keeps IPv4 out"
# redis sets IPV6_V6ONLY on its AF_INET6 listeners (anetV6Only): on Linux an IPv4 client
# of a [::]-only server is refused, as it must be here.
shim_bg "$WORK/v6.log" -- redis-server --save '' --appendonly no --port 6381 --bind '::' \
  --protected-mode no --dir "$WORK"
v6_pid=$SHIM_PID
wait_for 15 grep -q "Ready to accept connections" "$WORK/v6.log"
if nsx redis-cli -h "$STACK_IP" -p 6381 PING >"$WORK/v6.out" 2>&1; then
  fail "an IPv4 client reached a V6ONLY [::] listener"
fi
grep -q "Connection refused" "$WORK/v6.out" || fail "the IPv4 client got: $(cat "$WORK/v6.out")"
kill -TERM "$v6_pid"
wait_exit 20 "$v6_pid"
echo "ok: [::] with IPV6_V6ONLY refuses IPv4, as on Linux"

log "redis-cli under the shim -> kernel redis-server: a binary value"
kernel_bg "$WORK/kserver.log" redis-server --save '' --appendonly no --port 6380 \
  --bind "$KERNEL_IP" --protected-mode no --dir "$WORK"
wait_for 10 kernel_listening "$KERNEL_IP:6380"
# Every byte value, CR LF pairs among them, and a random tail.
"$SHIM_PYTHON" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4 + b"\r\n\0\r\n")' \
  >"$WORK/value.bin"
head -c 60000 /dev/urandom >>"$WORK/value.bin"
shim_run -- redis-cli -h "$KERNEL_IP" -p 6380 -x SET binkey <"$WORK/value.bin" >"$WORK/set.out" ||
  fail "redis-cli SET under the shim exited with $?"
grep -qx OK "$WORK/set.out" || fail "SET answered: $(cat "$WORK/set.out")"
# --raw prints the bulk reply's bytes and one newline.
shim_run -- redis-cli -h "$KERNEL_IP" -p 6380 --raw GET binkey >"$WORK/get.raw" ||
  fail "redis-cli GET under the shim exited with $?"
head -c -1 "$WORK/get.raw" >"$WORK/get.bin"
[ "$(sha "$WORK/get.bin")" = "$(sha "$WORK/value.bin")" ] ||
  fail "GET returned other bytes ($(stat -c %s "$WORK/get.bin") of $(stat -c %s "$WORK/value.bin"))"
# The kernel server holds the same bytes (STRLEN from the kernel side).
[ "$(nsx redis-cli -h "$KERNEL_IP" -p 6380 STRLEN binkey)" = "$(stat -c %s "$WORK/value.bin")" ] ||
  fail "the kernel server holds a value of another length"
echo "ok: redis-cli under the shim, binary-safe SET/GET"

log "children of a client under the shim leave its connections alone; fdopen works"
shim_run -- "$SHIM_PYTHON" "$FORK_KEEP" "$KERNEL_IP" 6380 >"$WORK/fork.log" 2>&1 || {
  rc=$?
  cat "$WORK/fork.log"
  fail "the client under the shim failed ($rc)"
}
cat "$WORK/fork.log"
echo PASS
