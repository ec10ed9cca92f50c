#!/usr/bin/python3
"""Reads one benchmark tool's output for scripts/bench and prints the figures it needs.

parse.py iperf3 FILE      Mbit/s received (iperf3 --json; sum_received)
parse.py sockperf FILE    "P50 P99 AVG" in microseconds (sockperf ping-pong output)
parse.py wrk FILE         "REQUESTS_PER_S ERRORS REQUESTS" (wrk's text output)
parse.py idle FILE FIELD  one field of bench/idle_conns.py's JSON
parse.py callgrind FILE   total instructions (Ir) of a callgrind out file, all threads

Exits 1 with a one-line reason when the figure is not there (a tool that failed must never
look like a zero).
"""
import json
import re
import sys


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def iperf3(path):
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"iperf3 wrote no JSON ({e})")
    if "error" in r:
        fail(f"iperf3: {r['error']}")
    bps = r.get("end", {}).get("sum_received", {}).get("bits_per_second")
    if not bps:
        fail("iperf3: nothing received")
    print(f"{bps / 1e6:.1f}")


def sockperf(path):
    text = open(path, errors="replace").read()
    p50 = re.search(r"percentile 50\.000 =\s*([\d.]+)", text)
    p99 = re.search(r"percentile 99\.000 =\s*([\d.]+)", text)
    avg = re.search(r"Summary: (?:Latency|Round trip) is ([\d.]+) usec", text)
    if not (p50 and p99 and avg):
        fail("sockperf printed no percentiles")
    print(p50.group(1), p99.group(1), avg.group(1))


def wrk(path):
    text = open(path, errors="replace").read()
    rate = re.search(r"Requests/sec:\s*([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if not (rate and total):
        fail("wrk printed no Requests/sec")
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    print(rate.group(1), errors, total.group(1))


def idle(path, field):
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
            print(json.loads(lines[-1])[field])
    except (OSError, ValueError, IndexError, KeyError) as e:
        fail(f"idle_conns.py printed no result ({e!r})")


def callgrind(path):
    for line in open(path, errors="replace"):
        m = re.match(r"(?:totals|summary):\s*(\d+)", line)
        if m:
            print(m.group(1))
            return
    fail("no totals in the callgrind output")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "idle":
        idle(path, sys.argv[3])
    else:
        {"iperf3": iperf3, "sockperf": sockperf, "wrk": wrk, "callgrind": callgrind}[kind](path)


if __name__ == "__main__":
    main()
