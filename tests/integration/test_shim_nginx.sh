#!/usr/bin/env bash
# nginx under the shim (one process: master_process off, so the stack and every connection
# live in it), epoll, sendfile on:
#   1. wrk from the kernel side, 2 threads, 200 connections, 5 s: requests answered, no socket
#      error (connect, read, write, timeout) and no non-2xx answer;
#   2. a 50 MiB file served through sendfile(2), fetched by curl on the kernel side: the
#      same bytes.
source "$(dirname "$0")/lib.sh"
require_programs nginx wrk curl
shim_setup
PORT=8080
# 200 connections on each side plus nginx's own files.
ulimit -n 4096

mkdir -p "$WORK/html" "$WORK/logs"
echo "netshim nginx test" >"$WORK/html/small.txt"
head -c $((50 * 1048576)) /dev/urandom >"$WORK/html/big.bin"
cat >"$WORK/nginx.conf" <<EOF
master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile 4096;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events {
    use epoll;
    worker_connections 1024;
    accept_mutex off;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    server {
        listen $PORT;
        root $WORK/html;
    }
}
EOF

log "nginx under the shim"
# -e: the error log before the configuration is read (else /var/log/nginx).
shim_bg "$WORK/nginx.log" -- nginx -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf"
nginx_pid=$SHIM_PID
wait_for 15 test -s "$WORK/nginx.pid"
wait_for 10 bash -c "ip netns exec $NS curl -sf -o /dev/null http://$STACK_IP:$PORT/small.txt"

log "wrk (kernel) -> nginx under the shim: 2 threads, 200 connections, 5 s"
# --timeout 10s: wrk's default of 2 s counts a connection whose SYN was lost in the opening
# burst of 200 (the kernel resends it after 1 s, then 3 s) as a socket error on a slow
# (ASan) build; a stalled connection still shows as a timeout.
timeout 60 ip netns exec "$NS" wrk -t2 -c200 -d5s --timeout 10s "http://$STACK_IP:$PORT/small.txt" \
  >"$WORK/wrk.txt" 2>&1 || { rc=$?; cat "$WORK/wrk.txt"; fail "wrk exited with $rc"; }
cat "$WORK/wrk.txt"
# wrk prints these lines only when there is something to count.
! grep -q "Socket errors" "$WORK/wrk.txt" || fail "wrk: $(grep 'Socket errors' "$WORK/wrk.txt")"
! grep -q "Non-2xx" "$WORK/wrk.txt" || fail "wrk: $(grep 'Non-2xx' "$WORK/wrk.txt")"
requests=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$WORK/wrk.txt")
[ "${requests:-0}" -gt 0 ] || fail "wrk counted no requests"
kill -0 "$nginx_pid" || fail "nginx under the shim died"
echo "ok: $requests requests, no socket errors, all 2xx"

log "curl (kernel) <- a 50 MiB file through sendfile"
timeout 60 ip netns exec "$NS" curl -sS --fail -o "$WORK/big.out" \
  "http://$STACK_IP:$PORT/big.bin" || fail "curl exited with $?"
[ "$(sha "$WORK/big.out")" = "$(sha "$WORK/html/big.bin")" ] ||
  fail "the file came back different ($(stat -c %s "$WORK/big.out") bytes)"
echo "ok: 50 MiB through sendfile, sha256 matches"

! grep -q "\[alert\]\|\[crit\]\|\[emerg\]" "$WORK/error.log" ||
  fail "nginx logged: $(grep '\[alert\]\|\[crit\]\|\[emerg\]' "$WORK/error.log" | head -n 3)"
kill -QUIT "$nginx_pid"
wait_exit 20 "$nginx_pid"
echo PASS
