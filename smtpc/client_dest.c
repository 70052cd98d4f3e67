/* client_dest.c: the delivery context and its destinations: TLS
 * credentials, trust, resolver, MTA-STS and protocol log of the process
 * (smtpc_ctx_init), one destination per next hop and policy, each with
 * its queue of jobs, and the scheduling of client sessions over them:
 * limits per destination and in all, idle connections reused first, the
 * SIGTERM abort. Sessions themselves are client.c's. */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conn.h"
#include "common/diag.h"
#include "logs/plog.h"
#include "smtpc/client_int.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"

/* ---- context ---- */

/* the protocol log is written out once a second */
static void
logflush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	plog_flush(((struct smtpc *)w->data)->plog);
}

/* SIGUSR1: at once; the line on stderr tells a waiting test it is done */
static void
flushsig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	plog_flush(((struct smtpc *)w->data)->plog);
	diag_info("SIGUSR1: protocol log flushed");
}

/* trust, client credentials, resolver and protocol log */
int
smtpc_ctx_init(struct smtpc *ctx, struct ev_loop *loop, const struct dsmtp_config *cfg,
    bool with_cert, struct dsmtp_err *err)
{
	struct dsmtp_err e2 = { "" };
	const char *cap;

	memset(ctx, 0, sizeof(*ctx));
	ctx->loop = loop;
	ctx->cfg = cfg;
	ctx->max_parallel = cfg->send.max_parallel ? cfg->send.max_parallel : 100;
	ctx->dest_max = ctx->max_parallel < 20 ? ctx->max_parallel : 20;
	if ((cap = getenv("DSMTPC_TIMEOUT")) != NULL && atof(cap) > 0)
		ctx->timeout_cap = atof(cap);
	if ((ctx->trust = tls_trust_load(cfg->trust.ca_file, cfg->trust.crl_file, err)) == NULL)
		return -1;
	ctx->creds = tls_creds_client(cfg, ctx->trust, with_cert && cfg->send.client_cert, &e2);
	if (ctx->creds == NULL && with_cert && cfg->send.client_cert) {
		/* no certificate of our own yet: TLS still works, domain-secure
		 * (mutual TLS) will fail and say so */
		diag_warnx("no client certificate (%s): continuing without one", e2.msg);
		ctx->creds = tls_creds_client(cfg, ctx->trust, false, &e2);
	}
	if (ctx->creds == NULL) {
		dsmtp_err_set(err, "TLS client credentials: %s", e2.msg);
		tls_trust_free(ctx->trust);
		return -1;
	}
	if ((ctx->resolver = smtpc_resolver_new(loop, cfg, err)) == NULL) {
		tls_creds_free(ctx->creds);
		tls_trust_free(ctx->trust);
		return -1;
	}
	if (cfg->mta_sts.enabled && (ctx->sts = smtpc_sts_new(loop, cfg,
	    smtpc_resolver_dns(ctx->resolver), err)) == NULL) {
		smtpc_resolver_free(ctx->resolver);
		tls_creds_free(ctx->creds);
		tls_trust_free(ctx->trust);
		return -1;
	}
	if ((ctx->plog = plog_open(cfg, PLOG_SEND, &e2)) == NULL)
		diag_warnx("protocol log: %s (continuing without it)", e2.msg);
	ev_timer_init(&ctx->logflush, logflush_cb, 1.0, 1.0);
	ctx->logflush.data = ctx;
	ev_timer_start(loop, &ctx->logflush);
	ev_unref(loop);	/* the flush timer alone does not keep the loop alive */
	ev_signal_init(&ctx->flushsig, flushsig_cb, SIGUSR1);
	ctx->flushsig.data = ctx;
	ev_signal_start(loop, &ctx->flushsig);
	ev_unref(loop);	/* nor does the flush signal */
	return 0;
}

/* everything smtpc_ctx_init made, and every session left */
void
smtpc_ctx_free(struct smtpc *ctx)
{
	while (ctx->sessions)
		smtpc_sess_free(ctx->sessions, "shutdown");
	while (ctx->dests) {
		struct smtpc_dest *d = ctx->dests;

		ctx->dests = d->next;
		free(d);
	}
	ev_ref(ctx->loop);
	ev_timer_stop(ctx->loop, &ctx->logflush);
	ev_ref(ctx->loop);
	ev_signal_stop(ctx->loop, &ctx->flushsig);
	smtpc_sts_free(ctx->sts);
	smtpc_resolver_free(ctx->resolver);
	plog_close(ctx->plog);
	tls_creds_free(ctx->creds);
	tls_trust_free(ctx->trust);
}

/* the destination for a hop and policy, made on first use */
struct smtpc_dest *
smtpc_dest_get(struct smtpc *ctx, const struct addr_hop *hop, enum dsmtp_level level,
    const char *domain, const struct cfg_pinref *pins, size_t npins)
{
	return smtpc_dest_get_mode(ctx, hop, level, domain, pins, npins, 0);
}

