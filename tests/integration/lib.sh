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
# The reason is said again after the logs cleanup dumps: a reader of the log's tail sees it.
FAIL_REASON=""
fail() { FAIL_REASON="$*"; echo "FAIL: $*" >&2; exit 1; }
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
    [ -z "$FAIL_REASON" ] || echo "FAIL: $FAIL_REASON (said again after the logs)"
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
  # NETSHIM_OFFLOAD (scripts/test runs the suite with it on and off) reaches the host as
  # its flag; the shim reads it from the environment.
  ip netns exec "$NS" "$HOST_BIN" --tap "$TAP" --addr "$STACK_IP/24" --gw "$KERNEL_IP" \
    --offload "${NETSHIM_OFFLOAD:-on}" "$@" >"$HOST_OUT" 2>"$HOST_LOG" &
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

# --- Programs under the shim (libnetshim.so through scripts/netshim) ---
SHIM_LAUNCHER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/netshim"
SHIM_LIB="$NETSHIM_BUILD/shim/libnetshim.so"
# Debian's python, not a pyenv shim: the program must be the real binary the shim preloads into.
SHIM_PYTHON=/usr/bin/python3

# require_programs <program...>: skips the test when one is missing (scripts/install-deps).
require_programs() {
  local p
  for p in "$@"; do command -v "$p" >/dev/null || skip "$p is not installed (scripts/install-deps)"; done
}

# shim_setup: ns_setup, once libnetshim.so is known to be built.
shim_setup() {
  require_root
  [ -f "$SHIM_LIB" ] || fail "libnetshim.so not built at $SHIM_LIB"
  ns_setup
}

# HTTP_GET: the HTTP client run under the shim — curl, except when the shim is the ASan
# build: curl deadlocks in setlocale() whenever libasan is preloaded, with or without the shim
# (llvm/llvm-project#49223), so http_get.py (curl's exit codes for the cases tested) stands in.
# The plain pass runs curl itself.
# (grep without -q: an early exit would SIGPIPE nm and fail the pipe under pipefail)
shim_is_asan() { nm -D "$SHIM_LIB" 2>/dev/null | grep __asan_init >/dev/null; }
if shim_is_asan; then
  HTTP_GET=("$SHIM_PYTHON" "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/http_get.py")
else
  HTTP_GET=(curl -v -sS --fail)  # -v: curl names the errno ("Connection refused")
fi

# shim_run [launcher flags...] -- <program...>: runs a program under the shim in the
# namespace as $STACK_IP/24 on the TAP, in the foreground, killed after $SHIM_TIMEOUT
# seconds (default 120).
shim_run() {
  timeout "${SHIM_TIMEOUT:-120}" env NETSHIM_LIB="$SHIM_LIB" ip netns exec "$NS" \
    "$SHIM_LAUNCHER" --tap "$TAP" --addr "$STACK_IP/24" --gw "$KERNEL_IP" "$@"
}

# shim_bg <log> [launcher flags...] -- <program...>: the same in the background; sets
# SHIM_PID (the program's pid: ip netns exec and the launcher both exec). SHIM_TAP and
# SHIM_IP put it on another TAP and address (a second stack: test_shim_bridge.sh).
shim_bg() {
  local log=$1; shift
  NETSHIM_LIB="$SHIM_LIB" ip netns exec "$NS" "$SHIM_LAUNCHER" --tap "${SHIM_TAP:-$TAP}" \
    --addr "${SHIM_IP:-$STACK_IP}/24" --gw "$KERNEL_IP" "$@" >"$log" 2>&1 &
  SHIM_PID=$!
  PIDS+=("$SHIM_PID")
}

# feed <file> <output> <bytes>: prints the file, then ends its output only once <output>
# holds <bytes> (60 s at most). Piped into `nc -N`, whose peer (nc -l) quits once its input
# is half-closed: the half-close must wait until the peer's data has all arrived.
feed() {
  cat "$1"
  local deadline=$((SECONDS + 60))
  while [ "$(stat -c %s "$2" 2>/dev/null || echo 0)" -lt "$3" ]; do
    [ $SECONDS -lt $deadline ] && sleep 0.05 || break
  done
}

# kernel_bg <log> <program...>: a kernel-side program in the namespace, in the background;
# sets BG_PID.
kernel_bg() {
  local log=$1; shift
  ip netns exec "$NS" "$@" >"$log" 2>&1 &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# kernel_listening <ip:port>: a kernel TCP socket listens there. (A server under the shim
# is not the kernel's: wait for what it prints instead.)
kernel_listening() { nsx ss -Hltn "src $1" | grep -q .; }

# wait_exit <seconds> <pid>: waits for a background process to end; fails on timeout.
# Leaves its exit status in WAIT_RC.
wait_exit() {
  local deadline=$((SECONDS + $1)) pid=$2
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "process $pid did not finish within $1 s"
    sleep 0.05
  done
  WAIT_RC=0
  wait "$pid" || WAIT_RC=$?
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# shim_preload: the LD_PRELOAD value for the shim without the launcher (an ASan-built shim
# needs the ASan runtime first).
shim_preload() {
  local asan
  asan=$(ldd "$SHIM_LIB" | awk '/libasan\.so/ && !found { print $3; found = 1 }')
  echo "${asan:+$asan }$SHIM_LIB"
}
