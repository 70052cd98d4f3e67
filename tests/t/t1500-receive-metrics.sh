#!/bin/sh
# t1500-receive-metrics: receive.metrics (issue 19, DESIGN.md 13.5). dsmtpd
# with two workers and its metrics process; real clients (python smtplib
# in plaintext, TLS 1.2 and 1.3, with client certificates; swaks; openssl
# s_client; gnutls-cli) make a known number of sessions and messages, and
# the scraped counters, summed over the workers by the shared mapping,
# move by exactly that many. promtool checks the exposition; only GET
# /metrics is answered; a scraper that never finishes its request stalls
# neither SMTP nor other scrapes.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool
need_ promtool
need_ swaks
need_ openssl
need_ gnutls-cli

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
port=$(free_port)
mport=$(free_port)
host_config "$TRASH/d.yaml" mail.example.com "$TRASH/d" "$port" <<EOF
  accepted_domains: [ example.com ]
  workers: 2
  metrics: "127.0.0.1:$mport"
domain_secure:
  receive: [ secure.example ]
EOF
M="python3 $srcdir/tests/t/metrics.py"

start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"
wait_port 127.0.0.1 "$mport" || framework_failure_ "the metrics server did not start"
# wait_port's probe sessions end before the baseline
sleep 0.5

# sess.py PORT MODE N [CERT|-] [big]: N sessions of one message each; MODE
# plain, tls12, tls13; CERT: a client certificate (pki path without .pem)
# offered in TLS; big: the message has a 1100-octet line (refused 554 at its end of data)
cat >"$TRASH/sess.py" <<'PY'
import smtplib, ssl, sys
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cert = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != '-' else None
big = len(sys.argv) > 5 and sys.argv[5] == 'big'
for i in range(n):
    s = smtplib.SMTP('127.0.0.1', port, local_hostname='partner.example.net', timeout=20)
    s.ehlo()
    if mode != 'plain':
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        v = ssl.TLSVersion.TLSv1_2 if mode == 'tls12' else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
        if cert:
            ctx.load_cert_chain(cert + '.pem', cert + '.key')
        s.starttls(context=ctx)
        s.ehlo()
    body = 'Subject: t1500\r\n\r\n' + ('x' * 1100 if big else 'hello') + '\r\n'
    try:
        s.sendmail('a@partner.example.net', ['b@example.com'], body)
    except smtplib.SMTPDataError as e:
        print('refused', e.smtp_code)
    s.quit()
PY
S="python3 $TRASH/sess.py $port"

mpid=$(ps -o pid=,comm= --ppid "$dpid" | awk '$2 == "dsmtpd-metrics" { print $1 }')
test_expect_success "two workers and the metrics process run under the parent" "
	ps -o comm= --ppid $dpid | sort | uniq -c && test -n '$mpid' &&
	test \$(ps -o comm= --ppid $dpid | grep -c '^dsmtpd\$') = 2 &&
	test \$(ps -o comm= --ppid $dpid | grep -c '^dsmtpd-metrics\$') = 1"

test_expect_success "N sessions by TLS version and certificate move the counters by N" "
	$M get $mport '$TRASH/m0' &&
	$S plain 3 && $S tls12 2 && $S tls13 2 &&
	$S tls13 1 '$pki/client' && $S tls12 1 '$pki/server' && $S tls13 1 '$pki/selfsigned' &&
	swaks -s 127.0.0.1:$port -h partner.example.net -f a@partner.example.net -t b@example.com >/dev/null &&
	swaks -s 127.0.0.1:$port --tls --tls-protocol tlsv1_3 -h partner.example.net -f a@partner.example.net -t b@example.com >/dev/null &&
	printf 'EHLO partner.example.net\r\nQUIT\r\n' | timeout 20 openssl s_client -quiet -starttls smtp -tls1_2 -connect 127.0.0.1:$port >/dev/null 2>&1 &&
	(printf 'EHLO partner.example.net\r\n'; sleep 1; printf 'QUIT\r\n') |
	    openssl s_client -quiet -ign_eof -starttls smtp -tls1_2 -connect 127.0.0.1:$port >/dev/null 2>&1 &&
	(sleep 1; printf 'EHLO x\r\nQUIT\r\n') |
	    gnutls-cli --insecure --starttls-proto=smtp --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3' -p $port 127.0.0.1 >/dev/null 2>&1 &&
	$M delta $mport '$TRASH/m0' \
	    'dsmtpd_sessions_total{tls=\"none\",client_cert=\"no-certificate\"}=4' \
	    'dsmtpd_sessions_total{tls=\"TLSv1.2\",client_cert=\"no-certificate\"}=4' \
	    'dsmtpd_sessions_total{tls=\"TLSv1.3\",client_cert=\"no-certificate\"}=4' \
	    'dsmtpd_sessions_total{tls=\"TLSv1.3\",client_cert=\"ok\"}=1' \
	    'dsmtpd_sessions_total{tls=\"TLSv1.2\",client_cert=\"ok\"}=1' \
	    'dsmtpd_sessions_total{tls=\"TLSv1.3\",client_cert=\"unknown-issuer\"}=1' \
	    'dsmtpd_messages_total{result=\"accepted\",code=\"250\"}=12' \
	    'dsmtpd_messages_total{result=\"refused\",code=\"554\"}=0' \
	    'dsmtpd_peer_certificate_changes_total=2'"

