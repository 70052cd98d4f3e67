#!/bin/sh
# t4000-log-csv: the real protocol-log writer (driven by tests/unit/plog_gen)
# writes CSV that Python's csv module reads as exactly 9 fields per record,
# with hostile peer bytes escaped and AUTH masked; dsmtp-log sessions, show,
# certs and failures find what was written, filters included.
. "${srcdir:-.}/tests/t/lib.sh"

GEN="$top_builddir/tests/unit/plog_gen"
need_ python3
test -x "$GEN" || framework_failure_ "plog_gen not built"

cat >"$TRASH/c.yaml" <<EOF2
state_dir: $TRASH/state
logs:
  format: csv
  level: verbose
EOF2
"$GEN" -c "$TRASH/c.yaml" >"$TRASH/ids" || framework_failure_ "plog_gen failed"
L="$TRASH/state/logs"
id() { awk -v n="$1" '$1 == n { print $2 }' "$TRASH/ids"; }

test_expect_success "files are named by direction, day and N" "
	test -f '$L/receive/RECV20261124-1.LOG' &&
	test -f '$L/send/SEND20261124-1.LOG'"

test_expect_success "every line of every file is a header or exactly 9 CSV fields" "
	python3 - '$L' <<'PY'
import csv, glob, sys
files = glob.glob(sys.argv[1] + '/*/*.LOG')
assert len(files) == 2, files
n = 0
for f in files:
    raw = open(f, 'rb').read()
    raw.decode('utf-8')                       # valid UTF-8
    lines = raw.split(b'\n')
    assert lines[-1] == b'', 'last line not terminated'
    text = raw.decode('utf-8').split('\n')[:-1]
    assert text[0].startswith('#Software: dsmtp ')
    assert text[3].startswith('#Fields: date-time,connector-id,session-id,')
    for i, line in enumerate(text):
        if line.startswith('#'):
            continue
        rows = list(csv.reader([line]))
        assert len(rows) == 1 and len(rows[0]) == 9, (f, i + 1, line)
        assert all(ord(c) >= 32 for c in line), (f, i + 1)
        n += 1
assert n > 100, n
print(n, 'records')
PY"

test_expect_success "hostile bytes are escaped, quotes doubled, AUTH masked" "
	grep -F '\"EHLO evil,\"\"host\"\"\\r\\n\\x00x\\xff\\xfe\\tback\\\\slash;k=v\"' '$L/receive/RECV20261124-1.LOG' &&
	grep -q 'AUTH PLAIN \\*\\*\\*\\*' '$L/receive/RECV20261124-1.LOG' &&
	! grep -q 'c2VjcmV0cGFzcw\\|AHVzZXIA\\|dXNlcg==' '$L/receive/RECV20261124-1.LOG'"

test_expect_success "sessions: one line per session with EHLO, TLS, cert, policy, messages" "
	'$DSMTP_LOG' sessions '$L' >'$TRASH/s' && cat '$TRASH/s' &&
	test \$(wc -l <'$TRASH/s') = 7 &&
	grep -q \"receive \$(id contoso2) 192.0.2.10:40002 ehlo=mx.contoso.com tls=TLSv1.3/TLS_AES_256_GCM_SHA384 cert=CN=mx.contoso.com,O=Test sha256=aaaaaaaaaaaaaaaa policy=\\\"pass domain-secure contoso.com\\\" messages=2\$\" '$TRASH/s' &&
	grep -q \"send \$(id sendok) 127.0.0.1:2526 ehlo=edge.example.org .* messages=2\$\" '$TRASH/s' &&
	grep -q \"\$(id nocert) .* cert=absent policy=\\\"fail domain-secure fabrikam.com\\\" messages=0\" '$TRASH/s' &&
	grep -q \"\$(id hostile) .* tls=none cert=none policy=none messages=0\" '$TRASH/s'"

test_expect_success "sessions --json: one JSON object per line" "
	'$DSMTP_LOG' sessions --json '$L' >'$TRASH/sj' &&
	python3 -c 'import json,sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 7
