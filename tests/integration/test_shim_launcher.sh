#!/usr/bin/env bash
# scripts/netshim without privileges: --help documents every flag, bad flags exit 2 with
# one clear line, and good flags become the NETSHIM_* environment with the library
# preloaded.
source "$(dirname "$0")/lib.sh"
[ -f "$SHIM_LIB" ] || fail "libnetshim.so not built at $SHIM_LIB"

help=$("$SHIM_LAUNCHER" --help) || fail "--help exited with $?"
for flag in --tap --addr --gw --mac --mtu --pcap --log --log-file --impair --stats \
    --exit-timeout; do
  grep -q -- "$flag" <<<"$help" || fail "--help does not mention $flag"
done

# bad <expected text> <args...>: exit 2, one line on stderr containing the text.
bad() {
  local want=$1 rc=0; shift
  "$SHIM_LAUNCHER" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "netshim $* exited with $rc, expected 2"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "netshim $*: expected one line: $(cat "$WORK/err")"
  grep -q -- "$want" "$WORK/err" || fail "netshim $*: no '$want' in: $(cat "$WORK/err")"
  echo "ok: netshim $* -> $(cat "$WORK/err")"
}
bad 'unknown flag "--bogus"' --bogus 1 --addr 198.18.0.2/24 -- true
bad '--mtu needs a value' --addr 198.18.0.2/24 --mtu
bad '--mtu "12"' --addr 198.18.0.2/24 --mtu 12 -- true
bad '--addr "198.18.0.2"' --addr 198.18.0.2 -- true
bad '--addr "300.1.1.1/24"' --addr 300.1.1.1/24 -- true
bad '--gw "x"' --addr 198.18.0.2/24 --gw x -- true
bad '--mac' --addr 198.18.0.2/24 --mac 02:00:00 -- true
bad '--log "loud"' --addr 198.18.0.2/24 --log loud -- true
bad '--exit-timeout' --addr 198.18.0.2/24 --exit-timeout soon -- true
bad '--tap' --tap 'a/b' --addr 198.18.0.2/24 -- true
bad '--addr given twice' --addr 198.18.0.2/24 --addr 198.18.0.3/24 -- true
bad 'no program' --addr 198.18.0.2/24
bad 'no program' --addr 198.18.0.2/24 --
bad 'expected --' --addr 198.18.0.2/24 curl
env -u NETSHIM_ADDR "$SHIM_LAUNCHER" -- true 2>"$WORK/err" && fail "ran without an address"
grep -q -- "--addr is required" "$WORK/err" || fail "missing --addr: $(cat "$WORK/err")"

# Good flags: the environment the program sees.
env_out=$(NETSHIM_LIB="$SHIM_LIB" "$SHIM_LAUNCHER" --tap tapx --addr=198.18.0.2/24 \
  --gw 198.18.0.1 --mtu 9000 --stats --exit-timeout 2.5s -- env)
for want in NETSHIM_TAP=tapx NETSHIM_ADDR=198.18.0.2/24 NETSHIM_GW=198.18.0.1 \
    NETSHIM_MTU=9000 NETSHIM_STATS=1 NETSHIM_EXIT_TIMEOUT=2.5s; do
  grep -qx "$want" <<<"$env_out" || fail "the program did not see $want"
done
grep -q "^LD_PRELOAD=.*$(basename "$SHIM_LIB")" <<<"$env_out" || fail "libnetshim.so not preloaded"
echo "ok: flags become the environment, library preloaded"
echo PASS