test_expect_success "a refused message counts by its reply code" "
	$M get $mport '$TRASH/m1' &&
	$S plain 2 - big | grep -c 'refused 554' | grep -qx 2 &&
	$M delta $mport '$TRASH/m1' \
	    'dsmtpd_messages_total{result=\"refused\",code=\"554\"}=2' \
	    'dsmtpd_messages_total{result=\"accepted\",code=\"250\"}=0' \
	    'dsmtpd_sessions_total{tls=\"none\",client_cert=\"no-certificate\"}=2'"

test_expect_success "a domain-secure sender in plaintext: a policy failure, starttls-not-supported" "
	$M get $mport '$TRASH/m3' &&
	! swaks -s 127.0.0.1:$port -h partner.example.net -f a@secure.example -t b@example.com >'$TRASH/ds.out' 2>&1 &&
	grep -q '<\*\* *[45]' '$TRASH/ds.out' &&
	$M delta $mport '$TRASH/m3' \
	    'dsmtpd_policy_failures_total{result_type=\"starttls-not-supported\"}=1' \
	    'dsmtpd_policy_failures_total{result_type=\"other\"}=0'"

test_expect_success "promtool accepts the exposition; every family has HELP and TYPE" "
	$M get $mport '$TRASH/m2' && promtool check metrics <'$TRASH/m2' &&
	for f in sessions_total messages_total policy_failures_total peer_certificate_changes_total \
	    certificate_expiry_timestamp_seconds; do
		grep -q \"^# HELP dsmtpd_\$f \" '$TRASH/m2' && grep -q \"^# TYPE dsmtpd_\$f \" '$TRASH/m2' || exit 1
	done"

test_expect_success "our certificate's expiry is its notAfter" "
	want=\$(date -d \"\$(openssl x509 -noout -enddate -in '$pki/server.pem' | cut -d= -f2)\" +%s) &&
	sha=\$(openssl x509 -noout -fingerprint -sha256 -in '$pki/server.pem' | cut -d= -f2 | tr -d : | tr A-F a-f | cut -c1-16) &&
	grep \"^dsmtpd_certificate_expiry_timestamp_seconds{subject=\\\"[^\\\"]*mail.example.com[^\\\"]*\\\",sha256=\\\"\$sha\\\"} \$want\\\$\" '$TRASH/m2'"

test_expect_success "only GET /metrics: POST and HEAD 405, other paths 404" "
	test \$($M status $mport POST /metrics) = 405 &&
	test \$($M status $mport HEAD /metrics) = 405 &&
	test \$($M status $mport GET /) = 404 &&
	test \$($M status $mport GET /metrics/x) = 404 &&
	test \$($M status $mport GET /metrics) = 200"

test_expect_success "a scraper that never finishes its request stalls neither SMTP nor scrapes" "
	python3 - $port $mport '$TRASH/sess.py' <<'PY'
import socket, subprocess, sys, time, urllib.request
port, mport, sess = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
slow = [socket.create_connection(('127.0.0.1', mport)) for _ in range(3)]
for s in slow:
    s.sendall(b'GET /metr')		# and nothing more
t = time.time()
subprocess.run([sys.executable, sess, str(port), 'plain', '2'], check=True, timeout=20)
body = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % mport, timeout=5).read()
assert b'dsmtpd_sessions_total' in body
took = time.time() - t
print('two sessions and a scrape in %.2f s with 3 stalled scrapers' % took)
assert took < 5, took
for s in slow:
    s.close()
PY"

test_expect_success "SIGTERM stops the metrics process with the rest" "
	kill $dpid && wait_for 20 '! kill -0 $dpid 2>/dev/null' &&
	wait_for 5 '! kill -0 $mpid 2>/dev/null' &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' &&
	! python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $mport), 1)' 2>/dev/null"
finish
