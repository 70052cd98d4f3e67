#!/bin/sh
# t2520-relay-queue: the relay chain client -> dsmtpd A -> dsmtpc run -> dsmtpd
# B over verified TLS, with the body compared byte for byte and the pickup
# time measured; the far end going away (deferred with attempts and last
# error in the spool) and coming back (delivered after `dsmtpc flush`, and
# by the retry timer alone); RFC 3464 bounces for refused recipients and
# none for the null sender; connection reuse with RSET; `dsmtpc once` exit
# codes; the retry lifetime; SIGTERM.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)
CR=$(printf '\r')

# B: the final receiver, accepts example.com only
host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
# A: the edge; dsmtpc delivers its spool (same config, same state_dir)
edge_config() {
	host_config "$1" edge.example.org "$2" "$3" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  retry: { first: 1, max: 4, lifetime: ${4:-3600} }
  max_parallel: ${5:-100}
  connection_cache_time: ${6:-2}
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: example.com
      next_hop: "[localhost]:$portB"
      tls: verify
    - domain: "*"
      next_hop: "[localhost]:$portB"
      tls: mandatory
EOF
}
# A's dsmtpc run keeps idle connections long enough to be seen reused
edge_config "$TRASH/a.yaml" "$TRASH/a" "$portA" 3600 100 30

# B is stopped and started inside test bodies (subshells): its PID lives
# in a .pid file, which lib.sh's cleanup also reads
start_b() {
	"$DSMTPD" -c "$TRASH/b.yaml" >>"$TRASH/dsmtpd-b.log" 2>&1 &
	echo $! >"$TRASH/dsmtpd-b.pid"
	wait_port 127.0.0.1 "$portB" || framework_failure_ "dsmtpd B did not start"
}
stop_b() {
	_p=$(cat "$TRASH/dsmtpd-b.pid") && kill "$_p" &&
	wait_for 40 '! kill -0 "$_p" 2>/dev/null' &&
	rm -f "$TRASH/dsmtpd-b.pid"
}
start_b
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$portA" || framework_failure_ "dsmtpd A did not start"
# dsmtpc run, its exit code kept for the SIGTERM test
sh -c '"$1" -c "$2" run >"$3/dsmtpc.log" 2>&1 & echo $! >"$3/dsmtpc.pid"; wait $!; echo $? >"$3/dsmtpc.rc"' \
    sh "$DSMTPC" "$TRASH/a.yaml" "$TRASH" &
PIDS="$PIDS $!"
wait_for 5 'test -s "$TRASH/dsmtpc.pid"' || framework_failure_ "dsmtpc did not start"
PID_C=$(cat "$TRASH/dsmtpc.pid")

