# lib-postfix.sh: a private Postfix instance for the tests (sourced after
# lib.sh). Its own config, queue and data directories in $TRASH, loopback
# only, no chroot; started and stopped by its master's PID.
#
#   postfix_setup NAME PORT        writes $TRASH/NAME/etc/{main,master}.cf
#   postfix_conf NAME 'key = value' ...   more main.cf settings
#   postfix_start NAME             starts it, waits for PORT (adds the PID)
#   postfix_stop NAME              stops it
# Needs root (Postfix drops to its mail_owner); skips (77) otherwise, and
# fails (99) as root without postfix (contrib/deps installs it).

postfix_need_() {
	[ "$(id -u)" = 0 ] || skip_ "a private Postfix instance needs root"
	command -v postfix >/dev/null 2>&1 || framework_failure_ "postfix not installed (contrib/deps installs it)"
	id postfix >/dev/null 2>&1 || framework_failure_ "no postfix user (contrib/deps installs postfix)"
}

postfix_setup() {
	_pf="$TRASH/$1"
	postfix_need_
	mkdir -p "$_pf/etc" "$_pf/queue" "$_pf/data" "$_pf/mail"
	# Postfix daemons run as the postfix user: let it through to its dirs
	chmod 755 "$TRASH" "$_pf"
	chown postfix "$_pf/data"
	# every service without chroot; smtpd on our loopback port only
	_mcf=/etc/postfix/master.cf
	[ -f "$_mcf" ] || _mcf=/usr/share/postfix/master.cf.dist
	sed -e '/^#/d' -e '/^ *$/d' "$_mcf" |
	awk -v port="$2" '
		/^[^ \t]/ && $5 == "y" { $5 = "n" }
		/^smtp[ \t]+inet/ { $1 = "127.0.0.1:" port }
		/^(submission|smtps|628)[ \t]+inet/ { next }
		{ print }' >"$_pf/etc/master.cf"
	cat >"$_pf/etc/main.cf" <<EOF2
compatibility_level = 3.6
queue_directory = $_pf/queue
data_directory = $_pf/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $1.test.example
mydomain = test.example
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination
maillog_file_prefixes = $_pf
maillog_file = $_pf/maillog
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
smtp_tls_loglevel = 1
smtpd_tls_loglevel = 1
biff = no
EOF2
}

postfix_conf() {
	_pf="$TRASH/$1"; shift
	for kv in "$@"; do
		postconf -c "$_pf/etc" -e "$kv" || return 1
	done
}

postfix_start() {
	_pf="$TRASH/$1"
	# without a tty or /dev/log Postfix's complaints go nowhere: give it a
	# tty (start runs postfix-script's own fatal checks first)
	script -qec "postfix -c '$_pf/etc' start" /dev/null >"$_pf/start.log" 2>&1 ||
	    { cat "$_pf/start.log" "$_pf/maillog"; return 1; }
	for _i in $(seq 1 200); do
		[ -s "$_pf/data/master.lock" ] && break
		sleep 0.1
	done
	_mp=$(tr -d ' \n' <"$_pf/data/master.lock" 2>/dev/null)
	[ -n "$_mp" ] || { cat "$_pf/maillog" 2>/dev/null; return 1; }
	PIDS="$PIDS $_mp"
	echo "$_mp" >"$TRASH/postfix-$1.pid"
}

postfix_stop() {
	postfix -c "$TRASH/$1/etc" stop >/dev/null 2>&1
}

# "postfix check" costs a second or two of CPU per instance; tests that run
# several instances check one skeleton and copy its queue directory:
#   postfix_skeleton               once: $TRASH/pf-skeleton/queue, checked
#   postfix_start_quick NAME       postfix_start from the skeleton's queue
#                                  directory, without a check of its own
postfix_skeleton() {
	[ -d "$TRASH/pf-skeleton/queue/active" ] && return 0
	postfix_setup pf-skeleton 25 &&
	script -qec "postfix -c '$TRASH/pf-skeleton/etc' check" /dev/null >"$TRASH/pf-skeleton/check.log" 2>&1 ||
	    { cat "$TRASH/pf-skeleton/check.log"; return 1; }
}

postfix_start_quick() {
	_pf="$TRASH/$1"
	[ -d "$TRASH/pf-skeleton/queue/active" ] || { echo "postfix_start_quick: no postfix_skeleton"; return 1; }
	cp -a "$TRASH/pf-skeleton/queue/." "$_pf/queue/" && touch "$_pf/queue/quick-start" || return 1
	script -qec "postfix -c '$_pf/etc' start" /dev/null >"$_pf/start.log" 2>&1 ||
	    { cat "$_pf/start.log" "$_pf/maillog"; return 1; }
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		[ -s "$_pf/data/master.lock" ] && break
		sleep 0.25
	done
	_mp=$(tr -d ' \n' <"$_pf/data/master.lock" 2>/dev/null)
	[ -n "$_mp" ] || { cat "$_pf/maillog" 2>/dev/null; return 1; }
	PIDS="$PIDS $_mp"
	echo "$_mp" >"$TRASH/postfix-$1.pid"
}
