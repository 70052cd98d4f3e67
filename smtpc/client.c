/* client.c: the SMTP client session (RFC 5321, 3207 STARTTLS, 2920
 * PIPELINING, 1870 SIZE) on libev through common/conn.c, and the
 * destinations that feed it jobs. A session resolves its next hop, tries
 * its addresses in order, greets, negotiates TLS as the destination's
 * level demands (DESIGN.md section 6), has policy/ judge the handshake,
 * then carries one job after another over the same connection (RSET in
 * between) and ends with QUIT. Owns the protocol log records and the
 * stderr TLS summary of the send side. Knows nothing of the spool: a job's
 * owner (queue.c, send.c) gets the per-recipient results. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/conn.h"
#include "common/diag.h"
#include "logs/plog.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

/* RFC 5321 4.5.3.2 timeouts (seconds) */
#define T_CONNECT	30.0
#define T_BANNER	300.0
#define T_COMMAND	300.0
#define T_DATA_INIT	120.0
#define T_DATA_END	600.0
#define T_TLS		60.0
#define T_QUIT		10.0
#define T_STOP		10.0	/* SIGTERM: the wait for a final dot's reply */

#define SMTPC_IN_MAX	(64 * 1024)

enum smtpc_state {
	SC_RESOLVE,	/* waiting for the resolver */
	SC_CONNECT,	/* non-blocking connect in progress */
	SC_BANNER,	/* 220 wanted */
	SC_EHLO,
	SC_HELO,
	SC_STARTTLS,	/* 220 to STARTTLS wanted */
	SC_TLS,		/* handshake */
	SC_RSET,	/* between two transactions */
	SC_XFER,	/* MAIL, RCPT..., DATA replies */
	SC_BODY,	/* the reply after the final dot */
	SC_QUIT,
	SC_IDLE,	/* connected, nothing to carry: kept for the next job */
};

static const char *const state_names[] = {
	"resolve", "connect", "banner", "ehlo", "helo", "starttls", "tls", "rset", "xfer",
	"body", "quit", "idle"
};

#define F_ESMTP		0x001	/* EHLO worked */
#define F_PIPELINING	0x002
#define F_STARTTLS	0x004	/* offered */
#define F_TLS		0x008	/* TLS is up */
#define F_NOTLS		0x010	/* opportunistic plaintext retry: no STARTTLS */
#define F_8BITMIME	0x020
#define F_SIZE		0x040
#define F_IN_TX		0x080	/* MAIL sent for the current job */
#define F_REQUIRETLS	0x100	/* RFC 8689 offered */

struct smtpc_session {
	uint64_t		 id;
	enum smtpc_state	 state;
	struct smtpc		*ctx;
	struct smtpc_dest	*dest;
	struct smtpc_resolve_req *rq;
	struct smtpc_sts_req	*sq;		/* MTA-STS lookup in progress (sts.c) */
	const struct policy_sts	*sts;		/* the policy applied, or NULL */
	const char		*sts_fail;	/* a lookup failure to record once, or NULL */
	struct smtpc_target	*targets;
	size_t			 ntargets, ti;
	int			 fd;		/* while connecting */
	ev_io			 cio;
	ev_timer		 ctimer;
	struct conn		*conn;
	struct smtpc_reply_parser rp;
	unsigned		 flags;
	uint64_t		 size_max;
	struct smtpc_job	*job;		/* the transaction in progress */
	size_t			 acked;		/* replies seen: 0 MAIL, 1..n RCPT, n+1 DATA */
	bool			 mail_ok;
	size_t			 nrcpt_ok;
	bool			*rcpt_ok;	/* by recipient index */
	size_t			*live;		/* the recipients sent, in order */
	size_t			 nlive;
	bool			 ignore_final;	/* 354 although no RCPT was accepted */
	unsigned		 ntx;		/* transactions on this connection */
	bool			 plain_retry_done;
	bool			 quit_then_next;	/* after QUIT: the next address */
	bool			 broken;	/* output could not be queued (out of memory) */
	struct plog_session	 log;
	bool			 logging;
	bool			 reported;	/* this connection's TLS result is recorded */
	char			 helo[256];	/* the name in the server's EHLO reply */
	struct tls_session_facts tls;
	bool			 has_facts;
	struct tls_creds	*creds;		/* held from STARTTLS on: tls.local points into them */
	struct tls_dane_facts	 dane;		/* the chain against the host's TLSA records */
	bool			 has_dane;
	const char		*auth;		/* what TLS proved (requiretls.h), or NULL */
	char			 peer[320];	/* "host[addr]:port" */
	char			 addr[80];
	/* the current address's failure (for its log line) ... */
	enum smtpc_status	 fail_st;
	char			 fail_status[16];
	char			 fail_text[512];
	/* ... and the one the jobs get when no address works: the last from
	 * a server we reached (a TLS, policy or SMTP refusal), else the last
	 * connect failure. "localhost" is 127.0.0.1 and ::1: the refusal of
	 * the first must not become "::1: Connection refused". */
	enum smtpc_status	 best_st;
	char			 best_status[16];
	char			 best_text[512];
	bool			 best_reached;
	struct smtpc_session	*next, *prev;
};

static void	session_free(struct smtpc_session *s, const char *reason);
static double	tmo(struct smtpc_session *s, double t);
static void	session_connect_next(struct smtpc_session *s);
static int	session_event(struct conn *c, enum conn_event ev, void *arg);
static void	session_next_tx(struct smtpc_session *s);
static void	session_quit(struct smtpc_session *s);
static smtpc_resolve_cb resolved;
static smtpc_sts_cb sts_done;
static int	session_abandon(struct smtpc_session *s, const char *reason);
static void	tls_report(struct smtpc_session *s, const struct smtpc_target *t, const char *type,
	    const char *reason);
