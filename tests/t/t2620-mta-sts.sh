#!/bin/sh
# t2620-mta-sts: MTA-STS (RFC 8461) with real servers, hermetic. sts.test is
# signed at test time and served by a private nsd behind a private
# validating unbound (tests/t/lib-dnssec.sh): each case is a domain
# NAME.sts.test with its MX (mx-NAME, 127.0.0.1), _mta-sts TXT record and
# mta-sts host. The policies come from a real HTTPS server (Python ssl,
# tests/t/stshttps.py) on a loopback port (mta_sts.port) with a certificate
# from the test CA that dsmtpc trusts; dsmtpd receivers are the MX hosts:
# one with a certificate naming every mx-NAME, one for another name.
# Mail goes through a dsmtpd edge's spool and "dsmtpc once".
#   enforce, MX named, good certificate      delivered, verified
#   enforce, MX not named                    deferred, nothing delivered
#   enforce, certificate for another name    deferred, nothing delivered
#   testing, certificate for another name    delivered, certificate-host-mismatch recorded
#   testing, MX not named                    delivered, failure recorded
#   redirect, 404, text/html, 70 KB body     no policy: delivered, sts-policy-fetch-error
#   endless header lines, garbage bytes      cut off (libcurl's limits, not the timeout):
#                                            no policy, delivered, sts-policy-fetch-error
#   policy syntax error                      no policy: delivered, sts-policy-invalid
#   policy host certificate for another name no policy: delivered, sts-webpki-invalid
#   two STS TXT records, no TXT record       no policy, nothing recorded
#   a secure usable TLSA RRset               DANE wins over an enforce policy that
#                                            does not name the MX host
#   cached policy (earlier run), same id     used without a fetch (the server says 404)
#   cached policy, the TXT id changed        fetched again, the new policy applies
#   cached policy, id changed, host down     the cached policy is still enforced
#   max_age expired                          fetched again, the new policy applies
#   a policy host too slow (DSMTPC_TIMEOUT)  cut off: delivered, sts-policy-fetch-error
# Then dsmtp-policy probe and explain.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
need_ certtool
need_ openssl
dnssec_need

CASES="good nomatch wn testing testmx redirect notfound ctype big hdrs junk syntax webpki multi notxt dane keep idc down exp slow"
FIRST=$(echo "$CASES" | sed 's/ slow$//')	# slow goes alone, later
sans=""
for n in $CASES; do sans="$sans mx-$n.sts.test mta-sts.$n.sts.test"; done
MKCERTS_SANS="$sans" sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 ||
    framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
cat "$pki/wrongname.pem" "$pki/ca.pem" >"$pki/wrongname-chain.pem"
EE=$(openssl x509 -in "$pki/server.pem" -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha256 -r | cut -d' ' -f1)
[ ${#EE} = 64 ] || framework_failure_ "digest"

# the MX hosts: one dsmtpd with a certificate naming every mx-NAME, one
# with a certificate for other.example.net only
accepted=""
for n in $CASES; do accepted="$accepted${accepted:+, }$n.sts.test"; done
start_receiver() {
	_port=$(free_port)
	host_config "$TRASH/$1.yaml" "mx-$1.sts.test" "$TRASH/$1" "$_port" "$2" "$3" <<EOF
  tls: opportunistic
  accepted_domains: [ $accepted ]
  relay: { networks: [] }
  workers: 1
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
	eval "P_$1=$_port"
}
start_receiver rgood "$pki/server-chain.pem" "$pki/server.key"
start_receiver rwn "$pki/wrongname-chain.pem" "$pki/wrongname.key"
port_of() { case $1 in wn|testing) echo "$P_rwn" ;; *) echo "$P_rgood" ;; esac; }

