#!/usr/bin/env python3
"""Under the shim: kernel fds and stack sockets side by side in one program.

Uses an AF_UNIX socketpair, a pipe, a regular file and two TCP connections to a kernel-side
echo server (HOST PORT), all registered in one `selectors.DefaultSelector` (epoll), and
moves bytes through each until everything has come back. Then the same with
selectors.PollSelector and SelectSelector. Exits 0 only when every byte matched.
"""
import os
import selectors
import socket
import sys
import tempfile


def exercise(selector_class, host, port):
    sel = selector_class()
    unix_a, unix_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pipe_r, pipe_w = os.pipe()
    tcp = [socket.create_connection((host, port), timeout=10) for _ in range(2)]
    payload = {name: os.urandom(200_000) for name in ("unix", "pipe", "tcp0", "tcp1")}
    received = {name: bytearray() for name in payload}
    pending = {name: memoryview(data) for name, data in payload.items()}
    for s in [unix_a, unix_b] + tcp:
        s.setblocking(False)
    os.set_blocking(pipe_r, False)
    os.set_blocking(pipe_w, False)
    # name -> (writer, reader); the tcp sockets write and read themselves (echo).
    ends = {"unix": (unix_a, unix_b), "pipe": (pipe_w, pipe_r), "tcp0": (tcp[0], tcp[0]),
            "tcp1": (tcp[1], tcp[1])}

    def fileno(x):
        return x if isinstance(x, int) else x.fileno()

    registered = {}
    for name, (w, r) in ends.items():
        for obj, ev in ((w, selectors.EVENT_WRITE), (r, selectors.EVENT_READ)):
            fd = fileno(obj)
            registered.setdefault(fd, [obj, 0, name])[1] |= ev
    for fd, (obj, ev, name) in registered.items():
        sel.register(fd, ev, name)

    with tempfile.TemporaryFile() as f:  # a regular file beside them, as programs do
        f.write(b"x" * 4096)
        f.seek(0)
        assert len(f.read()) == 4096

    done = set()
    while len(done) < len(ends):
        events = sel.select(timeout=20)
        if not events:
            raise RuntimeError(f"{selector_class.__name__}: stalled; done {sorted(done)}")
        for key, mask in events:
            name = key.data
            w, r = ends[name]
            if mask & selectors.EVENT_WRITE and pending[name] is not None:
                if len(pending[name]):
                    n = os.write(w, pending[name][:65536]) if isinstance(w, int) else w.send(
                        pending[name][:65536])
                    pending[name] = pending[name][n:]
                if not len(pending[name]):
                    pending[name] = None
                    if name.startswith("tcp"):
                        w.shutdown(socket.SHUT_WR)
                    # stop asking for writability on pure writers
                    fd = fileno(w)
                    if fd != fileno(r):
                        sel.unregister(fd)
                    else:
                        sel.modify(fd, selectors.EVENT_READ, name)
            if mask & selectors.EVENT_READ:
                try:
                    chunk = os.read(r, 65536) if isinstance(r, int) else r.recv(65536)
                except BlockingIOError:
                    continue
                received[name] += chunk
                if len(received[name]) == len(payload[name]) and name not in done:
                    done.add(name)
                    sel.unregister(fileno(r))
                elif not chunk:
                    raise RuntimeError(f"{name}: EOF after {len(received[name])} bytes")
    for name in payload:
        if bytes(received[name]) != payload[name]:
            raise RuntimeError(f"{selector_class.__name__}: {name} bytes differ")
    for s in [unix_a, unix_b] + tcp:
        s.close()
    os.close(pipe_r)
    os.close(pipe_w)
    sel.close()
    print(f"ok: {selector_class.__name__}: unix, pipe, 2 tcp, 200000 bytes each")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    for cls in (selectors.DefaultSelector, selectors.PollSelector, selectors.SelectSelector):
        exercise(cls, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
