/* queue.c: the delivery scheduler behind `dsmtpc run` and `dsmtpc once`
 * (DESIGN.md sections 4 and 10). It learns of messages from the spool at
 * start and from inotify (IN_MOVED_TO of ID.e in queue/, no polling),
 * leases each due message, groups its due recipients by route and next
 * hop, hands the groups to client.c (or delivers locally: maildir,
 * discard), and writes every outcome back to the spool: delivered,
 * deferred with exponential backoff, failed then bounced (RFC 3464 DSN
 * queued through the spool, never for the null sender), and removes the
 * message once every recipient is delivered or bounced. Those writes go
 * to the spool's worker thread (group commit): the loop never waits for
 * an fsync, and a message keeps its lease until its outcome is on disk.
 * The schedule itself (index by id, heap by due time) is sched.c's. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "metrics/metrics.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

#define BUSY_RETRY_FIRST 0.001	/* lease held by a committer (until its queue/ fsync): */
#define BUSY_RETRY	0.05	/* look again after 1 ms, doubling up to 50 ms */
#define BUSY_MAX	45	/* once: give up on a message another process holds (~2 s) */
#define INFLIGHT_BYTES	(256u * 1024 * 1024)	/* message bytes held in memory at once */

struct qmsg;

struct qjob {
	struct smtpc_job	 j;
	size_t			*idx;		/* j.nrcpts indices into env.rcpts */
	struct smtpc_dest	*dest;
	struct qmsg		*m;
	struct qjob		*next;
};

/* a leased message: delivered while in q->inflight, then its outcome
 * written to the spool (bounce, update, removal: each on the spool's
 * worker thread) while counted in q->ncommitting; the lease is let go
 * only when the last of those is done */
struct qmsg {
	char			 id[SPOOL_ID_SIZE];
	struct spool_envelope	 env;
	char			*data;
	size_t			 len;
	unsigned		 pending;	/* jobs not done yet */
	bool			 finished;	/* every recipient delivered or bounced */
	struct qjob		*jobs;
	struct queue		*q;
	struct qmsg		*next, *prev;
};

struct queue {
	struct smtpc		 ctx;
	struct dsmtp_config	 cfg;
	struct ev_loop		*loop;
	struct spool		*sp;
	bool			 once;
	double			 start;
	int			 ino_fd;
	ev_io			 ino;
	ev_timer		 wake;
	ev_signal		 sigterm, sigint, sighup;
	struct qmsg		*inflight;
	unsigned		 ninflight;
	unsigned		 max_leases;	/* messages in flight plus those being written */
	size_t			 inflight_bytes;	/* sum of the loaded messages */
	unsigned		 ncommitting;	/* delivered, outcome being written */
	struct smtpc_sched	 sched;
	bool			 stopping;
	bool			 done;		/* ev_break asked for (maybe before ev_run) */
	pid_t			 metrics_pid;	/* the metrics process, 0 = none */
};

static void	dispatch(struct queue *q);
static void	maybe_done(struct queue *q);
static void	kick(struct queue *q);

static double
now_d(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the schedule (smtpc/sched.c) ---- */

/* know a message, or change when it is due */
static void
sched_put(struct queue *q, const char *id, double due)
{
	if (smtpc_sched_put(&q->sched, id, due) == NULL)
		diag_warnx("out of memory: message %s not scheduled", id);
}

static void
sched_drop(struct queue *q, const char *id)
{
	smtpc_sched_drop(&q->sched, smtpc_sched_find(&q->sched, id));
}

/* e's fields changed */
static void
sched_fix(struct queue *q, struct smtpc_sched_ent *e)
{
	if (smtpc_sched_fix(&q->sched, e) < 0)
		diag_warnx("out of memory: message %s not scheduled", e->id);
}

/* when an envelope wants attention: the earliest pending recipient, or
 * now when a failed one still needs its bounce, or now when nothing is
 * left to do but the removal (a stop between the update and the removal) */
static double
env_due(const struct spool_envelope *env)
{
	double due = 1e300;
	bool open = false;

	for (size_t i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].state == SPOOL_RCPT_FAILED)
			return 0;
		if (env->rcpts[i].state == SPOOL_RCPT_PENDING) {
			open = true;
			if ((double)env->rcpts[i].next_attempt < due)
				due = (double)env->rcpts[i].next_attempt;
		}
	}
	return open ? due : 0;
}

/* a message appeared or changed on disk */
static void
learn(struct queue *q, const char *id)
{
	struct spool_envelope env;
	struct dsmtp_err err;
	struct smtpc_sched_ent *s = smtpc_sched_find(&q->sched, id);

	if (s && s->inflight)
		return;		/* our own spool_update */
	if (spool_load(q->sp, id, &env, &err) < 0) {
		if (errno != ENOENT)
			diag_warnx("%s", err.msg);
		sched_drop(q, id);
		return;
	}
	sched_put(q, id, env_due(&env));
	spool_envelope_free(&env);
}

