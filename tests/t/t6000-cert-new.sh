#!/bin/sh
# t6000-cert-new: dsmtp-cert new, list, show, pin, enable, disable, renew and
# remove on a private store; every fact printed is checked against openssl
# and certtool reading the same file.
. "${srcdir:-.}/tests/t/lib.sh"
need_ openssl
need_ certtool
need_ python3

CFG=$TRASH/dsmtp.yaml
make_config "$CFG" 2525
STORE=$TRASH/state-2525/certs
C() { "$DSMTP_CERT" -c "$CFG" "$@"; }

# json FILE EXPR: a value from a JSON document (python3 expression on d)
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
spki_of() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
	    openssl dgst -sha256 -binary | base64
}

test_expect_success "new with the defaults makes an enabled self-signed ECDSA P-256 certificate" '
	C new >"$TRASH/new.out" &&
	grep -q "^created self-signed certificate [0-9a-f]\{40\}$" "$TRASH/new.out" &&
	grep -q "subject:  CN=test$" "$TRASH/new.out" &&
	grep -q "san:      test, test.example.org$" "$TRASH/new.out" &&
	grep -q "key:      ECDSA-P256 256$" "$TRASH/new.out" &&
	grep -q "enabled:  yes$" "$TRASH/new.out"'

T1=$(sed -n 's/^created self-signed certificate //p' "$TRASH/new.out")
P1=$STORE/$T1.pem

test_expect_success "the store holds <sha1>.pem, a 0600 <sha1>.key and the enabled file" '
	test -f "$P1" && test "$(stat -c %a "$STORE/$T1.key")" = 600 &&
	test "$(cat "$STORE/enabled")" = "$T1" &&
	! ls -a "$STORE" | grep -q tmp'

test_expect_success "the key is PKCS#8 and belongs to the certificate (openssl)" '
	grep -q "BEGIN PRIVATE KEY" "$STORE/$T1.key" &&
	test "$(openssl pkey -in "$STORE/$T1.key" -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)" = "$(spki_of "$P1")"'

