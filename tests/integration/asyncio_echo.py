#!/usr/bin/env python3
"""asyncio echo over TCP, both roles, for the shim's epoll (asyncio's default selector on
Linux is epoll: non-blocking accept/connect, EPOLL_CTL_MOD between reading and writing).

  asyncio_echo.py server HOST PORT
      echoes every connection until its peer's EOF; prints "listening" once bound.
  asyncio_echo.py client HOST PORT CONNECTIONS BYTES
      opens CONNECTIONS connections at once, each sends BYTES random bytes, half-closes
      and reads the echo to EOF; exits 0 only if every connection got its own bytes back.
"""
import asyncio
import os
import sys


async def handle(reader, writer):
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve(host, port):
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


async def one(host, port, size, index):
    data = os.urandom(size)
    reader, writer = await asyncio.open_connection(host, port)

    async def send():
        for off in range(0, size, 16384):
            writer.write(data[off:off + 16384])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    got = await reader.read(-1)
    await sender
    writer.close()
    await writer.wait_closed()
    if got != data:
        raise RuntimeError(f"connection {index}: {len(got)} bytes back of {size}, or other bytes")


async def clients(host, port, count, size):
    results = await asyncio.gather(*(one(host, port, size, i) for i in range(count)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for e in errors[:5]:
        print(f"error: {e!r}", file=sys.stderr)
    print(f"{count - len(errors)}/{count} connections echoed {size} bytes", flush=True)
    return not errors


def main():
    role, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "server":
        asyncio.run(serve(host, port))
        return 0
    ok = asyncio.run(clients(host, port, int(sys.argv[4]), int(sys.argv[5])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
