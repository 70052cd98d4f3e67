#!/bin/sh
# t4500-log-report: dsmtp-log report read the way a person reads it. Real
# traffic into dsmtpd (swaks plain, with STARTTLS, with a client
# certificate whose subject is hostile HTML; gnutls-cli; openssl s_client;
# a raw client whose EHLO is a <script> tag) and a dsmtpc -> dsmtpd
# delivery; then the text report, --json, and --html rendered by headless
# Chromium: a non-trivial PNG, no console message (a control page proves
# the check sees one), nothing from a peer live in the DOM, and the page's
# numbers equal to the sessions made here. Also dsmtp-log show: readable
# values (\x3b shown as ;), exact escapes with --json and in the files.
. "${srcdir:-.}/tests/t/lib.sh"
need_ swaks
need_ openssl
need_ gnutls-cli
need_ chromium
need_ python3

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
# a self-signed client certificate whose subject is hostile HTML
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 20 \
    -subj '/CN=<script>alert(1)<\/script>/O=a&b"c' -keyout "$TRASH/evil.key" \
    -out "$TRASH/evil.pem" >/dev/null 2>&1 || framework_failure_ "openssl req failed"
port=$(free_port)
host_config "$TRASH/d.yaml" mail.example.com "$TRASH/state-$port" "$port" <<EOF
  accepted_domains: [ example.org ]
  relay: { networks: [] }
  workers: 1
EOF
cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/client
trust:
  ca_file: $pki/ca-bundle.pem
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }
L="$TRASH/state-$port/logs"
CL="$TRASH/client/logs"

sw() { swaks --server "127.0.0.1:$port" --from a@b.org --to x@example.org "$@"; }
# the sessions, by peer domain (the EHLO name; [127.0.0.1] for wait_port's probe)
sw --ehlo plain.client.example >"$TRASH/s1" 2>&1 || { cat "$TRASH/s1"; framework_failure_ "swaks plain"; }
for i in 1 2; do
	sw --ehlo tls.client.example --tls >"$TRASH/s2" 2>&1 ||
	    { cat "$TRASH/s2"; framework_failure_ "swaks tls"; }
done
sw --ehlo hostile.client.example --tls --tls-cert "$TRASH/evil.pem" --tls-key "$TRASH/evil.key" \
    >"$TRASH/s3" 2>&1 || { cat "$TRASH/s3"; framework_failure_ "swaks tls client cert"; }
printf 'EHLO gnutls.client.example\r\nQUIT\r\n' | timeout 10 gnutls-cli --starttls-proto=smtp \
    --x509cafile "$pki/ca.pem" -p "$port" --sni-hostname mail.example.com localhost \
    >"$TRASH/g" 2>&1 || { cat "$TRASH/g"; framework_failure_ "gnutls-cli"; }
echo QUIT | timeout 10 openssl s_client -starttls smtp -name openssl.client.example \
    -connect "127.0.0.1:$port" -CAfile "$pki/ca.pem" >"$TRASH/o" 2>&1 ||
    { cat "$TRASH/o"; framework_failure_ "openssl s_client"; }
python3 - "$port" <<'PY' || framework_failure_ "raw client"
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), 10)
f = s.makefile('rb')
f.readline()
s.sendall(b'EHLO <script>alert(3)</script>\r\n')
while True:
    l = f.readline()
    if not l or l[3:4] != b'-':
        break
s.sendall(b'QUIT\r\n')
f.readline()
s.close()
PY
# dsmtpc: one delivery (mandatory), one deferred by policy (verify: no host
# name to verify with --server ADDR), both also received by dsmtpd
send() {
	printf 'Subject: t4500\r\n\r\nbody\r\n' | "$DSMTPC" -c "$TRASH/c.yaml" send \
	    --server "127.0.0.1:$port" --from a@client.example.org --to b@example.org --tls "$1"
}
send mandatory >"$TRASH/send1" 2>&1 || { cat "$TRASH/send1"; framework_failure_ "dsmtpc send"; }
send verify >"$TRASH/send2" 2>&1; test $? = 75 || { cat "$TRASH/send2"; framework_failure_ "verify did not defer"; }
flush_plog dsmtpd || framework_failure_ "protocol log not flushed"

