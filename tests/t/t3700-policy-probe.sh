#!/bin/sh
# t3700-policy-probe: dsmtp-policy probe connects, STARTTLS, prints the
# offered chain and every level's verdict, sends no mail: against dsmtpd
# and a real Postfix, figures compared with openssl's.
. "${srcdir:-.}/tests/t/lib.sh"
need_ openssl
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
chmod 755 "$TRASH" "$pki"; chmod 644 "$pki"/*.pem "$pki"/*.key
spki() { echo "sha256/$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)"; }
sha256() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }

dport=$(free_port)
make_config "$TRASH/d.yaml" "$dport" "  accepted_domains: [ example.com ]
  workers: 1
certificates:
  - cert: $pki/server-chain.pem
    key: $pki/server.key"
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$dport" || framework_failure_ "dsmtpd did not start"

cat >"$TRASH/p.yaml" <<EOF
hostname: prober.example.net
state_dir: $TRASH/prober
trust:
  ca_file: $pki/ca-bundle.pem
  pins:
    mx: [ "$(spki "$pki/server.pem")" ]
send:
  routes:
    - domain: example.com
      next_hop: "[localhost]:$dport"
      tls: verify
    - domain: pinned.example
      next_hop: "[127.0.0.1]:$dport"
      tls: pinned
      pins: [ mx ]
EOF

test_expect_success "probe a domain: the chain with openssl's SHA-256 and SPKI pin, every level judged" "
	'$DSMTP_POLICY' -c '$TRASH/p.yaml' probe example.com >'$TRASH/o1' 2>'$TRASH/e1'; rc=\$?; cat '$TRASH/o1';
	test \$rc = 0 && grep -q '^starttls: offered' '$TRASH/o1' &&
	grep -q \"  sha256: \$(sha256 '$pki/server.pem')\" '$TRASH/o1' &&
	grep -q \"  spki: \$(spki '$pki/server.pem')\" '$TRASH/o1' &&
	grep -q '  san: mail.example.com example.com localhost' '$TRASH/o1' &&
	grep -q '^  verify *pass .*<- this destination' '$TRASH/o1' &&
	grep -q '^  pinned *FAIL' '$TRASH/o1' && grep -q '^  none *pass' '$TRASH/o1'"

test_expect_success "probe a pinned route: pinned passes, verify fails on the name, exit 0" "
	'$DSMTP_POLICY' -c '$TRASH/p.yaml' probe pinned.example >'$TRASH/o2' 2>/dev/null &&
	grep -q '^  pinned *pass .*<- this destination' '$TRASH/o2' &&
	grep -q '^  verify *FAIL *hostname-mismatch' '$TRASH/o2'"

test_expect_success "a probe sends no mail: dsmtpd saw no MAIL command and spooled nothing" "
	flush_plog dsmtpd && files_exist '$TRASH'/state-$dport/logs/receive/*.LOG &&
	grep -h -q ',<,STARTTLS' '$TRASH'/state-$dport/logs/receive/*.LOG &&
	! grep -h ',<,MAIL' '$TRASH'/state-$dport/logs/receive/*.LOG &&
	test -d '$TRASH/state-$dport/queue' && test -z \"\$(ls '$TRASH/state-$dport/queue' | grep '\\.e\$')\""

test_expect_success "a level that fails exits 69; nobody listening exits 75" "
	'$DSMTP_POLICY' -c '$TRASH/p.yaml' probe example.com --level pinned >/dev/null 2>&1; test \$? = 69 &&
	'$DSMTP_POLICY' -c '$TRASH/p.yaml' probe 127.0.0.1:\$(free_port) >'$TRASH/o3' 2>/dev/null; test \$? = 75 &&
	grep -q '^no answer:' '$TRASH/o3'"

if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null 2>&1; then
	. "$srcdir/tests/t/lib-postfix.sh"
	pport=$(free_port)
	test_expect_success "probe a real Postfix: its certificate's SHA-256 and SPKI pin as openssl computes them" "
		postfix_setup pf $pport &&
		postfix_conf pf 'smtpd_tls_security_level = may' 'smtpd_tls_cert_file = $pki/server-rsa.pem' \
		    'smtpd_tls_key_file = $pki/server-rsa.key' &&
		postfix_start pf && wait_port 127.0.0.1 $pport &&
		'$DSMTP_POLICY' -c '$TRASH/p.yaml' probe '[localhost]:$pport' >'$TRASH/o4' 2>/dev/null;
		cat '$TRASH/o4';
		grep -q \"  sha256: \$(sha256 '$pki/server-rsa.pem')\" '$TRASH/o4' &&
		grep -q \"  spki: \$(spki '$pki/server-rsa.pem')\" '$TRASH/o4' &&
		grep -q '^starttls: offered' '$TRASH/o4' && grep -q 'chain: .*ok' '$TRASH/o4'"
	postfix_stop pf
	finish
fi
# the probe against Postfix did not run: the test is not complete
[ "$fail" = 0 ] || finish
[ "$(id -u)" = 0 ] || skip_ "the probe against a private Postfix needs root (the rest passed)"
framework_failure_ "postfix not installed (contrib/deps installs it)"
