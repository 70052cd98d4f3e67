#!/bin/sh
# run.sh BUILDDIR [SRCDIR]: `make bench`, dsmtp against Postfix on loopback
# (DESIGN.md section 12, issue #9).
#
# In a temporary directory it makes the test certificates (tests/certs/
# mkcerts.sh), then starts a fresh dsmtpd (workers: auto, logs: basic,
# STARTTLS with the ECDSA P-256 test certificate) and runs receive scenarios
# 1-3 against it, then the same against a fresh private Postfix (its own
# config, queue and data directories, the same certificate, delivery
# discarded), and again both: dsmtpd, Postfix, dsmtpd, Postfix. Each
# measurement is a 1-2 s warm-up and $BENCH_SECONDS seconds of loadgen; the
# better of the two runs of each is kept. Then the idle-memory scenario,
# once each on fresh servers; the relay scenarios, once each: 4, a spool of
# $BENCH_RELAY messages delivered to tests/bench/tlssink by `dsmtpc once`
# and by Postfix's smtp client (queue filled on hold, then released), and
# 6, edge -> hub latency at a fixed rate (dsmtpd -> dsmtpc -> dsmtpd, and
# Postfix -> smtp -> Postfix; loadgen --watch times each message from the
# edge's 250 to its arrival in the hub's spool); and the ceilings: TLS handshakes per
# CPU second of a minimal GnuTLS server (tlsceiling), `openssl speed` ECDSA
# P-256 signs per second, and the fsync rate of the disk (fsyncrate).
#
# Prints the table and writes it to BUILDDIR/tests/bench/last-run.txt, the
# raw loadgen output beside it in last-run.log. Postfix needs root and the
# postfix package; without either its columns say "skipped" and why.
# Every process it starts is stopped by PID at the end.
#
# Environment: BENCH_SECONDS (6), BENCH_IDLE (1000 sessions), BENCH_RELAY
# (10000 messages), BENCH_RELAY_TIMEOUT (240 s per delivery run), BENCH_RATE
# (50 sessions/s) and BENCH_RATE_SECONDS (10) for scenario 6, BENCH_ONLY (a
# subset of "1-3 4 5 6 c", c the ceilings), KEEP_BENCH=1 keeps the
# temporary directory.
set -u

builddir=$(cd "${1:?usage: run.sh BUILDDIR [SRCDIR]}" && pwd)
srcdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
LOADGEN=$builddir/tests/bench/loadgen
TLSCEILING=$builddir/tests/bench/tlsceiling
TLSSINK=$builddir/tests/bench/tlssink
FSYNCRATE=$builddir/tests/bench/fsyncrate
DSMTPD=$builddir/dsmtpd
DSMTPC=$builddir/dsmtpc
SECS=${BENCH_SECONDS:-6}
IDLE=${BENCH_IDLE:-1000}
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
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "" || x == "-") print "-"; else printf f, x }'; }

# 1,000 idle sessions need more descriptors than the usual 1,024
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null
[ "$(ulimit -n)" -ge $((IDLE + 100)) ] || say "warning: ulimit -n is $(ulimit -n), below $IDLE sessions"

if ! sh "$srcdir/tests/certs/mkcerts.sh" "$T/certs" >>"$RAW" 2>&1; then
	say "run.sh: mkcerts.sh failed (see $RAW)"; exit 1
fi
chmod 755 "$T/certs"
CERT=$T/certs/server.pem
KEY=$T/certs/server.key

# why Postfix is not measured, or empty
PF_WHY=""
if [ "$(id -u)" != 0 ]; then
	PF_WHY="skipped: not root"
elif ! command -v postfix >/dev/null 2>&1 || [ ! -x /usr/lib/postfix/sbin/master ]; then
	PF_WHY="skipped: postfix not installed (apt-get install postfix)"
elif ! id postfix >/dev/null 2>&1; then
	PF_WHY="skipped: no postfix user"
fi
# the private key must be readable by Postfix's smtpd after it drops root: it
# is loaded before that, as root, so mode 0600 is fine

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
  max_connections: $((IDLE + 500))
  max_connections_per_ip: $((IDLE + 500))
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
# room for the idle scenario's sessions, one smtpd process each
default_process_limit = $((IDLE + 200))
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

