#!/bin/sh
# t2700-requiretls: RFC 8689 end to end with real programs: client (python
# smtplib, swaks) -> dsmtpd A -> dsmtpc once -> dsmtpd B. REQUIRETLS is
# offered only inside TLS and refused outside it (530 5.7.10); the flag is
# kept in A's spool and shown by `dsmtpc queue`; to a verified next hop
# (route level verify) that offers REQUIRETLS the message is delivered and
# the flag passed on (B's spool and B's protocol log); to a next hop that
# is not authenticated (opportunistic route, no DANE) and to one that does
# not offer REQUIRETLS (dsmtpd C with receive.requiretls: false) it bounces
# 5.7.30 with a DSN carrying the headers and not the body; "TLS-Required:
# No" is found at receive time, kept in the spool and the header relayed;
# with one session at a time, two plain messages share a connection but a
# REQUIRETLS message and a plain one do not.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool
need_ swaks
need_ python3

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)
portC=$(free_port)
portX=$(free_port)	# nothing listens: DSNs to stuck.test stay queued
CR=$(printf '\r')

host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com, opp.example ]
  relay: { networks: [] }
  workers: 1
EOF
host_config "$TRASH/c.yaml" mail.example.com "$TRASH/c" "$portC" <<EOF
  accepted_domains: [ norq.example ]
  relay: { networks: [] }
  workers: 1
  requiretls: false
EOF
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  retry: { first: 1, max: 4, lifetime: 3600 }
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: stuck.test
      next_hop: "[127.0.0.1]:$portX"
    - domain: example.com
      next_hop: "[localhost]:$portB"
      tls: verify
    - domain: opp.example
      next_hop: "[localhost]:$portB"
      tls: opportunistic
    - domain: norq.example
      next_hop: "[localhost]:$portC"
      tls: verify
EOF
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
start_bg dsmtpd-c "$DSMTPD" -c "$TRASH/c.yaml"
for p in $portA $portB $portC; do
	wait_port 127.0.0.1 "$p" || framework_failure_ "dsmtpd on $p did not start"
done

