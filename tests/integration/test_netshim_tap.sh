#!/usr/bin/env bash
# netshim-tap end to end, all inside a throwaway network namespace (never the host's):
# add gives a persistent TAP owned by the chosen user (or $SUDO_UID), which that user — and
# only that user, or a member of --group — can attach to without privileges; --mtu, --up and
# --bridge take effect; a failure after creating undoes it; del removes the TAP; existing and
# missing devices, bad flags and a missing CAP_NET_ADMIN each give exit 1 or 2 and one line.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap cleanup EXIT  # first: a skip removes $WORK too
require_root
TAP_BIN="$NETSHIM_BUILD/tools/netshim-tap"
[ -x "$TAP_BIN" ] || fail "netshim-tap not built at $TAP_BIN"
require_programs setpriv
PY=/usr/bin/python3  # the system python: the unprivileged user cannot reach a pyenv in /root
[ -x "$PY" ] || skip "$PY is not installed"
getent passwd nobody >/dev/null || skip "no user nobody"

ip netns add "$NS"

NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
NOBODY_GROUP=$(id -gn nobody)
# mktemp made $WORK 0700: nobody must reach the script, the device node and the binary copy.
chmod 755 "$WORK"

# As nobody, with no capabilities left (setresuid from 0 clears them) and only nobody's group.
as_nobody() {
  nsx setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups "$@"
}

# The unprivileged side needs a tun node it may open. /dev/net/tun is normally 0666; where it is
# not (some containers), a private node for the same device in $WORK stands in, leaving /dev be.
if [ "$(stat -c %a /dev/net/tun)" = 666 ]; then
  TUN_DEV=/dev/net/tun
else
  TUN_DEV="$WORK/tun"
  mknod -m 666 "$TUN_DEV" c "$((16#$(stat -c %t /dev/net/tun)))" "$((16#$(stat -c %T /dev/net/tun)))"
fi

# attach.py DEV NAME [hold]: TUNSETIFF on NAME as the caller; prints "attached" or the errno
# name (exit 1). With "hold", keeps the TAP attached until killed.
cat >"$WORK/attach.py" <<'EOF'
import errno, fcntl, os, signal, struct, sys
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
dev, name = sys.argv[1], sys.argv[2]
fd = os.open(dev, os.O_RDWR)
try:
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    sys.exit(1)
print("attached", flush=True)
if len(sys.argv) > 3:
    signal.pause()
EOF
chmod 644 "$WORK/attach.py"

# tap_ok <args...>: netshim-tap in the namespace succeeds, one line on stdout, none on stderr.
tap_ok() {
  local rc=0
  nsx "$TAP_BIN" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ $rc -eq 0 ] || fail "netshim-tap $* exited $rc: $(cat "$WORK/err")"
  [ ! -s "$WORK/err" ] || fail "netshim-tap $* wrote to stderr: $(cat "$WORK/err")"
  [ "$(wc -l <"$WORK/out")" -eq 1 ] || fail "netshim-tap $* printed: $(cat "$WORK/out")"
}

# expect_error <exit code> <ERE> <command...>: the command exits so, prints nothing on stdout
# and exactly one line "netshim-tap: ..." matching ERE on stderr.
expect_error() {
  local want=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ $rc -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$WORK/err")"
  [ ! -s "$WORK/out" ] || fail "$* printed on stdout: $(cat "$WORK/out")"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "$* did not print one line on stderr: $(cat "$WORK/err")"
  grep -q '^netshim-tap: ' "$WORK/err" || fail "$* stderr lacks the prefix: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "$* stderr lacks /$pattern/: $(cat "$WORK/err")"
}

exists() { nsx ip link show "$1" >/dev/null 2>&1; }
details() { nsx ip -d link show "$1"; }
is_up() { nsx ip link show "$1" | grep -qE '[<,]UP[,>]'; }

log "add --user nobody: a persistent TAP owned by nobody"
tap_ok add tapu --user nobody
grep -q '^tapu: created persistent TAP owned by uid '"$NOBODY_UID"'$' "$WORK/out" ||
  fail "unexpected summary: $(cat "$WORK/out")"
d=$(details tapu)
grep -q 'tun type tap ' <<<"$d" || fail "tapu is not a TAP: $d"
grep -q ' pi off ' <<<"$d" || fail "tapu has packet info on: $d"
grep -q ' persist on ' <<<"$d" || fail "tapu is not persistent: $d"
grep -qE " user (nobody|$NOBODY_UID) " <<<"$d" || fail "tapu is not owned by nobody: $d"
is_up tapu && fail "tapu is up without --up"

