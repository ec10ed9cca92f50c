#!/usr/bin/env bash
# Loopback under the shim (shim/loopback.h): with NETSHIM_LOOPBACK=kernel (the default) a
# socket that binds to or reaches 127.0.0.0/8 or ::1 becomes a kernel socket under the same
# descriptor, while the same program's other sockets stay on the stack:
#   one python3 program under the shim talks TCP to a kernel echo service on 127.0.0.1 and
#   to a kernel echo service on $KERNEL_IP over the stack (1 MiB each, sha256 checked both
#   ways; the services see 127.0.0.1 and $STACK_IP), UDP to a kernel echo on 127.0.0.1
#   (connect+send, and sendto), TCP to [::1] from an AF_INET6 socket; options set before
#   the handover read back after it (TCP_NODELAY, SO_RCVBUF as the kernel reports it for the
#   value passed, O_NONBLOCK); an epoll registration made before connect reports EPOLLOUT
#   and then EPOLLIN after the handover; a socket bound to 0.0.0.0:P on the stack keeps P;
#   a server under the shim bound to 127.0.0.1 is reached by a kernel client;
#   NETSHIM_LOOPBACK=stack hands nothing over: the stack delivers 127/8 and its own address
#   to itself (8 MiB echoed over 127.0.0.1 both ways at once, a wildcard listener reached at
#   $STACK_IP and 127.0.0.5 with Linux's source addresses, UDP ping-pong, ECONNREFUSED for
#   closed TCP and UDP ports), and the kernel's 127.0.0.1 service is never reached.
source "$(dirname "$0")/lib.sh"
shim_setup

export SHIM_TIMEOUT=60
HELPER="$WORK/loopback.py"
cat >"$HELPER" <<'PY'
import errno, fcntl, hashlib, os, select, socket, sys

def say(*a):
    print(*a, flush=True)

def name(e):
    return errno.errorcode.get(e, str(e))

def sha(b):
    return hashlib.sha256(b).hexdigest()

def exchange(s, data):
    """Sends data and ends the sending half from a thread while reading everything until EOF
    (send-all-then-read deadlocks against an echo once every buffer on the path is full)."""
    import threading
    def send_all():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    w = threading.Thread(target=send_all)
    w.start()
    got = bytearray()
    while b := s.recv(65536):
        got += b
    w.join(60)
    return bytes(got)

def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET

def kernel_tcp_echo(ip, port, count):
    l = socket.socket(family(ip))
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port))
    l.listen(8)
    l.settimeout(60)
    say("ready")
    for _ in range(count):
        c, peer = l.accept()
        say("accepted from", peer[0], peer[1])
        c.settimeout(30)
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
        c.close()

