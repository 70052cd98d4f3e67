#!/bin/sh
# t2500-send-levels: "dsmtpc send" against real dsmtpd receivers on
# loopback, at every TLS level of DESIGN.md section 6, for success and for
# each failure the level must catch: no STARTTLS (STRIPTLS), a wrong name,
# an expired chain, a SAN that does not cover the domain, a wrong pin, a
# certificate whose extended key usage lacks serverAuth. A
# failure must defer (exit 75) and leave nothing at the far end; a refusal
# is permanent (69); SIZE is honoured before a byte of DATA is sent.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool
need_ openssl

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"

# start_receiver NAME CERT KEY TLS [extra yaml]: a dsmtpd on a free port
start_receiver() {
	_port=$(free_port)
	host_config "$TRASH/$1.yaml" mail.example.com "$TRASH/$1" "$_port" "$2" "$3" <<EOF
  tls: $4
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
  max_message_size: 100000
${5:-}
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
	wait_port 127.0.0.1 "$_port" || { cat "$TRASH/$1.log"; framework_failure_ "dsmtpd $1 did not start"; }
	eval "port_$1=$_port"
}

start_receiver good "$pki/server-chain.pem" "$pki/server.key" opportunistic
start_receiver wrong "$pki/wrongname.pem" "$pki/wrongname.key" opportunistic
start_receiver expired "$pki/expired.pem" "$pki/expired.key" opportunistic
start_receiver plain "$pki/server-chain.pem" "$pki/server.key" none
start_receiver purpose "$pki/clientonly.pem" "$pki/clientonly.key" opportunistic
cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/c
trust:
  ca_file: $pki/ca-bundle.pem
