#!/usr/bin/env python3
"""An HTTP server that dies mid-transfer: promises 10 MiB, sends 1 MiB, then resets the
connection (SO_LINGER {1, 0} close sends RST, as a killed process's unread socket does).

usage: reset_server.py HOST PORT   (serves one connection; prints "listening" when ready)
"""
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(1)
print("listening", flush=True)
conn, _ = server.accept()
conn.recv(65536)  # the request
conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n" + b"z" * 1048576)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
print("reset sent", flush=True)
