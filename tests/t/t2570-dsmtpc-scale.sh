#!/bin/sh
# t2570-dsmtpc-scale: dsmtpc over a spool of hundreds of messages (issues
# #5, #9): `dsmtpc once` delivers every one over TLS to dsmtpd B and
# bounces the refused ones (DSNs queued, delivered and removed in the same
# run); then `dsmtpc run` is stopped by SIGTERM in mid-stream: every
# message it logged as sent has its outcome on disk (removed from the
# spool) before it exits, and the next `dsmtpc once` delivers the rest and
# sends none of those again; a session that had sent its final dot waits
# for the reply, so the far end holds every message exactly once.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)
N=${T2570_N:-200}	# messages per fill, and one refused in ten more

host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  tls: required
  workers: 1
EOF
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  max_parallel: 20
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: "*"
      next_hop: "[localhost]:$portB"
      tls: mandatory
EOF
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$portA" || framework_failure_ "dsmtpd A did not start"
wait_port 127.0.0.1 "$portB" || framework_failure_ "dsmtpd B did not start"

# fill TAG: N messages to r@example.com and N/10 to r@refused.test (B
# refuses that domain: 5xx, a bounce to s@bounce.test), 6 connections
fill() {
	python3 - "$portA" "$N" "$1" <<'PY'
import smtplib, sys, threading
port, n, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
jobs = [('r@example.com', i) for i in range(n)] + [('r@refused.test', i) for i in range(n // 10)]
errors = []
def run(k):
    try:
        s = smtplib.SMTP('127.0.0.1', port)
        s.ehlo('client.example.org')
        for to, i in jobs[k::6]:
            body = 'Subject: %s %s %d\r\n\r\n' % (tag, to, i) + ('y' * 70 + '\r\n') * 140
            s.sendmail('s@bounce.test', [to], body.encode())
        s.quit()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=run, args=(k,)) for k in range(6)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    sys.exit('fill: ' + '; '.join(errors))
PY
}
in_a() { ls "$TRASH/a/queue" | grep -c '\.e$'; }
in_b() { ls "$TRASH/b/queue" | grep -c '\.e$'; }

test_expect_success "dsmtpc once: $N messages delivered over TLS, the refused ones bounced, the spool left empty" "
	fill once &&
	test \$(in_a) = $((N + N / 10)) &&
	t0=\$(date +%s%N) &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once1.log' 2>&1 &&
	t1=\$(date +%s%N) &&
	echo \"$((N + N / 10)) messages and $((N / 10)) bounces in \$(( (t1 - t0) / 1000000 )) ms\" &&
	test \$(in_a) = 0 && test \$(in_b) = $N &&
	test \$(grep -c 'status=sent' '$TRASH/once1.log') = $((N + N / 10)) &&
	test \$(grep -c 'status=bounced' '$TRASH/once1.log') = $((N / 10)) &&
	test \$(grep -c 'delivery status notification queued' '$TRASH/once1.log') = $((N / 10)) &&
	test \$(grep -c 'removed (every recipient' '$TRASH/once1.log') = $((N + 2 * (N / 10))) &&
	test \$(ls '$TRASH/bounces/new' | wc -l) = $((N / 10)) &&
	! grep -i 'warning\|error' '$TRASH/once1.log' | grep -v 'expires in'"

test_expect_success "dsmtpc once within 64 open files: leases stay under the limit, nothing is left" "
	fill nofile &&
	test \$(in_a) = $((N + N / 10)) &&
	( ulimit -n 64 && exec '$DSMTPC' -c '$TRASH/a.yaml' once ) >'$TRASH/nofile.log' 2>&1 &&
	test \$(in_a) = 0 && test \$(in_b) = $((2 * N)) &&
	! grep -i 'too many open files\|warning\|error' '$TRASH/nofile.log' | grep -v 'expires in'"

test_expect_success "SIGTERM in mid-stream: every message logged as sent is already removed" "
	fill run || exit 1
	'$DSMTPC' -c '$TRASH/a.yaml' run >'$TRASH/run.log' 2>&1 &
	pid=\$! && echo \$pid >'$TRASH/dsmtpc.pid' &&
	wait_for 30 'test \$(grep -c status=sent \"$TRASH/run.log\") -ge $((N / 5))' &&
	kill -TERM \$pid && wait \$pid && rm -f '$TRASH/dsmtpc.pid' &&
	grep -q 'stopped' '$TRASH/run.log' &&
	sed -n 's/^dsmtpc: \([0-9a-f]*\): to=.*status=sent.*/\1/p' '$TRASH/run.log' | sort -u >'$TRASH/sent' &&
	echo \"sent \$(wc -l <'$TRASH/sent') before SIGTERM, \$(in_a) left\" &&
	test -s '$TRASH/sent' &&
	for id in \$(cat '$TRASH/sent'); do
		test ! -e '$TRASH/a/queue/'\$id.e || { echo \"\$id sent but still in the spool\"; exit 1; }
		grep -q \"\$id: removed\" '$TRASH/run.log' || { echo \"\$id sent, removal not logged\"; exit 1; }
	done"

test_expect_success "after SIGTERM, once delivers the rest and none of those twice" "
	set -x
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once2.log' 2>&1 || { tail -n 30 '$TRASH/once2.log'; exit 1; }
	test \$(in_a) = 0 &&
	sed -n 's/^dsmtpc: \([0-9a-f]*\): to=.*status=sent.*/\1/p' '$TRASH/once2.log' | sort -u >'$TRASH/sent2' &&
	test -s '$TRASH/sent2' &&
	test -z \"\$(comm -12 '$TRASH/sent' '$TRASH/sent2')\" &&
	test \$(( \$(wc -l <'$TRASH/sent') + \$(wc -l <'$TRASH/sent2') )) -ge $((N + N / 10)) &&
	echo \"B holds \$(in_b) messages, $((3 * N)) expected\" &&
	test \$(in_b) = $((3 * N))"
finish