test_expect_success "text report: the peers with their sessions, TLS and certificates, in 100 columns" "
	'$DSMTP_LOG' report '$L' '$CL' >'$TRASH/r.txt' && cat '$TRASH/r.txt' &&
	! awk 'length(\$0) > 100 { print; bad = 1 } END { exit bad }' '$TRASH/r.txt' | grep . &&
	grep -Eq '^receive +10 +7 +70.0% +5 ' '$TRASH/r.txt' &&
	grep -Eq '^send +2 +2 +100.0% +1 +1 ' '$TRASH/r.txt' &&
	grep -Eq '^receive +plain.client.example +1 +0 +0.0% +1 ' '$TRASH/r.txt' &&
	grep -Eq '^receive +tls.client.example +2 +2 +100.0% +2 ' '$TRASH/r.txt' &&
	grep -Eq '^receive +gnutls.client.example +1 +1 +100.0% +0 ' '$TRASH/r.txt' &&
	grep -Eq '^receive +openssl.client.example +1 +1 +100.0% +0 ' '$TRASH/r.txt' &&
	grep -Eq '^receive +client.example.org +2 +2 +100.0% +1 ' '$TRASH/r.txt' &&
	grep -Eq '^send +example.org +2 +2 +100.0% +1 +1 ' '$TRASH/r.txt' &&
	grep -Eq 'policy +(pass mandatory 1, fail verify 1|fail verify 1, pass mandatory 1)' '$TRASH/r.txt' &&
	grep -Eq '^ +1 policy verify: hostname-mismatch' '$TRASH/r.txt' &&
	grep -F 'alert(1)' '$TRASH/r.txt' | grep -qF '<script'"

test_expect_success "--json: the same numbers, exact escapes" "
	'$DSMTP_LOG' report --json '$L' '$CL' >'$TRASH/r.json' &&
	python3 - '$TRASH/r.json' <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = {(x['direction'], x['peer']): x for x in r['peers']}
assert r['totals']['receive']['sessions'] == 10, r['totals']
assert r['totals']['all']['tls'] == 9, r['totals']
assert p[('receive', 'tls.client.example')]['tls'] == 2
assert p[('send', 'example.org')]['policy'] == {'pass mandatory': 1, 'fail verify': 1}, p[('send', 'example.org')]
assert [f['count'] for f in r['failures'] if f['cause'].startswith('policy verify: hostname-mismatch')] == [1], r['failures']
h = p[('receive', 'hostile.client.example')]
# GnuTLS writes the subject per RFC 4514 (\\< for <), the log escapes the backslash
assert '<script' in h['certificates'][0]['subject'] and 'alert(1)' in h['certificates'][0]['subject'], h
assert h['certificates'][0]['days_left'] in (19, 20), h
assert sum(d['receive']['sessions'] for d in r['days']) == 10, r['days']
PY"

test_expect_success "--html: headless Chromium renders a non-trivial PNG, with no console message" "
	'$DSMTP_LOG' report --html '$TRASH/report.html' '$L' '$CL' &&
	! grep -Eq '<script|<img|<link|src=|href=|@import|url\\(' '$TRASH/report.html' &&
	grep -F 'alert(1)' '$TRASH/report.html' | grep -qF '&lt;script' &&
	grep -q '&lt;script&gt;alert(3)&lt;/script&gt;' '$TRASH/report.html' &&
	cd '$TRASH' && timeout 120 chromium --headless --no-sandbox --disable-gpu \
	    --enable-logging=stderr --v=0 --log-level=0 --screenshot='$TRASH/report.png' \
	    --window-size=1200,1600 'file://$TRASH/report.html' >'$TRASH/shot.log' 2>&1 &&
	python3 - '$TRASH/report.png' <<'PY' &&
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h = struct.unpack('>II', d[16:24])
assert (w, h) == (1200, 1600), (w, h)
assert len(d) > 30000, ('too small to hold a report', len(d))
PY
	! grep ':CONSOLE' '$TRASH/shot.log' &&
	mkdir -p '$TRASH/kept' && cp '$TRASH/report.png' '$TRASH/report.html' '$TRASH/kept/'"

test_expect_success "the console check works: a page with a blocked script and image is caught" "
	printf '%s' '<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src none\"></head><body><img src=\"http://127.0.0.1:9/x.png\"><script>console.log(1)</script></body></html>' >'$TRASH/control.html' &&
	timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
	    --log-level=0 --dump-dom 'file://$TRASH/control.html' >/dev/null 2>'$TRASH/control.log';
	grep -q ':CONSOLE' '$TRASH/control.log'"

