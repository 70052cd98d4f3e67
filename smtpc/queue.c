/* queue.c: the delivery scheduler behind `dsmtpc run` and `dsmtpc once`
 * (DESIGN.md sections 4 and 10): which message starts when. It keeps the
 * schedule of known messages (index by id, heap by due time: sched.c's),
 * learns of messages from the spool at start and as inotify reports them
 * (queue_daemon.c), leases each due message within the limits on leases
 * and bytes held, groups its due recipients by route and next hop, and
 * hands the groups to client.c (or delivers locally: maildir, discard).
 * What becomes of each outcome (the envelope, retries, bounces, removal)
 * is queue_outcome.c's; the daemon's start, signals and reload are
 * queue_daemon.c's. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "smtpc/iothread.h"
#include "smtpc/queue_int.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"

double
smtpc_q_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the schedule (smtpc/sched.c) ---- */

/* know a message, or change when it is due */
void
smtpc_q_sched_put(struct queue *q, const char *id, double due)
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
void
smtpc_q_sched_fix(struct queue *q, struct smtpc_sched_ent *e)
{
	if (smtpc_sched_fix(&q->sched, e) < 0)
		diag_warnx("out of memory: message %s not scheduled", e->id);
}

/* when an envelope wants attention: the earliest pending recipient, or
 * now when a failed one still needs its bounce, or now when nothing is
 * left to do but the removal (a stop between the update and the removal) */
double
smtpc_q_env_due(const struct spool_envelope *env)
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
void
smtpc_q_learn(struct queue *q, const char *id)
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
	smtpc_q_sched_put(q, id, smtpc_q_env_due(&env));
	spool_envelope_free(&env);
}

/* every message in the spool into the schedule (at start, on overflow) */
void
smtpc_q_scan(struct queue *q)
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
		smtpc_q_sched_put(q, envs[i].id, smtpc_q_env_due(&envs[i]));
	}
	spool_list_free(envs, n);
}

/* a message holds its lease (an open ID.d) from its start until its
 * outcome is written, so messages still being written count too: a slow
 * disk must not let leases pile up past the open-files limit */
static bool
at_capacity(const struct queue *q)
{
	return q->ninflight + q->nstarting >= q->max_leases / 2 ||
	    q->ninflight + q->nstarting + q->ncommitting >= q->max_leases ||
	    (q->ninflight > 0 && q->inflight_bytes >= INFLIGHT_BYTES);
}

/* how many messages may hold a lease at once: eight per session (half of
 * them in delivery, the rest waiting for their outcome's write), within
 * the open-files limit (lifted to the hard limit first), which must also
 * hold the sessions' sockets and an envelope file per outcome being
 * written */
unsigned
smtpc_q_inflight_limit(unsigned max_parallel)
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
	now = smtpc_q_now();
	ev_timer_set(&q->wake, next > now ? next - now + 0.001 : 0., 0.);
	ev_timer_start(q->loop, &q->wake);
}

/* look at the schedule again from the loop, soon */
void
smtpc_q_kick(struct queue *q)
{
	if (q->stopping)
		return;
	/* not from here: local deliveries finish inside dispatch, and
	 * recursion would grow the stack with the queue */
	ev_timer_stop(q->loop, &q->wake);
	ev_timer_set(&q->wake, 0., 0.);
	ev_timer_start(q->loop, &q->wake);
}

/* ---- starting a message ---- */

/* a message being leased and read on the I/O thread (nothing of this
 * touches the loop's state until done) */
struct qload {
	struct smtpc_io_job	 io;
	struct queue		*q;
	struct qmsg		*m;
	int64_t			 now;
	int64_t			 lifetime;	/* send.retry.lifetime, copied: a
						 * reload may change q->cfg meanwhile */
	enum { QL_BUSY, QL_LEASE, QL_LOAD, QL_NOT_DUE, QL_DATA, QL_OK } st;
	int			 eno;
	struct dsmtp_err	 err;
};

/* is anything of the envelope to be done now? (a failed recipient's
 * bounce, a due or expired pending one, or the removal of a message a
 * stop caught between its update and its removal) */