/* every message in the spool into the schedule (at start, on overflow) */
static void
scan(struct queue *q)
{
	struct spool_envelope *envs;
	struct dsmtp_err err;
	size_t n;

	if (spool_list(q->sp, &envs, &n, &err) < 0) {
		diag_warnx("spool: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct smtpc_sched_ent *s = smtpc_sched_find(&q->sched, envs[i].id);

		if (s && s->inflight)
			continue;
		sched_put(q, envs[i].id, env_due(&envs[i]));
	}
	spool_list_free(envs, n);
}

/* a message holds its lease (an open ID.d) from its start until its
 * outcome is written, so messages still being written count too: a slow
 * disk must not let leases pile up past the open-files limit */
static bool
at_capacity(const struct queue *q)
{
	return q->ninflight >= q->max_leases / 2 ||
	    q->ninflight + q->ncommitting >= q->max_leases ||
	    (q->ninflight > 0 && q->inflight_bytes >= INFLIGHT_BYTES);
}

/* how many messages may hold a lease at once: eight per session (half of
 * them in delivery, the rest waiting for their outcome's write), within
 * the open-files limit (lifted to the hard limit first), which must also
 * hold the sessions' sockets and an envelope file per outcome being
 * written */
static unsigned
inflight_limit(unsigned max_parallel)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_parallel * 8, reserve, room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return max_parallel;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return max_parallel;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return (unsigned)want;
	/* the sessions and a few more; at most half of a small limit */
	reserve = (rlim_t)max_parallel + 32;
	if (reserve > rl.rlim_cur / 2)
		reserve = rl.rlim_cur / 2;
	room = (rl.rlim_cur - reserve) / 2;
	if (room < 2)
		room = 2;
	return (unsigned)(want < room ? want : room);
}

/* the timer wakes for the earliest due message not in flight */
static void
arm_wake(struct queue *q)
{
	const struct smtpc_sched_ent *top = smtpc_sched_top(&q->sched);
	double next, now;

	ev_timer_stop(q->loop, &q->wake);
	/* at capacity, the next finished message dispatches again: a timer
	 * for messages already due would only spin the loop */
	if (q->stopping || at_capacity(q) || top == NULL)
		return;
	/* due, but not before a busy lease may have been let go */
	if ((next = smtpc_sched_ready_at(top)) >= 1e299)
		return;
	now = now_d();
	ev_timer_set(&q->wake, next > now ? next - now + 0.001 : 0., 0.);
	ev_timer_start(q->loop, &q->wake);
}

/* look at the schedule again from the loop, soon */
static void
kick(struct queue *q)
{
	if (q->stopping)
		return;
	/* not from here: local deliveries finish inside dispatch, and
	 * recursion would grow the stack with the queue */
	ev_timer_stop(q->loop, &q->wake);
	ev_timer_set(&q->wake, 0., 0.);
	ev_timer_start(q->loop, &q->wake);
}

/* ---- outcomes ---- */

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : NULL;
}

static void
set_error(struct spool_rcpt *r, const char *text)
{
	char *t = strdup(text);

	if (t == NULL)
		return;
	free(r->last_error);
	r->last_error = t;
}

/* one recipient's outcome into the envelope, logged Postfix-style */
static void
apply(struct qmsg *m, size_t i, const struct smtpc_result *res)
{
	const struct dsmtp_config *cfg = &m->q->cfg;
	struct spool_rcpt *r = &m->env.rcpts[i];
	int64_t now = (int64_t)time(NULL);
	const char *word;
	char text[700];

	if (!res->done)
		return;		/* not attempted (shutdown): no attempt counted */
	r->attempts++;
	switch (res->st) {
	case SMTPC_OK:
		r->state = SPOOL_RCPT_DELIVERED;
		word = "sent";
		break;
	case SMTPC_PERM:
		r->state = SPOOL_RCPT_FAILED;
		set_error(r, res->text);
		word = "bounced";
		break;
	case SMTPC_TEMP:
	default:
		set_error(r, res->text);
		if (smtpc_retry_expired(m->env.arrival, cfg->send.retry_lifetime, now)) {
			snprintf(text, sizeof(text), "message expired after %lld s in the queue; "
			    "last error: %s", (long long)(now - m->env.arrival), res->text);
			set_error(r, text);
			r->state = SPOOL_RCPT_FAILED;
			word = "expired";
			break;
		}
		r->next_attempt = now + smtpc_retry_delay(cfg->send.retry_first,
		    cfg->send.retry_max, r->attempts);
		word = "deferred";
		break;
	}
	diag_info("%s: to=<%s>, relay=%s, delay=%llds, attempts=%u, status=%s (%s)", m->id,
	    r->addr, res->mta[0] ? res->mta : "none", (long long)(now - m->env.arrival),
	    r->attempts, word, res->text);
}

static void	write_outcome(struct qmsg *m);

/* the DSN for every failed recipient, written but not yet committed (it
 * needs the message bytes, which go before the commit); NULL when there
 * is none to send -- every failed recipient is bounced at once for the
 * null sender (RFC 5321 6.1, no bounce loops) -- or it could not be
 * written (the failed recipients stay failed) */
