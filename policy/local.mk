# policy/local.mk: libpolicy.a (the pure judgement library), dsmtp-policy,
# its manual page and its tests. policy/ owns only these lines.
noinst_LIBRARIES += policy/libpolicy.a
policy_libpolicy_a_SOURCES = \
	policy/policy.h \
	policy/match.c \
	policy/pin.c \
	policy/verdict.c \
	policy/relay.c \
	policy/route.c \
	policy/coverage.c

bin_PROGRAMS += dsmtp-policy
dsmtp_policy_SOURCES = policy/policy_main.c
dsmtp_policy_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS)

dist_man_MANS += man/dsmtp-policy.1

check_PROGRAMS += tests/unit/check_policy
tests_unit_check_policy_SOURCES = tests/unit/check_policy.c
tests_unit_check_policy_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_policy_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_policy
