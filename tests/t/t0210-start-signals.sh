#!/bin/sh
# t0210-start-signals: a SIGHUP that arrives while dsmtpd or dsmtpc run is
# still starting (a certificate-renewal hook racing a restart) waits for its
# watcher instead of killing the process (the default action of SIGHUP):
# each program is sent SIGHUP the moment its exec is seen, before its
# start-up (configuration, first certificate, spool, listeners) is done,
# and must then serve and stop cleanly on SIGTERM. (dsmtpd's start, with
# its first certificate, is long enough to be hit every time: the old code
# died here; dsmtpc's is often over before the signal lands.)
. "${srcdir:-.}/tests/t/lib.sh"

# start_hup NAME BINARY ARGS...: start it, send SIGHUP as soon as the PID runs our binary
start_hup() {
	_n=$1; _bin=$2; shift 2
	start_bg "$_n" "$_bin" "$@"
	_p=$LAST_PID
	_real=$(readlink -f "$_bin")
	for _i in $(seq 1 2000); do
		[ "$(readlink -f /proc/$_p/exe 2>/dev/null)" = "$_real" ] && break
	done
	kill -HUP "$_p"
	echo "$_p"
}

for w in 1 2; do
	port=$(free_port)
	make_config "$TRASH/d$w.yaml" "$port" "  workers: $w"
	test_expect_success "dsmtpd (workers: $w) survives a SIGHUP during its start" "
		pid=\$(start_hup d$w '$DSMTPD' -c '$TRASH/d$w.yaml') &&
		wait_port 127.0.0.1 $port && kill -0 \$pid &&
		python3 -c 'import smtplib; s = smtplib.SMTP(\"127.0.0.1\", $port); print(s.ehlo()[0]); s.quit()' &&
		kill -TERM \$pid &&
		for i in \$(seq 1 100); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done;
		! kill -0 \$pid 2>/dev/null && cat '$TRASH/d$w.log' && grep -q 'dsmtpd: stopped' '$TRASH/d$w.log'"
done

make_config "$TRASH/c.yaml" "$(free_port)"
test_expect_success "dsmtpc run survives a SIGHUP during its start" "
	pid=\$(start_hup c '$DSMTPC' -c '$TRASH/c.yaml' run) &&
	sleep 1 && kill -0 \$pid && kill -TERM \$pid &&
	for i in \$(seq 1 100); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done;
	! kill -0 \$pid 2>/dev/null && cat '$TRASH/c.log' && ! grep -qi 'hangup' '$TRASH/c.log'"
finish
