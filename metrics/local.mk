# metrics/local.mk: libmetrics.a, the shared counters and the /metrics
# server (receive.metrics, send.metrics; DESIGN.md 13.5)
noinst_LIBRARIES += metrics/libmetrics.a
metrics_libmetrics_a_SOURCES = metrics/metrics.h metrics/metrics.c metrics/metrics_http.c
metrics_libmetrics_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
