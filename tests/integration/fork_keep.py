#!/usr/bin/env python3
"""A redis client under the shim that makes children every way a program does, each of
which must leave the parent's connection alone, for test_shim_redis.sh.

  fork_keep.py HOST PORT
      on one connection: PING; subprocess.run (CPython's vfork path, closing every fd it
      does not pass with close_range in the child; the exec'd child is preloaded with the
      same NETSHIM_* settings); os.posix_spawn; os.system; 30 os.fork
      children that close the socket and exit, while a second thread keeps PINGing on a
      second connection (the forks happen while another thread uses the shim); then C
      fdopen(3) through ctypes on a dup of the socket: a RESP PING written with fputs and
      the reply read with fgets. PING again on the first connection after each step.
      Exits 0 only if every step worked and both connections stayed up.
"""
import ctypes
import os
import socket
import subprocess
import sys
import threading
import time


def ping(sock):
    sock.sendall(b"PING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        chunk = sock.recv(64)
        if not chunk:
            raise RuntimeError("EOF from the server")
        got += chunk
    if got != b"+PONG\r\n":
        raise RuntimeError(f"PING answered {got!r}")


def step(name, sock, fn):
    fn()
    ping(sock)
    print(f"ok: {name}", flush=True)


def run_forks(sock, other):
    """30 fork children while a thread PINGs on `other`; each child closes both sockets."""
    stop = threading.Event()
    errors = []

    def pinger():
        try:
            while not stop.is_set():
                ping(other)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    t = threading.Thread(target=pinger)
    t.start()
    try:
        for i in range(30):
            pid = os.fork()
            if pid == 0:
                # The child: closing the inherited sockets must not touch the parent's.
                sock.close()
                other.close()
                os._exit(0)
            deadline = time.monotonic() + 10
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    raise RuntimeError(f"fork child {i} hung")
                time.sleep(0.005)
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"fork child {i}: status {status}")
    finally:
        stop.set()
        t.join()
    if errors:
        raise errors[0]
    ping(other)


def fdopen_ping(sock):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc.fgets.restype = ctypes.c_char_p
    libc.fgets.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    # Blocking, as stdio expects: a timeout makes Python's socket O_NONBLOCK (shared by the
    # dup), and fgets would see EAGAIN before the reply came, as with any fdopen'ed socket.
    sock.settimeout(None)
    fd = os.dup(sock.fileno())
    stream = libc.fdopen(fd, b"r+")
    if not stream:
        raise RuntimeError(f"fdopen: {os.strerror(ctypes.get_errno())}")
    if libc.fputs(b"PING\r\n", stream) < 0 or libc.fflush(stream) != 0:
        raise RuntimeError("fputs/fflush on the fdopen'ed socket failed")
    buf = ctypes.create_string_buffer(64)
    line = libc.fgets(buf, 64, stream)
    if line != b"+PONG\r\n":
        raise RuntimeError(f"fgets on the fdopen'ed socket: {line!r}")
    if libc.fclose(stream) != 0:  # closes the dup, not `sock`
        raise RuntimeError("fclose failed")
    sock.settimeout(10)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=10)
    other = socket.create_connection((host, port), timeout=10)
    ping(sock)
    step("subprocess.run (vfork, close_range in the child)", sock,
         lambda: subprocess.run(["/bin/true"], check=True, close_fds=True))
    # An exec'd child is preloaded again, with the same settings.
    step("exec keeps LD_PRELOAD and NETSHIM_*", sock, lambda: subprocess.run(
        [sys.executable, "-c", "import os, sys; e = os.environ; sys.exit(0 if "
         "'libnetshim' in e.get('LD_PRELOAD', '') and e.get('NETSHIM_ADDR') and "
         "any('libnetshim' in l for l in open('/proc/self/maps')) else 1)"], check=True))
    step("subprocess.run passing the socket", sock,
         lambda: subprocess.run(["/bin/true"], check=True, pass_fds=(sock.fileno(),)))

    def spawn():
        pid = os.posix_spawn("/bin/true", ["/bin/true"], os.environ)
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            raise RuntimeError("posix_spawn child failed")
    step("posix_spawn", sock, spawn)

    def system():
        if os.system("exit 0") != 0:
            raise RuntimeError("system failed")
    step("system", sock, system)
    step("30 forks while another thread uses the shim", sock, lambda: run_forks(sock, other))
    step("fdopen", sock, lambda: fdopen_ping(sock))
    print("all children left the connections alone", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
