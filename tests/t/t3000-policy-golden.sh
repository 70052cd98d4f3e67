#!/bin/sh
# t3000-policy-golden: dsmtp-policy check and explain over tests/golden/*.yaml,
# output diffed against tests/golden/NAME.out (STYLE.md section 5).
# Each config names its runs in "# run: ARGS" lines; @TRASH@ and @CERTS@ in it
# are replaced by this test's directories. Certificates are made here with
# certtool (no keys in git). Dates, pins and the store's selection text are
# normalised out. GOLDEN_UPDATE=1 rewrites the .out files instead of diffing.
. "${srcdir:-.}/tests/t/lib.sh"

need_ certtool
CERTS="$TRASH/certs"
mkdir -p "$CERTS" || framework_failure_ "mkdir $CERTS"

# mkcert NAME CN "SAN SAN..." DATES-LINES
mkcert() {
	{
		printf 'cn = "%s"\norganization = "dsmtp test"\n' "$2"
		for s in $3; do printf 'dns_name = "%s"\n' "$s"; done
		printf '%s\n' "$4"
		printf 'tls_www_server\ntls_www_client\nsigning_key\n'
	} >"$CERTS/$1.tmpl" &&
	certtool --generate-privkey --key-type ecdsa --outfile "$CERTS/$1.key" >/dev/null 2>&1 &&
	certtool --generate-self-signed --load-privkey "$CERTS/$1.key" \
	    --template "$CERTS/$1.tmpl" --outfile "$CERTS/$1.pem" >/dev/null 2>&1 ||
	framework_failure_ "certtool could not make $1"
}
LONG='activation_date = "2020-01-01 00:00:00"
expiration_date = "2036-01-01 00:00:00"'
# the trust anchors every golden config names (trust.ca_file), so the output
# does not depend on the machine's system trust store
mkcert ca "dsmtp test CA" "" "$LONG
ca
cert_signing_key"
mkcert cover edge.example.com "edge.example.com example.com example.net" "$LONG"
mkcert narrow edge.example.com "edge.example.com" "$LONG"
mkcert wild edge.example.com "*.example.com *.example.net" "$LONG"
mkcert partner mx.fabrikam.com "mx.fabrikam.com" "$LONG"
mkcert nosan example.com "" "$LONG"
mkcert expired edge.example.com "edge.example.com example.com" 'activation_date = "2020-01-01 00:00:00"
expiration_date = "2021-01-01 00:00:00"'
mkcert soon edge.example.com "edge.example.com example.com" 'expiration_days = 10'

normalise() {
	sed -e "s#$TRASH#@TRASH@#g" \
	    -e '/^certificate chosen: /d' -e '/^certificate pins: /d' \
	    -e 's/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z/DATE/g' \
	    -e 's/expires in [0-9]* days/expires in N days/'
}

for f in "$srcdir"/tests/golden/*.yaml; do
	name=$(basename "$f" .yaml)
	sed -e "s#@TRASH@#$TRASH#g" -e "s#@CERTS@#$CERTS#g" "$f" >"$TRASH/$name.yaml" ||
		framework_failure_ "cannot copy $f"
	(
		cd "$TRASH" || exit 1
		grep '^# run: ' "$name.yaml" | sed 's/^# run: //' | while read -r args; do
			echo "\$ dsmtp-policy $args"
			# shellcheck disable=SC2086
			"$DSMTP_POLICY" -c "$name.yaml" $args >stdout 2>stderr
			echo "exit $?"
			cat stdout
			sed 's/^/stderr: /' stderr
		done
	) | normalise >"$TRASH/$name.got"
	if [ -n "${GOLDEN_UPDATE:-}" ]; then
		cp "$TRASH/$name.got" "$srcdir/tests/golden/$name.out"
		say "updated tests/golden/$name.out"
		continue
	fi
	test_expect_success "golden $name" "
		test -f '$srcdir/tests/golden/$name.out' || { echo 'no $name.out'; exit 1; }
		diff -u '$srcdir/tests/golden/$name.out' '$TRASH/$name.got'"
done
finish
