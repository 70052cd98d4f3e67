#!/bin/sh
# t9000-spool-full: the spool's disk fills up: new mail is refused with
# 452 4.3.1, nothing already accepted is lost or damaged, and mail is
# accepted again once there is room. Uses a small tmpfs (needs root).
. "${srcdir:-.}/tests/t/lib.sh"
[ "$(id -u)" = 0 ] || skip_ "mounting a small tmpfs needs root"
need_ swaks

mkdir -p "$TRASH/full"
mount -t tmpfs -o size=400k tmpfs "$TRASH/full" ||
    framework_failure_ "cannot mount a tmpfs on $TRASH/full (root without CAP_SYS_ADMIN? the mount package?)"
unmount_() { umount "$TRASH/full" 2>/dev/null; }
CLEANUP_HOOK=unmount_

port=$(free_port)
cat >"$TRASH/d.yaml" <<EOF
hostname: test.example.org
state_dir: $TRASH/full/state
receive:
  listen: [ "127.0.0.1:$port" ]
  accepted_domains: [ example.org ]
  tls: none
  workers: 1
logs: { level: none }
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

test_expect_success "accepted until the disk is full, then 452 4.3.1; every accepted message stays whole" "
	python3 - $port '$TRASH/accepted' <<'PY' &&
import hashlib, smtplib, sys
port, out = int(sys.argv[1]), sys.argv[2]
acc, refused = [], None
for i in range(200):
    body = ('%05d ' % i + 'y' * 70 + '\r\n') * 120
    msg = 'Message-ID: <full-%d@t>\r\n\r\n' % i + body
    try:
        s = smtplib.SMTP('127.0.0.1', port, timeout=10)
        s.sendmail('a@b.org', ['x@example.org'], msg)
        s.quit()
        acc.append('<full-%d@t> %s' % (i, hashlib.sha256(body.encode()).hexdigest()))
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
        refused = (e.smtp_code, e.smtp_error)
        break
assert refused is not None, 'the disk never filled'
assert refused[0] == 452 and refused[1].startswith(b'4.3.1'), refused
assert len(acc) > 3, len(acc)
open(out, 'w').write('\n'.join(sorted(acc)) + '\n')
print('%d accepted, then %r' % (len(acc), refused))
PY
	python3 - '$TRASH/full/state/queue' '$TRASH/accepted' <<'PY'
import glob, hashlib, sys
got = set()
for f in glob.glob(sys.argv[1] + '/*.d'):
    data = open(f, 'rb').read()
    if data[-48:].startswith(b'dsmtp-spool 2 '):	# spool format 2: envelope after the message
        data = data[:int(data[-34:-18], 16)]
    i = data.index(b'Message-ID: ')
    head, _, body = data[i:].partition(b'\r\n\r\n')
    got.add('%s %s' % (head.split(b': ', 1)[1].decode(), hashlib.sha256(body).hexdigest()))
want = set(open(sys.argv[2]).read().split('\n')[:-1])
assert not (want - got), want - got
PY"

test_expect_success "dsmtpd is still serving, and accepts again once space is freed" "
	kill -0 $dpid &&
	ls '$TRASH/full/state/queue'/*.d | head -3 | while read f; do rm -f \"\$f\" \"\${f%.d}.e\"; done &&
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org | grep -q '250 2.0.0 Ok: queued'"
finish
