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
	policy/coverage.c \
	policy/check.c \
	policy/dane.c \
	policy/sts_parse.c \
	policy/sts.c

# dsmtp-policy reads the enabled certificate through tls/'s store
bin_PROGRAMS += dsmtp-policy
dsmtp_policy_SOURCES = policy/policy_main.c policy/policy_cmd.h policy/explain_memory.c
# probe and explain's MTA-STS line drive dsmtpc's engine and cache: their
# files are smtpc/'s (nothing in policy/ includes smtpc/), linked in here
dsmtp_policy_SOURCES += smtpc/probe.h smtpc/probe.c smtpc/probe_sts.c
dsmtp_policy_CPPFLAGS = $(AM_CPPFLAGS) -DDSMTP_POLICY_TLS_STORE
dsmtp_policy_CFLAGS = $(AM_CFLAGS) $(UNBOUND_CFLAGS)
# probe talks SMTP with dsmtpc's engine (smtpc/libsmtpc.a)
dsmtp_policy_LDADD = $(SMTPC_LIBS)

dist_man_MANS += man/dsmtp-policy.1

check_PROGRAMS += tests/unit/check_policy
tests_unit_check_policy_SOURCES = tests/unit/check_policy.c
tests_unit_check_policy_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_policy_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_policy

# integration: golden check/explain outputs and the command line
TESTS += \
	tests/t/t3000-policy-golden.sh \
	tests/t/t3100-policy-cli.sh
EXTRA_DIST += \
	tests/golden/bad-coverage.yaml tests/golden/bad-coverage.out \
	tests/golden/bad-expired.yaml tests/golden/bad-expired.out \
	tests/golden/bad-open-relay.yaml tests/golden/bad-open-relay.out \
	tests/golden/bad-routes.yaml tests/golden/bad-routes.out \
	tests/golden/bad-trust.yaml tests/golden/bad-trust.out \
	tests/golden/bad-wild-exact.yaml tests/golden/bad-wild-exact.out \
	tests/golden/cn-only.yaml tests/golden/cn-only.out \
	tests/golden/edge.yaml tests/golden/edge.out \
	tests/golden/hub.yaml tests/golden/hub.out \
	tests/golden/levels.yaml tests/golden/levels.out \
	tests/golden/partner.yaml tests/golden/partner.out \
	tests/golden/single.yaml tests/golden/single.out \
	tests/golden/warn-expiring.yaml tests/golden/warn-expiring.out \
	tests/golden/wildcard.yaml tests/golden/wildcard.out

# MTA-STS: the TXT record, the policy file, mx patterns, the cache record,
# the verdict (policy/sts_parse.c, policy/sts.c)
check_PROGRAMS += tests/unit/check_sts
tests_unit_check_sts_SOURCES = tests/unit/check_sts.c
tests_unit_check_sts_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_sts_LDADD = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_sts
