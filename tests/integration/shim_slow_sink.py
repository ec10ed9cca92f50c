#!/usr/bin/env python3
"""Kernel-side TCP sink for test_shim_exit_drain.sh: a small receive window, no reading for
a while after accepting (so the sender's data waits in its send queue), then everything
until EOF into a file.

usage: shim_slow_sink.py ADDR PORT OUTPUT DELAY_SECONDS"""
import socket
import sys
import time


def main():
    addr, port, output, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Set before listen so the accepted socket inherits it and offers a small window.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    listener.bind((addr, port))
    listener.listen(1)
    print("listening", flush=True)
    conn, _ = listener.accept()
    time.sleep(delay)
    with open(output, "wb") as out:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            out.write(data)
    conn.close()
    print("eof", flush=True)


if __name__ == "__main__":
    main()
