# logs/local.mk: libplog.a (protocol logs), dsmtp-log, its man page and tests
noinst_LIBRARIES += logs/libplog.a
logs_libplog_a_SOURCES = logs/plog.h logs/plog_write.c logs/plog_read.c logs/plog_peer.c

bin_PROGRAMS += dsmtp-log
dsmtp_log_SOURCES = logs/log_main.c
dsmtp_log_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS)

dist_man_MANS += man/dsmtp-log.1

check_PROGRAMS += tests/unit/check_plog tests/unit/plog_gen
tests_unit_check_plog_SOURCES = tests/unit/check_plog.c
tests_unit_check_plog_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_plog_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
tests_unit_plog_gen_SOURCES = tests/unit/plog_gen.c
tests_unit_plog_gen_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS)

TESTS += tests/unit/check_plog \
	tests/t/t4000-log-csv.sh \
	tests/t/t4100-log-json.sh \
	tests/t/t4200-log-speed.sh \
	tests/t/t4300-log-dsmtpd.sh \
	tests/t/t4400-log-dsmtpc.sh \
	tests/t/t4500-log-peers.sh
