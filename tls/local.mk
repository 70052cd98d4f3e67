# tls/local.mk: libtls.a (the GnuTLS layer), dsmtp-cert, and their tests
noinst_LIBRARIES += tls/libtls.a
tls_libtls_a_SOURCES = \
	tls/tls.h tls/tls_facts.h tls/tls_int.h \
	tls/tls_session.h tls/tls_sess_int.h tls/tls_session.c tls/tls_creds.c \
	tls/tls_facts.c tls/tls_verify.c tls/tls_keygen.c tls/tls_keyfile.c tls/tls_pkcs12.c \
	tls/tls_store.c tls/tls_select.c tls/tls_dane.h tls/tls_dane.c \
	tls/tls_keyproc.h tls/tls_keyproc.c tls/tls_keyproc_serve.c tls/tls_keyproc_ext.c

bin_PROGRAMS += dsmtp-cert
dsmtp_cert_SOURCES = tls/cert_main.c tls/cert_cli.h tls/cert_cli.c tls/cert_create.c \
	tls/cert_pkcs12.c tls/cert_list.c tls/cert_manage.c
dsmtp_cert_LDADD = tls/libtls.a common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS)
dist_man_MANS += man/dsmtp-cert.1

check_PROGRAMS += tests/unit/check_tls
tests_unit_check_tls_SOURCES = tests/unit/check_tls.c
tests_unit_check_tls_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_tls_LDADD = tls/libtls.a common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS) \
	$(CHECK_LIBS)
TESTS += tests/unit/check_tls
# the DANE matcher (tls_dane.c) and verdict (policy/dane.c), certificates made at test time
check_PROGRAMS += tests/unit/check_dane
tests_unit_check_dane_SOURCES = tests/unit/check_dane.c
tests_unit_check_dane_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_dane_LDADD = policy/libpolicy.a tls/libtls.a common/libcommon.a $(GNUTLS_LIBS) \
	$(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/check_dane

TESTS += \
	tests/t/t6000-cert-new.sh \
	tests/t/t6100-cert-request.sh \
	tests/t/t6200-cert-pfx.sh \
	tests/t/t6400-cert-sni.sh \
	tests/t/t6500-cert-root-keys.sh \
	tests/t/t6300-cert-dsmtpd.sh
EXTRA_DIST += tests/certs/mkcerts.sh
# no private key text left in memory after loading one (tls_keyfile.c)
check_PROGRAMS += tests/unit/check_keywipe
tests_unit_check_keywipe_SOURCES = tests/unit/check_keywipe.c
tests_unit_check_keywipe_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_keywipe_LDADD = tls/libtls.a common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS) \
	$(CHECK_LIBS)
TESTS += tests/unit/check_keywipe