static bool
env_any_due(const struct spool_envelope *env, int64_t lifetime, int64_t now)
{
	bool open = false;

	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct spool_rcpt *r = &env->rcpts[i];

		if (r->state == SPOOL_RCPT_FAILED)
			return true;
		if (r->state == SPOOL_RCPT_PENDING) {
			open = true;
			if (r->next_attempt <= now || smtpc_retry_expired(env->arrival, lifetime, now))
				return true;
		}
	}
	return !open;
}

/* on the I/O thread: the lease, the envelope, and the message's first
 * SMTPC_BODY_CHUNK bytes (all of a small message, whose CRC is checked
 * here, before a byte of it is sent; a bigger one keeps its descriptor
 * and is checked as it is sent: client_body.c, maildir.c) */
static void
load_run(struct smtpc_io_job *io)
{
	struct qload *l = (struct qload *)io;
	struct qmsg *m = l->m;
	struct spool *sp = l->q->sp;
	struct spool_data d;
	size_t want, got;
	ssize_t n;
	int rc;

	if ((rc = spool_lease(sp, m->id, &l->err)) != 0) {
		l->st = rc == 1 ? QL_BUSY : QL_LEASE;
		l->eno = errno;
		return;
	}
	if (spool_load(sp, m->id, &m->env, &l->err) < 0) {
		l->st = QL_LOAD;
		l->eno = errno;
		return;
	}
	if (!env_any_due(&m->env, l->lifetime, l->now)) {
		l->st = QL_NOT_DUE;
		return;
	}
	l->st = QL_DATA;
	if (spool_data_get(sp, m->id, false, &d, &l->err) < 0) {
		l->eno = errno;
		return;
	}
	want = d.len < SMTPC_BODY_CHUNK ? (size_t)d.len : SMTPC_BODY_CHUNK;
	if (d.len >= SIZE_MAX || (m->data = malloc(want + 1)) == NULL) {
		close(d.fd);
		dsmtp_err_set(&l->err, "%s: out of memory", m->id);
		return;
	}
	if ((n = spool_data_read(d.fd, m->data, want, d.off)) < 0) {
		dsmtp_err_set(&l->err, "%s: read: %s", m->id, strerror(errno));
		close(d.fd);
		return;
	}
	got = (size_t)n;
	m->dlen = got;
	m->data_crc = spool_data_crc(0, m->data, got);
	if (got < want || d.len == got) {
		/* all of it (or a file cut short): checked now */
		close(d.fd);
		if (spool_data_check(sp, m->id, &d, got, m->data_crc, &l->err) < 0)
			return;
		m->fd = -1;
	} else
		m->fd = d.fd;
	m->len = (size_t)d.len;
	m->off = d.off;
	m->crc = d.crc;
	l->st = QL_OK;
}

static void load_done(struct smtpc_io_job *io);

/* lease and read the message off the loop; the rest (routing, the
 * jobs) is load_done's, on the loop. s leaves the top of the schedule */
static void
msg_start(struct queue *q, struct smtpc_sched_ent *s)
{
	struct qload *l = calloc(1, sizeof(*l));
	struct qmsg *m = calloc(1, sizeof(*m));

	if (l == NULL || m == NULL) {
		free(l);
		free(m);
		s->not_before = smtpc_q_now() + 1;
		smtpc_q_sched_fix(q, s);
		return;
	}
	snprintf(m->id, sizeof(m->id), "%s", s->id);
	m->q = q;
	m->fd = -1;
	l->q = q;
	l->m = m;
	l->now = (int64_t)time(NULL);
	l->lifetime = q->cfg.send.retry_lifetime;
	l->io.run = load_run;
	l->io.done = load_done;
	/* in flight from now on: never started twice, never dropped */
	s->inflight = true;
	smtpc_q_sched_fix(q, s);
	q->nstarting++;
	smtpc_io_submit(q->ctx.io, &l->io);
}

/* what a start that came to nothing leaves: the message's memory */
static void
qmsg_free_unstarted(struct qmsg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->data);
	spool_envelope_free(&m->env);
	free(m);
}

