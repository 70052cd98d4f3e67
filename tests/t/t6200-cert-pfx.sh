#!/bin/sh
# t6200-cert-pfx: export-pfx writes PKCS#12 that openssl reads without
# -legacy (PBES2/AES-256), with the key that belongs to the certificate;
# import-pfx reads ours and OpenSSL's; passwords: one trailing newline is not
# part of them, none or an empty one is refused for export. Weak keys (RSA
# under 2048 bits) are refused by import-pfx, import and dsmtpd's start.
. "${srcdir:-.}/tests/t/lib.sh"
need_ openssl
need_ certtool

PKI=$TRASH/pki
sh "$srcdir/tests/certs/mkcerts.sh" "$PKI" || framework_failure_ "mkcerts.sh failed"
CFG=$TRASH/dsmtp.yaml
make_config "$CFG" 2525
STORE=$TRASH/state-2525/certs
C() { "$DSMTP_CERT" -c "$CFG" "$@"; }
OTHER=$TRASH/other.yaml
make_config "$OTHER" 2526
CO() { "$DSMTP_CERT" -c "$OTHER" "$@"; }
sha1_of() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }
spki_of() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
	    openssl dgst -sha256 -binary | base64
}

printf 'correct horse\n' >"$TRASH/pw"
printf 'correct horse' >"$TRASH/pw-nonl"
printf '\n' >"$TRASH/pw-empty"
C new --san pfx.example.org >"$TRASH/new.out" || framework_failure_ "dsmtp-cert new failed"
T=$(sed -n 's/^created self-signed certificate //p' "$TRASH/new.out")

test_expect_success "export-pfx writes a 0600 PKCS#12 that openssl reads without -legacy" '
	C export-pfx "$T" --out "$TRASH/out.pfx" --password-file "$TRASH/pw" >"$TRASH/exp.out" &&
	grep -q "^exported $T" "$TRASH/exp.out" &&
	test "$(stat -c %a "$TRASH/out.pfx")" = 600 &&
	openssl pkcs12 -in "$TRASH/out.pfx" -passin "pass:correct horse" -info -noout >"$TRASH/info" 2>&1 &&
	grep -q "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" "$TRASH/info" &&
	grep -q "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" "$TRASH/info" &&
	grep -q "MAC: sha256" "$TRASH/info"'

test_expect_success "the PFX holds the stored certificate and its key; the newline was not in the password" '
	openssl pkcs12 -in "$TRASH/out.pfx" -passin "pass:correct horse" -nokeys -out "$TRASH/pfx-cert.pem" 2>/dev/null &&
	test "$(sha1_of "$TRASH/pfx-cert.pem")" = "$T" &&
	openssl pkcs12 -in "$TRASH/out.pfx" -passin "pass:correct horse" -nocerts -nodes 2>/dev/null |
	    openssl pkey -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64 >"$TRASH/kpin" &&
	test "$(cat "$TRASH/kpin")" = "$(spki_of "$STORE/$T.pem")" &&
	! openssl pkcs12 -in "$TRASH/out.pfx" -passin "pass:correct horse
" -info -noout >/dev/null 2>&1'

