# metrics/local.mk: libmetrics.a, the shared counters and the /metrics
# server (receive.metrics, send.metrics; DESIGN.md 13.5)
noinst_LIBRARIES += metrics/libmetrics.a
metrics_libmetrics_a_SOURCES = metrics/metrics.h metrics/metrics.c metrics/metrics_http.c
metrics_libmetrics_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)

# the counters across forked processes, result types, labels (Check)
check_PROGRAMS += tests/unit/check_metrics
tests_unit_check_metrics_SOURCES = tests/unit/check_metrics.c
tests_unit_check_metrics_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_metrics_LDADD = metrics/libmetrics.a tls/libtls.a common/libcommon.a \
	$(GNUTLS_LIBS) $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_metrics
