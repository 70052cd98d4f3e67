/* listen.c: dsmtpd's listening sockets: bind every receive.listen address,
 * accept without blocking, and hand each connection to a session. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpd/smtpd.h"

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents);

int
smtpd_listen_open(struct smtpd_server *srv, struct dsmtp_err *err)
{
	const struct dsmtp_config *cfg = &srv->cfg;

	srv->listeners = calloc(cfg->receive.nlisten, sizeof(*srv->listeners));
	if (srv->listeners == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->receive.nlisten; i++) {
		struct smtpd_listener *l = &srv->listeners[i];
		struct sockaddr_storage ss;
		socklen_t len;
		int one = 1, fd;

		l->ep = cfg->receive.listen[i];
		addr_endpoint_format(&l->ep, l->name, sizeof(l->name));
		addr_endpoint_sockaddr(&l->ep, &ss, &len);
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			dsmtp_err_set(err, "socket for %s: %s", l->name, strerror(errno));
			return -1;
		}
		l->fd = fd;
		srv->nlisteners++;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
			dsmtp_err_set(err, "setsockopt for %s: %s", l->name, strerror(errno));
			return -1;
		}
		if (ss.ss_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
			dsmtp_err_set(err, "cannot listen on %s: %s", l->name, strerror(errno));
			return -1;
		}
		if (listen(fd, 1024) < 0) {
			dsmtp_err_set(err, "listen on %s: %s", l->name, strerror(errno));
			return -1;
		}
		ev_io_init(&l->io, listen_cb, fd, EV_READ);
		l->io.data = srv;
	}
	return 0;
}

void
smtpd_listen_start(struct smtpd_server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		ev_io_start(srv->loop, &srv->listeners[i].io);
}

void
smtpd_listen_stop(struct smtpd_server *srv)
{
	if (srv->loop == NULL)
		return;		/* the parent: it never watched them */
	for (size_t i = 0; i < srv->nlisteners; i++)
		ev_io_stop(srv->loop, &srv->listeners[i].io);
}

void
smtpd_listen_close(struct smtpd_server *srv)
{
	smtpd_listen_stop(srv);
	for (size_t i = 0; i < srv->nlisteners; i++)
		close(srv->listeners[i].fd);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}

static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpd_server *srv = w->data;
	int fd;

	(void)loop;
	(void)revents;
	/* a bounded batch per wake-up, so one busy port cannot starve sessions */
	for (int n = 0; n < 64; n++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* ev.pod: pause, or the loop spins on a ready listener;
				 * the next session to end resumes it */
				diag_warn("accept");
				smtpd_listen_stop(srv);
				srv->listen_paused = true;
			}
			return;
		}
		smtpd_session_accept(srv, fd);
	}
}
