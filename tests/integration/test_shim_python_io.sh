#!/usr/bin/env bash
# Python's file-to-socket and batch calls under the shim against a kernel-side peer:
#   1. socket.sendfile() of a 20 MiB file on a blocking socket (os.sendfile with offsets);
#   2. the same from an offset on a socket with a timeout (non-blocking underneath: partial
#      sends and EAGAIN, retried after select);
#   3. os.sendfile(sock, fd, None, n) on a non-blocking socket: no offset, so the file's
#      position must move by exactly what each call sent;
# each compared by sha256 with what the kernel side received. Then, through ctypes (the
# C library's names resolve to the preloaded shim): sendfile from a stack socket (EINVAL /
# ESPIPE), statx and fstatat with AT_EMPTY_PATH on a stack socket (a socket, mode 0777),
# and sendmmsg/recvmmsg (MSG_WAITFORONE, a timeout) against a kernel UDP echo.
source "$(dirname "$0")/lib.sh"
shim_setup

head -c $((20 * 1048576)) /dev/urandom >"$WORK/big.bin"
SKIP=12345
full=$(sha "$WORK/big.bin")
tail -c +$((SKIP + 1)) "$WORK/big.bin" >"$WORK/tail.bin"
part=$(sha "$WORK/tail.bin")

# The kernel side: takes three TCP connections one after another, each saved to its own
# file, and echoes UDP datagrams until killed, on port 7000.
cat >"$WORK/peer.py" <<'PY'
import socket, sys, threading
host, work = sys.argv[1], sys.argv[2]
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((host, 7000))
def echo():
    while True:
        data, peer = udp.recvfrom(65536)
        udp.sendto(data, peer)
echoer = threading.Thread(target=echo, daemon=True)
echoer.start()
srv = socket.create_server((host, 7000))
print("listening", flush=True)
for i in (1, 2, 3):
    conn, _ = srv.accept()
    with conn, open(f"{work}/got{i}.bin", "wb") as out:
        while chunk := conn.recv(1 << 20):
            out.write(chunk)
    print(f"connection {i} done", flush=True)
echoer.join()  # echoes on until the test ends it
PY

cat >"$WORK/client.py" <<'PY'
import ctypes, errno, os, platform, select, socket, struct, sys
host, path, skip = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(path)
libc = ctypes.CDLL(None, use_errno=True)

def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")

# 1. socket.sendfile on a blocking socket.
with socket.create_connection((host, 7000)) as s, open(path, "rb") as f:
    sent = s.sendfile(f)
    check(sent == size, f"blocking socket.sendfile sent {sent} of {size}")
    check(f.tell() == size, f"file left at {f.tell()}")
print("ok: socket.sendfile, blocking")

# 2. From an offset on a socket with a timeout (O_NONBLOCK underneath).
with socket.create_connection((host, 7000)) as s, open(path, "rb") as f:
    s.settimeout(30)
    sent = s.sendfile(f, offset=skip)
    check(sent == size - skip, f"socket.sendfile with a timeout sent {sent}")
print("ok: socket.sendfile from an offset, non-blocking")

# 3. No offset: the position moves by exactly what was sent.
with socket.create_connection((host, 7000)) as s, open(path, "rb") as f:
    s.setblocking(False)
    fd, total, partial, eagain = f.fileno(), 0, 0, 0
    while total < size:
        try:
            n = os.sendfile(s.fileno(), fd, None, 1 << 20)
        except BlockingIOError:
            eagain += 1
            check(os.lseek(fd, 0, os.SEEK_CUR) == total, "EAGAIN moved the position")
            select.select([], [s], [], 10)
            continue
        check(n > 0, f"os.sendfile returned {n} before the end")
        total += n
        partial += n < (1 << 20) and total < size
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        check(pos == total, f"position {pos} after sending {total}")
    check(os.sendfile(s.fileno(), fd, None, 1 << 20) == 0, "no end of file")
    print(f"ok: os.sendfile without an offset ({partial} partial sends, {eagain} EAGAIN)")

    # sendfile's input must not be a socket (Linux: no FMODE_LSEEK / FMODE_PREAD).
    def sendfile_errno(in_fd, offset):
        off = ctypes.c_long(offset) if offset is not None else None
        r = libc.sendfile(s.fileno(), in_fd, ctypes.byref(off) if off is not None else None,
                          ctypes.c_size_t(10))
        return ctypes.get_errno() if r < 0 else 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        check(sendfile_errno(other.fileno(), None) == errno.EINVAL, "socket input: not EINVAL")
        check(sendfile_errno(other.fileno(), 0) == errno.ESPIPE, "socket input: not ESPIPE")
    print("ok: a stack socket is no sendfile input")

    # statx and fstatat of the socket itself.
    AT_EMPTY_PATH, STATX_BASIC_STATS = 0x1000, 0x7FF
    buf = ctypes.create_string_buffer(256)
    r = libc.statx(s.fileno(), b"", AT_EMPTY_PATH, STATX_BASIC_STATS, buf)
    check(r == 0, f"statx: errno {ctypes.get_errno()}")
    mode = struct.unpack_from("H", buf, 28)[0]
    check(mode == 0o140777, f"statx mode {oct(mode)}")
    st_mode_offset = {"x86_64": 24, "aarch64": 16}.get(platform.machine())
    if st_mode_offset is not None:
        r = libc.fstatat(s.fileno(), b"", buf, AT_EMPTY_PATH)
        check(r == 0, f"fstatat: errno {ctypes.get_errno()}")
        mode = struct.unpack_from("I", buf, st_mode_offset)[0]
        check(mode == 0o140777, f"fstatat mode {oct(mode)}")
    check(os.stat(path).st_size == size, "stat of a file by name")
    print("ok: statx and fstatat see a socket")