static int	on_banner(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_ehlo(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_helo(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_starttls(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_rset(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_xfer(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_body(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_quit(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_idle(struct smtpc_session *s, const struct smtpc_reply *r);

/* what each state does with a complete reply; -1: the session is gone,
 * 1: stop reading input now (STARTTLS switch) */
static int (*const reply_table[])(struct smtpc_session *, const struct smtpc_reply *) = {
	[SC_RESOLVE] = NULL,
	[SC_CONNECT] = NULL,
	[SC_BANNER] = on_banner,
	[SC_EHLO] = on_ehlo,
	[SC_HELO] = on_helo,
	[SC_STARTTLS] = on_starttls,
	[SC_TLS] = NULL,
	[SC_RSET] = on_rset,
	[SC_XFER] = on_xfer,
	[SC_BODY] = on_body,
	[SC_QUIT] = on_quit,
	[SC_IDLE] = on_idle,
};

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
		session_free(ctx->sessions, "shutdown");
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
static struct smtpc_job *
dest_pop(struct smtpc_dest *d)
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

static void session_start(struct smtpc_dest *d);

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
			session_quit(s);	/* frees nothing yet */
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
			session_next_tx(s);
		while (d->nqueued > 0 && d->nsessions < ctx->dest_max &&
		    ctx->nsessions < ctx->max_parallel)
			session_start(d);
		if (d->nqueued > 0 && d->nsessions < ctx->dest_max &&
		    (s = idle_session(ctx, NULL)) != NULL)
			session_quit(s);
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
		if (grace && s->state == SC_BODY && s->conn != NULL)
			conn_set_timeout(s->conn, tmo(s, T_STOP));
		else
			session_free(s, "shutdown");
	}
	for (struct smtpc_dest *d = ctx->dests; d; d = d->next) {
		struct smtpc_job *j;

		while ((j = dest_pop(d)) != NULL)
			j->done(j);
	}
}

/* ---- session helpers ---- */

/* a timeout, capped by DSMTPC_TIMEOUT for tests */
static double
tmo(struct smtpc_session *s, double t)
{
	if (s->ctx->timeout_cap > 0 && t > s->ctx->timeout_cap)
		return s->ctx->timeout_cap;
	return t;
}

/* enter a state and arm its timeout */
static void
set_state(struct smtpc_session *s, enum smtpc_state st, double timeout)
{
	s->state = st;
	if (s->conn)
		conn_set_timeout(s->conn, tmo(s, timeout));
}

/* one command line, logged, CRLF added */
static void
send_cmd(struct smtpc_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
send_cmd(struct smtpc_session *s, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = conn_vformat_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (s->logging)
		plog_sent(s->ctx->plog, &s->log, line, (size_t)n);
	/* a command lost to a full memory would desynchronise every reply
	 * after it: the session is dropped by the caller (s->broken) */
	if (conn_write_line(s->conn, line, (size_t)n) < 0)
		s->broken = true;
}

/* queue output bytes; a failure marks the session broken */
static void
put(struct smtpc_session *s, const char *p, size_t n)
{
	if (n > 0 && !s->broken && conn_write(s->conn, p, n) < 0)
		s->broken = true;
}

static void
remember_failure(struct smtpc_session *s, enum smtpc_status st, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
remember_connect_failure(struct smtpc_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* the reason the current address did not work; reached: we spoke with
 * its server (or judged it by policy), not only failed to connect */
static void
remember_vfailure(struct smtpc_session *s, bool reached, enum smtpc_status st,
    const char *status, const char *fmt, va_list ap)
{
	s->fail_st = st;
	snprintf(s->fail_status, sizeof(s->fail_status), "%s", status);
	vsnprintf(s->fail_text, sizeof(s->fail_text), fmt, ap);
	if (reached || !s->best_reached) {
		s->best_st = st;
		memcpy(s->best_status, s->fail_status, sizeof(s->best_status));
		memcpy(s->best_text, s->fail_text, sizeof(s->best_text));
		s->best_reached = s->best_reached || reached;
	}
}

static void
remember_failure(struct smtpc_session *s, enum smtpc_status st, const char *status,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	remember_vfailure(s, true, st, status, fmt, ap);
	va_end(ap);
}

/* the address could not be connected to (never reached) */
static void
remember_connect_failure(struct smtpc_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	remember_vfailure(s, false, SMTPC_TEMP, "4.4.1", fmt, ap);
	va_end(ap);
}

/* hand a job back to its owner with whatever results it has */
static void
job_finish(struct smtpc_session *s)
{
	struct smtpc_job *j = s->job;

	if (j == NULL)
		return;
	s->job = NULL;
	s->flags &= ~F_IN_TX;
	free(s->rcpt_ok);
	s->rcpt_ok = NULL;
	free(s->live);
	s->live = NULL;
	s->nlive = 0;
	j->session_id = s->id;
	j->done(j);
}

/* no address of the destination worked: the current job and every job
 * waiting for this destination get the last reason (one dead host must
 * not be connected to once per queued message) */
static void
fail_destination(struct smtpc_session *s)
{
	struct smtpc_job *j;
	const char *text = s->best_text[0] ? s->best_text : "no usable address";
	const char *status = s->best_status[0] ? s->best_status : "4.4.1";
	enum smtpc_status st = s->best_st == SMTPC_OK ? SMTPC_TEMP : s->best_st;

	if (s->job) {
		smtpc_job_fail(s->job, st, status, text, s->peer);
		job_finish(s);
	}
	while ((j = dest_pop(s->dest)) != NULL) {
		smtpc_job_fail(j, st, status, text, s->peer);
		j->session_id = s->id;
		j->done(j);
	}
}

/* a new session for the destination, carrying its first queued job */
static void
session_start(struct smtpc_dest *d)
{
	struct smtpc *ctx = d->ctx;
	struct smtpc_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		struct smtpc_job *j = dest_pop(d);

		if (j) {
			smtpc_job_fail(j, SMTPC_TEMP, "4.3.0", "out of memory", NULL);
			j->done(j);
		}
		return;
	}
	s->ctx = ctx;
	s->dest = d;
	s->fd = -1;
	s->id = plog_new_session_id();
	s->job = dest_pop(d);
	smtpc_reply_init(&s->rp);
	d->nsessions++;
	ctx->nsessions++;
	s->next = ctx->sessions;
	if (ctx->sessions)
		ctx->sessions->prev = s;
	ctx->sessions = s;
	ev_init(&s->cio, NULL);
	ev_init(&s->ctimer, NULL);
	s->state = SC_RESOLVE;
	snprintf(s->peer, sizeof(s->peer), "%s", d->hop.host);
	/* RFC 8461: the policy is known before any MX host is tried */
	if (smtpc_sts_wanted(ctx, d) && (s->sq = smtpc_sts_lookup(ctx->sts, d->hop.host,
	    sts_done, s)) != NULL)
		return;
	sts_done(s, NULL);
}

/* the MTA-STS policy is known (r NULL: none looked up): resolve */
static void
sts_done(void *arg, const struct smtpc_sts_result *r)
{
	struct smtpc_session *s = arg;
	struct smtpc *ctx = s->ctx;
	struct smtpc_dest *d = s->dest;

	s->sq = NULL;
	if (r) {
		s->sts = d->sts = r->policy;
		s->sts_fail = r->fail_type;
	}
	/* a probe judges every level, the dane ones too: TLSA always */
	s->rq = smtpc_resolve(ctx->resolver, &d->hop, policy_level_dane(d->level) ||
	    ctx->probe != NULL, resolved, s);
	if (s->rq == NULL) {
		remember_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		fail_destination(s);
		session_free(s, "out of memory");
	}
}

/* ---- freeing ---- */

/* the one way a session ends: watchers, connection, log, job */
static void
session_free(struct smtpc_session *s, const char *reason)
{
	struct smtpc *ctx = s->ctx;

	smtpc_resolve_cancel(s->rq);
	s->rq = NULL;
	smtpc_sts_cancel(s->sq);
	s->sq = NULL;
	ev_io_stop(ctx->loop, &s->cio);
	ev_timer_stop(ctx->loop, &s->ctimer);
	if (s->fd >= 0)
		close(s->fd);
	if (s->conn)
		conn_free(s->conn);
	if (s->logging) {
		smtpc_observe_end(s->has_facts ? &s->tls : NULL);
		plog_disconnect(ctx->plog, &s->log, reason);
		s->logging = false;
	}
	if (s->job)
		job_finish(s);	/* unset results: not attempted */
	if (s->has_facts)
		tls_cert_facts_free(&s->tls.peer.leaf);
	tls_creds_free(s->creds);
	smtpc_reply_free(&s->rp);
	if (s->targets)
		smtpc_targets_release(s->targets, s->ntargets);
	free(s->targets);
	free(s->rcpt_ok);
	free(s->live);
	if (s->prev)
		s->prev->next = s->next;
	else
		ctx->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->dest->nsessions--;
	ctx->nsessions--;
	free(s);
	if (!ctx->stopping) {
		smtpc_ctx_kick(ctx);
		if (ctx->idle)
			ctx->idle(ctx);
	}
}

/* close this connection (no more use for it), then the next address */
static void
session_drop_conn(struct smtpc_session *s, const char *reason)
{
	if (s->conn) {
		conn_free(s->conn);
		s->conn = NULL;
	}
	if (s->logging) {
		smtpc_observe_end(s->has_facts ? &s->tls : NULL);
		plog_disconnect(s->ctx->plog, &s->log, reason);
		s->logging = false;
	}
	if (s->has_facts) {
		tls_cert_facts_free(&s->tls.peer.leaf);
		s->has_facts = false;
	}
	tls_creds_free(s->creds);
	s->creds = NULL;
	s->has_dane = false;
	s->auth = NULL;
	smtpc_reply_reset(&s->rp);
	s->flags = 0;
	s->ntx = 0;
}

/* this connection is done with: on to the next address */
static void
session_next_address(struct smtpc_session *s, const char *reason)
{
	session_drop_conn(s, reason);
	s->ti++;
	s->plain_retry_done = false;
	session_connect_next(s);
}

/* the job not started here goes back to the head of its destination's
 * queue, for another session */
static void
session_requeue_job(struct smtpc_session *s)
{
	if (s->job == NULL)
		return;
	s->job->next = s->dest->head;
	s->dest->head = s->job;
	if (s->dest->tail == NULL)
		s->dest->tail = s->job;
	s->dest->nqueued++;
	s->job = NULL;
}

/* this address failed before any mail moved: try the next one */
static void
session_try_next(struct smtpc_session *s, const char *reason)
{
	diag_info("%016llx %s: %s", (unsigned long long)s->id, s->peer, s->fail_text[0] ?
	    s->fail_text : reason);
	session_next_address(s, reason);
}

/* this address will not do: QUIT politely, then the next one; 0, the
 * connection stays up until the QUIT reply */
static int
session_abandon(struct smtpc_session *s, const char *reason)
{
	diag_info("%016llx %s: %s", (unsigned long long)s->id, s->peer, s->fail_text[0] ?
	    s->fail_text : reason);
	s->quit_then_next = true;
	send_cmd(s, "QUIT");
	set_state(s, SC_QUIT, T_QUIT);
	return 0;
}

/* ---- resolve and connect ---- */

/* the next hop's addresses are known: connect to the first */
static void
resolved(void *arg, enum smtpc_status st, const char *why, const struct smtpc_target *t,
    size_t n)
{
	struct smtpc_session *s = arg;

	s->rq = NULL;
	if (st != SMTPC_OK || n == 0) {
		/* RFC 3463 4.4.3: directory server failure; 5.1.2: bad
		 * destination system address */
		remember_failure(s, st == SMTPC_PERM ? SMTPC_PERM : SMTPC_TEMP,
		    st == SMTPC_PERM ? "5.1.2" : "4.4.3", "%s", why);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, s->dest->hop.host, why);
		fail_destination(s);
		session_free(s, "resolution failed");
		return;
	}
	if ((s->targets = calloc(n, sizeof(*t))) == NULL) {
		remember_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		fail_destination(s);
		session_free(s, "out of memory");
		return;
	}
	memcpy(s->targets, t, n * sizeof(*t));
	smtpc_targets_hold(s->targets, n);
	s->ntargets = n;
	s->ti = 0;
	session_connect_next(s);
}

/* the non-blocking connect finished: hand the socket to conn.c */
static void
connect_done(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpc_session *s = w->data;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)loop;
	(void)revents;
	ev_io_stop(s->ctx->loop, &s->cio);
	ev_timer_stop(s->ctx->loop, &s->ctimer);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		close(s->fd);
		s->fd = -1;
		remember_connect_failure(s, "connect to %s: %s", s->peer, strerror(err));
		session_try_next(s, "connect failed");
		return;
	}
	if ((s->conn = conn_new(s->ctx->loop, s->fd, session_event, s)) == NULL) {
		close(s->fd);
		s->fd = -1;
		remember_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		session_try_next(s, "out of memory");
		return;
	}
	s->fd = -1;
	s->conn->in_max = SMTPC_IN_MAX;
	s->log.id = s->id;
	snprintf(s->log.connector, sizeof(s->log.connector), "dsmtpc %.55s", s->dest->hop.host);
	conn_format_addr(&s->conn->local, s->log.local, sizeof(s->log.local));
	snprintf(s->log.remote, sizeof(s->log.remote), "%.63s", s->addr);
	smtpc_observe_connect(s->ctx->cfg, &s->log, &s->targets[s->ti], s->dest, s->job);
	plog_connect(s->ctx->plog, &s->log);
	s->logging = true;
	s->reported = false;
	s->helo[0] = '\0';
	plog_info(s->ctx->plog, &s->log, "Next hop", "host=%s; level=%s; domain=%s",
	    s->targets[s->ti].host, config_level_name(s->dest->level),
	    s->dest->domain[0] ? s->dest->domain : "-");
	if (s->sts || s->sts_fail) {
		const char *fail = smtpc_sts_on_connect(s->ctx, &s->log, s->dest,
		    &s->targets[s->ti], s->sts, s->sts_fail);

		if (fail != NULL)
			tls_report(s, &s->targets[s->ti], fail, s->sts_fail ?
			    "MTA-STS policy lookup failed" : "MX host not named by the MTA-STS policy");
	}
	s->sts_fail = NULL;	/* once per delivery attempt */
	set_state(s, SC_BANNER, T_BANNER);
}

static void
connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_session *s = w->data;

	(void)loop;
	(void)revents;
	ev_io_stop(s->ctx->loop, &s->cio);
	close(s->fd);
	s->fd = -1;
	remember_connect_failure(s, "connect to %s: timed out", s->peer);
	session_try_next(s, "connect timeout");
}

/* the port a target is reached on (the TLSA owner's _PORT label) */
static unsigned
target_port(const struct smtpc_target *t)
{
	return ntohs(t->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&t->ss)->sin6_port :
	    ((const struct sockaddr_in *)&t->ss)->sin_port);
}

/* RFC 8460: one attempt's TLS outcome, success or failure, into the
 * protocol log (smtpc/tlsrpt.c); not for level none, nor probes, and once
 * per connection */
static void
tls_report(struct smtpc_session *s, const struct smtpc_target *t, const char *type,
    const char *reason)
{
	if (!s->logging || s->reported || s->dest->level == LEVEL_NONE || s->ctx->probe != NULL)
		return;
	s->reported = true;
	tlsrpt_record(s->ctx->plog, &s->log, s->dest, t, type, s->helo, reason);
}

/* a DANE MX host given up before connecting: a protocol-log session of
 * '*' records and a '-' without a '+', so the failure is on record */
static void
dane_log_skip(struct smtpc_session *s, const struct smtpc_target *t, const char *reason)
{
	char a[80];

	s->log.id = s->id;
	snprintf(s->log.connector, sizeof(s->log.connector), "dsmtpc %.55s", s->dest->hop.host);
	snprintf(s->log.local, sizeof(s->log.local), "-");
	conn_format_addr(&t->ss, a, sizeof(a));
	snprintf(s->log.remote, sizeof(s->log.remote), "%.63s", a);
	plog_begin(&s->log);
	s->logging = true;
	s->reported = false;
	plog_info(s->ctx->plog, &s->log, "Next hop", "host=%s; level=%s; domain=%s", t->host,
	    config_level_name(s->dest->level), s->dest->domain[0] ? s->dest->domain : "-");
	plog_info(s->ctx->plog, &s->log, "DANE", "tlsa=_%u._tcp.%s; %s", target_port(t),
	    t->tlsa_base[0] ? t->tlsa_base : t->host, t->dane == POLICY_DANE_FAILED ?
	    t->dane_why : policy_dane_state_name(t->dane));
	plog_policy(s->ctx->plog, &s->log, config_level_name(s->dest->level),
	    s->dest->domain[0] ? s->dest->domain : "-", false, reason);
	tls_report(s, t, policy_dane_result_type(reason), reason);
	plog_disconnect(s->ctx->plog, &s->log, "DANE: MX host not used, not connected");
	s->logging = false;
}

/* RFC 7672 2.2: a host whose TLSA lookup failed or was bogus is not used,
 * nor, at dane-only, one without secure TLSA records; true = skip it */
static bool
dane_skip(struct smtpc_session *s, const struct smtpc_target *t)
{
	/* a probe sends no mail: it connects anyway and shows the verdict */
	if (!policy_level_dane(s->dest->level) || s->ctx->probe != NULL)
		return false;
	if (t->dane == POLICY_DANE_FAILED) {
		remember_failure(s, SMTPC_TEMP, "4.7.5", "DANE: %s: %s", t->host, t->dane_why);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, s->fail_text);
		/* the words policy_judge_dane() gives this state */
		dane_log_skip(s, t, "dnssec-invalid: TLSA lookup failed or bogus: this MX host "
		    "is not used");
		return true;
	}
	if (t->dane == POLICY_DANE_INSECURE && s->dest->level == LEVEL_DANE_ONLY) {
		remember_failure(s, SMTPC_TEMP, "4.7.5", "DANE: %s has no secure TLSA records "
		    "(level dane-only)", t->host);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, s->fail_text);
		dane_log_skip(s, t, "dane-insecure: no secure TLSA records (level dane-only)");
		return true;
	}
	return false;
}

/* RFC 8461 4.1: mode enforce uses only the MX hosts the policy names */
static bool
sts_skip(struct smtpc_session *s, const struct smtpc_target *t)
{
	char why[400];

	if (s->sts == NULL || !smtpc_sts_skip(s->ctx, s->id, s->dest, t, s->sts, why, sizeof(why)))
		return false;
	remember_failure(s, SMTPC_TEMP, "4.7.5", "%s", why);
	diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, why);
	return true;
}