struct smtpc_dest *
smtpc_dest_get_mode(struct smtpc *ctx, const struct addr_hop *hop, enum dsmtp_level level,
    const char *domain, const struct cfg_pinref *pins, size_t npins, unsigned mode)
{
	char key[sizeof(((struct smtpc_dest *)0)->key)];
	struct smtpc_dest *d;
	size_t used;
	int n;

	/* one destination per (hop, level, pins) and, for domain-secure, per
	 * recipient domain: the verdict depends on it */
	level = smtpc_rt_dest_level(level, mode);
	n = snprintf(key, sizeof(key), "%d|%s|%u|%s|%s|%u|", (int)hop->kind, hop->host,
	    (unsigned)hop->port, config_level_name(level),
	    level == LEVEL_DOMAIN_SECURE && domain ? domain : "", mode);
	used = n < 0 ? 0 : (size_t)n;
	for (size_t i = 0; i < npins && used < sizeof(key); i++) {
		n = snprintf(key + used, sizeof(key) - used, "%s,", pins[i].name ? pins[i].name : "");
		if (n < 0)
			break;
		used += (size_t)n;
	}
	for (d = ctx->dests; d; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->ctx = ctx;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->hop = *hop;
	d->level = level;
	snprintf(d->domain, sizeof(d->domain), "%s", domain ? domain : "");
	d->pins = pins;
	d->npins = npins;
	d->mode = mode;
	d->next = ctx->dests;
	ctx->dests = d;
	return d;
}

/* the oldest queued job of a destination, or NULL */
struct smtpc_job *
smtpc_dest_pop(struct smtpc_dest *d)
{
	struct smtpc_job *j = d->head;

	if (j == NULL)
		return NULL;
	d->head = j->next;
	if (d->head == NULL)
		d->tail = NULL;
	d->nqueued--;
	j->next = NULL;
	return j;
}

/* a job not started goes back to the head of the queue, for another
 * session */
void
smtpc_dest_push_front(struct smtpc_dest *d, struct smtpc_job *j)
{
	j->next = d->head;
	d->head = j;
	if (d->tail == NULL)
		d->tail = j;
	d->nqueued++;
}

void
smtpc_job_fail(struct smtpc_job *j, enum smtpc_status st, const char *status, const char *text,
    const char *mta)
{
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct smtpc_result *r = &j->res[i];

		if (r->done)
			continue;
		r->done = true;
		r->st = st;
		snprintf(r->status, sizeof(r->status), "%s", status);
		snprintf(r->text, sizeof(r->text), "%s", text);
		snprintf(r->mta, sizeof(r->mta), "%s", mta ? mta : "");
	}
}

void
smtpc_dest_submit(struct smtpc_dest *d, struct smtpc_job *j)
{
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	d->nqueued++;
	smtpc_ctx_kick(d->ctx);
}

void
smtpc_ctx_quit_idle(struct smtpc *ctx)
{
	for (struct smtpc_session *s = ctx->sessions; s; s = s->next)
		if (s->state == SC_IDLE)
			smtpc_sess_quit(s);	/* frees nothing yet */
}

/* an idle session of d (any destination when d is NULL), or NULL */
static struct smtpc_session *
idle_session(struct smtpc *ctx, const struct smtpc_dest *d)
{
	for (struct smtpc_session *s = ctx->sessions; s; s = s->next)
		if (s->state == SC_IDLE && (d == NULL || s->dest == d))
			return s;
	return NULL;
}

/* start sessions wherever jobs wait and the limits allow: idle
 * connections to the destination first, then new ones; when every slot is
 * taken, one idle connection elsewhere says QUIT to make room (its end
 * kicks again) */
void
smtpc_ctx_kick(struct smtpc *ctx)
{
	struct smtpc_session *s;

	if (ctx->stopping)
		return;
	for (struct smtpc_dest *d = ctx->dests; d; d = d->next) {
		while (d->nqueued > 0 && (s = idle_session(ctx, d)) != NULL)
			smtpc_sess_next_tx(s);
		while (d->nqueued > 0 && d->nsessions < ctx->dest_max &&
		    ctx->nsessions < ctx->max_parallel)
			smtpc_sess_start(d);
		if (d->nqueued > 0 && d->nsessions < ctx->dest_max &&
		    (s = idle_session(ctx, NULL)) != NULL)
			smtpc_sess_quit(s);
	}
}

/* SIGTERM: end every session; queued jobs go back unattempted. With
 * grace, a session whose final dot is sent keeps waiting (T_STOP at most)
 * for the reply that says whether the message was taken: abandoning it
 * would deliver that message twice */
void
smtpc_ctx_abort(struct smtpc *ctx, bool grace)
{
	struct smtpc_session *s, *next;

	ctx->stopping = true;
	/* results left unset: the owner counts no attempt for them */
	for (s = ctx->sessions; s; s = next) {
		next = s->next;
		if (grace && (s->state == SC_BODY || s->state == SC_IGNORE_FINAL) &&
		    s->conn != NULL)
			conn_set_timeout(s->conn, smtpc_sess_tmo(s, T_STOP));
		else
			smtpc_sess_free(s, "shutdown");
	}
	for (struct smtpc_dest *d = ctx->dests; d; d = d->next) {
		struct smtpc_job *j;

		while ((j = smtpc_dest_pop(d)) != NULL)
			j->done(j);
	}
}
