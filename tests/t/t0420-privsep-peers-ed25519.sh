#!/bin/sh
# t0420-privsep-peers-ed25519: Ed25519 and ECDSA P-256 keys, held by the
# key process of a dsmtpc and a dsmtpd started as root (`user: dsmtp`,
# DESIGN.md 13.4), against Postfix and Exim as real peers in both roles:
#
#   dsmtpc once (client certificate ed or p256)
#     --STARTTLS, verify--> Postfix / Exim (Ed25519 server certificate; they
#                           require and verify dsmtpc's client certificate)
#     --STARTTLS, verified--> dsmtpd-ed / dsmtpd-p256 (server certificate ed
#                           or p256; they request and verify the peer's
#                           Ed25519 client certificate)
#
# Each hop's certificate is asserted where it was used: Postfix logs the
# signature algorithm of both sides (client-signature, server-signature),
# Exim the verified peer DN and the cipher suite (which names the
# server's signature algorithm), dsmtpd and dsmtpc their protocol logs (the
# peer's certificate and "chain=ok"); the messages reach dsmtpd's spool.
# TLS 1.2: Postfix, held to it, relays to dsmtpd-ed (the key process signs
# a TLS 1.2 ServerKeyExchange with Ed25519), and dsmtpc's Ed25519 client
# certificate is verified by Postfix and Exim, which name their CAs, and
# by a Postfix that names none.
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
. "$srcdir/tests/t/lib-exim.sh"
postfix_need_
exim_need_
. "$srcdir/tests/t/lib-privsep.sh"
privsep_setup 755
# ours: the keys root's 0600, read only by the supervisors
privsep_cert ed DNS:ed.test -newkey ed25519 || framework_failure_ "openssl req ed25519"
privsep_cert p256 DNS:p256.test -newkey ec -pkeyopt ec_paramgen_curve:P-256 || framework_failure_ "openssl req p256"
cat "$k/ed.pem" "$k/p256.pem" >"$k/ours.pem"
# the peers' (Postfix and Exim, server and client): Exim's transport reads
# its key as Debian-exim
privsep_cert peer DNS:localhost,DNS:peer.test -newkey ed25519 || framework_failure_ "openssl req peer"
chmod 644 "$k/peer.key"
fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
fpr_peer=$(fpr "$k/peer.pem") || framework_failure_ "openssl x509 -fingerprint"

ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))') || framework_failure_ "no free ports"
set -- $ports
pP=$1 pE=$2 dED=$3 dP256=$4

# the two dsmtpd, root supervisors, workers as dsmtp
for t in ed p256; do
	eval "dport=\$d$(echo $t | tr a-z A-Z)"
	cat >"$TRASH/d-$t.yaml" <<EOF
hostname: $t.test
state_dir: $TRASH/d-$t
user: dsmtp
certificates:
  - { cert: $k/$t.pem, key: $k/$t.key }
trust:
  ca_file: $k/peer.pem
receive:
  listen: [ "127.0.0.1:$dport" ]
  tls: required
  accepted_domains: [ $t-pf.test, $t-ex.test ]
  relay: { networks: [] }
  request_client_cert: true
  workers: 1
EOF
	start_bg "d-$t" "$DSMTPD" -c "$TRASH/d-$t.yaml"
	wait_port 127.0.0.1 "$dport" || { cat "$TRASH/d-$t.log"; framework_failure_ "dsmtpd $t did not start"; }
done

# Postfix: the server dsmtpc delivers to, and the client of the dsmtpd
postfix_setup pf "$pP" || framework_failure_ "postfix_setup"
postconf -c "$TRASH/pf/etc" -e \
    "smtpd_tls_chain_files = $k/peer.key, $k/peer.pem" "smtpd_tls_security_level = encrypt" \
    "smtpd_tls_ask_ccert = yes" "smtpd_tls_req_ccert = yes" "smtpd_tls_CAfile = $k/ours.pem" \
    "smtp_tls_chain_files = $k/peer.key, $k/peer.pem" "smtp_tls_CAfile = $k/ours.pem" \
    "smtp_tls_security_level = encrypt" \
    "smtp_tls_policy_maps = inline:{ {[127.0.0.1]:$dED = secure match=ed.test} {[127.0.0.1]:$dP256 = secure match=p256.test} }" \
    "transport_maps = inline:{ {ed-pf.test = smtp:[127.0.0.1]:$dED} {p256-pf.test = smtp:[127.0.0.1]:$dP256} }" \
    || framework_failure_ "postconf"
