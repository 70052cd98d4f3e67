# tests/local.mk: Check unit tests and the integration suite
check_PROGRAMS += tests/unit/check_config
tests_unit_check_config_SOURCES = tests/unit/check_config.c
tests_unit_check_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_config_LDADD = common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)

TESTS += tests/unit/check_config

# integration tests: tests/t/tNNNN-name.sh (t0 CLI/config, t1 receive,
# t2 send, t3 TLS levels and policy, t4 logs, t5 interop, t6 certificates,
# t9 robustness); each folder's local.mk adds its own
TEST_EXTENSIONS = .sh
# every script is bounded: after DSMTP_TEST_TIMEOUT seconds (600; e.g.
# make check DSMTP_TEST_TIMEOUT=1800 to change it) it gets SIGTERM (lib.sh's
# trap kills what the test started), SIGKILL 10 s later, and fails
DSMTP_TEST_TIMEOUT = 600
SH_LOG_COMPILER = timeout --verbose -k 10 $(DSMTP_TEST_TIMEOUT) $(SHELL)
# the Check unit tests (no extension) print TAP (tests/unit/unit.h): the TAP
# driver reports each test case and still fails on a non-zero exit or a
# missing plan; the .sh tests keep the exit-status driver (77 = skip)
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver
AM_TESTS_ENVIRONMENT = top_builddir='$(abs_top_builddir)' srcdir='$(abs_top_srcdir)'; export top_builddir srcdir;
TESTS += \
	tests/t/t0000-cli.sh \
	tests/t/t0100-config.sh \
	tests/t/t0200-start.sh \
	tests/t/t0210-start-signals.sh \
	tests/t/t0300-install-unprivileged.sh \
	tests/t/t0400-privsep-dsmtpd.sh \
	tests/t/t0410-privsep-dsmtpc.sh \
	tests/t/t0415-privsep-dsmtpc-commands.sh \
	tests/t/t0420-privsep-peers-ed25519.sh \
	tests/t/t0310-debian-package.sh \
	tests/t/t0320-debian-package-fresh-root.sh
# TLS levels and client certificates against a real Postfix (needs root)
TESTS += tests/t/t2535-send-postfix-levels.sh
EXTRA_DIST += tests/t/lib.sh \
	tests/t/configs/bad-unknown-key.yaml tests/t/configs/bad-type.yaml \
	tests/t/configs/bad-level.yaml tests/t/configs/bad-address.yaml \
	tests/t/configs/bad-cidr.yaml tests/t/configs/bad-duplicate.yaml \
	tests/t/configs/bad-syntax.yaml tests/t/configs/bad-pin.yaml \
	tests/t/configs/bad-pin-name.yaml tests/t/configs/bad-idn.yaml \
	tests/t/configs/good-edge.yaml \
	tests/t/configs/good-empty.yaml
# every integration script is distributed (from the tree, not from TESTS,
# which a command line like `make distcheck TESTS=...` may narrow)
EXTRA_DIST += $(patsubst $(srcdir)/%,%,$(wildcard $(srcdir)/tests/t/*.sh $(srcdir)/tests/t/*.py))
EXTRA_DIST += tests/README.md
# the Debian packaging (t0310 builds it; t0320 installs the package t0310
# kept in tests/t/deb-cache when the source is the same: one build a run)
tests/t/t0320-debian-package-fresh-root.log: tests/t/t0310-debian-package.log
clean-local: clean-deb-cache
.PHONY: clean-deb-cache
clean-deb-cache:
	rm -rf tests/t/deb-cache
EXTRA_DIST += debian/control debian/rules debian/changelog debian/copyright \
	debian/source/format debian/dsmtp.postinst debian/dsmtp.postrm debian/dsmtp.examples \
	debian/dsmtp.docs

# robustness: kill -9 of dsmtpd and dsmtpc during a relay run (issue 8)
TESTS += tests/t/t9200-relay-kill.sh
# OpenSMTPD both ways (plaintext: Debian 12's 6.8 cannot do TLS with OpenSSL 3)
TESTS += tests/t/t5300-interop-opensmtpd.sh

# make check-valgrind: a short smoke run of representative integration
# tests with every program under valgrind memcheck (tests/t/lib.sh,
# DSMTP_VALGRIND=1; suppressions in tests/valgrind.supp). Tests with tight
# timing (pickup within a second, ...) stay out: valgrind is ~20x slower.
VALGRIND_TESTS = tests/t/t1100-receive-clients.sh tests/t/t2560-dsmtpc-sighup.sh \
	tests/t/t3100-policy-cli.sh tests/t/t4000-log-csv.sh tests/t/t4400-log-dsmtpc.sh
EXTRA_DIST += tests/valgrind.supp tests/unit/unit.h
# make check-unit: the Check unit tests alone (the Debian package's build
# runs these; the integration suite needs root and real mail servers)
check-unit:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(filter tests/unit/%,$(TESTS))'
.PHONY: check-unit
check-valgrind: all
	DSMTP_VALGRIND=1 $(MAKE) $(AM_MAKEFLAGS) check TESTS='$(VALGRIND_TESTS)'
.PHONY: check-valgrind

# msmtp as a client; real MTA -> dsmtpd -> dsmtpc -> real MTA chains (issue 8)
TESTS += tests/t/t1150-receive-msmtp.sh tests/t/t5200-interop-chain.sh

# the list of tests, one per line (contrib/check runs the sanitizer pass
# without the two package tests: dpkg-buildpackage builds the package its
# own way, whatever this tree was configured with)
print-tests:
	@for t in $(TESTS); do echo $$t; done
.PHONY: print-tests
