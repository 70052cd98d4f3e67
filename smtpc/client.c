/* client.c: the SMTP client session (RFC 5321, 3207 STARTTLS, 2920
 * PIPELINING, 1870 SIZE) on libev through common/conn.c: its life from
 * the resolver's answer to QUIT, one address after another, the state
 * each reply is read in (the reply table below; the transitions are
 * client_states.c's), the greeting and EHLO, and what a lost connection
 * means for the job it carried. A session greets, negotiates TLS as the
 * destination's level demands (client_tls.c: DESIGN.md section 6, policy/
 * judges the handshake), then carries one job after another over the
 * same connection (client_tx.c, RSET in between) and ends with QUIT.
 * Destinations and their job queues are client_dest.c's. Owns the
 * protocol log records and the stderr TLS summary of the send side, with
 * client_tls.c. Knows nothing of the spool: a job's owner (queue.c,
 * send.c) gets the per-recipient results. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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
#include "smtpc/client_int.h"
#include "smtpc/smtpc.h"

static int	session_event(struct conn *c, enum conn_event ev, void *arg);
static smtpc_resolve_cb resolved;
static smtpc_sts_cb sts_done;
static int	on_banner(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_ehlo(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_helo(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_quit(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_quit_next(struct smtpc_session *s, const struct smtpc_reply *r);
static int	on_idle(struct smtpc_session *s, const struct smtpc_reply *r);

/* what each state does with a complete reply; -1: the session is gone,
 * 1: stop reading input now (STARTTLS switch). NULL: the state reads no
 * reply (client_states.c says the same: smtpc_state_expects() is NULL) */
static int (*const reply_table[SC_NSTATES])(struct smtpc_session *, const struct smtpc_reply *) = {
	[SC_RESOLVE] = NULL,
	[SC_CONNECT] = NULL,
	[SC_BANNER] = on_banner,
	[SC_EHLO] = on_ehlo,
	[SC_HELO] = on_helo,
	[SC_STARTTLS] = smtpc_sess_on_starttls,
	[SC_TLS] = NULL,
	[SC_RSET] = smtpc_sess_on_rset,
	[SC_XFER] = smtpc_sess_on_xfer,
	[SC_SENDING] = NULL,	/* a reply before the dot: protocol error */
	[SC_BODY] = smtpc_sess_on_body,
	[SC_IGNORE_FINAL] = smtpc_sess_on_ignore_final,
	[SC_QUIT] = on_quit,
	[SC_QUIT_NEXT] = on_quit_next,
	[SC_IDLE] = on_idle,
};

/* does the session read a reply in this state? (for the state table's
 * test: the table and the dispatch must agree) */
bool
smtpc_sess_reads_reply(enum smtpc_state st)
{
	return (unsigned)st < SC_NSTATES && reply_table[st] != NULL;
}

/* ---- session helpers ---- */

/* a timeout, capped by DSMTPC_TIMEOUT for tests */
double
smtpc_sess_tmo(struct smtpc_session *s, double t)
{
	if (s->ctx->timeout_cap > 0 && t > s->ctx->timeout_cap)
		return s->ctx->timeout_cap;
	return t;
}

/* enter a state and arm its timeout; every move is checked against the
 * state table and traced (DSMTP_DEBUG) with the session id */
void
smtpc_sess_set_state(struct smtpc_session *s, enum smtpc_state st, double timeout)
{
	if (!smtpc_state_next_ok(s->state, st)) {
		diag_warnx("%016llx %s: state %s -> %s is not in the state table",
		    (unsigned long long)s->id, s->peer, smtpc_state_name(s->state),
		    smtpc_state_name(st));
#ifdef SMTPC_STATES_STRICT
		abort();	/* test builds (CPPFLAGS=-DSMTPC_STATES_STRICT): fail loudly */
#endif
	} else if (diag_debug_enabled())
		diag_debug("%016llx %s: state %s -> %s", (unsigned long long)s->id, s->peer,
		    smtpc_state_name(s->state), smtpc_state_name(st));
	s->state = st;
	if (s->conn)
		conn_set_timeout(s->conn, smtpc_sess_tmo(s, timeout));
}

/* one command line, logged, CRLF added */
void
smtpc_sess_send_cmd(struct smtpc_session *s, const char *fmt, ...)
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
void
smtpc_sess_put(struct smtpc_session *s, const char *p, size_t n)
{
	if (n > 0 && !s->broken && conn_write(s->conn, p, n) < 0)
		s->broken = true;
}

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

void
smtpc_sess_failure(struct smtpc_session *s, enum smtpc_status st, const char *status,
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
void
smtpc_sess_job_finish(struct smtpc_session *s)
{
	struct smtpc_job *j = s->job;

	if (j == NULL)
		return;
	smtpc_body_release(s);
	s->job = NULL;
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
		smtpc_sess_job_finish(s);
	}
	while ((j = smtpc_dest_pop(s->dest)) != NULL) {
		smtpc_job_fail(j, st, status, text, s->peer);
		j->session_id = s->id;
		j->done(j);
	}
}

