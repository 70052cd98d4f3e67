# man/local.mk: the manual pages of dsmtpd and of the configuration file
# (each program's folder adds its own page)
dist_man_MANS += man/dsmtpd.8 man/dsmtp.yaml.5
