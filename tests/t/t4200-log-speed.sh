#!/bin/sh
# t4200-log-speed: dsmtp-log streams: reading ten times more log takes
# about ten times longer and no more memory. Default 100 MB (a few seconds);
# DSMTP_LOG_BENCH_MB=1024 measures a 1 GB log and prints the rate.
. "${srcdir:-.}/tests/t/lib.sh"

GEN="$top_builddir/tests/unit/plog_gen"
need_ python3
test -x "$GEN" || framework_failure_ "plog_gen not built"
MB=${DSMTP_LOG_BENCH_MB:-100}
# one plog_gen round writes about 16 KB of receive log
big=$((MB * 1024 / 16))
small=$((big / 10))

gen() {
	cat >"$TRASH/$1.yaml" <<EOF2
state_dir: $TRASH/$1
logs:
  max_file_size: 4000000000
EOF2
	"$GEN" -c "$TRASH/$1.yaml" --repeat "$2" --quiet || framework_failure_ "plog_gen failed"
}
gen small $small
gen big $big

test_expect_success "sessions over ${MB} MB: time linear in the log, memory does not grow with it" "
	python3 - '$DSMTP_LOG' '$TRASH/small/logs/receive' '$TRASH/big/logs/receive' <<'PY'
import os, resource, subprocess, sys, time
def run(path):
    # each in a child of its own, so ru_maxrss is that run's peak
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t = time.time()
        out = subprocess.run([sys.argv[1], 'sessions', path], stdout=subprocess.PIPE, check=True).stdout
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        os.write(w, ('%f %d %d' % (time.time() - t, rss, out.count(b'\n'))).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode().split()
    os.waitpid(pid, 0)
    return float(data[0]), int(data[1]), int(data[2])
size = sum(os.path.getsize(os.path.join(sys.argv[3], f)) for f in os.listdir(sys.argv[3]))
ts, rs, ns = run(sys.argv[2])
tb, rb, nb = run(sys.argv[3])
print('%d MB: %.2f s (%.0f MB/s), %d sessions, max RSS %d KB (small run %d KB)' %
      (size >> 20, tb, size / tb / 1e6, nb, rb, rs))
assert nb == 10 * ns or nb > 9 * ns, (nb, ns)
assert rb < rs + 20 * 1024, 'memory grew with the log'
# streaming is linear: ten times the log in at most twenty times the
# time (quadratic would be a hundred); no absolute limit here, the speed
# itself is printed (and measured with DSMTP_LOG_BENCH_MB=1024), since a
# loaded or sanitized machine can be any number of times slower
assert tb < 20 * max(ts, 0.25), ('not linear', tb, ts)
PY"
sed 's/^/# /' "$TRASH/out.$ntest"
finish
