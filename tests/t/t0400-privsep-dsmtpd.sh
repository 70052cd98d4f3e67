#!/bin/sh
# t0400-privsep-dsmtpd: started as root with `user: dsmtp` (DESIGN.md 13.4),
# dsmtpd's workers run as dsmtp with no way back, cannot open the key
# files, and hold no copy of any private key in memory (searched in
# /proc/PID/mem, both byte orders); the key process signs for them:
# handshakes pass with RSA (TLS 1.2 PKCS#1, TLS 1.2 RSA key exchange,
# TLS 1.3 RSA-PSS), ECDSA P-256 and P-384 and Ed25519 keys, with openssl
# s_client and gnutls-cli, each certificate chosen by SNI; SIGHUP
# replaces a certificate and key; a user that does not exist is exit 78.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-privsep.sh"
need_ gnutls-cli
privsep_setup

# one self-signed certificate per key type, each named by its own SNI
mkcert rsa -newkey rsa:2048 || framework_failure_ "openssl req rsa"
mkcert p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256 || framework_failure_ "openssl req p256"
mkcert p384 -newkey ec -pkeyopt ec_paramgen_curve:P-384 || framework_failure_ "openssl req p384"
mkcert ed -newkey ed25519 || framework_failure_ "openssl req ed25519"

port=$(free_port)
cat >"$TRASH/d.yaml" <<EOF
hostname: p256.test
state_dir: $TRASH/state
user: dsmtp
certificates:
  - { cert: $k/p256.pem, key: $k/p256.key }
  - { cert: $k/rsa.pem, key: $k/rsa.key }
  - { cert: $k/p384.pem, key: $k/p384.key }
  - { cert: $k/ed.pem, key: $k/ed.key }
receive:
  listen: [ "127.0.0.1:$port" ]
  workers: 2
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
main=$LAST_PID
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }
# one key process per worker slot (two workers: two key processes)
kps=$(pgrep -P "$main" -x dsmtp-keys | tr '\n' ' ')
kp=${kps%% *}
workers=$(pgrep -P "$main" -x dsmtpd | tr '\n' ' ')
[ -n "$kp" ] && [ -n "$workers" ] || { cat "$TRASH/dsmtpd.log"; framework_failure_ "no key process or workers"; }

# ossl NAME VERSION [openssl args]: a handshake with SNI NAME.test, the
# certificate verified against itself; prints what was negotiated
ossl() {
	_n=$1 _v=$2; shift 2
	echo QUIT | timeout 10 openssl s_client -starttls smtp -connect "127.0.0.1:$port" -brief \
	    -servername "$_n.test" -CAfile "$k/$_n.pem" -verify_return_error "-$_v" "$@" 2>&1
}
# gtls NAME PRIORITY: the same with gnutls-cli
gtls() {
	timeout 10 gnutls-cli --starttls-proto=smtp -p "$port" --sni-hostname="$1.test" \
	    --verify-hostname="$1.test" --x509cafile="$k/$1.pem" --priority "$2" 127.0.0.1 </dev/null 2>&1
}

test_expect_success "the workers and the key processes (one per worker) run as dsmtp, the parent stays root" "
	[ \$(echo $kps | wc -w) = 2 ] &&
	for p in $kps; do ps -o user= -p \$p | grep -qx dsmtp || exit 1; done &&
	grep -q 'private keys only in the key processes [0-9]*, [0-9]*\$' '$TRASH/dsmtpd.log' &&
	for w in $workers; do ps -o user= -p \$w | grep -qx dsmtp || exit 1; done &&
	ps -o user= -p '$main' | grep -qx root &&
	grep -q 'workers run as dsmtp' '$TRASH/dsmtpd.log'"

