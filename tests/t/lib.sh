# lib.sh: the integration-test harness (sourced by tests/t/tNNNN-*.sh).
# Each test gets a trash directory, free loopback ports, and a trap that
# kills every process it started, by PID. Exit 77 = skip, as automake wants.

set -u
: "${top_builddir:=.}"
: "${srcdir:=.}"
top_builddir=$(cd "$top_builddir" && pwd)
srcdir=$(cd "$srcdir" && pwd)
TEST_NAME=$(basename "$0" .sh)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/dsmtp-$TEST_NAME.XXXXXX")
PIDS=""
fail=0
# DESIGN.md 13.4: started as root, the programs run their workers as
# `user` (default dsmtp), which cannot enter this 0700 trash directory.
# The tests' programs run as whoever runs the tests: DSMTP_USER is the
# default of `user` when a configuration does not set it. As root that is
# `user: root`: the key process and the supervisor are still there, only
# the uid stays. The privilege tests (t0400-*) set `user:` themselves.
DSMTP_USER=$(id -un)
export DSMTP_USER
ntest=0

cleanup_() {
	_rc=$?
	# processes started inside a test body (a subshell) leave NAME.pid files
	for f in "$TRASH"/*.pid; do
		[ -f "$f" ] && PIDS="$PIDS $(tr '\n' ' ' <"$f")"
	done
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	# under valgrind a clean exit (and its leak check) takes longer
	_tries=10
	[ -n "${DSMTP_VALGRIND:-}" ] && _tries=100
	for p in $PIDS; do
		_i=0
		while [ $_i -lt $_tries ] && kill -0 "$p" 2>/dev/null; do
			sleep 0.1
			_i=$((_i + 1))
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# a test's own teardown (unmount, ...) after its processes are gone
	[ -n "${CLEANUP_HOOK:-}" ] && $CLEANUP_HOOK
	# valgrind logs only errors (-q): any non-empty log fails the test
	_vgfail=0
	if [ -n "${DSMTP_VALGRIND:-}" ]; then
		for f in "$TRASH"/valgrind/log/*.log; do
			[ -s "$f" ] || continue
			say "valgrind: $(basename "$f"):"; cat "$f"
			_vgfail=1
		done
		[ $_vgfail = 0 ] && say "valgrind: $(ls "$TRASH"/valgrind/log | wc -l) process(es) run under memcheck, no error"
		[ $_vgfail = 1 ] && fail=1
	fi
	if [ "$fail" = 0 ] || [ -z "${KEEP_TRASH:-}" ]; then
		rm -rf "$TRASH"
	else
		echo "trash kept in $TRASH"
	fi
	[ $_vgfail = 1 ] && [ $_rc != 99 ] && exit 1
	exit $_rc
}
trap cleanup_ EXIT
trap 'exit 1' INT TERM

# the tests need only Python's standard library: use Debian's python3
# directly when there is one (a version manager's shim on PATH can cost
# seconds per start on a loaded machine; free_port alone starts one)
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$TRASH/.bin" && ln -sf /usr/bin/python3 "$TRASH/.bin/python3" &&
	    PATH="$TRASH/.bin:$PATH" && export PATH
fi

say() { printf '%s\n' "$*"; }
# a broken harness is not a product bug: say so and stop
framework_failure_() { say "framework failure: $*"; fail=1; exit 99; }
skip_() { say "skip: $*"; exit 77; }
need_() { command -v "$1" >/dev/null 2>&1 || framework_failure_ "$1 not installed (contrib/deps installs it)"; }

# test_expect_success "what" 'commands'
test_expect_success() {
	ntest=$((ntest + 1))
	if ( eval "$2" ) >"$TRASH/out.$ntest" 2>&1; then
		say "ok $ntest - $1"
	else
		say "not ok $ntest - $1"
		sed 's/^/#   /' "$TRASH/out.$ntest"
		fail=1
	fi
}

# a free TCP port on 127.0.0.1 (the kernel picks it)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait until "host port" accepts connections (10 s; 60 s under valgrind)
wait_port() {
	python3 - "$1" "$2" "${DSMTP_VALGRIND:+60}" <<'PY' || return 1
import socket, sys, time
end = time.time() + float(sys.argv[3] or 10)
while time.time() < end:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# wait_for SECONDS 'shell condition': evaluate the condition every 0.05 s
# until it holds (0), or return 1 once SECONDS have passed (six times as
# many under valgrind). The condition runs in the caller's shell: quote it.
wait_for() {
	_wf_ms=$(($1 * 1000))
	[ -n "${DSMTP_VALGRIND:-}" ] && _wf_ms=$((_wf_ms * 6))
	_wf_end=$(($(date +%s%N) / 1000000 + _wf_ms))
	while :; do
		eval "$2" && return 0
		[ $(($(date +%s%N) / 1000000)) -ge $_wf_end ] && break
		sleep 0.05
	done
	say "wait_for: still false after $(( _wf_ms / 1000 )) s: $2" >&2
	return 1
}

# flush_plog NAME: SIGUSR1 to the dsmtpd or dsmtpc whose PID is the last
# line of $TRASH/NAME.pid (start_bg's files) and wait until its standard
# error, $TRASH/NAME.log, says every worker wrote its protocol log out
# (the writer's own flush runs once a second: no test sleeps for it)
flush_plog() {
	_fp_log="$TRASH/$1.log"
	_fp_pid=$(tail -1 "$TRASH/$1.pid") || return 1
	_fp_n=$(grep -c 'SIGUSR1: protocol log flushed' "$_fp_log")
	_fp_w=$(sed -n 's/.*, \([0-9][0-9]*\) workers\{0,1\}$/\1/p' "$_fp_log" | tail -1)
	kill -USR1 "$_fp_pid" || return 1
	wait_for 10 "test \$(grep -c 'SIGUSR1: protocol log flushed' '$_fp_log') -ge $((_fp_n + ${_fp_w:-1}))"
}

# files_exist GLOB...: each pattern matches at least one file, so that a
# negative check over it (! grep ... GLOB) cannot pass on no files at all
files_exist() {
	for _fe in "$@"; do
		[ -e "$_fe" ] || { say "no file matches $_fe" >&2; return 1; }
	done
}

# spool_data QUEUE/ID.d: the message bytes of a spool data file. Spool
# format 2 (common/spool.h) keeps the message's envelope and a 48-byte
# trailer after them ("dsmtp-spool 2 " + 16 hex of the message length +
# ...), so read through this, never to end of file; a version 1 file is
# the message alone. (Python: d[:int(d[-34:-18], 16)] when d[-48:] starts
# with b'dsmtp-spool 2 '.)
spool_data() {
	_sd_t=$(tail -c 48 "$1" | head -c 30)
	case "$_sd_t" in
	"dsmtp-spool 2 "*) head -c $((0x${_sd_t#dsmtp-spool 2 })) "$1" ;;
	*) cat "$1" ;;
	esac
}

# start a program in the background, remember its PID in PIDS and $!
# usage: start_bg NAME CMD...  (stdout+stderr to $TRASH/NAME.log)
start_bg() {
	_name=$1; shift
	"$@" >"$TRASH/$_name.log" 2>&1 &
	LAST_PID=$!
	PIDS="$PIDS $LAST_PID"
	# also on disk: a start inside a test body (a subshell) is cleaned up too
	echo "$LAST_PID" >>"$TRASH/$_name.pid"
}

DSMTPD="$top_builddir/dsmtpd"
DSMTPC="$top_builddir/dsmtpc"
DSMTP_CERT="$top_builddir/dsmtp-cert"
DSMTP_POLICY="$top_builddir/dsmtp-policy"
DSMTP_LOG="$top_builddir/dsmtp-log"

# DSMTP_VALGRIND=1 (make check-valgrind): the five programs run under
# valgrind memcheck through wrappers in $TRASH/valgrind/bin, one log per
# process; errors and definite leaks fail the test (see cleanup_).
# tests/valgrind.supp holds the suppressions, each with its reason.
if [ -n "${DSMTP_VALGRIND:-}" ]; then
	need_ valgrind
	mkdir -p "$TRASH/valgrind/bin" "$TRASH/valgrind/log"
	for _p in dsmtpd dsmtpc dsmtp-cert dsmtp-policy dsmtp-log; do
		cat >"$TRASH/valgrind/bin/$_p" <<EOF2
#!/bin/sh
exec valgrind -q --tool=memcheck --error-exitcode=109 --leak-check=full \\
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --suppressions="$srcdir/tests/valgrind.supp" \\
    --log-file="$TRASH/valgrind/log/$_p.%p.log" "$top_builddir/$_p" "\$@"
EOF2
		chmod +x "$TRASH/valgrind/bin/$_p"
	done
	DSMTPD="$TRASH/valgrind/bin/dsmtpd"
	DSMTPC="$TRASH/valgrind/bin/dsmtpc"
	DSMTP_CERT="$TRASH/valgrind/bin/dsmtp-cert"
	DSMTP_POLICY="$TRASH/valgrind/bin/dsmtp-policy"
	DSMTP_LOG="$TRASH/valgrind/bin/dsmtp-log"
fi

# write a minimal config for a private instance: make_config FILE PORT [extra yaml]
make_config() {
	cat >"$1" <<EOF2
hostname: test.example.org
state_dir: $TRASH/state-$2
receive:
  listen: [ "127.0.0.1:$2" ]
${3:-}
EOF2
}

# host_config FILE HOSTNAME STATE_DIR PORT [CERT KEY] <<EOF: a config with
# the test PKI ($pki, made by tests/certs/mkcerts.sh: its server chain and
# key unless given, its CA bundle as trust) listening on 127.0.0.1:PORT.
# Standard input follows "  listen:": more receive keys (indented), then
# any other sections.
host_config() {
	{
		printf 'hostname: %s\nstate_dir: %s\n' "$2" "$3"
		printf 'certificates:\n  - cert: %s\n    key: %s\n' "${5:-$pki/server-chain.pem}" \
		    "${6:-$pki/server.key}"
		printf 'trust:\n  ca_file: %s\n' "$pki/ca-bundle.pem"
		printf 'receive:\n  listen: [ "127.0.0.1:%s" ]\n' "$4"
		cat
	} >"$1"
}

finish() {
	exit "$fail"
}
