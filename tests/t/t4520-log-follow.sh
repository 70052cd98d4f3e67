#!/bin/sh
# t4520-log-follow: dsmtp-log follow on a live state directory: dsmtpd's
# sessions (swaks) and a dsmtpc delivery appear as they are written, in
# both directions, across size rotation (logs.max_file_size 4096, so a new
# RECV file every few sessions); --domain holds a session back until it
# names the domain and drops it otherwise; SIGINT ends it with status 0,
# and so does a reader that goes away (| head -1), without a word on
# standard error.
. "${srcdir:-.}/tests/t/lib.sh"
need_ swaks
need_ python3

port=$(free_port)
S="$TRASH/state"
cat >"$TRASH/d.yaml" <<EOF
hostname: test.example.org
state_dir: $S
receive:
  listen: [ "127.0.0.1:$port" ]
  accepted_domains: [ example.org ]
  workers: 1
logs:
  max_file_size: 4096
EOF
start_bg d "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/d.log"; framework_failure_ "dsmtpd did not start"; }

sw() {	# sw EHLO-NAME [swaks options]: one session, flushed to the log
	_e=$1; shift
	swaks --server "127.0.0.1:$port" --from a@b.org --ehlo "$_e" "$@" >>"$TRASH/swaks.log" 2>&1
	flush_plog d
}
# follow NAME ARGS...: a follower in the background, its PID in $TRASH/NAME.fpid
follow() {
	_n=$1; shift
	"$DSMTP_LOG" follow "$@" >"$TRASH/$_n.out" 2>"$TRASH/$_n.err" &
	echo $! >"$TRASH/$_n.fpid"
	PIDS="$PIDS $!"
}
# ready NAME: sessions until the follower shows one (it starts at the end)
ready() {
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		sw "ready$_i.example" --to x@example.org || return 1
		wait_for 1 "grep -q 'EHLO ready$_i.example' '$TRASH/$1.out'" 2>/dev/null && return 0
	done
	return 1
}

follow all "$S"
follow dom --domain example.org --json "$S/logs"
ready all || framework_failure_ "follow shows nothing"
ready dom || framework_failure_ "follow --domain shows nothing"
before=$(ls "$S/logs/receive" | wc -l)
for i in 1 2 3 4 5 6 7 8; do
	sw "s$i.example" --to x@example.org || framework_failure_ "swaks s$i"
done
sw odd.example --to y@elsewhere.example
printf 'Subject: t4520\r\n\r\nbody\r\n' | "$DSMTPC" -c "$TRASH/d.yaml" send \
    --server "127.0.0.1:$port" --from a@example.org --to b@example.org --tls mandatory \
    >"$TRASH/send" 2>&1 || { cat "$TRASH/send"; framework_failure_ "dsmtpc send"; }
flush_plog d || framework_failure_ "dsmtpd did not flush its log"

test_expect_success "every session appears, across size rotation, in both directions" "
	wait_for 10 \"grep -q 'EHLO odd.example' '$TRASH/all.out'\" &&
	wait_for 10 \"grep -q ' send .* - ' '$TRASH/all.out'\" &&
	ls '$S/logs/receive' && test \$(ls '$S/logs/receive' | wc -l) -ge \$(($before + 3)) &&
	for i in 1 2 3 4 5 6 7 8; do
		test \$(grep -c \"< EHLO s\$i.example\$\" '$TRASH/all.out') = 1 ||
		    { echo \"s\$i.example not once\"; exit 1; }
	done &&
	grep -q ' receive [0-9a-f]\\{16\\} [0-9]* 127.0.0.1:[0-9]* - ' '$TRASH/all.out' &&
	grep -q ' send [0-9a-f]\\{16\\} [0-9]* 127.0.0.1:$port \\* .*\\[TLS negotiated\\]' '$TRASH/all.out' &&
	# every record of the last receive file with records was printed (a
	# file just rotated to may hold only its header)
	python3 - '$S/logs/receive' '$TRASH/all.out' <<'PY' &&
import csv, os, sys
files = sorted(os.listdir(sys.argv[1]), key=lambda f: int(f.split('-')[1].split('.')[0]))
for f in reversed(files):
    want = [(r[2], r[3]) for r in csv.reader(open(os.path.join(sys.argv[1], f), newline=''))
            if r and not r[0].startswith('#')]
    if want:
        break
assert f != files[0], ('no rotated file with records', files)
got = set(tuple(l.split(' ')[2:4]) for l in open(sys.argv[2]))
missing = [w for w in want if w not in got]
assert want and not missing, ('not printed', missing)
PY
	test ! -s '$TRASH/all.err' || { echo stderr:; cat '$TRASH/all.err'; false; }"

test_expect_success "--domain --json: the example.org sessions, not the other one" "
	wait_for 10 \"grep -q 's8.example' '$TRASH/dom.out'\" &&
	python3 - '$TRASH/dom.out' <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ehlo = {r['data'] for r in recs if r['data'].startswith('EHLO ')}
assert {'EHLO s%d.example' % i for i in range(1, 9)} <= ehlo, ehlo
assert 'EHLO odd.example' not in ehlo, ehlo
# a held-back session comes out whole, from its '+'
s1 = [r for r in recs if r['session-id'] == [x for x in recs if x['data'] == 'EHLO s1.example'][0]['session-id']]
assert s1[0]['event'] == '+' and s1[-1]['event'] == '-', s1
PY"

test_expect_success "SIGINT: follow exits 0" "
	pid=\$(cat '$TRASH/all.fpid') && kill -INT \$pid &&
	wait_for 5 \"! kill -0 \$pid 2>/dev/null\" &&
	pid=\$(cat '$TRASH/dom.fpid') && kill -INT \$pid &&
	wait_for 5 \"! kill -0 \$pid 2>/dev/null\""
# wait here, outside the test's subshell, for the exit status
for n in all dom; do
	wait "$(cat "$TRASH/$n.fpid")"
	echo $? >"$TRASH/$n.rc"
done
test_expect_success "... with status 0 and nothing on standard error" "
	test \$(cat '$TRASH/all.rc') = 0 && test \$(cat '$TRASH/dom.rc') = 0 &&
	test ! -s '$TRASH/all.err' && test ! -s '$TRASH/dom.err'"

test_expect_success "| head -1: follow ends on the closed pipe, status 0, no error spam" "
	( '$DSMTP_LOG' follow '$S' 2>'$TRASH/p.err'; echo \$? >'$TRASH/p.rc' ) | head -1 >'$TRASH/p.out' &
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sw pipe\$i.example --to x@example.org &&
		wait_for 1 \"test -s '$TRASH/p.rc'\" 2>/dev/null && break
	done;
	test -s '$TRASH/p.rc' && test \$(cat '$TRASH/p.rc') = 0 &&
	test \$(wc -l <'$TRASH/p.out') = 1 && test ! -s '$TRASH/p.err'"
finish
