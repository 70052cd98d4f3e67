/* smtpd.h: dsmtpd's internal interfaces: the server (config, loop,
 * listeners, counters) and the session entry point. */
#ifndef DSMTP_SMTPD_H
#define DSMTP_SMTPD_H

#include <ev.h>
#include <stdbool.h>

#include "common/config.h"

struct smtpd_listener {
	ev_io			 io;
	int			 fd;
	struct addr_endpoint	 ep;
	char			 name[80];
};

struct smtpd_server {
	struct ev_loop		*loop;
	struct dsmtp_config	 cfg;
	struct smtpd_listener	*listeners;
	size_t			 nlisteners;
	unsigned		 nsessions;
	bool			 stopping;
	ev_signal		 sigterm, sigint, sighup;
};

/* listen.c */
int smtpd_listen_open(struct smtpd_server *srv, struct dsmtp_err *err);
void smtpd_listen_start(struct smtpd_server *srv);
void smtpd_listen_stop(struct smtpd_server *srv);
void smtpd_listen_close(struct smtpd_server *srv);

#endif
