#!/usr/bin/env python3
"""memscan.py: does a process's memory hold a copy of a private key?

usage: memscan.py KEYFILE PID...

The key's secret numbers (EC / Ed25519 private scalar; RSA private
exponent and primes) are taken from `openssl pkey -text`, and each is
searched for in every readable, writable mapping of each PID (through
/proc/PID/maps and /proc/PID/mem; needs root), in both byte orders
(big-endian as in the file, little-endian as GMP/nettle limbs hold it on
x86), together with the base64 lines of the PEM file itself. Prints one
line per PID and what was found; exit 0 when nothing was found in any,
1 when something was, 2 on a usage or reading error."""
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
    with open(keyfile, "rb") as f:
        pem = f.read()
    body = [l.strip() for l in pem.splitlines() if l.strip() and not l.startswith(b"-----")]
    # the first line is the algorithm's header, common to every key of its kind
    for i, l in enumerate(body[1:], 1):
        if len(l) >= 32:
            pats.append(("PEM line %d" % i, l))
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