static struct spool_msg *
bounce_prepare(struct qmsg *m)
{
	struct queue *q = m->q;
	struct smtpc_dsn_rcpt *dr;
	struct smtpc_dsn d;
	struct spool_msg *sm;
	struct dsmtp_err err;
	char *text = NULL, status[16];
	size_t n = 0, tlen;
	int rc;

	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].state == SPOOL_RCPT_FAILED)
			n++;
	if (n == 0)
		return NULL;
	if (m->env.sender[0] == '\0') {
		for (size_t i = 0; i < m->env.nrcpts; i++)
			if (m->env.rcpts[i].state == SPOOL_RCPT_FAILED) {
				m->env.rcpts[i].state = SPOOL_RCPT_BOUNCED;
				diag_info("%s: to=<%s>: failed; no bounce for the null sender",
				    m->id, m->env.rcpts[i].addr);
			}
		return NULL;
	}
	if ((dr = calloc(n, sizeof(*dr))) == NULL)
		return NULL;
	n = 0;
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct spool_rcpt *r = &m->env.rcpts[i];
		const char *e = r->last_error;

		if (r->state != SPOOL_RCPT_FAILED)
			continue;
		dr[n].addr = r->addr;
		dr[n].diagnostic = e[0] ? e : "delivery failed";
		/* "550 5.1.1 ..." carries its own status; else 5.0.0, and
		 * 4.4.7 for a message that outlived the retry lifetime */
		dr[n].status = strncmp(e, "message expired", 15) == 0 ? "4.4.7" : NULL;
		dr[n].remote_mta = NULL;
		n++;
	}
	/* statuses parsed from the diagnostics (kept in a scratch array) */
	{
		char (*st)[16] = calloc(n, sizeof(*st));

		if (st == NULL) {
			free(dr);
			return NULL;
		}
		for (size_t i = 0; i < n; i++) {
			if (dr[i].status == NULL) {
				struct smtpc_reply rr;
				char *t = strdup(dr[i].diagnostic);

				memset(&rr, 0, sizeof(rr));
				rr.text = t;
				rr.len = t ? strlen(t) : 0;
				rr.code = (t && rr.len >= 3 && t[0] >= '2' && t[0] <= '5') ?
				    atoi(t) : 550;
				smtpc_reply_status(&rr, status, sizeof(status));
				if (status[0] != '5' && status[0] != '4')
					snprintf(status, sizeof(status), "5.0.0");
				free(t);
				snprintf(st[i], sizeof(st[i]), "%s", status);
				dr[i].status = st[i];
			}
		}
		memset(&d, 0, sizeof(d));
		d.reporting_mta = q->cfg.hostname;
		d.sender = m->env.sender;
		d.queue_id = m->id;
		d.arrival = m->env.arrival;
		d.now = (int64_t)time(NULL);
		d.rcpts = dr;
		d.nrcpts = n;
		d.orig = m->data;
		d.origlen = m->len;
		rc = smtpc_dsn_build(&d, &text, &tlen);
		free(st);
	}
	free(dr);
	if (rc < 0)
		return NULL;
	if ((sm = spool_msg_new(q->sp, &err)) == NULL) {
		diag_warnx("%s: bounce: %s", m->id, err.msg);
		free(text);
		return NULL;
	}
	if (spool_msg_write(sm, text, tlen) < 0) {
		diag_warn("%s: bounce: write", m->id);
		spool_msg_abort(sm);
		free(text);
		return NULL;
	}
	free(text);
	return sm;
}

/* the bounce is on disk (or not): its recipients bounced and the bounce
 * scheduled, then the message's own outcome written */
static void
bounce_done(void *arg, int rc, const char *id, const char *why)
{
	struct qmsg *m = arg;

	if (rc == 0) {
		diag_info("%s: delivery status notification queued", id);
		sched_put(m->q, id, 0);
		for (size_t i = 0; i < m->env.nrcpts; i++)
			if (m->env.rcpts[i].state == SPOOL_RCPT_FAILED)
				m->env.rcpts[i].state = SPOOL_RCPT_BOUNCED;
	} else {
		diag_warnx("bounce not queued: %s", why ? why : "unknown error");
		diag_warnx("%s: bounce could not be queued; the failed recipients stay failed",
		    m->id);
	}
	write_outcome(m);
}

/* queue the bounce's commit (the spool copies the envelope at once) */
static void
bounce_commit(struct qmsg *m, struct spool_msg *sm)
{
	struct queue *q = m->q;
	struct spool_envelope be;
	struct spool_rcpt br;
	char client_name[] = "dsmtpc", null_sender[] = "";

	memset(&be, 0, sizeof(be));
	memset(&br, 0, sizeof(br));
	br.addr = m->env.sender;
	br.state = SPOOL_RCPT_PENDING;
	be.client = client_name;
	be.ehlo = q->cfg.hostname;
	be.sender = null_sender;
	be.rcpts = &br;
	be.nrcpts = 1;
	/* RFC 8689 5: the DSN of a REQUIRETLS message (headers only, as
	 * every DSN here) goes with REQUIRETLS where the next hop allows */
	if (m->env.flags & SPOOL_F_REQUIRETLS)
		be.flags = SPOOL_F_REQUIRETLS_DSN;
	/* done() comes from the loop, exactly once (-1 only for NULL args) */
	if (spool_msg_commit(sm, &be, bounce_done, m) < 0)
		bounce_done(m, -1, "", "spool_msg_commit refused its arguments");
}

