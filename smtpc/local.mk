# smtpc/local.mk: dsmtpc, the send component
bin_PROGRAMS += dsmtpc
dsmtpc_SOURCES = smtpc/main.c
dsmtpc_LDADD = common/libcommon.a $(YAML_LIBS) $(EV_LIBS) $(PTHREAD_LIBS)
dist_man_MANS += man/dsmtpc.8

# integration tests of "dsmtpc queue" and "dsmtpc flush" over a spool
# written by tests/unit/spool_gen (see common/local.mk)
TESTS += tests/t/t2000-queue.sh
