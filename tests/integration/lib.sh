# Shared setup for integration tests: a fresh network namespace holding a TAP device whose
# kernel side is the peer (198.18.0.1/24); netshim runs on the TAP as 198.18.0.2/24.
# Everything is torn down on exit, pass or fail. Source it, then call ns_setup.
set -euo pipefail

: "${NETSHIM_BUILD:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
HOST_BIN="$NETSHIM_BUILD/tools/netshim-host"
KERNEL_IP=198.18.0.1
STACK_IP=198.18.0.2
TAP=nstap0
NS="netshim-t$$"
WORK=$(mktemp -d /tmp/netshim-it.XXXXXX)
PIDS=()

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

require_root() {
  [ "$(id -u)" -eq 0 ] || skip "integration tests need root (network namespaces and TAP devices)"
}

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}

nsx() { ip netns exec "$NS" "$@"; }

# Creates the namespace and the TAP with the kernel's address on it.
ns_setup() {
  require_root
  [ -x "$HOST_BIN" ] || fail "netshim-host not built at $HOST_BIN"
  trap cleanup EXIT
  ip netns add "$NS"
  nsx ip link set lo up
  nsx ip tuntap add dev "$TAP" mode tap
  nsx ip addr add "$KERNEL_IP/24" dev "$TAP"
  nsx ip link set "$TAP" up
}

# wait_for <seconds> <command...>: polls until the command succeeds, or fails the test.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for: $*"
    sleep 0.05
  done
}

# start_host [extra flags...]: runs netshim-host in the namespace; sets HOST_PID, HOST_LOG.
start_host() {
  HOST_LOG="$WORK/host.log"
  HOST_OUT="$WORK/host.out"
  # Not through nsx(): a backgrounded function is a subshell, and its pid would not be ours.
  ip netns exec "$NS" "$HOST_BIN" --tap "$TAP" --addr "$STACK_IP/24" --gw "$KERNEL_IP" "$@" \
    >"$HOST_OUT" 2>"$HOST_LOG" &
  HOST_PID=$!
  PIDS+=("$HOST_PID")
  wait_for 10 grep -q "Ctrl-C to stop" "$HOST_LOG"
  HOST_MAC=$(sed -n 's/.*(\([0-9a-f:]*\)) on .*/\1/p' "$HOST_LOG" | head -n 1)
}

# stop_host: SIGINT, wait, and leave the printed counters in $HOST_OUT.
stop_host() {
  kill -INT "$HOST_PID"
  local deadline=$((SECONDS + 10))
  while kill -0 "$HOST_PID" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "netshim-host did not stop on SIGINT"
    sleep 0.05
  done
  wait "$HOST_PID" || fail "netshim-host exited with $?"
  grep -q "stopped by" "$HOST_OUT" || fail "netshim-host printed no counters"
}

# counter <Group> <Name>: a counter from the stopped host's table (0 when not printed).
counter() {
  awk -v g="$1" -v n="$2" '$1 == g && $2 == n { print $3; found = 1 } END { if (!found) print 0 }' \
    "$HOST_OUT"
}
