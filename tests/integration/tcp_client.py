#!/usr/bin/env python3
"""TCP checks against netshim-host's echo, discard and chargen services, run on the kernel
side. Standard library only; every socket has a timeout so a stall fails instead of hanging.

usage: tcp_client.py COMMAND HOST PORT [options]
  echo      stream --bytes each way over each of --conns connections at once (a writer
            thread and a reader per connection), then shutdown(SHUT_WR): the echo must match
            byte for byte (sha256) and end with EOF, not a reset
  discard   send --bytes, shutdown(SHUT_WR): the service must read it all and close with FIN
            (EOF here), never RST
  chargen   read --bytes and check every byte against the RFC 864 pattern, then close
  small     on each of --conns fresh connections, one after another, write a few bytes and
            expect their echo within --timeout (nothing is in flight, so Nagle holds nothing)
  refused   connect to a port nobody listens on: must be refused (RST), quickly
  abort     read --bytes from chargen, then abort the connection (SO_LINGER {1, 0}: RST)
  killed    send to echo without reading, wait until echoed bytes sit unread, then SIGKILL
            ourselves: the kernel resets the connection
  stale     connect to echo and check a round trip, print "connected", wait for the file
            --marker, then send again: the (restarted) host knows no such connection and must
            answer with RST
Each prints "ok ..." lines and exits non-zero with a message on failure."""
import argparse
import hashlib
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 20


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.lower().rstrip("ib")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def connect(args):
    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    s.settimeout(args.timeout)
    return s


def mbit(nbytes, seconds):
    return nbytes * 8 / max(seconds, 1e-9) / 1e6


class EchoStream:
    """One connection: a thread writes `size` seeded random bytes, then shuts down its
    sending half; the caller's thread (run()) reads the echo until EOF."""

    def __init__(self, args, index):
        self.args, self.index = args, index
        self.sent_hash, self.got_hash = hashlib.sha256(), hashlib.sha256()
        self.received = 0
        self.error = None

    def _write(self, sock):
        try:
            rng = random.Random(self.index + 1)
            left = self.args.bytes
            while left > 0:
                data = rng.randbytes(min(CHUNK, left))
                self.sent_hash.update(data)
                sock.sendall(data)
                left -= len(data)
            sock.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by run()
            self.error = f"send: {e!r}"

    def run(self):
        try:
            sock = connect(self.args)
        except Exception as e:
            self.error = f"connect: {e!r}"
            return
        with sock:
            writer = threading.Thread(target=self._write, args=(sock,), daemon=True)
            writer.start()
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            try:
                while True:
                    n = sock.recv_into(buf)
                    if n == 0:
                        break
                    self.got_hash.update(view[:n])
                    self.received += n
            except Exception as e:
                self.error = f"recv after {self.received} bytes: {e!r}"
            writer.join(self.args.timeout)
            if self.error is None and writer.is_alive():
                self.error = "the writer is stuck"
        if self.error is None and self.received != self.args.bytes:
            self.error = f"EOF after {self.received} of {self.args.bytes} bytes"
        if self.error is None and self.sent_hash.digest() != self.got_hash.digest():
            self.error = "the echo differs from what was sent (sha256)"


def cmd_echo(args):
    streams = [EchoStream(args, i) for i in range(args.conns)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in streams]
    start = time.monotonic()
    for t in threads:
        t.start()
    deadline = start + args.deadline
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - start
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        done = sum(s.received for s in streams)
        sys.exit(f"{stuck} of {args.conns} connections still running after {args.deadline} s "
                 f"({done} bytes echoed in all)")
    failed = [(s.index, s.error) for s in streams if s.error]
    for index, error in failed[:10]:
        print(f"connection {index}: {error}", file=sys.stderr)
    if failed:
        sys.exit(f"{len(failed)} of {args.conns} connections failed")
    total = args.bytes * args.conns
    print(f"ok echo: {args.conns} x {args.bytes} bytes each way in {elapsed:.1f} s "
          f"({mbit(total, elapsed):.0f} Mbit/s each way), "
          f"sha256 {streams[0].sent_hash.hexdigest()[:16]}")


def cmd_discard(args):
    sock = connect(args)
    start = time.monotonic()
    block = random.Random(7).randbytes(CHUNK)
    left = args.bytes
    while left > 0:
        n = min(left, len(block))
        sock.sendall(block[:n])
        left -= n
    sock.shutdown(socket.SHUT_WR)
    try:
        rest = sock.recv(1)
    except ConnectionResetError:
        sys.exit("discard reset the connection instead of closing it")
    elapsed = time.monotonic() - start
    if rest:
        sys.exit(f"discard sent data: {rest!r}")
    sock.close()
    print(f"ok discard: {args.bytes} bytes in {elapsed:.1f} s ({mbit(args.bytes, elapsed):.0f} "
          f"Mbit/s), closed with FIN")


