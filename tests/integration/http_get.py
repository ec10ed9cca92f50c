#!/usr/bin/env python3
"""A minimal HTTP GET client standing in for curl where curl cannot run.

curl deadlocks in setlocale() whenever libasan is preloaded, with or without the shim
(llvm/llvm-project#49223: preloaded ASan and glibc's internal locale lock), so the
ASan-built shim is exercised with this client instead. It keeps curl's exit codes for the
cases the tests check: 0 ok, 7 connection refused, 22 HTTP error, 28 timeout, 56 failure
receiving (a reset).

usage: http_get.py [--connect-timeout S] [-o FILE] URL
"""
import argparse
import http.client
import socket
import sys
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect-timeout", type=float, default=None)
    parser.add_argument("-o", dest="output", default=None)
    parser.add_argument("url")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.connect_timeout)
    try:
        conn.connect()
        conn.sock.settimeout(None)  # the timeout is for connecting only, as curl's
        conn.request("GET", url.path or "/")
        response = conn.getresponse()
        if response.status >= 400:
            print(f"http_get: HTTP {response.status}", file=sys.stderr)
            return 22
        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        while chunk := response.read(1 << 16):
            out.write(chunk)
        out.flush()
        return 0
    except ConnectionRefusedError as e:
        print(f"http_get: Failed to connect: Connection refused ({e})", file=sys.stderr)
        return 7
    except (ConnectionResetError, http.client.IncompleteRead) as e:
        print(f"http_get: Recv failure: Connection reset by peer ({e!r:.80})", file=sys.stderr)
        return 56
    except (socket.timeout, TimeoutError) as e:
        print(f"http_get: Connection timed out ({e})", file=sys.stderr)
        return 28
    except OSError as e:
        print(f"http_get: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