log "nobody attaches to it without privileges"
out=$(as_nobody "$PY" "$WORK/attach.py" "$TUN_DEV" tapu) || fail "nobody could not attach: $out"
[ "$out" = attached ] || fail "attach printed: $out"
exists tapu || fail "tapu vanished after nobody detached (not persistent?)"

log "but not to a TAP owned by another user"
tap_ok add tapr --user root
grep -qE ' user (root|0) ' <<<"$(details tapr)" || fail "tapr is not owned by root"
rc=0
out=$(as_nobody "$PY" "$WORK/attach.py" "$TUN_DEV" tapr) || rc=$?
[ $rc -eq 1 ] && [ "$out" = EPERM ] || fail "nobody attaching to root's TAP: rc $rc, $out"

log "--group alone: no owner, any member of the group attaches, others do not"
tap_ok add tapg --group "$NOBODY_GROUP"
d=$(details tapg)
grep -qE " group ($NOBODY_GROUP|$NOBODY_GID) " <<<"$d" || fail "tapg has no group: $d"
grep -q ' user ' <<<"$d" && fail "tapg has an owner with --group alone: $d"
out=$(as_nobody "$PY" "$WORK/attach.py" "$TUN_DEV" tapg) || fail "group attach failed: $out"
rc=0
out=$(nsx setpriv --reuid="$NOBODY_UID" --regid=54321 --clear-groups \
  "$PY" "$WORK/attach.py" "$TUN_DEV" tapg) || rc=$?
[ $rc -eq 1 ] && [ "$out" = EPERM ] || fail "a non-member attached to tapg: rc $rc, $out"

log "--user with --group: the kernel requires both"
tap_ok add tapgu --user root --group "$NOBODY_GROUP"
rc=0
out=$(as_nobody "$PY" "$WORK/attach.py" "$TUN_DEV" tapgu) || rc=$?
[ $rc -eq 1 ] && [ "$out" = EPERM ] || fail "nobody attached to root's tapgu: rc $rc, $out"

log "default owner: \$SUDO_UID, else the caller"
nsx env SUDO_UID="$NOBODY_UID" "$TAP_BIN" add taps >/dev/null || fail "add with SUDO_UID failed"
grep -qE " user (nobody|$NOBODY_UID) " <<<"$(details taps)" || fail "SUDO_UID not the owner"
nsx env -u SUDO_UID "$TAP_BIN" add tapc >/dev/null || fail "add without SUDO_UID failed"
grep -qE ' user (root|0) ' <<<"$(details tapc)" || fail "the caller is not the owner"

log "--mtu and --up"
tap_ok add tapm --user nobody --mtu 9000 --up
grep -q ' mtu 9000 ' <<<"$(details tapm)" || fail "tapm MTU not set: $(details tapm)"
is_up tapm || fail "tapm is not up"

log "--bridge attaches to an existing bridge and brings the TAP up"
nsx ip link add br0 type bridge
tap_ok add tapb --user nobody --bridge br0
grep -q ' master br0 ' <<<"$(details tapb)" || fail "tapb not in br0: $(details tapb)"
is_up tapb || fail "tapb is not up"

log "a missing bridge is refused before anything is created"
expect_error 1 'tapy: .*bridge nobr.*No such device.*ip link add nobr type bridge' \
  nsx "$TAP_BIN" add tapy --bridge nobr
exists tapy && fail "tapy was created for a missing bridge"

log "a failure after creating undoes it (lo is not a bridge)"
expect_error 1 'tapx: cannot attach to bridge lo: lo is not a bridge' \
  nsx "$TAP_BIN" add tapx --bridge lo
exists tapx && fail "tapx was left behind after a failed add"

log "add of an existing device fails"
expect_error 1 'tapu: cannot create: .*already exists' nsx "$TAP_BIN" add tapu --user nobody
expect_error 1 'lo: cannot create: .*already exists' nsx "$TAP_BIN" add lo
expect_error 1 'br0: cannot create: .*already exists' nsx "$TAP_BIN" add br0
grep -qE " user (nobody|$NOBODY_UID) " <<<"$(details tapu)" || fail "tapu changed by a failed add"

log "del of a TAP in use fails; once released it works"
# Not through as_nobody(): a backgrounded function is a subshell, and its pid would not be ours.
ip netns exec "$NS" setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
  "$PY" "$WORK/attach.py" "$TUN_DEV" tapb hold >"$WORK/hold.log" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
wait_for 10 grep -q attached "$WORK/hold.log"
expect_error 1 'tapb: cannot delete: in use by another process' nsx "$TAP_BIN" del tapb
kill "$HOLD_PID"
wait "$HOLD_PID" 2>/dev/null || true
exists tapb || fail "tapb vanished when its user let go"
tap_ok del tapb
exists tapb && fail "tapb still exists after del"
nsx ip link show br0 >/dev/null || fail "del took the bridge along"

