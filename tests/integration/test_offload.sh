#!/usr/bin/env bash
# TSO and checksum offload through the TAP, on and off, against the kernel: 32 MiB echoed
# both ways at once through netshim-host, byte for byte (sha256). With offloads on, the
# stack must really have sent 64 KiB frames for the kernel to cut (TxGsoFrames), taken the
# kernel's 64 KiB segments whole (RxGsoFrames) and its partial checksums as vouched for;
# with them off, none of that may happen (every frame at the MTU, every checksum ours).
# Either way neither side may count a bad checksum: a wrong partial checksum or a wrong
# GSO header would show up as the kernel's TcpInCsumErrors or a stalled transfer.
source "$(dirname "$0")/lib.sh"
ns_setup
client="$(dirname "$0")/tcp_client.py"

kernel_csum_errors() {
  nsx nstat -az TcpInCsumErrors | awk '$1 == "TcpInCsumErrors" { print $2 }'
}

for mode in on off; do
  log "offloads $mode"
  before=$(kernel_csum_errors)
  NETSHIM_OFFLOAD=$mode start_host --tcp-echo 7
  timeout 200 ip netns exec "$NS" python3 "$client" echo "$STACK_IP" 7 --bytes 32M \
    --deadline 180 | tee "$WORK/echo-$mode.txt" || fail "the 32 MiB echo failed (offloads $mode)"
  grep -q "^ok echo" "$WORK/echo-$mode.txt" || fail "the echo did not finish (offloads $mode)"
  stop_host
  grep -E "^Link|InCsumErrors|RetransSegs" "$HOST_OUT" || true
  after=$(kernel_csum_errors)
  [ "$after" -eq "$before" ] || fail "the kernel counted $((after - before)) bad TCP checksums (offloads $mode)"
  [ "$(counter Tcp InCsumErrors)" -eq 0 ] || fail "netshim counted bad TCP checksums (offloads $mode)"
  [ "$(counter TcpEcho:7 OutBytes)" -eq $((32 * 1048576)) ] || fail "echoed $(counter TcpEcho:7 OutBytes) bytes"
  tx_gso=$(counter Link TxGsoFrames) rx_gso=$(counter Link RxGsoFrames)
  tx_csum=$(counter Link TxChecksumOffloaded) rx_trusted=$(counter Link RxChecksumTrusted)
  if [ "$mode" = on ]; then
    [ "$tx_gso" -gt 0 ] || fail "offloads on, but no TSO frame was sent"
    [ "$rx_gso" -gt 0 ] || fail "offloads on, but the kernel handed us no 64 KiB segment"
    [ "$tx_csum" -gt 0 ] && [ "$rx_trusted" -gt 0 ] || fail "offloads on, but no checksum was offloaded"
    # Each TSO frame is many segments: far more segments left than frames.
    [ "$(counter Tcp OutSegs)" -gt $((4 * $(counter Link TxFrames))) ] ||
      fail "OutSegs $(counter Tcp OutSegs) is not well above TxFrames $(counter Link TxFrames)"
  else
    [ "$tx_gso" -eq 0 ] && [ "$rx_gso" -eq 0 ] && [ "$tx_csum" -eq 0 ] && [ "$rx_trusted" -eq 0 ] ||
      fail "offloads off, but TxGso=$tx_gso RxGso=$rx_gso TxCsum=$tx_csum RxTrusted=$rx_trusted"
  fi
done
echo PASS
