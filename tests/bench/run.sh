#!/bin/sh
# run.sh BUILDDIR [SRCDIR]: `make bench`, dsmtp against Postfix and Exim on
# loopback (DESIGN.md section 12, issues #9 and #20).
#
# In a temporary directory it makes the test certificates (tests/certs/
# mkcerts.sh), then starts a fresh dsmtpd (workers: auto, logs: basic,
# STARTTLS with the ECDSA P-256 test certificate) and runs receive scenarios
# 1-3 against it, then the same against a fresh private Postfix (its own
# config, queue and data directories, the same certificate, delivery
# discarded) and scenarios 1-2 against a fresh private Exim (the binary
# contrib/deps unpacks; its own config, spool and logs, the same
# certificate, queue_only: what it receives stays in its spool, as with
# dsmtpd), and again all three. Each measurement is a 1-2 s warm-up and
# $BENCH_SECONDS seconds of loadgen; the better of the two runs of each is
# kept. Scenario 1r is scenario 1 again with the RSA-2048 certificate
# (server-rsa), for all three, also twice. Then the idle-memory scenario,
# once each on fresh servers; the relay scenarios, once each: 4, a spool of
# $BENCH_RELAY messages delivered to tests/bench/tlssink by `dsmtpc once`,
# by Postfix's smtp client (queue filled on hold, then released) and by
# Exim's queue runners ($BENCH_EXIM_RELAY messages, queue_only, then
# $BENCH_EXIM_RUNNERS two-stage runners at once, one per named queue); 6, edge -> hub latency at a
# fixed rate (dsmtpd -> dsmtpc -> dsmtpd, and Postfix -> smtp -> Postfix;
# loadgen --watch times each message from the edge's 250 to its arrival in
# the hub's spool); 7, scaling: 1, 10, 100, 1000 concurrent clients, a new
# STARTTLS per 10 KB message, on one fresh server each (dsmtpd, Postfix,
# Exim); and the ceilings: TLS handshakes per CPU second of a minimal
# GnuTLS server (tlsceiling) with each key type, `openssl speed` ECDSA
# P-256 and RSA-2048 signs per second, and the fsync rate of the disk
# (fsyncrate).
#
# Prints the table and writes it to BUILDDIR/tests/bench/last-run.txt, the
# raw loadgen output beside it in last-run.log. Postfix needs root and the
# postfix package, Exim root, the unpacked binary and the Debian-exim user
# (contrib/deps test); without them their columns say "skipped" and why.
# Every process it starts is stopped by PID at the end.
#
# Connection limits are raised for the 1,000 clients of scenario 7 and the
# idle sessions of scenario 5: dsmtpd max_connections and
# max_connections_per_ip, Postfix default_process_limit, Exim
# smtp_accept_max all $CONN_LIMIT (the larger of BENCH_IDLE and 1000, plus
# 500), Exim smtp_connect_backlog 1024 (dsmtpd's listen backlog); ulimit -n
# 65536.
#
# Environment: BENCH_SECONDS (5), BENCH_IDLE (1000 sessions), BENCH_RELAY
# (10000 messages), BENCH_EXIM_RELAY (1000 messages: Exim's share of
# scenario 4), BENCH_RELAY_TIMEOUT (240 s per delivery run),
# BENCH_EXIM_RUNNERS (20), BENCH_RATE (50 sessions/s) and
# BENCH_RATE_SECONDS (10) for scenario 6, BENCH_S7_CLIENTS ("1 10 100
# 1000") and BENCH_S7_SECONDS (4) for scenario 7, BENCH_ONLY (a subset of
# "1-3 1r 4 5 6 7 c", c the ceilings), BENCH_ANCHORS (a subset of "postfix
# exim", the servers measured beside dsmtpd), KEEP_BENCH=1 keeps the
# temporary directory. A quick check that the whole run works:
# BENCH_SECONDS=1 BENCH_S7_SECONDS=1 BENCH_RELAY=500 BENCH_IDLE=100
# BENCH_RATE_SECONDS=2 make bench.
set -u

builddir=$(cd "${1:?usage: run.sh BUILDDIR [SRCDIR]}" && pwd)
srcdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
LOADGEN=$builddir/tests/bench/loadgen
TLSCEILING=$builddir/tests/bench/tlsceiling
TLSSINK=$builddir/tests/bench/tlssink
FSYNCRATE=$builddir/tests/bench/fsyncrate
DSMTPD=$builddir/dsmtpd
DSMTPC=$builddir/dsmtpc
SECS=${BENCH_SECONDS:-5}
IDLE=${BENCH_IDLE:-1000}
S7_CLIENTS=${BENCH_S7_CLIENTS:-1 10 100 1000}
S7_SECS=${BENCH_S7_SECONDS:-4}
EX_RUNNERS=${BENCH_EXIM_RUNNERS:-20}
# every server's connection limit: room for scenario 5's idle sessions and
# scenario 7's clients (the larger of the two), with some to spare
CONN_LIMIT=1000
[ "$IDLE" -gt "$CONN_LIMIT" ] && CONN_LIMIT=$IDLE
for _c in $S7_CLIENTS; do [ "$_c" -gt "$CONN_LIMIT" ] && CONN_LIMIT=$_c; done
CONN_LIMIT=$((CONN_LIMIT + 500))
OUT=$builddir/tests/bench/last-run.txt
RAW=$builddir/tests/bench/last-run.log

for p in "$LOADGEN" "$TLSCEILING" "$FSYNCRATE" "$DSMTPD"; do
	[ -x "$p" ] || { echo "run.sh: $p not built (make bench builds it)" >&2; exit 1; }
done
command -v python3 >/dev/null 2>&1 || { echo "run.sh: python3 needed for free ports" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/dsmtp-bench.XXXXXX") || exit 1
chmod 755 "$T"		# Postfix's unprivileged daemons walk into it
: >"$RAW"
PIDS=""			# what we started, stopped by PID at exit
PF_RUNNING=""		# the running Postfix instances (their directories)
T0=$(date +%s)

say() { printf '%s\n' "$*"; }
log() { printf '%s\n' "$*" >>"$RAW"; }

# every descendant of a PID (Postfix's master forks its daemons), from one
# snapshot of the process table: a thousand ps calls would take minutes
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2; pids[NR] = $1 }
		END {
			for (;;) {
				grew = 0
				for (i in pids) {
					p = pids[i]
					if (!(p in in_tree) && (parent[p] == root || parent[p] in in_tree)) {
						in_tree[p] = 1; grew = 1
					}
				}
				if (!grew) break
			}
			for (p in in_tree) print p
		}'
}

# wait up to $2 tenths of a second for every PID in $1 to be gone, then KILL
reap_pids() {
	local left p i
	for i in $(seq "$2"); do
		left=""
		for p in $1; do
			kill -0 "$p" 2>/dev/null && left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	for p in $left; do
		kill -9 "$p" 2>/dev/null
	done
}

# stop one process tree: TERM, wait up to 10 s, then KILL what is left
stop_tree() {
	_kids=$(descendants "$1")
	kill "$1" 2>/dev/null
	reap_pids "$1" 100
	reap_pids "$_kids" 50
	wait "$1" 2>/dev/null
	return 0
}

