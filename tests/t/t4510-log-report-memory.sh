#!/bin/sh
# t4510-log-report-memory: dsmtp-log report streams: over a 200 MB
# synthetic log (20,000 distinct peer domains, over a year of days,
# certificates that change, failures) its peak memory is that of a 20 MB
# run: the per-peer tables are bounded (RPT_MAX_PEERS and the rest, see
# dsmtp-log(1)) and sessions are forgotten at their '-'. The peers past
# the bound are counted under "(other peers)", and the totals still add
# up to every session. DSMTP_REPORT_BENCH_MB=1024 runs it over 1 GB.
. "${srcdir:-.}/tests/t/lib.sh"
need_ python3

MB=${DSMTP_REPORT_BENCH_MB:-200}
gen() {	# gen DIR MB: a receive and a send log of about MB megabytes in all
	python3 - "$1" "$2" <<'PY' || framework_failure_ "generator failed"
import os, sys, time
out, mb = sys.argv[1], int(sys.argv[2])
HEAD = ('#Software: dsmtp 0.1.0\n#Log-type: SMTP %s Protocol Log\n#Date: 2026-01-01T00:00:00.000Z\n'
        '#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,'
        'event,data,context\n')
os.makedirs(out + '/receive')
os.makedirs(out + '/send')
files = {0: open(out + '/receive/RECV20260101-1.LOG', 'w'), 1: open(out + '/send/SEND20260101-1.LOG', 'w')}
files[0].write(HEAD % 'Receive')
files[1].write(HEAD % 'Send')
t0 = 1767225600	# 2026-01-01
size, n, want = 0, 0, mb << 20
buf = {0: [], 1: []}
while size < want:
    d = n % 8 == 7		# one session in eight is sent
    peer = 'peer%d.example' % (n % 20000)
    ts = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t0 + n * 480)) + '.000Z'
    sid = '%016x' % (n + 1)
    rem = '198.51.%d.%d:%d' % (n % 200, n % 250, 1024 + n % 60000)
    conn = 'dsmtpd 127.0.0.1:25' if not d else 'route ' + peer
    pre = '%s,%s,%s,%%d,127.0.0.1:25,%s,' % (ts, conn, sid, rem)
    tls = n % 10 != 0
    recs = ['+,,', '>,220 mx.example.org ESMTP dsmtpd,', '<,EHLO %s,' % peer]
    if tls:
        recs += ['<,STARTTLS,', '>,220 2.0.0 Ready to start TLS,',
                 '*,version=TLSv1.3; cipher=TLS_AES_256_GCM_SHA384; kx=X25519; resumed=no,TLS negotiated',
                 '*,subject=CN=%s\\x3b O=x; issuer=CN=CA; serial=01; not_before=2026-01-01T00:00:00Z; '
                 'not_after=2027-0%d-01T00:00:00Z; san=%s; sha1=%040x; sha256=%064x; spki=sha256/A=; '
                 'chain_len=2,Remote certificate' % (peer, 1 + n % 9, peer, n % 7, (n % 20000) * 3 + n % 3),
                 '*,chain=%s; names=%s; pin=none,TLS verification' % ('ok' if n % 13 else 'unknown issuer', peer),
                 '*,level=verify; domain=%s; result=%s; reason=r%d,Policy' % (peer, 'pass' if n % 13 else 'fail', n % 50)]
    recs += ['<,MAIL FROM:<a@%s>,' % peer, '>,250 2.1.0 Ok,', '<,RCPT TO:<b@example.org>,',
             '>,250 2.1.5 Ok,', '<,DATA,', '>,354 go ahead,', '>,250 2.0.0 Ok: queued,',
             '<,QUIT,', '>,221 2.0.0 Bye,', '-,quit,']
    if d:	# a send session: the client side speaks '>'
        recs = [r.replace('<,', '@,').replace('>,', '<,').replace('@,', '>,') for r in recs]
    lines = ''.join(pre % i + r + '\n' for i, r in enumerate(recs))
    buf[d].append(lines)
    size += len(lines)
    n += 1
    if n % 5000 == 0:
        for k in (0, 1):
            files[k].write(''.join(buf[k]))
            buf[k] = []
for k in (0, 1):
    files[k].write(''.join(buf[k]))
    files[k].close()
print(n)
PY
}
small=$(gen "$TRASH/small" $((MB / 10)))
big=$(gen "$TRASH/big" "$MB")

test_expect_success "report over ${MB} MB: memory does not grow with the log, totals add up" "
	python3 - '$DSMTP_LOG' '$TRASH/small' '$TRASH/big' $small $big <<'PY'
import json, os, resource, subprocess, sys, time
def run(path):
    # each in a child of its own, so ru_maxrss is that run's peak
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t = time.time()
        out = subprocess.run([sys.argv[1], 'report', '--json', path], stdout=subprocess.PIPE, check=True).stdout
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        open(path + '.json', 'wb').write(out)
        os.write(w, ('%f %d' % (time.time() - t, rss)).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode().split()
    os.waitpid(pid, 0)
    return float(data[0]), int(data[1]), json.load(open(path + '.json'))
ts, rs, js = run(sys.argv[2])
tb, rb, jb = run(sys.argv[3])
size = sum(os.path.getsize(os.path.join(d, f)) for d in (sys.argv[3] + '/receive', sys.argv[3] + '/send') for f in os.listdir(d))
print('%d MB: %.2f s (%.0f MB/s), %d sessions, max RSS %d KB (%d MB run: %d KB)' %
      (size >> 20, tb, size / tb / 1e6, int(sys.argv[5]), rb, (size >> 20) // 10, rs))
for j, n in ((js, int(sys.argv[4])), (jb, int(sys.argv[5]))):
    assert j['totals']['all']['sessions'] == n, (j['totals'], n)
    assert j['totals']['all']['tls'] == n - (n + 9) // 10, j['totals']
    assert sum(p['sessions'] for p in j['peers']) == n
    assert len(j['peers']) <= 4096 + 2, len(j['peers'])
other = [p for p in jb['peers'] if p['other_peers']]
assert other and other[0]['sessions'] > 0, 'no (other peers) row past the bound'
assert len(jb['days']) > 300, len(jb['days'])
assert jb['failures'], 'no failures counted'
assert rb < rs + 20 * 1024, ('memory grew with the log', rs, rb)
PY"
sed 's/^/# /' "$TRASH/out.$ntest"
finish