/* connect to the current address, or give up when none is left */
static void
session_connect_next(struct smtpc_session *s)
{
	const struct smtpc_target *t;
	char a[80];
	int fd;

	if (s->ctx->stopping) {
		session_free(s, "shutdown");
		return;
	}
	if (s->ti >= s->ntargets) {
		fail_destination(s);
		session_free(s, "no more addresses");
		return;
	}
	t = &s->targets[s->ti];
	if (dane_skip(s, t) || sts_skip(s, t)) {
		s->ti++;
		session_connect_next(s);
		return;
	}
	conn_format_addr(&t->ss, a, sizeof(a));
	snprintf(s->addr, sizeof(s->addr), "%s", a);
	/* Postfix's namaddr: host[addr]:port in every line about this peer */
	if (t->ss.ss_family == AF_INET6) {
		const char *close_br = strrchr(a, ']');

		snprintf(s->peer, sizeof(s->peer), "%s[%.*s]%s", t->host,
		    close_br ? (int)(close_br - a - 1) : 0, a + 1, close_br ? close_br + 1 : "");
	} else {
		const char *colon = strrchr(a, ':');

		snprintf(s->peer, sizeof(s->peer), "%s[%.*s]%s", t->host,
		    colon ? (int)(colon - a) : (int)strlen(a), a, colon ? colon : "");
	}
	fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		remember_connect_failure(s, "socket: %s", strerror(errno));
		s->ti++;
		session_connect_next(s);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&t->ss, t->sslen) < 0 && errno != EINPROGRESS) {
		remember_connect_failure(s, "connect to %s: %s", s->peer, strerror(errno));
		close(fd);
		s->ti++;
		session_connect_next(s);
		return;
	}
	s->fd = fd;
	s->state = SC_CONNECT;
	ev_io_init(&s->cio, connect_done, fd, EV_WRITE);
	s->cio.data = s;
	ev_io_start(s->ctx->loop, &s->cio);
	ev_timer_init(&s->ctimer, connect_timeout, tmo(s, T_CONNECT), 0.);
	s->ctimer.data = s;
	ev_timer_start(s->ctx->loop, &s->ctimer);
}

