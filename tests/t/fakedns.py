#!/usr/bin/env python3
"""fakedns.py: a tiny authoritative DNS server on loopback UDP for dsmtpc's
routing tests (dsmtpc reads DSMTPC_DNS_SERVERS=127.0.0.1:PORT).

Usage: fakedns.py PORT ZONE.json

ZONE.json maps lower-case names to records:
  {"example.test": {"MX": [[10, "mx1.example.test"]]},
   "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]}}
A name that is absent answers NXDOMAIN; a present name without the type
asked answers NOERROR with no records (NODATA). MX "." is a null MX.
Stops by itself after 120 s.
"""
import json
import socket
import struct
import sys
import time

port, zone = int(sys.argv[1]), json.load(open(sys.argv[2]))
TYPES = {1: "A", 28: "AAAA", 15: "MX"}


def encode_name(name):
    if name in (".", ""):
        return b"\0"
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"


def parse_question(pkt):
    pos, labels = 12, []
    while pkt[pos]:
        n = pkt[pos]
        labels.append(pkt[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    qtype, qclass = struct.unpack("!HH", pkt[pos + 1:pos + 5])
    return ".".join(labels).lower(), qtype, pkt[12:pos + 5]


def answer(pkt):
    qid, flags = struct.unpack("!HH", pkt[:4])
    name, qtype, question = parse_question(pkt)
    rrs = []
    rcode = 0
    if name not in zone:
        rcode = 3
    else:
        for value in zone[name].get(TYPES.get(qtype, "?"), []):
            if qtype == 1:
                rdata = socket.inet_pton(socket.AF_INET, value)
            elif qtype == 28:
                rdata = socket.inet_pton(socket.AF_INET6, value)
            else:
                rdata = struct.pack("!H", value[0]) + encode_name(value[1])
            rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata)
    hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1,
                      len(rrs), 0, 0)
    return hdr + question + b"".join(rrs)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
sock.settimeout(1)
end = time.time() + 120
while time.time() < end:
    try:
        pkt, peer = sock.recvfrom(4096)
    except socket.timeout:
        continue
    try:
        sock.sendto(answer(pkt), peer)
    except (IndexError, struct.error, UnicodeError):
        pass
