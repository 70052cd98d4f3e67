/* route.c: next-hop resolution with c-ares, driven by the libev loop (the
 * resolver's sockets are ev_io watchers, its timeouts one ev_timer), so a
 * slow DNS server never blocks a delivery. "[host]:port" is the host's
 * A/AAAA; "host" is its MX set in preference order (RFC 5321 5.1), each
 * MX host's A/AAAA, the host itself when it has no MX, and a null MX
 * (RFC 7505) or a name that does not exist is a permanent failure.
 * Routing itself (which hop, which level) is policy_effective()'s. */
#include "autoconfig.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define RESOLVE_MAX_MX		10	/* MX hosts tried, best first */
#define RESOLVE_MAX_TARGETS	32

struct watch {
	ev_io			 io;
	struct smtpc_resolver	*r;
	struct watch		*next;
};

struct smtpc_resolver {
	struct ev_loop		*loop;
	ares_channel		 ch;
	ev_timer		 timer;
	struct watch		*watches;
	struct smtpc_resolve_req *reqs;	/* every live request */
};

struct slot {
	char		 host[256];
	unsigned	 pref;
};

struct smtpc_resolve_req {
	struct smtpc_resolver	*r;
	smtpc_resolve_cb	*cb;	/* NULL once cancelled */
	void			*arg;
	unsigned		 pending;	/* c-ares queries not yet answered */
	uint16_t		 port;
	char			 name[256];
	struct slot		 slots[RESOLVE_MAX_MX];
	size_t			 nslots;
	struct smtpc_target	*t;
	size_t			 n;
	enum smtpc_status	 st;	/* the worst address lookup failure */
	char			 why[256];
	bool			 finishing;
	ev_timer		 deliver;	/* cb runs from the loop, never inside smtpc_resolve */
	struct smtpc_resolve_req *next, *prev;
};

struct gai_arg {
	struct smtpc_resolve_req	*q;
	size_t				 slot;
};

static bool	ares_inited;

static void	resolver_arm(struct smtpc_resolver *r);
static void	req_free(struct smtpc_resolve_req *q);

static void
watch_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct watch *wa = (struct watch *)w;
	struct smtpc_resolver *r = wa->r;
	int fd = w->fd;

	(void)loop;
	ares_process_fd(r->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	resolver_arm(r);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_resolver *r = w->data;

	(void)loop;
	(void)revents;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_arm(r);
}

/* c-ares says which sockets it waits on: mirror that in ev_io watchers */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct smtpc_resolver *r = data;
	struct watch **wp, *w;
	int ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	for (wp = &r->watches; *wp; wp = &(*wp)->next)
		if ((*wp)->io.fd == fd)
			break;
	w = *wp;
	if (w) {
		ev_io_stop(r->loop, &w->io);
		if (ev == 0) {
			*wp = w->next;
			free(w);
			return;
		}
		ev_io_set(&w->io, fd, ev);
		ev_io_start(r->loop, &w->io);
		return;
	}
	if (ev == 0)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		diag_warnx("resolver: out of memory");
		return;
	}
	w->r = r;
	ev_io_init(&w->io, watch_cb, fd, ev);
	ev_io_start(r->loop, &w->io);
	w->next = r->watches;
	r->watches = w;
}

/* the timer follows c-ares' own next timeout */
static void
resolver_arm(struct smtpc_resolver *r)
{
	struct timeval tv, *tvp;

	ev_timer_stop(r->loop, &r->timer);
	tvp = ares_timeout(r->ch, NULL, &tv);
	if (tvp == NULL)
		return;
	ev_timer_set(&r->timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6 + 0.001, 0.);
	ev_timer_start(r->loop, &r->timer);
}

