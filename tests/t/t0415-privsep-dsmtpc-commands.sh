#!/bin/sh
# t0415-privsep-dsmtpc-commands: the dsmtpc commands other than run/once,
# started as root with `user: dsmtp` (DESIGN.md 13.4). `dsmtpc send` splits
# like run/once: its client certificate (given in the configuration or on
# the command line) is presented through the key process, dsmtpd verifies
# it (chain=ok), and the process that speaks SMTP, caught mid-session by a
# server that holds its reply to MAIL, runs as dsmtp with no way back and
# holds no copy of the private key. The spool commands (flush, queue,
# memory, tlsrpt-send) run as dsmtp: whatever they write in state_dir is
# dsmtp's, and root-owned files found there are handed to dsmtp first.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-privsep.sh"
privsep_setup
GEN="$top_builddir/tests/unit/spool_gen"
test -x "$GEN" || framework_failure_ "$GEN was not built"

mkcert server -newkey ec -pkeyopt ec_paramgen_curve:P-256 || framework_failure_ "openssl req server"
mkcert rsa -newkey rsa:2048 || framework_failure_ "openssl req rsa"
mkcert ed -newkey ed25519 || framework_failure_ "openssl req ed25519"
cat "$k/rsa.pem" "$k/ed.pem" >"$k/clients.pem"

# the receiver: asks for a client certificate, trusts both
portB=$(free_port)
cat >"$TRASH/b.yaml" <<EOF
hostname: server.test
state_dir: $TRASH/b
user: dsmtp
certificates:
  - { cert: $k/server.pem, key: $k/server.key }
trust:
  ca_file: $k/clients.pem
receive:
  listen: [ "127.0.0.1:$portB" ]
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  request_client_cert: true
  workers: 1
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/b.yaml"
wait_port 127.0.0.1 "$portB" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

# the sender's configuration: the Ed25519 certificate is its own
cat >"$TRASH/c.yaml" <<EOF
hostname: ed.test
state_dir: $TRASH/c
user: dsmtp
certificates:
  - { cert: $k/ed.pem, key: $k/ed.key }
trust:
  ca_file: $k/server.pem
send:
  client_cert: true
