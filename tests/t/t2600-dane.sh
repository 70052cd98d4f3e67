#!/bin/sh
# t2600-dane: DANE (RFC 7672) against a real signed zone. Keys are made and
# dane.test is signed at test time (ldnsutils), served by a private nsd and
# validated by a private unbound, both on loopback ports (tests/t/
# lib-dnssec.sh); plain.test is served unsigned (insecure). dsmtpc points
# dns.resolver at that unbound and validates in the process with the zone's
# DS as dns.trust_anchor_file. Messages go through a dsmtpd edge's spool
# and "dsmtpc once" to dsmtpd receivers, one per case, each on its own
# port (next_hop "DOMAIN:PORT": MX of DOMAIN, TLSA at _PORT._tcp.MXHOST).
# Delivered: DANE-EE (several records, one matching), DANE-TA (chain to
# the CA, MX host named), DANE-TA 2 1 0 (the CA's whole SPKI), a wildcard
# TLSA owner (*._tcp.MXHOST), DANE-EE with an expired certificate and with a
# wrong name, a CNAME'd MX (TLSA at the target), an insecure zone at level
# dane (opportunistic). Deferred with nothing delivered: a mismatched TLSA,
# a tampered signed TLSA (bogus), a TLSA RRset whose RRSIG expired (bogus),
# STARTTLS missing at a DANE host, a name mismatch under DANE-TA, an
# insecure zone at dane-only. Then "dsmtpc send" in validate, trust-ad
# (refused: libunbound clears the AD bit) and off modes. Also: dsmtp-log
# failures names the DANE failures with RFC 8460 result types, and
# dsmtp-policy probe shows DNSSEC status and each TLSA record's match.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
need_ certtool
need_ openssl
dnssec_need

MKCERTS_SANS="mx-ta.dane.test mx-ee.dane.test mx-spki.dane.test" sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" \
    >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
cat "$pki/wrongname.pem" "$pki/ca.pem" >"$pki/wrongname-chain.pem"

