#!/bin/sh
# t0310-debian-package: debian/ builds a .deb with `dpkg-buildpackage -us
# -uc -b` (its build runs the Check unit tests) from a copy of the source
# tree; lintian finds no error in it; it holds the five programs, the six
# manual pages, the two hardened units pointing at /usr/sbin/dsmtpd and
# /usr/bin/dsmtpc (started as root with a bounded capability set: the
# programs drop to dsmtp themselves), and the example configurations; its
# postinst creates the dsmtp system user and its state directory.
# t0320 installs it (the same .deb, kept by deb_keep) into a fresh Debian
# root and runs it.
. "${srcdir:-.}/tests/t/lib.sh"

for c in dpkg-buildpackage dh lintian dpkg-deb; do
	command -v $c >/dev/null 2>&1 || framework_failure_ "$c not installed (contrib/deps installs dpkg-dev, debhelper, lintian)"
done

. "$srcdir/tests/t/lib-deb.sh"
deb_source "$TRASH/pkg"

test_expect_success "dpkg-buildpackage -us -uc -b builds the package (unit tests included)" "
	cd '$TRASH/pkg/src' && dpkg-buildpackage -us -uc -b >'$TRASH/build.log' 2>&1 ||
	    { tail -n 60 '$TRASH/build.log'; exit 1; }
	grep -q 'check_policy' '$TRASH/build.log' && test -s '$deb' && deb_keep"

test_expect_success "lintian finds no error" "
	lintian --fail-on error '$TRASH'/pkg/*.changes >'$TRASH/lintian.out' 2>&1; rc=\$?;
	cat '$TRASH/lintian.out'; test \$rc = 0 && ! grep -q '^E:' '$TRASH/lintian.out'"

test_expect_success "the package holds the programs, manual pages, units and examples" "
	dpkg-deb -c '$deb' | awk '{ print \$6 }' >'$TRASH/contents' && cat '$TRASH/contents' &&
	for f in ./usr/sbin/dsmtpd ./usr/bin/dsmtpc ./usr/bin/dsmtp-cert ./usr/bin/dsmtp-policy \
	    ./usr/bin/dsmtp-log ./usr/share/man/man8/dsmtpd.8.gz ./usr/share/man/man8/dsmtpc.8.gz \
	    ./usr/share/man/man1/dsmtp-cert.1.gz ./usr/share/man/man1/dsmtp-policy.1.gz \
	    ./usr/share/man/man1/dsmtp-log.1.gz ./usr/share/man/man5/dsmtp.yaml.5.gz \
	    ./lib/systemd/system/dsmtpd.service ./lib/systemd/system/dsmtpc.service \
	    ./usr/share/doc/dsmtp/examples/edge.yaml; do
		grep -qx \"\$f\" '$TRASH/contents' || { echo \"missing: \$f\"; exit 1; }
	done"

test_expect_success "its units run the installed programs, root-started and bounded; postinst makes the user" "
	dpkg-deb -x '$deb' '$TRASH/x' && dpkg-deb -e '$deb' '$TRASH/ctl' &&
	grep -qx 'ExecStart=/usr/sbin/dsmtpd' '$TRASH/x/lib/systemd/system/dsmtpd.service' &&
	grep -qx 'ExecStart=/usr/bin/dsmtpc run' '$TRASH/x/lib/systemd/system/dsmtpc.service' &&
	! grep -q '^User=' '$TRASH/x/lib/systemd/system/dsmtpd.service' '$TRASH/x/lib/systemd/system/dsmtpc.service' &&
	grep -q '^CapabilityBoundingSet=CAP_NET_BIND_SERVICE ' '$TRASH/x/lib/systemd/system/dsmtpd.service' &&
	grep -q 'install -d -o dsmtp -g dsmtp -m 0700 /var/lib/dsmtp' '$TRASH/ctl/postinst' &&
	grep -q 'adduser --system --group' '$TRASH/ctl/postinst' &&
	sh -n '$TRASH/ctl/postinst' && sh -n '$TRASH/ctl/postrm'"
finish
