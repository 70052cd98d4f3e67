#!/bin/sh
# t2535-send-postfix-levels: "dsmtpc send" against a real, private Postfix
# (tests/t/lib-postfix.sh) at every TLS level of DESIGN.md section 6, for
# success and for each failure the level must catch, and against a Postfix
# that requires a client certificate (smtpd_tls_req_ccert). One Postfix
# master serves every variant, one smtpd listener per port with its own
# -o overrides (no STARTTLS, self-signed, other CA, wrong name, expired,
# broken handshake, no client certificate asked, client certificate
# required). Every recipient domain is one Postfix delivers, so only
# dsmtpc's policy can keep a message from arriving: a failure must defer
# (75) and leave nothing in Postfix's maildir, queue or log; a success is
# read back from the maildir byte for byte, and Postfix's Received header
# (smtpd_tls_received_header) says whether TLS was used and which client
# certificate, if any, Postfix verified. Our certificate is presented
# whenever Postfix asks (send.client_cert, DESIGN.md section 5), by "send"
# as by the daemon (dsmtpd -> spool -> dsmtpc once). Needs root for Postfix.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
need_ certtool
postfix_need_

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
# a second CA nobody trusts, and a leaf from it with the right names
(
	cd "$pki" || exit 1
	umask 077
	certtool --generate-privkey --key-type ecdsa --outfile ca2.key &&
	printf 'cn = "Other CA"\nca\ncert_signing_key\nexpiration_days = 30\n' >ca2.tmpl &&
	certtool --generate-self-signed --load-privkey ca2.key --template ca2.tmpl --outfile ca2.pem &&
	certtool --generate-privkey --key-type ecdsa --outfile otherca.key &&
	printf 'cn = "mail.example.com"\ndns_name = "mail.example.com"\ndns_name = "example.com"\n%s\n' \
	    'dns_name = "localhost"' 'tls_www_server' 'signing_key' 'expiration_days = 30' >otherca.tmpl &&
	certtool --generate-certificate --load-privkey otherca.key --load-ca-certificate ca2.pem \
	    --load-ca-privkey ca2.key --template otherca.tmpl --outfile otherca.pem &&
	chmod 644 ca2.pem otherca.pem
) >/dev/null 2>&1 || framework_failure_ "the other CA"