def cmd_small(args):
    stalled = []
    for i in range(args.conns):
        with connect(args) as sock:
            message = f"small {i}".encode()
            start = time.monotonic()
            sock.sendall(message)
            try:
                got = b""
                while len(got) < len(message):
                    data = sock.recv(100)
                    if not data:
                        sys.exit(f"connection {i}: EOF before the echo")
                    got += data
            except socket.timeout:
                stalled.append(sock.getsockname()[1])
                continue
            if got != message:
                sys.exit(f"connection {i}: echo {got!r}, want {message!r}")
            sock.shutdown(socket.SHUT_WR)
            if sock.recv(1) != b"":
                sys.exit(f"connection {i}: data after the echo")
    if stalled:
        sys.exit(f"{len(stalled)} of {args.conns} small writes got no echo within {args.timeout} s "
                 f"(client ports {stalled})")
    print(f"ok small: {args.conns} small writes echoed at once")


def chargen_ring(min_size):
    """The RFC 864 stream (BSD inetd's ring: the 95 printable characters from the space),
    repeated to at least min_size bytes."""
    chars = bytes(range(32, 127))
    period = b"".join((chars + chars)[n:n + 72] + b"\r\n" for n in range(95))
    assert len(period) == 7030
    return period, period * (min_size // len(period) + 2)


def cmd_chargen(args):
    sock = connect(args)
    period, ring = chargen_ring(CHUNK + 7030)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    start = time.monotonic()
    while got < args.bytes:
        n = sock.recv_into(view[:min(CHUNK, args.bytes - got)])
        if n == 0:
            sys.exit(f"chargen closed after {got} bytes")
        at = got % len(period)
        if view[:n] != ring[at:at + n]:
            for i in range(n):
                if buf[i] != ring[at + i]:
                    sys.exit(f"chargen byte {got + i} is {buf[i]!r}, want {ring[at + i]!r}")
        got += n
    elapsed = time.monotonic() - start
    sock.close()
    print(f"ok chargen: {got} bytes match the pattern, in {elapsed:.1f} s "
          f"({mbit(got, elapsed):.0f} Mbit/s)")


def cmd_refused(args):
    start = time.monotonic()
    try:
        socket.create_connection((args.host, args.port), timeout=args.timeout).close()
    except ConnectionRefusedError:
        elapsed = time.monotonic() - start
        if elapsed > 2:
            sys.exit(f"refused only after {elapsed:.1f} s (a retransmitted SYN?)")
        print(f"ok refused in {elapsed * 1000:.1f} ms")
        return
    except socket.timeout:
        sys.exit("connecting to a closed port timed out: no RST")
    sys.exit("a closed port accepted the connection")


def cmd_abort(args):
    sock = connect(args)
    got = 0
    buf = bytearray(CHUNK)
    while got < args.bytes:
        n = sock.recv_into(buf)
        if n == 0:
            sys.exit(f"chargen closed after {got} bytes")
        got += n
    # SO_LINGER {on, 0 s}: close(2) discards everything and sends RST (Linux: tcp_close).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    print(f"ok aborted after {got} bytes")


def cmd_killed(args):
    sock = connect(args)
    sock.sendall(os.urandom(256 << 10))
    # Wait until echoed data sits unread: closing then makes the kernel send RST.
    deadline = time.monotonic() + args.timeout
    while len(sock.recv(1, socket.MSG_PEEK)) == 0:
        if time.monotonic() > deadline:
            sys.exit("no echo came back")
    print("ok killing myself with unread data", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def cmd_stale(args):
    sock = connect(args)
    sock.sendall(b"hello")
    if sock.recv(5) != b"hello":
        sys.exit("no echo before the restart")
    print("connected", flush=True)
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.marker):
        if time.monotonic() > deadline:
            sys.exit("the marker never appeared")
        time.sleep(0.05)
    start = time.monotonic()
    try:
        sock.sendall(b"again")
        data = sock.recv(5)
    except (ConnectionResetError, BrokenPipeError):
        print(f"ok reset by the restarted host in {(time.monotonic() - start) * 1000:.0f} ms")
        return
    except socket.timeout:
        sys.exit("no answer from the restarted host: no RST for an unknown connection")
    sys.exit(f"the restarted host answered {data!r} on a connection it cannot know")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["echo", "small", "discard", "chargen", "refused", "abort",
                                       "killed", "stale"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--bytes", type=parse_size, default=1 << 20)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30, help="per socket operation, seconds")
    p.add_argument("--deadline", type=float, default=200, help="for the whole run, seconds")
    p.add_argument("--marker", default="")
    args = p.parse_args()
    globals()["cmd_" + args.command](args)


if __name__ == "__main__":
    main()
