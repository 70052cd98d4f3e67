# smtpc/local.mk: dsmtpc, the send component
bin_PROGRAMS += dsmtpc
dsmtpc_SOURCES = smtpc/main.c
dsmtpc_LDADD = common/libcommon.a $(YAML_LIBS)