byid = {r[\"session\"]: r for r in rows}
assert byid[sys.argv[2]][\"messages\"] == 2 and byid[sys.argv[2]][\"cert_sha256\"] == \"a\" * 64
assert byid[sys.argv[3]][\"direction\"] == \"send\" and byid[sys.argv[3]][\"policy\"] == \"fail\"
' '$TRASH/sj' \$(id contoso2) \$(id sendfail)"

test_expect_success "show: every record of one session, in order" "
	'$DSMTP_LOG' show \$(id contoso1) '$L' >'$TRASH/show' && cat '$TRASH/show' &&
	test \$(wc -l <'$TRASH/show') = 25 &&
	head -1 '$TRASH/show' | grep -q ' 0 192.0.2.10:40001 + ' &&
	grep -q '\\* version=TLSv1.3; cipher=TLS_AES_256_GCM_SHA384; kx=ECDHE-X25519; resumed=no \\[TLS negotiated\\]' '$TRASH/show' &&
	grep -q 'spki=sha256/AAAA=; chain_len=2 \\[Remote certificate\\]' '$TRASH/show' &&
	tail -1 '$TRASH/show' | grep -q ' 24 192.0.2.10:40001 - quit' &&
	'$DSMTP_LOG' show \$(id sendfail | cut -c1-6) '$L' | grep -q 'Local certificate' &&
	'$DSMTP_LOG' show --json \$(id hostile) '$L' | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'"

test_expect_success "show: an unknown session exits 1" "
	'$DSMTP_LOG' show 0123456789abcdef '$L' >/dev/null 2>'$TRASH/e'; test \$? = 1 &&
	grep -q 'no records of session' '$TRASH/e'"

test_expect_success "certs: each certificate per peer, and the peer whose certificate changed" "
	'$DSMTP_LOG' certs '$L' >'$TRASH/c' && cat '$TRASH/c' &&
	test \$(wc -l <'$TRASH/c') = 4 &&
	grep -q '^receive 192.0.2.10 sha256=aaaaaaaaaaaaaaaa first=2026-11-24T12:20:00.[0-9]*Z last=.* count=2 subject=CN=mx.contoso.com,O=Test\$' '$TRASH/c' &&
	grep -q '^receive 192.0.2.10 sha256=bbbbbbbbbbbbbbbb .* count=1 subject=CN=mx.contoso.com,O=Test CHANGED\$' '$TRASH/c' &&
	grep -q '^send \[2001:db8::25\]:25 sha256=bbbbbbbbbbbbbbbb ' '$TRASH/c' &&
	test \$(grep -c CHANGED '$TRASH/c') = 1 &&
	'$DSMTP_LOG' certs --json '$L' | python3 -c 'import json,sys
rows = [json.loads(l) for l in sys.stdin]
assert [r[\"changed\"] for r in rows].count(True) == 1, rows'"

test_expect_success "failures: grouped by cause, with an example session" "
	'$DSMTP_LOG' failures '$L' >'$TRASH/f' && cat '$TRASH/f' &&
	grep -q \"^1 policy domain-secure: no client certificate (e.g. session \$(id nocert), 198.51.100.7:1234, \" '$TRASH/f' &&
	grep -q \"^1 policy verify: untrusted issuer CN=Test CA (e.g. session \$(id sendfail), \" '$TRASH/f' &&
	grep -q '^1 chain: unknown issuer ' '$TRASH/f' &&
	grep -q '^1 reply: 530 5.7.0 Must issue a STARTTLS command first ' '$TRASH/f'"

test_expect_success "filters: --peer, --domain, --since, --until" "
	test \$('$DSMTP_LOG' sessions --peer 192.0.2.10 '$L' | wc -l) = 3 &&
	test \$('$DSMTP_LOG' sessions --peer 2001:db8: '$L' | wc -l) = 1 &&
	test \$('$DSMTP_LOG' sessions --peer '[2001:db8::25]' '$L' | wc -l) = 1 &&
	test \$('$DSMTP_LOG' sessions --domain contoso.com '$L' | wc -l) = 4 &&
	test \$('$DSMTP_LOG' sessions --domain fabrikam.com '$L' | wc -l) = 2 &&
	test \$('$DSMTP_LOG' sessions --domain example.org '$L' | wc -l) = 4 &&
	test \$('$DSMTP_LOG' failures --domain fabrikam.com '$L' | wc -l) = 5 &&
	test \$('$DSMTP_LOG' sessions --since 2026-11-24 --until 2026-11-24 '$L' | wc -l) = 7 &&
	test \$('$DSMTP_LOG' sessions --since 2026-11-25 '$L' | wc -l) = 0 &&
	test \$('$DSMTP_LOG' sessions --until 2026-11-23T23:59:59Z '$L' | wc -l) = 0 &&
	test \$('$DSMTP_LOG' sessions --since 2026-11-24T12:20:00.050Z '$L' | wc -l) = 5 &&
	'$DSMTP_LOG' sessions --since yesterday '$L' 2>'$TRASH/e'; test \$? = 64"

test_expect_success "the default input is state_dir/logs of the configuration; - is stdin" "
	'$DSMTP_LOG' -c '$TRASH/c.yaml' sessions >'$TRASH/d' &&
	test \$(wc -l <'$TRASH/d') = 7 &&
	'$DSMTP_LOG' sessions '$L/send/SEND20261124-1.LOG' | grep -q '^.* send ' &&
	cat '$L/send/SEND20261124-1.LOG' | '$DSMTP_LOG' sessions - >'$TRASH/stdin' &&
	test \$(grep -c ' send ' '$TRASH/stdin') = 2"

test_expect_success "a damaged line is reported and skipped, the rest still read" "
	cp -r '$L' '$TRASH/bad' &&
	printf '2026-11-24T12:30:00.000Z,\"broken\n' >>'$TRASH/bad/receive/RECV20261124-1.LOG' &&
	'$DSMTP_LOG' sessions '$TRASH/bad' >'$TRASH/b' 2>'$TRASH/be' &&
	test \$(wc -l <'$TRASH/b') = 7 && grep -q 'unterminated quoted field' '$TRASH/be'"
finish