/* ---- TLS ---- */

/* what the policy judges: level, recipient domain, host name, pins */
static void
dest_of(struct smtpc_session *s, struct policy_dest *pd)
{
	const struct smtpc_target *t = &s->targets[s->ti];

	memset(pd, 0, sizeof(*pd));
	pd->level = s->dest->level;
	pd->domain = s->dest->domain[0] ? s->dest->domain : NULL;
	pd->hostname = t->literal ? NULL : t->host;
	pd->pins = s->dest->pins;
	pd->npins = s->dest->npins;
	pd->sts = s->sts;
	if (policy_level_dane(pd->level)) {
		pd->dane = t->dane;
		pd->dane_base = t->tlsa_base[0] ? t->tlsa_base : NULL;
		pd->dane_facts = s->has_dane ? &s->dane : NULL;
	}
}

/* levels dane, dane-only with usable TLSA records: match the chain, and
 * record the records and the match in the protocol log */
static void
dane_match(struct smtpc_session *s)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	char rr[120];

	if ((!policy_level_dane(s->dest->level) && s->ctx->probe == NULL) ||
	    t->dane != POLICY_DANE_USABLE || t->tlsa == NULL)
		return;
	(void)tls_conn_dane(s->conn, t->tlsa->rr, t->tlsa->n, &s->dane);
	s->has_dane = true;
	if (!s->logging)
		return;
	for (size_t i = 0; i < s->dane.n; i++) {
		tls_dane_rr_format(&t->tlsa->rr[i], rr, sizeof(rr));
		plog_info(s->ctx->plog, &s->log, "DANE", "tlsa=_%u._tcp.%s; record=%s; usage=%s; "
		    "%s", target_port(t), t->tlsa_base, rr,
		    tls_dane_usage_name(t->tlsa->rr[i].usage), !s->dane.usable[i] ? "unusable" :
		    s->dane.matched[i] ? (s->dane.depth[i] == 0 ? "matched the certificate" :
		    "matched the chain") : "no match");
	}
}

/* dsmtpc send: the session's TLS facts and verdict, for people */
static void
print_facts(struct smtpc_session *s, const struct policy_verdict *v)
{
	const struct tls_session_facts *f = &s->tls;

	printf("TLS: %s\n", f->version);
	printf("cipher: %s (%u bits), key exchange %s%s\n", f->cipher, f->cipher_bits, f->kx,
	    f->resumed ? ", resumed" : "");
	if (f->peer.present) {
		printf("peer certificate: %s\n", f->peer.leaf.subject);
		printf("issuer: %s\n", f->peer.leaf.issuer);
		printf("SANs:");
		for (size_t i = 0; i < f->peer.leaf.nsan; i++)
			printf(" %s", f->peer.leaf.san[i]);
		printf("%s\n", f->peer.leaf.nsan ? "" : " (none)");
		printf("SHA-256: %s\n", f->peer.leaf.sha256);
		printf("SPKI pin: %s\n", f->peer.leaf.spki);
		printf("verification: %s\n", f->peer.chain_reason[0] ? f->peer.chain_reason :
		    tls_chain_status_name(f->peer.chain));
	} else
		printf("peer certificate: none\n");
	if (f->local)
		printf("our certificate: %s\n", f->local->subject);
	if (s->has_dane)
		printf("DANE: %zu TLSA record(s), %zu usable, %s\n", s->dane.n, s->dane.nusable,
		    s->dane.match >= 0 ? "one matched" : "none matched");
	printf("policy: level %s, %s: %s\n", config_level_name(s->dest->level),
	    v->pass ? "pass" : "fail", v->reason);
	fflush(stdout);
}

