#!/usr/bin/env bash
# The README's demo (scripts/demo) runs to its end on this build: both transfers match and
# the stack's counters are printed.
source "$(dirname "$0")/lib.sh"
require_root
root="$(cd "$(dirname "$0")/../.." && pwd)"
demo_build=$NETSHIM_BUILD
# The demo runs curl under the shim, and curl deadlocks whenever libasan is preloaded
# (lib.sh, HTTP_GET): the ASan pass runs the demo on the plain build, which scripts/test
# builds first; test_shim_http covers the same paths under ASan.
if shim_is_asan; then demo_build="$root/build"; fi
[ -f "$demo_build/shim/libnetshim.so" ] || fail "no plain build at $demo_build"
NETSHIM_BUILD="$demo_build" timeout 300 bash "$root/scripts/demo" >"$WORK/demo.log" 2>&1 ||
  { tail -n 40 "$WORK/demo.log"; fail "scripts/demo exited with $?"; }
trap 'rm -rf "$WORK"' EXIT
[ "$(grep -c 'sha256 .* matches' "$WORK/demo.log")" -eq 2 ] || fail "expected two matching transfers"
grep -q "^Tcp   ActiveOpens *1$" "$WORK/demo.log" || fail "no stack counters from --stats"
grep -q "3 received" "$WORK/demo.log" || fail "the pings were not answered"
echo PASS
