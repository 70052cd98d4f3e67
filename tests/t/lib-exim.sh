# lib-exim.sh: private Exim 4 instances for the tests (sourced after
# lib.sh). Exim cannot be installed beside Postfix as a Debian package, so
# contrib/deps unpacks its binary into _deps/exim/; a system exim4 on PATH
# is used when there is one.
#
#   exim_need_                     skip (77) without an exim binary or root
#   exim_setup NAME                $TRASH/NAME/{exim.conf,spool,log,mail}
#   exim_send NAME FROM TO < MSG   submit and deliver at once (-odi)
#   exim_daemon NAME PORT          run its SMTP listener (adds the PID)

exim_need_() {
	EXIM=""
	if [ -x "$srcdir/_deps/exim/usr/sbin/exim4" ]; then
		EXIM="$srcdir/_deps/exim/usr/sbin/exim4"
		EXIM_LIBS="$srcdir/_deps/exim/usr/lib/x86_64-linux-gnu"
	elif command -v exim4 >/dev/null 2>&1; then
		EXIM=$(command -v exim4)
		EXIM_LIBS=""
	fi
	[ -n "$EXIM" ] || skip_ "exim4 not found (contrib/deps unpacks it into _deps/exim)"
	[ "$(id -u)" = 0 ] || skip_ "a private Exim instance needs root"
	id Debian-exim >/dev/null 2>&1 || skip_ "no Debian-exim user (contrib/deps creates it)"
}

exim_run() {
	LD_LIBRARY_PATH="$EXIM_LIBS" "$EXIM" "$@"
}

# exim_setup NAME: a config with a spool, logs and a maildir of its own;
# the caller appends routers/transports with exim_conf
exim_setup() {
	_ex="$TRASH/$1"
	mkdir -p "$_ex/spool" "$_ex/log" "$_ex/mail"
	chmod 755 "$TRASH" "$_ex"
	chown -R Debian-exim "$_ex/spool" "$_ex/log" "$_ex/mail"
	cat >"$_ex/exim.conf" <<EOF2
primary_hostname = $1.test.example
spool_directory = $_ex/spool
log_file_path = $_ex/log/%slog
exim_path = $EXIM
keep_environment =
local_interfaces = 127.0.0.1
daemon_smtp_ports = 0
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = acl_rcpt
EOF2
}

exim_conf() {
	cat >>"$TRASH/$1/exim.conf"
}

exim_send() {
	_ex="$TRASH/$1"
	exim_run -C "$_ex/exim.conf" -odi -f "$2" "$3"
}

exim_daemon() {
	_ex="$TRASH/$1"
	sed -i "s/^daemon_smtp_ports = .*/daemon_smtp_ports = $2/" "$_ex/exim.conf"
	LD_LIBRARY_PATH="$EXIM_LIBS" "$EXIM" -C "$_ex/exim.conf" -bdf -q30s >"$_ex/daemon.out" 2>&1 &
	_ep=$!
	PIDS="$PIDS $_ep"
	echo "$_ep" >"$TRASH/exim-$1.pid"
	wait_port 127.0.0.1 "$2"
}
