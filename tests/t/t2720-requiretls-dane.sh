#!/bin/sh
# t2720-requiretls-dane: REQUIRETLS (RFC 8689) through DNSSEC, against a
# real signed zone (tests/t/lib-dnssec.sh: private nsd + validating
# unbound). The routes are opportunistic: the only thing that may carry a
# REQUIRETLS message is what DNSSEC proves. rt.dane.test (signed MX, DANE-EE
# TLSA, a dsmtpd offering REQUIRETLS): delivered with REQUIRETLS passed on,
# and the security memory learns "authenticated TLS (dane)". rtno.dane.test
# (the same, REQUIRETLS off at the receiver): bounced 5.7.30. ins.plain.test
# (unsigned zone, a certificate the trust store verifies): bounced 5.7.30,
# since nothing proved the MX host; a normal message there is delivered.
# sts.plain.test (the same unsigned MX host, but an enforced MTA-STS policy
# naming it, served over HTTPS by tests/t/stshttps.py): delivered with
# REQUIRETLS, and the memory learns "authenticated TLS (sts)".
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-dnssec.sh"
need_ certtool
need_ openssl
need_ python3
dnssec_need

MKCERTS_SANS="mx-rt.dane.test mx-rtno.dane.test mx.plain.test mta-sts.sts.plain.test localhost" sh "$srcdir/tests/certs/mkcerts.sh" \
    "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
