# contrib/local.mk: scripts, example configs, systemd units
EXTRA_DIST += contrib/deps contrib/check contrib/quickstart contrib/fresh-check
# the skips contrib/check allows (tests/README.md, "Skips")
EXTRA_DIST += tests/skip-ledger
EXTRA_DIST += contrib/systemd/dsmtpd.service contrib/systemd/dsmtpc.service
EXTRA_DIST += contrib/loopback-demo contrib/examples/edge.yaml contrib/examples/hub.yaml \
	contrib/examples/fabrikam.yaml contrib/examples/contoso.yaml
TESTS += tests/t/t3600-loopback-demo.sh tests/t/t3700-policy-probe.sh