# lg NAME ARGS...: loadgen against PORT measuring SPID; output in $T/NAME.out
lg() {
	local name=$1 rc
	shift
	timeout -k 5 600 "$LOADGEN" -s "127.0.0.1:$PORT" --server-pid "$SPID" "$@" >"$T/$name.out" 2>&1
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
say "dsmtpd $("$DSMTPD" --version 2>&1 | head -n 1); Postfix $(postconf -h mail_version 2>/dev/null || echo -); GnuTLS $(certtool --version 2>/dev/null | sed -n 's/.*certtool \([0-9.]*\).*/\1/p' | head -n 1)"
say "receive scenarios 1-3: ${SECS} s each after a 1-2 s warm-up, against a fresh dsmtpd, then a fresh Postfix, twice; the better run of each kept"
[ -n "$PF_WHY" ] && say "Postfix: $PF_WHY"

# scenarios 1-3: name, loadgen arguments
SCEN1="-c 50 -k 1 --size 10240"
SCEN2="-c 50 -k 10 --size 10240"
SCEN3="-c 50 -k 1 --size 10240 --resume"
# all three against one fresh server, then against the other; twice
scenarios() {
	local srv=$1 round=$2 s args warm=2
	for s in 1 2 3; do
		eval "args=\$SCEN$s"
		# shellcheck disable=SC2086
		measure "s$s.$srv.$round" "$warm" $args
		warm=1
	done
}
# BENCH_ONLY: a subset, for working on one scenario ("1-3 4 5 6 c")
want() { case " ${BENCH_ONLY:-1-3 4 5 6 c} " in *" $1 "*) return 0 ;; esac; return 1; }
for round in $(want 1-3 && echo 1 2); do
	start_dsmtpd
	scenarios dsmtpd "$round"
	stop_dsmtpd
	if [ -z "$PF_WHY" ]; then
		start_postfix
		scenarios postfix "$round"
		stop_postfix
	fi
	say "  round $round done ($(($(date +%s) - T0)) s)"
done
for s in 1 2 3; do
	eval "S${s}D=\$(better s$s.dsmtpd.1 s$s.dsmtpd.2)"
	[ -z "$PF_WHY" ] && eval "S${s}P=\$(better s$s.postfix.1 s$s.postfix.2)"
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
# OUT "RESULT rc= t_start= t_end= cpu=": wall clock and the CPU it used
runcpu() {
	_out=$1 _tmo=$2
	shift 2
	python3 - "$_out" "$_tmo" "$@" <<'PY'
import resource, subprocess, sys, time
out, tmo, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = time.time()
with open(out + ".log", "w") as log:
    try:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=tmo).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
t1 = time.time()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write("RESULT rc=%s t_start=%.6f t_end=%.6f cpu=%.3f\n" % (rc, t0, t1, ru.ru_utime + ru.ru_stime))
PY
}

