#!/bin/sh
# t9200-relay-kill: a 1,000-message relay run client -> dsmtpd A -> dsmtpc
# run -> dsmtpd B over verified TLS, with kill -9 of dsmtpd A (all its
# processes, or one worker) and of dsmtpc at random moments, each restarted.
# Every message that got 250 from A must arrive at B at least once, whole;
# duplicates are allowed (at-least-once) and counted. Under ASan/UBSan the
# run is scaled down (it says so). DSMTP_T9200_SEED=N replays one schedule,
# DSMTP_T9200_COUNT=N changes the count.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)

count=1000
if ldd "$DSMTPD" 2>/dev/null | grep -q asan; then
	count=300
	say "# sanitizer build (dsmtpd links libasan): 300 messages instead of 1,000"
fi
count=${DSMTP_T9200_COUNT:-$count}
seed=${DSMTP_T9200_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "# $count messages, seed $seed (DSMTP_T9200_SEED=$seed replays the kill schedule)"

# B: the far end, never killed; accepts example.com only
host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
# A: the edge, two workers; dsmtpc run delivers its spool to B (verify)
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 2
send:
  retry: { first: 1, max: 2, lifetime: 3600 }
  routes:
    - domain: example.com
      next_hop: "[localhost]:$portB"
      tls: verify
EOF
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
wait_port 127.0.0.1 "$portB" || framework_failure_ "dsmtpd B did not start"

# the run: senders, killer and restarts in one Python process; the PIDs of
# A and dsmtpc live in run.pid (rewritten at each restart) for lib.sh's cleanup
cat >"$TRASH/run.py" <<'PY'
import hashlib, os, random, signal, smtplib, socket, subprocess, sys, threading, time
(dsmtpd, dsmtpc, conf, port, count, seed, trash) = sys.argv[1:8]
port, count, seed = int(port), int(count), int(seed)
rnd = random.Random(seed)
lock = threading.Lock()
acked, attempted = set(), set()
stop_at = time.time() + 80		# hard bound, whatever happens
procs = {}
kills = {'dsmtpd': 0, 'worker': 0, 'dsmtpc': 0}
events = open(os.path.join(trash, 'events'), 'a', buffering=1)
acklog = open(os.path.join(trash, 'acked'), 'a', buffering=1)

def note(msg):
    events.write('%.3f %s\n' % (time.time(), msg))

def save_pids():
    live = [str(p.pid) for p in procs.values() if p.poll() is None]
    with open(os.path.join(trash, 'run.pid.new'), 'w') as f:
        f.write('\n'.join(live) + '\n')
    os.rename(os.path.join(trash, 'run.pid.new'), os.path.join(trash, 'run.pid'))

def start(name):
    log = open(os.path.join(trash, name + '.log'), 'a')
    args = [dsmtpd, '-c', conf] if name == 'dsmtpd' else [dsmtpc, '-c', conf, 'run']
    procs[name] = subprocess.Popen(args, stdout=log, stderr=log)
    log.close()
    save_pids()
    note('start %s %d' % (name, procs[name].pid))

def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''

def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []

def gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except OSError:
        return True

def kill9(name, one_worker=False):
    p = procs[name]
    victims = children(p.pid)
    if one_worker:
        # a worker, not the key process beside them (DESIGN.md 13.4)
        victims = [v for v in victims if comm(v) == 'dsmtpd'][:1]
        if not victims:
            return
    else:
        victims.append(p.pid)
    for v in victims:
        try:
            os.kill(v, signal.SIGKILL)
        except ProcessLookupError:
            pass
    note('kill -9 %s %s' % (name if not one_worker else 'worker', victims))
    kills['worker' if one_worker else name] += 1
    if not one_worker:
        p.wait()
    while not all(gone(v) for v in victims):
        time.sleep(0.005)

def wait_port():
    end = time.time() + 10
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False

def body_for(mid):
    h = hashlib.sha256(mid.encode()).digest()
    n = 1 + h[0] * 4			# 1 to 1021 lines, up to ~80 KB
    body = ''.join('%05d %s %s\r\n' % (k, mid, 'x' * (h[1] % 40)) for k in range(n))
    digest = hashlib.sha256(body.encode()).hexdigest()
    return ('From: s@example.org\r\nTo: r@example.com\r\nSubject: t9200\r\n'
            'Message-ID: <%s>\r\nX-Body-SHA256: %s\r\n\r\n' % (mid, digest) + body)

next_n = [0]
def sender(t):
    s = None
    while time.time() < stop_at:
        with lock:
            if len(acked) >= count:
                break
        try:
            if s is None:
                s = smtplib.SMTP('127.0.0.1', port, timeout=10)
                s.ehlo('client.example.org')
                if t % 2:
                    s.starttls()
                    s.ehlo('client.example.org')
            with lock:
                next_n[0] += 1
                mid = 'k9200-%d-%d@example.org' % (t, next_n[0])
                attempted.add(mid)
            s.sendmail('s@example.org', ['r@example.com'], body_for(mid).encode())
            with lock:
                acked.add(mid)
                acklog.write(mid + '\n')
        except (OSError, smtplib.SMTPException):
            try:
                s.close()
            except Exception:
                pass
            s = None
            time.sleep(0.01)
    if s is not None:
        try:
            s.quit()
        except Exception:
            pass

start('dsmtpd')
if not wait_port():
    print('framework: dsmtpd A did not start'); sys.exit(99)
start('dsmtpc')
# the kill schedule: at random points of the run (by messages acked),
# alternately A, dsmtpc, both, or a single worker of A
kinds = ['dsmtpd', 'dsmtpc', 'both', 'worker', 'dsmtpd', 'dsmtpc', 'both', 'dsmtpc', 'dsmtpd', 'worker']
points = sorted(rnd.randint(count // 20, count - count // 20) for _ in kinds)
rnd.shuffle(kinds)
t0 = time.time()
threads = [threading.Thread(target=sender, args=(i,)) for i in range(16)]
for th in threads:
    th.start()
for at, kind in zip(points, kinds):
    while time.time() < stop_at:
        with lock:
            if len(acked) >= at:
                break
        time.sleep(0.002)
    time.sleep(rnd.random() * 0.05)
    note('at %d acked: %s' % (len(acked), kind))
    if kind in ('dsmtpd', 'both'):
        kill9('dsmtpd')
    if kind in ('dsmtpc', 'both'):
        kill9('dsmtpc')
    if kind == 'worker':
        # kill one of two (the parent starts another in its place);
        # kill all of A instead when fewer than two are up
        if len(children(procs['dsmtpd'].pid)) >= 2:
            kill9('dsmtpd', one_worker=True)
        else:
            kind = 'dsmtpd'
            kill9('dsmtpd')
    time.sleep(rnd.random() * 0.2)	# down for a moment: senders see refusals
    if kind in ('dsmtpd', 'both'):
        start('dsmtpd')
        if not wait_port():
            print('dsmtpd A did not restart'); sys.exit(1)
    if kind in ('dsmtpc', 'both'):
        start('dsmtpc')
for th in threads:
    th.join()
t_sent = time.time()
# two more kills of dsmtpc while it drains the backlog
for _ in range(2):
    time.sleep(rnd.random() * 0.3)
    kill9('dsmtpc')
    start('dsmtpc')
# drained: no recipient pending in A's spool (as dsmtpc queue counts
# them), then every finished envelope removed (removals are asynchronous)
qdir = os.path.join(trash, 'a', 'queue')
def pending():
    out = subprocess.run([dsmtpc, '-c', conf, 'queue'], capture_output=True, text=True).stdout
    last = out.strip().splitlines()[-1] if out.strip() else ''
    return int(last.split(', ')[-1].split()[0]) if last.startswith('-- ') else 0
while time.time() < stop_at and pending() > 0:
    time.sleep(0.1)
t_done = time.time()
npend = pending()
end = time.time() + 3
while time.time() < end and any(f.endswith('.e') for f in os.listdir(qdir)):
    time.sleep(0.05)
left = [f[:-2] for f in os.listdir(qdir) if f.endswith('.e')]
for name in ('dsmtpc', 'dsmtpd'):
    procs[name].terminate()
    procs[name].wait()
save_pids()

# what arrived at B: every copy, checked whole
seen, bad = {}, []
bq = os.path.join(trash, 'b', 'queue')
for f in os.listdir(bq):
    if not f.endswith('.d'):
        continue
    data = open(os.path.join(bq, f), 'rb').read()
    if data[-48:].startswith(b'dsmtp-spool 2 '):	# spool format 2: envelope after the message
        data = data[:int(data[-34:-18], 16)]
    data = data.decode('utf-8', 'replace')
    head, sep, body = data.partition('\r\n\r\n')
    mid = digest = None
    for line in head.split('\r\n'):
        if line.startswith('Message-ID: <'):
            mid = line[13:-1]
        elif line.startswith('X-Body-SHA256: '):
            digest = line[15:]
    if mid is None or hashlib.sha256(body.encode()).hexdigest() != digest:
        bad.append(f)
        continue
    seen[mid] = seen.get(mid, 0) + 1
lost = sorted(acked - set(seen))
dups = sorted(m for m, n in seen.items() if n > 1)
extra = sorted(set(seen) - acked)
strange = sorted(m for m in extra if m not in attempted)
print('%d messages got 250 from A in %.1f s (%d attempted); A drained %.1f s later' %
      (len(acked), t_sent - t0, len(attempted), t_done - t_sent))
print('kill -9: dsmtpd A (all processes) %d, one A worker %d, dsmtpc %d' %
      (kills['dsmtpd'], kills['worker'], kills['dsmtpc']))
print('at B: %d copies of %d messages; duplicates: %d message(s), %d extra copies' %
      (sum(seen.values()), len(seen), len(dups), sum(seen[m] - 1 for m in dups)))
for m in dups[:10]:
    print('  duplicate: %s x%d' % (m, seen[m]))
print('delivered though A never answered 250 (allowed): %d' % len(extra))
print('damaged copies at B: %d; lost: %d; recipients still pending at A: %d' % (len(bad), len(lost), npend))
print('envelopes left in A\'s spool after the drain: %d' % len(left))
with open(os.path.join(trash, 'left'), 'w') as f:
    f.write(''.join(i + '\n' for i in left))
for m in lost[:20]:
    print('  LOST: %s' % m)
for f in bad[:10]:
    print('  DAMAGED at B: %s' % f)
for m in strange[:10]:
    print('  NEVER SENT yet at B: %s' % m)
ok = (len(acked) >= count and not lost and not bad and not strange and npend == 0 and
      kills['dsmtpd'] >= 1 and kills['dsmtpc'] >= 1)
sys.exit(0 if ok else 1)
PY

test_expect_success "kill -9 of dsmtpd A and dsmtpc during a $count-message relay run loses no message that got 250" "
	python3 '$TRASH/run.py' '$DSMTPD' '$DSMTPC' '$TRASH/a.yaml' $portA $count $seed '$TRASH' >'$TRASH/summary' 2>&1;
	rc=\$?; cat '$TRASH/summary'; test \$rc = 0"
sed 's/^/# /' "$TRASH/summary"
test_expect_success "A's spool is empty after the drain: no finished envelope left behind" "
	test -f '$TRASH/left' && test ! -s '$TRASH/left' ||
	{ echo 'left in A (every recipient final, never removed):'; cat '$TRASH/left'; false; }"
test_expect_success "no sanitizer report from dsmtpd A, dsmtpc or dsmtpd B" "
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' '$TRASH/dsmtpc.log' '$TRASH/dsmtpd-b.log'"
[ "$fail" = 0 ] || {
	say "# events:"; sed 's/^/#   /' "$TRASH/events"
	say "# A's spool:"; "$DSMTPC" -c "$TRASH/a.yaml" queue 2>&1 | sed 's/^/#   /'
}
finish
