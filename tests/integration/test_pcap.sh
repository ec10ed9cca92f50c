#!/usr/bin/env bash
# --pcap records every frame in and out; tshark reads the file and sees the gratuitous ARP,
# (an "ARP Announcement" to tshark), the ARP exchange and each echo request with its reply.
source "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps installs it)"
ns_setup
start_host --pcap "$WORK/capture.pcap"
nsx ping -c 4 -W 2 "$STACK_IP" | grep -q "4 received" || fail "ping failed"
stop_host

tshark -r "$WORK/capture.pcap" -T fields -e frame.number -e _ws.col.Protocol -e _ws.col.Info \
  >"$WORK/decoded.txt" 2>"$WORK/tshark.log" || fail "tshark could not read the capture"
cat "$WORK/decoded.txt"
requests=$(tshark -r "$WORK/capture.pcap" -Y "icmp.type == 8" 2>/dev/null | wc -l)
replies=$(tshark -r "$WORK/capture.pcap" -Y "icmp.type == 0 && icmp.resp_to" 2>/dev/null | wc -l)
garp=$(tshark -r "$WORK/capture.pcap" -Y "arp.isannouncement == 1 && eth.src == $HOST_MAC" 2>/dev/null | wc -l)
[ "$requests" -eq 4 ] || fail "capture has $requests echo requests, want 4"
[ "$replies" -eq 4 ] || fail "capture has $replies matched echo replies, want 4"
[ "$garp" -ge 1 ] || fail "capture has no gratuitous ARP from $HOST_MAC"
# Checksum status 1 is "good", 0 "bad" (Wireshark's PROTO_CHECKSUM_E_*).
good=$(tshark -r "$WORK/capture.pcap" -o ip.check_checksum:TRUE \
  -Y "icmp.type == 0 && ip.checksum.status == 1 && icmp.checksum.status == 1" 2>/dev/null | wc -l)
bad=$(tshark -r "$WORK/capture.pcap" -o ip.check_checksum:TRUE \
  -Y "ip.checksum.status == 0 || icmp.checksum.status == 0" 2>/dev/null | wc -l)
[ "$good" -eq 4 ] || fail "tshark verified $good echo replies' checksums, want 4"
[ "$bad" -eq 0 ] || fail "tshark found $bad frames with bad checksums"
echo PASS
