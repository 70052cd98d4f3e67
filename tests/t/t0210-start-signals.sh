#!/bin/sh
# t0210-start-signals: a SIGHUP that arrives while dsmtpd or dsmtpc run is
# still starting (a certificate-renewal hook racing a restart) waits for its
# watcher instead of killing the process (the default action of SIGHUP).
# Deterministic: trust.ca_file is a FIFO, so start-up stops inside main()
# where the trust is read (after the configuration, before listeners and
# signal watchers); the SIGHUP is sent the moment the program opens the
# FIFO, then the CA is written and start-up goes on. The process must then
# serve and stop cleanly on SIGTERM; a single process (one worker, dsmtpc)
# logs that it handled the signal (with two workers the parent takes it
# with sigwait and passes it on, and the workers' reloads race for the
# FIFO). (Before the fix dsmtpd and dsmtpc died here of the SIGHUP.)
. "${srcdir:-.}/tests/t/lib.sh"

command -v openssl >/dev/null 2>&1 || framework_failure_ "openssl not installed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=t0210-ca \
    -keyout "$TRASH/ca.key" -out "$TRASH/ca.pem" -days 2 >/dev/null 2>&1 ||
    framework_failure_ "cannot make a CA certificate"

# feed.py PID FIFO CA: wait (30 s at most) until PID opens FIFO for
# reading, send it SIGHUP, then write the CA into the FIFO; go on serving
# the CA to every later reader (the reload that the SIGHUP causes reads it
# again, once per process) for 20 s. Started by start_bg: cleaned up by PID.
cat >"$TRASH/feed.py" <<'PY'
import os, signal, sys, time
pid, fifo, ca = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
def reader(seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)	# ENXIO until a reader
        except OSError:
            time.sleep(0.005)
    return None
def serve(fd):
    os.set_blocking(fd, True)
    try:
        os.write(fd, ca)
    except OSError:
        pass
    os.close(fd)
fd = reader(30)
if fd is None:
    sys.exit("the program never opened " + fifo)
os.kill(pid, signal.SIGHUP)
print("SIGHUP sent", flush=True)
time.sleep(0.3)	# the signal is pending (or fatal) before start-up goes on
serve(fd)
end = time.time() + 20
while time.time() < end:
    fd = reader(end - time.time())
    if fd is not None:
        serve(fd)
PY
feed_after_hup() {	# feed_after_hup NAME PID FIFO: feed.py in the background
	start_bg "$1" python3 "$TRASH/feed.py" "$2" "$3" "$TRASH/ca.pem" &&
	wait_for 40 "grep -q 'SIGHUP sent' '$TRASH/$1.log'" || { cat "$TRASH/$1.log"; return 1; }
}

stop_and_wait() {	# stop_and_wait PID LOG: SIGTERM, gone within 10 s
	kill -TERM "$1" && wait_for 10 "! kill -0 $1 2>/dev/null" || { cat "$2"; return 1; }
}

for w in 1 2; do
	port=$(free_port)
	mkfifo "$TRASH/ca$w.fifo"
	make_config "$TRASH/d$w.yaml" "$port" "  workers: $w"
	printf 'trust:\n  ca_file: %s\n' "$TRASH/ca$w.fifo" >>"$TRASH/d$w.yaml"
	test_expect_success "dsmtpd (workers: $w) survives a SIGHUP during its start" "
		start_bg d$w '$DSMTPD' -c '$TRASH/d$w.yaml' && pid=\$LAST_PID &&
		feed_after_hup feed$w \$pid '$TRASH/ca$w.fifo' &&
		{ wait_port 127.0.0.1 $port && kill -0 \$pid || { cat '$TRASH/d$w.log'; exit 1; }; } &&
		python3 -c 'import smtplib; s = smtplib.SMTP(\"127.0.0.1\", $port); print(s.ehlo()[0]); s.quit()' &&
		{ [ $w != 1 ] || wait_for 20 \"grep -q 'dsmtpd: SIGHUP: ' '$TRASH/d$w.log'\" ||
		    { cat '$TRASH/d$w.log'; exit 1; }; } &&
		stop_and_wait \$pid '$TRASH/d$w.log' && cat '$TRASH/d$w.log' &&
		grep -q 'dsmtpd: stopped' '$TRASH/d$w.log'"
done

mkfifo "$TRASH/cac.fifo"
make_config "$TRASH/c.yaml" "$(free_port)"
printf 'trust:\n  ca_file: %s\n' "$TRASH/cac.fifo" >>"$TRASH/c.yaml"
test_expect_success "dsmtpc run survives a SIGHUP during its start" "
	start_bg c '$DSMTPC' -c '$TRASH/c.yaml' run && pid=\$LAST_PID &&
	feed_after_hup feedc \$pid '$TRASH/cac.fifo' &&
	wait_for 20 \"grep -q 'SIGHUP' '$TRASH/c.log'\" && kill -0 \$pid &&
	stop_and_wait \$pid '$TRASH/c.log' && cat '$TRASH/c.log'"
finish