EOF
# verified NAME: B's session that got NAME.test's certificate verified its chain
verified() {
	flush_plog dsmtpd >/dev/null 2>&1
	_sid=$(grep -h "subject=CN=$1.test" "$TRASH"/b/logs/receive/*.LOG | tail -1 | cut -d, -f3)
	[ -n "$_sid" ] && grep -h ",$_sid," "$TRASH"/b/logs/receive/*.LOG | grep 'TLS verification' |
	    tee /dev/stderr | grep -q 'chain=ok'
}
msg() { printf 'From: <s@%s.test>\r\nTo: <%s@example.com>\r\nSubject: t0415\r\n\r\nhello\r\n' "$1" "$2"; }

test_expect_success "dsmtpc send as root, the configuration's Ed25519 certificate: delivered, B verifies it" "
	msg ed send-ed | '$DSMTPC' -c '$TRASH/c.yaml' send --server 127.0.0.1:$portB --tls mandatory \
	    --from s@ed.test --to send-ed@example.com >'$TRASH/s1.out' 2>&1; rc=\$?; cat '$TRASH/s1.out';
	[ \$rc = 0 ] && grep -q 'delivery runs as dsmtp' '$TRASH/s1.out' &&
	grep -q '^our certificate: CN=ed.test' '$TRASH/s1.out' &&
	grep -q '<send-ed@example.com>: sent' '$TRASH/s1.out' && verified ed"

test_expect_success "dsmtpc send as root, --client-cert/--client-key (RSA, a root 0600 file): delivered, verified" "
	msg rsa send-rsa | '$DSMTPC' -c '$TRASH/c.yaml' send --server 127.0.0.1:$portB --tls mandatory \
	    --client-cert '$k/rsa.pem' --client-key '$k/rsa.key' \
	    --from s@rsa.test --to send-rsa@example.com >'$TRASH/s2.out' 2>&1; rc=\$?; cat '$TRASH/s2.out';
	[ \$rc = 0 ] && grep -q 'delivery runs as dsmtp' '$TRASH/s2.out' &&
	grep -q '<send-rsa@example.com>: sent' '$TRASH/s2.out' && verified rsa &&
	! setpriv --reuid=dsmtp --regid=dsmtp --init-groups cat '$k/rsa.key' >/dev/null 2>&1"

test_expect_success "the send protocol log and state_dir are dsmtp's (certs/ root's)" "
	[ -z \"\$(find '$TRASH/c' -path '$TRASH/c/certs' -prune -o ! -user dsmtp -print)\" ] &&
	ls '$TRASH'/c/logs/send/*.LOG >/dev/null && [ \$(stat -c %U '$TRASH/c/certs') = root ]"

# dsmtp-policy probe speaks SMTP and presents our certificate too: as
# root it splits the same way (the probe itself as dsmtp, the key in the
# key process)
flush_plog dsmtpd >/dev/null 2>&1
ned=$(grep -h 'subject=CN=ed.test' "$TRASH"/b/logs/receive/*.LOG | wc -l)
test_expect_success "dsmtp-policy probe as root: runs as dsmtp, presents the Ed25519 certificate, B verifies it" "
	'$DSMTP_POLICY' -c '$TRASH/c.yaml' probe 127.0.0.1:$portB >'$TRASH/p1.out' 2>'$TRASH/p1.err'; rc=\$?;
	cat '$TRASH/p1.out' '$TRASH/p1.err'; [ \$rc = 0 ] && grep -q 'delivery runs as dsmtp' '$TRASH/p1.err' &&
	verified ed && [ \$(grep -h 'subject=CN=ed.test' '$TRASH'/b/logs/receive/*.LOG | wc -l) -gt $ned ]"

# a server that asks for the client certificate and holds MAIL: the
# sending process is caught after its handshake
hport=$(free_port)
FAKESMTP_CA="$k/clients.pem" start_bg fake python3 "$srcdir/tests/t/fakesmtp.py" hold "$hport" \
    "$TRASH/hold.log" "$k/server.pem" "$k/server.key"
wait_port 127.0.0.1 "$hport" || { cat "$TRASH/fake.log"; framework_failure_ "fakesmtp did not start"; }
msg rsa held >"$TRASH/held.eml"
(
	"$DSMTPC" -c "$TRASH/c.yaml" send --server "127.0.0.1:$hport" --tls mandatory \
	    --client-cert "$k/rsa.pem" --client-key "$k/rsa.key" --from s@rsa.test --to held@example.com \
	    <"$TRASH/held.eml" >"$TRASH/s3.out" 2>&1
	echo $? >"$TRASH/s3.rc"
) &
sh_=$!
wait_for 10 "pgrep -P $sh_ -x dsmtpc >/dev/null" || framework_failure_ "dsmtpc send did not start"
sup=$(pgrep -P "$sh_" -x dsmtpc)
PIDS="$PIDS $sup $sh_"
wait_for 20 "grep -q 'client cert CN=rsa.test' '$TRASH/hold.log'" ||
    { cat "$TRASH/hold.log" "$TRASH/s3.out" "$TRASH/fake.log"; framework_failure_ "the held session did not start"; }
child=$(pgrep -P "$sup" -x dsmtpc)
kp=$(pgrep -P "$sup" -x dsmtp-keys)
test_expect_success "mid-session: the supervisor is root, the SMTP process and the key process dsmtp" "
	cat '$TRASH/hold.log' && [ -n '$child' ] && [ -n '$kp' ] &&
	ps -o user= -p '$sup' | grep -qx root && ps -o user= -p '$child' | grep -qx dsmtp &&
	ps -o user= -p '$kp' | grep -qx dsmtp"
test_expect_success "mid-session: no way back for the SMTP process (every uid dsmtp, no capability, NoNewPrivs)" "
	grep '^Uid:' /proc/$child/status | awk -v u=$uid '{exit !(\$2==u && \$3==u && \$4==u && \$5==u)}' &&
	grep -q '^CapEff:	0000000000000000' /proc/$child/status &&
	grep -q '^CapPrm:	0000000000000000' /proc/$child/status &&
	grep -q '^NoNewPrivs:	1' /proc/$child/status"
test_expect_success "mid-session, after the handshake that signed with it: no copy of the RSA key in the SMTP process or the supervisor" "
	python3 '$srcdir/tests/t/memscan.py' '$k/rsa.key' '$child' '$sup' &&
	python3 '$srcdir/tests/t/memscan.py' '$k/ed.key' '$child' '$sup'"
test_expect_success "the scan finds what is there: the key process holds the key" "
	! python3 '$srcdir/tests/t/memscan.py' '$k/rsa.key' '$kp'"
touch "$TRASH/hold.log.go"
test_expect_success "released, the held send completes (exit 0) and the key process ends with it" "
	wait_for 20 'test -s $TRASH/s3.rc'; cat '$TRASH/s3.out';
	[ \$(cat '$TRASH/s3.rc') = 0 ] && grep -q '<held@example.com>: sent' '$TRASH/s3.out' && ! kill -0 '$kp' 2>/dev/null"

# spool commands as root: a root-owned message (as an admin's tool might
# leave) and a dsmtp-owned deferred one
q="$TRASH/c/queue"
setpriv --reuid=dsmtp --regid=dsmtp --init-groups mkdir -p "$q" || framework_failure_ "mkdir $q"
setpriv --reuid=dsmtp --regid=dsmtp --init-groups "$GEN" "$q" --size 200 --from s@ed.test \
    --to later@example.com --state pending --attempts 2 --next +3600 >"$TRASH/id1" ||
    framework_failure_ "spool_gen (dsmtp)"
"$GEN" "$q" --size 200 --from s@ed.test --to root@example.com --state pending --attempts 1 \
    --next +3600 >"$TRASH/id2" || framework_failure_ "spool_gen (root)"
test_expect_success "(setup) one envelope is root's" "
	find '$q' -user root | tee /dev/stderr | grep -q ."
ino1=$(stat -c %i "$q/$(cat "$TRASH/id1").e")
test_expect_success "dsmtpc flush as root: both messages due now, every file in the spool dsmtp's" "
	'$DSMTPC' -c '$TRASH/c.yaml' flush >'$TRASH/f.out' 2>&1; rc=\$?; cat '$TRASH/f.out';
	[ \$rc = 0 ] && grep -q 'flushed 2 messages' '$TRASH/f.out' &&
	ls -ln '$q' && [ -z \"\$(find '$q' ! -user dsmtp -print)\" ] &&
	[ -z \"\$(find '$TRASH/c' -path '$TRASH/c/certs' -prune -o ! -user dsmtp -print)\" ]"
test_expect_success "flush rewrote the envelopes (new files, so written by a dsmtp process)" "
	ino2=\$(stat -c %i '$q/'\$(cat '$TRASH/id1').e) &&
	echo before '$ino1' after \$ino2 && [ -n '$ino1' ] && [ '$ino1' != \"\$ino2\" ]"
test_expect_success "dsmtpc queue as root lists them, and leaves nothing root's behind" "
	'$DSMTPC' -c '$TRASH/c.yaml' queue >'$TRASH/q.out' 2>&1; rc=\$?; cat '$TRASH/q.out';
	[ \$rc = 0 ] && grep -q '<later@example.com>' '$TRASH/q.out' && grep -q '<root@example.com>' '$TRASH/q.out' &&
	[ -z \"\$(find '$TRASH/c' -path '$TRASH/c/certs' -prune -o ! -user dsmtp -print)\" ]"
test_expect_success "dsmtpc memory and tlsrpt-send as root: what they create in state_dir is dsmtp's" "
	'$DSMTPC' -c '$TRASH/c.yaml' memory forget example.com &&
	'$DSMTPC' -c '$TRASH/c.yaml' memory list &&
	printf 'tlsrpt:\n  enabled: true\n  organization: t0415\n  contact: a@ed.test\n' >>'$TRASH/c.yaml' &&
	rm -rf '$TRASH/c/tlsrpt' && '$DSMTPC' -c '$TRASH/c.yaml' tlsrpt-send --date 2020-01-01 &&
	test -d '$TRASH/c/tlsrpt' && ls -la '$TRASH/c' &&
	[ -z \"\$(find '$TRASH/c' -path '$TRASH/c/certs' -prune -o ! -user dsmtp -print)\" ]"
test_expect_success "a spool command with a user that does not exist: exit 78, nothing done" "
	sed 's/^user: dsmtp/user: no-such-dsmtp-user/' '$TRASH/c.yaml' >'$TRASH/bad.yaml' &&
	before=\$(stat -c %i '$q/'\$(cat '$TRASH/id1').e) &&
	{ '$DSMTPC' -c '$TRASH/bad.yaml' flush >'$TRASH/bad.out' 2>&1; rc=\$?; } ; cat '$TRASH/bad.out';
	[ \$rc = 78 ] && grep -q 'user \"no-such-dsmtp-user\" does not exist' '$TRASH/bad.out' &&
	! grep -q flushed '$TRASH/bad.out' && [ \$(stat -c %i '$q/'\$(cat '$TRASH/id1').e) = \$before ] &&
	{ msg ed x | '$DSMTPC' -c '$TRASH/bad.yaml' send --server 127.0.0.1:$portB --from s@ed.test \
	    --to x@example.com >'$TRASH/bad2.out' 2>&1; rc=\$?; } ; cat '$TRASH/bad2.out'; [ \$rc = 78 ]"
kill "$(tail -1 "$TRASH/dsmtpd.pid")"
wait_for 10 "! kill -0 $(tail -1 "$TRASH/dsmtpd.pid") 2>/dev/null" || fail=1
test_expect_success "no sanitizer report from any process" "
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' '$TRASH'/*.out"
finish