/* the handshake is done: facts, verdict, logs, summary line */
static int
tls_ready(struct smtpc_session *s)
{
	struct policy_dest pd;
	struct policy_verdict v;
	bool names_ok;

	dest_of(s, &pd);
	if (tls_conn_facts(s->conn, &s->tls) < 0) {
		remember_failure(s, SMTPC_TEMP, "4.7.5", "TLS facts of %s unavailable", s->peer);
		session_try_next(s, "TLS facts unavailable");
		return -1;
	}
	s->has_facts = true;
	s->flags |= F_TLS;
	smtpc_observe_tls(&s->targets[s->ti], &s->tls);
	dane_match(s);
	dest_of(s, &pd);
	policy_judge_send(s->ctx->cfg, &pd, true, &s->tls, &v);
	if (s->logging) {
		plog_tls(s->ctx->plog, &s->log, &s->tls);
		plog_verification(s->ctx->plog, &s->log, s->tls.peer.chain_reason[0] ?
		    s->tls.peer.chain_reason : tls_chain_status_name(s->tls.peer.chain),
		    v.names[0] ? v.names : "-", v.pin[0] ? v.pin : "none");
		plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
		    pd.domain ? pd.domain : "-", v.pass, v.reason);
	}
	s->auth = smtpc_rt_tls_auth(s->ctx->cfg, &pd, &s->tls, &v);
	names_ok = v.pass && ((s->dest->level >= LEVEL_VERIFY && s->dest->level <= LEVEL_PINNED) ||
	    pd.dane == POLICY_DANE_USABLE || (policy_dest_sts(&pd) && v.sts_result == NULL));
	/* the line Postfix administrators grep for (tls/tls_misc.c shape) */
	diag_info("%s TLS connection established to %s: %s with cipher %s (%u/%u bits) "
	    "[%s%s%s] %s session=%016llx", pd.dane == POLICY_DANE_USABLE && v.pass ? "Verified" :
	    tls_trust_word(&s->tls, names_ok), s->peer,
	    s->tls.version, s->tls.cipher, s->tls.cipher_bits, s->tls.cipher_bits,
	    config_level_name(pd.level), pd.domain ? " " : "", pd.domain ? pd.domain : "",
	    v.pass ? "pass" : "FAIL", (unsigned long long)s->id);
	if (v.sts_result)
		tls_report(s, &s->targets[s->ti], v.sts_result, v.reason);
	if (s->ctx->print_facts)
		print_facts(s, &v);
	if (s->ctx->probe) {
		s->ctx->probe(s->ctx, s->peer, true, &s->tls, NULL, &s->targets[s->ti],
		    s->has_dane ? &s->dane : NULL);
		remember_failure(s, SMTPC_TEMP, "4.0.0", "probe of %s done", s->peer);
		return session_abandon(s, "probe done");
	}
	if (!v.pass) {
		tls_report(s, &s->targets[s->ti], policy_dane_result_type(v.reason), v.reason);
		/* mandatory and up: fail closed, never a byte of the envelope */
		remember_failure(s, SMTPC_TEMP, "4.7.5", "TLS policy failure with %s: %s", s->peer,
		    v.reason);
		return session_abandon(s, "TLS policy failure");
	}
	tls_report(s, &s->targets[s->ti], "success", NULL);
	/* RFC 3207 4.2: forget what the server said before TLS; EHLO again */
	s->flags &= ~(F_ESMTP | F_PIPELINING | F_STARTTLS | F_8BITMIME | F_SIZE | F_REQUIRETLS);
	s->size_max = 0;
	send_cmd(s, "EHLO %s", s->ctx->cfg->hostname);
	set_state(s, SC_EHLO, T_COMMAND);
	return 0;
}

/* the handshake failed: opportunistic retries once in plaintext */
static int
tls_failed(struct smtpc_session *s, const char *why)
{
	struct policy_dest pd;
	struct policy_verdict v;

	dest_of(s, &pd);
	policy_judge_send(s->ctx->cfg, &pd, false, NULL, &v);
	if (s->logging) {
		plog_tls_error(s->ctx->plog, &s->log, why);
		plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
		    pd.domain ? pd.domain : "-", false, v.reason);
	}
	/* one outcome per connection: an MTA-STS one names the policy's
	 * result type (tlsrpt.c reports under the STS policy) */
	if (v.sts_result)
		tls_report(s, &s->targets[s->ti], v.sts_result, why);
	tls_report(s, &s->targets[s->ti], "validation-failure", why);
	remember_failure(s, SMTPC_TEMP, "4.7.5", "TLS handshake with %s failed: %s (%s)", s->peer,
	    why, v.reason);
	if (s->ctx->probe) {
		s->ctx->probe(s->ctx, s->peer, true, NULL, why, &s->targets[s->ti], NULL);
		return session_abandon(s, "probe done");
	}
	if (v.plaintext && !s->plain_retry_done) {
		diag_info("%016llx %s: %s; retrying in plaintext", (unsigned long long)s->id,
		    s->peer, s->fail_text);
		session_drop_conn(s, "TLS handshake failed");
		s->plain_retry_done = true;
		s->flags |= F_NOTLS;
		session_connect_next(s);
		return -1;
	}
	session_try_next(s, "TLS handshake failed");
	return -1;
}

/* ---- replies ---- */

/* every line of a reply into the protocol log */
static void
log_reply(struct smtpc_session *s, const struct smtpc_reply *r)
{
	const char *p = r->text, *e;

	if (!s->logging || p == NULL)
		return;
	while (p < r->text + r->len) {
		e = memchr(p, '\n', (size_t)(r->text + r->len - p));
		if (e == NULL)
			e = r->text + r->len;
		plog_received(s->ctx->plog, &s->log, p, (size_t)(e - p));
		p = e + 1;
	}
}

static int
on_banner(struct smtpc_session *s, const struct smtpc_reply *r)
{
	char flat[400];

	if (r->code / 100 != 2) {
		smtpc_reply_flat(r, flat, sizeof(flat));
		/* RFC 5321 3.1: a 554 greeting means "not here"; try the next MX */
		remember_failure(s, r->code / 100 == 5 ? SMTPC_PERM : SMTPC_TEMP,
		    r->code / 100 == 5 ? "5.0.0" : "4.4.1",
		    "host %s refused to talk to me: %s", s->peer, flat);
		return session_abandon(s, "greeting refused");
	}
	send_cmd(s, "EHLO %s", s->ctx->cfg->hostname);
	set_state(s, SC_EHLO, T_COMMAND);
	return 0;
}