postfix_start pf || framework_failure_ "postfix did not start"
wait_port 127.0.0.1 "$pP" || framework_failure_ "postfix does not listen"

# Exim: the same two roles
exim_setup ex
exim_conf ex <<EOF
tls_advertise_hosts = *
tls_certificate = $k/peer.pem
tls_privatekey = $k/peer.key
tls_verify_certificates = $k/ours.pem
tls_verify_hosts = *
smtp_accept_queue_per_connection = 0
deliver_drop_privilege = true
log_selector = +tls_certificate_verified +tls_peerdn +received_recipients
begin acl
acl_rcpt:
  deny    !encrypted = *
          message = 5.7.0 STARTTLS first
  accept
begin routers
to_ed:
  driver = manualroute
  domains = ed-ex.test
  route_list = * 127.0.0.1
  self = send
  transport = to_ed
to_p256:
  driver = manualroute
  domains = p256-ex.test
  route_list = * 127.0.0.1
  self = send
  transport = to_p256
begin transports
to_ed:
  driver = smtp
  port = $dED
  allow_localhost
  hosts_require_tls = *
  tls_verify_hosts = *
  tls_verify_certificates = $k/ed.pem
  tls_verify_cert_hostnames =
  tls_certificate = $k/peer.pem
  tls_privatekey = $k/peer.key
to_p256:
  driver = smtp
  port = $dP256
  allow_localhost
  hosts_require_tls = *
  tls_verify_hosts = *
  tls_verify_certificates = $k/p256.pem
  tls_verify_cert_hostnames =
  tls_certificate = $k/peer.pem
  tls_privatekey = $k/peer.key
begin retry
* * F,1m,10s
EOF
exim_daemon ex "$pE" || { cat "$TRASH/ex/daemon.out"; framework_failure_ "exim did not start"; }

# the two dsmtpc configurations: one client key each, both peers routed
for t in ed p256; do
	cat >"$TRASH/c-$t.yaml" <<EOF
hostname: $t.test
state_dir: $TRASH/c-$t
user: dsmtp
certificates:
  - { cert: $k/$t.pem, key: $k/$t.key }
trust:
  ca_file: $k/peer.pem
send:
  client_cert: true
  connection_cache_time: 0
  routes:
    - { domain: $t-pf.test, next_hop: "[localhost]:$pP", tls: verify }
    - { domain: $t-ex.test, next_hop: "[localhost]:$pE", tls: verify }
EOF
	mkdir -p "$TRASH/c-$t/queue"
	"$top_builddir/tests/unit/spool_gen" "$TRASH/c-$t/queue" --size 300 --from "s@$t.test" \
	    --to "r@$t-pf.test" >/dev/null &&
	"$top_builddir/tests/unit/spool_gen" "$TRASH/c-$t/queue" --size 300 --from "s@$t.test" \
	    --to "r@$t-ex.test" >/dev/null || framework_failure_ "spool_gen"
done

