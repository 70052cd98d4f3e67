/* listen.c: dsmtpd's listening sockets: bind every receive.listen address,
 * once per worker slot (each its own SO_REUSEPORT socket, so the kernel
 * spreads connections over the workers), accept without blocking, and hand
 * each connection to a session. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpd/smtpd.h"

#define LISTEN_BACKLOG		1024
#define LISTEN_ACCEPT_BATCH	16	/* accepts per wake-up (see listen_cb) */

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents);

static int
open_one(struct smtpd_listener *l, struct dsmtp_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	addr_endpoint_sockaddr(&l->ep, &ss, &len);
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		dsmtp_err_set(err, "socket for %s: %s", l->name, strerror(errno));
		return -1;
	}
	/* SO_REUSEPORT: the sets of every worker slot share the address, and
	 * the kernel hashes each new connection to one of them */
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		dsmtp_err_set(err, "setsockopt for %s: %s", l->name, strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, len) < 0) {
		dsmtp_err_set(err, "cannot listen on %s: %s", l->name, strerror(errno));
		return -1;
	}
	if (listen(l->fd, LISTEN_BACKLOG) < 0) {
		dsmtp_err_set(err, "listen on %s: %s", l->name, strerror(errno));
		return -1;
	}
	return 0;
}

int
smtpd_listen_open(struct smtpd_server *srv, unsigned nsets, struct dsmtp_err *err)
{
	const struct dsmtp_config *cfg = &srv->cfg;
	size_t naddr = cfg->receive.nlisten;

	if (nsets < 1)
		nsets = 1;
	srv->listeners = calloc(naddr * nsets, sizeof(*srv->listeners));
	if (srv->listeners == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	srv->listen_naddr = naddr;
	srv->listen_sets = nsets;
	/* set-major: listeners[set * naddr + address]. Made here, by the
	 * parent (root: ports below 1024), before any worker exists; all of
	 * one address's sockets are then in one reuseport group (same owner) */
	for (unsigned s = 0; s < nsets; s++)
		for (size_t i = 0; i < naddr; i++) {
			struct smtpd_listener *l = &srv->listeners[s * naddr + i];

			l->fd = -1;
			l->ep = cfg->receive.listen[i];
			addr_endpoint_format(&l->ep, l->name, sizeof(l->name));
			srv->nlisteners++;
			if (open_one(l, err) < 0)
				return -1;
		}
	return 0;
}

/* a worker: keep its own set (moved to the front), close every other
 * slot's, so what the kernel hashes to another slot is never taken here */
void
smtpd_listen_keep_set(struct smtpd_server *srv, unsigned set)
{
	size_t naddr = srv->listen_naddr;

	for (size_t i = 0; i < srv->nlisteners; i++)
		if (i / naddr != set && srv->listeners[i].fd >= 0) {
			close(srv->listeners[i].fd);
			srv->listeners[i].fd = -1;
		}
	if (set > 0 && set < srv->listen_sets)
		memmove(srv->listeners, srv->listeners + (size_t)set * naddr,
		    naddr * sizeof(*srv->listeners));
	srv->nlisteners = naddr;
	srv->listen_sets = 1;
}

/* the parent gave a slot up: its sockets leave the reuseport group, so
 * the kernel stops sending connections where nobody will accept them */
void
smtpd_listen_close_set(struct smtpd_server *srv, unsigned set)
{
	size_t naddr = srv->listen_naddr;

	if (set >= srv->listen_sets)
		return;
	for (size_t i = (size_t)set * naddr; i < (size_t)(set + 1) * naddr; i++)
		if (srv->listeners[i].fd >= 0) {
			close(srv->listeners[i].fd);
			srv->listeners[i].fd = -1;
		}
}

void
smtpd_listen_start(struct smtpd_server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct smtpd_listener *l = &srv->listeners[i];

		if (l->fd < 0)
			continue;
		if (!ev_is_active(&l->io)) {
			ev_io_init(&l->io, listen_cb, l->fd, EV_READ);
			l->io.data = srv;
		}
		ev_io_start(srv->loop, &l->io);
	}
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
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
	srv->listen_sets = 0;
}

static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpd_server *srv = w->data;
	int fd;

	(void)loop;
	(void)revents;
	/* a bounded batch per wake-up, so one busy port cannot starve the
	 * sessions; the socket is this worker's own, so the batch decides
	 * nothing between workers (the kernel's reuseport hash does) */
	for (int n = 0; n < LISTEN_ACCEPT_BATCH; n++) {
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