test_expect_success "no way back: every uid is dsmtp's, no capability, no new privileges; the key process is not dumpable" "
	for p in $workers $kps; do
		grep '^Uid:' /proc/\$p/status | awk -v u=$uid '{exit !(\$2==u && \$3==u && \$4==u && \$5==u)}' &&
		grep -q '^CapEff:	0000000000000000' /proc/\$p/status &&
		grep -q '^CapPrm:	0000000000000000' /proc/\$p/status &&
		grep -q '^NoNewPrivs:	1' /proc/\$p/status || { cat /proc/\$p/status; exit 1; }
	done &&
	for p in $kps; do [ \$(stat -c %U /proc/\$p/mem) = root ] || exit 1; done"

test_expect_success "a worker's uid and groups cannot open the key files, but can read the certificates" "
	w=\$(echo $workers | cut -d' ' -f1) &&
	wu=\$(awk '/^Uid:/{print \$2}' /proc/\$w/status) && wg=\$(awk '/^Gid:/{print \$2}' /proc/\$w/status) &&
	groups=\$(awk '/^Groups:/{for(i=2;i<=NF;i++) printf \"%s%s\", (i>2?\",\":\"\"), \$i}' /proc/\$w/status) &&
	for t in rsa p256 p384 ed; do
		! setpriv --reuid=\$wu --regid=\$wg --groups=\${groups:-\$wg} cat '$k/'\$t.key >/dev/null 2>&1 &&
		setpriv --reuid=\$wu --regid=\$wg --groups=\${groups:-\$wg} cat '$k/'\$t.pem >/dev/null || exit 1
	done &&
	setpriv --reuid=\$wu --regid=\$wg --groups=\${groups:-\$wg} ls '$TRASH/state/certs' >/dev/null"

test_expect_success "RSA: TLS 1.3 (RSA-PSS) and TLS 1.2 (ECDHE-RSA, PKCS#1) with openssl s_client" "
	ossl rsa tls1_3 >'$TRASH/o1' ; cat '$TRASH/o1' &&
	grep -q 'Protocol version: TLSv1.3' '$TRASH/o1' && grep -q 'Signature type: RSA-PSS' '$TRASH/o1' &&
	grep -q 'Peer certificate: CN = rsa.test' '$TRASH/o1' &&
	ossl rsa tls1_2 -sigalgs RSA+SHA256 -cipher ECDHE-RSA-AES128-GCM-SHA256 >'$TRASH/o2' ; cat '$TRASH/o2' &&
	grep -q 'Protocol version: TLSv1.2' '$TRASH/o2' && grep -q 'Signature type: RSA\$' '$TRASH/o2' &&
	grep -q 'Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256' '$TRASH/o2'"

test_expect_success "RSA key exchange (TLS 1.2, enabled by the priority string): the key process decrypts" "
	ossl rsa tls1_2 -cipher AES256-GCM-SHA384 >'$TRASH/o3' ; cat '$TRASH/o3' &&
	grep -q 'Ciphersuite: AES256-GCM-SHA384' '$TRASH/o3' && grep -q 'CONNECTION ESTABLISHED' '$TRASH/o3'"

test_expect_success "ECDSA P-256, P-384 and Ed25519 over TLS 1.3 and 1.2 with openssl s_client" "
	for t in p256 p384 ed; do for v in tls1_3 tls1_2; do
		ossl \$t \$v >'$TRASH/o4' ; cat '$TRASH/o4'
		grep -q 'CONNECTION ESTABLISHED' '$TRASH/o4' &&
		grep -q \"Peer certificate: CN = \$t.test\" '$TRASH/o4' || exit 1
	done; done &&
	ossl ed tls1_3 | grep -qi 'Signature type: Ed25519' &&
	ossl p384 tls1_3 | grep -q 'Signature type: ECDSA'"

test_expect_success "every key type with gnutls-cli, TLS 1.3 and TLS 1.2" "
	for t in rsa p256 p384 ed; do for v in TLS1.3 TLS1.2; do
		# TLS 1.2: only the suites of the key's type (else the server may
		# pick an ECDSA suite, and the certificate with it, before SNI)
		kx=ECDHE-ECDSA; [ \$t = rsa ] && kx=ECDHE-RSA
		gtls \$t \"NORMAL:-VERS-ALL:+VERS-\$v:-KX-ALL:+\$kx\" >'$TRASH/g' ; cat '$TRASH/g'
		grep -q \"Description: (\$v\" '$TRASH/g' && grep -q 'Handshake was completed' '$TRASH/g' &&
		grep -q \"subject \\\`CN=\$t.test'\" '$TRASH/g' || exit 1
	done; done &&
	gtls rsa 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA384' | grep -q 'RSA-PSS-RSAE-SHA384'"

