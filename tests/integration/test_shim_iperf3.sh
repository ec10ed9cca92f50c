#!/usr/bin/env bash
# iperf3 through the shim, both roles, its own accounting checked from --json:
#   client under the shim -> kernel iperf3 -s: TCP, TCP -R (reverse), TCP -Z (sendfile), UDP;
#   iperf3 -s -1 under the shim <- kernel client: TCP, TCP -R, TCP -R -Z (the server sends
#   with sendfile).
# For TCP the receiver must have counted what the sender counted, short only of what was
# still buffered when iperf3 compared the counts (see check_iperf3.py below); for UDP
# something must have arrived. No run may report an "error". When the client under the shim
# sends, its retransmits, cwnd and RTT (read through TCP_INFO) must be there.
source "$(dirname "$0")/lib.sh"
require_programs iperf3
shim_setup

CHECK="$WORK/check_iperf3.py"
cat >"$CHECK" <<'PY'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
with open(path) as f:
    r = json.load(f)
if "error" in r:
    sys.exit(f"iperf3 reported an error: {r['error']}")
end = r["end"]
sent, received = end["sum_sent"]["bytes"], end["sum_received"]["bytes"]
if received <= 0:
    sys.exit(f"{kind}: nothing received ({end['sum_received']})")
if kind == "udp":
    s = end["sum"]
    print(f"UDP: {received} bytes received of {sent} sent, "
          f"{s.get('lost_packets')} of {s.get('packets')} datagrams lost")
    sys.exit(0)
# iperf3 takes the receiver's count when the results are exchanged, which may be before the
# last bytes the sender wrote have left its send buffer (up to tcp_wmem's 4 MiB, kernel and
# stack alike) or the receiver's receive queue (the stack's grows to 6 MiB): the receiver
# then counts less, as between two kernels on any real link (seen: up to 5 MB at the end
# of -R). It may never count more, nor less by more than those buffers hold.
SLACK = 16 << 20
if received > sent:
    sys.exit(f"TCP: the receiver counted {received} bytes, more than the {sent} sent")
if sent - received > SLACK:
    sys.exit(f"TCP: the sender counted {sent} bytes, the receiver only {received}")
if len(sys.argv) > 3 and sys.argv[3] == "shim-sends":
    # The sender's figures iperf3 reads through TCP_INFO (tcpi_total_retrans, snd_cwnd,
    # rtt): present and plausible when the stack is the sender.
    if "retransmits" not in end["sum_sent"]:
        sys.exit("no retransmits in sum_sent: TCP_INFO was not read")
    sender = end["streams"][0]["sender"]
    if not (sender.get("max_snd_cwnd", 0) > 0 and sender.get("max_rtt", 0) > 0):
        sys.exit(f"TCP_INFO figures missing: {sender}")
    print(f"TCP_INFO: {end['sum_sent']['retransmits']} retransmits, "
          f"max cwnd {sender['max_snd_cwnd']} bytes, mean rtt {sender.get('mean_rtt')} us")
mbps = end["sum_received"]["bits_per_second"] / 1e6
note = "equal" if sent == received else f"{sent - received} still buffered at the end"
print(f"TCP: {sent} bytes sent, {received} received ({note}), {mbps:.0f} Mbit/s")
PY

# check <json> <tcp|udp>: iperf3's own accounting, read by python.
check() { "$SHIM_PYTHON" "$CHECK" "$@" || fail "$(basename "$1"): see above"; }

# clean <log...>: nothing from the sanitizers of an ASan/UBSan shim (UBSan goes on running).
clean() { ! grep -H -E "runtime error|Sanitizer" "$@" || fail "sanitizer report in $*"; }

IPERF=(iperf3 --connect-timeout 5000)  # for clients
export SHIM_TIMEOUT=40

log "kernel iperf3 -s; iperf3 -c under the shim"
kernel_bg "$WORK/kernel-server.log" timeout 120 iperf3 -s -B "$KERNEL_IP" -p 5201
wait_for 10 kernel_listening "$KERNEL_IP:5201"

run_client() {  # run_client <name> <tcp|udp> [iperf3 flags...]
  local name=$1 kind=$2 rc=0
  shift 2
  shim_run -- "${IPERF[@]}" -c "$KERNEL_IP" -p 5201 -t 2 --json "$@" >"$WORK/$name.json" \
    2>"$WORK/$name.log" || rc=$?
  [ $rc -eq 0 ] || { cat "$WORK/$name.json"; fail "iperf3 -c $* under the shim exited $rc"; }
  # Forward TCP: the client under the shim sends, and reads TCP_INFO from the stack.
  if [ "$kind" = tcp ] && [ $# -eq 0 ]; then
    check "$WORK/$name.json" "$kind" shim-sends
  else
    check "$WORK/$name.json" "$kind"
  fi
  clean "$WORK/$name.log"
  echo "ok: client under the shim, $name"
}
run_client tcp tcp
run_client tcp-reverse tcp -R
run_client tcp-zerocopy tcp -Z # sendfile(2) from a temporary file
run_client udp udp -u -b 50M

log "iperf3 -s -1 under the shim; kernel iperf3 -c"
run_server() {  # run_server <name> [kernel client's iperf3 flags...]
  local name=$1 rc=0
  shift
  # --rcv-timeout: a server that stops hearing from its client gives up rather than hang;
  # --forceflush: "Server listening" reaches the log at once, not at exit.
  shim_bg "$WORK/$name-server.log" -- iperf3 --rcv-timeout 10000 --forceflush -s -1 \
    -B "$STACK_IP" -p 5202
  local spid=$SHIM_PID
  wait_for 10 grep -q "Server listening" "$WORK/$name-server.log"
  timeout 40 ip netns exec "$NS" "${IPERF[@]}" -c "$STACK_IP" -p 5202 -t 2 --json "$@" \
    >"$WORK/$name.json" 2>"$WORK/$name.log" || rc=$?
  [ $rc -eq 0 ] || { cat "$WORK/$name.json"; fail "kernel iperf3 -c $* exited $rc"; }
  wait_exit 20 "$spid"
  [ "$WAIT_RC" -eq 0 ] || fail "iperf3 -s -1 under the shim exited with $WAIT_RC"
  check "$WORK/$name.json" tcp
  clean "$WORK/$name-server.log"
  echo "ok: server under the shim, $name"
}
run_server server-tcp
run_server server-tcp-reverse -R
run_server server-tcp-zerocopy -R -Z # the server under the shim sends with sendfile(2)
echo PASS