/* where a job finds the message's bytes (struct smtpc_job's body fields) */
static void
body_of(const struct qmsg *m, struct smtpc_job *j)
{
	j->data = m->data;
	j->dlen = m->dlen;
	j->len = m->len;
	j->body_fd = m->fd;
	j->body_off = m->off;
	j->data_crc = m->data_crc;
	j->body_crc = m->crc;
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
	body_of(m, &j->j);
	j->j.done = smtpc_q_job_done;
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
	smtpc_q_apply(m, i, &res);
}

/* a maildir delivery, on the I/O thread (it fsyncs) */
struct qlocal {
	struct smtpc_io_job	 io;
	struct qmsg		*m;
	size_t			 i;		/* the recipient */
	char			*path;
	char			*hostname;
	struct smtpc_job	 body;		/* the message's bytes (body fields only) */
	int			 rc;
	bool			 damaged;
	struct dsmtp_err	 err;
};

static void
maildir_run(struct smtpc_io_job *io)
{
	struct qlocal *ml = (struct qlocal *)io;
	struct qmsg *m = ml->m;

	ml->rc = smtpc_maildir_deliver(ml->path, ml->hostname, m->env.sender,
	    m->env.rcpts[ml->i].addr, &ml->body, &ml->damaged, &ml->err);
}

static void
maildir_done(struct smtpc_io_job *io)
{
	struct qlocal *ml = (struct qlocal *)io;
	struct qmsg *m = ml->m;
	char text[600];

	if (ml->rc < 0) {
		snprintf(text, sizeof(text), "451 4.3.0 maildir delivery failed: %s", ml->err.msg);
		local_result(m, ml->i, SMTPC_TEMP, "4.3.0", text, "maildir");
		if (ml->damaged)
			smtpc_q_msg_damaged(m, ml->err.msg);
	} else {
		snprintf(text, sizeof(text), "250 2.0.0 delivered to maildir:%.500s", ml->path);
		local_result(m, ml->i, SMTPC_OK, "2.0.0", text, "maildir");
	}
	free(ml->path);
	free(ml->hostname);
	free(ml);
	if (--m->pending == 0)
		smtpc_q_msg_finish(m);
}

/* hand a maildir delivery to the I/O thread (counted in m->pending) */
static int
maildir_start(struct queue *q, struct qmsg *m, size_t i, const char *path)
{
	struct qlocal *ml = calloc(1, sizeof(*ml));

	if (ml == NULL || (ml->path = strdup(path)) == NULL ||
	    (ml->hostname = strdup(q->cfg.hostname)) == NULL) {
		if (ml)
			free(ml->path);
		free(ml);
		return -1;
	}
	ml->m = m;
	ml->i = i;
	body_of(m, &ml->body);
	ml->io.run = maildir_run;
	ml->io.done = maildir_done;
	m->pending++;
	smtpc_io_submit(q->ctx.io, &ml->io);
	return 0;
}

