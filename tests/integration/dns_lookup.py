#!/usr/bin/env python3
"""Name lookups through the C library's resolver entry points, as a program makes them.

usage: dns_lookup.py getaddrinfo NAME       prints the IPv4 addresses, one a line
       dns_lookup.py gethostbyname NAME     prints the address
       dns_lookup.py gethostbyname_ex NAME  prints the canonical name and the addresses
       dns_lookup.py getnameinfo ADDR PORT  prints host and service

A failed lookup prints "error CODE" (socket.gaierror's errno, e.g. -2 for EAI_NONAME;
socket.herror's h_errno for gethostbyname_ex) and exits 2.
"""
import socket
import sys


def main():
    call, arg = sys.argv[1], sys.argv[2]
    try:
        if call == "getaddrinfo":
            infos = socket.getaddrinfo(arg, 80, socket.AF_UNSPEC, socket.SOCK_STREAM)
            for family, _, _, _, addr in infos:
                print(f"{family.name} {addr[0]}")
        elif call == "gethostbyname":
            print(socket.gethostbyname(arg))
        elif call == "gethostbyname_ex":
            name, _, addrs = socket.gethostbyname_ex(arg)  # gethostbyname_r in CPython
            print(name, " ".join(addrs))
        elif call == "getnameinfo":
            host, serv = socket.getnameinfo((arg, int(sys.argv[3])), 0)
            print(host, serv)
        else:
            print(f"unknown call {call}", file=sys.stderr)
            return 1
    except (socket.gaierror, socket.herror) as e:
        print(f"error {e.errno}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
