#!/usr/bin/python3
"""A kernel-side server for scripts/bench's idle-connection benchmark.

conn_server.py HOST PORT

Accepts any number of TCP connections and echoes whatever arrives on any of them (one thread,
epoll), so that a client can hold thousands of idle connections and ping-pong on one more.
Prints "listening" once ready. Runs until killed.
"""
import resource
import selectors
import socket
import sys


def raise_nofile():
    # As root the hard limit may be raised too; each connection is one descriptor here.
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    raise_nofile()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(4096)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                accept_all(listener, sel)
            else:
                echo(key.fileobj, sel)


def accept_all(listener, sel):
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EMFILE and the like: leave the rest in the backlog
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(conn, selectors.EVENT_READ, True)


def echo(conn, sel):
    try:
        data = conn.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        data = b""
    if not data:
        sel.unregister(conn)
        conn.close()
        return
    try:
        conn.sendall(data)  # small messages: the send buffer always has room
    except OSError:
        sel.unregister(conn)
        conn.close()


if __name__ == "__main__":
    main()