test_expect_success "the rendered page's numbers are the sessions made, and peers' text is inert" "
	timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom \
	    'file://$TRASH/report.html' >'$TRASH/dom.html' 2>/dev/null &&
	python3 - '$TRASH/dom.html' <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__()
        s.rows, s.row, s.k, s.tags, s.text = [], None, None, [], []
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        s.tags.append(tag)
        # a peer's detail row belongs to the peer's row before it
        if tag == 'tr' and a.get('class') != 'detail':
            s.row = {'class': a.get('class', ''), 'dir': a.get('data-dir'), 'peer': a.get('data-peer')}
            s.rows.append(s.row)
        if tag in ('td', 'span') and 'data-k' in a:
            s.k, s.ktag = a['data-k'], tag
            s.row[s.k] = ''
    def handle_endtag(s, tag):
        if s.k and tag == s.ktag:
            s.k = None
    def handle_data(s, d):
        s.text.append(d)
        if s.k and s.row is not None:
            s.row[s.k] += d
p = P()
p.feed(open(sys.argv[1], encoding='utf-8').read())
assert 'script' not in p.tags and 'img' not in p.tags, p.tags
tot = {r['dir']: r for r in p.rows if r['class'] == '' and r['dir']}
assert tot['receive']['sessions'] == '10' and tot['receive']['tls'] == '7', tot
assert tot['send']['sessions'] == '2' and tot['all']['sessions'] == '12', tot
assert tot['send']['failed'] == '1', tot
peers = {(r['dir'], r['peer']): r for r in p.rows if r['class'].startswith('peer')}
want = {('receive', 'plain.client.example'): ('1', '0', '1'),
        ('receive', 'tls.client.example'): ('2', '2', '2'),
        ('receive', 'hostile.client.example'): ('1', '1', '1'),
        ('receive', 'gnutls.client.example'): ('1', '1', '0'),
        ('receive', 'openssl.client.example'): ('1', '1', '0'),
        ('receive', '<script>alert(3)</script>'): ('1', '0', '0'),
        ('receive', '[127.0.0.1]'): ('1', '0', '0'),
        ('receive', 'client.example.org'): ('2', '2', '1'),
        ('send', 'example.org'): ('2', '2', '1')}
for k, (n, t, m) in want.items():
    r = peers[k]
    assert (r['sessions'], r['tls'], r['messages']) == (n, t, m), (k, r)
assert len(peers) == len(want), sorted(peers)
assert 'pass mandatory 1' in peers[('send', 'example.org')]['policy'], peers[('send', 'example.org')]
causes = [r for r in p.rows if r['class'] == 'cause']
assert [c['count'] for c in causes if c['cause'].startswith('policy verify: hostname-mismatch')] == ['1'], causes
certs = [r for r in p.rows if r['class'] == 'cert']
evil = [r for r in certs if r['peer'] == 'hostile.client.example']
assert evil and '<script' in evil[0]['subject'] and 'alert(1)' in evil[0]['subject'], certs
assert int(evil[0]['days']) in (19, 20), evil
days = [r for r in p.rows if r['class'] == 'day']
# one day, or two when the test ran across midnight UTC
assert len(days) in (1, 2) and sum(int(d['receive-sessions']) for d in days) == 10, days
assert sum(int(d['send-tls']) for d in days) == 2, days
PY"

test_expect_success "show: readable values; --json and the files keep the exact escapes" "
	grep -h 'Local certificate' '$L'/receive/*.LOG | head -1 | grep -q 'why=.*\\\\x3b ' &&
	id=\$('$DSMTP_LOG' sessions '$L' | grep 'ehlo=tls.client.example' | head -1 | cut -d' ' -f3) &&
	'$DSMTP_LOG' show \$id '$L' >'$TRASH/show' && cat '$TRASH/show' &&
	grep '\\[Local certificate\\]' '$TRASH/show' | grep -q 'why=.*; valid until ' &&
	! grep -q 'x3b' '$TRASH/show' &&
	'$DSMTP_LOG' show --json \$id '$L' >'$TRASH/show.json' &&
	grep 'Local certificate' '$TRASH/show.json' | grep -q '\\\\\\\\x3b valid until' &&
	id=\$('$DSMTP_LOG' sessions '$L' | grep 'ehlo=hostile' | cut -d' ' -f3) &&
	'$DSMTP_LOG' show \$id '$L' | grep '\\[Remote certificate\\]' | grep -F 'alert(1)' |
	    grep -qF '; issuer=O=a&b'"

if [ -n "${KEEP_TRASH:-}" ] && [ -f "$TRASH/kept/report.png" ]; then
	# KEEP_TRASH: the screenshot outlives the trash directory
	keep="${TMPDIR:-/tmp}/dsmtp-t4500-report"
	mkdir -p "$keep" && cp "$TRASH/kept/"* "$keep/" && say "# report and screenshot kept in $keep"
fi
finish