# stop the private Postfix in directory $1
postfix_stop_dir() {
	_m=$(cat "$1/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	_kids=""
	[ -n "$_m" ] && _kids=$(descendants "$_m")
	postfix -c "$1/conf" stop >/dev/null 2>&1
	if [ -n "$_m" ]; then
		reap_pids "$_m" 300
	fi
	# the daemons leave when the master is gone; wait for them, by PID
	reap_pids "$_kids" 200
	PF_RUNNING=$(printf '%s\n' $PF_RUNNING | grep -vxF "$1")
}

# stop every private Postfix still running
postfix_stop() {
	for _pd in $PF_RUNNING; do
		postfix_stop_dir "$_pd"
	done
}

cleanup() {
	postfix_stop
	for p in $PIDS; do
		kill -0 "$p" 2>/dev/null && stop_tree "$p"
	done
	exim_untrust
	if [ -n "${KEEP_BENCH:-}" ]; then
		say "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait until 127.0.0.1:PORT accepts connections (20 s)
wait_port() {
	python3 - "$1" <<'PY'
import socket, sys, time
end = time.time() + 20
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# the value of KEY in a RESULT line held in FILE
get() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2" 2>/dev/null | tail -n 1; }
# awk arithmetic: calc 'EXPR' (prints with %.*g-like formatting by the caller)
calc() { awk "BEGIN { x = $1; print x }" 2>/dev/null | grep . || echo -; }
# ms per message: per_msg CPU_SECONDS N, or - when there was no message
per_msg() { case ${2:-0} in 0|-) echo - ;; *) calc "$1 * 1000 / $2" ;; esac; }
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "" || x == "-") print "-"; else printf f, x }'; }

# 1,000 idle sessions or clients need more descriptors than the usual 1,024
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null
[ "$(ulimit -n)" -ge "$CONN_LIMIT" ] || say "warning: ulimit -n is $(ulimit -n), below $CONN_LIMIT connections"

if ! sh "$srcdir/tests/certs/mkcerts.sh" "$T/certs" >>"$RAW" 2>&1; then
	say "run.sh: mkcerts.sh failed (see $RAW)"; exit 1
fi
chmod 755 "$T/certs"
CERT=$T/certs/server.pem
KEY=$T/certs/server.key
# use_key ecdsa|rsa: the certificate every server started next uses
# (ECDSA P-256 unless scenario 1r asks for RSA-2048)
use_key() {
	case $1 in
	rsa) CERT=$T/certs/server-rsa.pem KEY=$T/certs/server-rsa.key ;;
	*) CERT=$T/certs/server.pem KEY=$T/certs/server.key ;;
	esac
}
# BENCH_ANCHORS: the servers measured beside dsmtpd
anchor() { case " ${BENCH_ANCHORS:-postfix exim} " in *" $1 "*) return 0 ;; esac; return 1; }

# why Postfix is not measured, or empty
PF_WHY=""
if [ "$(id -u)" != 0 ]; then
	PF_WHY="skipped: not root"
elif ! command -v postfix >/dev/null 2>&1 || [ ! -x /usr/lib/postfix/sbin/master ]; then
	PF_WHY="skipped: postfix not installed (apt-get install postfix)"
elif ! id postfix >/dev/null 2>&1; then
	PF_WHY="skipped: no postfix user"
fi
anchor postfix || PF_WHY="skipped: not in BENCH_ANCHORS"
# the private key must be readable by Postfix's smtpd after it drops root: it
# is loaded before that, as root, so mode 0600 is fine

# why Exim is not measured, or empty. Exim cannot be installed beside
# Postfix as a Debian package: contrib/deps (test) unpacks its binary into
# /opt/dsmtp-test-deps/exim, as tests/t/lib-exim.sh uses it; a system exim4
# on PATH is used when there is one
EX_WHY="" EXIM="" EXIM_LIBS=""
_exd=${DSMTP_TEST_DEPS:-/opt/dsmtp-test-deps}/exim
if [ -x "$_exd/usr/sbin/exim4" ]; then
	EXIM=$_exd/usr/sbin/exim4 EXIM_LIBS=$_exd/usr/lib/x86_64-linux-gnu
elif command -v exim4 >/dev/null 2>&1; then
	EXIM=$(command -v exim4)
fi
if [ "$(id -u)" != 0 ]; then
	EX_WHY="skipped: not root"
elif [ -z "$EXIM" ]; then
	EX_WHY="skipped: exim4 not found (contrib/deps test unpacks it into $_exd)"
elif ! id Debian-exim >/dev/null 2>&1; then
	EX_WHY="skipped: no Debian-exim user (contrib/deps test creates it)"
fi
anchor exim || EX_WHY="skipped: not in BENCH_ANCHORS"

NRUN=0
# start_dsmtpd [NEXT_HOP_PORT]: a fresh instance; sets PORT, SPID and
# DDIR (its directory: dsmtp.yaml, state/); with a port, the configuration
# also routes all mail there with tls: mandatory (for dsmtpc)
start_dsmtpd() {
	NRUN=$((NRUN + 1))
	PORT=$(free_port)
	_d=$T/dsmtpd.$NRUN
	DDIR=$_d
	mkdir -p "$_d"
	cat >"$_d/dsmtp.yaml" <<EOF
hostname: mail.example.com
state_dir: $_d/state
certificates:
  - cert: $CERT
    key: $KEY
trust:
  ca_file: $T/certs/ca-bundle.pem
receive:
  listen: [ "127.0.0.1:$PORT" ]
  tls: opportunistic
  max_connections: $CONN_LIMIT
  max_connections_per_ip: $CONN_LIMIT
  workers: auto
logs:
  level: basic
EOF
	[ -n "${1:-}" ] && cat >>"$_d/dsmtp.yaml" <<EOF
send:
  routes:
    - domain: "*"
      next_hop: "[127.0.0.1]:$1"
      tls: mandatory
EOF
	"$DSMTPD" -c "$_d/dsmtp.yaml" >"$_d/stderr.log" 2>&1 &
	SPID=$!
	PIDS="$PIDS $SPID"
	if ! wait_port "$PORT"; then
		say "run.sh: dsmtpd did not start:"; cat "$_d/stderr.log"; exit 1
	fi
}

stop_dsmtpd() {
	stop_tree "$SPID"
}

# start_postfix [ROLE]: a fresh private instance; sets PORT, SPID (the
# master) and PF_DIR. ROLE: bench (the default: receive, discard), relay
# (hold everything received; smtp to the sink at SINK_PORT), edge (smtp to
# the hub at HUB_PORT), hub (receive and hold: cleanup moves each finished
# queue file into hold/, where it stays)
start_postfix() {
	_role=${1:-bench}
	NRUN=$((NRUN + 1))
	PORT=$(free_port)
	PF_DIR=$T/postfix.$NRUN
	mkdir -p "$PF_DIR/conf" "$PF_DIR/queue" "$PF_DIR/data"
	chown postfix "$PF_DIR/data"
	chmod 755 "$PF_DIR" "$PF_DIR/conf" "$PF_DIR/queue"
	cat >"$PF_DIR/conf/main.cf" <<EOF
# a private instance for the benchmark: loopback, TLS may, everything discarded
compatibility_level = 3.6
config_directory = $PF_DIR/conf
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.example.com
mydomain = example.com
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_transport = discard
relay_transport = discard
local_transport = discard
alias_maps =
alias_database =
biff = no
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $T
smtpd_tls_security_level = may
smtpd_tls_cert_file = $CERT
smtpd_tls_key_file = $KEY
smtpd_tls_loglevel = 1
# room for scenario 5's idle sessions and scenario 7's clients, one smtpd
# process each (the smtpd listener's backlog follows this limit)
default_process_limit = $CONN_LIMIT
EOF
	case $_role in
	relay|edge)
		# deliver with smtp to one next hop over TLS (encrypt: TLS or
		# defer, no verification, like dsmtpc's "mandatory"), with the
		# TLS session cache and TLS connection reuse (tlsproxy)
		sed -i '/^default_transport\|^relay_transport/d' "$PF_DIR/conf/main.cf"
		if [ "$_role" = relay ]; then _hop=$SINK_PORT; else _hop=$HUB_PORT; fi
		cat >>"$PF_DIR/conf/main.cf" <<EOF
default_transport = smtp
relay_transport = smtp
relayhost = [127.0.0.1]:$_hop
smtp_tls_security_level = encrypt
smtp_tls_session_cache_database = btree:\$data_directory/smtp_scache
smtp_tls_connection_reuse = yes
smtp_connection_cache_on_demand = yes
EOF
		;;
	esac
	[ "$_role" = relay ] || [ "$_role" = hub ] && cat >>"$PF_DIR/conf/main.cf" <<EOF
