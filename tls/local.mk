# tls/local.mk: libtls.a (GnuTLS layer) and dsmtp-cert
bin_PROGRAMS += dsmtp-cert
dsmtp_cert_SOURCES = tls/cert_main.c
dsmtp_cert_LDADD = common/libcommon.a $(GNUTLS_LIBS) $(YAML_LIBS)
