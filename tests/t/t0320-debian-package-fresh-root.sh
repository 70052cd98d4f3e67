#!/bin/sh
# t0320-debian-package-fresh-root: the Debian package installs and runs on
# a fresh Debian 12 (DESIGN.md 13.4). The .deb is built from a copy of this
# tree (as t0310 does; unit tests skipped, t0310 runs them) and installed
# with apt-get (dpkg -i with its dependencies) into a minimal root made by
# mmdebstrap: contrib/fresh-check's cached base root (made once from this
# machine's apt sources, contrib/fresh-check --base), extracted here, with
# this machine's package lists and whatever .debs its apt cache already
# holds, so little or nothing is downloaded. Everything inside runs in a
# mount and PID namespace of its own (unshare) and a chroot, as
# fresh-check does. Checked: postinst made the dsmtp system user and its
# 0700 state directory; the programs, manual pages, units and example
# configurations are in place; dsmtpd started as root there with the
# package's paths accepts a message over STARTTLS (Python smtplib); its
# parent stays root and its session workers run as dsmtp (real, effective
# and saved IDs), and the spool they write is dsmtp's.
. "${srcdir:-.}/tests/t/lib.sh"

[ "$(id -u)" = 0 ] || skip_ "installing a package into a chroot needs root"
for c in dpkg-buildpackage dh dpkg-deb unshare chroot; do
	command -v $c >/dev/null 2>&1 || framework_failure_ "$c not installed (contrib/deps installs dpkg-dev, debhelper; util-linux, coreutils)"
done
need_ python3

. "$srcdir/tests/t/lib-deb.sh"
deb_source "$TRASH/pkg"
t0=$(date +%s)
# elapsed: seconds since the start, as a TAP comment (the run should stay
# within a few minutes; the package build is most of it)
elapsed() { say "# $(($(date +%s) - t0)) s: $1"; }

# the cached base root; made (mmdebstrap installed if need be) when missing
"$srcdir/contrib/fresh-check" --base >"$TRASH/base.out" 2>&1 ||
    { cat "$TRASH/base.out"; framework_failure_ "contrib/fresh-check --base failed"; }
base=$(tail -n 1 "$TRASH/base.out")
test -s "$base" || framework_failure_ "no base root tarball at $base"

root=$TRASH/root
# inside ROOT 'COMMAND': COMMAND by sh -c in ROOT, in a mount and PID
# namespace of their own with the kernel file systems mounted (as in
# contrib/fresh-check); the namespace's init stays this shell, so the
# command (dsmtpd) is its only child
cat >"$TRASH/inside.sh" <<'EOF2'
set -eu
root=$1
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
# this machine's apt cache, read-only, for the .debs it already has
mkdir -p "$root/hostdebs"
mount --bind -o ro /var/cache/apt/archives "$root/hostdebs"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive sh -c "$2"
EOF2
inside() { unshare --mount --pid --fork --kill-child sh "$TRASH/inside.sh" "$root" "$1"; }

if deb_cached; then
	say "# installing the package t0310 built from the same source (hash $deb_hash)"
else
test_expect_success "dpkg-buildpackage -us -uc -b builds the package" "
	cd '$TRASH/pkg/src' &&
	DEB_BUILD_OPTIONS='nocheck parallel=2' dpkg-buildpackage -us -uc -b >'$TRASH/build.log' 2>&1 ||
	    { tail -n 60 '$TRASH/build.log'; exit 1; }
	test -s '$deb'"
fi
elapsed "package built"

test_expect_success "apt-get installs it with its dependencies into a fresh Debian 12 root" "
	mkdir -m 755 '$root' && tar -C '$root' -xpf '$base' &&
	cp /etc/resolv.conf '$root/etc/resolv.conf' &&
	printf '#!/bin/sh\nexit 101\n' >'$root/usr/sbin/policy-rc.d' && chmod 755 '$root/usr/sbin/policy-rc.d' &&
	find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -exec cp {} '$root/var/lib/apt/lists/' \\; &&
	cp '$deb' '$root/root/dsmtp.deb' &&
	! test -e '$root/usr/sbin/dsmtpd' && ! chroot '$root' getent passwd dsmtp &&
	inside '
		set -e
		apt-get install -y -qq --print-uris --no-install-recommends /root/dsmtp.deb |
		    sed -n \"s/^.[^ ]*. \\([^ ]*\\) .*/\\1/p\" >/root/want
		n=0; for f in \$(cat /root/want); do
			[ -f /hostdebs/\$f ] && cp /hostdebs/\$f /var/cache/apt/archives/ && n=\$((n + 1))
		done
		echo \"\$(wc -l </root/want) packages to install, \$n from the host apt cache\"
		apt-get install -y -q --no-install-recommends /root/dsmtp.deb
		dpkg -s dsmtp | grep -qx \"Status: install ok installed\"
	' >'$TRASH/install.log' 2>&1 || { tail -n 40 '$TRASH/install.log'; exit 1; }
	grep 'from the host apt cache' '$TRASH/install.log'"
elapsed "installed: $(grep 'from the host apt cache' "$TRASH/install.log")"

test_expect_success "postinst made the dsmtp system user and its 0700 state directory" "
	chroot '$root' getent passwd dsmtp >'$TRASH/pw' && cat '$TRASH/pw' &&
	uid=\$(cut -d: -f3 '$TRASH/pw') && test \$uid -gt 0 && test \$uid -lt 1000 &&
	chroot '$root' getent group dsmtp &&
	test \"\$(chroot '$root' stat -c '%U:%G %a' /var/lib/dsmtp)\" = 'dsmtp:dsmtp 700' &&
	test \"\$(chroot '$root' stat -c '%U:%G %a' /etc/dsmtp)\" = 'root:dsmtp 750'"

