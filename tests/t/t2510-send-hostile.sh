#!/bin/sh
# t2510-send-hostile: "dsmtpc send" against servers that misbehave on
# purpose (tests/t/fakesmtp.py): a reply injected after the 220 to STARTTLS
# (the 2021 "NO STARTTLS" study) must be discarded, never read as the
# answer to EHLO; silent, dropping, refusing and oversized-reply servers
# end in a deferral with a reason, never a hang or a crash. PIPELINING is
# used when offered (MAIL, RCPT and DATA in one write).
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
cat >"$TRASH/c.yaml" <<EOF2
hostname: client.example.org
state_dir: $TRASH/c
trust:
  ca_file: $pki/ca-bundle.pem
EOF2
export DSMTPC_TIMEOUT=5

# fake MODE: start tests/t/fakesmtp.py, its port in $fport
fake() {
	fport=$(free_port)
	python3 "$srcdir/tests/t/fakesmtp.py" "$1" "$fport" "$TRASH/$1.log" "$pki/server-chain.pem" \
	    "$pki/server.key" >"$TRASH/$1.err" 2>&1 &
	PIDS="$PIDS $!"
	wait_port 127.0.0.1 "$fport" || framework_failure_ "fakesmtp $1 did not start"
}
# snd NAME PORT [args]: exit code in $TRASH/NAME.rc
snd() {
	_n=$1 _p=$2; shift 2
	printf 'Subject: %s\r\n\r\nbody\r\n' "$_n" | "$DSMTPC" -c "$TRASH/c.yaml" send \
	    --server "127.0.0.1:$_p" --from a@example.org --to x@example.com "$@" >"$TRASH/$_n.out" 2>&1
	echo $? >"$TRASH/$_n.rc"
}
rc_is() { test "$(cat "$TRASH/$1.rc")" = "$2" || { cat "$TRASH/$1.out"; return 1; }; }

fake inject
test_expect_success "a reply injected after the 220 to STARTTLS is discarded" "
	snd inject $fport --tls mandatory && rc_is inject 0 &&
	grep -q 'tls\$' '$TRASH/inject.log' &&
	sed -n '/-- conn .* tls/,\$p' '$TRASH/inject.log' | grep -q 'EHLO client.example.org' &&
	sed -n '/-- conn .* tls/,\$p' '$TRASH/inject.log' | grep -q 'MAIL FROM:<a@example.org>' &&
	! grep -q 'injected\|INJECTED' '$TRASH/inject.out' &&
	files_exist '$TRASH'/c/logs/send/*.LOG &&
	grep -h -q ',<,220 ' '$TRASH'/c/logs/send/*.LOG && ! grep -h 'INJECTED' '$TRASH'/c/logs/send/*.LOG"

fake pipecheck
test_expect_success "PIPELINING: MAIL, RCPT and DATA go out in one write" "
	snd pipe $fport --tls none --to y@example.com && rc_is pipe 0 &&
	grep -q -- '-- one write' '$TRASH/pipecheck.log' &&
	grep -q 'RCPT TO:<y@example.com>' '$TRASH/pipecheck.log'"

fake oldserver
test_expect_success "an RFC 821 server: HELO after a 5xx to EHLO, one command at a time" "
	snd old $fport --tls opportunistic --to y@example.com && rc_is old 0 &&
	grep -q '^[0-9]* HELO client.example.org' '$TRASH/oldserver.log' &&
	grep -q -- '-- message' '$TRASH/oldserver.log' &&
	! grep -q -- '-- one write' '$TRASH/oldserver.log' &&
	grep -q '^TLS: none (STARTTLS not offered)' '$TRASH/old.out'"

fake slow
test_expect_success "a silent server: timeout, deferred (75)" "
	start=\$(date +%s) && snd slow $fport --tls opportunistic && rc_is slow 75 &&
	test \$((\$(date +%s) - start)) -lt 10 &&
	grep -q 'deferred (lost connection with 127.0.0.1\[127.0.0.1\]:[0-9]* while in state banner: timeout' '$TRASH/slow.out'"

fake drop
test_expect_success "a connection dropped after RCPT: deferred, with the state named" "
	snd drop $fport --tls none && rc_is drop 75 &&
	grep -q 'lost connection with .* while in state xfer' '$TRASH/drop.out'"

fake tempfail
test_expect_success "a 451 to RCPT is temporary (75) with the server's words" "
	snd tempfail $fport --tls none && rc_is tempfail 75 &&
	grep -q 'deferred (451 4.3.0 try again later)' '$TRASH/tempfail.out' &&
	! grep -q -- '-- message [1-9]' '$TRASH/tempfail.log'"

fake longline
test_expect_success "a reply line over 512 octets is a protocol error, not a buffer" "
	snd longline $fport --tls none && rc_is longline 75 &&
	grep -q 'reply line longer than 512 octets' '$TRASH/longline.out'"

fake manylines
test_expect_success "a reply of more than 100 lines is a protocol error" "
	snd manylines $fport --tls none && rc_is manylines 75 &&
	grep -q 'reply longer than 100 lines' '$TRASH/manylines.out'"

# a damaged or hostile spool: a recipient with CR LF must not become commands
GEN="$top_builddir/tests/unit/spool_gen"
fake pipecheck
cat >"$TRASH/q.yaml" <<EOF2
hostname: client.example.org
state_dir: $TRASH/q
send:
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: "*"
      next_hop: "[127.0.0.1]:$fport"
      tls: none
EOF2
test_expect_success "a recipient with CR LF from the spool is refused, never sent as commands" "
	test -x '$GEN' || { echo '$GEN was not built'; exit 1; }
	mkdir -p '$TRASH/q/queue' &&
	evil=\$(printf 'x@example.com>\r\nRSET\r\nRCPT TO:<evil@example.com') &&
	'$GEN' '$TRASH/q/queue' --from s@bounce.test --to \"\$evil\" --to good@example.com >/dev/null &&
	'$DSMTPC' -c '$TRASH/q.yaml' once >'$TRASH/evil.out' 2>&1; rc=\$?; cat '$TRASH/evil.out'; test \$rc = 0 &&
	grep -q 'RCPT TO:<good@example.com>' '$TRASH/pipecheck.log' &&
	! grep -q 'RSET\|evil' '$TRASH/pipecheck.log' &&
	grep -q 'status=bounced (553 5.1.3 address with control characters' '$TRASH/evil.out' &&
	grep -l -q 'Final-Recipient' '$TRASH'/bounces/new/*"

test_expect_success "nobody listening: connection refused, deferred" "
	p=\$(free_port) && snd refused \$p --tls none && rc_is refused 75 &&
	grep -q 'connect to 127.0.0.1\[127.0.0.1\]:'\$p': Connection refused' '$TRASH/refused.out'"
finish
