#!/bin/sh
# t2550-domain-secure-queue: the partner link of DESIGN.md section 2 through
# the spool: dsmtpd A -> dsmtpc once -> dsmtpd B, where example.com is on
# A's domain_secure.send (the level is forced, whatever the route says) and
# partner.example.net on B's domain_secure.receive. dsmtpc presents A's
# certificate, B accepts the mail only domain-secured, and both logs say
# so. A domain the peer's certificate does not name is deferred with the
# SANs seen and the domain wanted as last error, never sent in plaintext.
# A pinned link to a domain on domain_secure.send keeps the pin and adds
# the names: the pinned certificate must name the recipient domain too.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)
CR=$(printf '\r')

host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com, contoso.com ]
  relay: { networks: [] }
  workers: 1
domain_secure:
  receive: [ partner.example.net ]
  local: [ example.com ]
EOF
host_config "$TRASH/a.yaml" partner.example.net "$TRASH/a" "$portA" "$pki/client.pem" "$pki/client.key" <<EOF
  tls: none
  workers: 1
domain_secure:
  send: [ example.com, contoso.com ]
  local: [ partner.example.net ]
send:
  retry: { first: 60, max: 3600, lifetime: 172800 }
  routes:
    - domain: "*"
      next_hop: "[localhost]:$portB"
      tls: opportunistic
EOF
start_bg b "$DSMTPD" -c "$TRASH/b.yaml"
start_bg a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$portB" || { cat "$TRASH/b.log"; framework_failure_ "dsmtpd B did not start"; }
wait_port 127.0.0.1 "$portA" || { cat "$TRASH/a.log"; framework_failure_ "dsmtpd A did not start"; }

test_expect_success "domain-secure forced by domain_secure.send: mutual TLS, accepted by B" "
	python3 - $portA <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.sendmail('alice@partner.example.net', ['bob@example.com'], b'Subject: ds-ok\r\n\r\nhello\r\n')
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once1' 2>&1; rc=\$?; cat '$TRASH/once1'; test \$rc = 0 &&
	grep -q 'Verified TLS connection established to localhost\[127.0.0.1\]:$portB: .*\[domain-secure example.com\] pass' '$TRASH/once1' &&
	f=\$(grep -l -a '^Subject: ds-ok$CR\$' $TRASH/b/queue/*.d) &&
	grep -q -a 'domain-secured for partner.example.net' \"\$f\" &&
	grep -h ',Policy\$' $TRASH/a/logs/send/*.LOG | grep -q 'level=domain-secure; domain=example.com; result=pass' &&
	grep -h 'Local certificate' $TRASH/a/logs/send/*.LOG | grep -q 'subject=CN=partner.example.net'"

test_expect_success "a SAN mismatch defers, names the SANs and the domain, sends nothing" "
	python3 - $portA <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.sendmail('alice@partner.example.net', ['carol@contoso.com'], b'Subject: ds-bad\r\n\r\nhello\r\n')
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once2' 2>&1; test \$? = 75 &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q' &&
	grep -q 'carol@contoso.com>  pending  attempts: 1.*last error: TLS policy failure with localhost\[127.0.0.1\]:$portB: san-mismatch: wanted contoso.com (match exact), saw mail.example.com,example.com,localhost' '$TRASH/q' &&
	files_exist $TRASH/b/queue/*.d && ! grep -l -a '^Subject: ds-bad' $TRASH/b/queue/*.d"
pin=$("$DSMTP_CERT" pin "$pki/server.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
test_expect_success "pinned, on domain_secure.send: the pin and the domain named: delivered" "
	printf 'Subject: ds-pin\r\n\r\nhello\r\n' | '$DSMTPC' -c '$TRASH/a.yaml' send \
	    --server localhost:$portB --from alice@partner.example.net --to bob@example.com \
	    --pin '$pin' >'$TRASH/pin1' 2>&1; rc=\$?; cat '$TRASH/pin1'; test \$rc = 0 &&
	grep -q 'ok: pinned (pin $pin) and domain-secure example.com (name example.com)' '$TRASH/pin1' &&
	grep -l -a '^Subject: ds-pin$CR\$' $TRASH/b/queue/*.d"
test_expect_success "pinned, on domain_secure.send: a domain the certificate does not name defers" "
	printf 'Subject: ds-pin-bad\r\n\r\nhello\r\n' | '$DSMTPC' -c '$TRASH/a.yaml' send \
	    --server localhost:$portB --from alice@partner.example.net --to carol@contoso.com \
	    --pin '$pin' >'$TRASH/pin2' 2>&1; rc=\$?; cat '$TRASH/pin2'; test \$rc = 75 &&
	grep -q 'san-mismatch: wanted contoso.com (match exact; pinned, and on domain_secure.send), saw mail.example.com' '$TRASH/pin2' &&
	files_exist $TRASH/b/queue/*.d && ! grep -l -a '^Subject: ds-pin-bad' $TRASH/b/queue/*.d"
finish
