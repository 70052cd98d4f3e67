#!/bin/sh
# t2000-queue: "dsmtpc queue" (human and --json) and "dsmtpc flush" over a
# spool written through the real spool API by tests/unit/spool_gen (so the
# spool's side is tested without dsmtpd); damaged entries are quarantined
# with a reason, never a crash.
. "${srcdir:-.}/tests/t/lib.sh"

need_ python3
GEN="$top_builddir/tests/unit/spool_gen"
[ -x "$GEN" ] || framework_failure_ "$GEN not built (make check builds it)"
cfg="$TRASH/c.yaml"
printf 'state_dir: %s/state\n' "$TRASH" >"$cfg"
Q="$TRASH/state/queue"

test_expect_success "an empty (and new) spool: 'queue is empty', exit 0; JSON has no messages" "
	'$DSMTPC' -c '$cfg' queue >'$TRASH/o' && grep -qx 'queue is empty' '$TRASH/o' &&
	test -d '$Q' && test \"\$(stat -c %a '$Q')\" = 700 &&
	'$DSMTPC' -c '$cfg' queue --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == {\"messages\": []}, d'"

test_expect_success "spool_gen writes messages (synchronous and through an ev_loop)" "
	'$GEN' '$Q' --from alice@example.org --client 192.0.2.1:4321 --ehlo client.example \
		--session 00000000000000ab --tls-version TLSv1.3 --tls-cipher TLS_AES_256_GCM_SHA384 \
		--tls-subject 'CN=client.example' --tls-sha256 abcdef --tls-verify ok \
		--domain-secured contoso.com --arrival-ago 200 \
		--to bob@example.net --attempts 2 --next 3600 --error '451 4.4.1 connection refused' \
		--to carol@example.net --state delivered --attempts 1 >'$TRASH/id1' &&
	'$GEN' --async '$Q' --from '' --size 10240 --to 'x@example.com' \
		--error \"\$(printf '550 5.1.1 no\nsuch user\033[31m')\" --state failed --attempts 1 >'$TRASH/id2' &&
	test \$(ls '$Q'/*.e | wc -l) = 2 && test \$(ls '$Q'/*.d | wc -l) = 2 &&
	test -d '$Q/tmp' && test -z \"\$(ls -A '$Q/tmp')\""

test_expect_success "queue lists id, age, sender, and per recipient state, attempts, last error" "
	'$DSMTPC' -c '$cfg' queue >'$TRASH/o' && cat '$TRASH/o' &&
	id1=\$(cat '$TRASH/id1') && id2=\$(cat '$TRASH/id2') &&
	grep -q \"^\$id1  age 3m2[0-9]s  size [0-9]*  from <alice@example.org>\$\" '$TRASH/o' &&
	grep -q \"^\$id2  age [0-9]*s  size 10267  from <>\$\" '$TRASH/o' &&
	grep -q 'session 00000000000000ab' '$TRASH/o' &&
	grep -q 'tls TLSv1.3 TLS_AES_256_GCM_SHA384  peer \"CN=client.example\"  verify ok  domain-secured contoso.com' '$TRASH/o' &&
	grep -q '^    to <bob@example.net>  pending  attempts: 2  next attempt: in [0-9][0-9hms]*  last error: 451 4.4.1 connection refused\$' '$TRASH/o' &&
	grep -q '^    to <carol@example.net>  delivered  attempts: 1\$' '$TRASH/o' &&
	grep -q '^-- 2 messages, 3 recipients, 1 pending\$' '$TRASH/o'"

test_expect_success "hostile text (newline, escape) cannot forge or colour a line" "
	'$DSMTPC' -c '$cfg' queue >'$TRASH/o' &&
	grep -q 'last error: 550 5.1.1 no\\\\nsuch user\\\\x1b\\[31m\$' '$TRASH/o' &&
	! grep -q '^such user' '$TRASH/o' && ! grep -q \"\$(printf '\\033')\" '$TRASH/o'"

test_expect_success "queue --json is JSON with every field, parsed by python3" "
	'$DSMTPC' -c '$cfg' queue --json >'$TRASH/j' &&
	python3 - '$TRASH/j' \"\$(cat '$TRASH/id1')\" \"\$(cat '$TRASH/id2')\" <<'PY'
import json, sys, time
d = json.load(open(sys.argv[1]))
m = {x['id']: x for x in d['messages']}
assert set(m) == {sys.argv[2], sys.argv[3]}, m.keys()
a, b = m[sys.argv[2]], m[sys.argv[3]]
assert a['sender'] == 'alice@example.org' and b['sender'] == ''
assert 195 <= a['age'] <= 260, a['age']
assert a['client'] == '192.0.2.1:4321' and a['ehlo'] == 'client.example'
assert a['session_id'] == '00000000000000ab'
assert a['tls'] == {'version': 'TLSv1.3', 'cipher': 'TLS_AES_256_GCM_SHA384',
    'peer_subject': 'CN=client.example', 'peer_sha256': 'abcdef', 'verify': 'ok',
    'domain_secured': True, 'domain': 'contoso.com'}, a['tls']
r = {x['address']: x for x in a['recipients']}
assert r['bob@example.net']['state'] == 'pending' and r['bob@example.net']['attempts'] == 2
assert r['bob@example.net']['last_error'] == '451 4.4.1 connection refused'
assert r['bob@example.net']['next_attempt'] > time.time() + 3000
assert a['next_attempt'] == r['bob@example.net']['next_attempt']
assert r['carol@example.net']['state'] == 'delivered'
assert b['size'] == 10267 and b['tls']['version'] == '' and b['tls']['domain_secured'] is False
assert b['recipients'][0]['state'] == 'failed'
assert b['recipients'][0]['last_error'] == '550 5.1.1 no\nsuch user\x1b[31m'
assert b['next_attempt'] is None
PY"

test_expect_success "bytes that are not UTF-8 still give valid JSON (as U+0080..U+00FF)" "
	idx=\$('$GEN' '$Q' --from \"\$(printf 'caf\\351@example.org')\" --to \"\$(printf 'r\\303\\251@example.org')\") &&
	'$DSMTPC' -c '$cfg' queue --json | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)[\"messages\"] if x[\"id\"] == sys.argv[1]][0]
assert m[\"sender\"] == \"caf\\u00e9@example.org\", m[\"sender\"]
assert m[\"recipients\"][0][\"address\"] == \"r\\u00e9@example.org\", m[\"recipients\"]' \$idx &&
	mkdir -p '$TRASH/keep' && mv '$Q/'\$idx.e '$Q/'\$idx.d '$TRASH/keep/'"

test_expect_success "flush makes the deferred recipient due now; the data file is untouched" "
	id1=\$(cat '$TRASH/id1') &&
	ino=\$(stat -c %i '$Q/'\$id1.d) &&
	'$DSMTPC' -c '$cfg' flush >'$TRASH/o' && grep -qx 'flushed 1 message' '$TRASH/o' &&
	'$DSMTPC' -c '$cfg' queue >'$TRASH/o' &&
	grep -q '^    to <bob@example.net>  pending  attempts: 2  next attempt: now  last error: 451' '$TRASH/o' &&
	test \"\$(stat -c %i '$Q/'\$id1.d)\" = \$ino &&
	'$DSMTPC' -c '$cfg' queue --json | python3 -c '
import json, sys, time
d = json.load(sys.stdin)
for m in d[\"messages\"]:
    for r in m[\"recipients\"]:
        if r[\"state\"] == \"pending\":
            assert r[\"next_attempt\"] <= time.time(), r' &&
	'$DSMTPC' -c '$cfg' flush >'$TRASH/o' && grep -qx 'flushed 0 messages' '$TRASH/o'"

test_expect_success "a truncated envelope is quarantined with a reason; the rest still lists" "
	id3=\$('$GEN' '$Q' --from z@example.org --to y@example.net) &&
	truncate -s 100 '$Q/'\$id3.e &&
	'$DSMTPC' -c '$cfg' queue >'$TRASH/o' 2>'$TRASH/e'; rc=\$?; cat '$TRASH/e';
	test \$rc = 0 &&
	grep -q \"message \$id3 moved to quarantine/: \" '$TRASH/e' &&
	test -f '$Q/quarantine/'\$id3.e && test -f '$Q/quarantine/'\$id3.d &&
	test -s '$Q/quarantine/'\$id3.why &&
	! test -e '$Q/'\$id3.e && grep -q '^-- 2 messages' '$TRASH/o' &&
	'$DSMTPC' -c '$cfg' queue >/dev/null 2>'$TRASH/e2' && ! test -s '$TRASH/e2'"

test_expect_success "garbage in the envelope (right length, bad bytes) is quarantined too" "
	id4=\$('$GEN' '$Q' --to y@example.net) &&
	e='$Q/'\$id4.e && test \$(stat -c %i \$e) = \$(stat -c %i '$Q/'\$id4.d) &&
	printf 'XX' | dd of=\$e bs=1 seek=\$((\$(stat -c %s \$e) - 48 - 60)) conv=notrunc 2>/dev/null &&
	'$DSMTPC' -c '$cfg' queue --json >'$TRASH/j' 2>'$TRASH/e' &&
	grep -q \"message \$id4 moved to quarantine/\" '$TRASH/e' &&
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))[\"messages\"]) == 2' '$TRASH/j'"

test_expect_success "leftovers of a crashed writer are cleaned when the spool opens" "
	: >'$Q/tmp/0123456789abcdef01234567.d' &&
	: >'$Q/0123456789abcdef01234568.d' &&
	'$DSMTPC' -c '$cfg' queue >/dev/null 2>'$TRASH/e' &&
	grep -q 'removed 1 unfinished temporary file(s) and 1 data file(s) without an envelope' '$TRASH/e' &&
	test -d '$Q/tmp' && test -z \"\$(ls -A '$Q/tmp')\" && ! test -e '$Q/0123456789abcdef01234568.d'"

test_expect_success "many messages: all listed, in arrival order" "
	for i in 1 2 3 4 5 6 7 8 9 10; do '$GEN' --async '$Q' --to r\$i@example.net >>'$TRASH/ids' || exit 1; done &&
	'$DSMTPC' -c '$cfg' queue --json | python3 -c '
import json, sys
ids = [m[\"id\"] for m in json.load(sys.stdin)[\"messages\"]]
assert len(ids) == 12, len(ids)
assert ids == sorted(ids), ids'"

test_expect_success "queue and flush refuse stray arguments (64); an unreadable state_dir is an error" "
	'$DSMTPC' -c '$cfg' queue extra 2>/dev/null; test \$? = 64 &&
	'$DSMTPC' -c '$cfg' flush --bogus 2>/dev/null; test \$? = 64 &&
	printf 'state_dir: relative/path\n' >'$TRASH/bad.yaml' &&
	'$DSMTPC' -c '$TRASH/bad.yaml' queue 2>'$TRASH/e'; rc=\$?; cat '$TRASH/e'; test \$rc != 0"

test_expect_success "--help lists queue and flush as built" "
	'$DSMTPC' --help >'$TRASH/h' &&
	grep '^  queue ' '$TRASH/h' | grep -v -q 'not built yet' &&
	grep '^  flush ' '$TRASH/h' | grep -v -q 'not built yet'"
cfg2="$TRASH/c2.yaml"
printf 'state_dir: %s/state2\n' "$TRASH" >"$cfg2"
test_expect_success "a finished envelope left on disk (stopped between update and removal) is removed by once" "
	'$DSMTPC' -c '$cfg2' queue >/dev/null &&
	'$GEN' '$TRASH/state2/queue' --from a@example.org --to b@example.net --state delivered \
		--attempts 1 --to c@example.net --state bounced --attempts 1 >'$TRASH/id3' &&
	'$DSMTPC' -c '$cfg2' once >'$TRASH/o3' 2>&1; rc=\$?; cat '$TRASH/o3'; test \$rc = 0 &&
	grep -q \"\$(cat '$TRASH/id3'): removed\" '$TRASH/o3' &&
	'$DSMTPC' -c '$cfg2' queue | grep -qx 'queue is empty'"
finish
