#!/bin/sh
# t1150-receive-msmtp: msmtp (GnuTLS) as a client of dsmtpd with STARTTLS
# required: it verifies dsmtpd's certificate and presents a client
# certificate, over TLS 1.3 and TLS 1.2 (forced by msmtp's tls_priorities);
# six messages with dot lines and 8-bit text are compared with the spool
# byte for byte, with the TLS facts and the verified client certificate in
# Received and in dsmtp-log. Without STARTTLS msmtp is refused (530) and
# nothing is spooled.
. "${srcdir:-.}/tests/t/lib.sh"
need_ msmtp
need_ certtool
need_ openssl

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
port=$(free_port)
host_config "$TRASH/d.yaml" test.example.org "$TRASH/state-$port" "$port" <<EOF
  tls: required
  accepted_domains: [ example.org ]
  relay: { networks: [] }
  workers: 1
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"
queue="$TRASH/state-$port/queue"

# msmtp's configuration: one account per TLS version, one without TLS
cat >"$TRASH/msmtprc" <<EOF
defaults
host localhost
port $port
from a@sender.test
auth off
tls on
tls_starttls on
tls_trust_file $pki/ca.pem
tls_cert_file $pki/client.pem
tls_key_file $pki/client.key
logfile $TRASH/msmtp.log

account tls13
tls_priorities NORMAL:-VERS-ALL:+VERS-TLS1.3

account tls12
tls_priorities NORMAL:-VERS-ALL:+VERS-TLS1.2

account plain
tls off
EOF
chmod 600 "$TRASH/msmtprc"

# msg NAME I: a message (LF line ends, as a MUA hands it to msmtp)
msg() {
	printf 'From: <a@sender.test>\nTo: <x@example.org>\nSubject: %s %s\nDate: Fri, 27 Nov 2026 12:00:00 +0000\nMessage-ID: <%s-%s@msmtp.test>\n\n' "$1" "$2" "$1" "$2"
	printf '.\n..\n.leading dot\nline with 8 bit: gr\303\274\303\237e\ntrailing blanks   \n\n'
	seq 1 $(( $2 * 40 + 1 )) | sed "s/^/$1 message $2 line /"
}
# spooled NAME I: the .d file holding that message
spooled() { grep -l -a "^Message-ID: <$1-$2@msmtp.test>" "$queue"/*.d 2>/dev/null; }

for v in 13 12; do
	test_expect_success "msmtp (TLS 1.${v#1}) -> dsmtpd: 3 messages, each in the spool byte for byte" "
		for i in 0 1 2; do
			msg tls$v \$i | msmtp -C '$TRASH/msmtprc' -a tls$v x@example.org || exit 1
		done &&
		for i in 0 1 2; do
			f=\$(spooled tls$v \$i) && test -n \"\$f\" &&
			msg tls$v \$i | sed 's/\$/\\r/' >'$TRASH/want' &&
			spool_data \"\$f\" | sed -n '/^From: <a@sender.test>\\r\$/,\$p' >'$TRASH/got' &&
			cmp '$TRASH/want' '$TRASH/got' || exit 1
		done"
	test_expect_success "(msmtp TLS 1.${v#1}) Received: ESMTPS, TLSv1.${v#1}, msmtp's certificate verified" "
		f=\$(spooled tls$v 0) &&
		grep -q -a 'with ESMTPS id' \"\$f\" &&
		grep -q -a '^	(version=TLSv1.${v#1} cipher=' \"\$f\" &&
		grep -q -a '^	(client certificate: subject=\"CN=partner.example.net,O=partner tests\" verify=ok)' \"\$f\""
done

# dsmtp-log sees six sessions with a message each (SIGUSR1 asks dsmtpd to
# write its log out: the next poll sees it; a session's end may come later)
six_sessions() {
	kill -USR1 "$(tail -1 "$TRASH/dsmtpd.pid")" &&
	"$DSMTP_LOG" sessions --json "$TRASH/state-$port/logs" >"$TRASH/s.json" &&
	test "$(grep -c '"messages":1,' "$TRASH/s.json")" = 6
}
test_expect_success "dsmtp-log: two TLS versions, msmtp's certificate by its SHA-256, 6 messages" "
	want=\$(openssl x509 -in '$pki/client.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f) &&
	wait_for 10 six_sessions &&
	test \$(grep '\"messages\":1,' '$TRASH/s.json' | grep -c \"\\\"cert_sha256\\\":\\\"\$want\\\"\") = 6 &&
	test \$(grep -c '\"tls_version\":\"TLSv1.3\".*\"messages\":1,' '$TRASH/s.json') = 3 &&
	test \$(grep -c '\"tls_version\":\"TLSv1.2\".*\"messages\":1,' '$TRASH/s.json') = 3"

test_expect_success "msmtp without STARTTLS: refused with 530, exit status non-zero, nothing spooled" "
	n0=\$(ls '$queue' | grep -c '\\.d\$');
	msg plain 0 | msmtp -C '$TRASH/msmtprc' -a plain x@example.org >'$TRASH/plain.out' 2>&1; rc=\$?;
	cat '$TRASH/plain.out'; test \$rc != 0 &&
	grep -q '530' '$TRASH/plain.out' &&
	test -d '$queue' && test -z \"\$(spooled plain 0)\" && test \$(ls '$queue' | grep -c '\\.d\$') = \$n0"
finish
