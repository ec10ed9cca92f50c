#!/usr/bin/env python3
"""A raw-socket RESP client for test_shim_redis.sh: connections held open across a BGSAVE.

  redis_hold.py HOST PORT DIR
      opens two connections: `busy` issues PING, BGSAVE, polls INFO persistence until the
      save is over (bounded), then PING again; `idle` sends PING before the BGSAVE and then
      nothing until the save is over, when it must still have no EOF or reset pending and
      answer PING. Both are the same TCP connections throughout (their local ports are
      checked). Prints what it saw; exits 0 only when the save succeeded and both
      connections survived it intact.
"""
import os
import socket
import sys
import time


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.port = self.sock.getsockname()[1]
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection from port {self.port}: EOF from the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One RESP reply: simple string, error, integer or bulk string."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(f"server error: {rest.decode(errors='replace')}")
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            return data
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.reply()

    def nothing_pending(self):
        """True when neither data, EOF nor a reset waits on the connection."""
        self.sock.setblocking(False)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
            return False  # data or EOF (b"")
        except BlockingIOError:
            return True
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(10)


def info_field(info, name):
    for line in info.decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def main():
    host, port, rdb_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    busy, idle = Conn(host, port), Conn(host, port)
    ports = (busy.port, idle.port)
    assert busy.call("PING") == b"PONG" and idle.call("PING") == b"PONG"
    # Some data, so the child has something to write.
    for i in range(200):
        busy.call("SET", f"key:{i}", os.urandom(512))
    started = busy.call("BGSAVE")
    print(f"BGSAVE: {started.decode()}", flush=True)
    deadline = time.monotonic() + 30
    while True:
        info = busy.call("INFO", "persistence")
        # The parent marks the save in progress before BGSAVE answers (rdbSaveBackground).
        if info_field(info, "rdb_bgsave_in_progress") == "0":
            break
        if time.monotonic() > deadline:
            raise RuntimeError("BGSAVE did not finish within 30 s")
        time.sleep(0.05)
    status = info_field(info, "rdb_last_bgsave_status")
    print(f"rdb_last_bgsave_status:{status}", flush=True)
    if status != "ok" or info_field(info, "rdb_changes_since_last_save") != "0":
        print("the save failed or left changes unsaved", flush=True)
        return 1
    # The child has exited (the parent reaped it: in_progress is 0). Had it closed the
    # parent's connections for real, a FIN or RST would be waiting here.
    if not idle.nothing_pending():
        print("idle connection: EOF, reset or stray data after the BGSAVE", flush=True)
        return 1
    if busy.call("PING") != b"PONG" or idle.call("PING") != b"PONG":
        print("PING after the BGSAVE: no PONG", flush=True)
        return 1
    if (busy.sock.getsockname()[1], idle.sock.getsockname()[1]) != ports:
        print("the connections changed", flush=True)
        return 1
    if int(busy.call("DBSIZE")) < 200:
        print("keys lost", flush=True)
        return 1
    if not os.path.getsize(os.path.join(rdb_dir, "dump.rdb")):
        print("dump.rdb is empty", flush=True)
        return 1
    print("both connections intact after BGSAVE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
