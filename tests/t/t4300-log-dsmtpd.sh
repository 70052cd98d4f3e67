#!/bin/sh
# t4300-log-dsmtpd: the protocol log as dsmtpd really writes it: a plain
# and a STARTTLS session from Python's smtplib (and an AUTH attempt) land
# in state_dir/logs/receive as 9-field CSV, and dsmtp-log finds both
# sessions with their TLS facts and messages.
. "${srcdir:-.}/tests/t/lib.sh"

need_ python3
port=$(free_port)
make_config "$TRASH/d.yaml" "$port" "  accepted_domains: [ example.org ]"
start_bg d "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/d.log"; framework_failure_ "dsmtpd did not start"; }
L="$TRASH/state-$port/logs"

python3 - "$port" >"$TRASH/client.log" 2>&1 <<'PY'
import smtplib, ssl, sys
port = int(sys.argv[1])
msg = 'From: b@contoso.com\r\nTo: a@example.org\r\nSubject: t4300\r\n\r\nbody line secret-body-text\r\n'
s = smtplib.SMTP('127.0.0.1', port)
if s.ehlo()[0] != 250 or 'not built yet' in str(s.ehlo_resp):
    sys.exit(77)
s.sendmail('b@contoso.com', ['a@example.org'], msg)
s.quit()
s = smtplib.SMTP('127.0.0.1', port)
s.ehlo('tls.client.example')
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo('tls.client.example')
s.sendmail('c@contoso.com', ['a@example.org'], msg)
s.sendmail('d@contoso.com', ['a@example.org'], msg)
try:
    s.docmd('AUTH', 'PLAIN AHVzZXIAc2VjcmV0LXBhc3N3b3Jk')
except smtplib.SMTPException:
    pass
s.quit()
PY
rc=$?
test $rc = 0 || { cat "$TRASH/client.log"; framework_failure_ "smtplib failed"; }
# the sessions are over; dsmtpd flushes within a second
sleep 1.5

test_expect_success "dsmtpd wrote a receive log whose every record has 9 CSV fields" "
	ls '$L/receive/'RECV*-1.LOG &&
	python3 - '$L' <<'PY'
import csv, glob, sys
n = 0
for f in glob.glob(sys.argv[1] + '/receive/*.LOG'):
    for i, row in enumerate(csv.reader(open(f, encoding='utf-8', newline=''))):
        if row and row[0].startswith('#'):
            continue
        assert len(row) == 9, (f, i, row)
        n += 1
assert n > 20, n
PY"

test_expect_success "no message body and no AUTH secret in the log" "
	! grep -r 'secret-body-text\\|AHVzZXIA' '$L' &&
	grep -rq ',<,AUTH PLAIN \\*\\*\\*\\*,' '$L'"

test_expect_success "dsmtp-log sessions shows the plain and the TLS session with their messages" "
	'$DSMTP_LOG' -c '$TRASH/d.yaml' sessions >'$TRASH/s' && cat '$TRASH/s' &&
	test \$(wc -l <'$TRASH/s') = 3 &&	# and wait_port's probe
	grep -q ' tls=none cert=none .*messages=1\$' '$TRASH/s' &&
	grep -q ' ehlo=tls.client.example tls=TLSv1.[23]/[A-Z0-9_]* cert=absent .*messages=2\$' '$TRASH/s' &&
	id=\$(grep tls.client.example '$TRASH/s' | cut -d' ' -f3) &&
	'$DSMTP_LOG' -c '$TRASH/d.yaml' show \$id >'$TRASH/show' &&
	grep -q '\\[TLS negotiated\\]' '$TRASH/show' &&
	grep -q '\\[Local certificate\\]' '$TRASH/show'"
finish