/* what delivery needed: the jobs and the message bytes */
static void
msg_free_delivery(struct qmsg *m)
{
	while (m->jobs) {
		struct qjob *j = m->jobs;

		m->jobs = j->next;
		free(j->j.rcpts);
		free(j->j.res);
		free(j->idx);
		free(j);
	}
	free(m->data);
	m->data = NULL;
}

/* the outcome is written (or could not be): let go of the lease, and
 * schedule the message anew or forget it */
static void
msg_release(struct qmsg *m)
{
	struct queue *q = m->q;
	struct smtpc_sched_ent *s;

	spool_release(q->sp, m->id);
	if ((s = smtpc_sched_find(&q->sched, m->id)) != NULL) {
		s->inflight = false;
		if (m->finished)
			smtpc_sched_drop(&q->sched, s);
		else {
			s->due = env_due(&m->env);
			sched_fix(q, s);
		}
	}
	q->ncommitting--;
	spool_envelope_free(&m->env);
	free(m);
	kick(q);
	maybe_done(q);
}

static void
remove_done(void *arg, int rc, const char *id, const char *why)
{
	if (rc < 0)
		diag_warnx("%s: %s", id, why ? why : "removal failed");
	else
		diag_info("%s: removed (every recipient delivered or bounced)", id);
	msg_release(arg);
}

static void
update_done(void *arg, int rc, const char *id, const char *why)
{
	struct qmsg *m = arg;

	if (rc < 0) {
		diag_warnx("%s: spool update failed: %s", id, why ? why : "unknown error");
		msg_release(m);
	} else if (m->finished)
		(void)spool_remove_async(m->q->sp, m->id, remove_done, m);
	else
		msg_release(m);
}

/* the envelope back to the spool, then the message removed if it is
 * finished; both on the spool's worker thread, with the lease held */
static void
write_outcome(struct qmsg *m)
{
	m->finished = true;
	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].state == SPOOL_RCPT_PENDING ||
		    m->env.rcpts[i].state == SPOOL_RCPT_FAILED)
			m->finished = false;
	(void)spool_update_async(m->q->sp, m->id, &m->env, update_done, m);
}

/* every job of the message is done: out of flight (a new message may
 * start), then the bounce, the update and the removal, asynchronously;
 * m may be gone on return */
static void
msg_finish(struct qmsg *m)
{
	struct queue *q = m->q;
	struct spool_msg *bounce;

	if (m->prev)
		m->prev->next = m->next;
	else
		q->inflight = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->next = m->prev = NULL;
	q->ninflight--;
	q->inflight_bytes -= m->len;
	q->ncommitting++;
	bounce = bounce_prepare(m);
	msg_free_delivery(m);
	if (bounce)
		bounce_commit(m, bounce);
	else
		write_outcome(m);
	kick(q);
	maybe_done(q);
}

/* a job is over: its outcomes into the envelope; the last one finishes */
static void
job_done(struct smtpc_job *sj)
{
	struct qjob *j = (struct qjob *)sj;
	struct qmsg *m = j->m;

	for (size_t k = 0; k < j->j.nrcpts; k++) {
		apply(m, j->idx[k], &j->j.res[k]);
		if (j->j.res[k].done)
			smtpc_observe_delivery(j->dest->level, m->env.rcpts[j->idx[k]].state);
	}
	if (--m->pending == 0)
		msg_finish(m);
}

/* ---- starting a message ---- */

