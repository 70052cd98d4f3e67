# logs/local.mk: libplog.a (protocol logs) and dsmtp-log
bin_PROGRAMS += dsmtp-log
dsmtp_log_SOURCES = logs/log_main.c
dsmtp_log_LDADD = common/libcommon.a $(YAML_LIBS)