/* after EHLO/HELO: STARTTLS as the level says, then the first message */
static int
after_greeting(struct smtpc_session *s)
{
	struct policy_dest pd;
	struct policy_verdict v;

	if (s->flags & F_TLS) {
		session_next_tx(s);
		return 0;
	}
	dest_of(s, &pd);
	if (s->ctx->probe && (!(s->flags & F_STARTTLS) || s->ctx->creds == NULL)) {
		s->ctx->probe(s->ctx, s->peer, (s->flags & F_STARTTLS) != 0, NULL,
		    s->ctx->creds ? "STARTTLS not offered" : "no TLS credentials here",
		    &s->targets[s->ti], NULL);
		remember_failure(s, SMTPC_TEMP, "4.0.0", "probe of %s done", s->peer);
		return session_abandon(s, "probe done");
	}
	if (s->ctx->print_facts && (s->dest->level == LEVEL_NONE || (s->flags & F_NOTLS) ||
	    !(s->flags & F_STARTTLS)))
		printf("TLS: none (%s)\n", s->dest->level == LEVEL_NONE ? "level none" :
		    (s->flags & F_NOTLS) ? "plaintext retry after a failed handshake" :
		    "STARTTLS not offered");
	if (s->dest->level == LEVEL_NONE || (s->flags & F_NOTLS)) {
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", true, s->dest->level == LEVEL_NONE ?
			    "ok: level none, STARTTLS not used" :
			    "ok: plaintext retry after a failed opportunistic handshake");
		session_next_tx(s);
		return 0;
	}
	policy_judge_starttls(&pd, (s->flags & F_STARTTLS) != 0, &v);
	if (v.sts_result)
		tls_report(s, &s->targets[s->ti], v.sts_result, v.reason);
	if (!v.pass) {
		/* STRIPTLS: a man in the middle can delete STARTTLS from the
		 * EHLO reply; from mandatory up that is a deferral, never plaintext */
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", false, v.reason);
		tls_report(s, &s->targets[s->ti], "starttls-not-supported", v.reason);
		remember_failure(s, SMTPC_TEMP, "4.7.4", "TLS is required, but was not offered by "
		    "host %s (%s)", s->peer, v.reason);
		return session_abandon(s, "STARTTLS not offered");
	}
	if (!(s->flags & F_STARTTLS) || s->ctx->creds == NULL) {
		if (!(s->flags & F_STARTTLS))
			tls_report(s, &s->targets[s->ti], "starttls-not-supported", v.reason);
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", true, v.reason);
		session_next_tx(s);
		return 0;
	}
	send_cmd(s, "STARTTLS");
	set_state(s, SC_STARTTLS, T_COMMAND);
	return 0;
}

/* the extensions an EHLO reply offers */
static void
parse_ehlo(struct smtpc_session *s, const struct smtpc_reply *r)
{
	char line[SMTPC_REPLY_LINE_MAX];
	size_t pos = 0;
	bool first = true;

	s->flags |= F_ESMTP;
	while (smtpc_reply_line(r, &pos, line, sizeof(line))) {
		if (first) {
			first = false;	/* the greeting line names the server */
			snprintf(s->helo, sizeof(s->helo), "%.*s", (int)strcspn(line, " "), line);
			continue;
		}
		if (strcasecmp(line, "PIPELINING") == 0)
			s->flags |= F_PIPELINING;
		else if (strcasecmp(line, "STARTTLS") == 0)
			s->flags |= F_STARTTLS;
		else if (strcasecmp(line, "8BITMIME") == 0)
			s->flags |= F_8BITMIME;
		else if (strcasecmp(line, "REQUIRETLS") == 0)
			s->flags |= F_REQUIRETLS;
		else if (strncasecmp(line, "SIZE", 4) == 0 && (line[4] == '\0' || line[4] == ' ')) {
			s->flags |= F_SIZE;
			s->size_max = line[4] ? strtoull(line + 5, NULL, 10) : 0;
		}
	}
}

/* EHLO answered: extensions, or HELO for an old server */
static int
on_ehlo(struct smtpc_session *s, const struct smtpc_reply *r)
{
	char flat[400];

	if (r->code / 100 == 2) {
		parse_ehlo(s, r);
		return after_greeting(s);
	}
	if (r->code / 100 == 5 && !(s->flags & F_TLS)) {
		/* RFC 5321 3.2: an old server; HELO, and no extensions */
		send_cmd(s, "HELO %s", s->ctx->cfg->hostname);
		set_state(s, SC_HELO, T_COMMAND);
		return 0;
	}
	smtpc_reply_flat(r, flat, sizeof(flat));
	remember_failure(s, SMTPC_TEMP, "4.4.1", "host %s refused EHLO: %s", s->peer, flat);
	return session_abandon(s, "EHLO refused");
}

/* HELO answered: no extensions, on to TLS or the message */
static int
on_helo(struct smtpc_session *s, const struct smtpc_reply *r)
{
	char flat[400];

	if (r->code / 100 == 2)
		return after_greeting(s);
	smtpc_reply_flat(r, flat, sizeof(flat));
	remember_failure(s, SMTPC_TEMP, "4.4.1", "host %s refused HELO: %s", s->peer, flat);
	return session_abandon(s, "HELO refused");
}

/* 220 to STARTTLS: swap the transport and start the handshake */
static int
on_starttls(struct smtpc_session *s, const struct smtpc_reply *r)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	const struct tls_cert_facts *local;
	const char *why = NULL;
	struct dsmtp_err err;
	char cache_key[600], flat[400];

	if (r->code != 220) {
		struct policy_dest pd;

		smtpc_reply_flat(r, flat, sizeof(flat));
		dest_of(s, &pd);
		if (!policy_dest_requires_tls(&pd)) {
			/* opportunistic: a refused STARTTLS is a server without TLS */
			if (s->logging)
				plog_policy(s->ctx->plog, &s->log, config_level_name(s->dest->level),
				    s->dest->domain[0] ? s->dest->domain : "-", true,
				    "no-tls: STARTTLS refused (opportunistic: plaintext)");
			tls_report(s, t, "starttls-not-supported", flat);
			session_next_tx(s);
			return 0;
		}
		tls_report(s, t, "starttls-not-supported", flat);
		remember_failure(s, SMTPC_TEMP, "4.7.5", "host %s refused STARTTLS: %s", s->peer,
		    flat);
		return session_abandon(s, "STARTTLS refused");
	}
	snprintf(cache_key, sizeof(cache_key), "%s|%s", t->host, s->addr);
	if (tls_conn_client(s->conn, s->ctx->creds, t->literal ? NULL : t->host, cache_key,
	    &err) < 0) {
		remember_failure(s, SMTPC_TEMP, "4.7.5", "TLS with %s: %s", s->peer, err.msg);
		session_try_next(s, "TLS setup failed");
		return -1;
	}
	/* a SIGHUP may replace ctx->creds while this session runs */
	tls_creds_free(s->creds);
	s->creds = tls_creds_ref(s->ctx->creds);
	if (s->logging && (local = tls_creds_local(s->creds, &why)) != NULL)
		plog_local_cert(s->ctx->plog, &s->log, local, why);
	/* CVE-2011-0411 and the 2021 "NO STARTTLS" study: reply bytes after
	 * the 220 are an injection; conn.c drops what is buffered when the
	 * transport switches, and we stop reading here and forget any
	 * partial line */
	smtpc_reply_reset(&s->rp);
	set_state(s, SC_TLS, T_TLS);
	return 1;
}

/* ---- transactions ---- */

static void
session_quit(struct smtpc_session *s)
{
	send_cmd(s, "QUIT");
	set_state(s, SC_QUIT, T_QUIT);
}