# ten free ports at once (each python start is dear on a busy machine)
set -- $(python3 -c '
import socket
ss = [socket.socket() for _ in range(10)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))') || framework_failure_ "no free ports"
[ $# = 10 ] || framework_failure_ "no free ports"
pport=$1 aport=$2
shift 2
# one Postfix, one smtpd per variant: listener NAME -o overrides (the next free port)
postfix_setup pf "$pport" || framework_failure_ "postfix_setup"
mkdir -p "$TRASH/vmail" && chown postfix:postfix "$TRASH/vmail"
# one postconf for every setting
postconf -c "$TRASH/pf/etc" -e \
    "smtpd_tls_cert_file = $pki/server-chain.pem" "smtpd_tls_key_file = $pki/server.key" \
    "smtpd_tls_security_level = may" "smtpd_tls_ask_ccert = yes" \
    "smtpd_tls_CAfile = $pki/ca.pem" "smtpd_tls_received_header = yes" \
    "mynetworks = 192.0.2.0/24" \
    "virtual_mailbox_domains = example.com contoso.com" "virtual_mailbox_base = $TRASH/vmail" \
    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
    "virtual_gid_maps = static:$(id -g postfix)" ||
    framework_failure_ "postconf"
port_may=$pport
PORTS="$*"
listener() {
	_p=${PORTS%% *}
	PORTS=${PORTS#* }
	eval "port_$1=$_p"
	_n=$1; shift
	{
		printf '127.0.0.1:%s inet n - n - - smtpd -o syslog_name=postfix/%s' "$_p" "$_n"
		for o in "$@"; do printf ' -o %s' "$o"; done
		printf '\n'
	} >>"$TRASH/pf/etc/master.cf"
}
listener plain smtpd_tls_security_level=none
listener self smtpd_tls_cert_file="$pki/selfsigned.pem" smtpd_tls_key_file="$pki/selfsigned.key"
listener ca2 smtpd_tls_cert_file="$pki/otherca.pem" smtpd_tls_key_file="$pki/otherca.key"
listener wrong smtpd_tls_cert_file="$pki/wrongname.pem" smtpd_tls_key_file="$pki/wrongname.key"
listener expired smtpd_tls_cert_file="$pki/expired.pem" smtpd_tls_key_file="$pki/expired.key"
# STARTTLS offered, but only TLS 1.0, which neither side will speak
listener badtls 'smtpd_tls_protocols=>=TLSv1,<=TLSv1'
listener noask smtpd_tls_ask_ccert=no
listener req smtpd_tls_security_level=encrypt smtpd_tls_req_ccert=yes
postfix_start pf || framework_failure_ "Postfix did not start"
# every listener up (10 s)
python3 - $port_may $port_plain $port_self $port_ca2 $port_wrong $port_expired $port_badtls \
    $port_noask $port_req <<'PY' || framework_failure_ "Postfix is not listening on every port"
import socket, sys, time
end = time.time() + 10
for p in sys.argv[1:]:
    while True:
        try:
            socket.create_connection(("127.0.0.1", int(p)), 0.5).close()
            break
        except OSError:
            if time.time() > end:
                sys.exit(1)
            time.sleep(0.05)
PY

# our configuration: our CA, and our certificate, presented whenever the
# server asks (send.client_cert); nocert.yaml says client_cert: false,
# bare.yaml has no certificate at all
cat >"$TRASH/c.yaml" <<EOF
hostname: client.example.org
state_dir: $TRASH/c
certificates:
  - cert: $pki/client.pem
    key: $pki/client.key
trust:
  ca_file: $pki/ca-bundle.pem
EOF
sed 's/^trust:/send: { client_cert: false }\ntrust:/' "$TRASH/c.yaml" >"$TRASH/nocert.yaml"
sed -e '/^certificates:/,/key:/d' -e "s|^state_dir: .*|state_dir: $TRASH/bare|" "$TRASH/c.yaml" >"$TRASH/bare.yaml"
spki=$("$DSMTP_CERT" pin "$pki/server.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
certpin=$("$DSMTP_CERT" pin "$pki/server.pem" 2>/dev/null | grep '^cert-sha256:') || framework_failure_ "no pin"
selfpin=$("$DSMTP_CERT" pin "$pki/selfsigned.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
wrongpin=$("$DSMTP_CERT" pin "$pki/wrongname.pem" 2>/dev/null | grep '^sha256/') || framework_failure_ "no pin"
export DSMTPC_TIMEOUT=10

maildir="$TRASH/vmail/box"
maillog="$TRASH/pf/maillog"
CR=$(printf '\r')
# body SUBJECT: a message with dot lines and long lines, CRLF; From, Date
# and Message-ID present so that Postfix's cleanup adds no header of its own
body() {
	awk -v s="$1" 'BEGIN {
		printf "Subject: %s\r\nMessage-ID: <%s@example.org>\r\nFrom: <a@example.org>\r\n", s, s
		printf "Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
		for (i = 0; i < 300; i++) {
			z = ""
			for (k = 0; k < i % 90; k++) z = z "z"
			printf ".dot %d %s\r\n", i, z
		}
	}'
}
# snd NAME SERVER RCPT [dsmtpc send args]: send message NAME, keep output and exit code
CONF="$TRASH/c.yaml"
snd() {
	_n=$1 _s=$2 _r=$3; shift 3
	body "$_n" >"$TRASH/$_n.msg"
	"$DSMTPC" -c "$CONF" send --server "$_s" --from a@example.org --to "$_r" "$@" \
	    <"$TRASH/$_n.msg" >"$TRASH/$_n.out" 2>&1
	echo $? >"$TRASH/$_n.rc"
	echo "$_n" >>"$TRASH/sent.list"
}
rc_is() { test "$(cat "$TRASH/$1.rc")" = "$2" || { cat "$TRASH/$1.out"; return 1; }; }
out_has() { grep -q -e "$2" "$TRASH/$1.out" || { echo "no '$2' in:"; cat "$TRASH/$1.out"; return 1; }; }
# the delivered file with this Subject (Postfix's maildir stores LF line ends)
delivered() { grep -l -a -E "^Subject: $1$CR?\$" "$maildir"/new/* 2>/dev/null | head -1; }
# arrived NAME: poll (10 s) for the delivery, then compare the body byte
# for byte (from our Subject line on, LF line ends) and keep the headers
# Postfix added in NAME.hdr
arrived() {
	_subj=$1
	wait_for 10 'f=$(delivered "$_subj") && [ -n "$f" ]' || { echo "$1 not delivered"; return 1; }
	tr -d '\r' <"$TRASH/$1.msg" >"$TRASH/$1.want"
	sed -n "/^Subject: $1\$/,\$p" "$f" >"$TRASH/$1.got"
	cmp "$TRASH/$1.want" "$TRASH/$1.got" || return 1
	sed -n "/^Subject: $1\$/q;p" "$f" >"$TRASH/$1.hdr"
}
hdr_has() { grep -q -e "$2" "$TRASH/$1.hdr" || { echo "no '$2' in:"; cat "$TRASH/$1.hdr"; return 1; }; }
hdr_lacks() { ! grep -q -e "$2" "$TRASH/$1.hdr" || { echo "'$2' in:"; cat "$TRASH/$1.hdr"; return 1; }; }
# never got to Postfix's cleanup (which logs every message it takes in,
# before smtpd answers the final dot), nor to the maildir; checked again
# at the end for every failed case, once the successes are all in
not_arrived() {
	files_exist "$maillog" "$maildir/new" && ! grep -q "message-id=<$1@example.org>" "$maillog" &&
	test -z "$(delivered "$1")"
}

# ---- none ----
test_expect_success "none: plaintext although Postfix offers STARTTLS" "
	snd f-none localhost:$port_may u@example.com --tls none && rc_is f-none 0 &&
	out_has f-none '^TLS: none (level none)' && out_has f-none '^<u@example.com>: sent (250 ' &&
	arrived f-none && hdr_has f-none 'with ESMTP id' && hdr_lacks f-none 'ESMTPS' &&
	hdr_lacks f-none 'using TLS' &&
	snd f-none-tls localhost:$port_may u@example.com --tls opportunistic && rc_is f-none-tls 0 &&
	out_has f-none-tls '^TLS: TLSv1'"

# ---- opportunistic ----
test_expect_success "opportunistic: TLS when Postfix offers it, our certificate when it asks" "
	snd f-opp localhost:$port_may u@example.com --tls opportunistic && rc_is f-opp 0 &&
	out_has f-opp '^TLS: TLSv1.3' && out_has f-opp '^policy: level opportunistic, pass' &&
	out_has f-opp '^peer certificate: CN=mail.example.com' &&
	out_has f-opp '^our certificate: CN=partner.example.net' &&
	arrived f-opp && hdr_has f-opp 'with ESMTPS id' && hdr_has f-opp '(using TLSv1.3 with cipher' &&
	hdr_has f-opp 'Client CN \"partner.example.net\", Issuer \"dsmtp Test CA\" (verified OK)'"

test_expect_success "opportunistic: no certificate of ours, or send.client_cert false: none presented" "
	CONF='$TRASH/bare.yaml' snd f-opp-bare localhost:$port_may u@example.com --tls opportunistic &&
	rc_is f-opp-bare 0 && ! grep -q '^our certificate' '$TRASH/f-opp-bare.out' &&
	! grep -q 'warning' '$TRASH/f-opp-bare.out' &&
	arrived f-opp-bare && hdr_has f-opp-bare 'Client did not present a certificate' &&
	CONF='$TRASH/nocert.yaml' snd f-opp-off localhost:$port_may u@example.com --tls opportunistic &&
	rc_is f-opp-off 0 && ! grep -q '^our certificate' '$TRASH/f-opp-off.out' &&
	arrived f-opp-off && hdr_has f-opp-off 'Client did not present a certificate'"

test_expect_success "opportunistic: plaintext when Postfix offers no STARTTLS" "
	snd f-opp-plain localhost:$port_plain u@example.com --tls opportunistic && rc_is f-opp-plain 0 &&
	out_has f-opp-plain '^TLS: none (STARTTLS not offered)' &&
	arrived f-opp-plain && hdr_has f-opp-plain 'with ESMTP id' && hdr_lacks f-opp-plain 'using TLS'"

test_expect_success "opportunistic: a failed handshake is retried once in plaintext" "
	snd f-opp-bad localhost:$port_badtls u@example.com --tls opportunistic && rc_is f-opp-bad 0 &&
	out_has f-opp-bad 'TLS handshake with localhost\[127.0.0.1\]:$port_badtls failed' &&
	out_has f-opp-bad 'retrying in plaintext' &&
	out_has f-opp-bad '^TLS: none (plaintext retry after a failed handshake)' &&
	arrived f-opp-bad && hdr_has f-opp-bad 'with ESMTP id' && hdr_lacks f-opp-bad 'using TLS' &&
	grep -q 'postfix/badtls/smtpd.*SSL_accept error' '$maillog'"

# ---- mandatory ----
test_expect_success "mandatory: Postfix without STARTTLS: deferred, nothing delivered" "
	snd f-mand-plain localhost:$port_plain u@example.com --tls mandatory && rc_is f-mand-plain 75 &&
	out_has f-mand-plain 'deferred (TLS is required, but was not offered by host localhost\[127.0.0.1\]' &&
	not_arrived f-mand-plain"

test_expect_success "mandatory: a failed handshake defers, no plaintext retry" "
	snd f-mand-bad localhost:$port_badtls u@example.com --tls mandatory && rc_is f-mand-bad 75 &&
	out_has f-mand-bad 'deferred (TLS handshake with localhost\[127.0.0.1\]:$port_badtls failed' &&
	! grep -q plaintext '$TRASH/f-mand-bad.out' && not_arrived f-mand-bad"

test_expect_success "mandatory: an unverifiable self-signed certificate will do" "
	snd f-mand localhost:$port_self u@example.com --tls mandatory && rc_is f-mand 0 &&
	out_has f-mand '^policy: level mandatory, pass' && out_has f-mand '^verification: unknown issuer' &&
	arrived f-mand && hdr_has f-mand '(using TLSv1.3 with cipher'"

# ---- verify ----
test_expect_success "verify: a chain to our CA and the host name: delivered" "
	snd f-ver localhost:$port_may u@example.com --tls verify && rc_is f-ver 0 &&
	out_has f-ver '^policy: level verify, pass: ok: verified chain and host name localhost' &&
	arrived f-ver && hdr_has f-ver '(using TLSv1.3 with cipher'"

test_expect_success "verify: a chain to another CA defers" "
	snd f-ver-ca2 localhost:$port_ca2 u@example.com --tls verify && rc_is f-ver-ca2 75 &&
	out_has f-ver-ca2 'deferred (TLS policy failure with localhost\[127.0.0.1\]:$port_ca2: chain: ' &&
	not_arrived f-ver-ca2"

test_expect_success "verify: a self-signed certificate defers" "
	snd f-ver-self localhost:$port_self u@example.com --tls verify && rc_is f-ver-self 75 &&
	out_has f-ver-self 'policy: level verify, fail: chain: ' && not_arrived f-ver-self"

test_expect_success "verify: a wrong name defers" "
	snd f-ver-name localhost:$port_wrong u@example.com --tls verify && rc_is f-ver-name 75 &&
	out_has f-ver-name 'hostname-mismatch: wanted localhost, saw other.example.net' &&
	not_arrived f-ver-name"

test_expect_success "verify: an expired certificate defers" "
	snd f-ver-exp localhost:$port_expired u@example.com --tls verify && rc_is f-ver-exp 75 &&
	out_has f-ver-exp 'policy: level verify, fail: chain: .*expired' && not_arrived f-ver-exp"

test_expect_success "verify: no STARTTLS defers" "
	snd f-ver-plain localhost:$port_plain u@example.com --tls verify && rc_is f-ver-plain 75 &&
	out_has f-ver-plain 'TLS is required, but was not offered' && not_arrived f-ver-plain"

# ---- domain-secure ----
test_expect_success "domain-secure: the recipient domain in Postfix's SANs, our certificate verified by Postfix" "
	snd f-ds localhost:$port_may u@example.com --tls domain-secure && rc_is f-ds 0 &&
	out_has f-ds 'policy: level domain-secure, pass: ok: domain-secure example.com' &&
	out_has f-ds '^our certificate: CN=partner.example.net' &&
	arrived f-ds && hdr_has f-ds 'Client CN \"partner.example.net\", Issuer \"dsmtp Test CA\" (verified OK)'"

test_expect_success "domain-secure: a SAN list without the recipient domain defers and names the SANs" "
	snd f-ds-san localhost:$port_may u@contoso.com --tls domain-secure && rc_is f-ds-san 75 &&
	out_has f-ds-san 'deferred (TLS policy failure with .*san-mismatch: wanted contoso.com (match exact), saw mail.example.com,example.com,localhost' &&
	not_arrived f-ds-san"

test_expect_success "domain-secure: a chain to another CA (and no pin) defers" "
	snd f-ds-ca2 localhost:$port_ca2 u@example.com --tls domain-secure && rc_is f-ds-ca2 75 &&
	out_has f-ds-ca2 'policy: level domain-secure, fail: chain: ' && not_arrived f-ds-ca2"

test_expect_success "domain-secure: a pin stands in for the CA (self-signed Postfix)" "
	snd f-ds-pin 127.0.0.1:$port_self u@example.com --tls domain-secure --pin '$selfpin' &&
	rc_is f-ds-pin 0 && out_has f-ds-pin 'pass: ok: domain-secure example.com (name example.com, trust pin' &&
	arrived f-ds-pin && hdr_has f-ds-pin 'Client CN \"partner.example.net\"'"

test_expect_success "domain-secure: Postfix does not ask for our certificate: no mutual TLS, deferred" "
	snd f-ds-noask localhost:$port_noask u@example.com --tls domain-secure && rc_is f-ds-noask 75 &&
	out_has f-ds-noask 'no-client-cert: we presented no client certificate' && not_arrived f-ds-noask"

test_expect_success "domain-secure: with send.client_cert false our certificate is not presented: deferred" "
	CONF='$TRASH/nocert.yaml' snd f-ds-off localhost:$port_may u@example.com --tls domain-secure &&
	rc_is f-ds-off 75 && out_has f-ds-off 'no-client-cert' && not_arrived f-ds-off"

test_expect_success "domain-secure: no STARTTLS defers" "
	snd f-ds-plain localhost:$port_plain u@example.com --tls domain-secure && rc_is f-ds-plain 75 &&
	out_has f-ds-plain 'TLS is required, but was not offered' && not_arrived f-ds-plain"

# ---- pinned ----
test_expect_success "pinned: the SPKI pin, by address (no name, CA ignored)" "
	snd f-pin 127.0.0.1:$port_may u@example.com --pin '$spki' && rc_is f-pin 0 &&
	out_has f-pin 'policy: level pinned, pass: ok: pinned' && arrived f-pin &&
	hdr_has f-pin '(using TLSv1.3 with cipher'"

test_expect_success "pinned: the certificate SHA-256 pin" "
	snd f-pin-cert 127.0.0.1:$port_may u@example.com --pin '$certpin' && rc_is f-pin-cert 0 &&
	out_has f-pin-cert 'policy: level pinned, pass: ok: pinned' && arrived f-pin-cert"

test_expect_success "pinned: a self-signed certificate by its pin" "
	snd f-pin-self 127.0.0.1:$port_self u@example.com --pin '$selfpin' && rc_is f-pin-self 0 &&
	out_has f-pin-self 'policy: level pinned, pass: ok: pinned' && arrived f-pin-self"

test_expect_success "pinned: a wrong pin defers" "
	snd f-pin-wrong 127.0.0.1:$port_may u@example.com --pin '$wrongpin' && rc_is f-pin-wrong 75 &&
	out_has f-pin-wrong 'pin-mismatch: saw $spki' && not_arrived f-pin-wrong"

test_expect_success "pinned: no STARTTLS defers" "
	snd f-pin-plain 127.0.0.1:$port_plain u@example.com --pin '$spki' && rc_is f-pin-plain 75 &&
	out_has f-pin-plain 'TLS is required, but was not offered' && not_arrived f-pin-plain"

# ---- Postfix requires a client certificate ----
test_expect_success "client certificate required: verify with --client-cert is accepted" "
	CONF='$TRASH/bare.yaml' snd f-req localhost:$port_req u@example.com --tls verify \
	    --client-cert '$pki/client.pem' --client-key '$pki/client.key' && rc_is f-req 0 &&
	out_has f-req '^our certificate: CN=partner.example.net' && out_has f-req 'policy: level verify, pass' &&
	arrived f-req && hdr_has f-req 'Client CN \"partner.example.net\", Issuer \"dsmtp Test CA\" (verified OK)'"

test_expect_success "client certificate required: domain-secure presents the configured one" "
	snd f-req-ds localhost:$port_req u@example.com --tls domain-secure && rc_is f-req-ds 0 &&
	arrived f-req-ds && hdr_has f-req-ds 'Client CN \"partner.example.net\"'"

test_expect_success "client certificate required: verify presents the configured one" "
	snd f-req-cfg localhost:$port_req u@example.com --tls verify && rc_is f-req-cfg 0 &&
	out_has f-req-cfg '^our certificate: CN=partner.example.net' &&
	arrived f-req-cfg && hdr_has f-req-cfg 'Client CN \"partner.example.net\"'"

test_expect_success "client certificate required: verify without one is refused, deferred" "
	CONF='$TRASH/bare.yaml' snd f-req-none localhost:$port_req u@example.com --tls verify &&
	rc_is f-req-none 75 &&
	! grep -q '^our certificate' '$TRASH/f-req-none.out' &&
	out_has f-req-none 'deferred (host localhost\[127.0.0.1\]:$port_req refused EHLO: 421 4.7.1 .*No client certificate presented' &&
	not_arrived f-req-none"

test_expect_success "client certificate required: opportunistic without one is deferred, not bounced" "
	CONF='$TRASH/nocert.yaml' snd f-req-opp localhost:$port_req u@example.com --tls opportunistic &&
	rc_is f-req-opp 75 &&
	out_has f-req-opp 'deferred (.*421 4.7.1 .*No client certificate presented' && not_arrived f-req-opp"

test_expect_success "client certificate required: domain-secure with send.client_cert false is deferred" "
	CONF='$TRASH/nocert.yaml' snd f-req-off localhost:$port_req u@example.com --tls domain-secure &&
	rc_is f-req-off 75 && out_has f-req-off 'no-client-cert' && not_arrived f-req-off"

test_expect_success "client certificate required: --client-cert is presented even with send.client_cert false" "
	CONF='$TRASH/nocert.yaml' snd f-req-flag localhost:$port_req u@example.com --tls verify \
	    --client-cert '$pki/client.pem' --client-key '$pki/client.key' && rc_is f-req-flag 0 &&
	arrived f-req-flag && hdr_has f-req-flag 'Client CN \"partner.example.net\"'"

# ---- the daemon's path: dsmtpd -> spool -> dsmtpc once -> that Postfix ----
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$aport" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  max_parallel: 1
  routes:
    - domain: example.com
      next_hop: "[localhost]:$port_req"
      tls: verify
EOF
sed 's/^send:$/send:\n  client_cert: false/' "$TRASH/a.yaml" >"$TRASH/a-nocert.yaml"
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd did not start"

test_expect_success "client certificate required, dsmtpc once: deferred with send.client_cert false, then delivered presenting ours" "
	body f-q >'$TRASH/f-q.msg' && echo f-q >>'$TRASH/sent.list' && echo 0 >'$TRASH/f-q.rc' &&
	python3 - $aport '$TRASH/f-q.msg' <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.sendmail('a@example.org', ['u@example.com'], open(sys.argv[2], 'rb').read())
s.quit()
PY
	{ '$DSMTPC' -c '$TRASH/a-nocert.yaml' once >'$TRASH/once1.out' 2>&1; test \$? = 75; } &&
	'$DSMTPC' -c '$TRASH/a.yaml' queue >'$TRASH/q1.out' 2>&1 &&
	grep -q 'attempts: 1' '$TRASH/q1.out' &&
	grep -q 'last error: .*421 4.7.1 .*No client certificate presented' '$TRASH/q1.out' &&
	not_arrived f-q &&
	'$DSMTPC' -c '$TRASH/a.yaml' flush >/dev/null 2>&1 &&
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once2.out' 2>&1 &&
	grep -q 'status=sent' '$TRASH/once2.out' &&
	arrived f-q && hdr_has f-q 'Client CN \"mail.example.com\", Issuer \"dsmtp Test CA\" (verified OK)'"

# ---- at the end: no failed case reached Postfix, its queue is empty ----
test_expect_success "nothing of a failed case is anywhere in Postfix" "
	n=0 &&
	for m in \$(cat '$TRASH/sent.list'); do
		if [ \"\$(cat \"$TRASH/\$m.rc\")\" = 0 ]; then
			test -n \"\$(delivered \$m)\" || { echo \"\$m lost\"; exit 1; }
			n=\$((n + 1))
		else
			not_arrived \$m || { echo \"\$m arrived\"; exit 1; }
		fi
	done &&
	test \$(ls '$maildir/new' | wc -l) = \$n &&
	files_exist '$TRASH/pf/queue/incoming' '$TRASH/pf/queue/active' '$TRASH/pf/queue/deferred' \
	    '$TRASH/pf/queue/hold' '$TRASH/pf/queue/maildrop' &&
	test -z \"\$(find '$TRASH/pf/queue/incoming' '$TRASH/pf/queue/active' '$TRASH/pf/queue/deferred' \
	    '$TRASH/pf/queue/hold' '$TRASH/pf/queue/maildrop' -type f 2>/dev/null)\""
postfix_stop pf
finish