# keep the mail without delivering it: everything received goes on hold
smtpd_client_restrictions = check_client_access static:HOLD
EOF
	# master.cf: the Debian services that matter, no chroot, smtpd on our port
	cat >"$PF_DIR/conf/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsproxy  unix  - - n -     0 tlsproxy
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
	PF_RUNNING="$PF_RUNNING $PF_DIR"
	if ! postfix -c "$PF_DIR/conf" start >>"$RAW" 2>&1; then
		say "run.sh: postfix -c $PF_DIR/conf start failed:"
		tail -5 "$PF_DIR/maillog" 2>/dev/null
		exit 1
	fi
	if ! wait_port "$PORT"; then
		say "run.sh: Postfix did not listen on $PORT:"; tail -5 "$PF_DIR/maillog"; exit 1
	fi
	SPID=$(tr -d ' ' <"$PF_DIR/queue/pid/master.pid")
}

stop_postfix() {
	postfix_stop
}

# dsmtpd's default tls_priority (tests/bench/benchsrv.h BS_PRIORITY), given
# to Exim's GnuTLS so it negotiates what dsmtpd does (X25519 first)
EX_PRIORITY="NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:+GROUP-FFDHE3072:+GROUP-FFDHE4096:%SERVER_PRECEDENCE"

exim_run() {
	LD_LIBRARY_PATH="$EXIM_LIBS" "$EXIM" "$@"
}

# loadgen's extra options for the server under test: against Exim,
# --quit-shutdown. Exim holds its 221 to QUIT up to 200 ms, waiting for the
# client to close first (so that TIME_WAIT lands on the client); Exim's own
# SMTP client half-closes right after QUIT, and so does loadgen against
# Exim, which then replies at once. Against dsmtpd and Postfix (their 221
# comes at once) loadgen reads the 221 and then closes, as before.
LG_EXTRA=""

# start_exim [ROLE]: a fresh private Exim daemon; sets PORT, SPID and
# EX_DIR (exim.conf, spool/, log/). Both roles: STARTTLS with the current
# certificate (a copy Exim's reception process can read), dsmtpd's TLS
# priority, no DNS or ident lookups, queue_only (no delivery process per
# message: what is received stays in the spool, fsynced as Exim always
# does, as in dsmtpd when no dsmtpc runs), room for $CONN_LIMIT
# connections. ROLE: bench (the default), or relay: each message goes to
# one of EX_RUNNERS named queues q0.. at random, and the router sends
# everything to the sink at SINK_PORT over TLS (hosts_require_tls, no
# verification, like dsmtpc's "mandatory" and Postfix's "encrypt"; TLS
# resumption on)
start_exim() {
	_role=${1:-bench}
	NRUN=$((NRUN + 1))
	PORT=$(free_port)
	EX_DIR=$T/exim.$NRUN
	mkdir -p "$EX_DIR/spool" "$EX_DIR/log"
	cp "$CERT" "$EX_DIR/server.pem" && cp "$KEY" "$EX_DIR/server.key" &&
	    cp "$T/certs/ca-bundle.pem" "$EX_DIR/ca.pem" || exit 1
	chmod 600 "$EX_DIR/server.key"
	chown -R Debian-exim "$EX_DIR/spool" "$EX_DIR/log" "$EX_DIR/server.pem" "$EX_DIR/server.key" \
	    "$EX_DIR/ca.pem"
	chmod 755 "$EX_DIR"
	_queue=""
	[ "$_role" = relay ] && _queue="queue = q\${randint:$EX_RUNNERS}"
	cat >"$EX_DIR/exim.conf" <<EOF
# a private instance for the benchmark: loopback, STARTTLS, queue_only
primary_hostname = mail.example.com
spool_directory = $EX_DIR/spool
log_file_path = $EX_DIR/log/%slog
exim_path = $EXIM
keep_environment =
local_interfaces = 127.0.0.1
daemon_smtp_ports = $PORT
host_lookup =
rfc1413_hosts =
queue_only = true
smtp_accept_max = $CONN_LIMIT
smtp_connect_backlog = 1024
tls_advertise_hosts = *
tls_certificate = $EX_DIR/server.pem
tls_privatekey = $EX_DIR/server.key
tls_require_ciphers = $EX_PRIORITY
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  accept $_queue
EOF
	if [ "$_role" = relay ]; then
		# one transport per named queue, all alike: a transport's
		# hints ("wait-TRANSPORT": messages waiting for a host) then
		# hold only its own queue's messages, so a connection is passed
		# on to one this runner can deliver. No verification (":"), and
		# the bench CA as the transports' CA file: every Exim process
		# preloads each transport's CA file, and with the default
		# ("system", some 140 certificates) that took most of its CPU
		cat >>"$EX_DIR/exim.conf" <<EOF
begin routers
to_sink:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = to_sink_\$queue_name
begin transports
EOF
		_i=0
		while [ "$_i" -lt "$EX_RUNNERS" ]; do
			cat >>"$EX_DIR/exim.conf" <<EOF
to_sink_q$_i:
  driver = smtp
  port = $SINK_PORT
  allow_localhost
  hosts_require_tls = *
  tls_try_verify_hosts = :
  tls_verify_certificates = $EX_DIR/ca.pem
  tls_resumption_hosts = *
EOF
			_i=$((_i + 1))
		done
		cat >>"$EX_DIR/exim.conf" <<EOF
begin retry
* * F,2h,15m
EOF
	else
		cat >>"$EX_DIR/exim.conf" <<EOF
begin routers
discard:
  driver = redirect
  data = :blackhole:
EOF
	fi
	LD_LIBRARY_PATH="$EXIM_LIBS" "$EXIM" -C "$EX_DIR/exim.conf" -bdf >"$EX_DIR/daemon.out" 2>&1 &
	SPID=$!
	PIDS="$PIDS $SPID"
	LG_EXTRA=--quit-shutdown
	if ! wait_port "$PORT"; then
		say "run.sh: Exim did not listen on $PORT:"
		cat "$EX_DIR/daemon.out"; tail -5 "$EX_DIR/log/paniclog" 2>/dev/null
		exit 1
	fi
}

# Exim passes a delivery's connection on to the next message waiting for
# the same host by re-executing itself (-MC) as the Exim user, and an Exim
# user started with -C keeps its privilege only when the file is listed in
# the TRUSTED_CONFIG_LIST compiled in (Debian: /etc/exim4/trusted_configs;
# otherwise "exim user lost privilege for using -C option" and no
# connection is reused). exim_trust FILE lists it there for the run when
# that list does not exist yet (nor its directory's other files are
# touched); exim_untrust removes what exim_trust made.
EX_TRUST_FILE="" EX_TRUST_DIR=""
exim_trust() {
	_tl=$(grep -a -o -m 1 '/[a-z0-9_/.-]*/trusted_configs' "$EXIM" 2>/dev/null | head -n 1)
	[ -n "$_tl" ] || return 0
	if [ -e "$_tl" ]; then
		say "  note: $_tl exists; not changed, so Exim may not reuse connections (see $RAW)"
		return 0
	fi
	if [ ! -d "$(dirname "$_tl")" ]; then
		mkdir -p "$(dirname "$_tl")" && EX_TRUST_DIR=$(dirname "$_tl")
	fi
	printf '%s\n' "$1" >"$_tl" && chmod 644 "$_tl" && EX_TRUST_FILE=$_tl
}
exim_untrust() {
	[ -n "$EX_TRUST_FILE" ] && rm -f "$EX_TRUST_FILE"
	[ -n "$EX_TRUST_DIR" ] && rmdir "$EX_TRUST_DIR" 2>/dev/null
	EX_TRUST_FILE="" EX_TRUST_DIR=""
}

