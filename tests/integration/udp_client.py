#!/usr/bin/env python3
"""UDP checks against a host's echo service, run on the kernel side.

usage: udp_client.py HOST ECHO_PORT CLOSED_PORT
Sends datagrams of many sizes (fragmented ones included) and a bounded stream of numbered
datagrams, and checks every echo byte for byte; then checks that a connected socket sending
to a port nobody listens on gets ECONNREFUSED (from ICMP port unreachable)."""
import errno
import hashlib
import os
import socket
import sys
import time

host, port, closed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((host, port))

for size in (0, 1, 100, 1472, 1473, 4000, 9000, 32768, 65507):
    payload = os.urandom(size)
    for attempt in range(3):  # UDP may lose the first datagram while ARP resolves
        s.send(payload)
        try:
            echo = s.recv(65536)
            break
        except socket.timeout:
            continue
    else:
        sys.exit(f"no echo for a {size}-byte datagram")
    if echo != payload:
        sys.exit(f"echo of {size} bytes differs ({len(echo)} bytes back)")
    print(f"ok {size}")

# A stream of numbered datagrams, kept within a window so no buffer overflows.
sent, got = hashlib.sha256(), hashlib.sha256()
count, window, received = 2000, 32, 0
deadline = time.monotonic() + 60
for i in range(count):
    data = i.to_bytes(4, "big") + os.urandom(500)
    sent.update(data)
    s.send(data)
    if i - received >= window:
        got.update(s.recv(65536))
        received += 1
while received < count and time.monotonic() < deadline:
    got.update(s.recv(65536))
    received += 1
if sent.digest() != got.digest():
    sys.exit("the stream of 2000 echoes differs from what was sent")
print(f"ok stream of {count} datagrams, sha256 {sent.hexdigest()[:16]}")

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(3)
c.connect((host, closed))
c.send(b"anyone?")
try:
    c.recv(100)
    sys.exit("a closed port answered")
except ConnectionRefusedError:
    print("ok closed port refused")
except socket.timeout:
    sys.exit("no ICMP port unreachable from a closed port")
