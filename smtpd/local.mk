# smtpd/local.mk: dsmtpd, the receive component
sbin_PROGRAMS += dsmtpd
dsmtpd_SOURCES = smtpd/smtpd.h smtpd/main.c smtpd/listen.c
dsmtpd_LDADD = common/libcommon.a $(YAML_LIBS) $(EV_LIBS)