test_expect_success "export-pfx refuses without a password file, and with an empty password" '
	{ C export-pfx "$T" --out "$TRASH/no.pfx" 2>"$TRASH/err"; test $? = 64; } &&
	grep -q "without a password" "$TRASH/err" &&
	{ C export-pfx "$T" --out "$TRASH/no.pfx" --password-file "$TRASH/pw-empty" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "password is empty" "$TRASH/err" &&
	test ! -e "$TRASH/no.pfx"'

test_expect_success "import-pfx of our export into another store gives the same certificate and key" '
	CO import-pfx "$TRASH/out.pfx" --password-file "$TRASH/pw-nonl" >"$TRASH/imp.out" &&
	grep -q "^imported certificate $T$" "$TRASH/imp.out" &&
	cmp "$STORE/$T.pem" "$TRASH/state-2526/certs/$T.pem" &&
	test "$(stat -c %a "$TRASH/state-2526/certs/$T.key")" = 600 &&
	test "$(openssl pkey -in "$TRASH/state-2526/certs/$T.key" -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)" = "$(spki_of "$STORE/$T.pem")" &&
	grep -q "enabled:  yes" "$TRASH/imp.out"'

test_expect_success "import-pfx with a wrong password fails with 65 and says so" '
	printf "wrong\n" >"$TRASH/pw-wrong" &&
	{ CO import-pfx "$TRASH/out.pfx" --password-file "$TRASH/pw-wrong" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "out.pfx: wrong password" "$TRASH/err"'

test_expect_success "import-pfx of an OpenSSL PKCS#12 with an intermediate keeps the chain" '
	openssl pkcs12 -export -in "$PKI/server-inter.pem" -inkey "$PKI/server-inter.key" \
	    -certfile "$PKI/inter.pem" -passout "pass:correct horse" -out "$TRASH/ossl.pfx" &&
	CO import-pfx "$TRASH/ossl.pfx" --password-file "$TRASH/pw" >"$TRASH/imp2.out" &&
	TS=$(sha1_of "$PKI/server-inter.pem") &&
	grep -q "^imported certificate $TS$" "$TRASH/imp2.out" &&
	grep -q "chain:    2 certificates" "$TRASH/imp2.out" &&
	CO show "$TS" >"$TRASH/show" &&
	grep -q "self-signed: no" "$TRASH/show" &&
	grep -q "  1: CN=dsmtp Test Intermediate,O=dsmtp tests" "$TRASH/show"'

test_expect_success "export-pfx of a chained certificate carries the intermediate; openssl verifies it" '
	TS=$(sha1_of "$PKI/server-inter.pem") &&
	CO export-pfx "$TS" --out "$TRASH/chain.pfx" --password-file "$TRASH/pw" >/dev/null &&
	openssl pkcs12 -in "$TRASH/chain.pfx" -passin "pass:correct horse" -nokeys -out "$TRASH/chain.pem" 2>/dev/null &&
	test "$(grep -c "BEGIN CERTIFICATE" "$TRASH/chain.pem")" = 2 &&
	openssl verify -CAfile "$PKI/ca.pem" -untrusted "$TRASH/chain.pem" "$PKI/server-inter.pem" | grep -q OK'

test_expect_success "not a PKCS#12 file: 65 with the file named" '
	{ CO import-pfx "$PKI/server.pem" --password-file "$TRASH/pw" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "server.pem: not a PKCS#12 file" "$TRASH/err"'
# an RSA-1024 certificate and key, as a PFX too
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$TRASH/weak.key" -out "$TRASH/weak.pem" \
    -subj /CN=weak.example -days 30 >/dev/null 2>&1 &&
openssl pkcs12 -export -in "$TRASH/weak.pem" -inkey "$TRASH/weak.key" -out "$TRASH/weak.pfx" \
    -passout "pass:correct horse" >/dev/null 2>&1 || framework_failure_ "cannot make an RSA-1024 PFX"

test_expect_success "import-pfx refuses an RSA-1024 key: 65, the file and the reason named, nothing stored" '
	WT=$(sha1_of "$TRASH/weak.pem") &&
	{ CO import-pfx "$TRASH/weak.pfx" --password-file "$TRASH/pw" >"$TRASH/out" 2>"$TRASH/err"; test $? = 65; } &&
	cat "$TRASH/err" &&
	grep -q "import-pfx: .*weak.pfx: weak key: RSA key of 1024 bits (keys under 2048 bits are refused)" "$TRASH/err" &&
	test ! -e "$TRASH/state-2526/certs/$WT.pem" && ! grep -q imported "$TRASH/out"'

test_expect_success "import refuses a certificate with an RSA-1024 key, naming the reason" '
	{ CO import "$TRASH/weak.pem" 2>"$TRASH/err"; test $? = 65; } && cat "$TRASH/err" &&
	grep -q "import: .*weak.pem: weak key: RSA key of 1024 bits" "$TRASH/err"'

test_expect_success "dsmtpd will not start with a configured RSA-1024 certificate" '
	wport=$(free_port) &&
	printf "hostname: weak.example\nstate_dir: %s\ncertificates:\n  - cert: %s\n    key: %s\nreceive:\n  listen: [ \"127.0.0.1:%s\" ]\n  workers: 1\n" \
	    "$TRASH/wst" "$TRASH/weak.pem" "$TRASH/weak.key" "$wport" >"$TRASH/weak.yaml" &&
	{ timeout 20 "$DSMTPD" -c "$TRASH/weak.yaml" 2>"$TRASH/err"; test $? = 78; } && cat "$TRASH/err" &&
	grep -q "certificates\[0\]: .*weak.pem: weak key: RSA key of 1024 bits" "$TRASH/err"'
finish