stop_exim() {
	stop_tree "$SPID"
	LG_EXTRA=""
}

# lg NAME ARGS...: loadgen against PORT measuring SPID; output in $T/NAME.out
lg() {
	local name=$1 rc
	shift
	# shellcheck disable=SC2086
	timeout -k 5 600 "$LOADGEN" -s "127.0.0.1:$PORT" --server-pid "$SPID" $LG_EXTRA "$@" >"$T/$name.out" 2>&1
	rc=$?
	{ echo "== $name: loadgen $* (exit $rc)"; cat "$T/$name.out"; } >>"$RAW"
	return $rc
}

# measure NAME WARMUP ARGS...: a warm-up of WARMUP seconds, then the
# measurement; the RESULT is in $T/NAME.out
measure() {
	local name=$1 warm=$2
	shift 2
	lg "$name.warm" -d "$warm" "$@" >/dev/null
	if ! lg "$name" -d "$SECS" "$@"; then
		say "  $name: some messages failed: $(get failures "$T/$name.out")"
	fi
}

# keep the better of two runs (by messages per second): prints the file name
better() {
	local a b
	a=$(get msgs_per_s "$T/$1.out"); b=$(get msgs_per_s "$T/$2.out")
	if awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { exit !(b > a) }'; then echo "$T/$2.out"; else echo "$T/$1.out"; fi
}

say "dsmtp benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "dsmtpd $("$DSMTPD" --version 2>&1 | head -n 1); Postfix $(postconf -d -h mail_version 2>/dev/null || echo -); Exim $([ -n "$EXIM" ] && exim_run -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p'); GnuTLS $(certtool --version 2>/dev/null | sed -n 's/.*certtool \([0-9.]*\).*/\1/p' | head -n 1)"
say "receive scenarios 1-3 (Exim: 1-2) and 1r: ${SECS} s each after a 1-2 s warm-up, against a fresh dsmtpd, then a fresh Postfix, then a fresh Exim, twice; the better run of each kept"
[ -n "$PF_WHY" ] && say "Postfix: $PF_WHY"
[ -n "$EX_WHY" ] && say "Exim: $EX_WHY"

# scenarios 1-3: name, loadgen arguments
SCEN1="-c 50 -k 1 --size 10240"
SCEN2="-c 50 -k 10 --size 10240"
SCEN3="-c 50 -k 1 --size 10240 --resume"
# scenarios S... against one fresh server (dsmtpd, postfix or exim)
scenarios() {
	local srv=$1 round=$2 sfx=$3 s args warm=2
	shift 3
	start_$srv
	for s in "$@"; do
		eval "args=\$SCEN$s"
		# shellcheck disable=SC2086
		measure "s$s$sfx.$srv.$round" "$warm" $args
		warm=1
	done
	stop_$srv
}
# BENCH_ONLY: a subset, for working on one scenario ("1-3 1r 4 5 6 7 c")
want() { case " ${BENCH_ONLY:-1-3 1r 4 5 6 7 c} " in *" $1 "*) return 0 ;; esac; return 1; }
for round in $(want 1-3 && echo 1 2); do
	scenarios dsmtpd "$round" "" 1 2 3
	[ -z "$PF_WHY" ] && scenarios postfix "$round" "" 1 2 3
	# Exim: no TLS session tickets unless configured; scenario 3 is about them
	[ -z "$EX_WHY" ] && scenarios exim "$round" "" 1 2
	say "  round $round done ($(($(date +%s) - T0)) s)"
done
# scenario 1r: scenario 1 with the RSA-2048 certificate, all three, twice
for round in $(want 1r && echo 1 2); do
	use_key rsa
	scenarios dsmtpd "$round" r 1
	[ -z "$PF_WHY" ] && scenarios postfix "$round" r 1
	[ -z "$EX_WHY" ] && scenarios exim "$round" r 1
	use_key ecdsa
	say "  scenario 1r round $round done ($(($(date +%s) - T0)) s)"
done
# S<s>D, S<s>P, S<s>E: the kept run of each (a file name; empty when the
# scenario was not run for that server)
for s in 1 2 3 1r; do
	eval "S${s}D=\$(better s$s.dsmtpd.1 s$s.dsmtpd.2)"
	eval "S${s}P=" "S${s}E="
	[ -z "$PF_WHY" ] && eval "S${s}P=\$(better s$s.postfix.1 s$s.postfix.2)"
	[ -z "$EX_WHY" ] && [ "$s" != 3 ] && eval "S${s}E=\$(better s$s.exim.1 s$s.exim.2)"
done

# scenario 5: idle sessions, once each, fresh servers
if want 5; then
	start_dsmtpd
	lg s5.dsmtpd --idle "$IDLE" -c 50 --hold 6 --timeout 120 --idle-setup 240 || say "  s5.dsmtpd: $(get failures "$T/s5.dsmtpd.out")"
	stop_dsmtpd
	if [ -z "$PF_WHY" ]; then
		start_postfix
		lg s5.postfix --idle "$IDLE" -c 50 --hold 6 --timeout 120 --idle-setup 240 || say "  s5.postfix: $(get failures "$T/s5.postfix.out")"
		stop_postfix
	fi
	say "  scenario 5 done ($(($(date +%s) - T0)) s)"
fi

# ---- relay scenarios: 4 (a spool of RELAY_N messages to a TLS sink) and
# 6 (edge -> hub latency at a fixed rate) ----

