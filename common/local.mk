# common/local.mk: libcommon.a (config, diagnostics, addresses)
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/diag.h common/diag.c \
	common/addr.h common/addr.c \
	common/config.h common/config_int.h common/config.c common/config_yaml.c \
	common/config_schema.c common/config_dump.c \
	common/cli.h common/cli.c \
	common/buf.h common/buf.c \
	common/conn.h common/conn.c \
	common/utf8.h common/utf8.c \
	common/owner.h common/owner.c common/hex.h \
	common/json.h common/json.c \
	common/tlsrpt_txt.h common/tlsrpt_txt.c \
	common/secmem.h common/secmem.c \
	common/privdrop.h common/privdrop.c

# the durable spool (DESIGN.md section 10)
common_libcommon_a_SOURCES += \
	common/spool.h common/spool_int.h common/spool.c common/spool_format.c \
	common/spool_commit.c common/spool_update.c common/spool_io.c common/spool_v1.c

# spool tests: Check unit tests, a test-only writer for tests/t/t2*.sh,
# and the commit-rate measurement (run by hand: tests/unit/spool_bench DIR)
check_PROGRAMS += tests/unit/check_spool tests/unit/check_spool_format tests/unit/spool_gen \
	tests/unit/spool_bench
tests_unit_check_spool_SOURCES = tests/unit/check_spool.c
tests_unit_check_spool_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_spool_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS) $(CHECK_LIBS)
tests_unit_check_spool_format_SOURCES = tests/unit/check_spool_format.c
tests_unit_check_spool_format_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_spool_format_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS) $(CHECK_LIBS)
tests_unit_spool_gen_SOURCES = tests/unit/spool_gen.c
tests_unit_spool_gen_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS)
tests_unit_spool_bench_SOURCES = tests/unit/spool_bench.c
tests_unit_spool_bench_LDADD = common/libcommon.a $(EV_LIBS) $(PTHREAD_LIBS)
TESTS += tests/unit/check_spool tests/unit/check_spool_format
# the upgrade: a format 1 spool (spool_gen --v1) delivered by dsmtpc
TESTS += tests/t/t2015-spool-upgrade.sh
# streamed delivery (issue 20): 100 large messages in flight to a sink that
# stalls them (tests/t/stallsink.py, spooled by spool_gen --body-file)
TESTS += tests/t/t2030-send-stream.sh
EXTRA_DIST += tests/t/stallsink.py

# the per-domain security memory (issue 18)
check_PROGRAMS += tests/unit/check_secmem
tests_unit_check_secmem_SOURCES = tests/unit/check_secmem.c
tests_unit_check_secmem_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_secmem_LDADD = common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_secmem

# international domain names across addr.c, smtpd/cmd.c, policy/ and the
# config loader (issue 14)
check_PROGRAMS += tests/unit/check_addr
tests_unit_check_addr_SOURCES = tests/unit/check_addr.c smtpd/cmd.c
tests_unit_check_addr_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_addr_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_addr

# the one JSON string writer (common/json.c) of every --json output
check_PROGRAMS += tests/unit/check_json
tests_unit_check_json_SOURCES = tests/unit/check_json.c
tests_unit_check_json_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_json_LDADD = common/libcommon.a $(CHECK_LIBS)
TESTS += tests/unit/check_json

# the byte buffer and the event-driven connection, over socketpairs
check_PROGRAMS += tests/unit/check_buf tests/unit/check_conn
tests_unit_check_buf_SOURCES = tests/unit/check_buf.c
tests_unit_check_buf_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_buf_LDADD = common/libcommon.a $(CHECK_LIBS)
tests_unit_check_conn_SOURCES = tests/unit/check_conn.c
tests_unit_check_conn_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_conn_LDADD = common/libcommon.a $(EV_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_buf tests/unit/check_conn

# privdrop.c: the lookup, the drop with no way back, the state directory
# handed to the user (issue 15, DESIGN.md 13.4)
check_PROGRAMS += tests/unit/check_privdrop
tests_unit_check_privdrop_SOURCES = tests/unit/check_privdrop.c
tests_unit_check_privdrop_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_privdrop_LDADD = common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_privdrop
