/* dns.c: dsmtpc's one resolver, libunbound on the libev loop (DESIGN.md
 * 13.1). libunbound resolves in a thread of its own and hands answers back
 * through a pipe: ub_fd() is an ev_io watcher here and ub_process() runs the
 * callbacks, so the loop never blocks on DNS. It validates DNSSEC in the
 * process (dns.dnssec: validate, trust anchors from dns.trust_anchor_file)
 * or only resolves (off); trust-ad (the AD bit of a loopback resolver) is
 * refused, because libunbound clears that bit.  Owns the DNSSEC status of an answer; knows nothing of MX or TLSA
 * semantics (route.c has those). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define DNS_TIMEOUT	30.0	/* seconds: no answer by then defers, with the reason */

struct smtpc_dns_query {
	struct smtpc_dns	*dns;
	smtpc_dns_cb		*cb;	/* NULL once cancelled */
	void			*arg;
	int			 id;	/* libunbound's async id */
	bool			 running;	/* libunbound still owes a callback */
	ev_timer		 timer;
	struct smtpc_dns_query	*next, *prev;
};

struct smtpc_dns {
	struct ev_loop		*loop;
	struct ub_ctx		*ub;
	enum dns_dnssec		 mode;
	ev_io			 io;
	struct smtpc_dns_query	*queries;
};

static void	query_free(struct smtpc_dns_query *q);

/* libunbound's pipe is readable: run the callbacks of finished queries */
static void
dns_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpc_dns *d = w->data;
	int rc;

	(void)loop;
	(void)revents;
	if ((rc = ub_process(d->ub)) != 0)
		diag_warnx("resolver: %s", ub_strerror(rc));
}

static bool
is_loopback(const char *ip)
{
	unsigned char a[16];
	static const unsigned char lo6[16] = { [15] = 1 };

	if (inet_pton(AF_INET, ip, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, ip, a) == 1 && memcmp(a, lo6, 16) == 0;
}

/* trust-ad with the system resolver: every nameserver of resolv.conf must
 * be on this host, or an AD bit could come from anyone on the path */
static int
resolvconf_loopback_only(const char *path, struct dsmtp_err *err)
{
	FILE *fp = fopen(path, "r");
	char line[512], ip[128];
	int n = 0;

	if (fp == NULL) {
		dsmtp_err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, " nameserver %127s", ip) != 1)
			continue;
		n++;
		if (!is_loopback(ip)) {
			fclose(fp);
			dsmtp_err_set(err, "dns.dnssec trust-ad: %s names %s, not a loopback address "
			    "(the AD bit is believed only from a resolver on this host)", path, ip);
			return -1;
		}
	}
	fclose(fp);
	if (n == 0) {
		dsmtp_err_set(err, "%s names no nameserver", path);
		return -1;
	}
	return 0;
}

/* set one libunbound option, with the reason on failure */
static int
ub_opt(struct ub_ctx *ub, const char *opt, const char *val, struct dsmtp_err *err)
{
	int rc = ub_ctx_set_option(ub, opt, val);

	if (rc != 0) {
		dsmtp_err_set(err, "resolver option %s %s: %s", opt, val, ub_strerror(rc));
		return -1;
	}
	return 0;
}