static bool
has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return true;
	return false;
}

#define SMTPC_WIRE_PATH	512

/* an envelope address as it goes on the wire: we do not send SMTPUTF8, so
 * a U-label domain goes as its A-label, the same domain (RFC 6531 3.2,
 * RFC 5890 2.3.2.1); the spool keeps the form it was given */
static void
wire_path(const char *addr, char *out, size_t outlen)
{
	if (addr_mailbox_to_ascii(addr, out, outlen, NULL) < 0)
		snprintf(out, outlen, "%s", addr);
}

/* the MAIL, RCPT and DATA commands not yet sent, as far as allowed */
static void
tx_send_more(struct smtpc_session *s, size_t from, size_t upto)
{
	struct smtpc_job *j = s->job;
	char a[SMTPC_WIRE_PATH];

	for (size_t k = from; k <= upto && k <= s->nlive + 1; k++) {
		if (k == 0) {
			/* RFC 6152: say so when the body has 8-bit octets */
			bool eight = (s->flags & F_8BITMIME) && has_8bit(j->data, j->len);

			const char *rt = j->mail_requiretls ? " REQUIRETLS" : "";

			wire_path(j->sender, a, sizeof(a));
			if (s->flags & F_SIZE)
				send_cmd(s, "MAIL FROM:<%s> SIZE=%zu%s%s", a, j->len,
				    eight ? " BODY=8BITMIME" : "", rt);
			else
				send_cmd(s, "MAIL FROM:<%s>%s%s", a, eight ? " BODY=8BITMIME" : "", rt);
		} else if (k <= s->nlive) {
			wire_path(j->rcpts[s->live[k - 1]], a, sizeof(a));
			send_cmd(s, "RCPT TO:<%s>", a);
		} else
			send_cmd(s, "DATA");
	}
}

/* a path we will put between < and >: no controls, no brackets (the
 * spool's writer checked it; a damaged or hostile spool must still not
 * be able to inject a command) */
static bool
path_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a < 0x21 || *a == 0x7f || *a == '<' || *a == '>')
			return false;
	return true;
}

/* RFC 8689 and the security memory, before MAIL (requiretls.c) */
static void
rt_gate(struct smtpc_session *s)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	struct smtpc_rt_view v = {
		.cfg = s->ctx->cfg, .memory = s->ctx->cfg->send.memory && !s->ctx->no_memory,
		.level = s->dest->level, .mode = s->dest->mode,
		.tls = (s->flags & F_TLS) != 0, .auth = s->auth,
		.requiretls_offered = (s->flags & F_REQUIRETLS) != 0,
		/* RFC 8689 4.2: a next hop named by an enforced STS policy */
		.sts_enforced = s->sts != NULL && s->sts->mode == POLICY_STS_ENFORCE &&
		    t->dane != POLICY_DANE_USABLE && policy_sts_mx_allowed(s->sts, t->host),
		.host = t->host, .peer = s->peer,
		.plog = s->logging ? s->ctx->plog : NULL, .log = &s->log,
	};

	smtpc_rt_gate(&v, s->job);
}

/* start the current job: paths, SIZE, then MAIL (RCPT, DATA) */
static void
tx_begin(struct smtpc_session *s)
{
	struct smtpc_job *j = s->job;

	if (s->ctx->probe) {	/* a probe never sends mail, whatever happened */
		(void)session_abandon(s, "probe done");
		return;
	}

	if ((s->live = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*s->live))) == NULL ||
	    (s->rcpt_ok = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*s->rcpt_ok))) == NULL) {
		smtpc_job_fail(j, SMTPC_TEMP, "4.3.0", "out of memory", NULL);
		job_finish(s);
		session_quit(s);
		return;
	}
	s->nlive = 0;
	rt_gate(s);
	for (size_t i = 0; i < j->nrcpts; i++) {
		if (j->res[i].done)
			continue;	/* refused by the gate */
		if (!path_ok(j->sender) || !path_ok(j->rcpts[i])) {
			struct smtpc_result *r = &j->res[i];

			r->done = true;
			r->st = SMTPC_PERM;
			snprintf(r->status, sizeof(r->status), "5.1.3");
			snprintf(r->text, sizeof(r->text), "553 5.1.3 address with control "
			    "characters or brackets refused before sending");
		} else
			s->live[s->nlive++] = i;
	}
	if (s->nlive == 0) {
		job_finish(s);
		session_next_tx(s);
		return;
	}

	/* RFC 1870 6: never send what the server already said it refuses */
	if ((s->flags & F_SIZE) && s->size_max > 0 && j->len > s->size_max) {
		char text[400];

		snprintf(text, sizeof(text), "message size %zu exceeds size limit %llu of %.300s",
		    j->len, (unsigned long long)s->size_max, s->peer);
		smtpc_job_fail(j, SMTPC_PERM, "5.3.4", text, s->peer);
		job_finish(s);
		session_next_tx(s);
		return;
	}
	s->acked = 0;
	s->mail_ok = false;
	s->nrcpt_ok = 0;
	s->ignore_final = false;
	s->flags |= F_IN_TX;
	/* RFC 2920: with PIPELINING, MAIL, every RCPT and DATA in one write */
	tx_send_more(s, 0, (s->flags & F_PIPELINING) ? s->nlive + 1 : 0);
	set_state(s, SC_XFER, T_COMMAND);
}

/* the next job for this connection (RSET first), or QUIT */
static void
session_next_tx(struct smtpc_session *s)
{
	if (s->job == NULL && !s->ctx->stopping)
		s->job = dest_pop(s->dest);
	if (s->job == NULL && s->ctx->idle_keep > 0 && !s->ctx->stopping &&
	    s->state != SC_IDLE) {
		/* keep the connection a moment for the next message (no RSET
		 * yet: it comes before the next transaction) */
		set_state(s, SC_IDLE, s->ctx->idle_keep);
		return;
	}
	if (s->job == NULL) {
		session_quit(s);
		return;
	}
	if (s->ntx > 0) {
		send_cmd(s, "RSET");
		set_state(s, SC_RSET, T_COMMAND);
		return;
	}
	tx_begin(s);
}

/* RSET answered: the next transaction starts clean */
static int
on_rset(struct smtpc_session *s, const struct smtpc_reply *r)
{
	if (r->code / 100 != 2) {
		/* a server that cannot reset cannot be trusted with the next
		 * message: give it back to the destination and reconnect */
		session_requeue_job(s);
		session_quit(s);
		return 0;
	}
	tx_begin(s);
	return 0;
}

/* one recipient's outcome from a reply */
static void
set_result(struct smtpc_session *s, size_t i, const struct smtpc_reply *r)
{
	struct smtpc_result *res = &s->job->res[i];

	res->done = true;
	res->st = r->code / 100 == 2 ? SMTPC_OK : r->code / 100 == 5 ? SMTPC_PERM : SMTPC_TEMP;
	smtpc_reply_status(r, res->status, sizeof(res->status));
	smtpc_reply_flat(r, res->text, sizeof(res->text));
	snprintf(res->mta, sizeof(res->mta), "%.299s", s->peer);
}

/* the transaction is over (its results set): next message or QUIT */
static void
tx_end(struct smtpc_session *s)
{
	s->ntx++;
	job_finish(s);
	session_next_tx(s);
}

/* write the message: dot-stuffed (RFC 5321 4.5.2), lines ending in CRLF
 * (a bare LF becomes CRLF), the last line terminated, then "." */
