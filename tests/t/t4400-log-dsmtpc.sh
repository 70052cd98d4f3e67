#!/bin/sh
# t4400-log-dsmtpc: the send log as dsmtpc really writes it: deliveries to
# dsmtpd at levels mandatory (passes over an unverified chain) and verify
# (fails), then to a second dsmtpd on the same port with another
# certificate; dsmtp-log certs flags the change, failures names the cause.
. "${srcdir:-.}/tests/t/lib.sh"

need_ python3
port=$(free_port)
make_config "$TRASH/d1.yaml" "$port" "  accepted_domains: [ example.org ]"
sed "s|state-$port|state2-$port|" "$TRASH/d1.yaml" >"$TRASH/d2.yaml"
cat >"$TRASH/c.yaml" <<EOF2
hostname: client.example.org
state_dir: $TRASH/client
EOF2
L="$TRASH/client/logs"

send() {	# send LEVEL: one message to the dsmtpd on $port
	printf 'Subject: t4400\r\n\r\nsecret-body-text\r\n' |
	"$DSMTPC" -c "$TRASH/c.yaml" send --server "127.0.0.1:$port" \
	    --from a@client.example.org --to b@example.org --tls "$1"
}

start_bg d1 "$DSMTPD" -c "$TRASH/d1.yaml"
d1=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"
send mandatory >"$TRASH/s1" 2>&1
rc=$?
test $rc = 0 || { cat "$TRASH/s1"; framework_failure_ "dsmtpc send mandatory: $rc"; }
send verify >"$TRASH/s2" 2>&1; test $? = 75 || { cat "$TRASH/s2"; framework_failure_ "verify did not defer"; }
kill "$d1"; wait "$d1"
start_bg d2 "$DSMTPD" -c "$TRASH/d2.yaml"
wait_port 127.0.0.1 "$port" || framework_failure_ "second dsmtpd did not start"
send mandatory >"$TRASH/s3" 2>&1 || { cat "$TRASH/s3"; framework_failure_ "dsmtpc send 3"; }

test_expect_success "the send log: 9 CSV fields a record, no body" "
	python3 - '$L' <<'PY' &&
import csv, glob, sys
files = glob.glob(sys.argv[1] + '/send/SEND*-1.LOG')
assert len(files) == 1, files
rows = [r for r in csv.reader(open(files[0], encoding='utf-8', newline='')) if not r[0].startswith('#')]
assert rows and all(len(r) == 9 for r in rows), rows
PY
	! grep -r secret-body-text '$L'"

test_expect_success "sessions: three send sessions, one message each for mandatory" "
	'$DSMTP_LOG' sessions '$L' >'$TRASH/s' && cat '$TRASH/s' &&
	test \$(grep -c ' send ' '$TRASH/s') = 3 &&
	test \$(grep -c 'policy=\"pass mandatory example.org\" messages=1\$' '$TRASH/s') = 2 &&
	grep -q 'policy=\"fail verify example.org\" messages=0\$' '$TRASH/s'"

test_expect_success "certs: the server's certificate changed at the same address and port" "
	'$DSMTP_LOG' certs '$L' >'$TRASH/c' && cat '$TRASH/c' &&
	test \$(grep -c '^send 127.0.0.1:$port sha256=' '$TRASH/c') = 2 &&
	grep '^send 127.0.0.1:$port ' '$TRASH/c' | head -1 | grep -q 'count=2 subject=CN=[^ ]*\$' &&
	grep '^send 127.0.0.1:$port ' '$TRASH/c' | tail -1 | grep -q 'count=1 subject=CN=[^ ]* CHANGED\$'"

test_expect_success "failures: only the verify session, by its cause" "
	'$DSMTP_LOG' failures '$L' >'$TRASH/f' && cat '$TRASH/f' &&
	grep -q '^1 policy verify: ' '$TRASH/f' &&
	grep -q '^1 chain: ' '$TRASH/f' &&
	test \$(wc -l <'$TRASH/f') = 2"
finish
