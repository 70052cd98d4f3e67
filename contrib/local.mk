# contrib/local.mk: scripts, example configs, systemd units
EXTRA_DIST += contrib/deps contrib/check contrib/quickstart contrib/fresh-check
# the skips contrib/check allows (tests/README.md, "Skips")
EXTRA_DIST += tests/skip-ledger
# the systemd units: made from their .in with the installation's paths
units = contrib/systemd/dsmtpd.service contrib/systemd/dsmtpc.service
EXTRA_DIST += contrib/systemd/dsmtpd.service.in contrib/systemd/dsmtpc.service.in
CLEANFILES += $(units)
noinst_DATA = $(units)
if HAVE_SYSTEMD_UNITDIR
systemdsystemunit_DATA = $(units)
endif
edit_unit = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g'
contrib/systemd/dsmtpd.service: $(srcdir)/contrib/systemd/dsmtpd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && $(edit_unit) $(srcdir)/contrib/systemd/dsmtpd.service.in >$@.tmp && mv $@.tmp $@
contrib/systemd/dsmtpc.service: $(srcdir)/contrib/systemd/dsmtpc.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && $(edit_unit) $(srcdir)/contrib/systemd/dsmtpc.service.in >$@.tmp && mv $@.tmp $@
EXTRA_DIST += contrib/loopback-demo contrib/examples/edge.yaml contrib/examples/hub.yaml \
	contrib/examples/fabrikam.yaml contrib/examples/contoso.yaml
TESTS += tests/t/t3600-loopback-demo.sh tests/t/t3700-policy-probe.sh
