#!/bin/sh
# t6300-cert-dsmtpd: the certificate dsmtpd serves is the one DESIGN.md
# section 7 selects: on first start a self-signed one is made (and only
# once); an enabled CA-issued certificate naming our hostname beats it;
# configured certificate files beat the store. Checked from the outside
# with openssl s_client -starttls smtp.
. "${srcdir:-.}/tests/t/lib.sh"
need_ openssl
need_ certtool
need_ python3

PKI=$TRASH/pki
MKCERTS_SANS="test.example.org" sh "$srcdir/tests/certs/mkcerts.sh" "$PKI" ||
    framework_failure_ "mkcerts.sh failed"
PORT=$(free_port)
CFG=$TRASH/dsmtp.yaml
make_config "$CFG" "$PORT"
STORE=$TRASH/state-$PORT/certs
C() { "$DSMTP_CERT" -c "$CFG" "$@"; }
sha1_of() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }

# start dsmtpd with config $1 in this shell (so lib.sh's trap knows its
# PID), stopping the previous one; STARTED=0 once its port answers
DPID=
start_d() {
	stop_d
	start_bg dsmtpd "$DSMTPD" -c "$1"
	DPID=$LAST_PID
	if wait_port 127.0.0.1 "$PORT"; then STARTED=0; else STARTED=1; fi
	SERVED=$(served)
}
stop_d() {
	[ -n "$DPID" ] || return 0
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}
# the SHA-1 of the certificate the server presents after STARTTLS
served() {
	echo QUIT | timeout 10 openssl s_client -starttls smtp -connect "127.0.0.1:$PORT" \
	    -servername test.example.org 2>/dev/null >"$TRASH/s_client.out"
	openssl x509 -in "$TRASH/s_client.out" -noout -fingerprint -sha1 2>/dev/null |
	    sed 's/.*=//; s/://g' | tr A-F a-f
}

start_d "$CFG"
test_expect_success "first start makes one self-signed certificate for the hostname and serves it" '
	test "$STARTED" = 0 &&
	grep -q "created a self-signed certificate" "$TRASH/dsmtpd.log" &&
	C list --json >"$TRASH/l.json" &&
	test "$(python3 -c "import json; d=json.load(open(\"$TRASH/l.json\")); c=d[\"certificates\"]; print(len(c), c[0][\"enabled\"], c[0][\"self_signed\"], \",\".join(c[0][\"san\"]))")" = "1 True True test,test.example.org" &&
	test -n "$SERVED" && test "$SERVED" = "$(cat "$STORE/enabled")"'

T0=$(cat "$STORE/enabled" 2>/dev/null)
start_d "$CFG"
test_expect_success "a second start makes no new certificate" '
	test "$STARTED" = 0 && test "$SERVED" = "$T0" &&
	test "$(ls "$STORE"/*.pem | wc -l)" = 1 &&
	! grep -q "created a self-signed certificate" "$TRASH/dsmtpd.log"'

printf 'pw\n' >"$TRASH/pw"
openssl pkcs12 -export -in "$PKI/server.pem" -inkey "$PKI/server.key" -passout pass:pw \
    -out "$TRASH/s.pfx" || framework_failure_ "openssl pkcs12 -export failed"
C import-pfx "$TRASH/s.pfx" --password-file "$TRASH/pw" --enable >"$TRASH/imp.out" 2>&1
start_d "$CFG"
test_expect_success "an enabled CA-issued certificate naming the hostname is served before the self-signed one" '
	test "$(wc -l <"$STORE/enabled")" = 2 &&
	test "$STARTED" = 0 && test "$SERVED" = "$(sha1_of "$PKI/server.pem")" &&
	grep -q "CA-issued; 2 candidates" "$TRASH/dsmtpd.log"'

C disable "$(sha1_of "$PKI/server.pem")" >/dev/null
start_d "$CFG"
test_expect_success "disabling it brings the self-signed one back" '
	test "$STARTED" = 0 && test "$SERVED" = "$T0"'

make_config "$TRASH/conf.yaml" "$PORT" "certificates:
  - cert: $PKI/server-rsa.pem
    key: $PKI/server-rsa.key"
start_d "$TRASH/conf.yaml"
test_expect_success "configured certificate files take precedence over the store" '
	test "$STARTED" = 0 && test "$SERVED" = "$(sha1_of "$PKI/server-rsa.pem")"'
stop_d
finish
