#!/bin/sh
# t2530-send-postfix: dsmtpc delivers to a real, private Postfix instance on
# loopback (tests/t/lib-postfix.sh) with STARTTLS: "dsmtpc send" at the
# verify and pinned levels, and the spool path dsmtpd -> dsmtpc once ->
# Postfix with several messages and recipients over one connection; the
# messages are read back from Postfix's maildir and compared byte for byte.
# Postfix's own refusals (relay denied, SIZE) come back as permanent.
# Needs root for Postfix (skips otherwise; CI runs as root).
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
need_ certtool
postfix_need_

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
pport=$(free_port)
postfix_setup pf "$pport" || framework_failure_ "postfix_setup"
mkdir -p "$TRASH/vmail" && chown postfix:postfix "$TRASH/vmail"
postfix_conf pf \
    "smtpd_tls_cert_file = $pki/server-chain.pem" "smtpd_tls_key_file = $pki/server.key" \
    "smtpd_tls_security_level = may" "mynetworks = 192.0.2.0/24" \
    "virtual_mailbox_domains = example.net" "virtual_mailbox_base = $TRASH/vmail" \
    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
    "virtual_gid_maps = static:$(id -g postfix)" "message_size_limit = 200000" ||
    framework_failure_ "postconf"
postfix_start pf || framework_failure_ "Postfix did not start"
wait_port 127.0.0.1 "$pport" || framework_failure_ "Postfix is not listening"

cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/c
trust:
  ca_file: $pki/ca-bundle.pem
EOF
pin=$("$DSMTP_CERT" pin "$pki/server.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
maildir="$TRASH/vmail/box"
CR=$(printf '\r')
# the delivered file with this Subject (Postfix stores LF line ends)
delivered() { grep -l -a -E "^Subject: $1$CR?\$" "$maildir"/new/* 2>/dev/null | head -1; }
# body SUBJECT: a message with dot lines and long lines, CRLF
body() {
	python3 -c '
import sys
s = sys.argv[1]
# From and Date present: the Postfix cleanup daemon adds no header
sys.stdout.write("Subject: %s\r\nMessage-ID: <%s@example.org>\r\nFrom: <a@example.org>\r\n"
    "Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n" % (s, s) +
    "".join(".dot %d %s\r\n" % (i, "z" * (i % 90)) for i in range(400)))' "$1"
}
# the delivered body (from our Subject line on) equals what was sent, but
# for the line ends: Postfix's maildir keeps LF
same_body() {
	f=$(delivered "$1") && [ -n "$f" ] &&
	body "$1" | tr -d '\r' | sha256sum >"$TRASH/$1.want" &&
	sed -n "/^Subject: $1/,\$p" "$f" | sha256sum >"$TRASH/$1.got" &&
	cmp "$TRASH/$1.want" "$TRASH/$1.got"
}

test_expect_success "send --tls verify to Postfix: delivered, body byte for byte" "
	body pf-verify | '$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:$pport --from a@example.org \
	    --to u@example.net --tls verify >'$TRASH/v.out' 2>&1 &&
	grep -q '^policy: level verify, pass' '$TRASH/v.out' &&
	grep -q 'Verified TLS connection established to localhost\[127.0.0.1\]:$pport: TLSv1.3' '$TRASH/v.out' &&
	wait_for 10 'test -n \"\$(delivered pf-verify)\"' && same_body pf-verify &&
	grep -q 'TLS connection established from localhost\[127.0.0.1\]' '$TRASH/pf/maillog'"

test_expect_success "send --pin to Postfix by address: delivered" "
	body pf-pin | '$DSMTPC' -c '$TRASH/c.yaml' send --server 127.0.0.1:$pport --from a@example.org \
	    --to u@example.net --pin '$pin' >'$TRASH/p.out' 2>&1 &&
	grep -q '^policy: level pinned, pass' '$TRASH/p.out' &&
	wait_for 10 'test -n \"\$(delivered pf-pin)\"' && same_body pf-pin"

test_expect_success "Postfix refuses to relay: permanent (69) with its reply" "
	body pf-relay | '$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:$pport --from a@example.org \
	    --to u@elsewhere.org --tls verify >'$TRASH/r.out' 2>&1; test \$? = 69 &&
	grep -q '<u@elsewhere.org>: failed (554 5.7.1 <u@elsewhere.org>: Relay access denied' '$TRASH/r.out'"

test_expect_success "Postfix's SIZE limit is honoured: no DATA, permanent (69)" "
	python3 -c 'import sys; sys.stdout.write(\"Subject: pf-big\r\n\r\n\" + (\"b\" * 900 + \"\r\n\") * 300)' |
	    '$DSMTPC' -c '$TRASH/c.yaml' send --server localhost:$pport --from a@example.org \
	    --to u@example.net --tls verify >'$TRASH/big.out' 2>&1; test \$? = 69 &&
	grep -q 'exceeds size limit 200000' '$TRASH/big.out' && test -d '$maildir/new' && test -z \"\$(delivered pf-big)\""

# the spool path: dsmtpd accepts, dsmtpc once delivers to Postfix
aport=$(free_port)
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$aport" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  max_parallel: 1
  routes:
    - domain: example.net
      next_hop: "[localhost]:$pport"
      tls: verify
EOF
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd did not start"

test_expect_success "dsmtpd -> dsmtpc once -> Postfix: 10 messages, 2 recipients each, one connection" "
	python3 - $aport <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for i in range(10):
    subj = 'pf-q%d' % i
    body = ('Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n' % (subj, subj) +
            ''.join('.dot %d %s\r\n' % (k, 'z' * (k % 90)) for k in range(400)))
    s.sendmail('a@example.org', ['u1@example.net', 'u2@example.net'], body.encode())
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1 &&
	test \$(grep -c 'status=sent' '$TRASH/once.out') = 20 &&
	test \$(grep -c 'TLS connection established' '$TRASH/once.out') = 1 &&
	test -d $TRASH/a/queue && test -z \"\$(ls $TRASH/a/queue/*.e 2>/dev/null)\" &&
	wait_for 10 'test \$(ls $maildir/new | wc -l) -ge 22' &&
	for i in 0 1 2 3 4 5 6 7 8 9; do
		test \$(grep -l -a \"^Subject: pf-q\$i\\\$\" $maildir/new/* | wc -l) = 2 || exit 1
	done"
postfix_stop pf
finish
