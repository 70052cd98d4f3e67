#!/bin/sh
# t5000-interop-postfix-sender: a real Postfix relays to dsmtpd over
# STARTTLS presenting a client certificate: TLS 1.3 with an ECDSA server
# certificate and TLS 1.2 with an RSA one, 50 messages each, compared by
# Message-ID and body hash in dsmtpd's spool; dsmtpd logs and records
# Postfix's client certificate with openssl's SHA-256.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
postfix_need_
need_ openssl
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
chmod 755 "$TRASH" "$pki"; chmod 644 "$pki"/*.pem "$pki"/*.key	# Postfix's smtp runs as postfix

# run KIND CERT KEY PROTOCOLS: one dsmtpd, one Postfix relaying to it
run() {
	kind=$1 cert=$2 key=$3 protos=$4
	dport=$(free_port) pport=$(free_port)
	make_config "$TRASH/d-$kind.yaml" "$dport" "  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
certificates:
  - cert: $cert
    key: $key
trust:
  ca_file: $pki/ca-bundle.pem"
	start_bg "dsmtpd-$kind" "$DSMTPD" -c "$TRASH/d-$kind.yaml"
	wait_port 127.0.0.1 "$dport" || return 1
	postfix_setup "pf-$kind" "$pport" &&
	postfix_conf "pf-$kind" "relayhost = [127.0.0.1]:$dport" "relay_domains = example.com" \
	    "smtp_tls_security_level = encrypt" "smtp_tls_cert_file = $pki/client.pem" \
	    "smtp_tls_key_file = $pki/client.key" "smtp_tls_protocols = $protos" \
	    "smtp_tls_mandatory_protocols = $protos" &&
	postfix_start "pf-$kind" && wait_port 127.0.0.1 "$pport" || return 1
	python3 - "$pport" "$TRASH/sent-$kind" "$kind" <<'PY' || return 1
import hashlib, smtplib, sys
port, out, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = []
s = smtplib.SMTP('127.0.0.1', port)
for i in range(50):
    mid = '<%s-%d@interop.test>' % (kind, i)
    body = ''.join('%s line %d of message %d\r\n' % (kind, n, i) for n in range(i * 7 + 1))
    msg = 'From: a@sender.test\r\nTo: x@example.com\r\nSubject: interop %d\r\nMessage-ID: %s\r\n\r\n%s' % (i, mid, body)
    s.sendmail('a@sender.test', ['x@example.com'], msg)
    lines.append('%s %s' % (mid, hashlib.sha256(body.encode()).hexdigest()))
s.quit()
open(out, 'w').write('\n'.join(sorted(lines)) + '\n')
PY
	# wait for all 50 in dsmtpd's spool
	wait_for 60 '[ "$(ls "$TRASH/state-$dport/queue" | grep -c "\.e$")" -ge 50 ]'
	python3 - "$TRASH/state-$dport/queue" "$TRASH/got-$kind" <<'PY'
import glob, hashlib, sys
out = []
for f in glob.glob(sys.argv[1] + '/*.d'):
    data = open(f, 'rb').read()
    if data[-48:].startswith(b'dsmtp-spool 2 '):	# spool format 2: envelope after the message
        data = data[:int(data[-34:-18], 16)]
    head, _, body = data.partition(b'\r\n\r\n')
    mid = [l for l in head.split(b'\r\n') if l.lower().startswith(b'message-id:')][0].split(b':', 1)[1].strip()
    out.append('%s %s' % (mid.decode(), hashlib.sha256(body).hexdigest()))
open(sys.argv[2], 'w').write('\n'.join(sorted(out)) + '\n')
PY
	echo "$dport" >"$TRASH/dport-$kind"
}

for v in "ecdsa13 $pki/server-chain.pem $pki/server.key !SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2" \
	 "rsa12 $pki/server-rsa.pem $pki/server-rsa.key !SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.3"; do
	set -- $v
	kind=$1
	test_expect_success "Postfix -> dsmtpd ($kind): 50 messages arrive byte for byte" "
		run $v; test -s '$TRASH/sent-$kind' && diff '$TRASH/sent-$kind' '$TRASH/got-$kind' ||
		{ tail -20 '$TRASH/pf-$kind/maillog'; false; }"
	test_expect_success "($kind) the TLS version and Postfix's client certificate are in Received" "
		dport=\$(cat '$TRASH/dport-$kind') &&
		f=\$(ls '$TRASH'/state-\$dport/queue/*.d | head -1) &&
		want=\$(echo '$kind' | grep -q 13 && echo TLSv1.3 || echo TLSv1.2) &&
		grep -q -a \"version=\$want \" \"\$f\" &&
		grep -q -a 'subject=\"CN=partner.example.net' \"\$f\" && grep -q -a 'verify=ok' \"\$f\""
	test_expect_success "($kind) dsmtpd's log names the client certificate with openssl's SHA-256" "
		dport=\$(cat '$TRASH/dport-$kind') && flush_plog 'dsmtpd-$kind' &&
		want=\$(openssl x509 -in '$pki/client.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f) &&
		grep -h 'Remote certificate' '$TRASH'/state-\$dport/logs/receive/*.LOG | grep -q \"sha256=\$want\""
done
finish
