#!/bin/sh
# t2610-dane-postfix: DANE (RFC 7672) with a private Postfix as the
# receiver. dane.test is signed at test time and served by a private nsd
# behind a validating unbound (tests/t/lib-dnssec.sh); Postfix listens on
# one loopback port (tests/t/lib-postfix.sh) with the test CA's leaf and
# the CA in its chain. Three host names lead to it, each with its own TLSA
# RRset at _PORT._tcp.HOST: DANE-EE (3 1 1, the leaf's SPKI), DANE-TA
# (2 0 1, the CA's certificate; the leaf names the host) and a record that
# matches nothing. "dsmtpc send" at level dane-only, validating in the
# process, delivers through the first two (the message is in Postfix's
# maildir, and Postfix logged TLS) and defers at the third with nothing
# delivered. Needs root for Postfix.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
. "$srcdir/tests/t/lib-postfix.sh"
need_ certtool
need_ openssl
postfix_need_
dnssec_need

MKCERTS_SANS="mx-pfee.dane.test mx-pfta.dane.test" sh "$srcdir/tests/certs/mkcerts.sh" \
    "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
cert() { openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
EE=$(spki "$pki/server.pem")
CA=$(cert "$pki/ca.pem")
ZERO=0000000000000000000000000000000000000000000000000000000000000000
[ ${#EE} = 64 ] && [ ${#CA} = 64 ] || framework_failure_ "digests"

pport=$(free_port)
postfix_setup pf "$pport" || framework_failure_ "postfix_setup"
mkdir -p "$TRASH/vmail" && chown postfix:postfix "$TRASH/vmail"
postfix_conf pf \
    "smtpd_tls_cert_file = $pki/server-chain.pem" "smtpd_tls_key_file = $pki/server.key" \
    "smtpd_tls_security_level = may" "mynetworks = 192.0.2.0/24" \
    "virtual_mailbox_domains = example.net" "virtual_mailbox_base = $TRASH/vmail" \
    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
    "virtual_gid_maps = static:$(id -g postfix)" ||
    framework_failure_ "postconf"
postfix_start pf || framework_failure_ "Postfix did not start"
wait_port 127.0.0.1 "$pport" || framework_failure_ "Postfix is not listening"

dnssec_keys dane.test
{
	printf '$ORIGIN dane.test.\n$TTL 60\n'
	printf '@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.dane.test.\nns A 127.0.0.1\n'
	printf 'mx-pfee A 127.0.0.1\nmx-pfta A 127.0.0.1\nmx-pfbad A 127.0.0.1\n'
	printf '_%s._tcp.mx-pfee TLSA 3 1 1 %s\n' "$pport" "$EE"
	printf '_%s._tcp.mx-pfta TLSA 2 0 1 %s\n' "$pport" "$CA"
	printf '_%s._tcp.mx-pfbad TLSA 3 1 1 %s\n' "$pport" "$ZERO"
} >"$DNSSEC/dane.test.zone"
dnssec_sign dane.test "$DNSSEC/dane.test.zone"
dnssec_serve dane.test

cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/c
trust:
  ca_file: $pki/ca-bundle.pem
dns:
  resolver: [ "127.0.0.1:$UNBOUND_PORT" ]
  dnssec: validate
  trust_anchor_file: $DNSSEC_TA
EOF
maildir="$TRASH/vmail/box"
CR=$(printf '\r')
# the delivered file with this Subject (Postfix stores LF line ends)
delivered() { grep -l -a -E "^Subject: $1$CR?\$" "$maildir"/new/* 2>/dev/null | head -1; }
# send HOST SUBJECT: dsmtpc send at dane-only to HOST on Postfix's port
send() {
	printf 'Subject: %s\r\n\r\nx\r\n' "$2" | "$DSMTPC" -c "$TRASH/c.yaml" send \
	    --server "$1:$pport" --from s@example.org --to r@example.net --tls dane-only \
	    >"$TRASH/$2.out" 2>&1
	_rc=$?
	cat "$TRASH/$2.out"
	return $_rc
}
# Postfix delivers through its own queue: wait for the file (5 s)
wait_delivered() {
	for _i in $(seq 1 50); do
		[ -n "$(delivered "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

test_expect_success "DANE-EE (3 1 1) at Postfix, dane-only: delivered to its maildir" "
	send mx-pfee.dane.test pf-ee &&
	grep -q 'DANE: 1 TLSA record(s), 1 usable, one matched' '$TRASH/pf-ee.out' &&
	grep -q 'policy: level dane-only, pass: dane: DANE-EE record 1 matched' '$TRASH/pf-ee.out' &&
	wait_delivered pf-ee"

test_expect_success "DANE-TA (2 0 1, the CA Postfix sends) at Postfix, host named: delivered" "
	send mx-pfta.dane.test pf-ta &&
	grep -q 'policy: level dane-only, pass: dane: DANE-TA record 1 matched at depth 1, name mx-pfta.dane.test' '$TRASH/pf-ta.out' &&
	wait_delivered pf-ta"

test_expect_success "a TLSA record that matches nothing: deferred, nothing at Postfix" "
	! send mx-pfbad.dane.test pf-bad &&
	grep -q 'tlsa-mismatch' '$TRASH/pf-bad.out' &&
	! wait_delivered pf-bad"

test_expect_success "Postfix saw TLS on the delivering sessions" "
	grep -q 'Anonymous TLS connection established from\\|TLS connection established from' '$TRASH/pf/maillog'"

test_expect_success "no sanitizer report from dsmtpc" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH'/pf-*.out"

postfix_stop pf
finish