# start_sink NAME: a fresh tlssink on SINK_PORT expecting RELAY_N
# messages; its output in $T/NAME.sink, $T/NAME.done once all are in
start_sink() {
	SINK_PORT=$(free_port)
	"$TLSSINK" --port "$SINK_PORT" --cert "$CERT" --key "$KEY" --expect "$RELAY_N" \
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

# ceilings: a minimal GnuTLS server's handshakes per CPU second (one core),
# full sessions with a 10 KB message and no disk, resumed handshakes
SIGNS=- FS1=- FS50=- FSD=- CEIL_HS=- CEIL_RES=- CEIL_MSG=- CLI_HS=-
if want c; then
PORT=$(free_port)
"$TLSCEILING" --port "$PORT" --cert "$CERT" --key "$KEY" >"$T/tlsceiling.log" 2>&1 &
SPID=$!
PIDS="$PIDS $SPID"
wait_port "$PORT" || { say "run.sh: tlsceiling did not start"; cat "$T/tlsceiling.log"; exit 1; }
lg ceil.warm -c 50 -k 0 -d 1 >/dev/null
lg ceil.hs -c 50 -k 0 -d 5
lg ceil.msg -c 50 -k 1 -d 5
lg ceil.resume -c 50 -k 0 -d 5 --resume
stop_tree "$SPID"
per_cpu() { calc "$(get handshakes "$T/$1.out") / ($(get cpu_server "$T/$1.out") + 0.0001)"; }
CEIL_HS=$(per_cpu ceil.hs)
CEIL_RES=$(per_cpu ceil.resume)
CEIL_MSG=$(calc "$(get msgs_ok "$T/ceil.msg.out") / ($(get cpu_server "$T/ceil.msg.out") + 0.0001)")
# the client's own cost per full handshake, from the same runs
CLI_HS=$(calc "$(get cpu_self "$T/ceil.hs.out") * 1000 / ($(get handshakes "$T/ceil.hs.out") + 0.0001)")

SIGNS=-
if command -v openssl >/dev/null 2>&1; then
	SIGNS=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/^ *256 bits ecdsa \(nistp256\)/ { print $(NF-1) }')
	[ -n "$SIGNS" ] || SIGNS=-
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
say "dsmtp vs Postfix $(postconf -h mail_version 2>/dev/null), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
say "| scenario | dsmtpd | Postfix | dsmtp/Postfix |"
say "|---|---:|---:|---:|"
row() {	# row LABEL N: messages per second, from S<N>D and S<N>P
	eval "_d=\$S${2}D"
	_dv=$(get msgs_per_s "$_d")
	if [ -n "$PF_WHY" ]; then
		say "| $1 | $(fmt "$_dv" %.0f) msg/s | $PF_WHY | - |"
		return
	fi
	eval "_p=\$S${2}P"
	_pv=$(get msgs_per_s "$_p")
	say "| $1 | $(fmt "$_dv" %.0f) msg/s | $(fmt "$_pv" %.0f) msg/s | $(fmt "$(calc "$_dv / ($_pv + 0.0001)")" %.2f) |"
}
row "1. receive, new STARTTLS per message, 10 KB, 50 concurrent" 1
row "2. receive, 10 messages per TLS connection" 2
row "3. receive, TLS 1.3 resumption, 1 message per connection" 3
# scenario 4: messages the sink got per second, from start to the end
s4rate() { calc "$(get msgs "$T/$1.sink") / ($(get t_end "$T/$1.run") - $(get t_start "$T/$1.run") + 0.000001)"; }
S4LABEL="4. relay $RELAY_N messages (10 KB) from the spool to a TLS sink"
if [ -n "$RELAY_WHY" ]; then
	say "| $S4LABEL | $RELAY_WHY | | |"
elif [ -n "$PF_WHY" ]; then
	say "| $S4LABEL | $(fmt "$(s4rate s4.dsmtp)" %.0f) msg/s | $PF_WHY | - |"
else
	S4D=$(s4rate s4.dsmtp) S4P=$(s4rate s4.postfix)
	say "| $S4LABEL | $(fmt "$S4D" %.0f) msg/s | $(fmt "$S4P" %.0f) msg/s | $(fmt "$(calc "$S4D / ($S4P + 0.0001)")" %.2f) |"
fi
mem() {	# mem FILE: "RSS kB/session (PSS kB/session)"
	_r=$(get rss_per_session_kb "$1"); _s=$(get pss_per_session_kb "$1")
	echo "$(fmt "$_r" %.0f) kB RSS ($(fmt "$_s" %.0f) kB PSS)"
}
if [ -n "$PF_WHY" ]; then
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $PF_WHY | - |"
else
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $(mem "$T/s5.postfix.out") | $(fmt "$(calc "$(get rss_per_session_kb "$T/s5.dsmtpd.out") / ($(get rss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.4f) RSS, $(fmt "$(calc "$(get pss_per_session_kb "$T/s5.dsmtpd.out") / ($(get pss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.3f) PSS |"
fi
# scenario 6: p50 / p99 from the edge's 250 to the hub's spool
lat() { echo "$(fmt "$(get relay_p50_ms "$T/$1.out")" %.0f) / $(fmt "$(get relay_p99_ms "$T/$1.out")" %.0f) ms"; }
S6LABEL="6. edge -> hub latency (edge's 250 -> in the hub's spool), $RATE msg/s for $RATE_SECS s, p50 / p99"
if [ -n "$RELAY_WHY" ]; then
	say "| $S6LABEL | $RELAY_WHY | | |"
elif [ -n "$PF_WHY" ]; then
	say "| $S6LABEL | $(lat s6.dsmtp) | $PF_WHY | - |"
else
	say "| $S6LABEL | $(lat s6.dsmtp) | $(lat s6.postfix) | $(fmt "$(calc "$(get relay_p50_ms "$T/s6.dsmtp.out") / ($(get relay_p50_ms "$T/s6.postfix.out") + 0.0001)")" %.2f) / $(fmt "$(calc "$(get relay_p99_ms "$T/s6.dsmtp.out") / ($(get relay_p99_ms "$T/s6.postfix.out") + 0.0001)")" %.2f) |"
fi
say ""
say "Details of the kept runs (server CPU: every process of the server, from /proc; latency: final dot -> 250):"
say ""
say "| run | msg/s | handshakes/s (resumed) | server CPU ms/msg | loadgen CPU ms/msg | p50 ms | p99 ms | failed |"
say "|---|---:|---:|---:|---:|---:|---:|---:|"
detail() {
	[ -f "$2" ] || return 0
	_m=$(get msgs_ok "$2")
	say "| $1 | $(fmt "$(get msgs_per_s "$2")" %.0f) | $(fmt "$(get hs_per_s "$2")" %.0f) ($(get resumed "$2")) | $(fmt "$(calc "$(get cpu_server "$2") * 1000 / ($_m + 0.0001)")" %.2f) | $(fmt "$(calc "$(get cpu_self "$2") * 1000 / ($_m + 0.0001)")" %.2f) | $(fmt "$(get p50_ms "$2")" %.1f) | $(fmt "$(get p99_ms "$2")" %.1f) | $(get msgs_failed "$2")+$(get conns_failed "$2") |"
}
for s in 1 2 3; do
	eval "detail \"$s dsmtpd\" \"\$S${s}D\""
	[ -z "$PF_WHY" ] && eval "detail \"$s Postfix\" \"\$S${s}P\""
done
if [ -z "$RELAY_WHY" ]; then
	say ""
	say "Relay (4): the spool filled first (not timed), then timed from the start of delivery until the sink had every message and the queue was empty. Delivering CPU: dsmtpc once (all of it, start-up and spool scan included); Postfix: every process of the instance (qmgr, smtp, tlsproxy, tlsmgr, scache, master, postlogd). Sink: tlssink, one process."
	say ""
	say "| run | queued | delivered | left | seconds | msg/s | delivering CPU ms/msg | sink CPU ms/msg | sink connections | handshakes (resumed) | end |"
	say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	rdetail() {	# rdetail LABEL NAME QUEUED LEFT
		[ -f "$T/$2.run" ] || return 0
		_n=$(get msgs "$T/$2.sink")
		_el=$(calc "$(get t_end "$T/$2.run") - $(get t_start "$T/$2.run")")
		say "| $1 | $3 | $_n | $4 | $(fmt "$_el" %.1f) | $(fmt "$(s4rate "$2")" %.0f) | $(fmt "$(calc "$(get cpu "$T/$2.run") * 1000 / ($_n + 0.0001)")" %.2f) | $(fmt "$(calc "$(get cpu "$T/$2.sink") * 1000 / ($_n + 0.0001)")" %.3f) | $(get conns "$T/$2.sink") | $(get handshakes "$T/$2.sink") ($(get resumed "$T/$2.sink")) | $(get rc "$T/$2.run") |"
	}
	rdetail "4 dsmtpc once" s4.dsmtp "${S4D_QUEUED:-}" "${S4D_LEFT:-}"
	[ -z "$PF_WHY" ] && rdetail "4 Postfix smtp" s4.postfix "${S4P_QUEUED:-}" "${S4P_LEFT:-}"
	say "Fill rates (not part of the score): dsmtpd $(fmt "$(get msgs_per_s "$T/s4.dsmtp.fill.out")" %.0f) msg/s$([ -z "$PF_WHY" ] && echo ", Postfix $(fmt "$(get msgs_per_s "$T/s4.postfix.fill.out")" %.0f) msg/s") (plaintext, 50 clients)"
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
say "- the same in dsmtpd's shape (fdatasync, grouped by 50, $(nproc) processes at once): $(fmt "$FSD" %.0f) files/s = $(fmt "$(calc "$FSD / 2")" %.0f) messages/s at 2 files (.d, .e) per message"
S1=$(get msgs_per_s "$S1D")
S1CPU=$(calc "$(get cpu_server "$S1D") * 1000 / ($(get msgs_ok "$S1D") + 0.0001)")
LOWER=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? a : b }')
LOWNAME=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? "TLS handshakes per core" : "grouped fsync rate" }')
say "- dsmtpd scenario 1: $(fmt "$S1" %.0f) msg/s = $(fmt "$(calc "100 * $S1 / ($LOWER + 0.0001)")" %.0f)% of the lower ceiling ($LOWNAME, $(fmt "$LOWER" %.0f)/s), $(fmt "$(calc "100 * $S1 / ($FSD / 2 + 0.0001)")" %.0f)% of the disk in dsmtpd's shape; its server CPU per message $(fmt "$S1CPU" %.2f) ms vs $(fmt "$(calc "1000 / ($CEIL_MSG + 0.0001)")" %.2f) ms for tlsceiling's whole session (TLS floor: $(fmt "$(calc "1000 / ($CEIL_HS + 0.0001)")" %.2f) ms per handshake)"
fi
say ""
say "Whole run: $(($(date +%s) - T0)) s. Raw loadgen output: $RAW"
} | tee "$OUT"