# the policies, served from $TRASH/www/DOMAIN/
www="$TRASH/www"
policy() {	# NAME MODE MX MAX_AGE
	mkdir -p "$www/$1.sts.test"
	printf 'version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %s\r\n' "$2" "$3" "$4" \
	    >"$www/$1.sts.test/body"
}
policy good enforce mx-good.sts.test 86400
policy nomatch enforce mx-other.sts.test 86400
policy wn enforce mx-wn.sts.test 86400
policy testing testing mx-testing.sts.test 86400
policy testmx testing '*.example.net' 86400
# unknown keys are ignored, LF line ends are fine, "*." is one label
printf 'version: STSv1\nflavour: vanilla\nmode: enforce\nmx: *.sts.test\nmax_age: 86400\n' \
    >"$www/good.sts.test/body"
policy redirect enforce mx-redirect.sts.test 86400
echo 301 >"$www/redirect.sts.test/status"
echo "https://mta-sts.redirect.sts.test/elsewhere" >"$www/redirect.sts.test/location"
# notfound: no directory, a 404
policy ctype enforce mx-other.sts.test 86400
echo text/html >"$www/ctype.sts.test/ctype"
mkdir -p "$www/big.sts.test"
{ printf 'version: STSv1\nmode: enforce\nmx: mx-other.sts.test\nmax_age: 86400\n'
  python3 -c 'print("x: " + "y" * 70000)'; } >"$www/big.sts.test/body"
# a policy host that sends header lines without end, or garbage
for n in hdrs junk; do policy $n enforce mx-other.sts.test 86400; done
echo headers >"$www/hdrs.sts.test/misbehave"
echo garbage >"$www/junk.sts.test/misbehave"
mkdir -p "$www/syntax.sts.test"
printf 'version: STSv1\nmode: enforcing\nmx: mx-other.sts.test\nmax_age: 86400\n' \
    >"$www/syntax.sts.test/body"
policy webpki enforce mx-other.sts.test 86400
policy multi enforce mx-other.sts.test 86400
policy notxt enforce mx-other.sts.test 86400
policy dane enforce mx-other.sts.test 86400
# keep: the cache (below) has it; the server answers 404
policy idc enforce mx-idc.sts.test 86400
policy exp enforce mx-exp.sts.test 3
# slow: the policy host answers after 20 s; the fetch gives up first
policy slow enforce mx-other.sts.test 86400
echo 20 >"$www/slow.sts.test/delay"
HPORT=$(free_port)
start_bg https python3 "$srcdir/tests/t/stshttps.py" "$HPORT" "$www" "$pki/server-chain.pem" \
    "$pki/server.key" mta-sts.webpki.sts.test "$pki/wrongname-chain.pem" "$pki/wrongname.key"

# the signed zone
dnssec_keys sts.test
{
	printf '$ORIGIN sts.test.\n$TTL 60\n'
	printf '@ SOA ns.sts.test. hostmaster.sts.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.sts.test.\nns A 127.0.0.1\n'
	for n in $CASES; do
		printf '%s MX 10 mx-%s.sts.test.\nmx-%s A 127.0.0.1\n' $n $n $n
		[ $n = notxt ] || printf '_mta-sts.%s TXT "v=STSv1; id=%s1"\n' $n $n
		[ $n = down ] || printf 'mta-sts.%s A 127.0.0.1\n' $n
	done
	# down: the policy host does not answer
	printf 'mta-sts.down A 127.0.0.2\n'
	# RFC 8461 3.1: two STS records are no policy at all
	printf '_mta-sts.multi TXT "v=STSv1; id=other2"\n'
	# a TXT record of something else beside the STS one is fine
	printf '_mta-sts.good TXT "v=spf1 -all"\n'
	printf '_%s._tcp.mx-dane TLSA 3 1 1 %s\n' "$P_rgood" "$EE"
} >"$DNSSEC/sts.test.zone"
dnssec_sign sts.test "$DNSSEC/sts.test.zone"
dnssec_serve sts.test
wait_port 127.0.0.1 "$HPORT" || { cat "$TRASH/https.log"; framework_failure_ "https server"; }
wait_port 127.0.0.1 "$P_rgood" && wait_port 127.0.0.1 "$P_rwn" || framework_failure_ "receivers"