/* the message bytes into memory, checked against the envelope's CRC */
static int
load_data(struct queue *q, struct qmsg *m, struct dsmtp_err *err)
{
	size_t cap, len = 0;
	char *buf;
	int fd;

	if ((fd = spool_data_open(q->sp, m->id, err)) < 0)
		return -1;
	cap = m->env.size + 1;
	if ((buf = malloc(cap)) == NULL) {
		close(fd);
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	/* spool files are local: read(2) here is a bounded copy, not a wait
	 * on a peer */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *t = realloc(buf, cap * 2);

			if (t == NULL) {
				free(buf);
				close(fd);
				dsmtp_err_set(err, "out of memory");
				return -1;
			}
			buf = t;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dsmtp_err_set(err, "%s: read: %s", m->id, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	m->data = buf;
	m->len = len;
	return 0;
}

/* the message's job for a destination, made on first use */
static struct qjob *
job_for(struct qmsg *m, struct smtpc_dest *d)
{
	struct qjob *j;

	for (j = m->jobs; j; j = j->next)
		if (j->dest == d)
			return j;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->dest = d;
	j->m = m;
	j->j.sender = m->env.sender;
	j->j.flags = m->env.flags;
	j->j.data = m->data;
	j->j.len = m->len;
	j->j.done = job_done;
	j->next = m->jobs;
	m->jobs = j;
	return j;
}

/* one more recipient (index i of the envelope) for a job */
static int
job_add(struct qjob *j, struct qmsg *m, size_t i)
{
	char **r = realloc(j->j.rcpts, (j->j.nrcpts + 1) * sizeof(*r));
	size_t *x;
	struct smtpc_result *res;

	if (r == NULL)
		return -1;
	j->j.rcpts = r;
	if ((x = realloc(j->idx, (j->j.nrcpts + 1) * sizeof(*x))) == NULL)
		return -1;
	j->idx = x;
	if ((res = realloc(j->j.res, (j->j.nrcpts + 1) * sizeof(*res))) == NULL)
		return -1;
	j->j.res = res;
	memset(&res[j->j.nrcpts], 0, sizeof(*res));
	r[j->j.nrcpts] = m->env.rcpts[i].addr;
	x[j->j.nrcpts] = i;
	j->j.nrcpts++;
	return 0;
}

/* one recipient delivered here and now (maildir, discard, or refused) */
static void
local_result(struct qmsg *m, size_t i, enum smtpc_status st, const char *status, const char *text,
    const char *mta)
{
	struct smtpc_result res;

	memset(&res, 0, sizeof(res));
	res.done = true;
	res.st = st;
	snprintf(res.status, sizeof(res.status), "%s", status);
	snprintf(res.text, sizeof(res.text), "%s", text);
	snprintf(res.mta, sizeof(res.mta), "%s", mta);
	apply(m, i, &res);
}

/* lease, load, route every due recipient. s leaves the top of the
 * schedule: in flight, tried, later, or dropped */
static void
msg_start(struct queue *q, struct smtpc_sched_ent *s)
{
	struct qmsg *m;
	struct dsmtp_err err;
	int64_t now = (int64_t)time(NULL);
	bool any_remote = false, any_due = false, open = false;
	int rc;

	rc = spool_lease(q->sp, s->id, &err);
	if (rc == 1) {
		/* the committer keeps its lease until queue/ is fsync'd, or
		 * `dsmtpc flush` is at work: look again shortly */
		if (++s->busy >= BUSY_MAX && q->once)
			s->tried = true;	/* given up: once exits 75 */
		else
			s->not_before = now_d() + (s->busy > 6 ? BUSY_RETRY :
			    BUSY_RETRY_FIRST * (double)(1u << (s->busy - 1)));
		sched_fix(q, s);
		return;
	}
	if (rc < 0) {
		if (errno != ENOENT)
			diag_warnx("%s", err.msg);
		smtpc_sched_drop(&q->sched, s);
		return;
	}
	s->busy = 0;
	s->tried = true;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		spool_release(q->sp, s->id);
		s->not_before = now_d() + 1;
		sched_fix(q, s);
		return;
	}
	snprintf(m->id, sizeof(m->id), "%s", s->id);
	m->q = q;
	if (spool_load(q->sp, m->id, &m->env, &err) < 0) {
		if (errno != ENOENT)
			diag_warnx("%s", err.msg);
		spool_release(q->sp, m->id);
		smtpc_sched_drop(&q->sched, s);
		free(m);
		return;
	}
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct spool_rcpt *r = &m->env.rcpts[i];

		if (r->state == SPOOL_RCPT_FAILED || r->state == SPOOL_RCPT_PENDING)
			open = true;
		if (r->state == SPOOL_RCPT_FAILED)
			any_due = true;
		if (r->state == SPOOL_RCPT_PENDING && (r->next_attempt <= now ||
		    smtpc_retry_expired(m->env.arrival, q->cfg.send.retry_lifetime, now)))
			any_due = true;
	}
	/* every recipient delivered or bounced, yet still here: a stop came
	 * between the update and the removal; msg_finish removes it */
	if (!open)
		any_due = true;
	if (!any_due) {
		s->due = env_due(&m->env);
		sched_fix(q, s);
		spool_release(q->sp, m->id);
		spool_envelope_free(&m->env);
		free(m);
		return;
	}
	/* the bytes: needed for delivery and for the bounce's headers */
	if (load_data(q, m, &err) < 0) {
		diag_warnx("%s: %s", m->id, err.msg);
		spool_release(q->sp, m->id);
		smtpc_sched_drop(&q->sched, s);
		spool_envelope_free(&m->env);
		free(m);
		return;
	}
	s->inflight = true;
	sched_fix(q, s);
	q->inflight_bytes += m->len;
	m->next = q->inflight;
	if (q->inflight)
		q->inflight->prev = m;
	q->inflight = m;
	q->ninflight++;
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		struct spool_rcpt *r = &m->env.rcpts[i];
		struct policy_effective eff;
		const char *dom;
		struct qjob *j;
		struct smtpc_dest *d;
		char text[600];

		if (r->state != SPOOL_RCPT_PENDING)
			continue;
		if (smtpc_retry_expired(m->env.arrival, q->cfg.send.retry_lifetime, now)) {
			snprintf(text, sizeof(text), "message expired after %lld s in the queue; "
			    "last error: %s", (long long)(now - m->env.arrival),
			    r->last_error[0] ? r->last_error : "none");
			set_error(r, text);
			r->state = SPOOL_RCPT_FAILED;
			diag_info("%s: to=<%s>, status=expired (%s)", m->id, r->addr, text);
			continue;
		}
		if (r->next_attempt > now)
			continue;
		dom = domain_of(r->addr);
		if (dom == NULL || policy_effective(&q->cfg, dom, &eff, &err) < 0) {
			snprintf(text, sizeof(text), "550 5.1.2 <%s>: bad recipient domain%s%s",
			    r->addr, dom ? ": " : "", dom ? err.msg : "");
			local_result(m, i, SMTPC_PERM, "5.1.2", text, "none");
			continue;
		}
		if (eff.hop.kind == HOP_DISCARD) {
			local_result(m, i, SMTPC_OK, "2.0.0", "250 2.0.0 discarded (next_hop discard)",
			    "discard");
			continue;
		}
		if (eff.hop.kind == HOP_MAILDIR) {
			if (smtpc_maildir_deliver(eff.hop.path, q->cfg.hostname, m->env.sender,
			    r->addr, m->data, m->len, &err) < 0) {
				snprintf(text, sizeof(text), "451 4.3.0 maildir delivery failed: %s",
				    err.msg);
				local_result(m, i, SMTPC_TEMP, "4.3.0", text, "maildir");
			} else {
				snprintf(text, sizeof(text), "250 2.0.0 delivered to maildir:%.500s",
				    eff.hop.path);
				local_result(m, i, SMTPC_OK, "2.0.0", text, "maildir");
			}
			continue;
		}
		d = smtpc_dest_get_mode(&q->ctx, &eff.hop, eff.level, eff.domain, eff.pins,
		    eff.npins, smtpc_rt_dest_mode(m->env.flags));
		if (d == NULL || (j = job_for(m, d)) == NULL || job_add(j, m, i) < 0) {
			local_result(m, i, SMTPC_TEMP, "4.3.0", "451 4.3.0 out of memory", "none");
			continue;
		}
		any_remote = true;
	}
	if (!any_remote) {
		msg_finish(m);
		return;
	}
	/* count first, submit after: a job may finish inside submit */
	for (struct qjob *j = m->jobs; j; j = j->next)
		m->pending++;
	m->pending++;
	for (struct qjob *j = m->jobs; j; j = j->next)
		smtpc_dest_submit(j->dest, &j->j);
	if (--m->pending == 0)
		msg_finish(m);
}