/* the message is leased and read (or not): route every due recipient */
static void
load_done(struct smtpc_io_job *io)
{
	struct qload *l = (struct qload *)io;
	struct queue *q = l->q;
	struct qmsg *m = l->m;
	struct smtpc_sched_ent *s = smtpc_sched_find(&q->sched, m->id);
	struct dsmtp_err err;
	int64_t now = l->now;
	bool any_remote = false;
	int st = l->st;

	q->nstarting--;
	if (st != QL_BUSY && st != QL_LEASE && st != QL_OK)
		spool_release(q->sp, m->id);
	if (s == NULL) {
		/* never: an entry in flight is not dropped */
		diag_warnx("%s: not in the schedule after its start", m->id);
		if (st == QL_OK)
			spool_release(q->sp, m->id);
		qmsg_free_unstarted(m);
		free(l);
		return;
	}
	s->inflight = false;
	switch (st) {
	case QL_BUSY:
		/* the committer keeps its lease until queue/ is fsync'd, or
		 * `dsmtpc flush` is at work: look again shortly */
		if (++s->busy >= BUSY_MAX && q->once)
			s->tried = true;	/* given up: once exits 75 */
		else
			s->not_before = smtpc_q_now() + (s->busy > 6 ? BUSY_RETRY :
			    BUSY_RETRY_FIRST * (double)(1u << (s->busy - 1)));
		smtpc_q_sched_fix(q, s);
		break;
	case QL_LEASE:
	case QL_LOAD:
	case QL_DATA:
		if (st == QL_DATA || l->eno != ENOENT)
			diag_warnx("%s", l->err.msg);
		if (st != QL_LEASE)
			s->tried = true;
		smtpc_sched_drop(&q->sched, s);
		break;
	case QL_NOT_DUE:
		s->busy = 0;
		s->tried = true;
		s->due = smtpc_q_env_due(&m->env);
		smtpc_q_sched_fix(q, s);
		break;
	case QL_OK:
		s->busy = 0;
		s->tried = true;
		if (q->stopping) {
			/* a stop came meanwhile: not started, still due */
			spool_release(q->sp, m->id);
			smtpc_q_sched_fix(q, s);
			break;
		}
		s->inflight = true;
		smtpc_q_sched_fix(q, s);
		st = -1;	/* started: m is the queue's now */
		break;
	}
	free(l);
	if (st != -1) {
		qmsg_free_unstarted(m);
		smtpc_q_kick(q);
		smtpc_q_maybe_done(q);
		return;
	}
	q->inflight_bytes += m->dlen;
	m->next = q->inflight;
	if (q->inflight)
		q->inflight->prev = m;
	q->inflight = m;
	q->ninflight++;
	/* counted first, submitted after: a job may finish inside submit */
	m->pending = 1;
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
			smtpc_q_set_error(r, text);
			r->state = SPOOL_RCPT_FAILED;
			diag_info("%s: to=<%s>, status=expired (%s)", m->id, r->addr, text);
			continue;
		}
		if (r->next_attempt > now)
			continue;
		dom = smtpc_q_domain_of(r->addr);
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
			if (maildir_start(q, m, i, eff.hop.path) < 0)
				local_result(m, i, SMTPC_TEMP, "4.3.0", "451 4.3.0 out of memory",
				    "maildir");
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
	if (any_remote) {
		for (struct qjob *j = m->jobs; j; j = j->next)
			m->pending++;
		for (struct qjob *j = m->jobs; j; j = j->next)
			smtpc_dest_submit(j->dest, &j->j);
	}
	if (--m->pending == 0)
		smtpc_q_msg_finish(m);
	else
		smtpc_q_kick(q);	/* room for the next start, maybe */
}

/* start every due message the limits allow: O(log n) per message
 * started, and O(1) when none is due */
void
smtpc_q_dispatch(struct queue *q)
{
	double now = smtpc_q_now();
	struct smtpc_sched_ent *s, *last = NULL;

	/* bounded in count and in bytes: a message's first chunk (all of a
	 * small one) is held in memory while it is delivered (one is always
	 * allowed) */
	while (!q->stopping && !at_capacity(q) && (s = smtpc_sched_top(&q->sched)) != NULL &&
	    smtpc_sched_ready_at(s) <= now) {
		if (s == last) {
			/* msg_start always moves it; should it not, never spin */
			diag_warnx("%s: scheduling stalled; trying again in a second", s->id);
			s->not_before = now + 1;
			smtpc_q_sched_fix(q, s);
			continue;
		}
		last = s;
		msg_start(q, s);
	}
	arm_wake(q);
}

/* once: everything due was tried, every session ended and every outcome
 * is written; stopping: every outcome is written */
void
smtpc_q_maybe_done(struct queue *q)
{
	if (q->stopping) {
		if (q->ninflight == 0 && q->ncommitting == 0 && q->nstarting == 0) {
			q->done = true;
			ev_break(q->loop, EVBREAK_ALL);
		}
		return;
	}
	if (!q->once || q->ninflight > 0 || q->ncommitting > 0 || q->nstarting > 0)
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