# sendmmsg / recvmmsg against the kernel's UDP echo.
class iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", msghdr), ("msg_len", ctypes.c_uint)]
class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
MSG_WAITFORONE = 0x10000

def batch(payloads, capacity=0):
    bufs = [ctypes.create_string_buffer(p, capacity or len(p)) for p in payloads]
    iovs = (iovec * len(bufs))(*[iovec(ctypes.cast(b, ctypes.c_void_p), len(b)) for b in bufs])
    msgs = (mmsghdr * len(bufs))()
    for i in range(len(bufs)):
        msgs[i].msg_hdr.msg_iov = ctypes.pointer(iovs[i])
        msgs[i].msg_hdr.msg_iovlen = 1
    return bufs, iovs, msgs

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
    u.connect((host, 7000))
    # Blocking (Python's settimeout would make it O_NONBLOCK), bounded by SO_RCVTIMEO.
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
    payloads = [b"first", b"second datagram", b"3"]
    keep = batch(payloads)
    n = libc.sendmmsg(u.fileno(), keep[2], 3, 0)
    check(n == 3, f"sendmmsg sent {n} (errno {ctypes.get_errno()})")
    check([keep[2][i].msg_len for i in range(3)] == [len(p) for p in payloads], "msg_len")
    # A blocking call waits for all three: the timeout is looked at only between them.
    bufs, iovs, msgs = batch([b""] * 3, 64)
    t = timespec(10, 0)
    n = libc.recvmmsg(u.fileno(), msgs, 3, 0, ctypes.byref(t))
    check(n == 3, f"recvmmsg got {n} (errno {ctypes.get_errno()})")
    got = [bufs[i].raw[:msgs[i].msg_len] for i in range(3)]
    check(got == payloads, f"recvmmsg got {got}")
    check(0 <= t.tv_sec <= 10, f"time left {t.tv_sec}")
    # MSG_WAITFORONE: one queued, the call returns with it instead of waiting for more.
    check(libc.sendmmsg(u.fileno(), keep[2], 1, 0) == 1, "sendmmsg of one")
    n = libc.recvmmsg(u.fileno(), msgs, 3, MSG_WAITFORONE, None)
    check(n == 1 and bufs[0].raw[:msgs[0].msg_len] == b"first", f"WAITFORONE got {n}")
    bad = timespec(0, 1000000000)
    n = libc.recvmmsg(u.fileno(), msgs, 3, 0, ctypes.byref(bad))
    check(n == -1 and ctypes.get_errno() == errno.EINVAL, "a bad timeout is not EINVAL")
print("ok: sendmmsg and recvmmsg")
PY

kernel_bg "$WORK/peer.log" timeout 120 "$SHIM_PYTHON" -u "$WORK/peer.py" "$KERNEL_IP" "$WORK"
wait_for 10 grep -q listening "$WORK/peer.log"
rc=0
SHIM_TIMEOUT=90 shim_run -- "$SHIM_PYTHON" -u "$WORK/client.py" "$KERNEL_IP" "$WORK/big.bin" \
  "$SKIP" 2>"$WORK/client.log" || rc=$?
cat "$WORK/client.log" >&2
[ $rc -eq 0 ] || fail "the client under the shim failed (exit $rc)"
# Nothing from the sanitizers of an ASan/UBSan shim (UBSan goes on running).
! grep -E "runtime error|Sanitizer" "$WORK/client.log" || fail "sanitizer report"
wait_for 30 grep -q "connection 3 done" "$WORK/peer.log"
[ "$(sha "$WORK/got1.bin")" = "$full" ] || fail "blocking socket.sendfile: other bytes arrived"
[ "$(sha "$WORK/got2.bin")" = "$part" ] || fail "socket.sendfile from an offset: other bytes"
[ "$(sha "$WORK/got3.bin")" = "$full" ] || fail "os.sendfile without an offset: other bytes"
echo "ok: 3 x 20 MiB arrived intact (sha256)"
echo PASS