struct smtpc_resolver *
smtpc_resolver_new(struct ev_loop *loop, struct dsmtp_err *err)
{
	struct smtpc_resolver *r;
	struct ares_options o;
	const char *servers;
	int rc;

	if (!ares_inited) {
		if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
			dsmtp_err_set(err, "c-ares: %s", ares_strerror(rc));
			return NULL;
		}
		ares_inited = true;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	r->loop = loop;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	o.timeout = 5000;
	o.tries = 3;
	if ((rc = ares_init_options(&r->ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES)) != ARES_SUCCESS) {
		dsmtp_err_set(err, "c-ares: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	/* DSMTPC_DNS_SERVERS="127.0.0.1:5353": a resolver other than
	 * resolv.conf's (tests use a private DNS server on loopback) */
	if ((servers = getenv("DSMTPC_DNS_SERVERS")) != NULL && *servers &&
	    (rc = ares_set_servers_ports_csv(r->ch, servers)) != ARES_SUCCESS) {
		dsmtp_err_set(err, "DSMTPC_DNS_SERVERS \"%s\": %s", servers, ares_strerror(rc));
		ares_destroy(r->ch);
		free(r);
		return NULL;
	}
	ev_init(&r->timer, timer_cb);
	r->timer.data = r;
	return r;
}

void
smtpc_resolver_free(struct smtpc_resolver *r)
{
	if (r == NULL)
		return;
	/* pending callbacks run now with ARES_EDESTRUCTION; their requests
	 * were cancelled by their sessions */
	ares_destroy(r->ch);
	ev_timer_stop(r->loop, &r->timer);
	while (r->watches) {
		struct watch *w = r->watches;

		r->watches = w->next;
		ev_io_stop(r->loop, &w->io);
		free(w);
	}
	while (r->reqs)
		req_free(r->reqs);
	free(r);
}

static void
req_free(struct smtpc_resolve_req *q)
{
	struct smtpc_resolver *r = q->r;

	ev_timer_stop(r->loop, &q->deliver);
	if (q->prev)
		q->prev->next = q->next;
	else
		r->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q->t);
	free(q);
}

/* the answer, from the loop */
static void
deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_resolve_req *q = w->data;

	(void)loop;
	(void)revents;
	if (q->cb) {
		if (q->n > 0)
			q->cb(q->arg, SMTPC_OK, "", q->t, q->n);
		else
			q->cb(q->arg, q->st == SMTPC_OK ? SMTPC_TEMP : q->st,
			    q->why[0] ? q->why : "no address found", NULL, 0);
	}
	req_free(q);
}

static int
cmp_target(const void *a, const void *b)
{
	const struct smtpc_target *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref ? 1 : 0;
}

/* every lookup answered: sort, and answer from the loop */
static void
req_finish(struct smtpc_resolve_req *q)
{
	if (q->pending > 0 || q->finishing)
		return;
	q->finishing = true;
	/* qsort is not stable, but targets of one preference keep their
	 * relative order only loosely anyway (RFC 5321 5.1 allows shuffling) */
	if (q->n > 1)
		qsort(q->t, q->n, sizeof(*q->t), cmp_target);
	ev_timer_set(&q->deliver, 0., 0.);
	ev_timer_start(q->r->loop, &q->deliver);
}

/* what: "Host or domain name not found", "address lookup failed", ... */
static void
req_fail(struct smtpc_resolve_req *q, enum smtpc_status st, const char *what, const char *name,
    int status)
{
	/* a permanent reason only wins when nothing temporary happened */
	if (q->st == SMTPC_TEMP && st == SMTPC_PERM)
		return;
	q->st = st;
	snprintf(q->why, sizeof(q->why), "%.60s: %.120s (%.60s)", what, name,
	    ares_strerror(status));
}

static void
gai_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct gai_arg *ga = arg;
	struct smtpc_resolve_req *q = ga->q;
	struct slot *sl = &q->slots[ga->slot];

	(void)timeouts;
	q->pending--;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next) {
			struct smtpc_target *t;
			unsigned char tmp[16];

			if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
			    n->ai_addrlen > sizeof(t->ss) || q->n >= RESOLVE_MAX_TARGETS)
				continue;
			t = &q->t[q->n++];
			memset(t, 0, sizeof(*t));
			snprintf(t->host, sizeof(t->host), "%s", sl->host);
			t->literal = inet_pton(AF_INET, sl->host, tmp) == 1 ||
			    inet_pton(AF_INET6, sl->host, tmp) == 1;
			memcpy(&t->ss, n->ai_addr, n->ai_addrlen);
			t->sslen = n->ai_addrlen;
			t->pref = sl->pref;
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)&t->ss)->sin_port = htons(q->port);
			else
				((struct sockaddr_in6 *)&t->ss)->sin6_port = htons(q->port);
		}
	} else if (status == ARES_ENOTFOUND || status == ARES_ENONAME)
		req_fail(q, SMTPC_PERM, "Host or domain name not found", sl->host, status);
	else if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED)
		req_fail(q, SMTPC_TEMP, "address lookup failed", sl->host, status);
	else
		req_fail(q, SMTPC_TEMP, "address lookup cancelled", sl->host, status);
	if (res)
		ares_freeaddrinfo(res);
	free(ga);
	req_finish(q);
}

