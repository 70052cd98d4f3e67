#!/bin/sh
# t0200-start: dsmtpd starts on its port with a fresh state_dir (created
# 0700), logs where it listens, and stops cleanly (exit 0) on SIGTERM.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port"

test_expect_success "dsmtpd starts, listens, creates state_dir 0700, stops on SIGTERM with 0" "
	start_bg d '$DSMTPD' -c '$TRASH/d.yaml' && pid=\$LAST_PID &&
	wait_port 127.0.0.1 $port &&
	grep -q 'listening on 127.0.0.1:$port' '$TRASH/d.log' &&
	test \"\$(stat -c %a '$TRASH/state-$port')\" = 700 &&
	kill -TERM \$pid && wait \$pid; rc=\$?; cat '$TRASH/d.log'; test \$rc = 0"

# a machine with dsmtp installed has /etc/dsmtp/dsmtp.yaml, which dsmtpd
# would read: as root it is hidden under a tmpfs in a mount namespace of
# this test's own; without root the test cannot run there, and fails
nocfg=
if [ -e /etc/dsmtp/dsmtp.yaml ]; then
	if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
		nocfg="unshare -m sh -c 'mount -t tmpfs none /etc/dsmtp && exec \"\$0\" \"\$@\"'"
	else
		nocfg="echo '/etc/dsmtp/dsmtp.yaml exists and cannot be hidden (needs root)' >&2; false &&"
	fi
fi
test_expect_success "with no config file it uses the embedded defaults and the XDG state dir" "
	HOME='$TRASH/home' XDG_STATE_HOME='$TRASH/xdg' $nocfg '$DSMTPD' --print-config >'$TRASH/p' &&
	grep -q '\"127.0.0.1:2525\"' '$TRASH/p' &&
	if [ \$(id -u) = 0 ]; then want=/var/lib/dsmtp; else want='$TRASH/xdg/dsmtp'; fi &&
	grep -q \"state_dir: .\$want.\" '$TRASH/p'"

test_expect_success "a port already in use is a clear error, not a crash" "
	python3 -c 'import socket,time,sys; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); print(s.getsockname()[1]); sys.stdout.flush(); time.sleep(30)' >'$TRASH/busyport' &
	echo \$! >'$TRASH/busy.pid';
	wait_for 20 \"test -s '$TRASH/busyport'\" &&
	bp=\$(cat '$TRASH/busyport') && test -n \"\$bp\" &&
	make_config '$TRASH/busy.yaml' \$bp &&
	'$DSMTPD' -c '$TRASH/busy.yaml' 2>'$TRASH/err'; rc=\$?; cat '$TRASH/err';
	test \$rc = 69 && grep -q \"cannot listen on 127.0.0.1:\$bp\" '$TRASH/err'"
port3=$(free_port)
make_config "$TRASH/open.yaml" "$port3" '  relay: { networks: [ 0.0.0.0/0 ] }'
test_expect_success "an open relay configuration is refused at start (78), not served" "
	'$DSMTPD' -c '$TRASH/open.yaml' 2>'$TRASH/open.err'; rc=\$?; cat '$TRASH/open.err';
	test \$rc = 78 && grep -qi 'open relay' '$TRASH/open.err' && ! grep -q 'listening on' '$TRASH/open.err'"
finish