test_expect_success "the programs, manual pages, units and example configurations are installed" "
	for f in /usr/sbin/dsmtpd /usr/bin/dsmtpc /usr/bin/dsmtp-cert /usr/bin/dsmtp-policy \
	    /usr/bin/dsmtp-log /usr/share/man/man8/dsmtpd.8.gz /usr/share/man/man8/dsmtpc.8.gz \
	    /usr/share/man/man1/dsmtp-cert.1.gz /usr/share/man/man1/dsmtp-policy.1.gz \
	    /usr/share/man/man1/dsmtp-log.1.gz /usr/share/man/man5/dsmtp.yaml.5.gz \
	    /lib/systemd/system/dsmtpd.service /lib/systemd/system/dsmtpc.service \
	    /usr/share/doc/dsmtp/examples/edge.yaml /usr/share/doc/dsmtp/examples/hub.yaml; do
		test -s '$root'\$f || { echo \"missing: \$f\"; exit 1; }
	done
	for p in /usr/sbin/dsmtpd /usr/bin/dsmtpc /usr/bin/dsmtp-cert /usr/bin/dsmtp-policy /usr/bin/dsmtp-log; do
		test -x '$root'\$p || exit 1
	done
	grep -qx 'ExecStart=/usr/sbin/dsmtpd' '$root/lib/systemd/system/dsmtpd.service' &&
	grep -qx 'ExecStart=/usr/bin/dsmtpc run' '$root/lib/systemd/system/dsmtpc.service' &&
	chroot '$root' /usr/bin/dsmtp-cert --help >'$TRASH/help' 2>&1; grep -q 'new' '$TRASH/help'"

port=$(free_port)
cat >"$TRASH/dsmtp.yaml" <<EOF2
hostname: mx.example.org
receive:
  listen: [ "127.0.0.1:$port" ]
  accepted_domains: [ example.org ]
  workers: 2
send:
  routes:
    - domain: example.org
      next_hop: "maildir:/var/lib/dsmtp/mail"
EOF2

test_expect_success "dsmtpd, started as root in the fresh root, accepts a message over STARTTLS" "
	cp '$TRASH/dsmtp.yaml' '$root/etc/dsmtp/dsmtp.yaml' && chmod 0640 '$root/etc/dsmtp/dsmtp.yaml' &&
	chroot '$root' /usr/sbin/dsmtpd --check-config >'$TRASH/check.out' 2>&1 || { cat '$TRASH/check.out'; exit 1; }
	start_bg ns unshare --mount --pid --fork --kill-child sh '$TRASH/inside.sh' '$root' \
	    'exec /usr/sbin/dsmtpd >/root/dsmtpd.log 2>&1' &&
	wait_port 127.0.0.1 $port || { cat '$TRASH/ns.log' '$root/root/dsmtpd.log'; exit 1; }
	python3 - $port <<'PY' || { cat '$root/root/dsmtpd.log'; exit 1; }
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:
    s.ehlo('client.example.net')
    s.starttls(context=ctx)
    s.ehlo('client.example.net')
    s.sendmail('a@example.net', ['postmaster@example.org'],
               'From: a@example.net\r\nTo: postmaster@example.org\r\nSubject: t0320\r\n\r\nhello\r\n')
print('accepted')
PY
	n=0; for f in '$root'/var/lib/dsmtp/queue/*; do test -e \"\$f\" && n=\$((n + 1)); done; test \$n -ge 1"

# uid_in_root NAME: the user's uid in the fresh root
uid_in_root() { chroot "$root" id -u "$1"; }
# children PID: its child processes, one per line
children() { cat /proc/"$1"/task/*/children | tr ' ' '\n' | sed '/^$/d'; }

test_expect_success "its parent stays root; its session workers run as dsmtp, with no way back; the spool is dsmtp's" "
	workers=0 &&
	nsinit=\$(children \$(head -n1 '$TRASH/ns.pid')) && test -n \"\$nsinit\" &&
	main=\$(children \$nsinit) && test -n \"\$main\" &&
	test \"\$(cat /proc/\$main/comm)\" = dsmtpd &&
	u=\$(uid_in_root dsmtp) && g=\$(chroot '$root' id -g dsmtp) &&
	echo \"dsmtp is \$u:\$g in the fresh root\" &&
	for p in \$main \$(children \$main); do
		printf '%s %s uid %s gid %s\n' \$p \$(cat /proc/\$p/comm) \"\$(awk '/^Uid:/ { print \$2, \$3, \$4 }' /proc/\$p/status)\" \
		    \"\$(awk '/^Gid:/ { print \$2, \$3, \$4 }' /proc/\$p/status)\"
	done &&
	test \"\$(awk '/^Uid:/ { print \$2, \$3, \$4 }' /proc/\$main/status)\" = '0 0 0' &&
	workers=0 &&
	for p in \$(children \$main); do
		test \"\$(awk '/^Uid:/ { print \$2, \$3, \$4 }' /proc/\$p/status)\" = \"\$u \$u \$u\" &&
		test \"\$(awk '/^Gid:/ { print \$2, \$3, \$4 }' /proc/\$p/status)\" = \"\$g \$g \$g\" &&
		workers=\$((workers + 1))
	done; echo \"\$workers children run as dsmtp\" && test \$workers -ge 2 &&
	find '$root/var/lib/dsmtp/queue' -type f ! -uid \$u >'$TRASH/notdsmtp' && cat '$TRASH/notdsmtp' &&
	test ! -s '$TRASH/notdsmtp'"
elapsed "done"
finish
