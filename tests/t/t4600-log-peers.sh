#!/bin/sh
# t4600-log-peers: logs.peers (issue 19, DESIGN.md 13.5): with logs.level
# none, one peer is logged verbose and another basic in the same run, in
# both programs. dsmtpd judges the client's address at connect, its EHLO
# name and its MAIL FROM domain (a domain matches its subdomains); dsmtpc
# the destination domain. SIGHUP applies a changed list to new sessions.
# Bad entries are FILE:LINE:COLUMN errors.
. "${srcdir:-.}/tests/t/lib.sh"
need_ python3

port=$(free_port)
write_d() {	# write_d LEVEL_OF_127.0.0.3
	cat >"$TRASH/d.yaml" <<EOF
hostname: mail.example.com
state_dir: $TRASH/d
receive:
  listen: [ "127.0.0.1:$port" ]
  accepted_domains: [ example.com ]
  workers: 2
logs:
  level: none
  peers:
    - { match: 127.0.0.2, level: verbose }
    - { match: 127.0.0.3/32, level: $1 }
    - { match: partner.example, level: verbose }
    - { match: sender.example, level: basic }
EOF
}
write_d basic
L="$TRASH/d/logs"
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"

# sess SRC EHLO FROM: one session from address SRC with NOOP, one message
cat >"$TRASH/sess.py" <<'PY'
import smtplib, sys
port, src, helo, frm = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = smtplib.SMTP('127.0.0.1', port, local_hostname=helo, source_address=(src, 0), timeout=20)
s.ehlo()
s.noop()
s.sendmail(frm, ['b@example.com'], 'Subject: t4500\r\n\r\nhello\r\n')
s.quit()
PY
sess() { python3 "$TRASH/sess.py" "$port" "$@"; }

# show DIR SUBDIR: per session, its remote address (receive) or first RCPT
# (send) and what it logged: "+" if it has a connect record, then the
# flags for EHLO, 250-PIPELINING, NOOP (basic drops it), MAIL, and a
# "Next hop" record (send; basic drops it)
cat >"$TRASH/show.py" <<'PY'
import csv, glob, sys
recs = {}
for f in sorted(glob.glob(sys.argv[1] + '/' + sys.argv[2] + '/*.LOG')):
    for r in csv.reader(open(f, encoding='utf-8', newline='')):
        if r and not r[0].startswith('#'):
            recs.setdefault(r[2], []).append(r)
for sid, rs in recs.items():
    key = rs[0][5].rsplit(':', 1)[0]
    for r in rs:
        if r[7].upper().startswith('RCPT TO:'):
            if sys.argv[2] == 'send':
                key = r[7]
    data = [r[7] for r in rs]
    flags = ['+' if any(r[6] == '+' for r in rs) else '-']
    for word in ('EHLO', '250-PIPELINING', 'NOOP', 'MAIL FROM'):
        flags.append(word if any(d.upper().startswith(word) for d in data) else '!' + word)
    flags.append('Next-hop' if any(r[8] == 'Next hop' for r in rs) else '!Next-hop')
    print(key, ' '.join(flags))
PY

test_expect_success "receive: bad logs.peers entries are FILE:LINE:COLUMN errors" "
	printf 'logs:\n  peers:\n    - { match: 10.0.0.0/33, level: verbose }\n    - { match: x.example, level: loud }\n    - { level: basic }\n' >'$TRASH/bad.yaml' &&
	! '$DSMTPD' -c '$TRASH/bad.yaml' --check-config 2>'$TRASH/bad.err' && cat '$TRASH/bad.err' &&
	grep -q 'bad.yaml:3:16: logs.peers\[0\]: \"10.0.0.0/33\": prefix length' '$TRASH/bad.err' &&
	grep -q 'bad.yaml:4:34: logs.peers\[1\].level: unknown value \"loud\"' '$TRASH/bad.err' &&
	grep -q 'bad.yaml:5:7: logs.peers\[2\]: both match: and level: are required' '$TRASH/bad.err' &&
	test \$(wc -l <'$TRASH/bad.err') = 3"

test_expect_success "--print-config round-trips logs.peers" "
	'$DSMTPD' -c '$TRASH/d.yaml' --print-config >'$TRASH/p1.yaml' &&
	'$DSMTPD' -c '$TRASH/p1.yaml' --print-config >'$TRASH/p2.yaml' &&
	cmp '$TRASH/p1.yaml' '$TRASH/p2.yaml' &&
	grep -q 'match: \"127.0.0.3/32\", level: basic' '$TRASH/p1.yaml'"

test_expect_success "receive: one peer verbose, another basic, the rest not at all, in one run" "
	sess 127.0.0.2 h2.example a@x.example &&
	sess 127.0.0.3 h3.example a@x.example &&
	sess 127.0.0.4 mx.partner.example a@x.example &&
	sess 127.0.0.5 h5.example a@x.example &&
	sess 127.0.0.6 h6.example a@mail.sender.example &&
	flush_plog dsmtpd && python3 '$TRASH/show.py' '$L' receive | sort >'$TRASH/r1' && cat '$TRASH/r1' &&
	grep -qx '127.0.0.2 + EHLO 250-PIPELINING NOOP MAIL FROM !Next-hop' '$TRASH/r1' &&
	grep -qx '127.0.0.3 + EHLO 250-PIPELINING !NOOP MAIL FROM !Next-hop' '$TRASH/r1' &&
	grep -qx '127.0.0.4 - EHLO 250-PIPELINING NOOP MAIL FROM !Next-hop' '$TRASH/r1' &&
	grep -qx '127.0.0.6 - !EHLO !250-PIPELINING !NOOP MAIL FROM !Next-hop' '$TRASH/r1' &&
	! grep -q '^127.0.0.5 ' '$TRASH/r1' && test \$(wc -l <'$TRASH/r1') = 4"

