#!/bin/sh
# t6100-cert-request: dsmtp-cert request writes a CSR openssl accepts and keeps
# the key pending; a CA made by certtool (tests/certs/mkcerts.sh) signs it;
# import binds the certificate to the pending key (PEM, DER, PKCS#7), and an
# import on another machine's store fails and says where the key is.
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
spki_of() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
	    openssl dgst -sha256 -binary | base64
}
# sign CSR OUT: the test CA issues a certificate for a request, honouring its SANs
sign() {
	printf 'honor_crq_extensions\nexpiration_days = 90\ntls_www_server\ntls_www_client\nserial = %s\n' "$3" >"$TRASH/sign.tmpl"
	certtool --generate-certificate --load-request "$1" --load-ca-certificate "$PKI/ca.pem" \
	    --load-ca-privkey "$PKI/ca.key" --template "$TRASH/sign.tmpl" --outfile "$2" 2>/dev/null
}

test_expect_success "request writes a CSR that openssl verifies, with the subject in the order given and the SANs" '
	C request --subject "C=US,O=Example Org,CN=mail.example.com" --san mail.example.com,example.com --out "$TRASH/mail.csr" >"$TRASH/req.out" &&
	openssl req -in "$TRASH/mail.csr" -noout -verify 2>&1 | grep -q "verify OK" &&
	openssl req -in "$TRASH/mail.csr" -noout -text >"$TRASH/req.txt" &&
	grep -q "Subject: C = US, O = Example Org, CN = mail.example.com" "$TRASH/req.txt" &&
	grep -q "DNS:mail.example.com, DNS:example.com" "$TRASH/req.txt" &&
	grep -q "NIST CURVE: P-256" "$TRASH/req.txt" &&
	grep -q "TLS Web Server Authentication" "$TRASH/req.txt"'

test_expect_success "the key is kept as pending, mode 0600, and list shows the request" '
	ls "$STORE/pending/" >"$TRASH/pending" &&
	test "$(grep -c "\.key$" "$TRASH/pending")" = 1 &&
	k=$(grep "\.key$" "$TRASH/pending") &&
	test "$(stat -c %a "$STORE/pending/$k")" = 600 &&
	test "$(openssl pkey -in "$STORE/pending/$k" -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)" = "$(openssl req -in "$TRASH/mail.csr" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)" &&
	C list >"$TRASH/list" &&
	grep -q "pending requests" "$TRASH/list" &&
	grep -q "subject CN=mail.example.com,O=Example Org,C=US" "$TRASH/list"'

test_expect_success "request --key rsa-3072 gives an RSA 3072 request; a bad subject is a usage error" '
	C request --subject "CN=rsa.example.com" --san rsa.example.com --key rsa-3072 --out "$TRASH/rsa.csr" >/dev/null &&
	openssl req -in "$TRASH/rsa.csr" -noout -text | grep -q "Public-Key: (3072 bit)" &&
	{ C request --subject "nonsense" --san x.example --out "$TRASH/bad.csr" 2>"$TRASH/err"; test $? = 64; } &&
	test ! -e "$TRASH/bad.csr" && grep -q "TYPE=value" "$TRASH/err" &&
	{ C request --san x.example --out "$TRASH/bad.csr" 2>/dev/null; test $? = 64; }'

sign "$TRASH/mail.csr" "$TRASH/mail.pem" 101 || framework_failure_ "certtool could not sign the request"