# the edge
aport=$(free_port)
{
	dnssec_edge_config "$aport" sts
	for n in $CASES; do
		printf '    - domain: %s.sts.test\n      next_hop: "%s.sts.test:%s"\n' $n $n "$(port_of $n)"
		[ $n = dane ] && printf '      tls: dane\n'
	done
} >"$TRASH/a.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

# the cache an earlier run left: keep (same id as the TXT record), idc and
# down (an older id; the policies would not allow their MX hosts)
mkdir -p "$TRASH/a/sts"
now=$(date +%s)
cache() {	# NAME ID MX
	printf 'dsmtp-sts-cache 1\ndomain: %s.sts.test\nid: %s\nfetched: %s\n\n' $1 $2 "$now"
	printf 'version: STSv1\nmode: enforce\nmx: %s\nmax_age: 86400\n' $3
} 
cache keep keep1 mx-keep.sts.test >"$TRASH/a/sts/keep.sts.test"
cache idc old1 mx-other.sts.test >"$TRASH/a/sts/idc.sts.test"
cache down old1 mx-other.sts.test >"$TRASH/a/sts/down.sts.test"

CR=$(printf '\r')
got() { grep -l -a "^Subject: $2$CR\$" "$TRASH/$1"/queue/*.d >/dev/null 2>&1; }
line() { grep "to=<r@$1.sts.test>" "$TRASH/$2"; }
plog() { cat "$TRASH/a/logs/send"/*; }
failure() {	# NAME TYPE
	plog | grep 'TLS result' | grep -q "result-type=$2; policy-type=sts; policy-domain=$1.sts.test;"
}
queue() {	# SUBJECT-SUFFIX NAME...
	_sfx=$1; shift
	python3 - "$aport" "$_sfx" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for d in sys.argv[3:]:
    s.sendmail('s@bounce.example', ['r@%s.sts.test' % d],
               ('Subject: %s%s\r\n\r\nx\r\n' % (d, sys.argv[2])).encode())
s.quit()
PY
}

test_expect_success "queue one message per case, then dsmtpc once" "
	queue '' \$FIRST &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; cat '$TRASH/once.out'; true"

test_expect_success "no sanitizer report from dsmtpc" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH/once.out'"

test_expect_success "enforce, MX named (*.sts.test), good certificate: delivered over verified TLS" "
	got rgood good && line good once.out | grep -q 'status=sent' &&
	plog | grep -q 'policy-domain=good.sts.test; id=good1; mode=enforce; max_age=86400; mx-allowed=yes,MTA-STS' &&
	plog | grep -q 'ok: sts enforce: verified chain and MX host name mx-good.sts.test' &&
	grep -q 'Verified TLS connection established to mx-good.sts.test' '$TRASH/once.out' &&
	plog | grep 'TLS result' | grep -q 'result-type=success; policy-type=sts; policy-domain=good.sts.test; policy-string=version:%20STSv1|mode:%20enforce|' &&
	! plog | grep 'TLS result' | grep 'policy-domain=good.sts.test' | grep -qv 'result-type=success'"

test_expect_success "the fetched policy is cached on disk with its id" "
	grep -q '^id: good1\$' '$TRASH/a/sts/good.sts.test' &&
	grep -q '^mx: \*.sts.test\$' '$TRASH/a/sts/good.sts.test' &&
	! ls '$TRASH/a/sts/' | grep -q tmp"

test_expect_success "enforce, MX not named: deferred, nothing delivered, logged" "
	! got rgood nomatch && line nomatch once.out | grep -q 'status=deferred.*MTA-STS: MX host mx-nomatch.sts.test is not allowed by the policy of nomatch.sts.test (mode enforce' &&
	failure nomatch validation-failure"

test_expect_success "enforce, certificate for another name: deferred (sts:), nothing delivered" "
	! got rwn wn && line wn once.out | grep -q 'status=deferred (TLS policy failure with mx-wn.sts.test.*sts: MTA-STS policy of wn.sts.test (mode enforce): hostname-mismatch' &&
	failure wn certificate-host-mismatch"

test_expect_success "testing, certificate for another name: delivered, the failure recorded" "
	got rwn testing && line testing once.out | grep -q 'status=sent' &&
	failure testing certificate-host-mismatch"

test_expect_success "testing, MX not named: delivered, the failure recorded" "
	got rgood testmx && line testmx once.out | grep -q 'status=sent' &&
	failure testmx validation-failure"

test_expect_success "redirect, 404, text/html, 70 KB: no policy, delivered, sts-policy-fetch-error" "
	for n in redirect notfound ctype big; do
		got rgood \$n && line \$n once.out | grep -q 'status=sent' &&
		failure \$n sts-policy-fetch-error || { echo \"case \$n\"; exit 1; }
	done &&
	grep -q 'redirect.sts.test.*HTTP 301: redirects are refused' '$TRASH/once.out' &&
	grep -q 'ctype.sts.test.*Content-Type text/html, not text/plain' '$TRASH/once.out' &&
	grep -q 'big.sts.test.*body larger than 65536 bytes' '$TRASH/once.out' &&
	! grep -q elsewhere '$TRASH/https.log'"

test_expect_success "endless headers, garbage: cut off by libcurl's limits, no policy, delivered, sts-policy-fetch-error" "
	for n in hdrs junk; do
		got rgood \$n && line \$n once.out | grep -q 'status=sent' &&
		failure \$n sts-policy-fetch-error || { echo \"case \$n\"; exit 1; }
	done &&
	grep -q 'mta-sts.hdrs.sts.test /.well-known/mta-sts.txt headers' '$TRASH/https.log' &&
	grep -q 'mta-sts.junk.sts.test /.well-known/mta-sts.txt garbage' '$TRASH/https.log' &&
	for n in hdrs junk; do
		grep -q \"MTA-STS \$n.sts.test: none (fetch failed)\" '$TRASH/once.out' &&
		! grep \"MTA-STS \$n.sts.test\" '$TRASH/once.out' | grep -q 'timed out' || exit 1
	done"

test_expect_success "a policy with a syntax error: no policy, delivered, sts-policy-invalid" "
	got rgood syntax && line syntax once.out | grep -q 'status=sent' &&
	failure syntax sts-policy-invalid"

test_expect_success "a policy host with a certificate for another name: sts-webpki-invalid" "
	got rgood webpki && line webpki once.out | grep -q 'status=sent' &&
	failure webpki sts-webpki-invalid"

test_expect_success "two STS TXT records, or none: no policy, nothing fetched, nothing recorded" "
	got rgood multi && got rgood notxt &&
	! grep -q 'mta-sts.multi\|mta-sts.notxt' '$TRASH/https.log' &&
	! plog | grep 'policy-domain=multi.sts.test\|policy-domain=notxt.sts.test' |
	    grep -qv 'policy-type=no-policy-found;.*,TLS result'"

test_expect_success "a secure usable TLSA RRset wins over the STS policy" "
	got rgood dane && line dane once.out | grep -q 'status=sent' &&
	plog | grep -q 'mx-allowed=no; dane-usable: DANE applies instead'"

test_expect_success "a cached policy with the TXT record's id: used, no fetch" "
	got rgood keep && ! grep -q 'mta-sts.keep' '$TRASH/https.log' &&
	plog | grep -q 'policy-domain=keep.sts.test; id=keep1; mode=enforce'"

test_expect_success "a cached policy whose id changed: fetched again, the new one applies" "
	got rgood idc && grep -q 'mta-sts.idc' '$TRASH/https.log' &&
	grep -q '^id: idc1\$' '$TRASH/a/sts/idc.sts.test'"

test_expect_success "policy host down, a cached policy: still enforced (deferred)" "
	! got rgood down && line down once.out | grep -q 'status=deferred.*MTA-STS: MX host mx-down.sts.test is not allowed' &&
	grep -q '^id: old1\$' '$TRASH/a/sts/down.sts.test'"

test_expect_success "max_age 3 s: within it the policy holds; past it the new one is fetched" "
	got rgood exp &&
	policy exp enforce mx-other.sts.test 3 &&
	sleep 4 && queue -2 exp &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once2.out' 2>&1; cat '$TRASH/once2.out';
	! got rgood exp-2 && line exp once2.out | grep -q 'status=deferred.*MTA-STS: MX host mx-exp.sts.test is not allowed' &&
	test \$(grep -c 'mta-sts.exp' '$TRASH/https.log') = 2"

test_expect_success "a policy host that answers too slowly: cut off, delivered, sts-policy-fetch-error" "
	queue '' slow &&
	DSMTPC_TIMEOUT=2 '$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once3.out' 2>&1; cat '$TRASH/once3.out';
	got rgood slow && line slow once3.out | grep -q 'status=sent' &&
	grep -q 'slow.sts.test.*imed out' '$TRASH/once3.out' && failure slow sts-policy-fetch-error"

test_expect_success "probe: the TXT record, the policy, its cache state and the MX hosts it allows" "
	'$DSMTP_POLICY' -c '$TRASH/a.yaml' probe nomatch.sts.test >'$TRASH/probe.out' 2>&1; cat '$TRASH/probe.out';
	grep -q '^mta-sts: TXT _mta-sts.nomatch.sts.test: v=STSv1; id=nomatch1\$' '$TRASH/probe.out' &&
	grep -q '^mta-sts: policy id nomatch1, mode enforce, max_age 86400, cached' '$TRASH/probe.out' &&
	grep -q '^mta-sts: mx-nomatch.sts.test: not allowed' '$TRASH/probe.out'"

test_expect_success "explain: which policy decides the destination" "
	'$DSMTP_POLICY' -c '$TRASH/a.yaml' explain good.sts.test >'$TRASH/explain.out' 2>&1; cat '$TRASH/explain.out';
	grep -q '^decided by: MTA-STS' '$TRASH/explain.out' &&
	'$DSMTP_POLICY' -c '$TRASH/a.yaml' explain bounce.example >'$TRASH/explain2.out' 2>&1; cat '$TRASH/explain2.out';
	grep -q '^decided by: admin route' '$TRASH/explain2.out'"

test_expect_success "dsmtp-log tlsrpt: the STS policy in the RFC 8460 report (policy-type sts, its lines, mx-host; a fetch error under sts)" "
	'$DSMTP_LOG' tlsrpt --date \$(date -u +%F) '$TRASH/a/logs' >'$TRASH/rpt.jsonl' &&
	python3 - '$TRASH/rpt.jsonl' <<'PY'
import json, sys
reps = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    reps[r['policies'][0]['policy']['policy-domain']] = r
good = reps['good.sts.test']['policies']
assert len(good) == 1, good
p = good[0]['policy']
assert p['policy-type'] == 'sts', p
assert 'mode: enforce' in p['policy-string'] and 'version: STSv1' in p['policy-string'], p
assert p['mx-host'] == ['*.sts.test'], p
assert good[0]['summary']['total-successful-session-count'] >= 1, good
assert good[0]['summary']['total-failure-session-count'] == 0, good
nf = reps['notfound.sts.test']['policies']
assert [q['policy']['policy-type'] for q in nf] == ['sts'], nf
fd = nf[0]['failure-details']
assert [f['result-type'] for f in fd] == ['sts-policy-fetch-error'], fd
PY
"

test_expect_success "no sanitizer report" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH'/once*.out '$TRASH'/probe.out '$TRASH'/explain*.out"
finish
