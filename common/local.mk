# common/local.mk: libcommon.a (config, diagnostics, addresses)
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/diag.h common/diag.c \
	common/addr.h common/addr.c \
	common/config.h common/config.c \
	common/cli.h common/cli.c \
	common/buf.h common/buf.c \
	common/conn.h common/conn.c \
	common/utf8.h common/utf8.c \
	common/owner.h common/owner.c \
	common/privdrop.h common/privdrop.c

# the durable spool (DESIGN.md section 10)
common_libcommon_a_SOURCES += \
	common/spool.h common/spool_int.h common/spool.c common/spool_format.c \
	common/spool_commit.c

# spool tests: Check unit tests, a test-only writer for tests/t/t2*.sh,
# and the commit-rate measurement (run by hand: tests/unit/spool_bench DIR)
check_PROGRAMS += tests/unit/check_spool tests/unit/spool_gen tests/unit/spool_bench
tests_unit_check_spool_SOURCES = tests/unit/check_spool.c
tests_unit_check_spool_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_spool_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS) $(CHECK_LIBS)
tests_unit_spool_gen_SOURCES = tests/unit/spool_gen.c
tests_unit_spool_gen_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS)
tests_unit_spool_bench_SOURCES = tests/unit/spool_bench.c
tests_unit_spool_bench_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS)
TESTS += tests/unit/check_spool

# international domain names across addr.c, smtpd/cmd.c, policy/ and the
# config loader (issue 14)
check_PROGRAMS += tests/unit/check_addr
tests_unit_check_addr_SOURCES = tests/unit/check_addr.c smtpd/cmd.c
tests_unit_check_addr_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_addr_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_addr

# privdrop.c: the lookup, the drop with no way back, the state directory
# handed to the user (issue 15, DESIGN.md 13.4)
check_PROGRAMS += tests/unit/check_privdrop
tests_unit_check_privdrop_SOURCES = tests/unit/check_privdrop.c
tests_unit_check_privdrop_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_privdrop_LDADD = common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_privdrop
