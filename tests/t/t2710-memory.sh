#!/bin/sh
# t2710-memory: the per-domain security memory (send.memory, DESIGN.md
# 13.3) end to end: client -> dsmtpd A -> dsmtpc once -> a real dsmtpd B
# whose certificate chains to the trust store and names the host, on an
# opportunistic route: "authenticated TLS (pkix)" is learnt. Then a STRIPTLS
# man in the middle takes B's place (tests/t/fakesmtp.py striptls on the
# same address): the next delivery is deferred 4.7.5 with the memory's
# reason, no MAIL reaches the attacker, and the protocol log has a Policy
# record for it; a "TLS-Required: No" message ignores the memory; `dsmtpc
# memory forget` lets the deferred one go in plaintext again. A second
# domain learns plain "TLS" (a self-signed server) and is held to it too;
# a message to a remembered and an unremembered domain on one connection
# defers only the remembered one.
# dsmtp-policy explain and dsmtp-log failures show the memory's part.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool
need_ python3

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portM=$(free_port)
portT=$(free_port)
CR=$(printf '\r')

host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portM" <<EOF
  accepted_domains: [ memtest.example ]
  relay: { networks: [] }
  workers: 1
EOF
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  retry: { first: 1, max: 4, lifetime: 3600 }
  routes:
    - domain: memtest.example
      next_hop: "[localhost]:$portM"
      tls: opportunistic
    - domain: other.example
      next_hop: "[localhost]:$portM"
      tls: opportunistic
    - domain: tlsonly.example
      next_hop: "[localhost]:$portT"
      tls: opportunistic
EOF
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
wait_port 127.0.0.1 "$portA" || framework_failure_ "dsmtpd A did not start"
wait_port 127.0.0.1 "$portM" || framework_failure_ "dsmtpd B did not start"

