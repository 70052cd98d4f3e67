# smtpc/local.mk: dsmtpc, the send component
bin_PROGRAMS += dsmtpc
dsmtpc_SOURCES = smtpc/main.c
dsmtpc_LDADD = common/libcommon.a $(YAML_LIBS) $(EV_LIBS) $(PTHREAD_LIBS)
# the send engine (client session, routing, retries, DSNs) is a library:
# dsmtpc delivers with it, dsmtp-policy probe talks to servers with it
noinst_LIBRARIES += smtpc/libsmtpc.a
smtpc_libsmtpc_a_SOURCES = smtpc/smtpc.h smtpc/reply.c smtpc/retry.c smtpc/bounce.c \
	smtpc/dns.c smtpc/route.c smtpc/client_int.h smtpc/client_states.c smtpc/client.c \
	smtpc/client_tls.c smtpc/client_tx.c smtpc/client_body.c smtpc/client_dest.c \
	smtpc/iothread.c smtpc/iothread.h smtpc/maildir.c smtpc/sched.c \
	smtpc/tlsrpt.h smtpc/tlsrpt.c \
	smtpc/sts_fetch.c smtpc/sts_cache.c smtpc/sts.c smtpc/sts_log.c \
	smtpc/requiretls.h smtpc/requiretls.c smtpc/stats.c \
	smtpc/privsep.c
smtpc_libsmtpc_a_CFLAGS = $(AM_CFLAGS) $(UNBOUND_CFLAGS) $(CURL_CFLAGS)
SMTPC_LIBS = smtpc/libsmtpc.a policy/libpolicy.a logs/libplog.a metrics/libmetrics.a \
	tls/libtls.a common/libcommon.a \
	$(GNUTLS_LIBS) $(YAML_LIBS) $(UNBOUND_LIBS) $(CURL_LIBS) $(EV_LIBS) $(MHD_LIBS) $(PTHREAD_LIBS)
# delivery: run, once, send (the scheduler and the one-shot sender)
dsmtpc_SOURCES += smtpc/queue_int.h smtpc/queue.c smtpc/queue_outcome.c smtpc/queue_daemon.c \
	smtpc/send.c smtpc/memory_cmd.c
# TLS reports (RFC 8460): dsmtpc tlsrpt-send, run by the daemon daily
dsmtpc_SOURCES += smtpc/tlsrpt_send.c smtpc/tlsrpt_mail.c
dsmtpc_CFLAGS = $(AM_CFLAGS) $(UNBOUND_CFLAGS) $(ZLIB_CFLAGS) $(CURL_CFLAGS)
dsmtpc_LDADD += $(SMTPC_LIBS) $(ZLIB_LIBS) $(CURL_LIBS)

# delivery tests: the reply parser, retry schedule and DSN builder (Check),
# then dsmtpc against real receivers (tests/t/t25NN-*.sh)
check_PROGRAMS += tests/unit/check_smtpc
tests_unit_check_smtpc_SOURCES = tests/unit/check_smtpc.c smtpc/reply.c smtpc/retry.c \
	smtpc/bounce.c
tests_unit_check_smtpc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_smtpc_LDADD = $(CHECK_LIBS)
TESTS += tests/unit/check_smtpc
# the scheduler's schedule: index, heap, once-mode count (smtpc/sched.c)
check_PROGRAMS += tests/unit/check_sched
tests_unit_check_sched_SOURCES = tests/unit/check_sched.c smtpc/sched.c
tests_unit_check_sched_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_sched_LDADD = $(CHECK_LIBS)
TESTS += tests/unit/check_sched
# the client session's state table (smtpc/client_states.c) against its
# contract, and the real session through its states with a scripted server
check_PROGRAMS += tests/unit/check_smtpc_states
tests_unit_check_smtpc_states_SOURCES = tests/unit/check_smtpc_states.c
tests_unit_check_smtpc_states_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_smtpc_states_LDADD = $(SMTPC_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_smtpc_states
# TLS reporting: the _smtp._tls TXT parser, gzip and report message, the
# record encoding (RFC 8460)
check_PROGRAMS += tests/unit/check_tlsrpt
tests_unit_check_tlsrpt_SOURCES = tests/unit/check_tlsrpt.c smtpc/tlsrpt.c smtpc/tlsrpt_mail.c
tests_unit_check_tlsrpt_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_check_tlsrpt_LDADD = $(SMTPC_LIBS) $(ZLIB_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_tlsrpt
TESTS += tests/t/t2500-send-levels.sh tests/t/t2510-send-hostile.sh \
	tests/t/t2520-relay-queue.sh tests/t/t2530-send-postfix.sh tests/t/t2540-routes.sh \
	tests/t/t2550-domain-secure-queue.sh tests/t/t2560-dsmtpc-sighup.sh \
	tests/t/t2565-dsmtpc-reload-storm.sh tests/t/t2570-dsmtpc-scale.sh tests/t/t2600-dane.sh \
	tests/t/t2610-dane-postfix.sh tests/t/t2620-mta-sts.sh \
	tests/t/t2625-mta-sts-postfix.sh tests/t/t2630-tlsrpt.sh
EXTRA_DIST += tests/t/fakesmtp.py tests/t/fakedns.py tests/t/lib-dnssec.sh tests/t/stshttps.py
# RFC 8689 and the security memory (issue 18)
TESTS += tests/t/t2700-requiretls.sh tests/t/t2705-requiretls-postfix.sh tests/t/t2710-memory.sh tests/t/t2720-requiretls-dane.sh
TESTS += tests/t/t2580-send-metrics.sh
dist_man_MANS += man/dsmtpc.8

# integration tests of "dsmtpc queue" and "dsmtpc flush" over a spool
# written by tests/unit/spool_gen (see common/local.mk)
TESTS += tests/t/t2000-queue.sh
