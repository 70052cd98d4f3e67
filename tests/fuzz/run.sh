#!/bin/sh
# tests/fuzz/run.sh: build the libFuzzer targets of tests/fuzz/ with clang
# (ASan + UBSan, the parsers compiled from source, not the gcc-built
# libraries), replay the known reproducers in tests/fuzz/crashes/TARGET/,
# then fuzz each target for SECONDS (default 30) from a temporary copy of
# tests/fuzz/corpus/TARGET/, so the committed corpus never grows.
#
# Usage: run.sh [-k] [-t TARGET]... [SECONDS]
#        run.sh -r TARGET FILE...     reproduce: run TARGET once on FILE(s)
#   -k   keep the build and work directory (its path is printed)
#   -t   only this target (repeatable); default: every target
#
# Exit status: 0 all clean; 1 a crash, leak, timeout or invariant failure
# (each reproducer is printed and copied to $DSMTP_FUZZ_OUT, default
# ./fuzz-failures); 77 clang or its libFuzzer runtime (libclang-rt-14-dev)
# is missing ("make fuzz" counts it a failure); 99 a target does not build.
# Environment: FUZZ_CC (default clang; CC belongs to configure),
# DSMTP_FUZZ_OUT, DSMTP_FUZZ_SKIP (README: turns off the checks of bugs
# already reported), ASAN_OPTIONS, UBSAN_OPTIONS.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
all_targets="smtp_cmd data config plog_read smtp_reply tlsa tlsrpt_txt log_report sts_txt sts_policy sts_cache hdrscan keyproc"
secs=30
keep=no
only=
repro=

usage() {
	echo "usage: $0 [-k] [-t TARGET]... [SECONDS] | $0 -r TARGET FILE..." >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-k) keep=yes ;;
	-t) [ $# -ge 2 ] || usage; only="$only $2"; shift ;;
	-r) [ $# -ge 3 ] || usage; repro=$2; shift 2; break ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) secs=$1 ;;
	esac
	shift
done
case $secs in ''|*[!0-9]*) usage ;; esac
targets=${repro:-${only:-$all_targets}}
for t in $targets; do
	case " $all_targets " in *" $t "*) ;; *) echo "run.sh: unknown target $t ($all_targets)" >&2; exit 2 ;; esac
done

# ---- prerequisites: clang and the libFuzzer runtime, else 77 ----

CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run.sh: $CC not found (install clang-14 and libclang-rt-14-dev)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/dsmtp-fuzz.XXXXXX") || exit 99
if [ "$keep" = yes ]; then
	echo "run.sh: keeping $work"
else
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$work/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" >"$work/probe.log" 2>&1; then
	echo "run.sh: $CC cannot link -fsanitize=fuzzer,address,undefined" \
	    "(libclang-rt-14-dev missing?):"
	sed 's/^/  /' "$work/probe.log" | head -5
	exit 77
fi

CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined"
CFLAGS="$CFLAGS -fno-sanitize-recover=undefined -std=c11 -Wall -Wextra"
# tests/fuzz first: its autoconfig.h stands in for configure's
CPPFLAGS="-I$here -I$top"
YAML_LIBS=$(pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
YAML_CFLAGS=$(pkg-config --cflags yaml-0.1 2>/dev/null)
EXTRA_CFLAGS=$(pkg-config --cflags gnutls libev 2>/dev/null)
GNUTLS_LIBS=$(pkg-config --libs gnutls 2>/dev/null || echo -lgnutls)
EV_LIBS=$(pkg-config --libs libev 2>/dev/null || echo -lev)
# common/addr.c turns IDNs into A-labels (issue 14)
IDN2_LIBS=$(pkg-config --libs libidn2 2>/dev/null || echo -lidn2)

# the sources and libraries of each target, and its fuzzing options
config_srcs="common/config.c common/config_yaml.c common/config_schema.c common/config_dump.c"
target_srcs() {
	case $1 in
	smtp_cmd)   echo "smtpd/cmd.c common/addr.c common/diag.c common/utf8.c" ;;
	data)       echo "smtpd/data.c" ;;
	config)     echo "$config_srcs common/addr.c common/diag.c common/owner.c" ;;
	plog_read)  echo "logs/plog_read.c logs/plog_write.c logs/plog_file.c $config_srcs common/addr.c common/diag.c common/utf8.c common/owner.c common/json.c" ;;
	smtp_reply) echo "smtpc/reply.c" ;;
	tlsa)       echo "tls/tls_dane.c tls/tls_facts.c smtpc/route.c common/diag.c" ;;
	tlsrpt_txt) echo "common/tlsrpt_txt.c" ;;
	log_report) echo "logs/log_agg.c logs/log_text.c logs/log_report.c logs/log_html.c logs/plog_read.c logs/plog_write.c logs/plog_file.c common/json.c $config_srcs common/addr.c common/diag.c common/utf8.c common/owner.c" ;;
	sts_txt|sts_policy|sts_cache) echo "policy/sts_parse.c" ;;
	hdrscan)    echo "smtpd/reqtls.c" ;;
	keyproc)    echo "common/diag.c" ;;	# fuzz_keyproc.c includes tls/tls_keyproc_serve.c
	esac
}
target_libs() {
	case $1 in
	smtp_cmd) echo "$IDN2_LIBS" ;;
	config|plog_read|log_report) echo "$YAML_LIBS $IDN2_LIBS" ;;
	tlsa) echo "$GNUTLS_LIBS $EV_LIBS" ;;
	keyproc) echo "$GNUTLS_LIBS" ;;
	esac
}
target_opts() {
	case $1 in
	smtp_cmd)   echo "-max_len=1024 -dict=$here/smtp_cmd.dict" ;;
	data)       echo "-max_len=4096" ;;
	config)     echo "-max_len=8192 -dict=$here/config.dict" ;;
	plog_read)  echo "-max_len=8192 -dict=$here/plog_read.dict" ;;
	smtp_reply) echo "-max_len=8192" ;;
	tlsa)       echo "-max_len=16384" ;;
	tlsrpt_txt) echo "-max_len=4096 -dict=$here/tlsrpt_txt.dict" ;;
	log_report) echo "-max_len=8192 -dict=$here/plog_read.dict" ;;
	sts_txt)    echo "-max_len=2048" ;;
	sts_policy|sts_cache) echo "-max_len=8192" ;;
	hdrscan)    echo "-max_len=4096" ;;
	keyproc)    echo "-max_len=8400" ;;
	esac
}

# build one target into $work/fuzz_$1; 0 built, 1 failed (a source
# missing from the tree too)
build() {
	t=$1
	for s in $(target_srcs "$t"); do
		if [ ! -f "$top/$s" ]; then
			echo "run.sh: $t: BUILD FAILED: $s is not in the tree"
			return 1
		fi
	done
	srcs=
	for s in $(target_srcs "$t"); do srcs="$srcs $top/$s"; done
	# shellcheck disable=SC2086
	if ! "$CC" $CFLAGS $CPPFLAGS $YAML_CFLAGS $EXTRA_CFLAGS "$here/fuzz_$t.c" $srcs \
	    $(target_libs "$t") -o "$work/fuzz_$t" >"$work/build_$t.log" 2>&1; then
		echo "run.sh: $t: BUILD FAILED:"
		sed 's/^/  /' "$work/build_$t.log"
		return 1
	fi
	return 0
}

ASAN_OPTIONS="quarantine_size_mb=32:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS
if [ -n "${DSMTP_FUZZ_SKIP:-}" ]; then
	echo "run.sh: warning: DSMTP_FUZZ_SKIP=$DSMTP_FUZZ_SKIP turns those checks off"
fi

# ---- reproduce mode ----

if [ -n "$repro" ]; then
	build "$repro" || exit 99
	"$work/fuzz_$repro" "$@"
	exit $?
fi

# ---- replay, then fuzz, each target ----

out=${DSMTP_FUZZ_OUT:-$PWD/fuzz-failures}
failed=
broken=

