#!/usr/bin/env bash
# netshim --isolate: a program whose only network is the stack. The launcher runs inside the
# test's namespace, where the TAP's kernel side is the peer (198.18.0.1); netshim-isolate
# attaches to the TAP there, moves the program into a network namespace of its own (only
# lo), drops to --user and every capability, and passes the TAP on as NETSHIM_TAP_FD.
#   a. HTTP_GET (lib.sh) as nobody fetches a file from a kernel-side HTTP server, bytes
#      checked; the file it wrote is nobody's. A probe in the same setting shows uid/gid
#      nobody, every capability set empty, no_new_privs, only lo in /proc/net/dev, the TAP
#      fd inherited (no FD_CLOEXEC) until the stack adopts it, then guarded (close EBADF,
#      dup2 EBUSY, close_range skips it) and CLOEXEC, a child exec'd after that failing with
#      one line; the same program without the shim finds no route at all (ENETUNREACH);
#   b. DNS: dnsmasq on the kernel side answers web.test; the fetch by name works, the query
#      coming from the stack's address;
#   c. failures: a bad --user (exit 2), --user without --isolate (2), bad --loopback/--dns
#      (2), a TAP an unprivileged caller cannot create (1), a device that is not a TAP (1),
#      a library the user cannot read (1), each one line naming what failed; a TAP that is
#      down is waited for, and brought up, the program runs;
#   d. --loopback and --dns become NETSHIM_LOOPBACK and NETSHIM_DNS.
source "$(dirname "$0")/lib.sh"
require_programs dnsmasq setpriv
shim_setup

ISO_BUILD=$(cd "$NETSHIM_BUILD" && pwd)
ISO_BIN="$ISO_BUILD/tools/netshim-isolate"
[ -x "$ISO_BIN" ] || fail "netshim-isolate not built at $ISO_BIN"
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)

NETNS_ETC="/etc/netns/$NS"
iso_cleanup() {
  local rc=$?
  rm -rf "$NETNS_ETC"
  set +e  # else `(exit $rc)` would end the trap here under set -e, before cleanup
  (exit $rc)
  cleanup
}
trap iso_cleanup EXIT
mkdir -p "$NETNS_ETC"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$KERNEL_IP" >"$NETNS_ETC/resolv.conf"

# $WORK is root's (0700): nobody may pass through it to its own directory and the scripts.
chmod 711 "$WORK"
OUT="$WORK/out"
install -d -o nobody -g "$NOBODY_GID" -m 0700 "$OUT"

# The build and source trees may sit where nobody cannot pass (a clone inside a 0700
# directory, as in CI): the isolated program gets copies of the library and the python
# client in a directory of $WORK it can read.
# (Laid out as a build tree, with the launcher beside it, for the run as nobody below.)
install -d -m 0755 "$WORK/pub" "$WORK/pub/shim" "$WORK/pub/tools"
cp "$SHIM_LIB" "$WORK/pub/shim/libnetshim.so"
SHIM_LIB="$WORK/pub/shim/libnetshim.so"
cp "$ISO_BIN" "$WORK/pub/tools/"
cp "$SHIM_LAUNCHER" "$WORK/pub/netshim"
if [[ ${HTTP_GET[1]:-} == *.py ]]; then
  cp "${HTTP_GET[1]}" "$WORK/pub/"
  HTTP_GET[1]="$WORK/pub/$(basename "${HTTP_GET[1]}")"
fi

# Everything the isolated program must read as nobody: the preloaded libraries (the ASan
# runtime too), the interpreter and client, the resolver's file.
preload_files=("$SHIM_LIB")
asan_rt=$(ldd "$SHIM_LIB" | awk '/libasan\.so/ && !found { print $3; found = 1 }')
[ -n "$asan_rt" ] && preload_files+=("$asan_rt")
for f in "${preload_files[@]}" "$SHIM_PYTHON" "${HTTP_GET[@]:0:2}" "$NETNS_ETC/resolv.conf"; do
  [[ $f == -* || $f == curl ]] && continue
  setpriv --reuid "$NOBODY_UID" --regid "$NOBODY_GID" --clear-groups test -r "$f" ||
    fail "nobody cannot read $f: the isolated program could not run"
done

# iso_run [launcher flags...] -- <program...>: the program under `netshim --isolate` in the
# namespace (as $STACK_IP/24 on the TAP), killed after 120 s.
iso_run() {
  timeout 120 env NETSHIM_BUILD="$ISO_BUILD" NETSHIM_LIB="$SHIM_LIB" ip netns exec "$NS" \
    "$SHIM_LAUNCHER" --isolate --tap "$TAP" --addr "$STACK_IP/24" --gw "$KERNEL_IP" "$@"
}

