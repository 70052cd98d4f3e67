#!/bin/sh
# t2625-mta-sts-postfix: MTA-STS (RFC 8461) with a private Postfix as the MX
# host (tests/t/lib-postfix.sh). sts.test is signed at test time and served
# by a private nsd behind a validating unbound (tests/t/lib-dnssec.sh); the
# policies come from a real HTTPS server (tests/t/stshttps.py) with a
# certificate from the test CA. Mail goes through a dsmtpd edge's spool and
# "dsmtpc once" to Postfix, whose certificate names mx-pf and mx-b2:
#   pf    enforce, MX named, verified            delivered to Postfix's maildir
#   pf2   enforce, MX 10 not named, MX 20 named  the first skipped (recorded),
#                                                delivered through the second
#   pfwn  testing, MX not in the certificate     delivered, certificate-host-
#                                                mismatch recorded
# Needs root for Postfix.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
. "$srcdir/tests/t/lib-postfix.sh"
need_ certtool
need_ openssl
postfix_need_
dnssec_need

MKCERTS_SANS="mx-pf.sts.test mx-b2.sts.test mta-sts.pf.sts.test mta-sts.pf2.sts.test mta-sts.pfwn.sts.test" \
    sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 ||
    framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"

pport=$(free_port)
postfix_setup pf "$pport" || framework_failure_ "postfix_setup"
mkdir -p "$TRASH/vmail" && chown postfix:postfix "$TRASH/vmail"
postfix_conf pf \
    "smtpd_tls_cert_file = $pki/server-chain.pem" "smtpd_tls_key_file = $pki/server.key" \
    "smtpd_tls_security_level = may" "mynetworks = 192.0.2.0/24" \
    "virtual_mailbox_domains = pf.sts.test pf2.sts.test pfwn.sts.test" \
    "virtual_mailbox_base = $TRASH/vmail" \
    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
    "virtual_gid_maps = static:$(id -g postfix)" ||
    framework_failure_ "postconf"
postfix_start pf || framework_failure_ "Postfix did not start"

www="$TRASH/www"
policy() {	# NAME MODE MX...
	_n=$1 _m=$2; shift 2
	mkdir -p "$www/$_n.sts.test"
	{ printf 'version: STSv1\r\nmode: %s\r\n' "$_m"
	  for _x in "$@"; do printf 'mx: %s\r\n' "$_x"; done
	  printf 'max_age: 86400\r\n'; } >"$www/$_n.sts.test/body"
}
policy pf enforce mx-pf.sts.test
policy pf2 enforce mx-b2.sts.test
policy pfwn testing mx-pfwn.sts.test
HPORT=$(free_port)
start_bg https python3 "$srcdir/tests/t/stshttps.py" "$HPORT" "$www" "$pki/server-chain.pem" \
    "$pki/server.key"

dnssec_keys sts.test
{
	printf '$ORIGIN sts.test.\n$TTL 60\n'
	printf '@ SOA ns.sts.test. hostmaster.sts.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.sts.test.\nns A 127.0.0.1\n'
	printf 'pf MX 10 mx-pf.sts.test.\nmx-pf A 127.0.0.1\n'
	printf 'pf2 MX 10 mx-a2.sts.test.\npf2 MX 20 mx-b2.sts.test.\n'
	printf 'mx-a2 A 127.0.0.1\nmx-b2 A 127.0.0.1\n'
	printf 'pfwn MX 10 mx-pfwn.sts.test.\nmx-pfwn A 127.0.0.1\n'
	for n in pf pf2 pfwn; do
		printf '_mta-sts.%s TXT "v=STSv1; id=%s1"\nmta-sts.%s A 127.0.0.1\n' $n $n $n
	done
} >"$DNSSEC/sts.test.zone"
dnssec_sign sts.test "$DNSSEC/sts.test.zone"
dnssec_serve sts.test
wait_port 127.0.0.1 "$HPORT" || { cat "$TRASH/https.log"; framework_failure_ "https server"; }
wait_port 127.0.0.1 "$pport" || framework_failure_ "Postfix is not listening"

aport=$(free_port)
{
	dnssec_edge_config "$aport" sts
	for n in pf pf2 pfwn; do
		printf '    - domain: %s.sts.test\n      next_hop: "%s.sts.test:%s"\n' $n $n "$pport"
	done
} >"$TRASH/a.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

maildir="$TRASH/vmail/box"
CR=$(printf '\r')
delivered() { grep -l -a -E "^Subject: $1$CR?\$" "$maildir"/new/* 2>/dev/null | head -1; }
wait_delivered() {
	for _i in $(seq 1 50); do
		[ -n "$(delivered "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}
line() { grep "to=<r@$1.sts.test>" "$TRASH/once.out"; }
plog() { cat "$TRASH/a/logs/send"/*; }

test_expect_success "queue one message per case, then dsmtpc once" "
	python3 - $aport <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for d in ('pf', 'pf2', 'pfwn'):
    s.sendmail('s@bounce.example', ['r@%s.sts.test' % d], ('Subject: %s\r\n\r\nx\r\n' % d).encode())
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; cat '$TRASH/once.out'; true"

test_expect_success "enforce, MX named, Postfix's certificate verified: delivered" "
	line pf | grep -q 'status=sent' && wait_delivered pf &&
	plog | grep -q 'ok: sts enforce: verified chain and MX host name mx-pf.sts.test'"

test_expect_success "enforce: the MX host not named is skipped, the named one delivers" "
	line pf2 | grep -q 'relay=mx-b2.sts.test.*status=sent' && wait_delivered pf2 &&
	plog | grep 'TLS result' | grep 'result-type=validation-failure; policy-type=sts; policy-domain=pf2.sts.test;' | grep -q 'receiving-mx-hostname=mx-a2.sts.test;' &&
	grep -q 'MTA-STS: MX host mx-a2.sts.test is not allowed' '$TRASH/once.out'"

test_expect_success "testing, the certificate does not name the MX host: delivered, recorded" "
	line pfwn | grep -q 'status=sent' && wait_delivered pfwn &&
	plog | grep 'TLS result' | grep 'result-type=certificate-host-mismatch; policy-type=sts; policy-domain=pfwn.sts.test;' | grep -q 'receiving-mx-hostname=mx-pfwn.sts.test;'"

test_expect_success "Postfix saw TLS on every session" "
	test \$(grep -c 'TLS connection established from' '$TRASH/pf/maillog') -ge 3"

test_expect_success "no sanitizer report from dsmtpc" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH/once.out'"

postfix_stop pf
finish