# print and keep what libFuzzer left in $2 for target $1
report_failure() {
	t=$1
	mkdir -p "$out/$t"
	for f in "$2"/crash-* "$2"/leak-* "$2"/timeout-* "$2"/oom-* "$2"/slow-unit-*; do
		[ -f "$f" ] || continue
		cp "$f" "$out/$t/"
		echo "  reproducer: $out/$t/$(basename "$f") ($(wc -c <"$f") bytes)"
		od -A d -c "$f" | head -24 | sed 's/^/    /'
		echo "  reproduce:  $here/run.sh -r $t $out/$t/$(basename "$f")"
	done
}

# one target: build, replay its known reproducers, fuzz; what it says goes
# to standard output, a failure leaves $work/$t.failed or $work/$t.broken
one_target() {
	t=$1
	build "$t" || { : >"$work/$t.broken"; return; }
	bin=$work/fuzz_$t
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"

	# the known reproducers: each still fails until its bug is fixed
	if [ -d "$here/crashes/$t" ]; then
		for f in "$here/crashes/$t"/*; do
			[ -f "$f" ] || continue
			if "$bin" -error_exitcode=1 -timeout_exitcode=1 -timeout=20 "$f" \
			    >"$work/$t/replay.log" 2>&1; then
				echo "run.sh: $t: crashes/$t/$(basename "$f") passes now:" \
				    "remove it if its bug is fixed"
			else
				echo "run.sh: $t: FAIL: known reproducer crashes/$t/$(basename "$f"):"
				grep -a -A1 -E '^fuzz invariant|^==[0-9]+==ERROR|runtime error' \
				    "$work/$t/replay.log" | head -6 | sed 's/^/  /'
				echo "  reproduce:  $here/run.sh -r $t $f"
				: >"$work/$t.failed"
			fi
		done
	fi

	cp -R "$here/corpus/$t/." "$work/$t/corpus/" 2>/dev/null
	echo "run.sh: $t: fuzzing for ${secs}s from $(ls "$work/$t/corpus" | wc -l) seeds"
	# shellcheck disable=SC2046
	"$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
	    -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$work/$t/artifacts/" \
	    $(target_opts "$t") "$work/$t/corpus" >"$work/$t/fuzz.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/fuzz.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/fuzz.log")
	if [ $rc -ne 0 ] || ls "$work/$t/artifacts/" | grep -q .; then
		echo "run.sh: $t: FAIL after ${runs:-?} runs:"
		grep -a -A1 -E '^fuzz invariant|^==[0-9]+==ERROR|runtime error|^SUMMARY' \
		    "$work/$t/fuzz.log" | head -12 | sed 's/^/  /'
		report_failure "$t" "$work/$t/artifacts"
		echo "  log tail:"
		tail -40 "$work/$t/fuzz.log" | sed 's/^/    /'
		: >"$work/$t.failed"
	else
		echo "run.sh: $t: ok, ${runs:-?} runs, ${rate:-?} exec/s," \
		    "corpus $(ls "$work/$t/corpus" | wc -l) inputs"
	fi
}

# FUZZ_JOBS targets at a time (default: one per CPU), each into its own
# file, printed in order once its batch is done
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
batch=
flush_batch() {
	wait
	for b in $batch; do cat "$work/$b.out"; done
	batch=
}
for t in $targets; do
	one_target "$t" >"$work/$t.out" 2>&1 &
	batch="$batch $t"
	[ $(echo $batch | wc -w) -ge "$jobs" ] && flush_batch
done
flush_batch
for t in $targets; do
	[ -f "$work/$t.broken" ] && broken="$broken $t"
	[ -f "$work/$t.failed" ] && failed="$failed $t"
done

if [ -n "$broken" ]; then
	echo "run.sh: did not build:$broken"
	exit 99
fi
if [ -n "$failed" ]; then
	echo "run.sh: FAILED:$failed"
	exit 1
fi
echo "run.sh: all targets clean"
exit 0
