#!/bin/sh
# t4100-log-json: format json at level basic, rotated by size: every line
# of every file is one valid JSON object (UTF-8), basic keeps only what
# DESIGN.md section 9 lists, and dsmtp-log reads JSON (and CSV and JSON
# mixed) the same way it reads CSV.
. "${srcdir:-.}/tests/t/lib.sh"

GEN="$top_builddir/tests/unit/plog_gen"
need_ python3
test -x "$GEN" || framework_failure_ "plog_gen not built"

cat >"$TRASH/j.yaml" <<EOF2
state_dir: $TRASH/state
logs:
  format: json
  level: basic
  max_file_size: 4096
EOF2
"$GEN" -c "$TRASH/j.yaml" --repeat 3 >"$TRASH/ids" || framework_failure_ "plog_gen failed"
L="$TRASH/state/logs"
id() { awk -v n="$1" '$1 == n { print $2 }' "$TRASH/ids"; }

test_expect_success "rotated by size: several files a day, none much over the limit" "
	ls '$L/receive' '$L/send' &&
	test -f '$L/receive/RECV20261124-3.LOG' &&
	for f in '$L'/*/*.LOG; do test \$(wc -c <\"\$f\") -le 4096 || exit 1; done"

test_expect_success "every line is one JSON object; a header first, then 9-field records" "
	python3 - '$L' <<'PY'
import glob, json, sys
fields = ['date-time', 'connector-id', 'session-id', 'sequence-number', 'local-endpoint',
          'remote-endpoint', 'event', 'data', 'context']
n = 0
for f in sorted(glob.glob(sys.argv[1] + '/*/*.LOG')):
    lines = open(f, 'rb').read().decode('utf-8').split('\n')
    assert lines[-1] == ''
    head = json.loads(lines[0])
    assert head['#Software'].startswith('dsmtp ') and head['#Fields'] == ','.join(fields), head
    assert head['#Log-type'] == ('SMTP Receive Protocol Log' if '/RECV' in f else 'SMTP Send Protocol Log')
    for line in lines[1:-1]:
        rec = json.loads(line)
        assert list(rec) == fields, rec
        assert isinstance(rec['sequence-number'], int)
        n += 1
print(n, 'records')
assert n > 50
PY"

test_expect_success "basic keeps connect, disconnect, envelope, TLS negotiated, Remote certificate, Policy" "
	python3 - '$L' <<'PY'
import glob, json, sys
ctx = set()
for f in glob.glob(sys.argv[1] + '/*/*.LOG'):
    for line in open(f, encoding='utf-8').read().split('\n')[1:-1]:
        r = json.loads(line)
        ctx.add(r['context'])
        d = r['data'].upper()
        assert r['event'] not in '<>' or not d.startswith(
            ('STARTTLS', 'AUTH', 'QUIT', '220 ', '221 ', '334', '****')), r
assert ctx == {'', 'TLS negotiated', 'Remote certificate', 'Policy'}, ctx
PY"

test_expect_success "the hostile EHLO is escaped, then JSON-escaped" "
	grep -hF '\"data\":\"EHLO evil,\\\"host\\\"\\\\r\\\\n\\\\x00x\\\\xff\\\\xfe\\\\tback\\\\\\\\slash;k=v\"' '$L'/receive/*.LOG"

test_expect_success "sessions, certs, failures and show read JSON logs across files" "
	'$DSMTP_LOG' sessions '$L' >'$TRASH/s' && cat '$TRASH/s' &&
	test \$(wc -l <'$TRASH/s') = 21 &&
	test \$(grep -c 'messages=2\$' '$TRASH/s') = 6 &&
	grep -q \"\$(id nocert) .* cert=absent policy=\" '$TRASH/s' &&
	'$DSMTP_LOG' certs '$L' >'$TRASH/c' && cat '$TRASH/c' &&
	grep -q '^receive 192.0.2.10 sha256=aaaaaaaaaaaaaaaa .* count=6 .*CHANGED\$' '$TRASH/c' &&
	grep -q '^receive 192.0.2.10 sha256=bbbbbbbbbbbbbbbb .* count=3 .*CHANGED\$' '$TRASH/c' &&
	'$DSMTP_LOG' failures '$L' >'$TRASH/f' && cat '$TRASH/f' &&
	grep -q '^3 policy domain-secure: no client certificate ' '$TRASH/f' &&
	'$DSMTP_LOG' show \$(id contoso2) '$L' >'$TRASH/show' && cat '$TRASH/show' &&
	grep -q 'MAIL FROM:<sender1@contoso.com>' '$TRASH/show' &&
	'$DSMTP_LOG' show --json \$(id contoso2) '$L' | python3 -c 'import json,sys
rows = [json.loads(l) for l in sys.stdin]
assert [int(r[\"sequence-number\"]) for r in rows] == sorted(int(r[\"sequence-number\"]) for r in rows)'"

test_expect_success "CSV and JSON logs read together" "
	cat >'$TRASH/c.yaml' <<EOF2 &&
state_dir: $TRASH/state2
logs:
  format: csv
EOF2
	'$GEN' -c '$TRASH/c.yaml' --start 1795600000 --quiet &&
	'$DSMTP_LOG' sessions '$L' '$TRASH/state2/logs' >'$TRASH/m' &&
	test \$(wc -l <'$TRASH/m') = 28 &&
	test \$('$DSMTP_LOG' sessions --since 2026-11-25 '$L' '$TRASH/state2/logs' | wc -l) = 7"
finish