# rt PORT FROM TO SUBJECT [tls] [requiretls] [header]: one message with
# smtplib; prints the final reply, or the refusal as "refused CODE TEXT"
rt() {
	python3 - "$@" <<'PY'
import smtplib, ssl, sys
port, frm, to, subj = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
opts = sys.argv[5:]
s = smtplib.SMTP('127.0.0.1', port)
s.ehlo('client.example.org')
if 'tls' in opts:
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo('client.example.org')
print('ehlo-requiretls' if s.has_extn('requiretls') else 'ehlo-no-requiretls')
hdr = 'TLS-Required: No\r\n' if 'header' in opts else ''
body = ('Subject: %s\r\nMessage-ID: <%s@example.org>\r\n%s\r\n' % (subj, subj, hdr) +
        'SECRET BODY LINE of %s\r\n' % subj)
mo = ['REQUIRETLS'] if 'requiretls' in opts else []
try:
    s.sendmail(frm, [to], body.encode(), mail_options=mo)
    print('accepted')
except smtplib.SMTPSenderRefused as e:
    print('refused %d %s' % (e.smtp_code, e.smtp_error.decode()))
s.quit()
PY
}
in_q() { grep -l -a "^Subject: $2$CR\$" "$TRASH"/$1/queue/*.d 2>/dev/null | head -1; }
once() { "$DSMTPC" -c "$TRASH/a.yaml" once >>"$TRASH/once.log" 2>&1; }
# nothing queued at A but the DSNs that cannot leave (stuck.test)
a_empty() { ! grep -L -a '^stuck.test\|^s@stuck.test$' "$TRASH"/a/queue/*.e 2>/dev/null | grep -q .; }

test_expect_success "swaks: REQUIRETLS is not offered before STARTTLS, and is after it" "
	swaks --server 127.0.0.1:$portA --quit-after HELO --ehlo client.example.org >'$TRASH/sw-plain' 2>&1 &&
	grep -q '250.STARTTLS' '$TRASH/sw-plain' && ! grep -q REQUIRETLS '$TRASH/sw-plain' &&
	swaks --server 127.0.0.1:$portA --tls --quit-after HELO --ehlo client.example.org >'$TRASH/sw-tls' 2>&1 &&
	grep -q '250.REQUIRETLS' '$TRASH/sw-tls'"

test_expect_success "swaks: receive.requiretls: false offers no REQUIRETLS, even inside TLS" "
	swaks --server 127.0.0.1:$portC --tls --quit-after HELO --ehlo client.example.org >'$TRASH/sw-c' 2>&1 &&
	grep -q 'TLS started' '$TRASH/sw-c' && ! grep -q REQUIRETLS '$TRASH/sw-c'"

test_expect_success "MAIL FROM ... REQUIRETLS over plaintext is refused 530 5.7.10, nothing queued" "
	rt $portA s@bounce.test r@example.com plain-1 requiretls >'$TRASH/plain-1' &&
	cat '$TRASH/plain-1' && grep -q '^ehlo-no-requiretls' '$TRASH/plain-1' &&
	grep -q '^refused 530 5.7.10 REQUIRETLS needs a TLS session' '$TRASH/plain-1' &&
	test -z \"\$(in_q a plain-1)\""

test_expect_success "inside TLS the message is accepted and queued with the flag (dsmtpc queue shows it)" "
	rt $portA s@bounce.test r@example.com rt-ok tls requiretls >'$TRASH/rt-ok' &&
	grep -q '^ehlo-requiretls' '$TRASH/rt-ok' && grep -q '^accepted' '$TRASH/rt-ok' &&
	f=\$(in_q a rt-ok) && test -n \"\$f\" &&
	grep -q -a '^requiretls\$' \"\${f%.d}.e\" &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q-rt' && cat '$TRASH/q-rt' &&
	grep -q '^    flags requiretls\$' '$TRASH/q-rt' &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue --json | grep -q '\"flags\":\"requiretls\"'"

test_expect_success "to a verified next hop that offers REQUIRETLS: delivered, the flag passed on" "
	once; wait_for 10 a_empty &&
	f=\$(in_q b rt-ok) && test -n \"\$f\" &&
	grep -q -a '^requiretls\$' \"\${f%.d}.e\" &&
	grep -q -a 'SECRET BODY LINE of rt-ok' \"\$f\" &&
	flush_plog dsmtpd-b &&
	grep -h 'MAIL FROM:<s@bounce.test> SIZE=[0-9]* REQUIRETLS' '$TRASH'/b/logs/receive/*.LOG &&
	grep -h 'message flags: requiretls' '$TRASH'/b/logs/receive/*.LOG >/dev/null &&
	grep -h 'result=pass; reason=route level verify,REQUIRETLS' '$TRASH'/a/logs/send/*.LOG >/dev/null &&
	grep -q 'to=<r@example.com>.*status=sent' '$TRASH/once.log'"

# dsn SUBJECT: the bounce in the maildir about that subject
dsn() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/bounces/new/* 2>/dev/null | head -1; }

test_expect_success "to an unauthenticated next hop (opportunistic, no DANE): 5.7.30 bounce, headers only" "
	rt $portA s@bounce.test r@opp.example rt-opp tls requiretls | grep -q '^accepted' &&
	once; wait_for 10 a_empty && wait_for 10 'test -n \"\$(dsn rt-opp)\"' &&
	d=\$(dsn rt-opp) && cat \"\$d\" &&
	grep -q -a '^Status: 5.7.30' \"\$d\" &&
	grep -q -a 'REQUIRETLS support required: the next hop was not found through DNSSEC' \"\$d\" &&
	grep -q -a '^Message-ID: <rt-opp@example.org>' \"\$d\" &&
	! grep -q -a 'SECRET BODY LINE' \"\$d\" &&
	test -z \"\$(in_q b rt-opp)\""

test_expect_success "to a verified next hop without REQUIRETLS: 5.7.30 bounce, nothing delivered" "
	rt $portA s@bounce.test r@norq.example rt-norq tls requiretls | grep -q '^accepted' &&
	once; wait_for 10 a_empty && wait_for 10 'test -n \"\$(dsn rt-norq)\"' &&
	d=\$(dsn rt-norq) &&
	grep -q -a '^Status: 5.7.30' \"\$d\" &&
	grep -q -a 'does not support REQUIRETLS' \"\$d\" &&
	grep -q -a '^Subject: rt-norq' \"\$d\" && ! grep -q -a 'SECRET BODY LINE' \"\$d\" &&
	test -z \"\$(in_q c rt-norq)\" &&
	flush_plog dsmtpd-c && ! grep -h 'MAIL FROM:<s@bounce.test>' '$TRASH'/c/logs/receive/*.LOG"

test_expect_success "the same message without REQUIRETLS goes to that hop (the bounce was REQUIRETLS's)" "
	rt $portA s@bounce.test r@norq.example plain-norq tls | grep -q '^accepted' &&
	once; wait_for 10 a_empty && test -n \"\$(in_q c plain-norq)\""

test_expect_success "the bounce of a REQUIRETLS message is itself flagged for REQUIRETLS" "
	rt $portA s@stuck.test r@opp.example rt-stuck tls requiretls | grep -q '^accepted' &&
	once; '$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q-stuck' && cat '$TRASH/q-stuck' &&
	grep -q '^    flags requiretls-dsn\$' '$TRASH/q-stuck' &&
	grep -q 'to <s@stuck.test>  pending' '$TRASH/q-stuck'"

# one session at a time (max_parallel 1): what can share a connection does
once1() { "$DSMTPC" -c "$TRASH/a1.yaml" once >>"$TRASH/once.log" 2>&1; }
sed 's/^send:/send:\n  max_parallel: 1/' "$TRASH/a.yaml" >"$TRASH/a1.yaml"
nconn() { grep -c 'TLS connection established to localhost' "$TRASH/once.log"; }

test_expect_success "a REQUIRETLS message never shares a connection with other mail" "
	rt $portA s@bounce.test r@example.com share-p1 tls | grep -q '^accepted' &&
	rt $portA s@bounce.test r@example.com share-p2 tls | grep -q '^accepted' &&
	n0=\$(nconn) && once1; wait_for 10 a_empty &&
	test -n \"\$(in_q b share-p2)\" && test \$(nconn) = \$((n0 + 1)) &&
	rt $portA s@bounce.test r@example.com share-plain tls | grep -q '^accepted' &&
	rt $portA s@bounce.test r@example.com share-rt tls requiretls | grep -q '^accepted' &&
	n0=\$(nconn) && once1; wait_for 10 a_empty &&
	test -n \"\$(in_q b share-plain)\" && test -n \"\$(in_q b share-rt)\" &&
	test \$(nconn) = \$((n0 + 2))"

test_expect_success "TLS-Required: No is found at receive time, kept in the spool, and relayed" "
	rt $portA s@bounce.test r@example.com hdr-no tls header | grep -q '^accepted' &&
	f=\$(in_q a hdr-no) && grep -q -a '^tls-optional\$' \"\${f%.d}.e\" &&
	once; wait_for 10 a_empty &&
	g=\$(in_q b hdr-no) && grep -q -a '^TLS-Required: No' \"\$g\""

test_expect_success "REQUIRETLS wins over a TLS-Required: No header (RFC 8689 4.1)" "
	rt $portA s@bounce.test r@example.com both tls header requiretls | grep -q '^accepted' &&
	f=\$(in_q a both) && grep -q -a '^requiretls\$' \"\${f%.d}.e\" &&
	! grep -q -a 'tls-optional' \"\${f%.d}.e\" && { once; wait_for 10 a_empty; }"

test_expect_success "dsmtp-log failures groups the REQUIRETLS refusals under their own cause" "
	'$DSMTP_LOG' failures '$TRASH/a/logs/send' >'$TRASH/failures' && cat '$TRASH/failures' &&
	grep -q 'policy requiretls: next hop does not offer REQUIRETLS' '$TRASH/failures' &&
	grep -q 'policy requiretls: next hop not authenticated by DANE, MTA-STS or an admin route' '$TRASH/failures'"

finish