# CPU seconds (user + system, reaped children included) of the given
# processes and all their live descendants, from /proc (as loadgen does)
treecpu() {
	python3 - "$@" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
procs = {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        st = open("/proc/%s/stat" % d).read()
    except OSError:
        continue
    f = st[st.rindex(")") + 2:].split()
    procs[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
tree = set(int(p) for p in sys.argv[1:] if int(p) in procs)
grew = True
while grew:
    grew = False
    for p, (pp, _) in procs.items():
        if p not in tree and pp in tree:
            tree.add(p)
            grew = True
print("%.2f" % (sum(procs[p][1] for p in tree) / hz))
PY
}
now() { date +%s.%N; }

# runcpu OUT TIMEOUT CMD...: run CMD (its output in OUT.log), then write to
# OUT "RESULT rc= t_start= t_end= cpu=": wall clock and the CPU it used.
# The runner is a child subreaper and reaps every orphan before it reads
# its children's rusage, so processes that CMD's children leave behind
# (Exim's delivery processes) are counted too, and waited for
runcpu() {
	_out=$1 _tmo=$2
	shift 2
	python3 - "$_out" "$_tmo" "$@" <<'PY'
import ctypes, os, resource, subprocess, sys, time
out, tmo, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
t0 = time.time()
with open(out + ".log", "w") as log:
    try:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=tmo).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
end = t0 + tmo + 10
while True:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid == 0:
        if time.time() > end:
            rc = "timeout"
            break
        time.sleep(0.005)
t1 = time.time()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write("RESULT rc=%s t_start=%.6f t_end=%.6f cpu=%.3f\n" % (rc, t0, t1, ru.ru_utime + ru.ru_stime))
PY
}

# start_sink NAME [N]: a fresh tlssink on SINK_PORT expecting N (RELAY_N)
# messages; its output in $T/NAME.sink, $T/NAME.done once all are in
start_sink() {
	SINK_PORT=$(free_port)
	"$TLSSINK" --port "$SINK_PORT" --cert "$CERT" --key "$KEY" --expect "${2:-$RELAY_N}" \
		--done-file "$T/$1.done" >"$T/$1.sink" 2>&1 &
	SINK_PID=$!
	PIDS="$PIDS $SINK_PID"
	wait_port "$SINK_PORT" || { say "run.sh: tlssink did not start"; cat "$T/$1.sink"; exit 1; }
}
stop_sink() {
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	cat "$T/$1.sink" >>"$RAW"
}
# files in a queue directory tree
nfiles() { find "$@" -type f 2>/dev/null | wc -l; }

RELAY_N=${BENCH_RELAY:-10000}
# Exim relays fewer: it spends about 100 ms of CPU per message (processes
# exec'd per message in each stage), and 10,000 would take far more than the
# bench's 15 minutes
EX_RELAY_N=${BENCH_EXIM_RELAY:-1000}
[ "$EX_RELAY_N" -gt "$RELAY_N" ] && EX_RELAY_N=$RELAY_N
RELAY_TMO=${BENCH_RELAY_TIMEOUT:-240}
RATE=${BENCH_RATE:-50}
RATE_SECS=${BENCH_RATE_SECONDS:-10}
RELAY_WHY=""
if [ ! -x "$DSMTPC" ]; then
	RELAY_WHY="not measured: dsmtpc not built"
elif [ ! -x "$TLSSINK" ]; then
	RELAY_WHY="not measured: tests/bench/tlssink not built"
fi

# scenario 4, dsmtp: dsmtpd fills its spool (plaintext, 50 clients, 200
# messages per connection; not measured), stops; then `dsmtpc once`
# (tls: mandatory, its default parallelism, connection reuse, TLS 1.3
# resumption) empties it into the sink, timed from start to exit
if [ -z "$RELAY_WHY" ] && want 4; then
	start_sink s4.dsmtp
	start_dsmtpd "$SINK_PORT"
	lg s4.dsmtp.fill --no-tls -c 50 -k 200 -n "$RELAY_N" --timeout 120 ||
		say "  s4.dsmtp fill: $(get failures "$T/s4.dsmtp.fill.out")"
	stop_dsmtpd
	S4D_QUEUED=$(nfiles "$DDIR/state/queue" -maxdepth 1 -name '*.e')
	runcpu "$T/s4.dsmtp.run" "$RELAY_TMO" "$DSMTPC" -c "$DDIR/dsmtp.yaml" once
	S4D_LEFT=$(nfiles "$DDIR/state/queue" -maxdepth 1 -name '*.e')
	stop_sink s4.dsmtp
	cat "$T/s4.dsmtp.run" >>"$RAW"
	tail -n 3 "$T/s4.dsmtp.run.log" >>"$RAW"
	say "  scenario 4 dsmtp done ($(($(date +%s) - T0)) s)"
fi
# scenario 4, Postfix: its smtpd fills the queue, everything on hold (not
# measured); postsuper -H ALL releases it to deferred/; timed from
# `postqueue -f` until the sink has every message and the queue is empty
if [ -z "$RELAY_WHY" ] && [ -z "$PF_WHY" ] && want 4; then
	start_sink s4.postfix
	start_postfix relay
	lg s4.postfix.fill --no-tls -c 50 -k 200 -n "$RELAY_N" --timeout 120 ||
		say "  s4.postfix fill: $(get failures "$T/s4.postfix.fill.out")"
	Q=$PF_DIR/queue
	S4P_QUEUED=$(nfiles "$Q/hold")
	postsuper -c "$PF_DIR/conf" -H ALL >>"$RAW" 2>&1
	_cpu0=$(treecpu "$SPID")
	_t0=$(now)
	postqueue -c "$PF_DIR/conf" -f >>"$RAW" 2>&1
	_end=$(awk -v t="$_t0" -v m="$RELAY_TMO" 'BEGIN { printf "%.0f", t + m }')
	_rc=timeout
	while [ "$(date +%s)" -lt "$_end" ]; do
		if [ -f "$T/s4.postfix.done" ] &&
		    [ "$(nfiles "$Q/active" "$Q/deferred" "$Q/incoming" "$Q/hold")" = 0 ]; then
			_rc=0
			break
		fi
		sleep 0.1
	done
	_t1=$(now)
	_cpu1=$(treecpu "$SPID")
	echo "RESULT rc=$_rc t_start=$_t0 t_end=$_t1 cpu=$(calc "$_cpu1 - $_cpu0")" >"$T/s4.postfix.run"
	S4P_LEFT=$(nfiles "$Q/active" "$Q/deferred" "$Q/incoming" "$Q/hold")
	stop_sink s4.postfix
	stop_postfix
	cat "$T/s4.postfix.run" >>"$RAW"
	say "  scenario 4 Postfix done ($(($(date +%s) - T0)) s)"
fi
# scenario 4, Exim: its daemon fills the queue (queue_only, plaintext, not
# measured; each message into one of EX_RUNNERS named queues at random),
# stops; then EX_RUNNERS two-stage queue runners at once, one per named
# queue (exim -qqfGqN: the first stage routes the queue's messages and
# records them as waiting for the sink, the second delivers them, passing
# each connection on to the next waiting message, up to
# connection_max_messages, 500, per connection), timed from their start
# until the last has exited; CPU: the runners and every process they
# started. Exim's daemon limits its own runners with queue_run_max, and
# remote_max_parallel parallelises the recipients of one message: neither
# applies here (one recipient per message, runners started by hand), so the
# parallelism is EX_RUNNERS connections, as Postfix's 20 per destination and
# dsmtpc's 20 sessions
exim_queued() { find "$1"/spool/*/input -name '*-H' 2>/dev/null | wc -l; }
if [ -z "$RELAY_WHY" ] && [ -z "$EX_WHY" ] && want 4; then
	start_sink s4.exim "$EX_RELAY_N"
	start_exim relay
	exim_trust "$EX_DIR/exim.conf"
	lg s4.exim.fill --no-tls -c 50 -k 200 -n "$EX_RELAY_N" --timeout 120 ||
		say "  s4.exim fill: $(get failures "$T/s4.exim.fill.out")"
	stop_exim
	S4E_QUEUED=$(exim_queued "$EX_DIR")
	runcpu "$T/s4.exim.run" "$RELAY_TMO" sh -c '
		exim=$1 libs=$2 conf=$3 n=$4 i=0
		while [ "$i" -lt "$n" ]; do
			LD_LIBRARY_PATH=$libs "$exim" -C "$conf" -qqfGq$i &
			i=$((i + 1))
		done
		wait' exim-runners "$EXIM" "$EXIM_LIBS" "$EX_DIR/exim.conf" "$EX_RUNNERS"
	S4E_LEFT=$(exim_queued "$EX_DIR")
	exim_untrust
	stop_sink s4.exim
	cat "$T/s4.exim.run" >>"$RAW"
	tail -n 3 "$T/s4.exim.run.log" >>"$RAW"
	say "  scenario 4 Exim done ($(($(date +%s) - T0)) s)"
fi

# scenario 6, dsmtp: loadgen -> dsmtpd edge -> dsmtpc run -> dsmtpd hub
# (no dsmtpc there: mail stays in its spool). RATE sessions a second, one
# message each, for RATE_SECS; loadgen times each message from the edge's
# 250 to its arrival in the hub's queue/ (inotify: ID.e renamed in)
if [ -z "$RELAY_WHY" ] && want 6; then
	start_dsmtpd
	HUB_PORT=$PORT HUB_PID=$SPID HUB_DIR=$DDIR
	start_dsmtpd "$HUB_PORT"
	EDGE_PID=$SPID
	"$DSMTPC" -c "$DDIR/dsmtp.yaml" run >"$DDIR/dsmtpc.log" 2>&1 &
	DSMTPC_PID=$!
	PIDS="$PIDS $DSMTPC_PID"
	sleep 0.5
	SPID="$EDGE_PID,$DSMTPC_PID,$HUB_PID"
	lg s6.dsmtp.warm --rate "$RATE" -d 1 -k 1 -c 50 >/dev/null
	sleep 1
	lg s6.dsmtp --rate "$RATE" -d "$RATE_SECS" -k 1 -c 50 --watch "$HUB_DIR/state/queue" ||
		say "  s6.dsmtp: $(get failures "$T/s6.dsmtp.out"), $(get arrived "$T/s6.dsmtp.out") of $(get acked "$T/s6.dsmtp.out") arrived"
	stop_tree "$DSMTPC_PID"
	stop_tree "$EDGE_PID"
	stop_tree "$HUB_PID"
fi
# scenario 6, Postfix: the same through a Postfix edge (smtp, encrypt,
# connection and TLS session caches) to a Postfix hub that holds all mail;
# the arrival is the hub's cleanup renaming the finished file into hold/
# (a hub without qmgr would do: its cleanup then waits a second on the
# missing qmgr trigger for each message)
if [ -z "$RELAY_WHY" ] && [ -z "$PF_WHY" ] && want 6; then
	start_postfix hub
	HUB_PORT=$PORT HUB_PID=$SPID HUB_DIR=$PF_DIR
	start_postfix edge
	SPID="$SPID,$HUB_PID"
	lg s6.postfix.warm --rate "$RATE" -d 1 -k 1 -c 50 >/dev/null
	sleep 1
	lg s6.postfix --rate "$RATE" -d "$RATE_SECS" -k 1 -c 50 --watch "$HUB_DIR/queue/hold" ||
		say "  s6.postfix: $(get failures "$T/s6.postfix.out"), $(get arrived "$T/s6.postfix.out") of $(get acked "$T/s6.postfix.out") arrived"
	stop_postfix
fi
[ -z "$RELAY_WHY" ] && want 6 && say "  scenario 6 done ($(($(date +%s) - T0)) s)"

# scenario 7, scaling: S7_CLIENTS concurrent clients (1, 10, 100, 1000), each
# a new connection and STARTTLS per 10 KB message, on one fresh server per
# side, the levels one after the other; each level a 1 s warm-up (2 s at
# 1000 clients: Postfix and Exim fork a process per session) and S7_SECS
# seconds of loadgen (--finish-conns: the connections open at the end still
# send their message, so none of the burst's handshakes is wasted and the
# drain counts in the time). Reported: messages per second, and p99 of the
# client's whole wait (connect -> 250 for its message)
if want 7; then
	for srv in dsmtpd postfix exim; do
		case $srv in
		postfix) [ -n "$PF_WHY" ] && continue ;;
		exim) [ -n "$EX_WHY" ] && continue ;;
		esac
		start_$srv
		for c in $S7_CLIENTS; do
			_w=1
			[ "$c" -ge 500 ] && _w=2
			lg "s7.$srv.$c.warm" -c "$c" -k 1 --size 10240 -d "$_w" --timeout 120 --finish-conns >/dev/null
			lg "s7.$srv.$c" -c "$c" -k 1 --size 10240 -d "$S7_SECS" --timeout 120 --finish-conns ||
				say "  s7.$srv.$c: some messages failed: $(get failures "$T/s7.$srv.$c.out")"
		done
		stop_$srv
	done
	say "  scenario 7 done ($(($(date +%s) - T0)) s)"
fi

# ceilings: a minimal GnuTLS server's handshakes per CPU second (one core),
# full sessions with a 10 KB message and no disk, resumed handshakes; with
# the ECDSA P-256 certificate, then full handshakes and sessions with the
# RSA-2048 one (the ceiling of scenario 1r)
SIGNS=- SIGNS_RSA=- FS1=- FS50=- FSD=- CEIL_HS=- CEIL_RES=- CEIL_MSG=- CLI_HS=-
CEIL_HS_RSA=- CEIL_MSG_RSA=- CLI_HS_RSA=- CEIL2=- CEIL2_RSA=-
# ceiling SUFFIX: tlsceiling with the current certificate; ceilSUFFIX.*.out
ceiling() {
	PORT=$(free_port)
	"$TLSCEILING" --port "$PORT" --cert "$CERT" --key "$KEY" >"$T/tlsceiling$1.log" 2>&1 &
	SPID=$!
	PIDS="$PIDS $SPID"
	wait_port "$PORT" || { say "run.sh: tlsceiling did not start"; cat "$T/tlsceiling$1.log"; exit 1; }
	lg "ceil$1.warm" -c 50 -k 0 -d 1 >/dev/null
	lg "ceil$1.hs" -c 50 -k 0 -d 5
	lg "ceil$1.msg" -c 50 -k 1 -d 5
	[ -z "$1" ] && lg ceil.resume -c 50 -k 0 -d 5 --resume
	stop_tree "$SPID"
}
per_cpu() { calc "$(get handshakes "$T/$1.out") / ($(get cpu_server "$T/$1.out") + 0.0001)"; }
# the two-core ceiling of scenario 1: whole sessions per second that the
# machine's cores fit when each costs tlsceiling's server CPU plus
# loadgen's client CPU (both from the same run)
two_core() { calc "$(nproc) * $(get msgs_ok "$T/$1.out") / ($(get cpu_server "$T/$1.out") + $(get cpu_self "$T/$1.out") + 0.0001)"; }
if want c; then
ceiling ""
CEIL_HS=$(per_cpu ceil.hs)
CEIL_RES=$(per_cpu ceil.resume)
CEIL_MSG=$(calc "$(get msgs_ok "$T/ceil.msg.out") / ($(get cpu_server "$T/ceil.msg.out") + 0.0001)")
CEIL2=$(two_core ceil.msg)
# the client's own cost per full handshake, from the same runs
CLI_HS=$(calc "$(get cpu_self "$T/ceil.hs.out") * 1000 / ($(get handshakes "$T/ceil.hs.out") + 0.0001)")
use_key rsa
ceiling .rsa
use_key ecdsa
CEIL_HS_RSA=$(per_cpu ceil.rsa.hs)
CEIL_MSG_RSA=$(calc "$(get msgs_ok "$T/ceil.rsa.msg.out") / ($(get cpu_server "$T/ceil.rsa.msg.out") + 0.0001)")
CEIL2_RSA=$(two_core ceil.rsa.msg)
CLI_HS_RSA=$(calc "$(get cpu_self "$T/ceil.rsa.hs.out") * 1000 / ($(get handshakes "$T/ceil.rsa.hs.out") + 0.0001)")

if command -v openssl >/dev/null 2>&1; then
	SIGNS=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/^ *256 bits ecdsa \(nistp256\)/ { print $(NF-1) }')
	[ -n "$SIGNS" ] || SIGNS=-
	SIGNS_RSA=$(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF-1) }')
	[ -n "$SIGNS_RSA" ] || SIGNS_RSA=-
fi
# the disk: better of two 3-second runs each (shared disks are noisy)
fsr() {	# fsr NAME ARGS...: prints the better per_s
	local name=$1 a b
	shift
	"$FSYNCRATE" "$T" --seconds 3 "$@" >"$T/$name.1" 2>&1
	"$FSYNCRATE" "$T" --seconds 3 "$@" >"$T/$name.2" 2>&1
	cat "$T/$name.1" "$T/$name.2" >>"$RAW"
	a=$(sed -n 's/.* per_s=\([^ ]*\).*/\1/p' "$T/$name.1")
	b=$(sed -n 's/.* per_s=\([^ ]*\).*/\1/p' "$T/$name.2")
	awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { print (a > b) ? a : b }'
}
FS1=$(fsr fsync1 --group 1)
FS50=$(fsr fsync50 --group 50)
# dsmtpd's own shape: fdatasync, one committing process per worker
FSD=$(fsr fsyncd --group 50 --datasync --procs "$(nproc)")
fi

# ---- the table ----
{
say ""
say "dsmtp vs Postfix $(postconf -d -h mail_version 2>/dev/null) and Exim $([ -n "$EXIM" ] && exim_run -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
say "| scenario | dsmtpd | Postfix | Exim | dsmtp/Postfix | dsmtp/Exim |"
say "|---|---:|---:|---:|---:|---:|"
# ratio A B: A / B with two decimals, or - when either is missing
ratio() {
	case "$1/$2" in
	/*|*/|-/*|*/-) echo - ;;
	*) fmt "$(calc "$1 / ($2 + 0.0001)")" %.2f ;;
	esac
}
# cell WHY VALUE: a server's column: why it was not measured, or the value
cell() {
	if [ -n "$1" ]; then echo "$1"
	elif [ -z "$2" ] || [ "$2" = - ]; then echo "not measured"
	else echo "$(fmt "$2" %.0f) msg/s"
	fi
}
# row LABEL D P E: messages per second of dsmtpd, Postfix and Exim
row() {
	say "| $1 | $(cell "" "$2") | $(cell "$PF_WHY" "$3") | $(cell "$EX_WHY" "$4") | $(ratio "$2" "$3") | $(ratio "$2" "$4") |"
}
# srow LABEL N: scenario N's kept runs (S<N>D, S<N>P, S<N>E)
srow() {
	eval "_d=\$S${2}D _p=\$S${2}P _e=\$S${2}E"
	row "$1" "$(get msgs_per_s "$_d")" "$(get msgs_per_s "$_p")" "$(get msgs_per_s "$_e")"
}
srow "1. receive, new STARTTLS per message, 10 KB, 50 concurrent (ECDSA P-256)" 1
srow "1r. the same with an RSA-2048 certificate" 1r
srow "2. receive, 10 messages per TLS connection" 2
srow "3. receive, TLS 1.3 resumption, 1 message per connection" 3
# scenario 4: messages the sink got per second, from start to the end
s4rate() { [ -f "$T/$1.run" ] || return 0; calc "$(get msgs "$T/$1.sink") / ($(get t_end "$T/$1.run") - $(get t_start "$T/$1.run") + 0.000001)"; }
S4LABEL="4. relay $RELAY_N messages (10 KB; Exim $EX_RELAY_N) from the spool to a TLS sink"
if [ -n "$RELAY_WHY" ]; then
	say "| $S4LABEL | $RELAY_WHY | | | | |"