# spki FILE: SHA-256 of the certificate's SubjectPublicKeyInfo; cert FILE:
# SHA-256 of the certificate (hex, TLSA matching type 1)
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
cert() { openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
EE=$(spki "$pki/server.pem")
EXP=$(spki "$pki/expired.pem")
WN=$(cert "$pki/wrongname.pem")
CA=$(cert "$pki/ca.pem")
# the CA's whole SubjectPublicKeyInfo, hex (TLSA 2 1 0: the anchor given in full)
CASPKI=$(openssl x509 -in "$pki/ca.pem" -noout -pubkey | openssl pkey -pubin -outform DER | od -An -v -tx1 | tr -d ' \n')
ZERO=0000000000000000000000000000000000000000000000000000000000000000
[ ${#EE} = 64 ] && [ ${#CA} = 64 ] && [ ${#CASPKI} -gt 128 ] || framework_failure_ "digests"

# one receiver per case: NAME CERT KEY TLS
start_receiver() {
	_port=$(free_port)
	host_config "$TRASH/$1.yaml" "$1.dane.test" "$TRASH/$1" "$_port" "$2" "$3" <<EOF
  tls: $4
  accepted_domains: [ $1.dane.test, $1.plain.test, cname.dane.test ]
  relay: { networks: [] }
  workers: 1
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
	eval "P_$1=$_port"
}
start_receiver ee "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver ta "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver bad "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver bogus "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver stale "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver strip "$pki/server-chain.pem" "$pki/server.key" none
start_receiver exp "$pki/expired.pem" "$pki/expired.key" opportunistic
start_receiver wn "$pki/wrongname-chain.pem" "$pki/wrongname.key" opportunistic
start_receiver wnta "$pki/wrongname-chain.pem" "$pki/wrongname.key" opportunistic
start_receiver plain "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver only "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver wild "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver spki "$pki/server-chain.pem" "$pki/server.key" opportunistic

# the signed zone: every MX host is 127.0.0.1, told apart by port
dnssec_keys dane.test
{
	printf '$ORIGIN dane.test.\n$TTL 60\n'
	printf '@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.dane.test.\nns A 127.0.0.1\n'
	for n in ee ta bad bogus stale strip exp wn wnta wild spki; do
		printf '%s MX 10 mx-%s.dane.test.\nmx-%s A 127.0.0.1\n' $n $n $n
	done
	printf 'cname MX 10 mx-cname.dane.test.\nmx-cname CNAME mx-ee.dane.test.\n'
	# several records, one matching (RFC 7671 5.1: any match will do)
	printf '_%s._tcp.mx-ee TLSA 3 1 1 %s\n' "$P_ee" "$ZERO"
	printf '_%s._tcp.mx-ee TLSA 1 1 1 %s\n' "$P_ee" "$EE"
	printf '_%s._tcp.mx-ee TLSA 3 1 1 %s\n' "$P_ee" "$EE"
	printf '_%s._tcp.mx-ta TLSA 2 0 1 %s\n' "$P_ta" "$CA"
	printf '_%s._tcp.mx-bad TLSA 3 1 1 %s\n' "$P_bad" "$ZERO"
	# signed with a wrong digest, then edited to the right one: only a
	# validator stands between this and a delivery
	printf '_%s._tcp.mx-bogus TLSA 3 1 1 %s\n' "$P_bogus" "$ZERO"
	printf '_%s._tcp.mx-stale TLSA 3 1 1 %s\n' "$P_stale" "$EE"
	printf '_%s._tcp.mx-strip TLSA 3 1 1 %s\n' "$P_strip" "$EE"
	printf '_%s._tcp.mx-exp TLSA 3 1 1 %s\n' "$P_exp" "$EXP"
	printf '_%s._tcp.mx-wn TLSA 3 0 1 %s\n' "$P_wn" "$WN"
	printf '_%s._tcp.mx-wnta TLSA 2 0 1 %s\n' "$P_wnta" "$CA"
	# a wildcard owner (RFC 4592 synthesis, proven by NSEC): it must
	# match like any other TLSA RRset
	printf '*._tcp.mx-wild TLSA 3 1 1 %s\n' "$EE"
	# DANE-TA with the anchor's whole SPKI (2 1 0), the CA sent in the chain
	printf '_%s._tcp.mx-spki TLSA 2 1 0 %s\n' "$P_spki" "$CASPKI"
} >"$DNSSEC/dane.test.zone"
dnssec_sign dane.test "$DNSSEC/dane.test.zone"
# the stale TLSA RRset: its RRSIG from a signing that expired in 2020
dnssec_sign dane.test "$DNSSEC/dane.test.zone" -i 20190101000000 -e 20200101000000
mv "$DNSSEC/nsd/dane.test.signed" "$DNSSEC/expired.signed"
dnssec_sign dane.test "$DNSSEC/dane.test.zone"
stale="_$P_stale._tcp.mx-stale.dane.test."
grep -v "^$stale[[:space:]].*RRSIG[[:space:]]*TLSA" "$DNSSEC/nsd/dane.test.signed" >"$DNSSEC/s1" &&
    grep "^$stale[[:space:]].*RRSIG[[:space:]]*TLSA" "$DNSSEC/expired.signed" >>"$DNSSEC/s1" &&
    sed "s/^\(_$P_bogus\._tcp\.mx-bogus\.dane\.test\..*TLSA.*3 1 1 \)$ZERO/\1$EE/" "$DNSSEC/s1" \
    >"$DNSSEC/nsd/dane.test.signed" ||
    framework_failure_ "tampering with the signed zone"
grep -q "mx-bogus.*TLSA.*$EE" "$DNSSEC/nsd/dane.test.signed" || framework_failure_ "bogus record not edited"
grep -q "^$stale.*RRSIG.*20200101000000" "$DNSSEC/nsd/dane.test.signed" || framework_failure_ "stale RRSIG not in"

# the unsigned zone
{
	printf '$ORIGIN plain.test.\n$TTL 60\n'
	printf '@ SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.plain.test.\nns A 127.0.0.1\n'
	printf 'plain MX 10 mx.plain.test.\nonly MX 10 mx.plain.test.\nmx A 127.0.0.1\n'
	printf '_%s._tcp.mx TLSA 3 1 1 %s\n' "$P_only" "$ZERO"
} >"$DNSSEC/nsd/plain.test"
dnssec_serve dane.test -- plain.test

for n in ee ta bad bogus stale strip exp wn wnta plain only wild spki; do
	eval "wait_port 127.0.0.1 \$P_$n" || { cat "$TRASH/$n.log"; framework_failure_ "dsmtpd $n did not start"; }
done

# the edge: its dsmtpc validates in the process, through the private unbound
aport=$(free_port)
{
	dnssec_edge_config "$aport"
	for n in ee ta bad bogus stale strip exp wn wnta wild spki; do
		printf '    - domain: %s.dane.test\n      next_hop: "%s.dane.test:%s"\n      tls: dane\n' \
		    $n $n "$(eval echo \$P_$n)"
	done
	printf '    - domain: cname.dane.test\n      next_hop: "cname.dane.test:%s"\n      tls: dane-only\n' "$P_ee"
	printf '    - domain: plain.plain.test\n      next_hop: "plain.plain.test:%s"\n      tls: dane\n' "$P_plain"
	printf '    - domain: only.plain.test\n      next_hop: "only.plain.test:%s"\n      tls: dane-only\n' "$P_only"
} >"$TRASH/a.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

CR=$(printf '\r')
got() { grep -l -a "^Subject: $2$CR\$" "$TRASH/$1"/queue/*.d >/dev/null 2>&1; }
none() { ! ls "$TRASH/$1"/queue/*.d >/dev/null 2>&1; }
line() { grep "to=<r@$1>" "$TRASH/once.out"; }

test_expect_success "queue one message per case, then dsmtpc once routes each" "
	python3 - $aport <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for d in ('ee', 'ta', 'bad', 'bogus', 'stale', 'strip', 'exp', 'wn', 'wnta', 'cname', 'wild', 'spki'):
    s.sendmail('s@bounce.example', ['r@%s.dane.test' % d], ('Subject: %s\r\n\r\nx\r\n' % d).encode())
for d in ('plain', 'only'):
    s.sendmail('s@bounce.example', ['r@%s.plain.test' % d], ('Subject: %s\r\n\r\nx\r\n' % d).encode())
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; cat '$TRASH/once.out'; true"

test_expect_success "no sanitizer report from dsmtpc" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH/once.out'"

test_expect_success "DANE-EE: one of three records matches: delivered" "
	got ee ee && line ee.dane.test | grep -q 'status=sent' &&
	grep -q 'Verified TLS connection established to mx-ee.dane.test' '$TRASH/once.out'"

test_expect_success "DANE-TA: chain to the CA named by TLSA, MX host named: delivered" "
	got ta ta && line ta.dane.test | grep -q 'status=sent'"

test_expect_success "a TLSA that matches nothing: deferred, nothing delivered" "
	none bad && line bad.dane.test | grep -q 'status=deferred.*tlsa-mismatch'"

test_expect_success "a tampered signed TLSA record (bogus): deferred, nothing delivered" "
	none bogus && line bogus.dane.test | grep -q 'status=deferred.*DANE: mx-bogus.dane.test: TLSA lookup'"

test_expect_success "a TLSA RRset with an expired RRSIG (bogus): deferred, nothing delivered" "
	none stale && line stale.dane.test | grep -q 'status=deferred.*DANE: mx-stale.dane.test: TLSA lookup'"

test_expect_success "STARTTLS missing at a DANE host: deferred, never plaintext" "
	none strip && line strip.dane.test | grep -q 'status=deferred.*STARTTLS not offered'"

test_expect_success "DANE-EE ignores dates: an expired certificate is delivered to" "
	got exp exp && line exp.dane.test | grep -q 'status=sent'"

test_expect_success "DANE-EE ignores names: a wrong-name certificate is delivered to" "
	got wn wn && line wn.dane.test | grep -q 'status=sent'"

test_expect_success "DANE-TA checks names: the same certificate is refused there" "
	none wnta && line wnta.dane.test | grep -q 'status=deferred.*dane-ta-name'"

test_expect_success "a CNAME'd MX host: TLSA at the CNAME target (RFC 7672 2.2.2), dane-only" "
	got ee cname && line cname.dane.test | grep -q 'status=sent'"

test_expect_success "a wildcard TLSA owner (*._tcp.MXHOST): matched like any other, delivered" "
	got wild wild && line wild.dane.test | grep -q 'status=sent' &&
	grep -q 'tlsa=_${P_wild}._tcp.mx-wild.dane.test; record=3 1 1 .*; usage=DANE-EE; matched the certificate' '$TRASH/a/logs/send'/*"

test_expect_success "DANE-TA 2 1 0 (the CA's full SPKI), CA sent in the chain: delivered" "
	got spki spki && line spki.dane.test | grep -q 'status=sent' &&
	grep -q 'tlsa=_${P_spki}._tcp.mx-spki.dane.test; record=2 1 0 .*; usage=DANE-TA; matched the chain' '$TRASH/a/logs/send'/*"

test_expect_success "an insecure zone at level dane: opportunistic, delivered" "
	got plain plain && line plain.plain.test | grep -q 'status=sent'"

test_expect_success "an insecure zone at level dane-only: deferred, nothing delivered" "
	none only && line only.plain.test | grep -q 'status=deferred.*no secure TLSA'"

test_expect_success "the protocol log names each TLSA record and which matched" "
	cat '$TRASH/a/logs/send'/* >'$TRASH/log.out' &&
	grep -q 'tlsa=_${P_ee}._tcp.mx-ee.dane.test; record=3 1 1 $(echo "$EE" | cut -c1-16)\\.\\.\\..*; usage=DANE-EE; matched the certificate' '$TRASH/log.out' &&
	grep -q 'tlsa=_${P_ee}._tcp.mx-ee.dane.test; record=3 1 1 0000000000000000.*; usage=DANE-EE; no match' '$TRASH/log.out' &&
	grep -q 'tlsa=_${P_ee}._tcp.mx-ee.dane.test; record=1 1 1 .*; usage=PKIX-EE; unusable' '$TRASH/log.out' &&
	grep -q 'tlsa=_${P_ta}._tcp.mx-ta.dane.test; record=2 0 1 .*; usage=DANE-TA; matched the chain' '$TRASH/log.out' &&
	grep -q 'reason=dane: DANE-TA record 1 matched at depth 1, name mx-ta.dane.test' '$TRASH/log.out'"

# RFC 8460 4.3 result types: tlsa-invalid (no record matched), dnssec-invalid
# (bogus TLSA: the MX host is not connected to, yet its session is on
# record), certificate-host-mismatch (DANE-TA name), starttls-not-supported,
# dane-required (dane-only, insecure zone); delivered sessions are no cause
test_expect_success "dsmtp-log failures groups the DANE failures under RFC 8460 names" "
	'$DSMTP_LOG' failures '$TRASH/a/logs/send' >'$TRASH/fail.out' 2>&1; cat '$TRASH/fail.out';
	grep -q '^1 tlsa-invalid: policy dane: tlsa-mismatch: ' '$TRASH/fail.out' &&
	grep -q '^2 dnssec-invalid: policy dane: dnssec-invalid: TLSA lookup failed or bogus' '$TRASH/fail.out' &&
	grep -q '^1 certificate-host-mismatch: policy dane: dane-ta-name: ' '$TRASH/fail.out' &&
	grep -q '^1 starttls-not-supported: policy dane: no-tls: STARTTLS not offered' '$TRASH/fail.out' &&
	grep -q '^1 dane-required: policy dane-only: dane-insecure: ' '$TRASH/fail.out' &&
	test \$(wc -l <'$TRASH/fail.out') = 5 &&
	'$DSMTP_LOG' failures --json '$TRASH/a/logs/send' >'$TRASH/fail.json' &&
	grep -q '\"count\":2,\"cause\":\"dnssec-invalid: .*\"result_type\":\"dnssec-invalid\"' '$TRASH/fail.json' &&
	grep -q 'TLS result' '$TRASH/a/logs/send'/* &&
	grep 'TLS result' '$TRASH/a/logs/send'/* | grep 'result-type=dnssec-invalid; policy-type=tlsa; policy-domain=bogus.dane.test; ' |
	    grep -q 'receiving-mx-hostname=mx-bogus.dane.test; receiving-mx-helo=-; receiving-ip=127.0.0.1; '"

# dsmtp-policy probe: DNSSEC of MX, address and TLSA records, each TLSA
# record's match, and the dane levels judged by them
probe() { "$DSMTP_POLICY" -c "$TRASH/a.yaml" probe "$1" >"$TRASH/probe-$1.out" 2>&1; }
test_expect_success "probe: DNSSEC status of MX and TLSA, each record's match, dane passes" "
	probe ee.dane.test; cat '$TRASH/probe-ee.dane.test.out';
	grep -q '^dnssec: MX secure; address records of mx-ee.dane.test secure\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^tlsa: _${P_ee}._tcp.mx-ee.dane.test: secure\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^dane: secure TLSA records\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^  record [1-3]: 3 1 1 $(echo "$EE" | cut -c1-16)\.\.\..*  DANE-EE, matched the certificate\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^  record [1-3]: 3 1 1 0000000000000000.*  DANE-EE, no match\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^  record [1-3]: 1 1 1 .*  PKIX-EE, unusable\$' '$TRASH/probe-ee.dane.test.out' &&
	grep -q '^  dane  *pass  dane: DANE-EE record [1-3] matched.*<- this destination' '$TRASH/probe-ee.dane.test.out' &&
	probe ta.dane.test &&
	grep -q '^  record 1: 2 0 1 .*  DANE-TA, matched the chain\$' '$TRASH/probe-ta.dane.test.out' &&
	grep -q '^  dane-only  *pass  dane: DANE-TA record 1 matched at depth 1, name mx-ta.dane.test' '$TRASH/probe-ta.dane.test.out'"

test_expect_success "probe: a mismatched TLSA fails dane; a bogus TLSA RRset is shown as bogus" "
	! probe bad.dane.test; cat '$TRASH/probe-bad.dane.test.out';
	grep -q '^  record 1: 3 1 1 0000000000000000.*  DANE-EE, no match\$' '$TRASH/probe-bad.dane.test.out' &&
	grep -q '^  dane  *FAIL  tlsa-mismatch: ' '$TRASH/probe-bad.dane.test.out' &&
	! probe bogus.dane.test; cat '$TRASH/probe-bogus.dane.test.out';
	grep -q '^tlsa: _${P_bogus}._tcp.mx-bogus.dane.test: bogus\$' '$TRASH/probe-bogus.dane.test.out' &&
	grep -q '^dane: TLSA lookup failed or bogus: TLSA lookup at .* is DNSSEC bogus' '$TRASH/probe-bogus.dane.test.out' &&
	grep -q '^  dane  *FAIL  dnssec-invalid: ' '$TRASH/probe-bogus.dane.test.out'"

test_expect_success "probe: an insecure zone: MX insecure, TLSA not looked up, dane-only fails" "
	! probe only.plain.test; cat '$TRASH/probe-only.plain.test.out';
	grep -q '^dnssec: MX insecure; address records of mx.plain.test insecure\$' '$TRASH/probe-only.plain.test.out' &&
	grep -q '^tlsa: _${P_only}._tcp.mx.plain.test: not looked up (MX or address records not secure)\$' '$TRASH/probe-only.plain.test.out' &&
	grep -q '^  dane-only  *FAIL  dane-insecure: ' '$TRASH/probe-only.plain.test.out' &&
	grep -q '^  dane  *pass ' '$TRASH/probe-only.plain.test.out'"

test_expect_success "explain: the DANE outcome per MX host is left to delivery and probe" "
	'$DSMTP_POLICY' -c '$TRASH/a.yaml' explain ee.dane.test >'$TRASH/explain.out' 2>&1; cat '$TRASH/explain.out';
	grep -q '^dane: per MX host at delivery' '$TRASH/explain.out'"

test_expect_success "no sanitizer report from dsmtp-log and dsmtp-policy" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH'/probe-*.out '$TRASH/fail.out' '$TRASH/explain.out'"

# dsmtpc send: the next hop's own TLSA ([host]:port), in each dns.dnssec mode
mode_config() {
	sed -e "s/dnssec: validate/dnssec: $2/" "$TRASH/a.yaml" >"$TRASH/$1.yaml"
}
mode_config ad trust-ad
mode_config off off
send() {
	printf 'Subject: %s\r\n\r\nx\r\n' "$3" | "$DSMTPC" -c "$TRASH/$1.yaml" send \
	    --server "mx-ee.dane.test:$P_ee" --from s@bounce.example --to r@ee.dane.test --tls "$2"
}
test_expect_success "validate: dsmtpc send to the next hop's own TLSA ([host]:port)" "
	send a dane-only send-mode >'$TRASH/send.out' 2>&1; cat '$TRASH/send.out';
	grep -q 'DANE: 3 TLSA record(s), 2 usable, one matched' '$TRASH/send.out' &&
	grep -q 'policy: level dane-only, pass: dane: DANE-EE record [1-3] matched' '$TRASH/send.out' &&
	got ee send-mode"

# libunbound clears the resolver's AD bit: trust-ad cannot work, and says so
test_expect_success "trust-ad is refused with the reason, nothing sent" "
	! send ad dane ad-mode >'$TRASH/ad.out' 2>&1 && cat '$TRASH/ad.out' &&
	grep -q 'trust-ad: libunbound does not pass on the resolver.s AD bit' '$TRASH/ad.out' &&
	! got ee ad-mode"

test_expect_success "dnssec off: nothing is secure: dane-only defers, dane is opportunistic" "
	send off dane-only off-only >'$TRASH/off1.out' 2>&1; cat '$TRASH/off1.out';
	grep -q 'deferred (DANE: mx-ee.dane.test has no secure TLSA records' '$TRASH/off1.out' &&
	! got ee off-only &&
	send off dane off-dane >'$TRASH/off2.out' 2>&1; cat '$TRASH/off2.out';
	! grep -q '^DANE:' '$TRASH/off2.out' && got ee off-dane"
finish
