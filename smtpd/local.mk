# smtpd/local.mk: dsmtpd, the receive component, and its tests
sbin_PROGRAMS += dsmtpd
dsmtpd_SOURCES = smtpd/smtpd.h smtpd/main.c smtpd/listen.c smtpd/limits.c smtpd/session.c \
	smtpd/hooks.h smtpd/hooks.c smtpd/tx.c smtpd/cmd.h smtpd/cmd.c smtpd/data.h smtpd/data.c \
	smtpd/reqtls.h smtpd/reqtls.c \
	smtpd/stats.c
dsmtpd_LDADD = policy/libpolicy.a logs/libplog.a metrics/libmetrics.a tls/libtls.a \
	common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS) $(EV_LIBS) $(MHD_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/check_smtpd
tests_unit_check_smtpd_SOURCES = tests/unit/check_smtpd.c smtpd/cmd.c smtpd/data.c smtpd/reqtls.c
tests_unit_check_smtpd_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_smtpd_LDADD = common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_smtpd

# what each session state accepts, through the real session over socketpairs
check_PROGRAMS += tests/unit/check_smtpd_states
tests_unit_check_smtpd_states_SOURCES = tests/unit/check_smtpd_states.c smtpd/listen.c \
	smtpd/limits.c smtpd/session.c smtpd/hooks.c smtpd/tx.c smtpd/cmd.c smtpd/data.c \
	smtpd/reqtls.c smtpd/stats.c
tests_unit_check_smtpd_states_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_smtpd_states_LDADD = policy/libpolicy.a logs/libplog.a metrics/libmetrics.a \
	tls/libtls.a common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS) $(EV_LIBS) $(MHD_LIBS) \
	$(PTHREAD_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_smtpd_states

TESTS += tests/t/t1000-receive-dialogs.sh tests/t/t1100-receive-clients.sh \
	tests/t/t1200-receive-limits.sh tests/t/t1210-receive-limits-workers.sh \
	tests/t/t1220-receive-workers-share.sh \
	tests/t/t1250-receive-reload-storm.sh tests/t/t1260-receive-deadlines.sh \
	tests/t/t1300-receive-crash.sh tests/t/t1400-receive-idn.sh \
	tests/t/t1500-receive-metrics.sh \
	tests/t/t3500-policy-receive.sh
EXTRA_DIST += tests/t/dialog.py tests/t/metrics.py tests/dialogs/basic.dlg tests/dialogs/pipelining.dlg \
	tests/dialogs/starttls-injection.dlg tests/dialogs/smuggling.dlg \
	tests/dialogs/bad-input.dlg tests/dialogs/clienthello.dlg tests/dialogs/bdat.dlg \
	tests/dialogs/tls-required.dlg tests/dialogs/pipelining-last-data.dlg \
	tests/dialogs/pipelining-last-ehlo.dlg tests/dialogs/pipelining-last-noop.dlg

# interoperability with real MTAs (issue 8)
TESTS += tests/t/t5000-interop-postfix-sender.sh tests/t/t5100-interop-exim-sender.sh
EXTRA_DIST += tests/t/lib-postfix.sh tests/t/lib-exim.sh

# robustness (issue 8)
TESTS += tests/t/t9000-spool-full.sh tests/t/t9100-many-connections.sh

# the connection table shared by the workers (issue 14)
check_PROGRAMS += tests/unit/check_limits
tests_unit_check_limits_SOURCES = tests/unit/check_limits.c smtpd/limits.c
tests_unit_check_limits_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_limits_LDADD = common/libcommon.a $(PTHREAD_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_limits
