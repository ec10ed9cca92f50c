#!/usr/bin/python3
"""Client for scripts/bench's scale benchmark: memory per idle connection, and the latency of
one active connection among them. The same program runs on the kernel and under netshim.

idle_conns.py HOST PORT N PINGS

1. opens one active connection and ping-pongs on it (warms up the stack, which starts at the
   first socket, and Python's allocator);
2. reads VmRSS from /proc/self/status, opens N more connections one after another and
   leaves them idle, reads VmRSS again;
3. ping-pongs PINGS 64-byte messages on the active connection and times each round trip;
4. closes everything with SO_LINGER 0 (an RST: no TIME-WAIT left to exhaust the ephemeral
   ports of the next run).
Prints one JSON object. Every socket call has a 10 s timeout.
"""
import json
import resource
import socket
import struct
import sys
import time


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def raise_nofile(n):
    want = n + 1024
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard < want:
            sys.exit(f"idle_conns: RLIMIT_NOFILE hard limit {hard} < {want} and cannot be raised")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def dial(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def ping(s, msg):
    s.sendall(msg)
    got = 0
    while got < len(msg):
        chunk = s.recv(len(msg) - got)
        if not chunk:
            raise RuntimeError("server closed the active connection")
        got += len(chunk)


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def main():
    host, port, n, pings = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    raise_nofile(n)
    msg = b"x" * 64
    active = dial(host, port)
    for _ in range(200):
        ping(active, msg)
    rss_before = rss_kib()
    idle = []
    start = time.perf_counter()
    for _ in range(n):
        idle.append(dial(host, port))
    connect_seconds = time.perf_counter() - start
    time.sleep(0.5)  # let the last handshakes' ACKs and the server settle
    rss_after = rss_kib()
    rtts = []
    for _ in range(pings):
        t0 = time.perf_counter_ns()
        ping(active, msg)
        rtts.append((time.perf_counter_ns() - t0) / 1000)
    rtts.sort()
    linger0 = struct.pack("ii", 1, 0)
    for s in idle + [active]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
        s.close()
    print(json.dumps({
        "connections": n,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "bytes_per_connection": (rss_after - rss_before) * 1024 / n,
        "connects_per_second": n / connect_seconds,
        "rtt_p50_us": percentile(rtts, 50),
        "rtt_p99_us": percentile(rtts, 99),
        "rtt_avg_us": sum(rtts) / len(rtts),
    }))


if __name__ == "__main__":
    main()
