# lib-exim.sh: private Exim 4 instances for the tests (sourced after
# lib.sh). Exim cannot be installed beside Postfix as a Debian package, so
# contrib/deps unpacks its binary into /opt/dsmtp-test-deps/exim
# ($DSMTP_TEST_DEPS/exim), outside the checkout: Exim drops to Debian-exim
# and re-executes itself, so its binary must be reachable from anywhere
# (a checkout in a 0700 home is not). A system exim4 on PATH is used when
# there is one.
#
#   exim_need_                     skip (77) without root; fails (99)
#                                  without the binary or its user
#   exim_setup NAME                $TRASH/NAME/{exim.conf,spool,log,mail}
#   exim_send NAME FROM TO < MSG   submit and deliver at once (-odi)
#   exim_daemon NAME PORT          run its SMTP listener (adds the PID)
#   exim_receiver NAME PORT CERT KEY CA [PRIORITY]
#                                  a final MTA: STARTTLS required (with
#                                  GnuTLS priority PRIORITY), client
#                                  certificates checked against CA, mail
#                                  for example.com into the maildir
#                                  $TRASH/NAME/mail/box/ (new/ holds it)
#   exim_relay NAME PORT HOST HPORT CERT KEY CA [PRIORITY]
#                                  a sender: relays what it gets on PORT
#                                  at once (a delivery process and a
#                                  connection per message) to HOST:HPORT
#                                  over verified STARTTLS, presenting CERT

exim_need_() {
	EXIM=""
	[ "$(id -u)" = 0 ] || skip_ "a private Exim instance needs root"
	_exd=${DSMTP_TEST_DEPS:-/opt/dsmtp-test-deps}/exim
	if [ -x "$_exd/usr/sbin/exim4" ]; then
		EXIM="$_exd/usr/sbin/exim4"
		EXIM_LIBS="$_exd/usr/lib/x86_64-linux-gnu"
	elif command -v exim4 >/dev/null 2>&1; then
		EXIM=$(command -v exim4)
		EXIM_LIBS=""
	fi
	[ -n "$EXIM" ] || framework_failure_ "exim4 not found (contrib/deps unpacks it into $_exd)"
	id Debian-exim >/dev/null 2>&1 || framework_failure_ "no Debian-exim user (contrib/deps creates it)"
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

# exim_receiver NAME PORT CERT KEY CA [PRIORITY]: see the top
exim_receiver() {
	exim_setup "$1" || return 1
	_ex="$TRASH/$1"
	chown Debian-exim "$_ex/mail"
	exim_conf "$1" <<EOF2
tls_advertise_hosts = *
deliver_drop_privilege = true
tls_certificate = $3
tls_privatekey = $4
tls_verify_certificates = $5
tls_try_verify_hosts = *
tls_require_ciphers = ${6:-NORMAL}
log_selector = +tls_certificate_verified +tls_peerdn +received_recipients
begin acl
acl_rcpt:
  deny    !encrypted = *
          message = 5.7.0 STARTTLS first
  accept  domains = example.com
  deny
begin routers
local_maildir:
  driver = accept
  domains = example.com
  transport = maildir
begin transports
maildir:
  driver = appendfile
  directory = $_ex/mail/box
  maildir_format
  create_directory
  delivery_date_add = false
  envelope_to_add = false
  return_path_add = false
  user = Debian-exim
  mode = 0644
EOF2
	exim_daemon "$1" "$2"
}

# exim_relay NAME PORT HOST HPORT CERT KEY CA [PRIORITY]: see the top
exim_relay() {
	exim_setup "$1" || return 1
	exim_conf "$1" <<EOF2
tls_advertise_hosts =
smtp_accept_queue_per_connection = 0
deliver_drop_privilege = true
log_selector = +tls_certificate_verified +tls_peerdn
begin acl
acl_rcpt:
  accept
begin routers
relay:
  driver = manualroute
  route_list = * $3 byname
  self = send
  transport = relay_tls
begin transports
relay_tls:
  driver = smtp
  port = $4
  allow_localhost
  hosts_require_tls = *
  tls_verify_hosts = *
  tls_verify_certificates = $7
  tls_certificate = $5
  tls_privatekey = $6
  tls_require_ciphers = ${8:-NORMAL}
begin retry
* * F,1m,10s
EOF2
	exim_daemon "$1" "$2"
}

