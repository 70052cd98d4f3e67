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
# once each on fresh servers, and the ceilings: TLS handshakes per
# CPU second of a minimal GnuTLS server (tlsceiling), `openssl speed` ECDSA
# P-256 signs per second, and the fsync rate of the disk (fsyncrate).
#
# Prints the table and writes it to BUILDDIR/tests/bench/last-run.txt, the
# raw loadgen output beside it in last-run.log. Postfix needs root and the
# postfix package; without either its columns say "skipped" and why.
# Every process it starts is stopped by PID at the end.
#
# Environment: BENCH_SECONDS (6), BENCH_IDLE (1000 sessions), KEEP_BENCH=1
# keeps the temporary directory.
set -u

builddir=$(cd "${1:?usage: run.sh BUILDDIR [SRCDIR]}" && pwd)
srcdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
LOADGEN=$builddir/tests/bench/loadgen
TLSCEILING=$builddir/tests/bench/tlsceiling
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
PF_CONF=""		# the running Postfix instance, if any
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

postfix_stop() {
	[ -n "$PF_CONF" ] || return 0
	_m=$(cat "$PF_DIR/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	_kids=""
	[ -n "$_m" ] && _kids=$(descendants "$_m")
	postfix -c "$PF_CONF" stop >/dev/null 2>&1
	if [ -n "$_m" ]; then
		reap_pids "$_m" 300
	fi
	# the daemons leave when the master is gone; wait for them, by PID
	reap_pids "$_kids" 200
	PF_CONF=""
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
get() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2" | tail -n 1; }
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
# start_dsmtpd: a fresh instance; sets PORT and SPID
start_dsmtpd() {
	NRUN=$((NRUN + 1))
	PORT=$(free_port)
	_d=$T/dsmtpd.$NRUN
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

# start_postfix: a fresh private instance; sets PORT and SPID (the master)
start_postfix() {
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
	# master.cf: the Debian services that matter, no chroot, smtpd on our port
	cat >"$PF_DIR/conf/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
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
	if ! postfix -c "$PF_DIR/conf" start >>"$RAW" 2>&1; then
		say "run.sh: postfix -c $PF_DIR/conf start failed:"
		tail -5 "$PF_DIR/maillog" 2>/dev/null
		exit 1
	fi
	PF_CONF=$PF_DIR/conf
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
for round in 1 2; do
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
start_dsmtpd
lg s5.dsmtpd --idle "$IDLE" -c 50 --hold 6 --timeout 120 --idle-setup 240 || say "  s5.dsmtpd: $(get failures "$T/s5.dsmtpd.out")"
stop_dsmtpd
if [ -z "$PF_WHY" ]; then
	start_postfix
	lg s5.postfix --idle "$IDLE" -c 50 --hold 6 --timeout 120 --idle-setup 240 || say "  s5.postfix: $(get failures "$T/s5.postfix.out")"
	stop_postfix
fi
say "  scenario 5 done ($(($(date +%s) - T0)) s)"

# relay scenarios need dsmtpc's send path
RELAY_WHY="not measured: dsmtpc send path not built"
if [ -x "$DSMTPC" ]; then
	mkdir -p "$T/dsmtpc"
	printf 'state_dir: %s/dsmtpc/state\n' "$T" >"$T/dsmtpc/dsmtp.yaml"
	if timeout 20 "$DSMTPC" -c "$T/dsmtpc/dsmtp.yaml" once >"$T/dsmtpc/once.log" 2>&1; then
		RELAY_WHY="not measured: dsmtpc once runs, the relay scenario is not written yet"
	fi
fi

# ceilings: a minimal GnuTLS server's handshakes per CPU second (one core),
# full sessions with a 10 KB message and no disk, resumed handshakes
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
say "| 4. relay 10,000 messages to a TLS sink | $RELAY_WHY | | |"
mem() {	# mem FILE: "RSS kB/session (PSS kB/session)"
	_r=$(get rss_per_session_kb "$1"); _s=$(get pss_per_session_kb "$1")
	echo "$(fmt "$_r" %.0f) kB RSS ($(fmt "$_s" %.0f) kB PSS)"
}
if [ -n "$PF_WHY" ]; then
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $PF_WHY | - |"
else
	say "| 5. memory per idle TLS session at $IDLE sessions | $(mem "$T/s5.dsmtpd.out") | $(mem "$T/s5.postfix.out") | $(fmt "$(calc "$(get rss_per_session_kb "$T/s5.dsmtpd.out") / ($(get rss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.4f) RSS, $(fmt "$(calc "$(get pss_per_session_kb "$T/s5.dsmtpd.out") / ($(get pss_per_session_kb "$T/s5.postfix.out") + 0.0001)")" %.3f) PSS |"
fi
say "| 6. edge -> hub latency | $RELAY_WHY | | |"
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
say ""
say "Idle: dsmtpd $(get idle_ready "$T/s5.dsmtpd.out") sessions up, server RSS $(get rss_base_kb "$T/s5.dsmtpd.out") -> $(get rss_idle_kb "$T/s5.dsmtpd.out") kB, $(get server_procs "$T/s5.dsmtpd.out") processes"
[ -z "$PF_WHY" ] && say "Idle: Postfix $(get idle_ready "$T/s5.postfix.out") sessions up, server RSS $(get rss_base_kb "$T/s5.postfix.out") -> $(get rss_idle_kb "$T/s5.postfix.out") kB, $(get server_procs "$T/s5.postfix.out") processes"
say ""
say "Ceilings on this machine:"
say "- TLS 1.3 full handshakes per server CPU second (tlsceiling: same GnuTLS priority as dsmtpd, so ECDHE secp256r1 and an ECDSA P-256 signature; one core): $(fmt "$CEIL_HS" %.0f); the client spends $(fmt "$CLI_HS" %.2f) ms CPU on each"
say "- resumed TLS 1.3 handshakes per server CPU second: $(fmt "$CEIL_RES" %.0f); whole sessions with one 10 KB message, no disk: $(fmt "$CEIL_MSG" %.0f)"
say "- openssl speed ecdsap256: $SIGNS signs/s on one core (one sign per full handshake: an upper bound)"
say "- spool fsync rate, 10 KB files (write, fsync, rename, directory fsync), one thread: $(fmt "$FS1" %.0f)/s alone, $(fmt "$FS50" %.0f)/s grouped by 50"
say "- the same in dsmtpd's shape (fdatasync, grouped by 50, $(nproc) processes at once): $(fmt "$FSD" %.0f) files/s = $(fmt "$(calc "$FSD / 2")" %.0f) messages/s at 2 files (.d, .e) per message"
S1=$(get msgs_per_s "$S1D")
S1CPU=$(calc "$(get cpu_server "$S1D") * 1000 / ($(get msgs_ok "$S1D") + 0.0001)")
LOWER=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? a : b }')
LOWNAME=$(awk -v a="$CEIL_HS" -v b="$FS50" 'BEGIN { print (a < b) ? "TLS handshakes per core" : "grouped fsync rate" }')
say "- dsmtpd scenario 1: $(fmt "$S1" %.0f) msg/s = $(fmt "$(calc "100 * $S1 / ($LOWER + 0.0001)")" %.0f)% of the lower ceiling ($LOWNAME, $(fmt "$LOWER" %.0f)/s), $(fmt "$(calc "100 * $S1 / ($FSD / 2 + 0.0001)")" %.0f)% of the disk in dsmtpd's shape; its server CPU per message $(fmt "$S1CPU" %.2f) ms vs $(fmt "$(calc "1000 / ($CEIL_MSG + 0.0001)")" %.2f) ms for tlsceiling's whole session (TLS floor: $(fmt "$(calc "1000 / ($CEIL_HS + 0.0001)")" %.2f) ms per handshake)"
say ""
say "Whole run: $(($(date +%s) - T0)) s. Raw loadgen output: $RAW"
} | tee "$OUT"