/* start every due message the limits allow: O(log n) per message
 * started, and O(1) when none is due */
static void
dispatch(struct queue *q)
{
	double now = now_d();
	struct smtpc_sched_ent *s, *last = NULL;

	/* bounded in count and in bytes: messages are held whole in memory
	 * while they are delivered (one is always allowed) */
	while (!q->stopping && !at_capacity(q) && (s = smtpc_sched_top(&q->sched)) != NULL &&
	    smtpc_sched_ready_at(s) <= now) {
		if (s == last) {
			/* msg_start always moves it; should it not, never spin */
			diag_warnx("%s: scheduling stalled; trying again in a second", s->id);
			s->not_before = now + 1;
			sched_fix(q, s);
			continue;
		}
		last = s;
		msg_start(q, s);
	}
	arm_wake(q);
}

/* once: everything due was tried, every session ended and every outcome
 * is written; stopping: every outcome is written */
static void
maybe_done(struct queue *q)
{
	if (q->stopping) {
		if (q->ninflight == 0 && q->ncommitting == 0) {
			q->done = true;
			ev_break(q->loop, EVBREAK_ALL);
		}
		return;
	}
	if (!q->once || q->ninflight > 0 || q->ncommitting > 0)
		return;
	/* bounces queued in this run are due (0) and untried: they count */
	if (smtpc_sched_pending(&q->sched) > 0)
		return;
	if (q->ctx.nsessions > 0) {
		/* nothing left to carry: the idle ones say QUIT (each end
		 * comes back here through ctx_idle) */
		smtpc_ctx_quit_idle(&q->ctx);
		return;
	}
	/* ev_run forgets a break that came before it: remember it too */
	q->done = true;
	ev_break(q->loop, EVBREAK_ALL);
}

/* a session ended: once may be done */
static void
ctx_idle(struct smtpc *ctx)
{
	maybe_done((struct queue *)ctx->arg);
}

/* ---- events ---- */

/* the timer: start what is due */
static void
wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue *q = w->data;

	(void)loop;
	(void)revents;
	dispatch(q);
	maybe_done(q);
}

/* inotify: ID.e renamed into queue/ is a new or changed message */
static void
ino_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct queue *q = w->data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)loop;
	(void)revents;
	while ((n = read(q->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			size_t l = e->len ? strlen(e->name) : 0;

			if (l == SPOOL_ID_LEN + 2 && strcmp(e->name + SPOOL_ID_LEN, ".e") == 0) {
				char id[SPOOL_ID_SIZE];

				memcpy(id, e->name, SPOOL_ID_LEN);
				id[SPOOL_ID_LEN] = '\0';
				learn(q, id);
			}
			/* ID.d closed by its writer: the lease we found busy is free */
			if (l == SPOOL_ID_LEN + 2 && strcmp(e->name + SPOOL_ID_LEN, ".d") == 0)
				(void)smtpc_sched_lease_freed(&q->sched, e->name);
			if (e->mask & IN_Q_OVERFLOW)
				scan(q);
			p += sizeof(*e) + e->len;
		}
	}
	dispatch(q);
}

/* DESIGN.md 8 and issue 6: dsmtpc, like dsmtpd, refuses to run a
 * configuration whose policy checks fail, our certificate's coverage of
 * every domain-secure namespace included */
