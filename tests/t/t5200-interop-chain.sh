#!/bin/sh
# t5200-interop-chain: real MTA -> dsmtpd -> dsmtpc run -> real MTA, for
# the four pairs Postfix->Postfix, Postfix->Exim, Exim->Postfix and
# Exim->Exim, each twice: TLS 1.3 with ECDSA certificates and TLS 1.2 with
# RSA ones on both hops (forced by the MTAs for half of the chains, by
# dsmtp.yaml's tls_priority for the other half). STARTTLS is required on
# both hops; the sender MTA verifies dsmtpd's certificate and presents a
# client certificate; dsmtpc delivers at level verify or mandatory and
# presents dsmtpd's certificate, which the far MTA verifies. 50 messages
# per chain (dot lines, 8-bit text, 990-octet lines, trailing blanks) are
# compared at the far end's maildir by Message-ID and SHA-256 of the body;
# the TLS version and key type actually used on each hop are read from
# dsmtp-log (both directions) and from the Postfix and Exim logs.
# The eight chains run at once; T5200_ONLY=REGEX runs only the chains whose
# line matches (e.g. '^ee'). Needs root for the MTAs (skips otherwise).
. "${srcdir:-.}/tests/t/lib.sh"
. "$srcdir/tests/t/lib-postfix.sh"
. "$srcdir/tests/t/lib-exim.sh"
postfix_need_
exim_need_
need_ certtool
need_ openssl
# a pyenv shim costs seconds per python3 on a loaded machine, and lib.sh
# starts one per free_port and wait_port: resolve the interpreter once
PYTHON=$(python3 -c 'import sys; print(sys.executable)') || framework_failure_ "no python3"
python3() { "$PYTHON" -S "$@"; }	# the standard library is enough

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
chmod 755 "$TRASH" "$pki"; chmod 644 "$pki"/*.pem "$pki"/*.key	# the MTAs' daemons run unprivileged
N=50

# SHA-256 of a certificate's DER, lower-case hex (what dsmtp-log prints)
fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
fpr_client=$(fpr "$pki/client.pem") && fpr_ecdsa=$(fpr "$pki/server.pem") &&
fpr_rsa=$(fpr "$pki/server-rsa.pem") || framework_failure_ "openssl x509 -fingerprint"

# inject PORT KIND OUT: N messages over one SMTP connection; OUT gets
# "Message-ID SHA-256" of each body as a maildir stores it (LF line ends)
inject() {
	python3 - "$1" "$2" "$3" "$N" <<'PY'
import hashlib, smtplib, sys
port, kind, out, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
extra = [b'.', b'..', b'.leading dot', b' leading blank', b'trailing blanks   ', b'\ttab\tinside',
         b'', b'From the start of a line', b'x' * 990, 'grüße, ünïcödé — 8 bit'.encode()]
res = []
s = smtplib.SMTP('127.0.0.1', port)
s.ehlo('inject.example.org')
for i in range(n):
    mid = '<%s-%d@interop.test>' % (kind, i)
    lines = [('%s message %d line %d' % (kind, i, k)).encode() for k in range(i * 7 + 1)]
    lines[1:1] = extra
    if i % 5 == 0:
        lines.append(b'')           # a body that ends with an empty line
    head = ('From: <a@sender.test>\r\nTo: <x@example.com>\r\nSubject: %s %d\r\n'
            'Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nMessage-ID: %s\r\n\r\n' % (kind, i, mid)).encode()
    s.sendmail('a@sender.test', ['x@example.com'], head + b'\r\n'.join(lines) + b'\r\n')
    res.append('%s %s' % (mid, hashlib.sha256(b'\n'.join(lines) + b'\n').hexdigest()))
s.quit()
open(out, 'w').write('\n'.join(sorted(res)) + '\n')
PY
}

# received DIR OUT: "Message-ID SHA-256" of each message in the maildir DIR
received() {
	python3 - "$1" "$2" <<'PY'
import glob, hashlib, sys
res = []
for f in glob.glob(sys.argv[1] + '/new/*'):
    data = open(f, 'rb').read()
    head, _, body = data.partition(b'\n\n')
    mid = [l for l in head.split(b'\n') if l.lower().startswith(b'message-id:')]
    mid = mid[0].split(b':', 1)[1].strip().decode() if mid else '(none)'
    res.append('%s %s' % (mid, hashlib.sha256(body).hexdigest()))
open(sys.argv[2], 'w').write('\n'.join(sorted(res)) + '\n')
PY
}

# pf_conf NAME 'key = value'...: postfix_conf in one postconf run
pf_conf() { _n=$1; shift; postconf -c "$TRASH/$_n/etc" -e "$@"; }

# chain NAME SENDER FAR PROFILE FORCE LEVEL SPORT DPORT FPORT
#   SENDER, FAR: postfix or exim; PROFILE: ecdsa13 or rsa12; FORCE: mta
#   (the MTAs allow only that TLS version) or dsmtp (tls_priority does);
#   LEVEL: dsmtpc's TLS level for the far hop
chain() {
	name=$1 snd=$2 far=$3 prof=$4 force=$5 level=$6 sport=$7 dport=$8 fport=$9
	t0=$(date +%s%N)
	case $prof in
	ecdsa13) cert=$pki/server-chain.pem key=$pki/server.key v=3 pfoff=TLSv1.2 ;;
	rsa12) cert=$pki/server-rsa.pem key=$pki/server-rsa.key v=2 pfoff=TLSv1.3 ;;
	esac
	prio="NORMAL:-VERS-ALL:+VERS-TLS1.$v"
	if [ "$force" = mta ]; then
		mprio=$prio pfprot="!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!$pfoff" dprio=""
	else
		mprio=NORMAL pfprot="!SSLv2,!SSLv3,!TLSv1,!TLSv1.1" dprio="tls_priority: \"$prio:%SERVER_PRECEDENCE\""
	fi
	# the far MTA: STARTTLS required, asks for and verifies a client certificate
	case $far in
	postfix)
		maildir="$TRASH/$name-far/vmail/box"
		postfix_setup "$name-far" "$fport" &&
		mkdir -p "$TRASH/$name-far/vmail" && chown postfix:postfix "$TRASH/$name-far/vmail" &&
		pf_conf "$name-far" "smtpd_tls_cert_file = $cert" "smtpd_tls_key_file = $key" \
		    "smtpd_tls_security_level = encrypt" "smtpd_tls_ask_ccert = yes" \
		    "smtpd_tls_CAfile = $pki/ca.pem" "smtpd_tls_mandatory_protocols = $pfprot" \
		    "smtpd_tls_protocols = $pfprot" \
		    "virtual_mailbox_domains = example.com" "virtual_mailbox_base = $TRASH/$name-far/vmail" \
		    "virtual_mailbox_maps = static:box/" "virtual_uid_maps = static:$(id -u postfix)" \
		    "virtual_gid_maps = static:$(id -g postfix)" &&
		postfix_start_quick "$name-far" && wait_port 127.0.0.1 "$fport" || return 1 ;;
	exim)
		maildir="$TRASH/$name-far/mail/box"
		exim_receiver "$name-far" "$fport" "$cert" "$key" "$pki/ca.pem" "$mprio" || return 1 ;;
	esac
	echo "$dport" >"$TRASH/$name.dport"
	echo "$maildir" >"$TRASH/$name.maildir"
	# dsmtpd and dsmtpc run, one configuration
	cat >"$TRASH/$name.yaml" <<EOF
hostname: relay.example.org
state_dir: $TRASH/$name-dsmtp
$dprio
receive:
  listen: [ "127.0.0.1:$dport" ]
  tls: required
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  max_connections_per_ip: 200
  workers: 1
certificates:
  - cert: $cert
    key: $key
trust:
  ca_file: $pki/ca-bundle.pem
send:
  retry: { first: 1, max: 2 }
  routes:
    - domain: example.com
      next_hop: "[localhost]:$fport"
      tls: $level
EOF
	start_bg "$name-dsmtpd" "$DSMTPD" -c "$TRASH/$name.yaml"
	wait_port 127.0.0.1 "$dport" || return 1
	start_bg "$name-dsmtpc" "$DSMTPC" -c "$TRASH/$name.yaml" run
	# the sender MTA: verifies dsmtpd's certificate, presents client.pem
	case $snd in
	postfix)
		postfix_setup "$name-snd" "$sport" &&
		pf_conf "$name-snd" "relayhost = [127.0.0.1]:$dport" \
		    "smtp_tls_security_level = encrypt" \
		    "smtp_tls_policy_maps = inline:{ {[127.0.0.1]:$dport = secure match=mail.example.com} }" \
		    "smtp_tls_CAfile = $pki/ca.pem" "smtp_tls_cert_file = $pki/client.pem" \
		    "smtp_tls_key_file = $pki/client.key" "smtp_tls_protocols = $pfprot" \
		    "smtp_tls_mandatory_protocols = $pfprot" &&
		postfix_start_quick "$name-snd" && wait_port 127.0.0.1 "$sport" || return 1 ;;
	exim)
		exim_relay "$name-snd" "$sport" localhost "$dport" "$pki/client.pem" "$pki/client.key" \
		    "$pki/ca.pem" "$mprio" || return 1 ;;
	esac
	t1=$(date +%s%N)
	inject "$sport" "$name" "$TRASH/$name.sent" || return 1
	t2=$(date +%s%N)
	# wait for N messages at the far end (60 s)
	for _ in $(seq 1 600); do
		[ "$(ls "$maildir/new" 2>/dev/null | wc -l)" -ge "$N" ] && break
		sleep 0.1
	done
	t3=$(date +%s%N)
	echo "$name: set up in $(( (t1 - t0) / 1000000 )) ms, $N messages given to the sender in" \
	    "$(( (t2 - t1) / 1000000 )) ms, all at the far end $(( (t3 - t2) / 1000000 )) ms later"
	received "$maildir" "$TRASH/$name.got"
}

# the eight chains: NAME SENDER FAR PROFILE FORCE LEVEL
CHAINS="pp13 postfix postfix ecdsa13 mta verify
pp12 postfix postfix rsa12 dsmtp mandatory
pe13 postfix exim ecdsa13 dsmtp mandatory
pe12 postfix exim rsa12 mta verify
ep13 exim postfix ecdsa13 dsmtp verify
ep12 exim postfix rsa12 mta mandatory
ee13 exim exim ecdsa13 mta mandatory
ee12 exim exim rsa12 dsmtp verify"
[ -n "${T5200_ONLY:-}" ] && CHAINS=$(echo "$CHAINS" | grep -E "$T5200_ONLY")

postfix_skeleton || framework_failure_ "postfix check failed"

# every port before any chain starts, all distinct (held open together)
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(24)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))') || framework_failure_ "no free ports"
port() { echo $ports | cut -d' ' -f"$1"; }
bg=""
i=0
T0=$(date +%s%N)
while read -r name snd far prof force level; do
	( chain "$name" "$snd" "$far" "$prof" "$force" "$level" \
	    "$(port $((i + 1)))" "$(port $((i + 2)))" "$(port $((i + 3)))" ||
	    echo "chain $name: setup failed" ) >"$TRASH/$name.chainlog" 2>&1 </dev/null &
	bg="$bg $!"
	i=$((i + 3))
done <<EOF
$CHAINS
EOF
wait $bg
T1=$(date +%s%N)
echo "all chains: $(( (T1 - T0) / 1000000 )) ms"
cat "$TRASH"/*.chainlog

# received_ok MAILDIR VERSION: each of the N messages carries dsmtpd's
# Received header with VERSION and the sender MTA's verified certificate
received_ok() {
	n=$(grep -l -a "^	(version=$2 cipher=" "$1"/new/* |
	    xargs grep -l -a '^	(client certificate: subject="CN=partner.example.net,O=partner tests" verify=ok)' |
	    wc -l)
	echo "$n messages with dsmtpd's Received as expected"
	test "$n" = "$N"
}

# spool_empty NAME: dsmtpd's spool holds no message any more
spool_empty() { ! ls "$TRASH/$1-dsmtp/queue" | grep '\.e$'; }

# eventually CMD...: CMD succeeds within 5 s (logs are written at the end
# of a session and once a second; the far end may have a message first)
eventually() {
	for _ in $(seq 1 25); do
		"$@" >"$TRASH/eventually.out" 2>&1 && { cat "$TRASH/eventually.out"; return 0; }
		sleep 0.2
	done
	cat "$TRASH/eventually.out"
	return 1
}

# dsmtp_hop NAME DIR VERSION SHA256 [LEVEL]: every session of dsmtp-log's
# DIR (receive or send) that carried mail used TLS VERSION with a peer
# certificate of fingerprint SHA256 (and passed the policy at LEVEL), and
# together they carried N messages
dsmtp_hop() {
	"$DSMTP_LOG" sessions --json "$TRASH/$1-dsmtp/logs/$2" >"$TRASH/$1.$2.json" &&
	python3 - "$TRASH/$1.$2.json" "$3" "$4" "${5:-}" "$N" <<'PY'
import json, sys
path, version, sha, level, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
total, bad = 0, []
for line in open(path):
    s = json.loads(line)
    if s['messages'] == 0 and s['ehlo'] == '':
        continue                    # a port probe of the harness
    total += s['messages']
    if s['tls_version'] != version or s['cert_sha256'] != sha:
        bad.append(line)
    if level and (s['policy'] != 'pass' or s['policy_level'] != level):
        bad.append(line)
    print(s['direction'], s['tls_version'], s['tls_cipher'], s['cert_sha256'][:16], s['policy'],
          s['policy_level'], 'messages=%d' % s['messages'])
for b in bad:
    print('unexpected:', b.strip())
print('messages in all: %d (want %d)' % (total, n))
sys.exit(1 if bad or total != n else 0)
PY
}

# mta_hop NAME ROLE MTA VERSION ALG PORT: the MTA's log shows every TLS
# session of ROLE (snd: its client to dsmtpd, far: its server for dsmtpc)
# with VERSION, at least one naming ALG, and, for Exim, N messages with a
# verified peer certificate
mta_hop() {
	case $3 in
	postfix)
		if [ "$2" = snd ]; then
			pat="Verified TLS connection established to 127.0.0.1\[127.0.0.1\]:$6: "
		else
			pat="Trusted TLS connection established from localhost\[127.0.0.1\]: "
		fi
		grep 'TLS connection established' "$TRASH/$1-$2/maillog" >"$TRASH/$1-$2.tls" &&
		grep "$pat" "$TRASH/$1-$2.tls" >"$TRASH/$1-$2.ok" &&
		cmp "$TRASH/$1-$2.tls" "$TRASH/$1-$2.ok" &&	# none else: all verified
		! grep -v "$pat$4 with cipher" "$TRASH/$1-$2.tls" &&
		case $5 in
		ECDSA) grep -q 'server-signature ECDSA' "$TRASH/$1-$2.tls" ;;
		RSA) grep -q 'with cipher ECDHE-RSA-' "$TRASH/$1-$2.tls" ;;
		esac ;;
	exim)
		xv=$(echo "$4" | sed 's/^TLSv/TLS/')
		# the peer is dsmtpd (snd) or dsmtpc presenting dsmtpd's certificate (far)
		if [ "$2" = snd ]; then mark=" => x@example.com "; else mark=" <= a@sender.test "; fi
		grep -F "$mark" "$TRASH/$1-$2/log/mainlog" >"$TRASH/$1-$2.tls" &&
		test "$(grep -c -E " X=$xv:[^ ]*_$5[^ ]* CV=yes DN=.O=dsmtp tests,CN=mail.example.com." \
		    "$TRASH/$1-$2.tls")" = "$N" ;;
	esac || { tail -3 "$TRASH/$1-$2.tls" 2>/dev/null; false; }
}

while read -r name snd far prof force level; do
	case $prof in
	ecdsa13) v=TLSv1.3 fpr_far=$fpr_ecdsa alg=ECDSA ;;
	rsa12) v=TLSv1.2 fpr_far=$fpr_rsa alg=RSA ;;
	esac
	test_expect_success "$snd -> dsmtpd -> dsmtpc -> $far ($prof, $force forces $v): $N messages, Message-ID and body SHA-256 as sent" "
		test \$(wc -l <'$TRASH/$name.sent') = $N &&
		diff '$TRASH/$name.sent' '$TRASH/$name.got' &&
		eventually spool_empty $name" </dev/null
	test_expect_success "($name) hop 1, $snd -> dsmtpd: $v, $alg, $snd's client certificate verified (dsmtp-log, $snd's log)" "
		eventually dsmtp_hop $name receive $v $fpr_client &&
		received_ok \$(cat '$TRASH/$name.maildir') $v &&
		eventually mta_hop $name snd $snd $v $alg \$(cat '$TRASH/$name.dport')" </dev/null
	test_expect_success "($name) hop 2, dsmtpc -> $far: $v, $alg, level $level passed, dsmtpc's certificate verified (dsmtp-log, $far's log)" "
		eventually dsmtp_hop $name send $v $fpr_far $level &&
		eventually mta_hop $name far $far $v $alg" </dev/null
done <<EOF
$CHAINS
EOF

test_expect_success "every dsmtpd and dsmtpc stops on SIGTERM, nothing from the sanitizers in their logs" "
	pids=\$(cat '$TRASH'/*-dsmtpd.pid '$TRASH'/*-dsmtpc.pid) &&
	kill -TERM \$pids &&
	for p in \$pids; do
		for _ in \$(seq 1 100); do kill -0 \$p 2>/dev/null || break; sleep 0.1; done
		! kill -0 \$p 2>/dev/null || exit 1
	done &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH'/*-dsmtpd.log '$TRASH'/*-dsmtpc.log"
finish
