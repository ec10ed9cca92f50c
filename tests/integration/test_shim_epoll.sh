#!/usr/bin/env bash
# epoll through the shim with python's asyncio (its selector on Linux is epoll), bytes
# checked on every connection:
#   1. an asyncio echo server under the shim, 500 concurrent kernel-side clients of 64 KiB;
#   2. 100 concurrent asyncio clients under the shim against a kernel-side asyncio server.
source "$(dirname "$0")/lib.sh"
shim_setup
ECHO="$(cd "$(dirname "$0")" && pwd)/asyncio_echo.py"
# More than the default 1024 descriptors: 500 connections each hold a socket per side.
ulimit -n 4096

log "asyncio echo server under the shim <- 500 kernel clients"
shim_bg "$WORK/server.log" -- "$SHIM_PYTHON" -u "$ECHO" server "$STACK_IP" 7000
wait_for 10 grep -q listening "$WORK/server.log"
timeout 120 ip netns exec "$NS" "$SHIM_PYTHON" "$ECHO" client "$STACK_IP" 7000 500 65536 \
  >"$WORK/clients.log" 2>&1 || { cat "$WORK/clients.log"; fail "kernel clients failed"; }
cat "$WORK/clients.log"
kill -TERM "$SHIM_PID"

log "100 asyncio clients under the shim -> kernel asyncio server"
kernel_bg "$WORK/kserver.log" "$SHIM_PYTHON" -u "$ECHO" server "$KERNEL_IP" 7001
wait_for 10 kernel_listening "$KERNEL_IP:7001"
shim_run -- "$SHIM_PYTHON" "$ECHO" client "$KERNEL_IP" 7001 100 65536 >"$WORK/sclients.log" 2>&1 ||
  { cat "$WORK/sclients.log"; fail "clients under the shim failed"; }
cat "$WORK/sclients.log"
echo PASS