EOF
pin=$("$DSMTP_CERT" pin "$pki/server.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
wrongpin=$("$DSMTP_CERT" pin "$pki/wrongname.pem" 2>/dev/null | grep '^sha256/')
export DSMTPC_TIMEOUT=10

# snd NAME HOST PORT [dsmtpc send args]: a message with Subject NAME
snd() {
	_n=$1 _h=$2 _p=$3; shift 3
	printf 'Subject: %s\r\nMessage-ID: <%s@client.example.org>\r\n\r\nbody of %s\r\n' "$_n" "$_n" "$_n" |
	    "$DSMTPC" -c "$TRASH/c.yaml" send --server "$_h:$_p" --from a@example.org \
	    --to x@example.com "$@" >"$TRASH/$_n.out" 2>&1
	echo $? >"$TRASH/$_n.rc"
}
rc_is() { test "$(cat "$TRASH/$1.rc")" = "$2" || { cat "$TRASH/$1.out"; return 1; }; }
# the message with that subject sits in receiver R's spool
CR=$(printf '\r')
arrived() { grep -l -a "^Subject: $2$CR\$" "$TRASH/$1"/queue/*.d >/dev/null 2>&1; }
spooled() { grep -l -a "^Subject: $2" "$TRASH/$1"/queue/*.d; }

test_expect_success "none: plaintext even though STARTTLS is offered" "
	snd t-none localhost \$port_good --tls none && rc_is t-none 0 &&
	grep -q '^TLS: none (level none)' '$TRASH/t-none.out' &&
	f=\$(spooled good t-none) && grep -q -a 'with ESMTP id' \"\$f\""

test_expect_success "opportunistic: TLS when offered, facts printed" "
	snd t-opp localhost \$port_good --tls opportunistic && rc_is t-opp 0 &&
	grep -q '^TLS: TLSv1.3' '$TRASH/t-opp.out' &&
	grep -q '^peer certificate: CN=mail.example.com' '$TRASH/t-opp.out' &&
	grep -q '^SANs: mail.example.com example.com localhost' '$TRASH/t-opp.out' &&
	grep -q '^SPKI pin: $pin' '$TRASH/t-opp.out' &&
	grep -q '^policy: level opportunistic, pass' '$TRASH/t-opp.out' &&
	grep -q 'Trusted TLS connection established to localhost\[127.0.0.1\]:' '$TRASH/t-opp.out' &&
	f=\$(spooled good t-opp) && grep -q -a 'with ESMTPS id' \"\$f\""

test_expect_success "opportunistic: no STARTTLS offered, plaintext" "
	snd t-opp-plain localhost \$port_plain --tls opportunistic && rc_is t-opp-plain 0 &&
	grep -q '^TLS: none (STARTTLS not offered)' '$TRASH/t-opp-plain.out' &&
	arrived plain t-opp-plain"

test_expect_success "opportunistic: a failed handshake is retried once in plaintext" "
	p=\$(free_port) &&
	{ python3 '$srcdir/tests/t/fakesmtp.py' badtls \$p '$TRASH/badtls.log' & echo \$! >'$TRASH/fake1.pid'; } &&
	wait_port 127.0.0.1 \$p &&
	snd t-badtls 127.0.0.1 \$p --tls opportunistic && rc_is t-badtls 0 &&
	grep -q 'retrying in plaintext' '$TRASH/t-badtls.out' &&
	grep -q '^2 STARTTLS' '$TRASH/badtls.log' && ! grep -q '^2 MAIL' '$TRASH/badtls.log' &&
	grep -q '^3 MAIL FROM:<a@example.org>' '$TRASH/badtls.log' &&
	grep -q '^3 -- message' '$TRASH/badtls.log'"

test_expect_success "mandatory: STARTTLS missing (dsmtpd without TLS) defers, nothing sent" "
	snd t-mand-strip localhost \$port_plain --tls mandatory && rc_is t-mand-strip 75 &&
	grep -q 'TLS is required, but was not offered by host localhost\[127.0.0.1\]' '$TRASH/t-mand-strip.out' &&
	! arrived plain t-mand-strip"

test_expect_success "mandatory: STRIPTLS by a man in the middle: no envelope byte in plaintext" "
	p=\$(free_port) &&
	{ python3 '$srcdir/tests/t/fakesmtp.py' striptls \$p '$TRASH/strip.log' & echo \$! >'$TRASH/fake2.pid'; } &&
	wait_port 127.0.0.1 \$p &&
	snd t-strip 127.0.0.1 \$p --tls mandatory && rc_is t-strip 75 &&
	grep -q '^2 EHLO client.example.org' '$TRASH/strip.log' &&
	! grep -q 'MAIL\|RCPT\|DATA' '$TRASH/strip.log' && grep -q '^2 QUIT' '$TRASH/strip.log'"

test_expect_success "mandatory: any certificate will do (wrong name accepted)" "
	snd t-mand localhost \$port_wrong --tls mandatory && rc_is t-mand 0 && arrived wrong t-mand"

test_expect_success "verify: trusted chain and the host name" "
	snd t-verify localhost \$port_good --tls verify && rc_is t-verify 0 &&
	grep -q '^policy: level verify, pass: ok: verified chain and host name localhost' '$TRASH/t-verify.out' &&
	grep -q 'Verified TLS connection established to localhost' '$TRASH/t-verify.out' &&
	arrived good t-verify"

test_expect_success "verify: a wrong name defers and nothing arrives" "
	snd t-verify-wrong localhost \$port_wrong --tls verify && rc_is t-verify-wrong 75 &&
	grep -q 'hostname-mismatch: wanted localhost, saw other.example.net' '$TRASH/t-verify-wrong.out' &&
	! arrived wrong t-verify-wrong"

test_expect_success "verify: a certificate whose extended key usage lacks serverAuth defers (wrong-purpose)" "
	snd t-verify-eku localhost \$port_purpose --tls verify && rc_is t-verify-eku 75 &&
	grep -q \"wrong-purpose: the certificate's extended key usage does not include serverAuth\" '$TRASH/t-verify-eku.out' &&
	! arrived purpose t-verify-eku &&
	snd t-mand-eku localhost \$port_purpose --tls mandatory && rc_is t-mand-eku 0 &&
	arrived purpose t-mand-eku"

test_expect_success "verify: an expired chain defers" "
	snd t-verify-exp localhost \$port_expired --tls verify && rc_is t-verify-exp 75 &&
	grep -q 'policy: level verify, fail: chain: .*expired' '$TRASH/t-verify-exp.out' &&
	! arrived expired t-verify-exp"

test_expect_success "domain-secure: our client certificate, the domain among the SANs" "
	snd t-ds localhost \$port_good --tls domain-secure --domain example.com \
	    --client-cert '$pki/client.pem' --client-key '$pki/client.key' && rc_is t-ds 0 &&
	grep -q 'policy: level domain-secure, pass: ok: domain-secure example.com' '$TRASH/t-ds.out' &&
	grep -q '^our certificate: CN=partner.example.net' '$TRASH/t-ds.out' &&
	f=\$(spooled good t-ds) && grep -q -a 'subject=\"CN=partner.example.net' \"\$f\""

test_expect_success "domain-secure: a SAN mismatch defers and names the SANs seen" "
	snd t-ds-san localhost \$port_good --tls domain-secure --domain contoso.com \
	    --client-cert '$pki/client.pem' --client-key '$pki/client.key' && rc_is t-ds-san 75 &&
	grep -q 'san-mismatch: wanted contoso.com (match exact), saw mail.example.com,example.com,localhost' '$TRASH/t-ds-san.out' &&
	! arrived good t-ds-san"

test_expect_success "domain-secure: without a client certificate it fails closed" "
	snd t-ds-nocert localhost \$port_good --tls domain-secure --domain example.com && rc_is t-ds-nocert 75 &&
	grep -q 'no-client-cert' '$TRASH/t-ds-nocert.out' && ! arrived good t-ds-nocert"

test_expect_success "pinned: the right pin passes, with no CA and no name (127.0.0.1)" "
	snd t-pin 127.0.0.1 \$port_good --pin '$pin' && rc_is t-pin 0 &&
	grep -q 'policy: level pinned, pass: ok: pinned' '$TRASH/t-pin.out' && arrived good t-pin"

test_expect_success "pinned: a wrong pin defers" "
	snd t-pin-wrong 127.0.0.1 \$port_good --pin '$wrongpin' && rc_is t-pin-wrong 75 &&
	grep -q 'pin-mismatch: saw $pin' '$TRASH/t-pin-wrong.out' && ! arrived good t-pin-wrong"

test_expect_success "a refused recipient is permanent: exit 69 with the server's reply" "
	printf 'Subject: t-relay\r\n\r\nx\r\n' | '$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:\$port_good \
	    --from a@example.org --to x@elsewhere.net --tls opportunistic >'$TRASH/relay.out' 2>&1;
	test \$? = 69 && grep -q '<x@elsewhere.net>: failed (554 5.7.1' '$TRASH/relay.out'"

test_expect_success "SIZE: a message over the server's limit is not sent (69, no DATA)" "
	python3 -c 'import sys; sys.stdout.write(\"Subject: t-big\r\n\r\n\" + (\"x\" * 998 + \"\r\n\") * 200)' |
	    '$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:\$port_good --from a@example.org \
	    --to x@example.com --tls opportunistic >'$TRASH/big.out' 2>&1;
	test \$? = 69 && grep -q 'exceeds size limit 100000' '$TRASH/big.out' && ! arrived good t-big"

test_expect_success "the body arrives byte for byte: dot-stuffing, LF to CRLF, final CRLF added" "
	printf 'Subject: t-body\n\n.leading dot\n..two dots\n.\nlast line without newline' >'$TRASH/body.in' &&
	'$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:\$port_good --from a@example.org \
	    --to x@example.com --tls opportunistic <'$TRASH/body.in' >'$TRASH/body.out' 2>&1 &&
	f=\$(spooled good t-body) &&
	spool_data \"\$f\" | sed -n '/^Subject: t-body/,\$p' >'$TRASH/body.got' &&
	printf 'Subject: t-body\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nlast line without newline\r\n' >'$TRASH/body.want' &&
	cmp '$TRASH/body.want' '$TRASH/body.got'"

test_expect_success "the send protocol log has the session: commands, replies, TLS, policy" "
	logf=\$(ls '$TRASH'/c/logs/send/SEND*.LOG | head -1) &&
	grep -q ',>,MAIL FROM:<a@example.org>' \"\$logf\" && grep -q ',<,250 ' \"\$logf\" &&
	grep -q 'TLS negotiated' \"\$logf\" && grep -q 'Remote certificate' \"\$logf\" &&
	grep -q ',Policy' \"\$logf\" && grep -q 'pin-mismatch' \"\$logf\" &&
	! grep -q 'body of t-' \"\$logf\""

test_expect_success "usage errors exit 64" "
	'$DSMTPC' send --from a@b </dev/null >/dev/null 2>&1; test \$? = 64 &&
	'$DSMTPC' send --server x:1 --from a@b --to c@d --tls bogus </dev/null >/dev/null 2>&1; test \$? = 64"
finish