/* a new session for the destination, carrying its first queued job */
void
smtpc_sess_start(struct smtpc_dest *d)
{
	struct smtpc *ctx = d->ctx;
	struct smtpc_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		struct smtpc_job *j = smtpc_dest_pop(d);

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
	s->job = smtpc_dest_pop(d);
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
	if (diag_debug_enabled())
		diag_debug("%016llx %s: state %s (new session)", (unsigned long long)s->id,
		    s->peer, smtpc_state_name(s->state));
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
		smtpc_sess_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		fail_destination(s);
		smtpc_sess_free(s, "out of memory");
	}
}

/* ---- freeing ---- */

/* the one way a session ends: watchers, connection, log, job */
void
smtpc_sess_free(struct smtpc_session *s, const char *reason)
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
		smtpc_sess_job_finish(s);	/* unset results: not attempted */
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
void
smtpc_sess_drop_conn(struct smtpc_session *s, const char *reason)
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
	smtpc_sess_drop_conn(s, reason);
	s->ti++;
	smtpc_sess_connect_next(s);
}

/* the job not started here goes back to the head of its destination's
 * queue, for another session */
void
smtpc_sess_requeue_job(struct smtpc_session *s)
{
	if (s->job == NULL)
		return;
	smtpc_dest_push_front(s->dest, s->job);
	s->job = NULL;
}

/* this address failed before any mail moved: try the next one */
void
smtpc_sess_try_next(struct smtpc_session *s, const char *reason)
{
	diag_info("%016llx %s: %s", (unsigned long long)s->id, s->peer, s->fail_text[0] ?
	    s->fail_text : reason);
	session_next_address(s, reason);
}

/* this address will not do: QUIT politely, then the next one; 0, the
 * connection stays up until the QUIT reply */
int
smtpc_sess_abandon(struct smtpc_session *s, const char *reason)
{
	diag_info("%016llx %s: %s", (unsigned long long)s->id, s->peer, s->fail_text[0] ?
	    s->fail_text : reason);
	smtpc_sess_send_cmd(s, "QUIT");
	smtpc_sess_set_state(s, SC_QUIT_NEXT, T_QUIT);
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
		smtpc_sess_failure(s, st == SMTPC_PERM ? SMTPC_PERM : SMTPC_TEMP,
		    st == SMTPC_PERM ? "5.1.2" : "4.4.3", "%s", why);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, s->dest->hop.host, why);
		fail_destination(s);
		smtpc_sess_free(s, "resolution failed");
		return;
	}
	if ((s->targets = calloc(n, sizeof(*t))) == NULL) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		fail_destination(s);
		smtpc_sess_free(s, "out of memory");
		return;
	}
	memcpy(s->targets, t, n * sizeof(*t));
	smtpc_targets_hold(s->targets, n);
	s->ntargets = n;
	s->ti = 0;
	smtpc_sess_connect_next(s);
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
		smtpc_sess_try_next(s, "connect failed");
		return;
	}
	if ((s->conn = conn_new(s->ctx->loop, s->fd, session_event, s)) == NULL) {
		close(s->fd);
		s->fd = -1;
		smtpc_sess_failure(s, SMTPC_TEMP, "4.3.0", "out of memory");
		smtpc_sess_try_next(s, "out of memory");
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
			smtpc_sess_tls_report(s, &s->targets[s->ti], fail, s->sts_fail ?
			    "MTA-STS policy lookup failed" :
			    "MX host not named by the MTA-STS policy");
	}
	s->sts_fail = NULL;	/* once per delivery attempt */
	smtpc_sess_set_state(s, SC_BANNER, T_BANNER);
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
	smtpc_sess_try_next(s, "connect timeout");
}