# dsmtpd's sessions whose peer certificate is the peers', with chain=ok
d_verified() {	# d_verified NAME: how many
	flush_plog "d-$1" >/dev/null 2>&1
	for _sid in $(grep -h "Remote certificate" "$TRASH/d-$1"/logs/receive/*.LOG | grep "sha256=$fpr_peer" |
	    cut -d, -f3); do
		grep -h ",$_sid," "$TRASH/d-$1"/logs/receive/*.LOG | grep 'TLS verification' | grep 'chain=ok'
	done | wc -l
}
# the spool of dsmtpd NAME holds a message for RCPT
d_has() { grep -l -a "$2" "$TRASH/d-$1"/queue/*.e >/dev/null 2>&1; }

# TLS 1.2 with servers that name CAs (Postfix with a CAfile, Exim).
# GnuTLS 3.7's own client-certificate choice wants the key type among the
# request's certificate_types, whose ecdsa_sign it takes for ECDSA only,
# so an Ed25519 certificate went unsent ("No client certificate
# presented"); dsmtp now hands GnuTLS its certificate in a callback
# (tls/tls_creds.c), as OpenSSL clients and gnutls-cli do. Both with the
# key process and without it (dsmtpc as dsmtp with its own copy).
sed -e 's/^hostname: ed.test/hostname: ed12.test\ntls_priority: "NORMAL:-VERS-ALL:+VERS-TLS1.2"/' \
    -e "s|^state_dir: .*|state_dir: $TRASH/c-ed12|" "$TRASH/c-ed.yaml" >"$TRASH/c-ed12.yaml"
mkdir -p "$TRASH/c-ed12/queue"
"$top_builddir/tests/unit/spool_gen" "$TRASH/c-ed12/queue" --size 300 --from s@ed12.test \
    --to r12@ed-pf.test --to r12@ed-ex.test >/dev/null || framework_failure_ "spool_gen"
npf=$(grep -c 'Trusted TLS connection established from' "$TRASH/pf/maillog")
test_expect_success "ed, TLS 1.2, servers that name CAs: the Ed25519 client certificate offered and verified" "
	'$DSMTPC' -c '$TRASH/c-ed12.yaml' once >'$TRASH/c-ed12.out' 2>&1; rc=\$?; cat '$TRASH/c-ed12.out';
	[ \$rc = 0 ] &&
	grep -q 'to=<r12@ed-pf.test>.*status=sent' '$TRASH/c-ed12.out' &&
	grep -q 'to=<r12@ed-ex.test>.*status=sent' '$TRASH/c-ed12.out' &&
	grep 'Trusted TLS connection established from' '$TRASH/pf/maillog' | tail -n +$((npf + 1)) |
	    grep -q 'TLSv1.2 ' &&
	grep '<= s@ed12.test' '$TRASH/ex/log/mainlog' | tee /dev/stderr | grep 'X=TLS1.2' | grep 'CV=yes' |
	    grep -q 'DN=\"CN=ed.test\"'"
# the same without the key process (dsmtpc as dsmtp, reading a copy of
# the key itself)
cp -p "$k/ed.key" "$TRASH/ed-copy.key" && chown dsmtp "$TRASH/ed-copy.key" &&
sed -e "s|$k/ed.key|$TRASH/ed-copy.key|" -e "s|c-ed12|c-ed12u|" "$TRASH/c-ed12.yaml" >"$TRASH/c-ed12u.yaml" &&
mkdir -p "$TRASH/c-ed12u/queue" && chown -R dsmtp "$TRASH/c-ed12u" &&
setpriv --reuid=dsmtp --regid=dsmtp --init-groups "$top_builddir/tests/unit/spool_gen" "$TRASH/c-ed12u/queue" \
    --size 300 --from s@ed12.test --to r12u@ed-pf.test >/dev/null || framework_failure_ "spool_gen (dsmtp)"
npf=$(grep -c 'Trusted TLS connection established from' "$TRASH/pf/maillog")
test_expect_success "ed, TLS 1.2, the same without the key process (dsmtpc run as dsmtp)" "
	setpriv --reuid=dsmtp --regid=dsmtp --init-groups '$DSMTPC' -c '$TRASH/c-ed12u.yaml' once >'$TRASH/c-ed12u.out' 2>&1;
	rc=\$?; cat '$TRASH/c-ed12u.out'; [ \$rc = 0 ] && ! grep -q 'delivery runs as' '$TRASH/c-ed12u.out' &&
	grep -q 'to=<r12u@ed-pf.test>.*status=sent' '$TRASH/c-ed12u.out' &&
	grep 'Trusted TLS connection established from' '$TRASH/pf/maillog' | tail -n +$((npf + 1)) |
	    grep -q 'TLSv1.2 '"

# what works in TLS 1.2: a server that names no CA (Postfix trusting a
# CApath instead of a CAfile). Postfix's own client is held to TLS 1.2
# too, so dsmtpd-ed signs a TLS 1.2 ServerKeyExchange with Ed25519.
mkdir -m 755 "$k/capath" && cp "$k/ed.pem" "$k/p256.pem" "$k/capath/" &&
    openssl rehash "$k/capath" || framework_failure_ "openssl rehash"
postconf -c "$TRASH/pf/etc" -e "smtpd_tls_CAfile =" "smtpd_tls_CApath = $k/capath" \
    "smtpd_tls_received_header = yes" \
    "smtp_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3" \
    "smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3" &&
    postfix -c "$TRASH/pf/etc" reload >/dev/null 2>&1 || framework_failure_ "postfix reload"
sed "s|c-ed12|c-ed12b|" "$TRASH/c-ed12.yaml" >"$TRASH/c-ed12b.yaml"
mkdir -p "$TRASH/c-ed12b/queue"
"$top_builddir/tests/unit/spool_gen" "$TRASH/c-ed12b/queue" --size 300 --from s@ed12.test \
    --to r12b@ed-pf.test >/dev/null || framework_failure_ "spool_gen"
npf=$(grep -c 'Trusted TLS connection established from' "$TRASH/pf/maillog")
# (Postfix logs no signature algorithms for TLS 1.2: its Received header
# names the verified client certificate, and dsmtpd-ed has no other key)
test_expect_success "ed, TLS 1.2, Postfix naming no CA: the Ed25519 client certificate verified" "
	sleep 1; '$DSMTPC' -c '$TRASH/c-ed12b.yaml' once >'$TRASH/c-ed12b.out' 2>&1; rc=\$?; cat '$TRASH/c-ed12b.out';
	[ \$rc = 0 ] && grep -q 'to=<r12b@ed-pf.test>.*status=sent' '$TRASH/c-ed12b.out' &&
	grep 'Trusted TLS connection established from' '$TRASH/pf/maillog' | tail -n +$((npf + 1)) |
	    grep -q 'TLSv1.2 ' &&
	grep -h 'TLS negotiated' '$TRASH'/c-ed12b/logs/send/*.LOG | grep -q 'version=TLSv1.2'"
test_expect_success "ed, TLS 1.2: Postfix relays to dsmtpd-ed (Ed25519 ServerKeyExchange from the key process), verified both ways" "
	wait_for 30 \"grep -q 'r12b@ed-pf.test.*status=sent' '$TRASH/pf/maillog'\" &&
	grep -qE 'Verified TLS connection established to 127.0.0.1\\[127.0.0.1\\]:$dED: TLSv1.2 ' '$TRASH/pf/maillog' &&
	id=\$(grep -l -a 'r12b@ed-pf.test' '$TRASH'/d-ed/queue/*.e) && d=\${id%.e}.d &&
	grep -a 'Client CN' \$d && grep -a -q 'Client CN \"ed.test\", Issuer \"ed.test\" (verified OK)' \$d &&
	flush_plog d-ed >/dev/null 2>&1 &&
	sid=\$(grep -h 'version=TLSv1.2' '$TRASH'/d-ed/logs/receive/*.LOG | tail -1 | cut -d, -f3) && [ -n \"\$sid\" ] &&
	grep -h \",\$sid,\" '$TRASH'/d-ed/logs/receive/*.LOG | grep 'Remote certificate' | grep -q 'sha256=$fpr_peer' &&
	grep -h \",\$sid,\" '$TRASH'/d-ed/logs/receive/*.LOG | grep 'TLS verification' | grep -q 'chain=ok'"

# the peers' own words, for whoever reads the log
say "# Postfix:"
grep 'TLS connection established' "$TRASH/pf/maillog" | sed 's/^.*postfix/#   postfix/'
say "# Exim:"
grep -E ' (<=|=>) ' "$TRASH/ex/log/mainlog" | sed 's/^/#   /'
test_expect_success "the key files stayed root's 0600" "
	[ \"\$(stat -c '%U %a' '$k/ed.key' '$k/p256.key' | sort -u)\" = 'root 600' ]"
postfix_stop pf
for t in ed p256; do kill "$(tail -1 "$TRASH/d-$t.pid")"; done
test_expect_success "no sanitizer report from any process" "
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH'/d-*.log '$TRASH'/c-*.out"
finish
