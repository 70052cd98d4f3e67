# policy/local.mk: libpolicy.a and dsmtp-policy
bin_PROGRAMS += dsmtp-policy
dsmtp_policy_SOURCES = policy/policy_main.c
dsmtp_policy_LDADD = common/libcommon.a $(YAML_LIBS)
