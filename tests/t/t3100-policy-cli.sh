#!/bin/sh
# t3100-policy-cli: dsmtp-policy's command line: usage and exit codes, check
# on a bad file, check without any certificate, check against the store that
# dsmtp-cert fills, and the pairing of pins between a hub and an edge.
. "${srcdir:-.}/tests/t/lib.sh"

test -x "$DSMTP_POLICY" || framework_failure_ "no $DSMTP_POLICY"
# the default state_dir is under $HOME: keep it in the trash
HOME=$TRASH/home XDG_STATE_HOME=$TRASH/xdg
export HOME XDG_STATE_HOME

test_expect_success "--help lists check, probe and explain" "
	'$DSMTP_POLICY' --help >out &&
	grep -q '^  check ' out && grep -q '^  explain ' out &&
	grep -q '^  probe ' out && ! grep -q 'not built yet' out"

test_expect_success "probe without a destination is a usage error (64)" "
	'$DSMTP_POLICY' probe 2>err; test \$? = 64 && grep -q 'Usage: dsmtp-policy' err"

test_expect_success "explain without a domain is a usage error (64)" "
	'$DSMTP_POLICY' explain 2>err; test \$? = 64 && grep -q 'explain DOMAIN' err"

test_expect_success "explain --help is not an error" "
	'$DSMTP_POLICY' explain --help >out && grep -q 'explain DOMAIN' out"

test_expect_success "explain of something that is not a domain name: 65 and why" "
	'$DSMTP_POLICY' explain 'bad!domain' 2>err; test \$? = 65 &&
	grep -q 'not allowed in a domain name' err"

test_expect_success "explain takes a U-label and names its A-label (issue 14: IDN)" "
	'$DSMTP_POLICY' explain \"\$(printf 'b\\303\\274cher.example')\" >out 2>err &&
	grep -qx 'domain: xn--bcher-kva.example' out"

test_expect_success "check on a bad file: 78 and FILE:LINE:COLUMN" "
	printf 'send:\n  tls: secure\n' >bad.yaml &&
	'$DSMTP_POLICY' -c bad.yaml check >out 2>err; test \$? = 78 &&
	grep -q '^bad.yaml:2:8: send.tls: ' err"

test_expect_success "check with an unknown pin name is refused (78)" "
	printf 'receive:\n  relay:\n    pins: [ nosuch ]\n' >pin.yaml &&
	'$DSMTP_POLICY' -c pin.yaml check 2>err; test \$? = 78 &&
	grep -q 'unknown pin name \"nosuch\"' err"

make_config "$TRASH/ds.yaml" 2525 "domain_secure:
  receive: [ contoso.com ]
  local: [ example.com, example.net ]"

test_expect_success "domain security without any certificate: error, never a pass" "
	'$DSMTP_POLICY' -c '$TRASH/ds.yaml' check >out; rc=\$?; cat out; test \$rc = 78 &&
	grep -q '^error: certificate: none usable (.*); certificate coverage: not checked' out &&
	! grep -q '^ok: coverage' out"

make_config "$TRASH/plain.yaml" 2526 ""
test_expect_success "no domain security and no certificate: a warning only (exit 0)" "
	'$DSMTP_POLICY' -c '$TRASH/plain.yaml' check >out; rc=\$?; cat out; test \$rc = 0 &&
	grep -q '^warning: certificate: none usable' out && grep -q '^check: 0 errors, ' out"

if "$DSMTP_CERT" -c "$TRASH/ds.yaml" new --san example.com,test.example.org >new.out 2>&1; then
	test_expect_success "the store's enabled certificate is judged: example.net not covered" "
		'$DSMTP_POLICY' -c '$TRASH/ds.yaml' check >out; rc=\$?; cat out; test \$rc = 78 &&
		grep -q '^ok: coverage: covered: example.com (by example.com)' out &&
		grep -q '^error: coverage: not covered: example.net' out &&
		grep -q '^note: coverage: the certificate.s names (match exact): example.com,test.example.org' out &&
		grep -q '^certificate pins: sha256/' out"
	test_expect_success "a newer certificate naming both (and the host): exit 0" "
		sleep 1 &&
		'$DSMTP_CERT' -c '$TRASH/ds.yaml' new --san example.com,example.net,test.example.org \
		    >new2 2>&1 &&
		tp=\$(grep -o '[0-9a-f]\{40\}' new2 | head -1) && test -n \"\$tp\" &&
		'$DSMTP_CERT' -c '$TRASH/ds.yaml' enable \$tp >/dev/null 2>&1 &&
		'$DSMTP_POLICY' -c '$TRASH/ds.yaml' check >out; rc=\$?; cat out; test \$rc = 0 &&
		grep -q '^ok: coverage: covered: example.net (by example.net)' out"
else
	test_expect_success "dsmtp-cert new makes a certificate for the store tests" "cat new.out; false"
fi

# hub/edge pairing (man dsmtp-policy, PAIRING): the hub's pin, as printed by
# dsmtp-cert pin, goes into the edge's trust.pins, and the other way round
mkpair() {
	certtool --generate-privkey --key-type ecdsa --outfile "$TRASH/$1.key" >/dev/null 2>&1 &&
	printf 'cn = "%s"\ndns_name = "%s"\nexpiration_days = 365\ntls_www_server\ntls_www_client\nsigning_key\n' \
	    "$1.example.com" "$1.example.com" >"$TRASH/$1.tmpl" &&
	certtool --generate-self-signed --load-privkey "$TRASH/$1.key" --template "$TRASH/$1.tmpl" \
	    --outfile "$TRASH/$1.pem" >/dev/null 2>&1
}
if command -v certtool >/dev/null 2>&1 && mkpair hub && mkpair edge &&
    "$DSMTP_CERT" pin "$TRASH/hub.pem" >hubpin.out 2>&1 &&
    hubpin=$(grep -o 'sha256/[A-Za-z0-9+/]\{43\}=' hubpin.out | head -1) && test -n "$hubpin"; then
	cat >"$TRASH/edge.yaml" <<EOF2
hostname: edge.example.com
state_dir: $TRASH/edge-state
certificates: [ { cert: "$TRASH/edge.pem", key: "$TRASH/edge.key" } ]
trust:
  pins:
    hub: [ "$hubpin" ]
receive:
  accepted_domains: [ example.com ]
  relay:
    networks: [ 127.0.0.0/8 ]
    pins: [ hub ]
send:
  routes:
    - domain: example.com
      next_hop: "[hub.example.com]:2525"
      tls: pinned
      pins: [ hub ]
EOF2
	test_expect_success "edge with the hub's pin: check passes, explain shows the pin" "
		'$DSMTP_POLICY' -c '$TRASH/edge.yaml' check >out; rc=\$?; cat out; test \$rc = 0 &&
		grep -q '^ok: trust.pins.hub: 1 pin, in use' out &&
		'$DSMTP_POLICY' -c '$TRASH/edge.yaml' explain example.com >ex &&
		grep -qF '  hub: $hubpin' ex && grep -q '^level: pinned (route)' ex"
else
	test_expect_success "certtool and dsmtp-cert pin make the hub and edge pair" "cat hubpin.out; false"
fi
finish
