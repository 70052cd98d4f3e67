# contrib/local.mk: scripts, example configs, systemd units
EXTRA_DIST += contrib/deps contrib/check contrib/quickstart
EXTRA_DIST += contrib/systemd/dsmtpd.service contrib/systemd/dsmtpc.service
