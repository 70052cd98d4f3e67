#!/bin/sh
# t0100-config: dsmtpd --check-config over the bad-config corpus (each file
# opens with "# expect: FILE:LINE:COL: ..." lines), good configs, and
# --print-config round trips.
. "${srcdir:-.}/tests/t/lib.sh"

for f in "$srcdir"/tests/t/configs/bad-*.yaml; do
	name=$(basename "$f")
	test_expect_success "$name is refused with exit 78 and the expected place" "
		cp '$f' '$TRASH/$name' && cd '$TRASH' &&
		'$DSMTPD' --check-config -c '$name' 2>err; rc=\$?;
		test \$rc = 78 || { echo \"exit \$rc\"; exit 1; }
		grep '^# expect: ' '$name' | sed 's/^# expect: //' >want &&
		cat err && grep -qF -f want err &&
		test \$(wc -l <want) -le \$(wc -l <err)"
done

for f in "$srcdir"/tests/t/configs/good-*.yaml; do
	name=$(basename "$f")
	test_expect_success "$name is accepted and its printed form loads back the same" "
		'$DSMTPD' --check-config -c '$f' &&
		'$DSMTPD' --print-config -c '$f' >'$TRASH/p1.yaml' &&
		'$DSMTPD' --print-config -c '$TRASH/p1.yaml' >'$TRASH/p2.yaml' &&
		cmp '$TRASH/p1.yaml' '$TRASH/p2.yaml'"
done

# a default with no YAML form (user from $DSMTP_USER, not UTF-8): no
# half-written YAML and exit 0, but the reason and 78
test_expect_success "--print-config of a value that is not UTF-8: exit 78, says why" "
	DSMTP_USER=\$(printf 'a\\377b') '$DSMTPD' --print-config -c '$srcdir/tests/t/configs/good-edge.yaml' \
	    >'$TRASH/p3.yaml' 2>'$TRASH/err3'; test \$? = 78 &&
	grep -q 'cannot print the configuration: a value is not valid UTF-8' '$TRASH/err3'"

test_expect_success "an explicit -c that does not exist is an error (78)" "
	'$DSMTPD' --check-config -c '$TRASH/nope.yaml' 2>'$TRASH/err'; test \$? = 78 &&
	grep -q 'nope.yaml: cannot open' '$TRASH/err'"

test_expect_success "every program shares the loader: dsmtpc refuses a bad file too" "
	printf 'send:\n  tls: sometimes\n' >'$TRASH/b.yaml' &&
	'$DSMTPC' -c '$TRASH/b.yaml' queue 2>'$TRASH/err'; rc=\$?;
	cat '$TRASH/err'; test \$rc = 78 -o \$rc = 64"
finish
