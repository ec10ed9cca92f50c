#!/usr/bin/env bash
# DNS through the stack: dnsmasq on the kernel side (198.18.0.1) answers for web.test, and
# programs under the shim resolve it with their queries on the stack's UDP:
#   1. curl (HTTP_GET, lib.sh) fetches http://web.test:8000/ by name, bytes checked; the
#      shim's counters show the query's datagrams (Udp OutDatagrams/InDatagrams) and
#      dnsmasq logs it coming from the stack's address (198.18.0.2);
#   2. python3's getaddrinfo, gethostbyname, gethostbyname_ex (gethostbyname_r) and
#      getnameinfo (a PTR query) under the shim get dnsmasq's answers;
#   3. an unknown name fails as glibc fails it: EAI_NONAME (-2), curl exit 6;
#   4. NETSHIM_DNS=kernel keeps glibc's resolver: the same name resolves through the
#      kernel's own socket (dnsmasq sees the query from 198.18.0.1, the stack sends no
#      datagram).
#
# The shimmed programs must see a resolv.conf naming 198.18.0.1: `ip netns exec` (which
# every program here runs under) bind-mounts the files of /etc/netns/<namespace>/ over
# /etc/ in a private mount namespace, so the test writes /etc/netns/$NS/resolv.conf and
# removes it at exit; the host's /etc/resolv.conf is never touched.
source "$(dirname "$0")/lib.sh"
require_programs dnsmasq
shim_setup

NETNS_ETC="/etc/netns/$NS"
dns_cleanup() {
  local rc=$?
  rm -rf "$NETNS_ETC"
  # cleanup reads the status from $?; under set -e a failing (exit $rc) would end the trap
  # before it ran (leaving the namespace and its servers behind).
  set +e
  (exit $rc)
  cleanup
}
trap dns_cleanup EXIT
mkdir -p "$NETNS_ETC"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$KERNEL_IP" >"$NETNS_ETC/resolv.conf"
LOOKUP="$(cd "$(dirname "$0")" && pwd)/dns_lookup.py"

# web.test has an A and a PTR record; anything else under test. or 18.198.in-addr.arpa.
# is NXDOMAIN (--local: answered here only, never forwarded; there is nowhere to forward).
log "dnsmasq on $KERNEL_IP:53"
kernel_bg "$WORK/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null \
  --no-resolv --no-hosts --pid-file= --log-queries --log-facility=- \
  --listen-address="$KERNEL_IP" --bind-interfaces --port=53 \
  --host-record=web.test,"$KERNEL_IP" --local=/test/ --local=/18.198.in-addr.arpa/
DNSMASQ_PID=$BG_PID
wait_for 10 sh -c "ip netns exec '$NS' ss -Hlun 'src $KERNEL_IP:53' | grep -q ."

head -c $((1048576 + 12345)) /dev/urandom >"$WORK/page.bin"
want=$(sha "$WORK/page.bin")
kernel_bg "$WORK/kernel-http.log" "$SHIM_PYTHON" -m http.server --bind "$KERNEL_IP" \
  --directory "$WORK" 8000
wait_for 10 kernel_listening "$KERNEL_IP:8000"

# udp_counter <log> <Name>: a Udp counter from a --stats table (0 when not printed).
udp_counter() {
  awk -v n="$2" '$1 == "Udp" && $2 == n { v = $3 } END { print v + 0 }' "$1"
}
queries_from() { grep -c "query\[A\] $1 from $2" "$WORK/dnsmasq.log" || true; }

log "1. ${HTTP_GET[0]} under the shim fetches http://web.test:8000/ by name"
shim_run --stats -- "${HTTP_GET[@]}" -o "$WORK/down.bin" "http://web.test:8000/page.bin" \
  2>"$WORK/fetch.log" || fail "the fetch by name failed (exit $?)"
