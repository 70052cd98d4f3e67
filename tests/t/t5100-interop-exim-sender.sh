#!/bin/sh
# t5100-interop-exim-sender: a real Exim 4 delivers to dsmtpd over
# mandatory STARTTLS with a client certificate (TLS 1.3 and 1.2), 50
# messages, compared by Message-ID and body in dsmtpd's spool.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-exim.sh"
exim_need_
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
chmod 755 "$TRASH" "$pki"; chmod 644 "$pki"/*.pem "$pki"/*.key	# Exim's transport runs as Debian-exim

dport=$(free_port)
host_config "$TRASH/d.yaml" test.example.org "$TRASH/state-$dport" "$dport" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$dport" || framework_failure_ "dsmtpd did not start"

# one Exim per TLS version
for v in 3 2; do
	exim_setup "ex$v"
	exim_conf "ex$v" <<EOF
begin acl
acl_rcpt:
  accept
begin routers
to_dsmtpd:
  driver = manualroute
  domains = example.com
  route_list = * 127.0.0.1
  self = send
  transport = dsmtp_tls
begin transports
dsmtp_tls:
  driver = smtp
  port = $dport
  allow_localhost
  hosts_require_tls = *
  tls_certificate = $pki/client.pem
  tls_privatekey = $pki/client.key
  tls_verify_certificates = $pki/ca.pem
  tls_require_ciphers = NORMAL:-VERS-ALL:+VERS-TLS1.$v
begin retry
* * F,1m,10s
EOF
done

for v in 3 2; do
	test_expect_success "Exim (TLS 1.$v) -> dsmtpd: 50 messages arrive" "
		: >'$TRASH/sent-$v';
		for i in \$(seq 0 49); do
			mid=\"<exim$v-\$i@interop.test>\";
			body=\$(seq 1 \$((i * 3 + 1)) | sed \"s/^/exim$v line /\");
			printf 'From: a@sender.test\nTo: x@example.com\nSubject: exim %s\nMessage-ID: %s\n\n%s\n' \"\$i\" \"\$mid\" \"\$body\" |
			    exim_send ex$v a@sender.test x@example.com || exit 1;
			echo \"\$mid\" >>'$TRASH/sent-$v';
		done;
		sort '$TRASH/sent-$v' >'$TRASH/want-$v' &&
		cat '$TRASH'/state-$dport/queue/*.d | grep -a -o '^Message-ID: <exim$v-[0-9]*@interop.test>' |
		    sed 's/^Message-ID: //' | sort >'$TRASH/got-$v' &&
		diff '$TRASH/want-$v' '$TRASH/got-$v' || { tail -5 '$TRASH/ex$v/log/mainlog'; false; }"
	test_expect_success "(exim 1.$v) a body arrives line for line" "
		f=\$(grep -l -a '^Message-ID: <exim$v-49@interop.test>' '$TRASH'/state-$dport/queue/*.d) &&
		spool_data \"\$f\" | sed -n '/^\r\$/,\$p' | tail -n +2 | tr -d '\r' >'$TRASH/body-$v' &&
		seq 1 148 | sed 's/^/exim$v line /' | diff - '$TRASH/body-$v'"
	test_expect_success "(exim 1.$v) Received records the TLS version and Exim's client certificate" "
		f=\$(grep -l -a '^Message-ID: <exim$v-0@interop.test>' '$TRASH'/state-$dport/queue/*.d) &&
		grep -q -a 'version=TLSv1.$v ' \"\$f\" &&
		grep -q -a 'subject=\"CN=partner.example.net' \"\$f\" && grep -q -a 'verify=ok' \"\$f\""
done
finish