# smtp PORT FROM TO SUBJECT [N]: N messages (default 1) over one connection
# with Python's smtplib; prints the SHA-256 of the last body sent
smtp() {
	python3 - "$@" <<'PY'
import hashlib, smtplib, sys
port, frm, to, subj = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 1
s = smtplib.SMTP('127.0.0.1', port)
s.ehlo('client.example.org')
for i in range(n):
    body = ('Subject: %s\r\nMessage-ID: <%s-%d@example.org>\r\n\r\n' % (subj, subj, i) +
            ''.join('.line %d %s\r\n' % (k, 'y' * (k % 70)) for k in range(300)))
    s.sendmail(frm, [to], body.encode())
s.quit()
print(hashlib.sha256(body.encode()).hexdigest())
PY
}
in_b() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/b/queue/*.d 2>/dev/null | head -1; }
a_empty() { test -d "$TRASH/a/queue" && test -z "$(ls "$TRASH"/a/queue/*.e 2>/dev/null)"; }

test_expect_success "relay chain: the message reaches B over verified TLS, body unchanged" "
	t0=\$(date +%s%N) &&
	smtp $portA s@example.org r@example.com chain-1 >'$TRASH/h1' &&
	wait_for 10 'test -n \"\$(in_b chain-1)\"' &&
	t1=\$(date +%s%N) && echo \"250 at A to spool at B: \$(( (t1 - t0) / 1000000 )) ms\" | tee '$TRASH/latency' &&
	f=\$(in_b chain-1) &&
	spool_data \"\$f\" | sed -n '/^Subject: chain-1/,\$p' | sha256sum | cut -d' ' -f1 >'$TRASH/h1.got' &&
	test \"\$(cat '$TRASH/h1.got')\" = \"\$(cat '$TRASH/h1')\" &&
	grep -a -c '^Received: ' \"\$f\" | grep -q '^2\$' &&
	grep -q -a 'by mail.example.com (dsmtpd) with ESMTPS' \"\$f\" &&
	wait_for 10 a_empty &&
	grep -q 'Verified TLS connection established to localhost\[127.0.0.1\]:$portB: TLSv1.3.*\[verify example.com\] pass' '$TRASH/dsmtpc.log' &&
	grep -q 'to=<r@example.com>, relay=localhost\[127.0.0.1\]:$portB, .*status=sent (250 ' '$TRASH/dsmtpc.log'"

test_expect_success "run: the next message to B reuses the idle connection (RSET, no new handshake)" "
	n0=\$(grep -c 'TLS connection established' '$TRASH/dsmtpc.log') &&
	smtp $portA s@example.org r@example.com cached-run >/dev/null &&
	wait_for 10 'test -n \"\$(in_b cached-run)\"' && wait_for 10 a_empty &&
	test \$(grep -c 'TLS connection established' '$TRASH/dsmtpc.log') = \$n0 &&
	grep -q 'to=<r@example.com>, relay=localhost\[127.0.0.1\]:$portB, .*status=sent (250 ' '$TRASH/dsmtpc.log'"

test_expect_success "pickup: a new message leaves A within a second (inotify, no polling)" "
	for i in 1 2 3; do
		smtp $portA s@example.org r@example.com pick-\$i >/dev/null || exit 1
		t0=\$(date +%s%N)
		wait_for 10 'test -n \"\$(in_b pick-\$i)\"' || exit 1
		echo \$(( (\$(date +%s%N) - t0) / 1000000 ))
	done >'$TRASH/pickup' && cat '$TRASH/pickup' &&
	test \$(sort -n '$TRASH/pickup' | tail -1) -lt 1000"

test_expect_success "the far end goes away: deferred, attempts and last error in the spool" "
	stop_b &&
	smtp $portA s@example.org r@example.com away-1 >/dev/null &&
	wait_for 10 \"'$DSMTPC' -c '$TRASH/a.yaml' queue | grep -q 'attempts: [1-9].*last error: connect to localhost\[\(127.0.0.1\|::1\)\]:$portB: Connection refused'\" &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q1' && cat '$TRASH/q1' &&
	grep -q 'to <r@example.com>  pending  attempts: [1-9]  next attempt: ' '$TRASH/q1' &&
	grep -q 'status=deferred (connect to localhost' '$TRASH/dsmtpc.log'"

test_expect_success "it comes back: dsmtpc flush delivers at once" "
	start_b && '$DSMTPC' -c '$TRASH/a.yaml' flush >'$TRASH/flush' &&
	wait_for 10 'test -n \"\$(in_b away-1)\"' && wait_for 10 a_empty"

test_expect_success "it comes back: the retry timer alone delivers too" "
	stop_b &&
	smtp $portA s@example.org r@example.com away-2 >/dev/null &&
	wait_for 10 \"grep -q 'to=<r@example.com>.*status=deferred' '$TRASH/dsmtpc.log'\" &&
	start_b && wait_for 10 'test -n \"\$(in_b away-2)\"' && wait_for 10 a_empty"

test_expect_success "a refused recipient is bounced: RFC 3464 report to the sender" "
	smtp $portA s@bounce.test nobody@elsewhere.net bounce-1 >/dev/null &&
	wait_for 10 'ls $TRASH/bounces/new/* >/dev/null 2>&1' && wait_for 10 a_empty &&
	f=\$(ls $TRASH/bounces/new/* | head -1) &&
	grep -q 'Content-Type: multipart/report; report-type=delivery-status' \"\$f\" &&
	grep -q '^Final-Recipient: rfc822; nobody@elsewhere.net' \"\$f\" &&
	grep -q '^Action: failed' \"\$f\" && grep -q '^Status: 5.7.1' \"\$f\" &&
	grep -q '^Diagnostic-Code: smtp; 554 5.7.1 <nobody@elsewhere.net>: Relay access denied' \"\$f\" &&
	grep -q '^Subject: bounce-1' \"\$f\" && ! grep -q '^.line 5 ' \"\$f\" &&
	grep -q '^Return-Path: <>' \"\$f\""

test_expect_success "no bounce for the null sender" "
	n=\$(ls $TRASH/bounces/new | wc -l) &&
	smtp $portA '' nobody@elsewhere.net bounce-null >/dev/null &&
	wait_for 10 \"grep -q 'no bounce for the null sender' '$TRASH/dsmtpc.log'\" && wait_for 10 a_empty &&
	test \$(ls $TRASH/bounces/new | wc -l) = \$n"

test_expect_success "SIGTERM: dsmtpc run stops and exits 0" "
	kill -TERM \$PID_C && wait_for 10 'test -s $TRASH/dsmtpc.rc' &&
	test \$(cat '$TRASH/dsmtpc.rc') = 0 && grep -q 'stopped' '$TRASH/dsmtpc.log'"

# a second edge without a running dsmtpc, for once, reuse and lifetime
portA2=$(free_port)
edge_config "$TRASH/a2.yaml" "$TRASH/a2" "$portA2" 3600 1
start_bg dsmtpd-a2 "$DSMTPD" -c "$TRASH/a2.yaml"
wait_port 127.0.0.1 "$portA2" || framework_failure_ "dsmtpd A2 did not start"

test_expect_success "once: five messages over one connection (max_parallel 1), RSET between" "
	smtp $portA2 s@example.org r@example.com reuse 5 >/dev/null &&
	'$DSMTPC' -c '$TRASH/a2.yaml' once >'$TRASH/once1' 2>&1; test \$? = 0 &&
	test -d $TRASH/a2/queue && test -z \"\$(ls $TRASH/a2/queue/*.e 2>/dev/null)\" &&
	test \$(grep -l -a '^Subject: reuse' $TRASH/b/queue/*.d | wc -l) = 5 &&
	test \$(grep -c 'TLS connection established' '$TRASH/once1') = 1 &&
	test \$(grep -h ',>,RSET,\$' $TRASH/a2/logs/send/*.LOG | wc -l) = 4"

test_expect_success "once: only local deliveries (maildir): done and exits at once" "
	n=\$(ls $TRASH/bounces/new | wc -l) &&
	smtp $portA2 s@example.org local@bounce.test local-1 3 >/dev/null &&
	timeout 20 '$DSMTPC' -c '$TRASH/a2.yaml' once >'$TRASH/once-local' 2>&1; test \$? = 0 &&
	test \$(ls $TRASH/bounces/new | wc -l) = \$((n + 3)) &&
	test -d $TRASH/a2/queue && test -z \"\$(ls $TRASH/a2/queue/*.e 2>/dev/null)\""

test_expect_success "once: exit 75 while something is deferred, 0 once it is delivered" "
	stop_b &&
	smtp $portA2 s@example.org r@example.com once-2 >/dev/null &&
	'$DSMTPC' -c '$TRASH/a2.yaml' once >'$TRASH/once2' 2>&1; test \$? = 75 &&
	start_b && '$DSMTPC' -c '$TRASH/a2.yaml' flush >/dev/null &&
	'$DSMTPC' -c '$TRASH/a2.yaml' once >'$TRASH/once3' 2>&1; test \$? = 0 &&
	test -n \"\$(in_b once-2)\""

portA3=$(free_port)
edge_config "$TRASH/a3.yaml" "$TRASH/a3" "$portA3" 1
start_bg dsmtpd-a3 "$DSMTPD" -c "$TRASH/a3.yaml"
wait_port 127.0.0.1 "$portA3" || framework_failure_ "dsmtpd A3 did not start"

test_expect_success "retry lifetime: a message that outlives it fails with 4.4.7 and is bounced" "
	stop_b &&
	smtp $portA3 s@bounce.test r@example.com expire-1 >/dev/null &&
	sleep 2.1 && n=\$(ls $TRASH/bounces/new | wc -l) &&
	'$DSMTPC' -c '$TRASH/a3.yaml' once >'$TRASH/once4' 2>&1; rc=\$?; cat '$TRASH/once4';
	ls -l $TRASH/bounces/new; test \$rc = 0 &&
	grep -q 'status=expired' '$TRASH/once4' &&
	test \$(ls $TRASH/bounces/new | wc -l) = \$((n + 1)) &&
	f=\$(ls -t $TRASH/bounces/new/* | head -1) && grep -q '^Status: 4.4.7' \"\$f\" &&
	grep -q 'message expired after' \"\$f\" &&
	test -d $TRASH/a3/queue && test -z \"\$(ls $TRASH/a3/queue/*.e 2>/dev/null)\""
finish
