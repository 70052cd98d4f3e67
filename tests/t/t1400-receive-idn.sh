#!/bin/sh
# t1400-receive-idn: international domain names end to end (issue 14,
# finding 5). accepted_domains and routes written as U-labels or A-labels
# match recipients written in the other form; a U-label recipient under
# SMTPUTF8 is accepted, routed by dsmtpc (to a maildir, and over SMTP to a
# second dsmtpd, where it arrives as its A-label) and keeps its U-label in
# the spool; a domain with no A-label is refused at RCPT with 553 5.1.3,
# never accepted and bounced.
. "${srcdir:-.}/tests/t/lib.sh"

hport=$(free_port)
cat >"$TRASH/hub.yaml" <<EOF
hostname: hub.example
state_dir: $TRASH/hub
receive:
  listen: [ "127.0.0.1:$hport" ]
  tls: none
  accepted_domains: [ "例子.test" ]
  relay: { networks: [] }
  workers: 1
EOF
eport=$(free_port)
cat >"$TRASH/edge.yaml" <<EOF
hostname: edge.example
state_dir: $TRASH/edge
receive:
  listen: [ "127.0.0.1:$eport" ]
  tls: none
  accepted_domains: [ "bücher.example", "xn--fsqu00a.test" ]
  relay: { networks: [] }
  workers: 1
send:
  tls: opportunistic
  routes:
    - domain: xn--bcher-kva.example
      next_hop: "maildir:$TRASH/mbox"
    - domain: "例子.test"
      next_hop: "[127.0.0.1]:$hport"
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
EOF
start_bg hub "$DSMTPD" -c "$TRASH/hub.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/edge.yaml"
wait_port 127.0.0.1 "$hport" || { cat "$TRASH/hub.log"; framework_failure_ "hub did not start"; }
wait_port 127.0.0.1 "$eport" || { cat "$TRASH/edge.log"; framework_failure_ "edge did not start"; }

test_expect_success "U-label and A-label recipients are accepted for domains written the other way; no A-label: 553 5.1.3" "
	python3 - $eport <<'PY'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(10)
f = s.makefile('rb')
def cmd(line, want):
    s.sendall(line.encode('utf-8') + b'\r\n')
    while True:
        r = f.readline().decode('utf-8', 'replace')
        if r[3:4] != '-':
            break
    assert r.startswith(want), (line, r)
assert f.readline().startswith(b'220 ')
cmd('EHLO client.example', '250 ')
# without SMTPUTF8 a U-label address is refused, as before
cmd('MAIL FROM:<s@bounce.test>', '250 ')
cmd('RCPT TO:<x@bücher.example>', '553 5.6.7')
cmd('RSET', '250 ')
cmd('MAIL FROM:<s@bounce.test> SMTPUTF8', '250 ')
cmd('RCPT TO:<x@bücher.example>', '250 2.1.5')         # U-label, listed as U-label
cmd('RCPT TO:<y@xn--bcher-kva.example>', '250 2.1.5')  # A-label, listed as U-label
cmd('RCPT TO:<v@BÜCHER.example>', '250 2.1.5')         # case-folded (UTS 46)
cmd('RCPT TO:<z@例子.test>', '250 2.1.5')               # U-label, listed as A-label
cmd('RCPT TO:<w@☃.example>', '553 5.1.3')              # no A-label exists
cmd('RCPT TO:<w@-bücher.example>', '553 5.1.3')
cmd('RCPT TO:<x@bücher.invalid>', '554 5.7.1')         # converts, but not ours
cmd('DATA', '354 ')
s.sendall(b'Subject: idn\r\n\r\nbody\r\n.\r\n')
r = f.readline()
assert r.startswith(b'250 2.0.0'), r
cmd('QUIT', '221 ')
PY"

CR=$(printf '\r')
test_expect_success "the spool keeps the recipients as given (U-labels)" "
	grep -a -q 'x@bücher.example' '$TRASH'/edge/queue/*.e &&
	grep -a -q 'z@例子.test' '$TRASH'/edge/queue/*.e"

test_expect_success "dsmtpc routes them: route written as A-label to the maildir, route written as U-label to the hub" "
	'$DSMTPC' -c '$TRASH/edge.yaml' once >'$TRASH/once.out' 2>&1; rc=\$?; cat '$TRASH/once.out'; test \$rc = 0 &&
	test \$(grep -l -a '^Subject: idn' '$TRASH'/mbox/new/* | wc -l) -ge 1 &&
	grep -l -a '^Subject: idn' '$TRASH'/hub/queue/*.d >/dev/null &&
	grep -a -q 'z@xn--fsqu00a.test' '$TRASH'/hub/queue/*.e"

test_expect_success "nothing bounced" "
	! ls '$TRASH'/bounces/new/* 2>/dev/null | grep -q ."
finish