/* connect to the current address, or give up when none is left */
void
smtpc_sess_connect_next(struct smtpc_session *s)
{
	const struct smtpc_target *t;
	char a[80];
	int fd;

	if (s->ctx->stopping) {
		smtpc_sess_free(s, "shutdown");
		return;
	}
	if (s->ti >= s->ntargets) {
		fail_destination(s);
		smtpc_sess_free(s, "no more addresses");
		return;
	}
	t = &s->targets[s->ti];
	if (smtpc_sess_skip_target(s, t)) {
		s->ti++;
		smtpc_sess_connect_next(s);
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
		smtpc_sess_connect_next(s);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&t->ss, t->sslen) < 0 && errno != EINPROGRESS) {
		remember_connect_failure(s, "connect to %s: %s", s->peer, strerror(errno));
		close(fd);
		s->ti++;
		smtpc_sess_connect_next(s);
		return;
	}
	s->fd = fd;
	smtpc_sess_set_state(s, SC_CONNECT, 0);
	ev_io_init(&s->cio, connect_done, fd, EV_WRITE);
	s->cio.data = s;
	ev_io_start(s->ctx->loop, &s->cio);
	ev_timer_init(&s->ctimer, connect_timeout, smtpc_sess_tmo(s, T_CONNECT), 0.);
	s->ctimer.data = s;
	ev_timer_start(s->ctx->loop, &s->ctimer);
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
		smtpc_sess_failure(s, r->code / 100 == 5 ? SMTPC_PERM : SMTPC_TEMP,
		    r->code / 100 == 5 ? "5.0.0" : "4.4.1",
		    "host %s refused to talk to me: %s", s->peer, flat);
		return smtpc_sess_abandon(s, "greeting refused");
	}
	smtpc_sess_send_cmd(s, "EHLO %s", s->ctx->cfg->hostname);
	smtpc_sess_set_state(s, SC_EHLO, T_COMMAND);
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
		return smtpc_sess_after_greeting(s);
	}
	if (r->code / 100 == 5 && !(s->flags & F_TLS)) {
		/* RFC 5321 3.2: an old server; HELO, and no extensions */
		smtpc_sess_send_cmd(s, "HELO %s", s->ctx->cfg->hostname);
		smtpc_sess_set_state(s, SC_HELO, T_COMMAND);
		return 0;
	}
	smtpc_reply_flat(r, flat, sizeof(flat));
	smtpc_sess_failure(s, SMTPC_TEMP, "4.4.1", "host %s refused EHLO: %s", s->peer, flat);
	return smtpc_sess_abandon(s, "EHLO refused");
}

/* HELO answered: no extensions, on to TLS or the message */
static int
on_helo(struct smtpc_session *s, const struct smtpc_reply *r)
{
	char flat[400];

	if (r->code / 100 == 2)
		return smtpc_sess_after_greeting(s);
	smtpc_reply_flat(r, flat, sizeof(flat));
	smtpc_sess_failure(s, SMTPC_TEMP, "4.4.1", "host %s refused HELO: %s", s->peer, flat);
	return smtpc_sess_abandon(s, "HELO refused");
}

/* ---- transactions ---- */

void
smtpc_sess_quit(struct smtpc_session *s)
{
	smtpc_sess_send_cmd(s, "QUIT");
	smtpc_sess_set_state(s, SC_QUIT, T_QUIT);
}

/* QUIT answered: close */
static int
on_quit(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	smtpc_sess_free(s, "QUIT");
	return -1;
}

/* QUIT answered by an address that would not do: the next one */
static int
on_quit_next(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	session_next_address(s, "QUIT");
	return -1;
}

/* a reply while idle: the server ends the session (421 on its timeout) */
static int
on_idle(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	smtpc_sess_free(s, "closed by the server while idle");
	return -1;
}

/* ---- events ---- */

/* the connection broke: what is in flight is deferred */
static void
session_lost(struct smtpc_session *s, const char *why)
{
	char text[512];

	if (s->state == SC_IDLE) {
		smtpc_sess_free(s, why);	/* nothing in flight */
		return;
	}
	if (s->state == SC_QUIT_NEXT) {
		session_next_address(s, why);
		return;
	}
	if (s->state == SC_QUIT) {
		smtpc_sess_free(s, why);
		return;
	}
	if (s->state == SC_TLS) {
		(void)smtpc_sess_tls_failed(s, why);
		return;
	}
	if (s->job && smtpc_state_in_tx(s->state)) {
		/* RFC 5321 6.1: no 250 seen, so it was not delivered (it may
		 * arrive twice, never not at all) */
		snprintf(text, sizeof(text), "lost connection with %s while in state %s: %s",
		    s->peer, smtpc_state_name(s->state), why);
		smtpc_job_fail(s->job, SMTPC_TEMP, "4.4.2", text, s->peer);
		smtpc_sess_job_finish(s);
		smtpc_sess_free(s, why);
		return;
	}
	if (s->job && !smtpc_state_in_tx(s->state) && s->ntx > 0) {
		/* between two transactions (RSET): the job was not started;
		 * give it back, a new session will carry it */
		smtpc_sess_requeue_job(s);
		smtpc_sess_free(s, why);
		return;
	}
	if (s->ntx == 0) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.4.2", "lost connection with %s while in state "
		    "%s: %s", s->peer, smtpc_state_name(s->state), why);
		smtpc_sess_try_next(s, why);
		return;
	}
	smtpc_sess_free(s, why);
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
		if (smtpc_sess_tls_ready(s) < 0)
			return -1;
		if (s->broken) {
			session_lost(s, "out of memory");
			return -1;
		}
		return 0;
	case CONN_CLOSED:
		smtpc_sess_free(s, "closed");
		return -1;
	case CONN_TIMEOUT:
		if (s->state == SC_IDLE) {
			/* kept long enough: end it politely */
			smtpc_sess_quit(s);
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
	case CONN_DRAINED:
		return smtpc_body_drained(s);
	}
	return 0;
}