# msg TO SUBJECT [header]: one message into A over smtplib
msg() {
	python3 - "$@" <<'PY'
import smtplib, sys
to, subj = sys.argv[1], sys.argv[2]
hdr = 'TLS-Required: No\r\n' if len(sys.argv) > 3 else ''
s = smtplib.SMTP('127.0.0.1', int(__import__('os').environ['portA']))
s.sendmail('s@example.org', to.split(','), ('Subject: %s\r\n%s\r\nbody of %s\r\n' % (subj, hdr, subj)).encode())
s.quit()
PY
}
export portA
once() { "$DSMTPC" -c "$TRASH/a.yaml" once >>"$TRASH/once.log" 2>&1; echo $?; }
in_b() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/b/queue/*.d 2>/dev/null | head -1; }
queued() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/a/queue/*.d 2>/dev/null | head -1; }
mem() { "$DSMTPC" -c "$TRASH/a.yaml" memory "$@"; }

test_expect_success "a verified certificate on an opportunistic route is learnt as authenticated TLS (pkix)" "
	mem list >'$TRASH/m0' && grep -q '^-- 0 domains remembered' '$TRASH/m0' &&
	msg r@memtest.example mem-1 && test \$(once) = 0 && test -n \"\$(in_b mem-1)\" &&
	mem list >'$TRASH/m1' && cat '$TRASH/m1' &&
	grep -q '^memtest.example  authenticated TLS (pkix)  host localhost  since ' '$TRASH/m1' &&
	test -f '$TRASH/a/memory/memtest.example' &&
	grep -h 'domain=memtest.example; learnt=authenticated TLS (pkix),Security memory' \
	    '$TRASH'/a/logs/send/*.LOG >/dev/null"

test_expect_success "STRIPTLS in the path: deferred 4.7.5 naming the memory, no MAIL to the attacker" "
	kill \$(cat '$TRASH/dsmtpd-b.pid') && wait_for 10 '! kill -0 \$(cat \"$TRASH/dsmtpd-b.pid\") 2>/dev/null' &&
	start_bg fake-m python3 '$srcdir/tests/t/fakesmtp.py' striptls $portM '$TRASH/fake-m.cmds' &&
	wait_port 127.0.0.1 $portM &&
	msg r@memtest.example mem-2 && test \$(once) = 75 &&
	test -n \"\$(queued mem-2)\" &&
	! grep -q 'MAIL FROM' '$TRASH/fake-m.cmds' && grep -q EHLO '$TRASH/fake-m.cmds' &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q2' && cat '$TRASH/q2' &&
	grep -q 'last error: 451 4.7.5 security memory: memtest.example showed authenticated TLS (pkix) on [0-9-]* (host localhost), this connection offered only plaintext' '$TRASH/q2' &&
	grep -q 'to=<r@memtest.example>.*status=deferred (451 4.7.5 security memory' '$TRASH/once.log' &&
	grep -h 'level=memory; domain=memtest.example; result=fail; reason=authenticated TLS (pkix) shown before, only plaintext now\",Policy' \
	    '$TRASH'/a/logs/send/*.LOG >/dev/null"

test_expect_success "a TLS-Required: No message ignores the memory (delivered in plaintext)" "
	msg r@memtest.example mem-hdr header && once >/dev/null;
	grep -q 'MAIL FROM:<s@example.org>' '$TRASH/fake-m.cmds' &&
	test \$(grep -c -- '-- message' '$TRASH/fake-m.cmds') = 1 &&
	test -z \"\$(queued mem-hdr)\" && test -n \"\$(queued mem-2)\""

test_expect_success "one message to two domains on one connection: only the remembered one waits" "
	msg r@memtest.example,r@other.example mem-two && test \$(once) = 75 &&
	c=\$(sed -n 's/^\\([0-9]*\\) RCPT TO:<r@other.example>\$/\\1/p' '$TRASH/fake-m.cmds') && test -n \"\$c\" &&
	! grep -q \"^\$c RCPT TO:<r@memtest.example>\" '$TRASH/fake-m.cmds' &&
	test \$(grep -c -- '-- message' '$TRASH/fake-m.cmds') = 2 &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q-two' &&
	grep -q 'to <r@memtest.example>  pending.*security memory' '$TRASH/q-two' &&
	grep -q 'to <r@other.example>  delivered' '$TRASH/q-two'"

test_expect_success "dsmtp-policy explain shows the memory's part" "
	'$DSMTP_POLICY' -c '$TRASH/a.yaml' explain memtest.example >'$TRASH/explain' &&
	grep -q '^security memory: memtest.example showed authenticated TLS (pkix) on [0-9-]* (host localhost); a delivery below that defers' '$TRASH/explain'"

test_expect_success "dsmtp-log failures groups the memory deferrals under their own cause" "
	'$DSMTP_LOG' failures '$TRASH/a/logs/send' >'$TRASH/failures' && cat '$TRASH/failures' &&
	grep -q 'policy memory: authenticated TLS (pkix) shown before, only plaintext now' '$TRASH/failures'"

test_expect_success "dsmtpc memory forget: the deferred message goes opportunistically again" "
	mem forget memtest.example >'$TRASH/forget' && grep -q '^memtest.example: forgotten' '$TRASH/forget' &&
	! test -e '$TRASH/a/memory/memtest.example' &&
	mem forget memtest.example | grep -q 'nothing remembered' &&
	'$DSMTPC' -c '$TRASH/a.yaml' flush >/dev/null && test \$(once) = 0 &&
	test -z \"\$(queued mem-2)\" && test -z \"\$(queued mem-two)\" &&
	test \$(grep -c -- '-- message' '$TRASH/fake-m.cmds') = 4 &&
	mem list | grep -q '^-- 0 domains remembered'"

test_expect_success "unauthenticated TLS is remembered as TLS, and plaintext after it is deferred" "
	start_bg fake-t python3 '$srcdir/tests/t/fakesmtp.py' ok $portT '$TRASH/fake-t.cmds' '$pki/selfsigned.pem' '$pki/selfsigned.key' &&
	wait_port 127.0.0.1 $portT &&
	msg r@tlsonly.example tls-1 && test \$(once) = 0 &&
	mem list | grep -q '^tlsonly.example  TLS  host localhost' &&
	kill \$(tail -1 '$TRASH/fake-t.pid') && wait_for 10 '! kill -0 \$(tail -1 \"$TRASH/fake-t.pid\") 2>/dev/null' &&
	start_bg fake-t2 python3 '$srcdir/tests/t/fakesmtp.py' striptls $portT '$TRASH/fake-t2.cmds' &&
	wait_port 127.0.0.1 $portT &&
	msg r@tlsonly.example tls-2 && test \$(once) = 75 &&
	! grep -q 'MAIL FROM' '$TRASH/fake-t2.cmds' &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue | grep -q 'security memory: tlsonly.example showed TLS on'"

test_expect_success "send.memory: false neither checks nor learns" "
	sed 's/^send:/send:\n  memory: false/' '$TRASH/a.yaml' >'$TRASH/a-off.yaml' &&
	'$DSMTPC' -c '$TRASH/a-off.yaml' flush >/dev/null &&
	'$DSMTPC' -c '$TRASH/a-off.yaml' once >>'$TRASH/once.log' 2>&1 &&
	test \$(grep -c -- '-- message' '$TRASH/fake-t2.cmds') = 1"

finish