def kernel_udp_echo(ip, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    s.settimeout(60)
    say("ready")
    for _ in range(count):
        data, peer = s.recvfrom(2048)
        say("datagram from", peer[0])
        s.sendto(data, peer)

def client(kernel_ip, data_path):
    data = open(data_path, "rb").read()
    # TCP to a kernel service on 127.0.0.1, options set before the handover.
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    s.connect(("127.0.0.1", 7001))
    say("lo nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    say("lo rcvbuf", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    say("lo peer", s.getpeername()[0])
    say("lo echo", "ok" if exchange(s, data) == data else "differs")
    s.close()
    # TCP to the kernel peer over the stack, in the same process.
    s = socket.socket()
    s.settimeout(30)
    s.connect((kernel_ip, 7003))
    say("stack sockname", s.getsockname()[0])
    say("stack echo", "ok" if exchange(s, data) == data else "differs")
    s.close()
    # UDP to 127.0.0.1: connect then send, and sendto on an unconnected socket.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    u.connect(("127.0.0.1", 7002))
    u.send(b"udp-connected")
    say("udp connect reply", u.recv(100).decode())
    u.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    u.sendto(b"udp-sendto", ("127.0.0.1", 7002))
    reply, peer = u.recvfrom(100)
    say("udp sendto reply", reply.decode(), "from", peer[0])
    u.close()
    # [::1] from an AF_INET6 socket.
    s = socket.socket(socket.AF_INET6)
    s.settimeout(30)
    try:
        s.connect(("::1", 7004))
        say("v6 echo", "ok" if exchange(s, data[:100000]) == data[:100000] else "differs")
    except OSError as e:
        say("v6 connect:", name(e.errno))
    s.close()
    # Non-blocking, registered in epoll before connect.
    s = socket.socket()
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLOUT)
    r = s.connect_ex(("127.0.0.1", 7001))
    say("epoll connect", "ok" if r in (0, errno.EINPROGRESS) else name(r))
    say("epoll nonblock", bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK))
    ev = ep.poll(10)
    say("epoll out", any(fd == s.fileno() and m & select.EPOLLOUT for fd, m in ev))
    say("epoll so_error", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    s.send(b"epoll-check")
    s.shutdown(socket.SHUT_WR)
    ep.modify(s.fileno(), select.EPOLLIN)
    ev = ep.poll(10)
    say("epoll in", any(fd == s.fileno() and m & select.EPOLLIN for fd, m in ev))
    say("epoll echo", s.recv(100).decode())
    ep.close()
    s.close()
    # Bound to the wildcard on the stack first: the port stays through the handover.
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.settimeout(30)
    s.connect(("127.0.0.1", 7001))
    say("bound first: port kept", s.getsockname()[1] == port, port)
    say("bound first echo", "ok" if exchange(s, b"bound") == b"bound" else "differs")
    s.close()

def server(port, out_path):
    l = socket.socket()
    l.bind(("127.0.0.1", port))
    l.listen(1)
    l.settimeout(30)
    say("ready")
    c, peer = l.accept()
    say("server accepted from", peer[0])
    c.settimeout(30)
    got = bytearray()
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    c.sendall(got)
    c.close()
    open(out_path, "wb").write(got)

def kernel_client(ip, port, data_path):
    data = open(data_path, "rb").read()
    s = socket.create_connection((ip, port), timeout=30)
    say("kernel client echo", "ok" if exchange(s, data) == data else "differs")

def stack_mode(own_ip, data_path):
    import threading
    data = open(data_path, "rb").read()
    # TCP on 127.0.0.1, both ends in this process: the data both ways at once, echoed.
    l = socket.socket()
    l.bind(("127.0.0.1", 7006))
    l.listen(4)
    peers = []
    def echo_one():
        a, peer = l.accept()
        peers.append(peer[0])
        a.settimeout(30)
        while b := a.recv(65536):
            a.sendall(b)
        a.close()
    t = threading.Thread(target=echo_one)
    t.start()
    c = socket.socket()
    c.settimeout(30)
    c.connect(("127.0.0.1", 7006))
    got = exchange(c, data)
    t.join(60)
    say("stack accepted from", *peers)
    say("stack lo sockname", c.getsockname()[0])
    say("stack lo echo", "ok" if sha(got) == sha(data) else "differs")
    c.close()
    # A wildcard listener answers on our own address and on any 127/8 address; sources as
    # Linux picks them (the local route's "src").
    w = socket.socket()
    w.bind(("0.0.0.0", 7007))
    w.listen(4)
    for dst in (own_ip, "127.0.0.5"):
        c = socket.socket()
        c.settimeout(10)
        c.connect((dst, 7007))
        a, peer = w.accept()
        c.sendall(b"to " + dst.encode())
        say("stack", dst, "from", peer[0], "sockname", c.getsockname()[0], "got",
            a.recv(100).decode())
        a.close()
        c.close()
    # UDP on 127.0.0.1: sendto from an unbound socket, the reply to its source.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 7008))
    v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v.settimeout(10)
    v.sendto(b"ping", ("127.0.0.1", 7008))
    m, peer = u.recvfrom(100)
    u.sendto(m + b"-pong", peer)
    say("stack udp", v.recv(100).decode(), "from", peer[0])
    # Nothing listens on the stack at 7001 (the kernel's service there is not ours); a
    # datagram to a closed port comes back as ECONNREFUSED on a connected socket.
    c = socket.socket()
    c.settimeout(10)
    try:
        c.connect(("127.0.0.1", 7001))
        say("stack connect 7001: ok")
    except OSError as e:
        say("stack connect 7001:", name(e.errno))
    v.connect(("127.0.0.1", 7009))
    v.send(b"nobody")
    try:
        v.recv(100)
        say("stack udp closed port: answered")
    except OSError as e:
        say("stack udp closed port:", name(e.errno))

def rcvbuf_for(v):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, v)
    print(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "kernel-tcp-echo":
    kernel_tcp_echo(args[0], int(args[1]), int(args[2]))
elif cmd == "kernel-udp-echo":
    kernel_udp_echo(args[0], int(args[1]), int(args[2]))
elif cmd == "client":
    client(args[0], args[1])
elif cmd == "server":
    server(int(args[0]), args[1])
elif cmd == "kernel-client":
    kernel_client(args[0], int(args[1]), args[2])
elif cmd == "stack-mode":
    stack_mode(*args)
elif cmd == "rcvbuf":
    rcvbuf_for(int(args[0]))
PY

# clean <log...>: nothing from the sanitizers of an ASan/UBSan shim.
clean() { ! grep -H -E "runtime error|Sanitizer" "$@" || fail "sanitizer report in $*"; }
has() { grep -qxF -- "$2" "$1" || { cat "$1"; fail "$(basename "$1") lacks: $2"; }; }
py() { "$SHIM_PYTHON" "$HELPER" "$@"; }

head -c $((1048576 + 333)) /dev/urandom >"$WORK/a.bin"
a=$(sha "$WORK/a.bin")
nsx ip -6 addr show dev lo | grep -q "::1" || skip "no ::1 in the test namespace"

log "kernel services: TCP and UDP echo on 127.0.0.1, TCP echo on [::1] and $KERNEL_IP"
kernel_bg "$WORK/lo-tcp.log" "$SHIM_PYTHON" "$HELPER" kernel-tcp-echo 127.0.0.1 7001 4
lo_tcp=$BG_PID
kernel_bg "$WORK/lo-udp.log" "$SHIM_PYTHON" "$HELPER" kernel-udp-echo 127.0.0.1 7002 2
lo_udp=$BG_PID
kernel_bg "$WORK/remote.log" "$SHIM_PYTHON" "$HELPER" kernel-tcp-echo "$KERNEL_IP" 7003 1
remote=$BG_PID
kernel_bg "$WORK/v6.log" "$SHIM_PYTHON" "$HELPER" kernel-tcp-echo ::1 7004 1
v6=$BG_PID
for f in lo-tcp lo-udp remote v6; do wait_for 10 grep -qx ready "$WORK/$f.log"; done
rcvbuf=$(nsx "$SHIM_PYTHON" "$HELPER" rcvbuf 65536)

log "one program under the shim: 127.0.0.1 and ::1 through the kernel, $KERNEL_IP over the stack"
rc=0
shim_run -- "$SHIM_PYTHON" "$HELPER" client "$KERNEL_IP" "$WORK/a.bin" >"$WORK/client.log" 2>&1 ||
  rc=$?
[ $rc -eq 0 ] || { cat "$WORK/client.log"; fail "the client under the shim exited with $rc"; }
has "$WORK/client.log" "lo nodelay 1"
has "$WORK/client.log" "lo rcvbuf $rcvbuf"
has "$WORK/client.log" "lo peer 127.0.0.1"
has "$WORK/client.log" "lo echo ok"
has "$WORK/client.log" "stack sockname $STACK_IP"
has "$WORK/client.log" "stack echo ok"
has "$WORK/client.log" "udp connect reply udp-connected"
has "$WORK/client.log" "udp sendto reply udp-sendto from 127.0.0.1"
has "$WORK/client.log" "v6 echo ok"
has "$WORK/client.log" "epoll connect ok"
has "$WORK/client.log" "epoll nonblock True"
has "$WORK/client.log" "epoll out True"
has "$WORK/client.log" "epoll so_error 0"
has "$WORK/client.log" "epoll in True"
has "$WORK/client.log" "epoll echo epoll-check"
grep -qE "^bound first: port kept True [0-9]+$" "$WORK/client.log" ||
  { cat "$WORK/client.log"; fail "the port bound on the stack was not kept"; }
has "$WORK/client.log" "bound first echo ok"
clean "$WORK/client.log"
# Who the services saw: loopback for the handed-over sockets, the stack's address over the TAP.
port=$(sed -n 's/^bound first: port kept True //p' "$WORK/client.log")
[ "$(grep -c "^accepted from 127.0.0.1 " "$WORK/lo-tcp.log")" -eq 3 ] ||
  { cat "$WORK/lo-tcp.log"; fail "the 127.0.0.1 service did not see three loopback clients"; }
has "$WORK/lo-tcp.log" "accepted from 127.0.0.1 $port"
grep -q "^accepted from $STACK_IP " "$WORK/remote.log" ||
  { cat "$WORK/remote.log"; fail "the $KERNEL_IP service did not see $STACK_IP"; }
[ "$(grep -c "^datagram from 127.0.0.1$" "$WORK/lo-udp.log")" -eq 2 ] ||
  { cat "$WORK/lo-udp.log"; fail "the UDP service did not see two loopback datagrams"; }
grep -q "^accepted from ::1 " "$WORK/v6.log" || { cat "$WORK/v6.log"; fail "[::1] not reached"; }
for pid in $lo_udp $remote $v6; do
  wait_exit 10 "$pid"
  [ "$WAIT_RC" -eq 0 ] || fail "a kernel service exited with $WAIT_RC"
done
echo "ok: 127.0.0.1 (TCP, UDP), ::1 through the kernel and $KERNEL_IP over the stack, one run"

log "a server under the shim bound to 127.0.0.1, a kernel client"
shim_bg "$WORK/server.log" -- "$SHIM_PYTHON" "$HELPER" server 7005 "$WORK/server.out"
spid=$SHIM_PID
wait_for 10 grep -qx ready "$WORK/server.log"
kernel_listening 127.0.0.1:7005 || fail "no kernel listener on 127.0.0.1:7005"
nsx timeout 60 "$SHIM_PYTHON" "$HELPER" kernel-client 127.0.0.1 7005 "$WORK/a.bin" \
  >"$WORK/kclient.log" 2>&1 || { cat "$WORK/kclient.log"; fail "the kernel client failed"; }
has "$WORK/kclient.log" "kernel client echo ok"
wait_exit 30 "$spid"
[ "$WAIT_RC" -eq 0 ] || fail "the server under the shim exited with $WAIT_RC"
has "$WORK/server.log" "server accepted from 127.0.0.1"
[ "$(sha "$WORK/server.out")" = "$a" ] || fail "the server under the shim received other bytes"
clean "$WORK/server.log"
echo "ok: a listener under the shim on 127.0.0.1 is the kernel's, reached by a kernel client"

log "NETSHIM_LOOPBACK=stack: nothing goes to the kernel"
head -c $((8 * 1048576 + 77)) /dev/urandom >"$WORK/lo.bin"
rc=0
shim_run --loopback stack -- "$SHIM_PYTHON" "$HELPER" stack-mode "$STACK_IP" "$WORK/lo.bin" >"$WORK/stack.log" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$WORK/stack.log"; fail "the stack-mode program exited with $rc"; }
clean "$WORK/stack.log"
# The stack delivers 127/8 and its own address itself, in-process.
has "$WORK/stack.log" "stack accepted from 127.0.0.1"
has "$WORK/stack.log" "stack lo sockname 127.0.0.1"
has "$WORK/stack.log" "stack lo echo ok"
has "$WORK/stack.log" "stack $STACK_IP from $STACK_IP sockname $STACK_IP got to $STACK_IP"
has "$WORK/stack.log" "stack 127.0.0.5 from 127.0.0.1 sockname 127.0.0.1 got to 127.0.0.5"
has "$WORK/stack.log" "stack udp ping-pong from 127.0.0.1"
has "$WORK/stack.log" "stack connect 7001: ECONNREFUSED"
has "$WORK/stack.log" "stack udp closed port: ECONNREFUSED"
echo "ok: NETSHIM_LOOPBACK=stack: TCP and UDP on 127/8 and to $STACK_IP in-process, bytes verified"
# The kernel's service saw only the three clients of the first program.
[ "$(grep -c "^accepted from" "$WORK/lo-tcp.log")" -eq 3 ] ||
  { cat "$WORK/lo-tcp.log"; fail "the kernel's 127.0.0.1 service was reached in stack mode"; }
kill "$lo_tcp" 2>/dev/null || true
echo "PASS"