test_expect_success "the wrong machine: import into a store without the key fails with 65 and says where the key is" '
	CO request --subject "CN=elsewhere.example.com" --san elsewhere.example.com --out "$TRASH/else.csr" >/dev/null &&
	{ CO import "$TRASH/mail.pem" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "matches no pending key" "$TRASH/err" &&
	grep -q "created on the machine where .dsmtp-cert request. ran" "$TRASH/err" &&
	grep -q "pending requests:" "$TRASH/err" &&
	grep -q "created 20[0-9-]*T[0-9:]*Z  subject CN=elsewhere.example.com" "$TRASH/err" &&
	test -d "$TRASH/state-2526/certs" && test -z "$(ls "$TRASH/state-2526/certs/" | grep "\.pem$")"'

test_expect_success "import binds the CA-issued certificate to the pending key" '
	C import "$TRASH/mail.pem" --chain "$PKI/ca.pem" >"$TRASH/imp.out" &&
	T=$(openssl x509 -in "$TRASH/mail.pem" -noout -fingerprint -sha1 | sed "s/.*=//; s/://g" | tr A-F a-f) &&
	grep -q "^imported certificate $T$" "$TRASH/imp.out" &&
	test -f "$STORE/$T.pem" && test "$(stat -c %a "$STORE/$T.key")" = 600 &&
	test "$(openssl pkey -in "$STORE/$T.key" -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)" = "$(spki_of "$TRASH/mail.pem")" &&
	test "$(ls "$STORE/pending/" | grep -c "\.key$")" = 1 &&
	C show "$T" >"$TRASH/show" &&
	grep -q "self-signed: no" "$TRASH/show" &&
	grep -q "issuer:      CN=dsmtp Test CA,O=dsmtp tests" "$TRASH/show" &&
	grep -q "pins:        sha256/$(spki_of "$TRASH/mail.pem")" "$TRASH/show" &&
	grep -q "enabled:     yes" "$TRASH/show"'

test_expect_success "importing the same certificate again is refused with 65" '
	{ C import "$TRASH/mail.pem" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "already in the store" "$TRASH/err"'

test_expect_success "a certificate of another key (mkcerts server.pem) is refused with 65" '
	{ C import "$PKI/server.pem" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "matches no pending key" "$TRASH/err" &&
	grep -q "subject CN=rsa.example.com" "$TRASH/err"'

test_expect_success "import of a DER .cer binds the RSA request" '
	sign "$TRASH/rsa.csr" "$TRASH/rsa.pem" 102 &&
	openssl x509 -in "$TRASH/rsa.pem" -outform der -out "$TRASH/rsa.cer" &&
	C import "$TRASH/rsa.cer" >"$TRASH/imp2.out" &&
	grep -q "key:      RSA 3072" "$TRASH/imp2.out" &&
	test "$(ls "$STORE/pending/" | grep -c "\.key$")" = 0'

test_expect_success "import of a PKCS#7 .p7b with the intermediate stores the chain leaf first" '
	C request --subject "CN=p7.example.com" --san p7.example.com --out "$TRASH/p7.csr" >/dev/null &&
	printf "honor_crq_extensions\nexpiration_days = 30\ntls_www_server\nserial = 103\n" >"$TRASH/p7.tmpl" &&
	certtool --generate-certificate --load-request "$TRASH/p7.csr" --load-ca-certificate "$PKI/inter.pem" --load-ca-privkey "$PKI/inter.key" --template "$TRASH/p7.tmpl" --outfile "$TRASH/p7leaf.pem" 2>/dev/null &&
	cat "$PKI/ca.pem" "$PKI/inter.pem" "$TRASH/p7leaf.pem" >"$TRASH/p7all.pem" &&
	openssl crl2pkcs7 -nocrl -certfile "$TRASH/p7all.pem" -outform DER -out "$TRASH/p7.p7b" &&
	C import "$TRASH/p7.p7b" >"$TRASH/imp3.out" &&
	grep -q "chain:    2 certificates" "$TRASH/imp3.out" &&
	T=$(openssl x509 -in "$TRASH/p7leaf.pem" -noout -fingerprint -sha1 | sed "s/.*=//; s/://g" | tr A-F a-f) &&
	openssl crl2pkcs7 -nocrl -certfile "$STORE/$T.pem" | openssl pkcs7 -print_certs -noout >"$TRASH/chain.txt" &&
	sed -n 1p "$TRASH/chain.txt" | grep -q "subject=CN = p7.example.com" &&
	grep -q "subject=O = dsmtp tests, CN = dsmtp Test Intermediate" "$TRASH/chain.txt" &&
	! grep -q "subject=O = dsmtp tests, CN = dsmtp Test CA$" "$TRASH/chain.txt" &&
	openssl verify -CAfile "$PKI/ca.pem" -untrusted "$PKI/inter.pem" "$STORE/$T.pem" | grep -q OK'

test_expect_success "renew of a CA-issued certificate makes a new pending key and request" '
	T=$(openssl x509 -in "$TRASH/mail.pem" -noout -fingerprint -sha1 | sed "s/.*=//; s/://g" | tr A-F a-f) &&
	{ C renew "$T" 2>"$TRASH/err"; test $? = 64; } && grep -q "give --out" "$TRASH/err" &&
	C renew "$T" --out "$TRASH/renew.csr" >"$TRASH/renew.out" &&
	openssl req -in "$TRASH/renew.csr" -noout -subject | grep -q "subject=C = US, O = Example Org, CN = mail.example.com" &&
	openssl req -in "$TRASH/renew.csr" -noout -text | grep -q "DNS:mail.example.com, DNS:example.com" &&
	test "$(ls "$STORE/pending/" | grep -c "\.key$")" = 1'

test_expect_success "pin of every mkcerts certificate (ECDSA, RSA, expired, client) equals openssl's SPKI and certificate SHA-256" '
	for n in ca inter server server-rsa wrongname expired selfsigned client; do
		"$DSMTP_CERT" pin --json "$PKI/$n.pem" >"$TRASH/pin.json" 2>/dev/null &&
		want_spki="sha256/$(spki_of "$PKI/$n.pem")" &&
		want_cert="cert-sha256:$(openssl x509 -in "$PKI/$n.pem" -outform der | openssl dgst -sha256 -r | cut -d" " -f1)" &&
		want_sha1=$(openssl x509 -in "$PKI/$n.pem" -noout -fingerprint -sha1 | sed "s/.*=//; s/://g" | tr A-F a-f) &&
		grep -q "\"spki\": \"$want_spki\"" "$TRASH/pin.json" &&
		grep -q "\"cert\": \"$want_cert\"" "$TRASH/pin.json" &&
		grep -q "\"thumbprint\": \"$want_sha1\"" "$TRASH/pin.json" || { echo "$n differs"; cat "$TRASH/pin.json"; exit 1; }
	done'

test_expect_success "the expired certificate is warned about on stderr" '
	"$DSMTP_CERT" pin "$PKI/expired.pem" 2>"$TRASH/err" >/dev/null &&
	grep -q "expired on 2021-01-01T00:00:00Z" "$TRASH/err"'

test_expect_success "an unreadable import file exits 66" '
	{ C import "$TRASH/nonexistent.pem" 2>"$TRASH/err"; test $? = 66; } &&
	grep -q "nonexistent.pem" "$TRASH/err"'
finish