test_expect_success "show --json agrees with openssl x509: subject, SANs, dates, SHA-1, SHA-256, SPKI pin" '
	C show "$T1" --json >"$TRASH/show.json" &&
	test "$(json "$TRASH/show.json" "d[\"subject\"]")" = "$(openssl x509 -in "$P1" -noout -subject -nameopt RFC2253 | sed "s/^subject=//")" &&
	test "$(json "$TRASH/show.json" "d[\"issuer\"]")" = "CN=test" &&
	test "$(json "$TRASH/show.json" "\", \".join(\"DNS:\"+s for s in d[\"san\"])")" = "$(openssl x509 -in "$P1" -noout -ext subjectAltName | tail -n 1 | sed "s/^ *//")" &&
	test "$(json "$TRASH/show.json" "d[\"sha1\"]")" = "$(openssl x509 -in "$P1" -noout -fingerprint -sha1 | sed "s/.*=//; s/://g" | tr A-F a-f)" &&
	test "$(json "$TRASH/show.json" "d[\"sha256\"]")" = "$(openssl x509 -in "$P1" -noout -fingerprint -sha256 | sed "s/.*=//; s/://g" | tr A-F a-f)" &&
	test "$(json "$TRASH/show.json" "d[\"spki\"]")" = "sha256/$(spki_of "$P1")" &&
	test "$(json "$TRASH/show.json" "d[\"not_after\"]")" = "$(date -u -d "$(openssl x509 -in "$P1" -noout -enddate | sed "s/^notAfter=//")" +%Y-%m-%dT%H:%M:%SZ)" &&
	test "$(json "$TRASH/show.json" "d[\"not_before\"]")" = "$(date -u -d "$(openssl x509 -in "$P1" -noout -startdate | sed "s/^notBefore=//")" +%Y-%m-%dT%H:%M:%SZ)" &&
	test "$(json "$TRASH/show.json" "d[\"key_type\"]")" = ECDSA-P256 &&
	test "$(json "$TRASH/show.json" "d[\"self_signed\"]")" = True &&
	test "$(json "$TRASH/show.json" "d[\"enabled\"]")" = True'

test_expect_success "the validity is 365 days and certtool -i agrees on names and serial" '
	nb=$(date -u -d "$(openssl x509 -in "$P1" -noout -startdate | sed "s/^notBefore=//")" +%s) &&
	na=$(date -u -d "$(openssl x509 -in "$P1" -noout -enddate | sed "s/^notAfter=//")" +%s) &&
	test $((na - nb)) = $((365 * 86400)) &&
	certtool -i --infile "$P1" >"$TRASH/ct.txt" &&
	grep -q "Subject: CN=test$" "$TRASH/ct.txt" &&
	grep -q "DNSname: test$" "$TRASH/ct.txt" &&
	grep -q "DNSname: test.example.org$" "$TRASH/ct.txt" &&
	serial=$(json "$TRASH/show.json" "d[\"serial\"]") &&
	test "$serial" = "$(openssl x509 -in "$P1" -noout -serial | sed "s/^serial=//" | tr A-F a-f)" &&
	grep -q "Signature Algorithm: ECDSA-SHA256" "$TRASH/ct.txt"'

test_expect_success "pin prints sha256/ and cert-sha256: as openssl computes them" '
	C pin "$T1" >"$TRASH/pin" &&
	test "$(sed -n 1p "$TRASH/pin")" = "sha256/$(spki_of "$P1")" &&
	test "$(sed -n 2p "$TRASH/pin")" = "cert-sha256:$(openssl x509 -in "$P1" -outform der | openssl dgst -sha256 -r | cut -d" " -f1)" &&
	test "$(wc -l <"$TRASH/pin")" = 2'

test_expect_success "thumbprints: colons, upper case, 8-digit prefix accepted; 7 digits and unknown refused" '
	colons=$(echo "$T1" | tr a-f A-F | sed "s/\(..\)/\1:/g; s/:$//") &&
	C pin "$colons" | cmp - "$TRASH/pin" &&
	C pin "$(echo "$T1" | cut -c1-8)" | cmp - "$TRASH/pin" &&
	{ C pin "$(echo "$T1" | cut -c1-7)" 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "at least 8" "$TRASH/err" &&
	{ C show 0000000000000000000000000000000000000000 2>"$TRASH/err"; test $? = 65; } &&
	grep -q "no certificate 0000000000000000000000000000000000000000" "$TRASH/err"'

test_expect_success "pin FILE reads a PEM and a DER certificate without a store" '
	openssl x509 -in "$P1" -outform der -out "$TRASH/c.der" &&
	"$DSMTP_CERT" pin "$TRASH/c.der" | cmp - "$TRASH/pin" &&
	"$DSMTP_CERT" pin --json "$P1" >"$TRASH/pin.json" &&
	test "$(json "$TRASH/pin.json" "d[\"spki\"]")" = "$(sed -n 1p "$TRASH/pin")"'

test_expect_success "new --key rsa-2048 --cn --san --days: openssl sees RSA 2048, the names, and it warns of expiry" '
	C new --key rsa-2048 --cn "Relay, Inc" --san mx.example.net,example.net --days 10 >"$TRASH/rsa.out" 2>"$TRASH/rsa.err" &&
	T2=$(sed -n "s/^created self-signed certificate //p" "$TRASH/rsa.out") &&
	openssl x509 -in "$STORE/$T2.pem" -noout -text >"$TRASH/rsa.txt" &&
	grep -q "Public-Key: (2048 bit)" "$TRASH/rsa.txt" &&
	grep -q "DNS:mx.example.net, DNS:example.net" "$TRASH/rsa.txt" &&
	test "$(openssl x509 -in "$STORE/$T2.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=Relay\\, Inc" &&
	grep -q "warning: certificate $T2 .* expires in [0-9]* days" "$TRASH/rsa.err" &&
	grep -q "enabled:  no" "$TRASH/rsa.out"'

test_expect_success "RSA under 2048 bits and unknown key types are refused with 64" '
	{ C new --key rsa-1024 2>"$TRASH/err"; test $? = 64; } &&
	grep -q "under 2048 bits are refused" "$TRASH/err" &&
	{ C new --key dsa 2>"$TRASH/err"; test $? = 64; } &&
	test "$(ls "$STORE"/*.pem | wc -l)" = 2'

test_expect_success "new --key ed25519 and ecdsa-p384" '
	C new --key ed25519 --san ed.example.org >"$TRASH/ed.out" &&
	T3=$(sed -n "s/^created self-signed certificate //p" "$TRASH/ed.out") &&
	openssl x509 -in "$STORE/$T3.pem" -noout -text | grep -q "Public Key Algorithm: ED25519" &&
	C new --key ecdsa-p384 --san p384.example.org >"$TRASH/p384.out" &&
	grep -q "key:      ECDSA-P384 384" "$TRASH/p384.out" &&
	T4=$(sed -n "s/^created self-signed certificate //p" "$TRASH/p384.out") &&
	openssl x509 -in "$STORE/$T4.pem" -noout -text | grep -q "NIST CURVE: P-384"'

test_expect_success "list shows every certificate with thumbprint, expiry, kind, enabled, subject and SANs" '
	C list >"$TRASH/list" &&
	test "$(grep -c "^[0-9a-f]\{40\}  expires 20[0-9-]*T[0-9:]*Z  self-signed" "$TRASH/list")" = 4 &&
	grep -q "^$T1  expires .*  self-signed  enabled$" "$TRASH/list" &&
	grep -q "san:     mx.example.net, example.net" "$TRASH/list" &&
	C list --json >"$TRASH/list.json" &&
	test "$(json "$TRASH/list.json" "len(d[\"certificates\"])")" = 4 &&
	test "$(json "$TRASH/list.json" "sum(c[\"enabled\"] for c in d[\"certificates\"])")" = 1'

T2=$(sed -n 's/^created self-signed certificate //p' "$TRASH/rsa.out")

test_expect_success "enable adds to the enabled set, disable takes away" '
	C enable "$T2" >"$TRASH/en" && grep -q "^enabled $T2" "$TRASH/en" &&
	grep -qx "$T1" "$STORE/enabled" && grep -qx "$T2" "$STORE/enabled" &&
	C disable "$T2" >/dev/null && ! grep -q "$T2" "$STORE/enabled" &&
	grep -qx "$T1" "$STORE/enabled"'

test_expect_success "renew: same names and key type, a new key and new dates; it replaces the old in the enabled set" '
	C renew "$T1" >"$TRASH/renew.out" &&
	TR=$(sed -n "s/^renewed as //p" "$TRASH/renew.out") &&
	test -n "$TR" && test "$TR" != "$T1" &&
	C show "$TR" --json >"$TRASH/renew.json" &&
	test "$(json "$TRASH/renew.json" "d[\"subject\"]")" = CN=test &&
	test "$(json "$TRASH/renew.json" "\",\".join(d[\"san\"])")" = "test,test.example.org" &&
	test "$(json "$TRASH/renew.json" "d[\"key_type\"]")" = ECDSA-P256 &&
	test "$(json "$TRASH/renew.json" "d[\"spki\"]")" != "$(json "$TRASH/show.json" "d[\"spki\"]")" &&
	grep -qx "$TR" "$STORE/enabled" && ! grep -q "$T1" "$STORE/enabled" &&
	test "$(stat -c %a "$STORE/$TR.key")" = 600'

test_expect_success "renew keeps an RSA key RSA" '
	C renew "$T2" >"$TRASH/renew2.out" &&
	TR2=$(sed -n "s/^renewed as //p" "$TRASH/renew2.out") &&
	openssl x509 -in "$STORE/$TR2.pem" -noout -text | grep -q "Public-Key: (2048 bit)" &&
	openssl x509 -in "$STORE/$TR2.pem" -noout -ext subjectAltName | grep -q "DNS:mx.example.net, DNS:example.net"'

test_expect_success "remove deletes the certificate and its key; a second remove fails with 65" '
	C remove "$T1" >"$TRASH/rm" && grep -q "^removed $T1" "$TRASH/rm" &&
	test ! -e "$STORE/$T1.pem" && test ! -e "$STORE/$T1.key" &&
	{ C remove "$T1" 2>"$TRASH/err"; test $? = 65; } && grep -q "no certificate $T1" "$TRASH/err"'

test_expect_success "a namespace missing from the enabled certificate is warned about" '
	make_config "$TRASH/ds.yaml" 2525 "domain_secure:
  send: [ partner.example ]
  local: [ example.org ]" &&
	"$DSMTP_CERT" -c "$TRASH/ds.yaml" list >/dev/null 2>"$TRASH/err" &&
	grep -q "namespace example.org is in no enabled certificate" "$TRASH/err"'

test_expect_success "every command answers --help on stdout with 0 and touches nothing" '
	for c in new request import import-pfx export-pfx list show enable disable renew remove pin; do
		C $c --help >"$TRASH/help" 2>"$TRASH/help.err" || { echo "$c --help failed"; exit 1; }
		grep -q "^Usage: dsmtp-cert \[-c FILE\] $c" "$TRASH/help" || { echo "$c: no usage"; exit 1; }
		test ! -s "$TRASH/help.err" || { echo "$c: stderr"; exit 1; }
	done &&
	test "$(ls "$STORE"/*.pem | wc -l)" = "$(C list --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)[\"certificates\"]))")"'

test_expect_success "concurrent dsmtp-cert runs lose no enable (the store is locked)" '
	make_config "$TRASH/par.yaml" 2600 &&
	pids= &&
	for i in 1 2 3 4 5 6; do
		"$DSMTP_CERT" -c "$TRASH/par.yaml" new --enable --san "p$i.example.org" >/dev/null 2>&1 &
		pids="$pids $!"
	done &&
	for p in $pids; do wait $p || exit 1; done &&
	test "$(ls "$TRASH/state-2600/certs/"*.pem | wc -l)" = 6 &&
	test "$(sort -u "$TRASH/state-2600/certs/enabled" | wc -l)" = 6'

test_expect_success "an old temporary file of a crashed writer is cleaned, a fresh one is left alone" '
	echo x >"$STORE/.old.key.1.0.tmp" && touch -d "2 hours ago" "$STORE/.old.key.1.0.tmp" &&
	echo x >"$STORE/.new.key.2.0.tmp" &&
	C list >/dev/null 2>&1 &&
	test ! -e "$STORE/.old.key.1.0.tmp" && test -e "$STORE/.new.key.2.0.tmp" &&
	rm -f "$STORE/.new.key.2.0.tmp"'

test_expect_success "usage errors exit 64" '
	{ C show 2>/dev/null; test $? = 64; } &&
	{ C enable 2>/dev/null; test $? = 64; } &&
	{ C pin a b 2>/dev/null; test $? = 64; } &&
	{ C new --bogus 2>/dev/null; test $? = 64; } &&
	{ C new --days 0 2>/dev/null; test $? = 64; }'
finish
