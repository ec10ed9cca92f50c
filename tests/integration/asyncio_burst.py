#!/usr/bin/env python3
"""A burst of connections against an asyncio echo server whose accept queue must hold them
all, for test_shim_asyncio.sh.

  asyncio_burst.py server HOST PORT BACKLOG GO_FILE
      listens with BACKLOG but accepts nothing until GO_FILE exists (at most 60 s), so every
      connection that arrives first must wait, handshake complete, in the accept queue
      (Linux: a listener holds up to BACKLOG + 1 there, sk_acceptq_is_full); then echoes
      every connection until its peer's EOF, and stops at SIGTERM. Prints "listening" once
      bound.
  asyncio_burst.py client HOST PORT CONNECTIONS GO_FILE
      opens CONNECTIONS connections at once and waits until every one is established
      (each within 10 s), creates GO_FILE, then each sends a few KiB of its own random
      bytes, half-closes and reads the echo to EOF. Exits 0 only if every connection was
      established and got exactly its bytes back. Prints the slowest connect time.
"""
import asyncio
import os
import signal
import socket
import sys
import time

from asyncio_echo import handle  # the same echo, once the connections are accepted


async def serve(host, port, backlog, go_file):
    # Listening by hand: asyncio's start_serving=False would not listen(2) at all yet.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    print("listening", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go_file) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    print("accepting", flush=True)
    # listen(2) again with the same backlog (asyncio calls it): Linux only updates it.
    server = await asyncio.start_server(handle, sock=sock, backlog=backlog)
    # SIGTERM ends the process normally (atexit runs: the shim's counters are printed);
    # a background job of a non-interactive shell ignores SIGINT, so that cannot.
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    print("stopped", flush=True)


async def connect(host, port):
    start = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    return reader, writer, time.monotonic() - start


async def echo(reader, writer, index):
    # A few KiB, a different size on each connection.
    data = os.urandom(2048 + 37 * index % 6144)
    writer.write(data)
    await writer.drain()
    writer.write_eof()
    got = await asyncio.wait_for(reader.read(-1), 30)
    writer.close()
    await writer.wait_closed()
    if got != data:
        raise RuntimeError(f"connection {index}: {len(got)} bytes back of {len(data)}, "
                           "or other bytes")


async def clients(host, port, count, go_file):
    conns = await asyncio.gather(*(connect(host, port) for _ in range(count)),
                                 return_exceptions=True)
    failed = [c for c in conns if isinstance(c, BaseException)]
    if failed:
        print(f"{len(failed)}/{count} connections not established: {failed[0]!r}", flush=True)
        return False
    slowest = max(c[2] for c in conns)
    print(f"{count} connections established before any accept, slowest in {slowest:.3f} s",
          flush=True)
    open(go_file, "w").close()
    results = await asyncio.gather(*(echo(r, w, i) for i, (r, w, _) in enumerate(conns)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for e in errors[:5]:
        print(f"error: {e!r}", file=sys.stderr)
    print(f"{count - len(errors)}/{count} connections echoed", flush=True)
    return not errors


def main():
    role, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "server":
        asyncio.run(serve(host, port, int(sys.argv[4]), sys.argv[5]))
        return 0
    ok = asyncio.run(clients(host, port, int(sys.argv[4]), sys.argv[5]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
