#!/bin/sh
# t2630-tlsrpt: SMTP TLS reporting (RFC 8460) end to end, with real peers.
# A signed zone rpt.test (nsd + validating unbound, tests/t/lib-dnssec.sh)
# gives ok.rpt.test a matching TLSA record and bad.rpt.test one that matches
# nothing, and publishes their _smtp._tls TXT records; the unsigned zone
# plain.test has none.plain.test (no policy, STARTTLS) and strip.plain.test
# (no policy, no STARTTLS). dsmtpd receivers stand behind each. An edge
# (dsmtpd + dsmtpc) delivers in two rounds; then:
#  - dsmtp-log tlsrpt prints one RFC 8460 report per domain, parsed by
#    python3 json and checked field by field, with the counts of the
#    sessions this test made (ok: 2 successes under tlsa; bad: 2 tlsa-invalid
#    failures; none: 1 success, strip: 1 starttls-not-supported, both
#    no-policy-found), and --domain selects one;
#  - dsmtpc run (the day's end faked with the test-only clock) runs
#    tlsrpt-send: the mailto: rua gets a multipart/report message through a
#    real dsmtpd, whose tlsrpt+gzip part decodes to that same JSON, and the
#    https: rua (python3 http.server with TLS, certificate from the test
#    CA, name resolved through the signed zone) gets a POST of the gzip;
#  - tlsrpt-send run again sends nothing twice (no new message, no POST).
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
need_ certtool
need_ openssl
need_ python3
dnssec_need

MKCERTS_SANS="mx-ok.rpt.test mx-bad.rpt.test report.rpt.test" sh "$srcdir/tests/certs/mkcerts.sh" \
    "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
