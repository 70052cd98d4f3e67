#!/bin/sh
# t0000-cli: every program answers --help and --version; commands not built
# yet say so and exit 64; unknown options are usage errors.
. "${srcdir:-.}/tests/t/lib.sh"

for p in dsmtpd dsmtpc dsmtp-cert dsmtp-policy dsmtp-log; do
	test_expect_success "$p --help prints usage and exits 0" "
		'$top_builddir/$p' --help >'$TRASH/help' &&
		grep -q 'Usage: $p' '$TRASH/help'"
	test_expect_success "$p --version names the package version" "
		'$top_builddir/$p' --version | grep -q '^$p (dsmtp) [0-9]'"
	test_expect_success "$p with an unknown option exits 64" "
		'$top_builddir/$p' --no-such-option 2>/dev/null; test \$? = 64"
done

test_expect_success "an unknown subcommand exits 64 and says so" "
	'$DSMTP_CERT' frobnicate 2>'$TRASH/err'; test \$? = 64 &&
	grep -q \"unknown command 'frobnicate'\" '$TRASH/err'"

# commands of later issues must not pretend: each says so and exits 64
for cmd in "$DSMTP_POLICY check" "$DSMTP_LOG sessions"; do
	if $cmd --help 2>&1 | grep -q 'not built yet'; then
		test_expect_success "'$cmd' not built yet exits 64" "
			$cmd 2>'$TRASH/err'; test \$? = 64 && grep -q 'not built yet' '$TRASH/err'"
	fi
done
finish