struct smtpc_dns *
smtpc_dns_new(struct ev_loop *loop, const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	/* RFC 6761 names unbound answers itself; the configured resolver's
	 * answers are what counts (the DANE test bed lives under .test).
	 * "nodefault" is not honoured through ub_ctx_set_option (libunbound
	 * 1.17 still answers NXDOMAIN): "transparent" resolves them */
	static const char *const own_zones[] = { "test.", "invalid.", "home.arpa.", "onion." };
	struct smtpc_dns *d;
	int rc, fd;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->mode = cfg->dns.dnssec;
	if ((d->ub = ub_ctx_create()) == NULL) {
		dsmtp_err_set(err, "resolver: cannot create a libunbound context");
		free(d);
		return NULL;
	}
	/* answers come back through ub_fd() from a thread, not a forked process */
	if ((rc = ub_ctx_async(d->ub, 1)) != 0) {
		dsmtp_err_set(err, "resolver: %s", ub_strerror(rc));
		goto fail;
	}
	for (size_t i = 0; i < sizeof(own_zones) / sizeof(own_zones[0]); i++) {
		char v[64];

		snprintf(v, sizeof(v), "%s transparent", own_zones[i]);
		if (ub_opt(d->ub, "local-zone:", v, err) < 0)
			goto fail;
	}
	/* /etc/hosts, as the system resolver (and c-ares before) had it:
	 * localhost is what that file says, not libunbound's built-in
	 * 127.0.0.1 plus ::1 */
	if (ub_opt(d->ub, "local-zone:", "localhost. static", err) < 0)
		goto fail;
	if ((rc = ub_ctx_hosts(d->ub, "/etc/hosts")) != 0)
		diag_warnx("resolver: /etc/hosts: %s (continuing without it)", ub_strerror(rc));
	/* a resolver on loopback (unbound, systemd-resolved, a test bed) */
	if (ub_opt(d->ub, "do-not-query-localhost:", "no", err) < 0)
		goto fail;
	if (cfg->dns.nresolvers == 0) {
		if ((rc = ub_ctx_resolvconf(d->ub, "/etc/resolv.conf")) != 0) {
			dsmtp_err_set(err, "resolver: /etc/resolv.conf: %s", ub_strerror(rc));
			goto fail;
		}
		if (d->mode == DNSSEC_TRUST_AD &&
		    resolvconf_loopback_only("/etc/resolv.conf", err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->dns.nresolvers; i++) {
		const struct addr_endpoint *e = &cfg->dns.resolvers[i];
		char ip[INET6_ADDRSTRLEN], fwd[INET6_ADDRSTRLEN + 8];

		if (inet_ntop(e->family, e->addr, ip, sizeof(ip)) == NULL) {
			dsmtp_err_set(err, "resolver %zu: bad address", i);
			goto fail;
		}
		snprintf(fwd, sizeof(fwd), "%s@%u", ip, (unsigned)e->port);
		if ((rc = ub_ctx_set_fwd(d->ub, fwd)) != 0) {
			dsmtp_err_set(err, "resolver %s: %s", fwd, ub_strerror(rc));
			goto fail;
		}
	}
	switch (d->mode) {
	case DNSSEC_VALIDATE:
		if ((rc = ub_ctx_add_ta_file(d->ub, cfg->dns.trust_anchor_file)) != 0) {
			dsmtp_err_set(err, "dns.trust_anchor_file %s: %s", cfg->dns.trust_anchor_file,
			    ub_strerror(rc));
			goto fail;
		}
		break;
	case DNSSEC_TRUST_AD:
		/* libunbound (1.17) re-encodes every answer and sets AD only from
		 * its own validator: the resolver's AD bit never reaches us, so
		 * trust-ad would quietly make every answer insecure. Refuse. */
		dsmtp_err_set(err, "dns.dnssec trust-ad: libunbound does not pass on the "
		    "resolver's AD bit; use dnssec: validate with trust_anchor_file (the "
		    "resolver in dns.resolver still does the recursion)");
		goto fail;
	case DNSSEC_OFF:
		/* no validator: every answer is insecure */
		if (ub_opt(d->ub, "module-config:", "iterator", err) < 0)
			goto fail;
		break;
	}
	if ((fd = ub_fd(d->ub)) < 0) {
		dsmtp_err_set(err, "resolver: no file descriptor to wait on");
		goto fail;
	}
	ev_io_init(&d->io, dns_io_cb, fd, EV_READ);
	d->io.data = d;
	ev_io_start(loop, &d->io);
	/* the watcher alone does not keep the loop alive: queries do */
	ev_unref(loop);
	return d;
fail:
	ub_ctx_delete(d->ub);
	free(d);
	return NULL;
}

void
smtpc_dns_free(struct smtpc_dns *d)
{
	if (d == NULL)
		return;
	ev_ref(d->loop);
	ev_io_stop(d->loop, &d->io);
	/* deleting the context drops every query without a callback */
	ub_ctx_delete(d->ub);
	while (d->queries)
		query_free(d->queries);
	free(d);
}

static void
query_free(struct smtpc_dns_query *q)
{
	struct smtpc_dns *d = q->dns;

	ev_timer_stop(d->loop, &q->timer);
	if (q->prev)
		q->prev->next = q->next;
	else
		d->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q);
}

/* the DNSSEC status of a result in the configured mode */
static enum smtpc_dns_sec
result_sec(const struct smtpc_dns *d, const struct ub_result *r)
{
	const unsigned char *pkt = r->answer_packet;

	switch (d->mode) {
	case DNSSEC_VALIDATE:
		if (r->secure)
			return SMTPC_DNS_SECURE;
		return r->bogus ? SMTPC_DNS_BOGUS : SMTPC_DNS_INSECURE;
	case DNSSEC_TRUST_AD:
		/* RFC 4035 3.2.3: AD, set by the (loopback) validating resolver
		 * (never reached today: smtpc_dns_new refuses the mode) */
		if (pkt != NULL && r->answer_len >= 12 && (pkt[3] & 0x20) != 0)
			return SMTPC_DNS_SECURE;
		return SMTPC_DNS_INSECURE;
	case DNSSEC_OFF:
		break;
	}
	return SMTPC_DNS_INSECURE;
}

/* libunbound answered (from ub_process, in the loop) */
static void
ub_done(void *arg, int err, struct ub_result *r)
{
	struct smtpc_dns_query *q = arg;
	struct smtpc_dns_answer a;

	q->running = false;
	memset(&a, 0, sizeof(a));
	if (err != 0) {
		a.rcode = -1;
		a.why = ub_strerror(err);
	} else if (r != NULL) {
		a.rcode = r->rcode;
		a.nxdomain = r->nxdomain != 0;
		a.sec = result_sec(q->dns, r);
		a.canon = r->canonname;
		a.data = (const unsigned char *const *)r->data;
		a.len = r->len;
		for (a.n = 0; r->havedata && r->data[a.n]; a.n++)
			;
		if (a.sec == SMTPC_DNS_BOGUS)
			a.why = r->why_bogus ? r->why_bogus : "DNSSEC validation failed";
		else if (r->rcode == 2)
			a.why = "SERVFAIL";
	}
	if (q->cb)
		q->cb(q->arg, &a);
	if (r)
		ub_resolve_free(r);
	query_free(q);
}

/* no answer in time: the caller hears so; libunbound's late answer is dropped */
static void
query_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_dns_query *q = w->data;
	struct smtpc_dns_answer a;
	smtpc_dns_cb *cb = q->cb;

	(void)loop;
	(void)revents;
	ev_timer_stop(q->dns->loop, &q->timer);
	q->cb = NULL;
	if (cb) {
		memset(&a, 0, sizeof(a));
		a.rcode = -1;
		a.why = "resolver timed out";
		cb(q->arg, &a);
	}
	if (q->running && ub_cancel(q->dns->ub, q->id) == 0)
		q->running = false;
	if (!q->running)
		query_free(q);
}

