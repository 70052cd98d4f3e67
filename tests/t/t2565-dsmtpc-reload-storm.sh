#!/bin/sh
# t2565-dsmtpc-reload-storm: dsmtpc run under SIGHUP storms (issue 14,
# finding 1). Replaced credentials are freed once the last session using
# them ends: an idle dsmtpc's memory stays flat over hundreds of reloads
# (it kept every replaced set before: 5 -> 21 MB over ~490 SIGHUPs), and a
# SIGHUP every 20 ms while it delivers over TLS frees nothing a handshake
# or session still uses (sanitizer build: no use-after-free).
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)

# B: the receiver, over verified TLS; A: the edge whose spool dsmtpc delivers
host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  retry: { first: 1, max: 2, lifetime: 3600 }
  max_parallel: 16
  connection_cache_time: 0
  routes:
    - domain: example.com
      next_hop: "[localhost]:$portB"
      tls: verify
EOF
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$portB" || framework_failure_ "dsmtpd B did not start"
wait_port 127.0.0.1 "$portA" || framework_failure_ "dsmtpd A did not start"

# the sanitizers' quarantine keeps freed memory resident by design (256 MB):
# off for the process whose RSS is measured, on for the storm below
start_bg dsmtpc-idle env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
    "$DSMTPC" -c "$TRASH/a.yaml" run
idle=$LAST_PID

test_expect_success "an idle dsmtpc run: RSS grows < 3 MB over 300 SIGHUPs (all reloaded)" "
	python3 - $idle '$TRASH/dsmtpc-idle.log' <<'PY'
import os, re, signal, sys, time
pid, log = int(sys.argv[1]), sys.argv[2]
def reloads():
    return open(log, errors='replace').read().count('SIGHUP: certificate reloaded')
end = time.time() + 20
while 'delivering from' not in open(log, errors='replace').read():
    assert time.time() < end, 'dsmtpc did not start'
    time.sleep(0.1)
# started as root, the pid started is the supervisor (it re-reads the keys
# at each SIGHUP and passes the signal on); the delivering child, which
# reloads everything else, says its pid: both are measured
m = re.search(r'delivery runs as .* \\(uid [0-9]+, pid ([0-9]+)\\)', open(log, errors='replace').read())
pids = [pid] + ([int(m.group(1))] if m else [])
assert m or os.getuid() != 0, 'started as root, but no delivering child named'
def rss():
    t = []
    for p in pids:
        for l in open('/proc/%d/status' % p):
            if l.startswith('VmRSS:'):
                t.append(int(l.split()[1]))
    assert len(t) == len(pids), 'no VmRSS'
    return t
# warm up: the first reloads fill caches (GnuTLS, the allocator)
for i in range(30):
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.02)
time.sleep(0.5)
before, n0 = rss(), reloads()
sent = 0
while reloads() - n0 < 300:
    os.kill(pid, signal.SIGHUP)
    sent += 1
    time.sleep(0.02)
    assert sent < 3000, 'reloads stalled at %d' % (reloads() - n0)
time.sleep(0.5)
after = rss()
for p, b, a in zip(pids, before, after):
    print('pid %d: VmRSS before %d kB, after %d kB (+%d kB) over %d reloads' % (p, b, a, a - b, reloads() - n0))
    assert a - b < 3 * 1024, (p, a - b)
PY"
kill "$idle" 2>/dev/null

# inject the messages first (dsmtpc is not running), then deliver them
# under a SIGHUP every 20 ms; every delivery is a new TLS session
test_expect_success "120 messages queued at A" "
	python3 - $portA <<'PY'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo('client.example.org')
for i in range(120):
    s.sendmail('a@example.org', ['x%d@example.com' % (i % 7)],
               ('Subject: storm %d\r\n\r\nbody %d\r\n' % (i, i)).encode())
s.quit()
PY"

start_bg dsmtpc "$DSMTPC" -c "$TRASH/a.yaml" run
cpid=$LAST_PID
test_expect_success "dsmtpc delivers all 120 over TLS under a SIGHUP every 2 ms" "
	python3 - $cpid '$TRASH/b/queue' '$TRASH/dsmtpc.log' <<'PY'
import glob, os, signal, sys, time
pid, queue, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
end, hups = time.time() + 120, 0
# a SIGHUP before the signal watcher is up would end the process
while 'delivering from' not in open(log, errors='replace').read():
    assert time.time() < end, 'dsmtpc did not start'
    time.sleep(0.05)
# a SIGHUP every 2 ms from the first delivery to the last (at least 200 of
# them: a fast machine delivers the 120 in a fraction of a second)
while len(glob.glob(queue + '/*.e')) < 120 or hups < 200:
    assert time.time() < end, 'only %d delivered' % len(glob.glob(queue + '/*.e'))
    os.kill(pid, signal.SIGHUP)
    hups += 1
    time.sleep(0.002)
n = open(log, errors='replace').read().count('SIGHUP: certificate reloaded')
print('delivered 120, %d SIGHUPs sent, %d reloads' % (hups, n))
assert n >= 10, n
PY"
test_expect_success "dsmtpc is alive and the sanitizers saw nothing" "
	kill -0 $cpid &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpc.log' '$TRASH/dsmtpc-idle.log'"
test_expect_success "SIGTERM: dsmtpc stops cleanly, no leak reported" "
	kill -TERM $cpid &&
	for i in \$(seq 1 100); do grep -q 'dsmtpc: stopped' '$TRASH/dsmtpc.log' && break; sleep 0.1; done &&
	sleep 0.5 && grep -q 'dsmtpc: stopped' '$TRASH/dsmtpc.log' &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpc.log'"
finish