EE=$(openssl x509 -in "$pki/server.pem" -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha256 -r | cut -d' ' -f1)
[ ${#EE} = 64 ] || framework_failure_ "digest"

# receiver NAME REQUIRETLS(true|false)
receiver() {
	_port=$(free_port)
	host_config "$TRASH/$1.yaml" "mx-$1.test" "$TRASH/$1" "$_port" <<EOF
  accepted_domains: [ $1.dane.test, $1.plain.test, sts.plain.test ]
  relay: { networks: [] }
  workers: 1
  requiretls: $2
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
	eval "P_$1=$_port"
}
receiver rt true
receiver rtno false
receiver ins true

dnssec_keys dane.test
{
	printf '$ORIGIN dane.test.\n$TTL 60\n'
	printf '@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.dane.test.\nns A 127.0.0.1\n'
	for n in rt rtno; do
		printf '%s MX 10 mx-%s.dane.test.\nmx-%s A 127.0.0.1\n' $n $n $n
	done
	printf '_%s._tcp.mx-rt TLSA 3 1 1 %s\n' "$P_rt" "$EE"
	printf '_%s._tcp.mx-rtno TLSA 3 1 1 %s\n' "$P_rtno" "$EE"
} >"$DNSSEC/dane.test.zone"
dnssec_sign dane.test "$DNSSEC/dane.test.zone"
{
	printf '$ORIGIN plain.test.\n$TTL 60\n'
	printf '@ SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60\n'
	printf '@ NS ns.plain.test.\nns A 127.0.0.1\n'
	printf 'ins MX 10 mx.plain.test.\nmx A 127.0.0.1\n'
	printf 'sts MX 10 mx.plain.test.\n_mta-sts.sts TXT "v=STSv1; id=rt1"\n'
	printf 'mta-sts.sts A 127.0.0.1\n'
} >"$DNSSEC/nsd/plain.test"
dnssec_serve dane.test -- plain.test
for n in rt rtno ins; do
	eval "wait_port 127.0.0.1 \$P_$n" || framework_failure_ "dsmtpd $n did not start"
done

# the MTA-STS policy host of sts.plain.test: enforce, naming mx.plain.test
mkdir -p "$TRASH/www/sts.plain.test"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.plain.test\r\nmax_age: 86400\r\n' \
    >"$TRASH/www/sts.plain.test/body"
HPORT=$(free_port)
start_bg https python3 "$srcdir/tests/t/stshttps.py" "$HPORT" "$TRASH/www" "$pki/server-chain.pem" \
    "$pki/server.key"
wait_port 127.0.0.1 "$HPORT" || framework_failure_ "https server"

aport=$(free_port)
{
	dnssec_edge_config "$aport" cert sts
	cat <<EOF
    - domain: rt.dane.test
      next_hop: "rt.dane.test:$P_rt"
    - domain: rtno.dane.test
      next_hop: "rtno.dane.test:$P_rtno"
    - domain: ins.plain.test
      next_hop: "ins.plain.test:$P_ins"
    - domain: sts.plain.test
      next_hop: "sts.plain.test:$P_ins"
EOF
} >"$TRASH/a.yaml"
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

CR=$(printf '\r')
got() { grep -l -a "^Subject: $2$CR\$" "$TRASH/$1"/queue/*.d 2>/dev/null | head -1; }
dsn() { grep -l -a "^Subject: $1$CR\$" "$TRASH"/bounces/new/* 2>/dev/null | head -1; }

test_expect_success "queue REQUIRETLS messages over TLS, and one normal one, then dsmtpc once" "
	python3 - $aport <<'PY' &&
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.starttls(context=ssl._create_unverified_context())
s.ehlo('client.example.org')
for to, subj, mo in (('r@rt.dane.test', 'rt', ['REQUIRETLS']),
                     ('r@rtno.dane.test', 'rtno', ['REQUIRETLS']),
                     ('r@ins.plain.test', 'ins', ['REQUIRETLS']),
                     ('r@ins.plain.test', 'ins-plain', []),
                     ('r@sts.plain.test', 'sts', ['REQUIRETLS'])):
    s.sendmail('s@bounce.example', [to], ('Subject: %s\r\n\r\nBODY %s\r\n' % (subj, subj)).encode(),
               mail_options=mo)
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; cat '$TRASH/once.out'; true"

test_expect_success "DNSSEC-signed MX with DANE: delivered, REQUIRETLS passed on" "
	f=\$(got rt rt) && test -n \"\$f\" && grep -q -a '^requiretls\$' \"\${f%.d}.e\" &&
	grep -q 'Verified TLS connection established to mx-rt.dane.test' '$TRASH/once.out' &&
	grep -q 'to=<r@rt.dane.test>.*status=sent' '$TRASH/once.out'"

test_expect_success "the memory learnt authenticated TLS (dane) for it" "
	'$DSMTPC' -c '$TRASH/a.yaml' memory list >'$TRASH/mem' && cat '$TRASH/mem' &&
	grep -q '^rt.dane.test  authenticated TLS (dane)  host mx-rt.dane.test' '$TRASH/mem'"

test_expect_success "DANE-authenticated but no REQUIRETLS at the server: bounced 5.7.30" "
	test -z \"\$(got rtno rtno)\" &&
	grep -q 'to=<r@rtno.dane.test>.*status=bounced\|to=<r@rtno.dane.test>.*5.7.30' '$TRASH/once.out' &&
	d=\$(dsn rtno) && test -n \"\$d\" && grep -q -a '^Status: 5.7.30' \"\$d\" &&
	grep -q -a 'does not support REQUIRETLS' \"\$d\" && ! grep -q -a 'BODY rtno' \"\$d\""

test_expect_success "insecure zone, PKIX-valid certificate: REQUIRETLS bounced 5.7.30, a normal message delivered" "
	test -z \"\$(got ins ins)\" && test -n \"\$(got ins ins-plain)\" &&
	d=\$(dsn ins) && test -n \"\$d\" && grep -q -a '^Status: 5.7.30' \"\$d\" &&
	grep -q -a 'not found through DNSSEC' \"\$d\" && ! grep -q -a 'BODY ins' \"\$d\""

test_expect_success "insecure zone, enforced MTA-STS policy naming the MX host: REQUIRETLS delivered, passed on" "
	f=\$(got ins sts) && test -n \"\$f\" && grep -q -a '^requiretls\$' \"\${f%.d}.e\" &&
	grep -q 'to=<r@sts.plain.test>.*status=sent' '$TRASH/once.out' &&
	test -z \"\$(dsn sts)\""

test_expect_success "the memory learnt authenticated TLS (sts) for it" "
	grep -q '^sts.plain.test  authenticated TLS (sts)  host mx.plain.test' '$TRASH/mem'"

test_expect_success "no sanitizer report from dsmtpc" "
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' '$TRASH/once.out'"

finish