static void
send_body(struct smtpc_session *s)
{
	const char *p = s->job->data, *end = p + s->job->len, *run = p;
	bool bol = true;

	while (p < end) {
		if (bol && *p == '.') {
			put(s, run, (size_t)(p - run));
			put(s, ".", 1);
			run = p;
		}
		bol = false;
		if (*p == '\n') {
			if (p == s->job->data || p[-1] != '\r') {
				put(s, run, (size_t)(p - run));
				put(s, "\r", 1);
				run = p;
			}
			bol = true;
		}
		p++;
	}
	put(s, run, (size_t)(p - run));
	if (!bol)
		put(s, "\r\n", 2);
	/* never the terminator after a body that did not fit: a cut message
	 * must not be delivered as if whole */
	if (s->broken)
		return;
	put(s, ".\r\n", 3);
	if (s->logging)
		plog_info(s->ctx->plog, &s->log, "", "message sent: %zu octets", s->job->len);
}

/* a reply to MAIL, one RCPT or DATA, in the order they were sent */
static int
on_xfer(struct smtpc_session *s, const struct smtpc_reply *r)
{
	struct smtpc_job *j = s->job;
	size_t k = s->acked++;
	bool pipe = (s->flags & F_PIPELINING) != 0;

	if (k == 0) {
		/* MAIL */
		if (r->code / 100 == 2)
			s->mail_ok = true;
		else {
			for (size_t i = 0; i < s->nlive; i++)
				set_result(s, s->live[i], r);
			if (!pipe) {
				tx_end(s);
				return 0;
			}
		}
		if (!pipe)
			tx_send_more(s, 1, 1);
		return 0;
	}
	if (k <= s->nlive) {
		/* RCPT k */
		if (s->mail_ok) {
			if (r->code / 100 == 2) {
				s->rcpt_ok[s->live[k - 1]] = true;
				s->nrcpt_ok++;
			} else
				set_result(s, s->live[k - 1], r);
		}
		if (!pipe) {
			if (k < s->nlive)
				tx_send_more(s, k + 1, k + 1);
			else if (s->nrcpt_ok > 0)
				tx_send_more(s, k + 1, k + 1);
			else {
				tx_end(s);
				return 0;
			}
		}
		if (k == s->nlive && pipe)
			set_state(s, SC_XFER, T_DATA_INIT);
		return 0;
	}
	/* DATA */
	if (r->code == 354) {
		if (!s->mail_ok || s->nrcpt_ok == 0) {
			/* RFC 2920 3.1: DATA accepted although no recipient
			 * was; end it at once with an empty message */
			put(s, ".\r\n", 3);
			s->ignore_final = true;
		} else
			send_body(s);
		set_state(s, SC_BODY, T_DATA_END);
		return 0;
	}
	for (size_t i = 0; i < j->nrcpts; i++)
		if (s->rcpt_ok[i])
			set_result(s, i, r);
	tx_end(s);
	return 0;
}

/* the reply after the final dot: the accepted recipients' outcome */
static int
on_body(struct smtpc_session *s, const struct smtpc_reply *r)
{
	struct smtpc_job *j = s->job;

	if (!s->ignore_final)
		for (size_t i = 0; i < j->nrcpts; i++)
			if (s->rcpt_ok[i])
				set_result(s, i, r);
	tx_end(s);
	return 0;
}

/* QUIT answered: close, or go on to the next address */
static int
on_quit(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	if (s->quit_then_next) {
		s->quit_then_next = false;
		session_next_address(s, "QUIT");
		return -1;
	}
	session_free(s, "QUIT");
	return -1;
}

/* a reply while idle: the server ends the session (421 on its timeout) */
static int
on_idle(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	session_free(s, "closed by the server while idle");
	return -1;
}

/* ---- events ---- */

/* the connection broke: what is in flight is deferred */
static void
session_lost(struct smtpc_session *s, const char *why)
{
	char text[512];

	if (s->state == SC_IDLE) {
		session_free(s, why);	/* nothing in flight */
		return;
	}
	if (s->state == SC_QUIT) {
		if (s->quit_then_next) {
			s->quit_then_next = false;
			session_next_address(s, why);
			return;
		}
		session_free(s, why);
		return;
	}
	if (s->state == SC_TLS) {
		(void)tls_failed(s, why);
		return;
	}
	if (s->job && (s->flags & F_IN_TX)) {
		/* RFC 5321 6.1: no 250 seen, so it was not delivered (it may
		 * arrive twice, never not at all) */
		snprintf(text, sizeof(text), "lost connection with %s while in state %s: %s",
		    s->peer, state_names[s->state], why);
		smtpc_job_fail(s->job, SMTPC_TEMP, "4.4.2", text, s->peer);
		job_finish(s);
		session_free(s, why);
		return;
	}
	if (s->job && !(s->flags & F_IN_TX) && s->ntx > 0) {
		/* between two transactions (RSET): the job was not started;
		 * give it back, a new session will carry it */
		session_requeue_job(s);
		session_free(s, why);
		return;
	}
	if (s->ntx == 0) {
		remember_failure(s, SMTPC_TEMP, "4.4.2", "lost connection with %s while in state "
		    "%s: %s", s->peer, state_names[s->state], why);
		session_try_next(s, why);
		return;
	}
	session_free(s, why);
}

/* every complete reply in the input to its state's handler; -1 when the
 * connection was freed (the session may be gone too) */
static int
session_input(struct smtpc_session *s)
{
	struct conn *c = s->conn;

	while (buf_avail(&c->in) > 0) {
		size_t used = 0;
		int rc = smtpc_reply_feed(&s->rp, buf_head(&c->in), buf_avail(&c->in), &used);
		int (*fn)(struct smtpc_session *, const struct smtpc_reply *);

		buf_consume(&c->in, used);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			char why[200];

			snprintf(why, sizeof(why), "protocol error: %s", s->rp.err);
			if (s->logging)
				plog_info(s->ctx->plog, &s->log, "", "%s", why);
			session_lost(s, why);
			return -1;
		}
		log_reply(s, &s->rp.r);
		fn = reply_table[s->state];
		if (fn == NULL) {
			/* a reply nobody asked for (during the handshake) */
			session_lost(s, "unexpected reply");
			return -1;
		}
		rc = fn(s, &s->rp.r);
		if (rc < 0)
			return -1;
		if (s->broken) {
			session_lost(s, "out of memory");
			return -1;
		}
		if (rc > 0)
			return 0;	/* STARTTLS: nothing after the 220 counts */
	}
	return 0;
}

/* conn.c's events; -1 when the connection was freed */
static int
session_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtpc_session *s = arg;

	switch (ev) {
	case CONN_IN:
		return session_input(s);
	case CONN_TLS_READY:
		if (s->state != SC_TLS)
			return 0;
		if (tls_ready(s) < 0)
			return -1;
		if (s->broken) {
			session_lost(s, "out of memory");
			return -1;
		}
		return 0;
	case CONN_CLOSED:
		session_free(s, "closed");
		return -1;
	case CONN_TIMEOUT:
		if (s->state == SC_IDLE) {
			/* kept long enough: end it politely */
			session_quit(s);
			return 0;
		}
		session_lost(s, "timeout");
		return -1;
	case CONN_EOF:
		session_lost(s, "the server closed the connection");
		return -1;
	case CONN_ERROR:
		session_lost(s, c->err[0] ? c->err : "I/O error");
		return -1;
	}
	return 0;
}
