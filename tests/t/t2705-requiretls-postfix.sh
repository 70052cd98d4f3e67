#!/bin/sh
# t2705-requiretls-postfix: a REQUIRETLS message (RFC 8689) whose verified
# next hop is a real, private Postfix (3.7: it does not offer REQUIRETLS):
# dsmtpd A -> dsmtpc once -> Postfix. The message bounces 5.7.30 with a DSN
# that carries the original's header and not its body, and Postfix never
# sees a MAIL for it; the same message without REQUIRETLS reaches Postfix's
# maildir. Needs root for Postfix (skips otherwise; CI runs as root).
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
need_ certtool
need_ python3
postfix_need_

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
pport=$(free_port)
aport=$(free_port)
postfix_setup pf "$pport" || framework_failure_ "postfix_setup"
mkdir -p "$TRASH/vmail" && chown postfix:postfix "$TRASH/vmail"
postfix_conf pf \
    "smtpd_tls_cert_file = $pki/server-chain.pem" "smtpd_tls_key_file = $pki/server.key" \
    "smtpd_tls_security_level = may" "mynetworks = 192.0.2.0/24" \
    "virtual_mailbox_domains = example.net" "virtual_mailbox_base = $TRASH/vmail" \
    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
    "virtual_gid_maps = static:$(id -g postfix)" "smtpd_tls_loglevel = 1" ||
    framework_failure_ "postconf"
postfix_start pf || framework_failure_ "Postfix did not start"
wait_port 127.0.0.1 "$pport" || framework_failure_ "Postfix is not listening"

host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$aport" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: example.net
      next_hop: "[localhost]:$pport"
      tls: verify
EOF
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd A did not start"

CR=$(printf '\r')
maildir="$TRASH/vmail/box"
delivered() { grep -l -a -E "^Subject: $1$CR?\$" "$maildir"/new/* 2>/dev/null | head -1; }
dsn() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/bounces/new/* 2>/dev/null | head -1; }

test_expect_success "queue a REQUIRETLS message and a plain one for Postfix, then dsmtpc once" "
	python3 - $aport <<'PY' &&
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.starttls(context=ssl._create_unverified_context())
s.ehlo('client.example.org')
for subj, mo in (('pf-rt', ['REQUIRETLS']), ('pf-plain', [])):
    s.sendmail('s@bounce.test', ['r@example.net'],
               ('Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nBODY OF %s\r\n' % (subj, subj, subj)).encode(),
               mail_options=mo)
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; cat '$TRASH/once.out'; true"

test_expect_success "Postfix does not offer REQUIRETLS: 5.7.30 bounce, headers only" "
	d=\$(dsn pf-rt) && test -n \"\$d\" && cat \"\$d\" &&
	grep -q -a '^Status: 5.7.30' \"\$d\" &&
	grep -q -a 'REQUIRETLS support required: the next hop localhost does not support REQUIRETLS' \"\$d\" &&
	grep -q -a '^Message-ID: <pf-rt@example.org>' \"\$d\" && ! grep -q -a 'BODY OF pf-rt' \"\$d\" &&
	test -z \"\$(delivered pf-rt)\""

test_expect_success "the plain message reached Postfix over verified TLS" "
	wait_for 20 'test -n \"\$(delivered pf-plain)\"' &&
	grep -q 'Verified TLS connection established to localhost' '$TRASH/once.out'"

finish
