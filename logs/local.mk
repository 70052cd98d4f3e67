# logs/local.mk: libplog.a (protocol logs), dsmtp-log, its man page and tests
noinst_LIBRARIES += logs/libplog.a
logs_libplog_a_SOURCES = logs/plog.h logs/plog_int.h logs/plog_write.c logs/plog_file.c \
	logs/plog_read.c logs/plog_peer.c \
	logs/tlsrpt_report.h logs/tlsrpt_report.c

bin_PROGRAMS += dsmtp-log
dsmtp_log_SOURCES = logs/log_main.c logs/log_tlsrpt.c logs/log_agg.h logs/log_agg.c logs/log_text.c \
	logs/log_report.h logs/log_report.c logs/log_html.c logs/log_follow.c
dsmtp_log_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS)

dist_man_MANS += man/dsmtp-log.1

check_PROGRAMS += tests/unit/check_plog tests/unit/plog_gen tests/unit/check_logtext
tests_unit_check_plog_SOURCES = tests/unit/check_plog.c
tests_unit_check_plog_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_plog_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
tests_unit_check_logtext_SOURCES = tests/unit/check_logtext.c logs/log_text.c logs/log_agg.c \
	logs/log_report.c logs/log_html.c
tests_unit_check_logtext_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_logtext_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
tests_unit_plog_gen_SOURCES = tests/unit/plog_gen.c
tests_unit_plog_gen_LDADD = logs/libplog.a common/libcommon.a $(YAML_LIBS)

TESTS += tests/unit/check_plog tests/unit/check_logtext \
	tests/t/t4000-log-csv.sh \
	tests/t/t4100-log-json.sh \
	tests/t/t4200-log-speed.sh \
	tests/t/t4300-log-dsmtpd.sh \
	tests/t/t4400-log-dsmtpc.sh \
	tests/t/t4500-log-report.sh \
	tests/t/t4510-log-report-memory.sh \
	tests/t/t4520-log-follow.sh \
	tests/t/t4600-log-peers.sh
