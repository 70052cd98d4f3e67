#!/bin/sh
# t3600-loopback-demo: contrib/loopback-demo runs the four example hosts
# (edge, hub, two partners) from contrib/examples on loopback and sends
# mail through every link: pinned hub<->edge, domain-secure edge<->partners.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

test_expect_success "the four-host example carries mail over every link as its policy says" "
	'$srcdir/contrib/loopback-demo' '$top_builddir'"
test_expect_success "the example configs need only the pasted pins to load" "
	for f in '$srcdir'/contrib/examples/*.yaml; do
		sed 's|sha256/[A-Z_a-z-]*_pin=|sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=|' \"\$f\" >'$TRASH/x.yaml' &&
		'$DSMTPD' --check-config -c '$TRASH/x.yaml' || exit 1
	done"
finish