log "del removes each TAP"
for t in tapu tapr tapg tapgu taps tapc tapm; do
  tap_ok del "$t"
  grep -qx "$t: deleted" "$WORK/out" || fail "del $t printed: $(cat "$WORK/out")"
  exists "$t" && fail "$t still exists after del"
done

log "del of a missing device or a non-TAP fails"
expect_error 1 'tapu: cannot delete: No such device' nsx "$TAP_BIN" del tapu
exists tapu && fail "del of a missing TAP created it"
expect_error 1 'lo: cannot delete: not a TAP device' nsx "$TAP_BIN" del lo
expect_error 1 'br0: cannot delete: not a TAP device' nsx "$TAP_BIN" del br0
nsx ip link show br0 >/dev/null || fail "del br0 removed the bridge"

log "bad arguments: exit 2, one line"
expect_error 2 'missing command' nsx "$TAP_BIN"
expect_error 2 "unknown flag '--frob'" nsx "$TAP_BIN" add tapz --frob
expect_error 2 "unknown command 'create'" nsx "$TAP_BIN" create tapz
expect_error 2 'add needs a device NAME' nsx "$TAP_BIN" add
expect_error 2 'too long' nsx "$TAP_BIN" add sixteen-chars-xx
expect_error 2 'may not contain' nsx "$TAP_BIN" add 'tap 0'
expect_error 2 'out of range' nsx "$TAP_BIN" add tapz --mtu 99999999999
expect_error 2 'out of range' nsx "$TAP_BIN" add tapz --mtu 67
expect_error 2 'not a number' nsx "$TAP_BIN" add tapz --mtu 1500x
expect_error 2 '--user needs a value' nsx "$TAP_BIN" add tapz --user
expect_error 2 "unknown user 'no-such-user-netshim'" nsx "$TAP_BIN" add tapz --user no-such-user-netshim
expect_error 2 "unknown group" nsx "$TAP_BIN" add tapz --group no-such-group-netshim
expect_error 2 '--up is only valid with add' nsx "$TAP_BIN" del tapz --up
expect_error 2 "unexpected argument 'x'" nsx "$TAP_BIN" del tapz x
expect_error 2 $'\\\\x0a' nsx "$TAP_BIN" add $'tap\nfake'
exists tapz && fail "a rejected command created tapz"
nsx "$TAP_BIN" --help >"$WORK/out" || fail "--help exited $?"
grep -q '^usage: netshim-tap add NAME' "$WORK/out" || fail "--help printed: $(cat "$WORK/out")"

log "without CAP_NET_ADMIN: the setcap hint naming the binary, exit 1"
cp "$TAP_BIN" "$WORK/netshim-tap"
chmod 755 "$WORK/netshim-tap"
REAL_BIN=$(realpath "$WORK/netshim-tap")
expect_error 1 "needs CAP_NET_ADMIN: run it as root \\(sudo netshim-tap \.\.\.\\) or grant it once with: sudo setcap cap_net_admin\\+ep $REAL_BIN\$" \
  as_nobody "$WORK/netshim-tap" add tapn
expect_error 1 'needs CAP_NET_ADMIN' as_nobody "$WORK/netshim-tap" del tapu
# Root without the capability (dropped from the bounding set) gets the same advice.
expect_error 1 "sudo setcap cap_net_admin\\+ep $(realpath "$TAP_BIN")\$" \
  nsx setpriv --bounding-set=-net_admin "$TAP_BIN" add tapn
exists tapn && fail "tapn created without CAP_NET_ADMIN"

log "with the capability granted by setcap, nobody makes a TAP of its own"
if command -v setcap >/dev/null && setcap cap_net_admin+ep "$WORK/netshim-tap" 2>/dev/null; then
  if [ "$(stat -c %a /dev/net/tun)" = 666 ]; then
    # SUDO_UID is ignored in a setcap'd run (secure_getenv): the owner is the caller.
    out=$(as_nobody env SUDO_UID=0 "$WORK/netshim-tap" add tapn) || fail "setcap'd add failed: $out"
    grep -qE " user (nobody|$NOBODY_UID) " <<<"$(details tapn)" || fail "tapn not nobody's"
    out=$(as_nobody "$WORK/netshim-tap" del tapn) || fail "setcap'd del failed: $out"
    exists tapn && fail "tapn still exists after a setcap'd del"
  else
    # This host's /dev/net/tun is root-only: the capability passes, the open must fail clearly.
    expect_error 1 'tapn: cannot create: cannot open /dev/net/tun \(Permission denied\)' \
      as_nobody "$WORK/netshim-tap" add tapn
    exists tapn && fail "tapn created despite the failed open"
  fi
else
  log "(setcap unavailable here: skipped the granted-capability run)"
fi

echo PASS
