#!/usr/bin/env python3
"""memscan.py: does a process's memory hold a copy of a private key?

usage: memscan.py KEYFILE PID...

The key's secret numbers (EC / Ed25519 private scalar; RSA private
exponent and primes) are taken from `openssl pkey -text`, and each is
searched for in every readable, writable mapping of each PID (through
/proc/PID/maps and /proc/PID/mem; needs root), in both byte orders
(big-endian as in the file, little-endian as GMP/nettle limbs hold it on
x86), together with the base64 lines of the PEM file that encode any of
those bytes. Prints one
line per PID and what was found; exit 0 when nothing was found in any,
1 when something was, 2 on a usage or reading error."""
import base64
import re
import subprocess
import sys

MAX_REGION = 1 << 30    # skip reservations larger than this (ASan's shadow)


def secrets(keyfile):
    text = subprocess.run(["openssl", "pkey", "-in", keyfile, "-text", "-noout"],
                          check=True, capture_output=True, text=True).stdout
    out = {}
    label = None
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9]+):\s*$", line)
        if m:
            label = m.group(1)
            out.setdefault(label, "")
            continue
        if label and re.match(r"^\s+[0-9a-f:]+$", line):
            out[label] += line.strip().replace(":", "")
        else:
            label = None
    keep = {}
    for name in ("priv", "privateExponent", "prime1", "prime2"):
        h = out.get(name, "")
        if not h:
            continue
        b = bytes.fromhex(h).lstrip(b"\0")
        if len(b) >= 16:
            keep[name] = b
    if not keep:
        raise SystemExit("memscan: no secret found in %s" % keyfile)
    pats = []
    for name, b in keep.items():
        pats.append((name + " (big-endian)", b))
        pats.append((name + " (little-endian)", b[::-1]))
    # the PEM text: each base64 line that encodes secret bytes (a line of
    # the public key alone is in the certificate too, and may be found
    # there when its alignment happens to match)
    with open(keyfile, "rb") as f:
        pem = f.read()
    m = re.search(rb"-----BEGIN [A-Z ]*PRIVATE" rb" KEY-----\r?\n(.*?)-----END", pem, re.S)
    if m:
        lines = [l.strip() for l in m.group(1).splitlines() if l.strip()]
        der = base64.b64decode(b"".join(lines))
        spans = [(der.find(b), der.find(b) + len(b)) for b in keep.values() if der.find(b) >= 0]
        pos = 0
        for i, l in enumerate(lines):
            n = len(base64.b64decode(l)) if len(l) % 4 == 0 else len(l) * 3 // 4
            if len(l) >= 32 and any(lo < pos + n and pos < hi for lo, hi in spans):
                pats.append(("PEM line %d" % (i + 1), l))
            pos += n
    return pats


def scan(pid, pats):
    found = set()
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            perms = f[1]
            name = f[5] if len(f) > 5 else ""
            if "r" not in perms or ("w" not in perms and name not in ("[heap]", "[stack]")):
                continue
            if name in ("[vvar]", "[vsyscall]", "[vvar_vclock]") or hi - lo > MAX_REGION:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError):
                continue
            for what, p in pats:
                if p in data:
                    found.add(what)
    return sorted(found)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    pats = secrets(sys.argv[1])
    bad = False
    for pid in sys.argv[2:]:
        try:
            hits = scan(int(pid), pats)
        except OSError as e:
            print("%s: cannot read: %s" % (pid, e))
            return 2
        print("%s: %s" % (pid, ", ".join(hits) if hits else "no copy of the key (%d patterns)"
                          % len(pats)))
        bad = bad or bool(hits)
    return 1 if bad else 0


sys.exit(main())