struct smtpc_dns_query *
smtpc_dns_query(struct smtpc_dns *d, const char *name, int rrtype, smtpc_dns_cb *cb, void *arg)
{
	struct smtpc_dns_query *q = calloc(1, sizeof(*q));
	int rc;

	if (q == NULL)
		return NULL;
	q->dns = d;
	ev_init(&q->timer, query_timeout);
	q->timer.data = q;
	q->cb = cb;
	q->arg = arg;
	q->next = d->queries;
	if (d->queries)
		d->queries->prev = q;
	d->queries = q;
	rc = ub_resolve_async(d->ub, name, rrtype, 1 /* IN */, q, ub_done, &q->id);
	if (rc != 0) {
		diag_warnx("resolver: %s: %s", name, ub_strerror(rc));
		query_free(q);
		return NULL;
	}
	q->running = true;
	/* the timer keeps the loop alive while the query is out (the io
	 * watcher is unref'd) */
	ev_timer_set(&q->timer, DNS_TIMEOUT, 0.);
	ev_timer_start(d->loop, &q->timer);
	return q;
}

void
smtpc_dns_cancel(struct smtpc_dns_query *q)
{
	if (q == NULL)
		return;
	q->cb = NULL;
	if (q->running && ub_cancel(q->dns->ub, q->id) == 0) {
		q->running = false;
		query_free(q);
	}
}
