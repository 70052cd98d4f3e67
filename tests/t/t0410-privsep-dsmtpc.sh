#!/bin/sh
# t0410-privsep-dsmtpc: dsmtpc started as root with `user: dsmtp` (DESIGN.md
# 13.4) delivers as dsmtp and presents its client certificate through the
# key process: RSA, ECDSA P-256 and P-384 and Ed25519 client keys, each
# verified by a dsmtpd (itself privilege-separated) that requests it; the
# delivering process cannot open the key and holds no copy of it; SIGHUP
# replaces the certificate and key; a missing user is exit 78.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-privsep.sh"
privsep_setup
GEN="$top_builddir/tests/unit/spool_gen"
test -x "$GEN" || framework_failure_ "$GEN was not built"

for t in server rsa p256 p384 ed; do
	case $t in
	rsa) a="-newkey rsa:2048" ;;
	p384) a="-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
	ed) a="-newkey ed25519" ;;
	*) a="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
	esac
	# shellcheck disable=SC2086
	mkcert $t $a || framework_failure_ "openssl req $t"
done
cat "$k"/rsa.pem "$k"/p256.pem "$k"/p384.pem "$k"/ed.pem >"$k/clients.pem"

# the receiver: asks for a client certificate, trusts the four
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

# c_config NAME: a sender presenting NAME's certificate
c_config() {
	cat >"$TRASH/c-$1.yaml" <<EOF
hostname: $1.test
state_dir: $TRASH/c-$1
user: ${2:-dsmtp}
certificates:
  - { cert: $k/$1.pem, key: $k/$1.key }
trust:
  ca_file: $k/server.pem
send:
  client_cert: true
  connection_cache_time: 0
  routes:
    - domain: "*"
      next_hop: "[127.0.0.1]:$portB"
      tls: mandatory
EOF
}
# remote_certs: the client certificates dsmtpd B logged
remote_certs() {
	flush_plog dsmtpd >/dev/null 2>&1
	cat "$TRASH"/b/logs/receive/*.LOG 2>/dev/null | grep 'Remote certificate' || true
}
# verified NAME: B's session that got NAME.test's certificate verified its chain
verified() {
	_sid=$(grep -h "subject=CN=$1.test" "$TRASH"/b/logs/receive/*.LOG | tail -1 | cut -d, -f3)
	[ -n "$_sid" ] && grep -h ",$_sid," "$TRASH"/b/logs/receive/*.LOG | grep 'TLS verification' |
	    tee /dev/stderr | grep -q 'chain=ok'
}

for t in rsa p256 p384 ed; do
	c_config $t
	test_expect_success "$t client key: dsmtpc once (root, delivering as dsmtp) presents it, B verifies it" "
		mkdir -p '$TRASH/c-$t/queue' &&
		'$GEN' '$TRASH/c-$t/queue' --size 300 --from s@$t.test --to rcpt-$t@example.com >/dev/null &&
		'$DSMTPC' -c '$TRASH/c-$t.yaml' once >'$TRASH/c-$t.out' 2>&1; rc=\$?; cat '$TRASH/c-$t.out';
		[ \$rc = 0 ] && grep -q 'delivery runs as dsmtp' '$TRASH/c-$t.out' &&
		grep -q 'to=<rcpt-$t@example.com>.*status=sent' '$TRASH/c-$t.out' &&
		remote_certs >'$TRASH/rc-$t' && grep 'CN=$t.test' '$TRASH/rc-$t' && verified $t"
done

# dsmtpc run: its delivering process, looked at while it runs
c_config p384
mkdir -p "$TRASH/c-p384/queue"
start_bg dsmtpc "$DSMTPC" -c "$TRASH/c-p384.yaml" run
cmain=$LAST_PID
wait_for 10 "grep -q 'delivering from' '$TRASH/dsmtpc.log'" || { cat "$TRASH/dsmtpc.log"; framework_failure_ "dsmtpc run did not start"; }
ckp=$(pgrep -P "$cmain" -x dsmtp-keys)
cd_=$(pgrep -P "$cmain" -x dsmtpc)
test_expect_success "dsmtpc run: the supervisor is root, the key process and the delivery dsmtp" "
	[ -n '$ckp' ] && [ -n '$cd_' ] &&
	ps -o user= -p '$cmain' | grep -qx root && ps -o user= -p '$ckp' | grep -qx dsmtp &&
	ps -o user= -p '$cd_' | grep -qx dsmtp &&
	grep -q '^NoNewPrivs:	1' /proc/$cd_/status && grep -q '^CapEff:	0000000000000000' /proc/$cd_/status"
test_expect_success "the delivering process's uid cannot open the key; the spool is dsmtp's" "
	! setpriv --reuid=dsmtp --regid=dsmtp --init-groups cat '$k/p384.key' >/dev/null 2>&1 &&
	[ \$(stat -c %U '$TRASH/c-p384/queue') = dsmtp ] && [ \$(stat -c %U '$TRASH/c-p384/certs') = root ]"
test_expect_success "a message through dsmtpc run, then SIGHUP with a new P-384 key: the new one is presented" "
	setpriv --reuid=dsmtp --regid=dsmtp --init-groups '$GEN' '$TRASH/c-p384/queue' --size 300 \
	    --from s@p384.test --to run1@example.com >/dev/null &&
	wait_for 20 \"remote_certs | grep -c 'CN=p384.test' | grep -qx 2\" &&
	old=\$(openssl x509 -in '$k/p384.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f) &&
	cp -p '$k/p384.key' '$k/p384-old.key' &&
	mkcert p384 -newkey ec -pkeyopt ec_paramgen_curve:P-384 &&
	new=\$(openssl x509 -in '$k/p384.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f) &&
	kill -HUP '$cmain' &&
	wait_for 10 \"grep -q 'SIGHUP: certificate reloaded' '$TRASH/dsmtpc.log'\" &&
	setpriv --reuid=dsmtp --regid=dsmtp --init-groups '$GEN' '$TRASH/c-p384/queue' --size 300 \
	    --from s@p384.test --to run2@example.com >/dev/null &&
	wait_for 20 \"remote_certs | grep -q \$new\" && echo old \$old new \$new && [ \$old != \$new ]"
test_expect_success "the delivering process holds no copy of the old or the new key" "
	python3 '$srcdir/tests/t/memscan.py' '$k/p384.key' '$cd_' '$cmain' &&
	python3 '$srcdir/tests/t/memscan.py' '$k/p384-old.key' '$cd_' '$cmain' &&
	! python3 '$srcdir/tests/t/memscan.py' '$k/p384.key' '$ckp'"
kill "$cmain"
test_expect_success "SIGTERM: dsmtpc run stops, key process with it" "
	wait_for 10 '! kill -0 $cmain 2>/dev/null' && ! kill -0 '$ckp' 2>/dev/null && ! kill -0 '$cd_' 2>/dev/null"

c_config rsa no-such-dsmtp-user
test_expect_success "a user that does not exist: exit 78, naming it" "
	'$DSMTPC' -c '$TRASH/c-rsa.yaml' once >'$TRASH/bad.out' 2>&1; rc=\$?; cat '$TRASH/bad.out';
	[ \$rc = 78 ] && grep -q 'user \"no-such-dsmtp-user\" does not exist' '$TRASH/bad.out'"
kill "$(tail -1 "$TRASH/dsmtpd.pid")"
wait_for 10 "! kill -0 $(tail -1 "$TRASH/dsmtpd.pid") 2>/dev/null" || fail=1
test_expect_success "no sanitizer report from any process" "
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' '$TRASH/dsmtpc.log' '$TRASH'/c-*.out"
finish
