#!/bin/sh
# t0300-install-unprivileged: what the systemd units promise, checked without
# systemd: both units (made by `make`, installed by `make install`) rate at
# most 2.5 in `systemd-analyze security` (they start as root, without
# User=, with a bounded capability set: the programs drop by themselves, and
# the root parent re-reads root's 0600 keys on reload; dsmtpd(8), SYSTEMD);
# dsmtpd and dsmtpc also run entirely as an unprivileged user (here
# "nobody"), dsmtpd binding port 25 with the ambient CAP_NET_BIND_SERVICE
# alone, with the state_dir systemd hands over in $STATE_DIRECTORY; every
# file they make is that user's; dsmtp-cert run as root into that user's
# store leaves certificates the user owns and keys the user cannot open;
# run as the user it leaves the user's key, and SIGHUP serves it.
. "${srcdir:-.}/tests/t/lib.sh"

[ "$(id -u)" = 0 ] || skip_ "changing to an unprivileged user and binding port 25 need root"
for c in setpriv systemd-analyze openssl swaks; do
	command -v $c >/dev/null 2>&1 || framework_failure_ "$c not installed (contrib/deps installs it)"
done
id nobody >/dev/null 2>&1 || framework_failure_ "no user nobody"
grp=$(id -gn nobody)

# 2.5, not 2.0: a unit without User= scores 0.4 for it and 0.2-0.3 for
# each capability group the drop needs (SETUID/SETGID, CHOWN, DAC_OVERRIDE)
test_expect_success "both units rate at most 2.5 in systemd-analyze security (offline), root start bounded" "
	for u in dsmtpd dsmtpc; do
		f='$top_builddir/contrib/systemd/'\$u.service && test -s \"\$f\" &&
		systemd-analyze security --offline=true \"\$f\" >'$TRASH/sa.'\$u 2>&1;
		score=\$(sed -n 's/.*Overall exposure level for .*: \\([0-9.]*\\) .*/\\1/p' '$TRASH/sa.'\$u) &&
		echo \"\$u: \$score\" && test -n \"\$score\" &&
		awk -v s=\"\$score\" 'BEGIN { exit !(s <= 2.5) }' || { cat '$TRASH/sa.'\$u; exit 1; }
		! grep -q '^User=' \"\$f\" && ! grep -q '^StateDirectory=' \"\$f\" &&
		grep -q '^ProtectSystem=strict' \"\$f\" && grep -qx 'NoNewPrivileges=yes' \"\$f\" &&
		grep -qx 'AmbientCapabilities=' \"\$f\" &&
		grep -qx 'ReadWritePaths=/var/lib/dsmtp' \"\$f\" &&
		caps=\$(sed -n 's/^CapabilityBoundingSet=//p' \"\$f\" | tr ' ' '\\n' | sort | tr '\\n' ' ') &&
		echo \"\$u: \$caps\" || exit 1
		want='CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETGID CAP_SETUID '
		test \$u = dsmtpd && want='CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_NET_BIND_SERVICE CAP_SETGID CAP_SETUID '
		test \"\$caps\" = \"\$want\" || exit 1
	done"

test_expect_success "make install puts the units in place, pointing at the installed programs" "
	make -C '$top_builddir' install DESTDIR='$TRASH/inst' >'$TRASH/inst.log' 2>&1 || { cat '$TRASH/inst.log'; exit 1; }
	for u in dsmtpd dsmtpc; do
		f=\$(find '$TRASH/inst' -path '*/systemd/system/'\$u.service) && test -n \"\$f\" &&
		exe=\$(sed -n 's/^ExecStart=\\([^ ]*\\).*/\\1/p' \"\$f\") && echo \"\$f: \$exe\" &&
		test \"\$(basename \$exe)\" = \$u && test -x '$TRASH/inst'\$exe || exit 1
	done"

# the user must reach its files: the trash is root's 0700 otherwise
chmod 0755 "$TRASH"
state=$TRASH/state
install -d -o nobody -g "$grp" -m 0700 "$state" "$TRASH/mail"
addr=$(python3 -c 'import random; print("127.%d.%d.%d" % (random.randint(20, 220), random.randint(1, 250), random.randint(1, 250)))')
port=$(free_port)
cat >"$TRASH/c.yaml" <<EOF2
hostname: mx.example.org
receive:
  listen: [ "$addr:25", "127.0.0.1:$port" ]
  accepted_domains: [ example.org ]
  workers: 2
send:
  routes:
    - domain: example.org
      next_hop: "maildir:$TRASH/mail"
EOF2
chmod 0644 "$TRASH/c.yaml"
# as the units run it (env and setpriv exec: the PID is the program's)
as_user="env STATE_DIRECTORY=$state setpriv --reuid=nobody --regid=$grp --clear-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service"

test_expect_success "the state_dir default is systemd's \$STATE_DIRECTORY" "
	STATE_DIRECTORY='$state:/elsewhere' '$DSMTPD' -c '$TRASH/c.yaml' --print-config >'$TRASH/p' &&
	grep -qx \"state_dir: .$state.\" '$TRASH/p'"

test_expect_success "dsmtpd runs as the user, binds port 25 by the capability alone, serves STARTTLS" "
	start_bg d $as_user '$DSMTPD' -c '$TRASH/c.yaml' && pid=\$LAST_PID &&
	wait_port $addr 25 && wait_port 127.0.0.1 $port &&
	for p in \$pid \$(cat /proc/\$pid/task/*/children 2>/dev/null); do
		u=\$(stat -c %U /proc/\$p) && echo \"process \$p: \$u\" && test \"\$u\" = nobody || exit 1
	done &&
	test \$(cat /proc/\$pid/task/*/children | wc -w) = 2 &&
	swaks --server $addr:25 --from a@example.net --to postmaster@example.org --tls \
	    --header 'Subject: t0300' >'$TRASH/swaks.out' 2>&1 || { cat '$TRASH/swaks.out' '$TRASH/d.log'; exit 1; }
	n=0; for f in '$state'/queue/*; do test -e \"\$f\" && n=\$((n + 1)); done; test \$n -ge 1 &&
	find '$state' ! -user nobody >'$TRASH/notours' && cat '$TRASH/notours' && test ! -s '$TRASH/notours'"

test_expect_success "dsmtp-cert run as root into the user's store: certificates the user's, the key root's 0600" "
	STATE_DIRECTORY='$state' '$DSMTP_CERT' -c '$TRASH/c.yaml' new --cn root.example.org \
	    >'$TRASH/root.out' 2>&1 || { cat '$TRASH/root.out'; exit 1; }
	t=\$(sed -n 's/^created self-signed certificate //p' '$TRASH/root.out') && test -n \"\$t\" &&
	find '$state/certs' ! -user nobody >'$TRASH/notours2' && cat '$TRASH/notours2' &&
	test \"\$(cat '$TRASH/notours2')\" = '$state/certs/'\$t.key &&
	test \"\$(stat -c '%U %a' '$state/certs/'\$t.key)\" = 'root 600' &&
	! setpriv --reuid=nobody --regid=$grp --clear-groups cat '$state/certs/'\$t.key >/dev/null 2>&1"

test_expect_success "dsmtp-cert run as the user writes the user's files; SIGHUP serves them" "
	pid=\$(head -n1 '$TRASH/d.pid') &&
	$as_user '$DSMTP_CERT' -c '$TRASH/c.yaml' new --cn renewed.example.org \
	    --san renewed.example.org,mx.example.org --enable >'$TRASH/new.out' 2>&1 || { cat '$TRASH/new.out'; exit 1; }
	t=\$(sed -n 's/^created self-signed certificate //p' '$TRASH/new.out') && test -n \"\$t\" &&
	test \"\$(stat -c '%U %a' '$state/certs/'\$t.key)\" = 'nobody 600' &&
	kill -HUP \$pid &&
	for i in \$(seq 1 100); do
		openssl s_client -connect $addr:25 -starttls smtp -servername renewed.example.org </dev/null 2>/dev/null |
		    openssl x509 -noout -subject 2>/dev/null >'$TRASH/subj'
		grep -q renewed.example.org '$TRASH/subj' && break; sleep 0.1
	done; cat '$TRASH/subj'; grep -q renewed.example.org '$TRASH/subj' ||
	    { cat '$TRASH/d.log'; exit 1; }"

test_expect_success "dsmtpc once, as the user, delivers the spool; SIGTERM stops dsmtpd with 0" "
	$as_user '$DSMTPC' -c '$TRASH/c.yaml' once >'$TRASH/once.log' 2>&1 || { cat '$TRASH/once.log'; exit 1; }
	grep -l 'Subject: t0300' '$TRASH'/mail/new/* >/dev/null &&
	test \"\$(stat -c %U \$(ls '$TRASH'/mail/new/* | head -n1))\" = nobody &&
	pid=\$(head -n1 '$TRASH/d.pid') && kill -TERM \$pid &&
	for i in \$(seq 1 100); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done &&
	! kill -0 \$pid 2>/dev/null && grep -q 'dsmtpd: stopped' '$TRASH/d.log'"
finish
