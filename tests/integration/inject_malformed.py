#!/usr/bin/env python3
"""Sends a burst of hostile frames to a MAC through an AF_PACKET socket on a TAP's kernel
side: truncated and oversized headers, bad checksums and lengths, lying fragment offsets,
ping-of-death fragments, overlapping fragments, unknown EtherTypes, broken ARP.

usage: inject_malformed.py IFACE DST_MAC SRC_IP DST_IP [ROUNDS]
Prints how many frames it sent."""
import random
import socket
import struct
import sys


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip_header(src, dst, payload_len, proto=1, ihl=5, total=None, frag=0, ident=0x4242,
              good_sum=True, version=4):
    total = 20 + payload_len if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total & 0xFFFF, ident, frag, 64,
                    proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h += b"\x01" * (max(ihl, 5) * 4 - 20)  # NOP options when ihl > 5
    s = csum(h) if good_sum else (csum(h) ^ 0x5A5A) or 1
    return h[:10] + struct.pack("!H", s) + h[12:]


def icmp_echo(data=b"x" * 16, good_sum=True):
    h = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + data
    s = csum(h) if good_sum else 0xDEAD
    return h[:2] + struct.pack("!H", s) + h[4:]


def frames(dst_mac, src_mac, src, dst, rng):
    eth = lambda t: dst_mac + src_mac + struct.pack("!H", t)
    bcast = b"\xff" * 6
    out = []
    out.append(b"")                                     # empty
    out.append(dst_mac[:5])                             # shorter than Ethernet
    out.append(eth(0x0800))                             # Ethernet only
    out.append(eth(0x0800) + b"\x45\x00")               # truncated IPv4
    out.append(eth(0x86DD) + bytes(40))                 # IPv6
    out.append(eth(0x88CC) + bytes(30))                 # LLDP
    out.append(eth(0x0040) + bytes(50))                 # 802.3 length field
    out.append(eth(0x0800) + ip_header(src, dst, 24, version=6) + icmp_echo())
    out.append(eth(0x0800) + ip_header(src, dst, 24, ihl=4) + icmp_echo())
    out.append(eth(0x0800) + ip_header(src, dst, 24, ihl=15) + icmp_echo())  # IHL > total
    out.append(eth(0x0800) + ip_header(src, dst, 24, total=19) + icmp_echo())
    out.append(eth(0x0800) + ip_header(src, dst, 24, total=65535) + icmp_echo())
    out.append(eth(0x0800) + ip_header(src, dst, 24, good_sum=False) + icmp_echo())
    out.append(eth(0x0800) + ip_header(src, dst, 24) + icmp_echo(good_sum=False))
    out.append(eth(0x0800) + ip_header(src, dst, 4) + b"\x08\x00\x00\x00")  # ICMP too short
    out.append(eth(0x0800) + ip_header(src, dst, 24, proto=253) + bytes(24))  # unknown proto
    out.append(eth(0x0800) + ip_header("224.0.0.1", dst, 24) + icmp_echo())  # martian source
    out.append(eth(0x0800) + ip_header(dst, dst, 24) + icmp_echo())          # our own source
    out.append(eth(0x0800) + ip_header(src, "198.18.0.99", 24) + icmp_echo())  # not ours
    out.append(bcast + src_mac + b"\x08\x00" + ip_header(src, dst, 24) + icmp_echo())
    # Ping of death: a fragment that would end past 65535.
    out.append(eth(0x0800) + ip_header(src, dst, 64, frag=8189, ident=0x1111) + bytes(64))
    # Non-final fragment not a multiple of 8; zero-length middle fragment.
    out.append(eth(0x0800) + ip_header(src, dst, 13, frag=0x2000, ident=0x2222) + bytes(13))
    out.append(eth(0x0800) + ip_header(src, dst, 0, frag=0x2001, ident=0x2223))
    # Overlapping fragments of one datagram.
    out.append(eth(0x0800) + ip_header(src, dst, 32, frag=0x2000, ident=0x3333) + icmp_echo(bytes(24)))
    out.append(eth(0x0800) + ip_header(src, dst, 32, frag=0x2002, ident=0x3333) + bytes(32))
    out.append(eth(0x0800) + ip_header(src, dst, 8, frag=0x0005, ident=0x3333) + bytes(8))
    # A first fragment whose rest never comes (held until the 30 s timeout).
    out.append(eth(0x0800) + ip_header(src, dst, 16, frag=0x2000, ident=rng.randrange(1 << 16))
               + icmp_echo(bytes(8)))
    # ARP: bad hardware type, bad lengths, truncated, unknown op, request from 0.0.0.0.
    arp = lambda htype=1, ptype=0x0800, hl=6, pl=4, op=1, spa="198.18.0.1": struct.pack(
        "!HHBBH6s4s6s4s", htype, ptype, hl, pl, op, src_mac, socket.inet_aton(spa),
        bytes(6), socket.inet_aton(dst))
    out.append(bcast + src_mac + b"\x08\x06" + arp(htype=6))
    out.append(bcast + src_mac + b"\x08\x06" + arp(ptype=0x86DD))
    out.append(bcast + src_mac + b"\x08\x06" + arp(hl=8))
    out.append(bcast + src_mac + b"\x08\x06" + arp(op=9))
    out.append(bcast + src_mac + b"\x08\x06" + arp()[:20])
    # Random garbage with both EtherTypes.
    for _ in range(8):
        out.append(eth(0x0800) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120))))
        out.append(eth(0x0806) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
    # Oversized frame beyond the MTU.
    out.append(eth(0x0800) + ip_header(src, dst, 1600) + bytes(1600))
    return out


def main():
    iface, dst_mac_s, src, dst = sys.argv[1:5]
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    rng = random.Random(7)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    dst_mac = bytes(int(b, 16) for b in dst_mac_s.split(":"))
    sent = 0
    for _ in range(rounds):
        for f in frames(dst_mac, src_mac, src, dst, rng):
            try:
                s.send(f)
                sent += 1
            except OSError:
                pass  # the kernel refuses some (empty, too short): fine
    print(sent)


if __name__ == "__main__":
    main()