/* A/AAAA of one slot's host */
static void
lookup_addrs(struct smtpc_resolve_req *q, size_t slot)
{
	struct ares_addrinfo_hints h;
	struct gai_arg *ga = calloc(1, sizeof(*ga));

	if (ga == NULL) {
		snprintf(q->why, sizeof(q->why), "out of memory");
		q->st = SMTPC_TEMP;
		return;
	}
	ga->q = q;
	ga->slot = slot;
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_UNSPEC;
	h.ai_socktype = SOCK_STREAM;
	q->pending++;
	ares_getaddrinfo(q->r->ch, q->slots[slot].host, NULL, &h, gai_cb, ga);
}

static int
cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref ? 1 : 0;
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct smtpc_resolve_req *q = arg;
	struct ares_mx_reply *mx = NULL;
	int rc;

	(void)timeouts;
	q->pending--;
	if (status == ARES_ENODATA || (status == ARES_SUCCESS &&
	    (rc = ares_parse_mx_reply(abuf, alen, &mx)) == ARES_ENODATA)) {
		/* RFC 5321 5.1: no MX, the name itself is the implicit MX */
		snprintf(q->slots[0].host, sizeof(q->slots[0].host), "%s", q->name);
		q->slots[0].pref = 0;
		q->nslots = 1;
		lookup_addrs(q, 0);
	} else if (status == ARES_SUCCESS && mx) {
		for (struct ares_mx_reply *m = mx; m && q->nslots < RESOLVE_MAX_MX; m = m->next) {
			/* RFC 7505: "MX 0 ." says the domain accepts no mail */
			if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
				if (mx->next == NULL) {
					q->st = SMTPC_PERM;
					snprintf(q->why, sizeof(q->why), "%.150s publishes a null MX "
					    "(RFC 7505): it accepts no mail", q->name);
				}
				continue;
			}
			snprintf(q->slots[q->nslots].host, sizeof(q->slots[0].host), "%s", m->host);
			q->slots[q->nslots++].pref = m->priority;
		}
		ares_free_data(mx);
		qsort(q->slots, q->nslots, sizeof(q->slots[0]), cmp_slot);
		for (size_t i = 0; i < q->nslots; i++)
			lookup_addrs(q, i);
	} else if (status == ARES_SUCCESS) {
		q->st = SMTPC_TEMP;
		snprintf(q->why, sizeof(q->why), "MX lookup of %.150s: malformed answer (%.60s)", q->name,
		    ares_strerror(rc));
	} else if (status == ARES_ENOTFOUND)
		req_fail(q, SMTPC_PERM, "Host or domain name not found", q->name, status);
	else
		req_fail(q, SMTPC_TEMP, "MX lookup failed", q->name, status);
	req_finish(q);
}

struct smtpc_resolve_req *
smtpc_resolve(struct smtpc_resolver *r, const struct addr_hop *hop, smtpc_resolve_cb *cb,
    void *arg)
{
	struct smtpc_resolve_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->t = calloc(RESOLVE_MAX_TARGETS, sizeof(*q->t))) == NULL) {
		free(q);
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->port = hop->port ? hop->port : 25;
	snprintf(q->name, sizeof(q->name), "%s", hop->host);
	ev_init(&q->deliver, deliver_cb);
	q->deliver.data = q;
	q->next = r->reqs;
	if (r->reqs)
		r->reqs->prev = q;
	r->reqs = q;
	/* hold the request while queries start: their callbacks may run at
	 * once (literal addresses, /etc/hosts) */
	q->pending++;
	if (hop->kind == HOP_HOSTPORT) {
		snprintf(q->slots[0].host, sizeof(q->slots[0].host), "%s", hop->host);
		q->nslots = 1;
		lookup_addrs(q, 0);
	} else {
		q->pending++;
		ares_query(r->ch, hop->host, ns_c_in, ns_t_mx, mx_cb, q);
	}
	q->pending--;
	req_finish(q);
	resolver_arm(r);
	return q;
}

void
smtpc_resolve_cancel(struct smtpc_resolve_req *q)
{
	if (q)
		q->cb = NULL;
}
