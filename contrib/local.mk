# contrib/local.mk: scripts, example configs, systemd units
EXTRA_DIST += contrib/deps contrib/check contrib/quickstart