static int
start_checks(struct queue *q)
{
	struct policy_check r = { policy_emit_diag, NULL, 0, 0 };
	const struct tls_cert_facts *ours = tls_creds_local(q->ctx.creds, NULL);

	policy_check_config(&r, &q->cfg);
	if (ours)
		policy_check_certificate(&r, &q->cfg, ours, time(NULL));
	else if (config_domain_secure_used(&q->cfg)) {
		diag_warnx("policy: error: domain security is configured but we have no certificate "
		    "to present (dsmtp-cert new, or certificates: in the configuration)");
		r.errors++;
	}
	if (r.errors)
		diag_warnx("the configuration has %u policy error(s); not starting", r.errors);
	return r.errors ? -1 : 0;
}

/* SIGHUP: our certificate anew, checked as at start. Sessions in flight
 * hold references to the credentials they started with; dropping ours
 * frees the old set when the last of them ends (issue 14: keeping every
 * replaced set grew an idle dsmtpc by 16 MB over 490 reloads). */
static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queue *q = w->data;
	struct policy_check r = { policy_emit_diag, NULL, 0, 0 };
	struct dsmtp_err err = { "" };
	struct tls_creds *nc;
	const struct tls_cert_facts *ours;

	(void)loop;
	(void)revents;
	/* logs.peers: connections from now on take the new levels */
	if (plog_peers_reload(&q->cfg, &q->ctx.plog, PLOG_SEND, &err) < 0)
		diag_warnx("SIGHUP: keeping the old logs.peers: %s", err.msg);
	nc = tls_creds_client(&q->cfg, q->ctx.trust, q->cfg.send.client_cert, &err);
	if (nc == NULL) {
		diag_warnx("SIGHUP: keeping the old certificate: %s", err.msg);
		return;
	}
	if ((ours = tls_creds_local(nc, NULL)) != NULL)
		policy_check_certificate(&r, &q->cfg, ours, time(NULL));
	if (r.errors) {
		diag_warnx("SIGHUP: keeping the old certificate (%u policy error(s))", r.errors);
		tls_creds_free(nc);
		return;
	}
	tls_creds_free(q->ctx.creds);
	q->ctx.creds = nc;
	smtpc_metrics_certs(&q->cfg, q->ctx.creds);
	diag_info("SIGHUP: certificate reloaded%s%s", ours ? ": " : "", ours ? ours->subject : "");
}

/* SIGTERM/SIGINT: abandon sessions, write what is known, stop */
static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queue *q = w->data;

	(void)revents;
	if (q->stopping)
		return;
	diag_info("%s: stopping (sessions that sent a message wait for its reply, the "
	    "others are abandoned; nothing not delivered is marked delivered)",
	    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	q->stopping = true;
	ev_timer_stop(loop, &q->wake);
	if (q->ino_fd >= 0)
		ev_io_stop(loop, &q->ino);
	smtpc_ctx_abort(&q->ctx, true);
	/* the loop ends when the last message in flight is written */
	maybe_done(q);
}

/* is anything still waiting in the spool? */
static bool
anything_pending(struct queue *q)
{
	struct spool_envelope *envs;
	struct dsmtp_err err;
	size_t n;
	bool pending = false;

	if (spool_list(q->sp, &envs, &n, &err) < 0)
		return true;
	for (size_t i = 0; i < n && !pending; i++)
		for (size_t r = 0; r < envs[i].nrcpts; r++)
			if (envs[i].rcpts[r].state == SPOOL_RCPT_PENDING ||
			    envs[i].rcpts[r].state == SPOOL_RCPT_FAILED)
				pending = true;
	spool_list_free(envs, n);
	return pending;
}