test_expect_success "receive: SIGHUP makes 127.0.0.3 verbose for its new sessions" "
	write_d verbose && n=\$(grep -c 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd.log' || :) &&
	kill -HUP $dpid &&
	wait_for 10 'test \$(grep -c \"SIGHUP: certificates and trust reloaded\" \"$TRASH/dsmtpd.log\") -ge \$((n + 2))' &&
	sess 127.0.0.3 h3.example a@x.example &&
	flush_plog dsmtpd && python3 '$TRASH/show.py' '$L' receive | sort >'$TRASH/r2' && cat '$TRASH/r2' &&
	test \$(grep -c '^127.0.0.3 ' '$TRASH/r2') = 2 &&
	grep -qx '127.0.0.3 + EHLO 250-PIPELINING NOOP MAIL FROM !Next-hop' '$TRASH/r2' &&
	grep -qx '127.0.0.3 + EHLO 250-PIPELINING !NOOP MAIL FROM !Next-hop' '$TRASH/r2'"

# send: dsmtpc send to a second dsmtpd E, one destination domain verbose,
# another basic, a third not logged
portE=$(free_port)
make_config "$TRASH/e.yaml" "$portE" '  accepted_domains: [ a.example, b.example ]
  relay: { networks: [] }
  workers: 1
logs:
  level: none'
start_bg e "$DSMTPD" -c "$TRASH/e.yaml"
wait_port 127.0.0.1 "$portE" || framework_failure_ "dsmtpd E did not start"
cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/c
logs:
  level: none
  peers:
    - { match: a.example, level: verbose }
    - { match: b.example, level: basic }
EOF
send() {
	printf 'Subject: t4500\r\n\r\nhello\r\n' |
	"$DSMTPC" -c "$TRASH/c.yaml" send --server "127.0.0.1:$portE" --from s@client.example.org \
	    --to "$1" --tls opportunistic >/dev/null
}

test_expect_success "send: the destination domain decides: verbose, basic, none" "
	! send x@mx.a.example && send y@b.example && ! send z@c.example &&
	python3 '$TRASH/show.py' '$TRASH/c/logs' send | sort >'$TRASH/s1' && cat '$TRASH/s1' &&
	grep -qx 'RCPT TO:<x@mx.a.example> + EHLO 250-PIPELINING !NOOP MAIL FROM Next-hop' '$TRASH/s1' &&
	grep -qx 'RCPT TO:<y@b.example> + EHLO 250-PIPELINING !NOOP MAIL FROM !Next-hop' '$TRASH/s1' &&
	test \$(wc -l <'$TRASH/s1') = 2"

# send, the daemon: dsmtpc run delivers what D relayed for its loopback
# clients to E; SIGHUP makes b.example verbose
write_c() {	# write_c LEVEL_OF_b.example
	cat >"$TRASH/c2.yaml" <<EOF
hostname: mail.example.com
state_dir: $TRASH/d
send:
  connection_cache_time: 0
  routes:
    - { domain: example.com, next_hop: discard }
    - { domain: "*", next_hop: "[127.0.0.1]:$portE", tls: opportunistic }
logs:
  level: none
  peers:
    - { match: a.example, level: verbose }
    - { match: b.example, level: $1 }
EOF
}
write_c basic
start_bg dsmtpc "$DSMTPC" -c "$TRASH/c2.yaml" run
cpid=$LAST_PID
in_e() { test "$(grep -l "^To: $1" "$TRASH/state-$portE"/queue/*.d 2>/dev/null | wc -l)" = 1; }
relay() {	# relay TO: one message through D, then wait for it at E
	python3 - "$port" "$1" <<'PY' && wait_for 20 "in_e $1"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='h.example', timeout=20)
s.sendmail('s@example.com', [sys.argv[2]], 'To: %s\r\nSubject: t4500\r\n\r\nhi\r\n' % sys.argv[2])
s.quit()
PY
}

test_expect_success "send (run): a.example verbose, b.example basic; after SIGHUP b.example verbose" "
	relay x@a.example && relay y@b.example &&
	write_c verbose && kill -HUP $cpid &&
	wait_for 10 'grep -q \"SIGHUP: .*certificate\" \"$TRASH/dsmtpc.log\"' &&
	relay y2@b.example &&
	flush_plog dsmtpc && python3 '$TRASH/show.py' '$TRASH/d/logs' send | sort >'$TRASH/s2' && cat '$TRASH/s2' &&
	grep -qx 'RCPT TO:<x@a.example> + EHLO 250-PIPELINING !NOOP MAIL FROM Next-hop' '$TRASH/s2' &&
	grep -qx 'RCPT TO:<y@b.example> + EHLO 250-PIPELINING !NOOP MAIL FROM !Next-hop' '$TRASH/s2' &&
	grep -qx 'RCPT TO:<y2@b.example> + EHLO 250-PIPELINING !NOOP MAIL FROM Next-hop' '$TRASH/s2' &&
	test \$(wc -l <'$TRASH/s2') = 3"

test_expect_success "SIGTERM: clean stops, nothing for the sanitizers" "
	kill $dpid $cpid && wait_for 20 '! kill -0 $dpid 2>/dev/null && ! kill -0 $cpid 2>/dev/null' &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' '$TRASH/dsmtpc.log' '$TRASH/e.log'"
finish