test_expect_success "after the handshakes, no worker (nor the parent) holds a copy of any private key" "
	for t in rsa p256 p384 ed; do python3 '$srcdir/tests/t/memscan.py' '$k/'\$t.key $workers '$main' || exit 1; done"

test_expect_success "the scan finds what is there: each key process holds every key" "
	for p in $kps; do for t in rsa p256 p384 ed; do
		! python3 '$srcdir/tests/t/memscan.py' '$k/'\$t.key \$p || exit 1
	done; done"

# SIGHUP: a new P-256 key and certificate in the same files
old=$(openssl x509 -in "$k/p256.pem" -noout -fingerprint -sha256)
mkcert p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256 || framework_failure_ "openssl req p256 (new)"
new=$(openssl x509 -in "$k/p256.pem" -noout -fingerprint -sha256)
nhup=$(grep -c 'SIGHUP: certificates and trust reloaded' "$TRASH/dsmtpd.log")
kill -HUP "$main"
test_expect_success "SIGHUP with a new P-256 key and certificate: served, and still no key in the workers" "
	wait_for 10 \"test \\\$(grep -c 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd.log') -ge $((nhup + 2))\" &&
	for i in 1 2 3 4; do
		echo QUIT | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$port -servername p256.test \
		    -CAfile '$k/p256.pem' -verify_return_error 2>/dev/null | openssl x509 -noout -fingerprint -sha256 >'$TRASH/fp' &&
		cat '$TRASH/fp' && [ \"\$(cat '$TRASH/fp')\" = '$new' ] && [ '$old' != '$new' ] || exit 1
	done &&
	workers=\$(pgrep -P '$main' -x dsmtpd | tr '\\n' ' ') &&
	python3 '$srcdir/tests/t/memscan.py' '$k/p256.key' \$workers '$main'"

badport=$(free_port)
sed "s/^user: dsmtp/user: no-such-dsmtp-user/; s/:$port\"/:$badport\"/" "$TRASH/d.yaml" >"$TRASH/bad.yaml"
test_expect_success "a user that does not exist: exit 78, and the message names it" "
	{ '$DSMTPD' -c '$TRASH/bad.yaml' 2>'$TRASH/bad.err'; rc=\$?; } ; cat '$TRASH/bad.err';
	[ \"\$rc\" = 78 ] && grep -q 'user \"no-such-dsmtp-user\" does not exist' '$TRASH/bad.err'"

test_expect_success "kill -9 of a key process: another one starts, new workers sign through it" "
	kill -9 '$kp' &&
	wait_for 10 \"grep -q 'the key process ended' '$TRASH/dsmtpd.log'\" &&
	wait_for 10 \"test \\\$(grep -c 'started in its place' '$TRASH/dsmtpd.log') -ge 2\" &&
	k2=\$(pgrep -P $main -x dsmtp-keys | tr '\\n' ' ') && [ \$(echo \$k2 | wc -w) = 2 ] &&
	case \" \$k2\" in *' $kp '*) exit 1 ;; esac &&
	[ \$(pgrep -P $main -x dsmtpd | wc -l) = 2 ] && for w in $workers; do ! kill -0 \$w 2>/dev/null || exit 1; done &&
	for t in rsa p256 ed; do
		ossl \$t tls1_3 >'$TRASH/o5' ; grep -q 'CONNECTION ESTABLISHED' '$TRASH/o5' || { cat '$TRASH/o5'; exit 1; }
	done"

kps=$(pgrep -P "$main" -x dsmtp-keys | tr '\n' ' ')
kill "$main"
wait_for 10 "! kill -0 $main 2>/dev/null" || fail=1
test_expect_success "SIGTERM: the key processes end with the parent" "
	[ -n '$kps' ] && for p in $kps; do ! kill -0 \$p 2>/dev/null || exit 1; done"

# the store instead of configured files: the first start makes the default
# certificate (in a child of the root parent), the key stays root's, and
# a certificate enabled later with dsmtp-cert is served after SIGHUP
sport=$(free_port)
cat >"$TRASH/s.yaml" <<EOF
hostname: store.test
state_dir: $TRASH/sstate
user: dsmtp
receive:
  listen: [ "127.0.0.1:$sport" ]
  workers: 2
EOF
start_bg dsmtpd-s "$DSMTPD" -c "$TRASH/s.yaml"
smain=$LAST_PID
wait_port 127.0.0.1 "$sport" || { cat "$TRASH/dsmtpd-s.log"; framework_failure_ "dsmtpd (store) did not start"; }
served_s() {
	echo QUIT | timeout 10 openssl s_client -starttls smtp -connect "127.0.0.1:$sport" 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha1 2>/dev/null | sed 's/.*=//; s/://g' | tr A-F a-f
}
test_expect_success "store: the default certificate is made, served, its key root's 0600 in a root:dsmtp 0750 certs/" "
	grep -q 'created a self-signed certificate' '$TRASH/dsmtpd-s.log' &&
	first=\$(cat '$TRASH/sstate/certs/enabled') && [ \"\$(served_s)\" = \"\$first\" ] &&
	[ \"\$(stat -c '%U:%G %a' '$TRASH/sstate/certs')\" = \"root:\$(id -gn dsmtp) 750\" ] &&
	[ \"\$(stat -c '%U %a' '$TRASH/sstate/certs/'\$first.key)\" = 'root 600' ] &&
	[ \"\$(stat -c '%U' '$TRASH/sstate/queue')\" = dsmtp ] &&
	python3 '$srcdir/tests/t/memscan.py' '$TRASH/sstate/certs/'\$first.key \$(pgrep -P $smain -x dsmtpd) '$smain'"
test_expect_success "store: dsmtp-cert new (RSA), enabled alone, SIGHUP: every worker serves it" "
	'$DSMTP_CERT' -c '$TRASH/s.yaml' request --subject CN=pending.test --san pending.test --out '$TRASH/p.csr' &&
	ls '$TRASH/sstate/certs/pending/'*.key &&
	old=\$(cat '$TRASH/sstate/certs/enabled') &&
	'$DSMTP_CERT' -c '$TRASH/s.yaml' new --key rsa-2048 >'$TRASH/new.out' 2>&1; cat '$TRASH/new.out';
	sha=\$(ls '$TRASH/sstate/certs/' | sed -n 's/^\\([0-9a-f]\\{40\\}\\)\\.pem\$/\\1/p' | grep -vx \$old) && echo new \$sha &&
	'$DSMTP_CERT' -c '$TRASH/s.yaml' enable \$sha && '$DSMTP_CERT' -c '$TRASH/s.yaml' disable \$old &&
	grep -qx \$sha '$TRASH/sstate/certs/enabled' &&
	n=\$(grep -c 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd-s.log'); kill -HUP $smain &&
	wait_for 10 \"test \\\$(grep -c 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd-s.log') -ge \$((n + 2))\" &&
	for i in 1 2 3 4; do [ \"\$(served_s)\" = \$sha ] || exit 1; done &&
	python3 '$srcdir/tests/t/memscan.py' '$TRASH/sstate/certs/'\$sha.key \$(pgrep -P $smain -x dsmtpd) '$smain'"
test_expect_success "store: a pending request's key (dsmtp-cert request) is parsed by no process of dsmtpd" "
	for f in '$TRASH/sstate/certs/pending/'*.key; do
		python3 '$srcdir/tests/t/memscan.py' \$f \$(pgrep -P $smain) '$smain' || exit 1
	done"
kill "$smain"
wait_for 10 "! kill -0 $smain 2>/dev/null" || fail=1
test_expect_success "no sanitizer report from any process" "
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log' '$TRASH/dsmtpd-s.log'"
finish