/* run and once: open everything, deliver, close everything */
static int
queue_main(int argc, char **argv, const char *config_path, bool once)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct queue *q;
	struct dsmtp_err err = { "" };
	char qdir[4096];
	sigset_t sigs;
	int ch, rc = 0, ps;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("Usage: dsmtpc [-c FILE] %s\n%s\n", once ? "once" : "run",
			    once ? "Deliver everything due now and exit (0 done, 75 something is "
			    "still deferred)." : "Watch the spool and deliver until SIGTERM.");
			return 0;
		}
		return EX_DSMTP_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", diag_progname(), argv[optind]);
		return EX_DSMTP_USAGE;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return EX_DSMTP_OSERR;
	q->ino_fd = -1;
	q->once = once;
	config_load_or_exit(config_path, &q->cfg);
	signal(SIGPIPE, SIG_IGN);
	/* a SIGHUP or SIGTERM before its watcher is up waits for it instead
	 * of killing us (a reload hook racing the start); threads started
	 * from here on (the spool's, the resolver's) keep them blocked */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (config_state_path(&q->cfg, "queue", qdir, sizeof(qdir), &err) < 0) {
		diag_warnx("state_dir: %s", err.msg);
		rc = EX_DSMTP_CANTCREAT;
		goto out_cfg;
	}
	/* DESIGN.md 13.4: started as root, this process only supervises and
	 * a child delivers as `user` (smtpc/privsep.c) */
	if ((ps = smtpc_privsep(&q->cfg, &rc)) != 0) {
		once = ps > 0 || once;	/* no second "stopped" */
		goto out_cfg;
	}
	/* the metrics process next (forked by the delivering process, so it
	 * runs as `user` too), while this one has no thread yet */
	if (!once && (q->metrics_pid = smtpc_metrics_start(&q->cfg, qdir, &err)) < 0) {
		diag_warnx("%s", err.msg);
		rc = EX_DSMTP_UNAVAILABLE;
		goto out_cfg;
	}
	q->loop = ev_loop_new(EVFLAG_AUTO);
	if (q->loop == NULL) {
		rc = EX_DSMTP_OSERR;
		goto out_cfg;
	}
	/* with the loop: updates and removals are fsync'd on the spool's
	 * worker thread, in groups, never on the loop */
	if ((q->sp = spool_open(qdir, q->loop, &err)) == NULL) {
		diag_warnx("spool %s: %s", qdir, err.msg);
		rc = EX_DSMTP_CANTCREAT;
		goto out_loop;
	}
	if (smtpc_ctx_init(&q->ctx, q->loop, &q->cfg, true, &err) < 0) {
		diag_warnx("%s", err.msg);
		rc = EX_DSMTP_CONFIG;
		goto out_spool;
	}
	smtpc_metrics_certs(&q->cfg, q->ctx.creds);
	if (start_checks(q) < 0) {
		smtpc_ctx_free(&q->ctx);
		rc = EX_DSMTP_CONFIG;
		goto out_spool;
	}
	q->ctx.idle = ctx_idle;
	q->ctx.arg = q;
	q->max_leases = inflight_limit(q->ctx.max_parallel);
	/* a finished session waits a moment for the next message to its
	 * destination, as Postfix's connection cache does; once ends the idle
	 * ones when nothing is left */
	q->ctx.idle_keep = (double)q->cfg.send.connection_cache_time;
	ev_init(&q->wake, wake_cb);
	q->wake.data = q;
	ev_signal_init(&q->sighup, hup_cb, SIGHUP);
	q->sighup.data = q;
	ev_signal_start(q->loop, &q->sighup);
	ev_signal_init(&q->sigterm, stop_cb, SIGTERM);
	ev_signal_init(&q->sigint, stop_cb, SIGINT);
	q->sigterm.data = q->sigint.data = q;
	ev_signal_start(q->loop, &q->sigterm);
	ev_signal_start(q->loop, &q->sigint);
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);
	if (!once) {
		/* before the scan: a message committed in between is not missed */
		q->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (q->ino_fd < 0 || inotify_add_watch(q->ino_fd, qdir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
			diag_warn("inotify on %s", qdir);
			rc = EX_DSMTP_OSERR;
			goto out_ctx;
		}
		ev_io_init(&q->ino, ino_cb, q->ino_fd, EV_READ);
		q->ino.data = q;
		ev_io_start(q->loop, &q->ino);
		diag_info("%s: delivering from %s (max_parallel %u)", PACKAGE_STRING, qdir,
		    q->ctx.max_parallel);
		smtpc_tlsrpt_daemon_start(q->loop, &q->cfg, config_path);	/* RFC 8460 */
	}
	q->start = now_d();
	if (smtpc_sched_init(&q->sched, once, q->start) < 0) {
		diag_warnx("out of memory");
		rc = EX_DSMTP_OSERR;
		goto out_ctx;
	}
	scan(q);
	dispatch(q);
	maybe_done(q);
	if (!q->done)
		ev_run(q->loop, 0);
	if (q->stopping) {
		/* nothing may still hold a job of a message finished here */
		smtpc_ctx_abort(&q->ctx, false);
		while (q->inflight)
			msg_finish(q->inflight);
	}
	/* outcomes still being written keep their lease until written:
	 * wait for every one (nothing lost, nothing sent twice) */
	while (q->ncommitting > 0)
		ev_run(q->loop, EVRUN_ONCE);
	if (once)
		rc = anything_pending(q) ? EX_DSMTP_TEMPFAIL : 0;
out_ctx:
	smtpc_tlsrpt_daemon_stop(q->loop);
	ev_signal_stop(q->loop, &q->sigterm);
	ev_signal_stop(q->loop, &q->sigint);
	ev_signal_stop(q->loop, &q->sighup);
	ev_timer_stop(q->loop, &q->wake);
	if (q->ino_fd >= 0) {
		ev_io_stop(q->loop, &q->ino);
		close(q->ino_fd);
	}
	smtpc_ctx_free(&q->ctx);
out_spool:
	spool_close(q->sp);
out_loop:
	ev_loop_destroy(q->loop);
out_cfg:
	metrics_child_stop(q->metrics_pid);
	config_free(&q->cfg);
	smtpc_sched_free(&q->sched);
	free(q);
	if (!once && rc == 0)
		diag_info("stopped");
	return rc;
}

int
smtpc_cmd_run(int argc, char **argv, const char *config_path)
{
	return queue_main(argc, argv, config_path, false);
}

int
smtpc_cmd_once(int argc, char **argv, const char *config_path)
{
	return queue_main(argc, argv, config_path, true);
}