EE=$(spki "$pki/server.pem")
ZERO=0000000000000000000000000000000000000000000000000000000000000000
[ ${#EE} = 64 ] || framework_failure_ "digest"
TODAY=$(date -u +%F)

# one receiver per case: NAME TLS DOMAINS
start_receiver() {
	_port=$(free_port)
	host_config "$TRASH/$1.yaml" "rx-$1.test" "$TRASH/$1" "$_port" <<EOF
  tls: $2
  accepted_domains: [ $3 ]
  relay: { networks: [] }
  workers: 1
logs: { level: none }
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
	eval "P_$1=$_port"
}
start_receiver ok opportunistic ok.rpt.test
start_receiver bad opportunistic bad.rpt.test
start_receiver none opportunistic none.plain.test
start_receiver strip none strip.plain.test
start_receiver mbox opportunistic reports.test

# the https: rua: a TLS POST sink; each POST appends its body to post.N
HPORT=$(free_port)
cat >"$TRASH/https.py" <<'PY'
import http.server, ssl, sys, os
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = len([f for f in os.listdir(out) if f.startswith('post.')])
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        with open(os.path.join(out, 'post.%d' % n), 'wb') as f:
            f.write(body)
        with open(os.path.join(out, 'hdr.%d' % n), 'w') as f:
            f.write('%s\n%s\n' % (self.path, self.headers.get('Content-Type', '')))
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', port), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(cert, key)
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
mkdir -p "$TRASH/posts"
start_bg https python3 "$TRASH/https.py" "$HPORT" "$pki/server-chain.pem" "$pki/server.key" "$TRASH/posts"

dnssec_keys rpt.test
{
	printf '$ORIGIN rpt.test.\n$TTL 60\n'
	printf '@ SOA ns.rpt.test. hostmaster.rpt.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.rpt.test.\nns A 127.0.0.1\nreport A 127.0.0.1\n'
	printf 'ok MX 10 mx-ok.rpt.test.\nmx-ok A 127.0.0.1\n'
	printf 'bad MX 10 mx-bad.rpt.test.\nmx-bad A 127.0.0.1\n'
	printf '_%s._tcp.mx-ok TLSA 3 1 1 %s\n' "$P_ok" "$EE"
	printf '_%s._tcp.mx-bad TLSA 3 1 1 %s\n' "$P_bad" "$ZERO"
	printf '_smtp._tls.ok TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test,https://report.rpt.test:%s/tlsrpt"\n' "$HPORT"
	printf '_smtp._tls.bad TXT "v=TLSRPTv1;" "rua=mailto:tlsrpt@reports.test"\n'
	printf '_smtp._tls.bad TXT "v=spf1 -all"\n'
} >"$DNSSEC/rpt.test.zone"
dnssec_sign rpt.test "$DNSSEC/rpt.test.zone"
{
	printf '$ORIGIN plain.test.\n$TTL 60\n'
	printf '@ SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.plain.test.\nns A 127.0.0.1\n'
	printf 'none MX 10 mx.plain.test.\nstrip MX 10 mx.plain.test.\nmx A 127.0.0.1\n'
} >"$DNSSEC/nsd/plain.test"
dnssec_serve rpt.test -- plain.test

for n in ok bad none strip mbox; do
	eval "wait_port 127.0.0.1 \$P_$n" || { cat "$TRASH/$n.log"; framework_failure_ "dsmtpd $n did not start"; }
done
wait_port 127.0.0.1 "$HPORT" || { cat "$TRASH/https.log"; framework_failure_ "https sink did not start"; }

aport=$(free_port)
{
	dnssec_edge_config "$aport" 'retry={ first: 3600, max: 7200, lifetime: 172800 }'
	cat <<EOF
    - domain: ok.rpt.test
      next_hop: "ok.rpt.test:$P_ok"
      tls: dane
    - domain: bad.rpt.test
      next_hop: "bad.rpt.test:$P_bad"
      tls: dane
    - domain: none.plain.test
      next_hop: "none.plain.test:$P_none"
      tls: dane
    - domain: strip.plain.test
      next_hop: "strip.plain.test:$P_strip"
    - domain: reports.test
      next_hop: "[127.0.0.1]:$P_mbox"
tlsrpt:
  enabled: true
  organization: "dsmtp test org"
  contact: "tlsrpt-admin@edge.example.org"
EOF
} >"$TRASH/a.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

# queue PYLIST-OF-DOMAINS: one message to r@ each
queue() {
	python3 - "$aport" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for d in sys.argv[2:]:
    s.sendmail('s@bounce.example', ['r@%s' % d], ('Subject: %s\r\n\r\nx\r\n' % d).encode())
s.quit()
PY
}
CR=$(printf '\r')
count() { ls "$TRASH/$1"/queue/*.e 2>/dev/null | wc -l; }

test_expect_success "round 1: ok (tlsa), bad (tlsa mismatch), none, strip (no STARTTLS)" "
	queue ok.rpt.test bad.rpt.test none.plain.test strip.plain.test &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once1.out' 2>&1; cat '$TRASH/once1.out';
	test \$(count ok) = 1 && test \$(count bad) = 0 && test \$(count none) = 1 &&
	test \$(count strip) = 1"

test_expect_success "round 2: ok again, bad retried (flush), deferred again" "
	queue ok.rpt.test &&
	'$DSMTPC' -c '$TRASH/a.yaml' flush >/dev/null &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once2.out' 2>&1; cat '$TRASH/once2.out';
	test \$(count ok) = 2 && test \$(count bad) = 0"

test_expect_success "each attempt has one 'TLS result' record at level basic" "
	test \$(cat '$TRASH/a/logs/send'/* | grep -c ',TLS result') = 6 &&
	grep ',TLS result' '$TRASH/a/logs/send'/* | grep -q 'result-type=success; policy-type=tlsa; policy-domain=ok.rpt.test; policy-string=3%201%201%20$EE; ' &&
	grep ',TLS result' '$TRASH/a/logs/send'/* | grep -q 'result-type=starttls-not-supported; policy-type=no-policy-found; policy-domain=strip.plain.test; .*sending-mta-ip=127.0.0.1; receiving-mx-hostname=mx.plain.test; receiving-mx-helo=rx-strip.test; receiving-ip=127.0.0.1; '"

cat >"$TRASH/check.py" <<'PY'
# check.py JSONL DAY SESSIONS: every line an RFC 8460 4.4 report; the
# domains and counts exactly those of this test's sessions
import json, sys
day, ee = sys.argv[2], sys.argv[3]
reps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
byd = {}
for r in reps:
    assert set(r) == {'organization-name', 'date-range', 'contact-info', 'report-id', 'policies'}, r.keys()
    assert r['organization-name'] == 'dsmtp test org'
    assert r['contact-info'] == 'tlsrpt-admin@edge.example.org'
    assert r['date-range'] == {'start-datetime': day + 'T00:00:00Z', 'end-datetime': day + 'T23:59:59Z'}
    assert isinstance(r['report-id'], str) and r['report-id']
    assert len(r['policies']) == 1, r
    p = r['policies'][0]
    pol = p['policy']
    assert set(p['summary']) == {'total-successful-session-count', 'total-failure-session-count'}
    for f in p.get('failure-details', []):
        assert set(f) <= {'result-type', 'sending-mta-ip', 'receiving-mx-hostname', 'receiving-mx-helo',
                          'receiving-ip', 'failed-session-count', 'additional-information',
                          'failure-reason-code'}, f
    byd[pol['policy-domain']] = p
want = {'ok.rpt.test', 'bad.rpt.test', 'none.plain.test', 'strip.plain.test'}
assert set(byd) == want, sorted(byd)
ok = byd['ok.rpt.test']
assert ok['policy']['policy-type'] == 'tlsa'
assert ok['policy']['policy-string'] == ['3 1 1 ' + ee], ok['policy']
assert ok['summary'] == {'total-successful-session-count': 2, 'total-failure-session-count': 0}
assert 'failure-details' not in ok
bad = byd['bad.rpt.test']
assert bad['policy']['policy-type'] == 'tlsa'
assert bad['policy']['policy-string'] == ['3 1 1 ' + '0' * 64]
assert bad['summary'] == {'total-successful-session-count': 0, 'total-failure-session-count': 2}
[f] = bad['failure-details']
assert f['result-type'] == 'tlsa-invalid' and f['failed-session-count'] == 2, f
assert f['receiving-mx-hostname'] == 'mx-bad.rpt.test' and f['receiving-ip'] == '127.0.0.1', f
assert f['receiving-mx-helo'] == 'rx-bad.test' and f['sending-mta-ip'] == '127.0.0.1', f
assert 'tlsa-mismatch' in f['failure-reason-code'], f
none = byd['none.plain.test']
assert none['policy'] == {'policy-type': 'no-policy-found', 'policy-domain': 'none.plain.test'}, none
assert none['summary'] == {'total-successful-session-count': 1, 'total-failure-session-count': 0}
strip = byd['strip.plain.test']
assert strip['policy']['policy-type'] == 'no-policy-found'
assert strip['summary'] == {'total-successful-session-count': 0, 'total-failure-session-count': 1}
assert strip['failure-details'][0]['result-type'] == 'starttls-not-supported'
print('ok', len(reps))
PY

test_expect_success "dsmtp-log tlsrpt: RFC 8460 JSON, one report per domain, the counts of the sessions" "
	'$DSMTP_LOG' -c '$TRASH/a.yaml' tlsrpt --date $TODAY >'$TRASH/rpt.jsonl' 2>'$TRASH/rpt.err';
	cat '$TRASH/rpt.jsonl' '$TRASH/rpt.err';
	test ! -s '$TRASH/rpt.err' && test \$(wc -l <'$TRASH/rpt.jsonl') = 4 &&
	python3 '$TRASH/check.py' '$TRASH/rpt.jsonl' $TODAY $EE"

test_expect_success "dsmtp-log tlsrpt --domain: that domain only; another day: nothing" "
	'$DSMTP_LOG' tlsrpt --date $TODAY --domain BAD.rpt.test '$TRASH/a/logs' >'$TRASH/bad.jsonl' &&
	test \$(wc -l <'$TRASH/bad.jsonl') = 1 && grep -q '\"policy-domain\":\"bad.rpt.test\"' '$TRASH/bad.jsonl' &&
	'$DSMTP_LOG' tlsrpt --date 2020-01-01 '$TRASH/a/logs' >'$TRASH/old.jsonl' && test ! -s '$TRASH/old.jsonl' &&
	! '$DSMTP_LOG' tlsrpt --date 2026-02-30 '$TRASH/a/logs' 2>/dev/null"

test_expect_success "tlsrpt-send refuses a day that is not over" "
	! '$DSMTPC' -c '$TRASH/a.yaml' tlsrpt-send --date $TODAY 2>'$TRASH/early.err' &&
	grep -q 'not over yet' '$TRASH/early.err' && test ! -e '$TRASH/a/tlsrpt/${TODAY}_ok.rpt.test'"

# the day is over for dsmtpc run and its tlsrpt-send child: the test-only clock
TOMORROW=$(( $(date +%s) + 86400 ))
test_expect_success "dsmtpc run sends the finished day's reports: mailto through the spool, https POST" "
	start_bg run env DSMTPC_TLSRPT_TEST_NOW=$TOMORROW DSMTPC_TLSRPT_TEST_FIRST=0.2 '$DSMTPC' -c '$TRASH/a.yaml' run &&
	wait_for 20 'test \$(count mbox) -ge 2' && wait_for 10 'test -e $TRASH/posts/post.0' &&
	wait_for 10 'grep -q \"strip.plain.test: no report sent: no _smtp._tls record\" $TRASH/run.log' &&
	sleep 0.5; cat '$TRASH/run.log';
	test \$(count mbox) = 2 && test ! -e '$TRASH/posts/post.1' &&
	test -e '$TRASH/a/tlsrpt/${TODAY}_ok.rpt.test' && test -e '$TRASH/a/tlsrpt/${TODAY}_bad.rpt.test' &&
	test -e '$TRASH/a/tlsrpt/${TODAY}_none.plain.test' && grep -q '^none' '$TRASH/a/tlsrpt/${TODAY}_none.plain.test'"

cat >"$TRASH/mail.py" <<'PY'
# mail.py JSONL MSG...: each message an RFC 8460 5.3 report whose gzip part
# is the dsmtp-log tlsrpt report of its TLS-Report-Domain
import email, gzip, json, sys
want = {}
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l)
        want[r['policies'][0]['policy']['policy-domain']] = r
seen = set()
for path in sys.argv[2:]:
    d = open(path, 'rb').read()
    if d[-48:].startswith(b'dsmtp-spool 2 '):	# spool format 2: envelope after the message
        d = d[:int(d[-34:-18], 16)]
    m = email.message_from_bytes(d)
    dom = m['TLS-Report-Domain']
    assert m['TLS-Report-Submitter'] == 'edge.example.org', m['TLS-Report-Submitter']
    assert m['TLS-Required'] == 'No'
    assert m['To'] == '<tlsrpt@reports.test>', m['To']
    subj = ' '.join(m['Subject'].split())
    assert subj.startswith('Report Domain: %s Submitter: edge.example.org Report-ID: <' % dom), subj
    assert m.get_content_type() == 'multipart/report' and m.get_param('report-type') == 'tlsrpt'
    parts = [p for p in m.walk() if p.get_content_type() == 'application/tlsrpt+gzip']
    assert len(parts) == 1
    fn = parts[0].get_filename()
    assert fn.startswith('edge.example.org!%s!' % dom) and fn.endswith('.json.gz'), fn
    got = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
    assert got == want[dom], (got, want[dom])
    seen.add(dom)
assert seen == {'ok.rpt.test', 'bad.rpt.test'}, seen
print('ok')
PY

test_expect_success "each report mail: RFC 8460 headers, its gzip part is dsmtp-log's JSON" "
	python3 '$TRASH/mail.py' '$TRASH/rpt.jsonl' '$TRASH/mbox'/queue/*.d"

test_expect_success "the https rua got one POST: application/tlsrpt+gzip, ok.rpt.test's JSON" "
	sed -n 1p '$TRASH/posts/hdr.0' | grep -qx /tlsrpt &&
	sed -n 2p '$TRASH/posts/hdr.0' | grep -qx application/tlsrpt+gzip &&
	python3 -c 'import gzip, json, sys
got = json.loads(gzip.decompress(open(sys.argv[1], \"rb\").read()))
want = [json.loads(l) for l in open(sys.argv[2])]
assert got in want and got[\"policies\"][0][\"policy\"][\"policy-domain\"] == \"ok.rpt.test\"' '$TRASH/posts/post.0' '$TRASH/rpt.jsonl'"

test_expect_success "tlsrpt-send again: already sent, nothing twice (no message, no POST)" "
	DSMTPC_TLSRPT_TEST_NOW=$TOMORROW '$DSMTPC' -c '$TRASH/a.yaml' tlsrpt-send --date $TODAY >'$TRASH/again.out' 2>&1;
	cat '$TRASH/again.out';
	grep -q 'ok.rpt.test: already sent, not again' '$TRASH/again.out' &&
	grep -q 'bad.rpt.test: already sent, not again' '$TRASH/again.out' &&
	sleep 1 && test \$(count mbox) = 2 && test ! -e '$TRASH/posts/post.1' &&
	test \$(count a) = 1"

test_expect_success "no sanitizer report from dsmtpc or dsmtp-log" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH/once1.out' '$TRASH/once2.out' \
	    '$TRASH/run.log' '$TRASH/again.out' '$TRASH/rpt.err'"

finish
