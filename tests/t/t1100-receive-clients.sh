#!/bin/sh
# t1100-receive-clients: dsmtpd with real clients: swaks (plain, STARTTLS,
# client certificate), Python's smtplib, openssl s_client and gnutls-cli
# (TLS 1.2 and 1.3), checked against the spool, the Received header and the
# protocol log; figures compared with what openssl computes.
. "${srcdir:-.}/tests/t/lib.sh"
need_ swaks
need_ openssl
need_ gnutls-cli
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
port=$(free_port)
host_config "$TRASH/d.yaml" mail.example.com "$TRASH/state-$port" "$port" <<EOF
  accepted_domains: [ example.org ]
  relay: { networks: [] }
  workers: 1
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }
queue="$TRASH/state-$port/queue"
logs="$TRASH/state-$port/logs/receive"

test_expect_success "swaks without TLS: 250 and the message is in the spool" "
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --header 'Subject: t-plain' >'$TRASH/s1' 2>&1 &&
	grep -q '250 2.0.0 Ok: queued as' '$TRASH/s1' &&
	grep -l -a '^Subject: t-plain' '$queue'/*.d >/dev/null &&
	grep -a -A1 '^Received: ' \$(grep -l -a '^Subject: t-plain' '$queue'/*.d) | grep -q 'with ESMTP id'"

test_expect_success "swaks with STARTTLS: ESMTPS and the TLS facts in Received" "
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --tls --header 'Subject: t-tls' >'$TRASH/s2' 2>&1 &&
	grep -q '250 2.0.0 Ok: queued as' '$TRASH/s2' &&
	f=\$(grep -l -a '^Subject: t-tls' '$queue'/*.d) &&
	grep -q -a 'with ESMTPS id' \"\$f\" && grep -q -a 'version=TLSv1.3 cipher=TLS_' \"\$f\" &&
	grep -q -a 'client certificate: none' \"\$f\""

test_expect_success "a client certificate is verified, named in Received and logged with openssl's SHA-256" "
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --tls \
	    --tls-cert '$pki/client.pem' --tls-key '$pki/client.key' --header 'Subject: t-cert' >'$TRASH/s3' 2>&1 &&
	grep -q '250 2.0.0 Ok: queued as' '$TRASH/s3' &&
	f=\$(grep -l -a '^Subject: t-cert' '$queue'/*.d) &&
	grep -q -a 'subject=\"CN=partner.example.net' \"\$f\" && grep -q -a 'verify=ok' \"\$f\" &&
	want=\$(openssl x509 -in '$pki/client.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f) &&
	flush_plog dsmtpd &&
	grep -h 'Remote certificate' '$logs'/*.LOG | grep -q \"sha256=\$want\""

test_expect_success "Python smtplib with STARTTLS: the body arrives byte for byte" "
	python3 - $port '$TRASH/body' <<'PY' &&
import hashlib, smtplib, sys
port, out = int(sys.argv[1]), sys.argv[2]
body = ('Subject: t-smtplib\r\nMessage-ID: <smtplib-1@b.org>\r\n\r\n' +
        ''.join('line %d: ' % i + 'x' * (i % 80) + '\r\n' for i in range(500)))
s = smtplib.SMTP('127.0.0.1', port)
s.starttls()
s.ehlo('client.example')
s.sendmail('a@b.org', ['x@example.org', 'y@example.org'], body.encode())
s.quit()
open(out, 'w').write(hashlib.sha256(body.encode()).hexdigest())
PY
	f=\$(grep -l -a '^Message-ID: <smtplib-1@b.org>' '$queue'/*.d) &&
	spool_data \"\$f\" | sed -n '/^Subject: t-smtplib/,\$p' | sha256sum | cut -d' ' -f1 >'$TRASH/got' &&
	test \"\$(cat '$TRASH/got')\" = \"\$(cat '$TRASH/body')\""

test_expect_success "openssl s_client -starttls smtp (TLS 1.2) sees our certificate" "
	echo QUIT | timeout 10 openssl s_client -starttls smtp -tls1_2 -connect 127.0.0.1:$port \
	    -CAfile '$pki/ca.pem' -verify_return_error -servername mail.example.com >'$TRASH/o' 2>&1 &&
	grep -q 'Protocol  *: TLSv1.2' '$TRASH/o' && grep -q 'Verify return code: 0 (ok)' '$TRASH/o' &&
	grep -q 'subject=.*CN = mail.example.com' '$TRASH/o' || { cat '$TRASH/o'; false; }"

test_expect_success "gnutls-cli --starttls-proto=smtp (TLS 1.3) verifies against the test CA" "
	echo QUIT | timeout 10 gnutls-cli --starttls-proto=smtp --x509cafile '$pki/ca.pem' \
	    -p $port --sni-hostname mail.example.com localhost >'$TRASH/g' 2>&1 &&
	grep -q 'Handshake was completed' '$TRASH/g' && grep -q 'TLS1.3' '$TRASH/g' || { cat '$TRASH/g'; false; }"

test_expect_success "a plain TLS ClientHello (no STARTTLS) is answered and survived" "
	timeout 5 openssl s_client -connect 127.0.0.1:$port </dev/null >'$TRASH/hello' 2>&1;
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --quit-after EHLO >/dev/null 2>&1"

test_expect_success "every protocol-log line has 9 fields (Python csv)" "
	flush_plog dsmtpd && python3 - '$logs' <<'PY'
import csv, glob, sys
n = 0
for f in glob.glob(sys.argv[1] + '/*.LOG'):
    with open(f, newline='', encoding='utf-8', errors='strict') as fh:
        for row in csv.reader(line for line in fh if not line.startswith('#')):
            assert len(row) == 9, (f, row)
            n += 1
assert n > 20, n
PY"
finish