else
	row "$S4LABEL" "$(s4rate s4.dsmtp)" "$(s4rate s4.postfix)" "$(s4rate s4.exim)"
fi
mem() {	# mem FILE: "RSS kB/session (PSS kB/session)"
	_r=$(get rss_per_session_kb "$1"); _s=$(get pss_per_session_kb "$1")
	echo "$(fmt "$_r" %.0f) kB RSS ($(fmt "$_s" %.0f) kB PSS)"
}
if [ -n "$PF_WHY" ]; then
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $PF_WHY | not measured | - | - |"
else
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $(mem "$T/s5.postfix.out") | not measured | $(fmt "$(calc "$(get rss_per_session_kb "$T/s5.dsmtpd.out") / ($(get rss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.4f) RSS, $(fmt "$(calc "$(get pss_per_session_kb "$T/s5.dsmtpd.out") / ($(get pss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.3f) PSS | - |"
fi
# scenario 6: p50 / p99 from the edge's 250 to the hub's spool
lat() { echo "$(fmt "$(get relay_p50_ms "$T/$1.out")" %.0f) / $(fmt "$(get relay_p99_ms "$T/$1.out")" %.0f) ms"; }
S6LABEL="6. edge -> hub latency (edge's 250 -> in the hub's spool), $RATE msg/s for $RATE_SECS s, p50 / p99"
if [ -n "$RELAY_WHY" ]; then
	say "| $S6LABEL | $RELAY_WHY | | | | |"
elif [ -n "$PF_WHY" ]; then
	say "| $S6LABEL | $(lat s6.dsmtp) | $PF_WHY | not measured | - | - |"
else
	say "| $S6LABEL | $(lat s6.dsmtp) | $(lat s6.postfix) | not measured | $(fmt "$(calc "$(get relay_p50_ms "$T/s6.dsmtp.out") / ($(get relay_p50_ms "$T/s6.postfix.out") + 0.0001)")" %.2f) / $(fmt "$(calc "$(get relay_p99_ms "$T/s6.dsmtp.out") / ($(get relay_p99_ms "$T/s6.postfix.out") + 0.0001)")" %.2f) | - |"
fi
say ""
say "Details of the kept runs (server CPU: every process of the server, from /proc; latency: final dot -> 250):"
say ""
say "| run | msg/s | handshakes/s (resumed) | server CPU ms/msg | loadgen CPU ms/msg | p50 ms | p99 ms | failed |"
say "|---|---:|---:|---:|---:|---:|---:|---:|"
detail() {
	[ -f "$2" ] || return 0
	_m=$(get msgs_ok "$2")
	say "| $1 | $(fmt "$(get msgs_per_s "$2")" %.0f) | $(fmt "$(get hs_per_s "$2")" %.0f) ($(get resumed "$2")) | $(fmt "$(per_msg "$(get cpu_server "$2")" "$_m")" %.2f) | $(fmt "$(per_msg "$(get cpu_self "$2")" "$_m")" %.2f) | $(fmt "$(get p50_ms "$2")" %.1f) | $(fmt "$(get p99_ms "$2")" %.1f) | $(get msgs_failed "$2")+$(get conns_failed "$2") |"
}
for s in 1 1r 2 3; do
	eval "detail \"$s dsmtpd\" \"\$S${s}D\""
	[ -z "$PF_WHY" ] && eval "detail \"$s Postfix\" \"\$S${s}P\""
	[ -z "$EX_WHY" ] && eval "detail \"$s Exim\" \"\$S${s}E\""
done
if [ -z "$RELAY_WHY" ]; then
	say ""
	say "Relay (4): the spool filled first (not timed), then timed from the start of delivery until the sink had every message and the queue was empty. Delivering CPU: dsmtpc once (all of it, start-up and spool scan included); Postfix: every process of the instance (qmgr, smtp, tlsproxy, tlsmgr, scache, master, postlogd); Exim: its $EX_RUNNERS two-stage queue runners (exim -qqfGqN, one per named queue) and every process they started. Sink: tlssink, one process."
	say ""
	say "| run | queued | delivered | left | seconds | msg/s | delivering CPU ms/msg | sink CPU ms/msg | sink connections | handshakes (resumed) | end |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	rdetail() {	# rdetail LABEL NAME QUEUED LEFT
		[ -f "$T/$2.run" ] || return 0
		_n=$(get msgs "$T/$2.sink")
		_el=$(calc "$(get t_end "$T/$2.run") - $(get t_start "$T/$2.run")")
		say "| $1 | $3 | $_n | $4 | $(fmt "$_el" %.1f) | $(fmt "$(s4rate "$2")" %.0f) | $(fmt "$(per_msg "$(get cpu "$T/$2.run")" "$_n")" %.2f) | $(fmt "$(per_msg "$(get cpu "$T/$2.sink")" "$_n")" %.3f) | $(get conns "$T/$2.sink") | $(get handshakes "$T/$2.sink") ($(get resumed "$T/$2.sink")) | $(get rc "$T/$2.run") |"
	}
	rdetail "4 dsmtpc once" s4.dsmtp "${S4D_QUEUED:-}" "${S4D_LEFT:-}"
	[ -z "$PF_WHY" ] && rdetail "4 Postfix smtp" s4.postfix "${S4P_QUEUED:-}" "${S4P_LEFT:-}"
	[ -z "$EX_WHY" ] && rdetail "4 Exim, $EX_RUNNERS queue runners" s4.exim "${S4E_QUEUED:-}" "${S4E_LEFT:-}"
	say "Fill rates (not part of the score): dsmtpd $(fmt "$(get msgs_per_s "$T/s4.dsmtp.fill.out")" %.0f) msg/s$([ -z "$PF_WHY" ] && echo ", Postfix $(fmt "$(get msgs_per_s "$T/s4.postfix.fill.out")" %.0f) msg/s")$([ -z "$EX_WHY" ] && echo ", Exim $(fmt "$(get msgs_per_s "$T/s4.exim.fill.out")" %.0f) msg/s") (plaintext, 50 clients)"
	say ""
	say "Edge -> hub (6): loadgen opens $RATE sessions a second (STARTTLS, one message each) to the edge; latency from the edge's 250 to the moment the hub's spool file is complete (dsmtpd: ID.e renamed into queue/; Postfix, holding all mail: cleanup renames the finished queue file into hold/), seen by loadgen through inotify on one clock. CPU: edge, its delivery agent and hub together."
	say ""
	say "| run | acked at the edge | arrived at the hub | edge 250 p50 ms | hub p50 ms | hub p99 ms | hub max ms | server CPU ms/msg | sessions not started (no free slot) |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	ldetail() {
		[ -f "$T/$2.out" ] || return 0
		say "| $1 | $(get acked "$T/$2.out") | $(get arrived "$T/$2.out") | $(fmt "$(get p50_ms "$T/$2.out")" %.1f) | $(fmt "$(get relay_p50_ms "$T/$2.out")" %.1f) | $(fmt "$(get relay_p99_ms "$T/$2.out")" %.1f) | $(fmt "$(get relay_max_ms "$T/$2.out")" %.1f) | $(fmt "$(calc "$(get cpu_server "$T/$2.out") * 1000 / ($(get msgs_ok "$T/$2.out") + 0.0001)")" %.2f) | $(get rate_missed "$T/$2.out") |"
	}
	ldetail "6 dsmtpd -> dsmtpc -> dsmtpd" s6.dsmtp
	[ -z "$PF_WHY" ] && ldetail "6 Postfix -> smtp -> Postfix" s6.postfix
fi
if want 7; then
	say ""
	say "Scaling (7): N concurrent clients, each a new connection and STARTTLS (ECDSA P-256) per 10 KB message, $S7_SECS s per level after a warm-up, one fresh server per column. Each cell: msg/s, p99 of the client's whole wait (connect -> 250 of its message), server CPU per message."
	say ""
	say "| clients | dsmtpd | Postfix | Exim | dsmtp/Postfix | dsmtp/Exim |"
	say "|---:|---:|---:|---:|---:|---:|"
	# s7cell WHY FILE
	s7cell() {
		if [ -n "$1" ]; then echo "$1"; return; fi
		[ -f "$2" ] || { echo "not measured"; return; }
		echo "$(fmt "$(get msgs_per_s "$2")" %.0f) msg/s, p99 $(fmt "$(get conn_p99_ms "$2")" %.0f) ms, $(fmt "$(per_msg "$(get cpu_server "$2")" "$(get msgs_ok "$2")")" %.2f) ms CPU$([ "$(get msgs_failed "$2")+$(get conns_failed "$2")" != 0+0 ] && echo ", failed $(get msgs_failed "$2")+$(get conns_failed "$2")")"
	}
	for c in $S7_CLIENTS; do
		_d=$T/s7.dsmtpd.$c.out _p=$T/s7.postfix.$c.out _e=$T/s7.exim.$c.out
		say "| $c | $(s7cell "" "$_d") | $(s7cell "$PF_WHY" "$_p") | $(s7cell "$EX_WHY" "$_e") | $(ratio "$(get msgs_per_s "$_d")" "$(get msgs_per_s "$_p")") | $(ratio "$(get msgs_per_s "$_d")" "$(get msgs_per_s "$_e")") |"
	done
fi
want 5 && say ""
want 5 && say "Idle: dsmtpd $(get idle_ready "$T/s5.dsmtpd.out") sessions up, server RSS $(get rss_base_kb "$T/s5.dsmtpd.out") -> $(get rss_idle_kb "$T/s5.dsmtpd.out") kB, $(get server_procs "$T/s5.dsmtpd.out") processes"
want 5 && [ -z "$PF_WHY" ] && say "Idle: Postfix $(get idle_ready "$T/s5.postfix.out") sessions up, server RSS $(get rss_base_kb "$T/s5.postfix.out") -> $(get rss_idle_kb "$T/s5.postfix.out") kB, $(get server_procs "$T/s5.postfix.out") processes"
if want c; then
say ""
say "Ceilings on this machine:"
say "- TLS 1.3 full handshakes per server CPU second (tlsceiling: same GnuTLS priority as dsmtpd, so ECDHE X25519 and an ECDSA P-256 signature; one core): $(fmt "$CEIL_HS" %.0f); the client spends $(fmt "$CLI_HS" %.2f) ms CPU on each"
say "- resumed TLS 1.3 handshakes per server CPU second: $(fmt "$CEIL_RES" %.0f); whole sessions with one 10 KB message, no disk: $(fmt "$CEIL_MSG" %.0f)"
say "- openssl speed ecdsap256: $SIGNS signs/s on one core (one sign per full handshake: an upper bound)"
say "- spool fsync rate, 10 KB files (write, fsync, rename, directory fsync), one thread: $(fmt "$FS1" %.0f)/s alone, $(fmt "$FS50" %.0f)/s grouped by 50"
say "- the same in dsmtpd's shape (fdatasync, grouped by 50, $(nproc) processes at once): $(fmt "$FSD" %.0f) files/s = as many messages/s (spool format 2: one file per message, its envelope a hard link)"
S1=$(get msgs_per_s "$S1D")
S1CPU=$(calc "$(get cpu_server "$S1D") * 1000 / ($(get msgs_ok "$S1D") + 0.0001)")
LOWER=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? a : b }')
LOWNAME=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? "TLS handshakes per core" : "grouped fsync rate" }')
say "- dsmtpd scenario 1: $(fmt "$S1" %.0f) msg/s = $(fmt "$(calc "100 * $S1 / ($LOWER + 0.0001)")" %.0f)% of the lower ceiling ($LOWNAME, $(fmt "$LOWER" %.0f)/s), $(fmt "$(calc "100 * $S1 / ($FSD + 0.0001)")" %.0f)% of the disk in dsmtpd's shape; its server CPU per message $(fmt "$S1CPU" %.2f) ms vs $(fmt "$(calc "1000 / ($CEIL_MSG + 0.0001)")" %.2f) ms for tlsceiling's whole session (TLS floor: $(fmt "$(calc "1000 / ($CEIL_HS + 0.0001)")" %.2f) ms per handshake)"
say "- with the RSA-2048 certificate (scenario 1r): $(fmt "$CEIL_HS_RSA" %.0f) full handshakes per server CPU second, the client spends $(fmt "$CLI_HS_RSA" %.2f) ms CPU on each; whole sessions with one 10 KB message: $(fmt "$CEIL_MSG_RSA" %.0f); openssl speed rsa2048: $SIGNS_RSA signs/s on one core"
# pct KEPT-FILE CEILING: the file's msg/s as a percentage of CEILING
pct() { _v=$(get msgs_per_s "$1"); [ -n "$_v" ] && [ "$2" != - ] && echo "$(fmt "$(calc "100 * $_v / ($2 + 0.0001)")" %.0f)%" || echo -; }
for _k in 1 1r; do
	if [ "$_k" = 1 ]; then _kn="ECDSA P-256" _c2=$CEIL2 _c1=$CEIL_HS; else _kn="RSA-2048" _c2=$CEIL2_RSA _c1=$CEIL_HS_RSA; fi
	eval "_d=\$S${_k}D _p=\$S${_k}P _e=\$S${_k}E"
	say "- scenario $_k ($_kn) against its ceilings: the two-core ceiling ($(nproc) cores / (tlsceiling's server CPU + loadgen's CPU per whole session)) is $(fmt "$_c2" %.0f) msg/s; dsmtpd $(fmt "$(get msgs_per_s "$_d")" %.0f) msg/s = $(pct "$_d" "$_c2") of it ($(pct "$_d" "$_c1") of one core's handshakes)$([ -z "$PF_WHY" ] && echo ", Postfix $(pct "$_p" "$_c2")")$([ -z "$EX_WHY" ] && echo ", Exim $(pct "$_e" "$_c2")")"
done
fi
say ""
say "Whole run: $(($(date +%s) - T0)) s. Raw loadgen output: $RAW"
} | tee "$OUT"
