#!/usr/bin/env python3
"""AF_INET6 programs for test_shim_dualstack.sh; under the shim unless the mode says kernel.

  server PORT OUT        AF_INET6 TCP server on [::]:PORT: accepts one connection, writes what
                         it receives until EOF to OUT, answers with the sha256 of it, closes.
  client HOST PORT IN OUT  AF_INET6 TCP client: sends IN, shuts down its half, writes what it
                         receives until EOF to OUT; then the native-IPv6 failures.
  udp-client HOST PORT   AF_INET6 UDP socket on [::]:0 sends datagrams to an echo server and
                         checks each reply and where it came from.
  v6only PORT            an AF_INET socket on 0.0.0.0:PORT and an IPV6_V6ONLY one on
                         [::]:PORT, both listening (what redis and nginx do); serves one
                         connection on the IPv4 one, then checks the IPv6-only one saw none.
  kernel-server PORT IN OUT  AF_INET TCP server (the kernel's) on 198.18.0.1:PORT: writes what
                         it receives until EOF to OUT, then sends IN and closes.
  kernel-udp-echo PORT   AF_INET UDP echo (the kernel's) on 198.18.0.1:PORT, until killed.
  kernel-client HOST PORT IN  AF_INET TCP client: sends IN, shuts down, prints the reply.

Each prints "ready" when listening and "name: value" lines the test checks; any surprise
raises (non-zero exit).
"""
import errno
import hashlib
import socket
import sys

SO_DOMAIN = getattr(socket, "SO_DOMAIN", 39)


def say(*args):
    print(*args, flush=True)


def recv_all(conn, out_path):
    digest = hashlib.sha256()
    with open(out_path, "wb") as out:
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def send_file(conn, in_path):
    with open(in_path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            conn.sendall(chunk)


def describe(sock):
    return (f"family {sock.family.name} SO_DOMAIN {sock.getsockopt(socket.SOL_SOCKET, SO_DOMAIN)} "
            f"V6ONLY {sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)}")


def expect_errno(what, expected, f):
    try:
        f()
    except OSError as e:
        if e.errno != expected:
            raise AssertionError(f"{what}: {errno.errorcode.get(e.errno)}, "
                                 f"expected {errno.errorcode[expected]}") from e
        say(f"{what}: {errno.errorcode[e.errno]}")
        return
    raise AssertionError(f"{what}: succeeded, expected {errno.errorcode[expected]}")


def server(port, out_path):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(8)
    say("listener:", describe(s), "name", s.getsockname()[:2])
    say("ready")
    conn, peer = s.accept()
    say("accepted from:", peer[0], "len", len(peer))
    say("peername:", conn.getpeername()[0])
    say("sockname:", conn.getsockname()[0])
    say("conn:", describe(conn))
    digest = recv_all(conn, out_path)
    conn.sendall(digest.encode())
    conn.close()
    s.close()


def client(host, port, in_path, out_path):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.connect((host, port))
    say("peername:", s.getpeername()[0])
    say("sockname:", s.getsockname()[0])
    say("conn:", describe(s))
    send_file(s, in_path)
    s.shutdown(socket.SHUT_WR)
    recv_all(s, out_path)
    s.close()
    # Native IPv6 is what a host without an IPv6 route makes of it.
    expect_errno("connect 2001:db8::1", errno.ENETUNREACH,
                 lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 80)))
    # ::1 is the host's loopback: handed to the kernel (NETSHIM_LOOPBACK=kernel), where
    # nothing listens on that port, and where binding it works.
    expect_errno("connect ::1", errno.ECONNREFUSED,
                 lambda: socket.socket(socket.AF_INET6).connect(("::1", port)))
    b = socket.socket(socket.AF_INET6)
    b.bind(("::1", 0))
    say("bind ::1: ok, port", "nonzero" if b.getsockname()[1] else "zero")
    b.close()
    expect_errno("sendto 2001:db8::1", errno.ENETUNREACH,
                 lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(
                     b"x", ("2001:db8::1", 9)))


def udp_client(host, port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", 0))
    s.settimeout(5)
    say("udp:", describe(s), "name", s.getsockname()[:2])
    for size in (1, 1000, 8000, 65000):  # 8000 and 65000 travel as IPv4 fragments
        payload = hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1)
        payload = payload[:size]
        s.sendto(payload, (host, port))
        data, frm = s.recvfrom(1 << 17)
        if data != payload:
            raise AssertionError(f"{size}-byte datagram came back as {len(data)} other bytes")
        if frm[:2] != (host, port) or len(frm) != 4:
            raise AssertionError(f"reply from {frm}")
        say(f"udp echo: {size} bytes from {frm[0]} port {frm[1]}")
    # recvmsg too, and a connected socket's send/recv.
    s.connect((host, port))
    say("udp connected peer:", s.getpeername()[0], "name:", s.getsockname()[0])
    s.send(b"connected")
    data, _, flags, frm = s.recvmsg(100)
    if data != b"connected" or frm[0] != host:
        raise AssertionError(f"recvmsg: {data!r} from {frm}")
    say("udp recvmsg from:", frm[0])


def v6only(port):
    s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s4.bind(("0.0.0.0", port))
    s4.listen(8)
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::", port))  # no conflict with the IPv4 wildcard on the same port
    s6.listen(8)
    say("v6only:", describe(s6), "REUSEADDR", s6.getsockopt(socket.SOL_SOCKET,
                                                               socket.SO_REUSEADDR))
    say("ready")
    conn, peer = s4.accept()
    say("v4 accepted from:", peer[0])
    conn.sendall(b"served by the IPv4 socket\n")
    conn.close()
    s6.setblocking(False)
    expect_errno("accept on the IPv6-only socket", errno.EAGAIN, s6.accept)


def kernel_server(port, in_path, out_path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.0.1", port))
    s.listen(1)
    say("ready")
    conn, peer = s.accept()
    say("kernel accepted from:", peer[0])
    recv_all(conn, out_path)
    send_file(conn, in_path)
    conn.close()


def kernel_udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.0.1", port))
    say("ready")
    while True:
        data, frm = s.recvfrom(1 << 17)
        s.sendto(data, frm)


def kernel_client(host, port, in_path):
    s = socket.create_connection((host, port), timeout=30)
    send_file(s, in_path)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := s.recv(4096):
        reply += chunk
    say("reply:", reply.decode())


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "server":
        server(int(args[0]), args[1])
    elif mode == "client":
        client(args[0], int(args[1]), args[2], args[3])
    elif mode == "udp-client":
        udp_client(args[0], int(args[1]))
    elif mode == "v6only":
        v6only(int(args[0]))
    elif mode == "kernel-server":
        kernel_server(int(args[0]), args[1], args[2])
    elif mode == "kernel-udp-echo":
        kernel_udp_echo(int(args[0]))
    elif mode == "kernel-client":
        kernel_client(args[0], int(args[1]), args[2])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