[ "$(sha "$WORK/down.bin")" = "$want" ] || fail "downloaded bytes differ"
out=$(udp_counter "$WORK/fetch.log" OutDatagrams)
in=$(udp_counter "$WORK/fetch.log" InDatagrams)
[ "$out" -ge 1 ] && [ "$in" -ge 1 ] ||
  fail "the query did not use the stack's UDP (Udp OutDatagrams $out, InDatagrams $in)"
[ "$(queries_from web.test "$STACK_IP")" -ge 1 ] ||
  fail "dnsmasq logged no query for web.test from $STACK_IP"
echo "ok: fetched by name, sha256 $want; Udp OutDatagrams $out InDatagrams $in"

log "2. python3's resolver calls under the shim"
got=$(shim_run -- "$SHIM_PYTHON" "$LOOKUP" getaddrinfo web.test) || fail "getaddrinfo: $got"
[ "$got" = "AF_INET $KERNEL_IP" ] || fail "getaddrinfo(web.test) gave '$got'"
got=$(shim_run -- "$SHIM_PYTHON" "$LOOKUP" gethostbyname web.test) ||
  fail "gethostbyname: $got"
[ "$got" = "$KERNEL_IP" ] || fail "gethostbyname(web.test) gave '$got'"
got=$(shim_run -- "$SHIM_PYTHON" "$LOOKUP" gethostbyname_ex web.test) ||
  fail "gethostbyname_ex: $got"
[ "$got" = "web.test $KERNEL_IP" ] || fail "gethostbyname_ex(web.test) gave '$got'"
got=$(shim_run -- "$SHIM_PYTHON" "$LOOKUP" getnameinfo "$KERNEL_IP" 80) ||
  fail "getnameinfo: $got"
[ "$got" = "web.test http" ] || fail "getnameinfo($KERNEL_IP, 80) gave '$got'"
grep -q "query\[PTR\] 1.0.18.198.in-addr.arpa from $STACK_IP" "$WORK/dnsmasq.log" ||
  fail "dnsmasq logged no PTR query from $STACK_IP"
echo "ok: getaddrinfo, gethostbyname, gethostbyname_ex, getnameinfo"

log "3. an unknown name"
rc=0
got=$(shim_run -- "$SHIM_PYTHON" "$LOOKUP" getaddrinfo nosuch.test) || rc=$?
[ $rc -eq 2 ] && [ "$got" = "error -2" ] || fail "getaddrinfo(nosuch.test): '$got' (exit $rc)"
if ! shim_is_asan; then
  rc=0
  shim_run -- curl -sS -o /dev/null "http://nosuch.test:8000/" 2>"$WORK/curl-nx.log" || rc=$?
  [ $rc -eq 6 ] || fail "curl for an unknown name exited $rc, not 6 (couldn't resolve host)"
fi
[ "$(queries_from nosuch.test "$STACK_IP")" -ge 1 ] || fail "no query for nosuch.test seen"
echo "ok: EAI_NONAME$(shim_is_asan || echo ", curl exit 6")"

log "4. NETSHIM_DNS=kernel keeps glibc's resolver"
before=$(queries_from web.test "$KERNEL_IP")
got=$(NETSHIM_DNS=kernel shim_run --stats -- "$SHIM_PYTHON" "$LOOKUP" gethostbyname web.test \
  2>"$WORK/kernel-mode.log") || fail "kernel-mode gethostbyname: $got"
[ "$got" = "$KERNEL_IP" ] || fail "kernel-mode gethostbyname(web.test) gave '$got'"
[ "$(queries_from web.test "$KERNEL_IP")" -gt "$before" ] ||
  fail "the kernel-mode query did not come from the kernel's own address"
[ "$(udp_counter "$WORK/kernel-mode.log" OutDatagrams)" -eq 0 ] ||
  fail "kernel mode sent datagrams through the stack"
echo "ok: resolved by glibc over a kernel socket"

kill "$DNSMASQ_PID"
echo PASS