# bad <status> <expected text> <command...>: that exit status, one line on stderr with the text.
bad() {
  local want_rc=$1 want=$2 rc=0; shift 2
  "$@" >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "$* exited with $rc, expected $want_rc: $(cat "$WORK/bad.err")"
  [ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || fail "$*: expected one line: $(cat "$WORK/bad.err")"
  grep -q -- "$want" "$WORK/bad.err" || fail "$*: no '$want' in: $(cat "$WORK/bad.err")"
  echo "ok: exit $rc: $(cat "$WORK/bad.err")"
}

mkdir "$WORK/www"
head -c $((1048576 + 4321)) /dev/urandom >"$WORK/www/page.bin"
want=$(sha "$WORK/www/page.bin")
kernel_bg "$WORK/kernel-http.log" "$SHIM_PYTHON" -m http.server --bind "$KERNEL_IP" \
  --directory "$WORK/www" 8000
wait_for 10 kernel_listening "$KERNEL_IP:8000"

log "a. ${HTTP_GET[0]} as nobody under --isolate fetches a file from the kernel side"
iso_run --user nobody -- "${HTTP_GET[@]}" -o "$OUT/down.bin" "http://$KERNEL_IP:8000/page.bin" \
  2>"$WORK/fetch.log" || fail "the isolated fetch failed (exit $?)"
[ "$(sha "$OUT/down.bin")" = "$want" ] || fail "downloaded bytes differ"
[ "$(stat -c %u "$OUT/down.bin")" = "$NOBODY_UID" ] || fail "the file was not written by nobody"
echo "ok: sha256 $want, written by uid $NOBODY_UID"

# The probe: who it is, what it sees, and what becomes of the TAP fd.
cat >"$WORK/probe.py" <<PY
import errno, fcntl, hashlib, os, subprocess, sys, urllib.request
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].split()
print("uid", *status("Uid"))
print("gid", *status("Gid"))
print("groups", *status("Groups"))
for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    print(cap, int(status(cap)[0], 16))
print("NoNewPrivs", *status("NoNewPrivs"))
print("ifaces", *sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
fd = int(os.environ["NETSHIM_TAP_FD"])
print("tapfd", os.readlink(f"/proc/self/fd/{fd}"), "cloexec", fcntl.fcntl(fd, fcntl.F_GETFD))
def child_sees_fd():
    # readlink, not exists: the child may have opened something of its own at that number.
    code = (f"import os, sys; p = '/proc/self/fd/{fd}'; "
            "sys.exit(0 if os.path.exists(p) and os.readlink(p) == '/dev/net/tun' else 1)")
    return subprocess.run([sys.executable, "-c", code], close_fds=False).returncode == 0
print("child-before", child_sees_fd())
os.closerange(3, 1 << 20)    # a daemon's startup sweep, before its first socket: skips the TAP
def fetch():
    with urllib.request.urlopen("http://$KERNEL_IP:8000/page.bin", timeout=30) as r:
        return hashlib.sha256(r.read()).hexdigest()
print("fetch1", fetch())                      # the stack starts here, on the inherited fd
print("cloexec-after", fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
def err(call):
    try:
        call()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print("close", err(lambda: os.close(fd)))
print("dup2", err(lambda: os.dup2(1, fd)))
os.closerange(3, 1 << 20)                     # close_range(2): skips the shim's fds
print("fetch2", fetch())
print("child-after", child_sees_fd())
# A child exec'd now inherits NETSHIM_TAP_FD but not the fd: its first IPv4 socket fails.
r = subprocess.run([sys.executable, "-c", "import socket; socket.socket()"],
                   capture_output=True, text=True)
# (A forked child's close_range over the parent's stack fds may add a warning line.)
fatal = [l for l in r.stderr.splitlines() if l.startswith("netshim: ")]
print("child-socket", repr(r.stderr), file=sys.stderr)
print("child-socket", r.returncode, len(fatal), "TAP fd" in fatal[0] if fatal else False)
PY
chmod 644 "$WORK/probe.py"
NETSHIM_LOG=info iso_run --user nobody -- "$SHIM_PYTHON" "$WORK/probe.py" >"$WORK/probe.out" \
  2>"$WORK/probe.log" || fail "the probe failed (exit $?): $(tail -n 5 "$WORK/probe.log")"
cat "$WORK/probe.out"
probe() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$WORK/probe.out"; }
n4() { echo "$1 $1 $1 $1"; }
[ "$(probe uid)" = "$(n4 "$NOBODY_UID")" ] || fail "uid is not nobody's: $(probe uid)"
[ "$(probe gid)" = "$(n4 "$NOBODY_GID")" ] || fail "gid is not nobody's: $(probe gid)"
want_groups=$(id -G nobody | tr ' ' '\n' | sort -n | xargs)
[ "$(probe groups | tr ' ' '\n' | sort -n | xargs)" = "$want_groups" ] ||
  fail "groups are $(probe groups), not nobody's ($want_groups)"
for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
  [ "$(probe $cap)" = 0 ] || fail "$cap is $(probe $cap), not 0"
done
[ "$(probe NoNewPrivs)" = 1 ] || fail "no_new_privs is not set"
[ "$(probe ifaces)" = lo ] || fail "the isolated program sees interfaces: $(probe ifaces)"
[ "$(probe tapfd)" = "/dev/net/tun cloexec 0" ] ||
  fail "NETSHIM_TAP_FD is not an inherited TAP fd without FD_CLOEXEC: $(probe tapfd)"
[ "$(probe child-before)" = True ] || fail "a child exec'd before the stack started lost the fd"
[ "$(probe fetch1)" = "$want" ] && [ "$(probe fetch2)" = "$want" ] ||
  fail "the probe's fetches got other bytes"
[ "$(probe cloexec-after)" = 1 ] || fail "the adopted TAP fd is not FD_CLOEXEC"
[ "$(probe close)" = EBADF ] || fail "close() of the TAP fd gave $(probe close), not EBADF"
[ "$(probe dup2)" = EBUSY ] || fail "dup2() onto the TAP fd gave $(probe dup2), not EBUSY"
[ "$(probe child-after)" = False ] || fail "a child exec'd after the stack started got the fd"
[ "$(probe child-socket)" = "1 1 True" ] ||
  fail "a child's socket with a closed NETSHIM_TAP_FD: $(probe child-socket) (exit, lines): $(grep child-socket "$WORK/probe.log")"
if [ "${NETSHIM_OFFLOAD:-on}" = on ]; then
  grep -q "virtio-net header on" "$WORK/probe.log" ||
    fail "offloads on, but the stack did not get a TAP with a virtio-net header"
fi
echo "ok: nobody, no capabilities, no_new_privs, only lo; TAP fd inherited, then guarded"

# Without the shim, the same isolated program has no route anywhere.
cat >"$WORK/noroute.py" <<PY
import errno, socket
try:
    socket.create_connection(("$KERNEL_IP", 8000), timeout=5)
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
PY
chmod 644 "$WORK/noroute.py"
got=$(ip netns exec "$NS" env -u LD_PRELOAD "$ISO_BIN" --tap "$TAP" --user nobody -- \
  "$SHIM_PYTHON" "$WORK/noroute.py") || fail "the unshimmed probe failed: $got"
[ "$got" = ENETUNREACH ] || fail "a kernel socket in the isolated namespace got: $got"
echo "ok: a kernel socket there gets ENETUNREACH"

log "b. DNS: the fetch by name under --isolate"
kernel_bg "$WORK/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null \
  --no-resolv --no-hosts --pid-file= --log-queries --log-facility=- \
  --listen-address="$KERNEL_IP" --bind-interfaces --port=53 \
  --host-record=web.test,"$KERNEL_IP" --local=/test/
DNSMASQ_PID=$BG_PID
wait_for 10 sh -c "ip netns exec '$NS' ss -Hlun 'src $KERNEL_IP:53' | grep -q ."
iso_run --user nobody -- "${HTTP_GET[@]}" -o "$OUT/byname.bin" "http://web.test:8000/page.bin" \
  2>"$WORK/byname.log" || fail "the isolated fetch by name failed (exit $?)"
[ "$(sha "$OUT/byname.bin")" = "$want" ] || fail "bytes fetched by name differ"
grep -q "query\[A\] web.test from $STACK_IP" "$WORK/dnsmasq.log" ||
  fail "dnsmasq logged no query for web.test from $STACK_IP"
kill "$DNSMASQ_PID"
echo "ok: web.test resolved through the stack, fetched"

log "c. failures"
bad 2 "--user 'no-such-user-x': no such user" iso_run --user no-such-user-x -- true
bad 2 "out of range" iso_run --user 4294967295 -- true
bad 2 '--user "-1" is invalid' iso_run --user -1 -- true
bad 2 "--user needs --isolate" env NETSHIM_LIB="$SHIM_LIB" "$SHIM_LAUNCHER" --user nobody \
  --addr "$STACK_IP/24" -- true
bad 2 '--loopback "both"' "$SHIM_LAUNCHER" --addr "$STACK_IP/24" --loopback both -- true
bad 2 '--dns "udp"' "$SHIM_LAUNCHER" --addr "$STACK_IP/24" --dns udp -- true
bad 2 "too long" ip netns exec "$NS" "$ISO_BIN" --tap 0123456789abcdef -- true
# (EPERM from TUNSETIFF where /dev/net/tun is 0666, else EACCES opening it.)
bad 1 "cannot create TAP device isotap9 (TUNSETIFF): Operation not permitted; creating one needs CAP_NET_ADMIN\|cannot open /dev/net/tun: Permission denied" \
  ip netns exec "$NS" setpriv --reuid "$NOBODY_UID" --regid "$NOBODY_GID" --clear-groups \
  env NETSHIM_BUILD="$WORK/pub" NETSHIM_LIB="$SHIM_LIB" "$WORK/pub/netshim" \
  --isolate --tap isotap9 --addr "$STACK_IP/24" -- true
bad 1 "cannot attach to TAP device lo (TUNSETIFF): Invalid argument" \
  env NETSHIM_BUILD="$ISO_BUILD" NETSHIM_LIB="$SHIM_LIB" ip netns exec "$NS" "$SHIM_LAUNCHER" \
  --isolate --tap lo --addr "$STACK_IP/24" -- true
mkdir -m 0700 "$WORK/private"
cp "$SHIM_LIB" "$WORK/private/"
bad 1 "'nobody' (uid $NOBODY_UID) cannot read $WORK/private/libnetshim.so: Permission denied" \
  env NETSHIM_BUILD="$ISO_BUILD" NETSHIM_LIB="$WORK/private/libnetshim.so" \
  ip netns exec "$NS" "$SHIM_LAUNCHER" --isolate --user nobody --tap "$TAP" \
  --addr "$STACK_IP/24" -- true
bad 127 "cannot run ./no/such-program.: No such file" iso_run --user nobody -- /no/such-program

# A TAP that is down: waited for; brought up, the program runs.
nsx ip link set "$TAP" down
bad 1 "TAP device $TAP is down" ip netns exec "$NS" "$ISO_BIN" --tap "$TAP" --wait-up 0 -- true
iso_run --user nobody -- "${HTTP_GET[@]}" -o "$OUT/late.bin" \
  "http://$KERNEL_IP:8000/page.bin" >"$WORK/late.out" 2>"$WORK/late.log" &
LATE_PID=$!
PIDS+=("$LATE_PID")
wait_for 10 grep -q "TAP device $TAP is down; waiting" "$WORK/late.log"
nsx ip link set "$TAP" up
wait_exit 60 "$LATE_PID"
[ "$WAIT_RC" -eq 0 ] || fail "the fetch after the TAP came up exited $WAIT_RC"
[ "$(sha "$OUT/late.bin")" = "$want" ] || fail "bytes fetched after the TAP came up differ"
echo "ok: waited for the TAP to come up, then fetched"

log "d. --loopback and --dns become the environment"
env_out=$(NETSHIM_LIB="$SHIM_LIB" "$SHIM_LAUNCHER" --addr "$STACK_IP/24" --loopback stack \
  --dns kernel -- env)
grep -qx NETSHIM_LOOPBACK=stack <<<"$env_out" || fail "no NETSHIM_LOOPBACK=stack"
grep -qx NETSHIM_DNS=kernel <<<"$env_out" || fail "no NETSHIM_DNS=kernel"
env_out=$(iso_run --user nobody --loopback stack -- env)
grep -qx NETSHIM_LOOPBACK=stack <<<"$env_out" || fail "no NETSHIM_LOOPBACK=stack under --isolate"
grep -q '^NETSHIM_TAP=' <<<"$env_out" && fail "NETSHIM_TAP reached the isolated program"
grep -qx 'NETSHIM_TAP_FD=[0-9]*' <<<"$env_out" || fail "no NETSHIM_TAP_FD under --isolate"
grep -q "^LD_PRELOAD=.*$(basename "$SHIM_LIB")" <<<"$env_out" || fail "libnetshim.so not preloaded"
echo "ok: NETSHIM_LOOPBACK, NETSHIM_DNS; under --isolate NETSHIM_TAP_FD and LD_PRELOAD"
echo PASS
