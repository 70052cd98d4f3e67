#!/bin/sh
# t6400-cert-sni: with several certificates, a client that sends SNI gets
# the one naming it; without SNI, the selected default (DESIGN.md 7); the
# protocol log's Local certificate record names the one actually sent.
. "${srcdir:-.}/tests/t/lib.sh"
need_ openssl
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
port=$(free_port)
make_config "$TRASH/d.yaml" "$port" "  workers: 1
certificates:
  - cert: $pki/wrongname.pem
    key: $pki/wrongname.key
  - cert: $pki/server-chain.pem
    key: $pki/server.key"
sed -i 's/^hostname: .*/hostname: mail.example.com/' "$TRASH/d.yaml"
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

subject() {	# subject SNI-or-empty: the subject the server presents
	if [ -n "$1" ]; then sni="-servername $1"; else sni="-noservername"; fi
	echo QUIT | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$port $sni 2>/dev/null |
	    sed -n 's/^subject=//p'
}

test_expect_success "without SNI: the default, chosen because its SANs name our hostname" "
	subject '' >'$TRASH/s1' && cat '$TRASH/s1' && grep -q 'CN = mail.example.com' '$TRASH/s1'"
test_expect_success "SNI other.example.net: the certificate that names it" "
	subject other.example.net >'$TRASH/s2' && cat '$TRASH/s2' && grep -q 'other.example.net' '$TRASH/s2'"
test_expect_success "the protocol log names the certificate actually sent, and why" "
	flush_plog dsmtpd &&
	grep -h 'Local certificate' '$TRASH'/state-$port/logs/receive/*.LOG >'$TRASH/lc' &&
	cat '$TRASH/lc' && grep -q 'why=SNI other.example.net' '$TRASH/lc' &&
	grep -q 'subject=CN=mail.example.com' '$TRASH/lc'"
finish
