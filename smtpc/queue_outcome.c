/* queue_outcome.c: what the scheduler does with a delivery's outcome:
 * each recipient's result into the envelope (delivered; deferred with
 * exponential backoff; failed, or expired after send.retry_lifetime),
 * logged Postfix-style; a failed recipient's RFC 3464 DSN queued through
 * the spool (never for the null sender; REQUIRETLS-marked for a
 * REQUIRETLS message, RFC 8689 5); then the envelope written back and the
 * message removed once every recipient is delivered or bounced. Those
 * writes go to the spool's worker thread (group commit): the loop never
 * waits for an fsync, and a message keeps its lease until its outcome is
 * on disk. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/spool.h"
#include "smtpc/iothread.h"
#include "smtpc/queue_int.h"
#include "smtpc/smtpc.h"

/* ---- outcomes ---- */

const char *
smtpc_q_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : NULL;
}

void
smtpc_q_set_error(struct spool_rcpt *r, const char *text)
{
	char *t = strdup(text);

	if (t == NULL)
		return;
	free(r->last_error);
	r->last_error = t;
}

/* one recipient's outcome into the envelope, logged Postfix-style */
void
smtpc_q_apply(struct qmsg *m, size_t i, const struct smtpc_result *res)
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
		smtpc_q_set_error(r, res->text);
		word = "bounced";
		break;
	case SMTPC_TEMP:
	default:
		smtpc_q_set_error(r, res->text);
		if (smtpc_retry_expired(m->env.arrival, cfg->send.retry_lifetime, now)) {
			snprintf(text, sizeof(text), "message expired after %lld s in the queue; "
			    "last error: %s", (long long)(now - m->env.arrival), res->text);
			smtpc_q_set_error(r, text);
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
		/* the headers: within the first chunk, which is held */
		d.orig = m->data;
		d.origlen = m->dlen;
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
		smtpc_q_sched_put(m->q, id, 0);
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
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
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
			s->due = smtpc_q_env_due(&m->env);
			smtpc_q_sched_fix(q, s);
		}
	}
	q->ncommitting--;
	spool_envelope_free(&m->env);
	free(m);
	smtpc_q_kick(q);
	smtpc_q_maybe_done(q);
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

	if (rc < 0)
		diag_warnx("%s: spool update failed: %s", id, why ? why : "unknown error");
	msg_release(m);
}

/* the envelope back to the spool, or the message removed if it is
 * finished; on the spool's worker thread, with the lease held */
static void
write_outcome(struct qmsg *m)
{
	m->finished = true;
	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].state == SPOOL_RCPT_PENDING ||
		    m->env.rcpts[i].state == SPOOL_RCPT_FAILED)
			m->finished = false;
	/* finished: removed at once, as Postfix's qmgr deletes a queue file
	 * when its last recipient is done (writing the outcome first cost a
	 * new file, two fsyncs and a rename per message, and narrowed no
	 * window that matters: a crash before the removal is durable
	 * delivers it again either way) */
	if (m->finished)
		(void)spool_remove_finished_async(m->q->sp, m->id, &m->env, remove_done, m);
	else
		(void)spool_update_async(m->q->sp, m->id, &m->env, update_done, m);
}

/* a damaged message, on the I/O thread: moved to quarantine/ with the
 * reason (spool.c), under our lease */
struct qquar {
	struct smtpc_io_job	 io;
	struct qmsg		*m;
};

static void
quarantine_run(struct smtpc_io_job *io)
{
	struct qmsg *m = ((struct qquar *)io)->m;

	spool_data_damaged(m->q->sp, m->id, m->damage);
}

static void
quarantine_done(struct smtpc_io_job *io)
{
	struct qmsg *m = ((struct qquar *)io)->m;

	free(io);
	m->finished = true;	/* gone from queue/: forget it */
	msg_release(m);
}

static void
quarantine_start(struct qmsg *m)
{
	struct qquar *qq = calloc(1, sizeof(*qq));

	if (qq == NULL) {
		/* no memory even for this: the next attempt finds it again */
		diag_warnx("%s: %s; out of memory, not quarantined", m->id, m->damage);
		msg_release(m);
		return;
	}
	qq->m = m;
	qq->io.run = quarantine_run;
	qq->io.done = quarantine_done;
	smtpc_io_submit(m->q->ctx.io, &qq->io);
}

void
smtpc_q_msg_damaged(struct qmsg *m, const char *why)
{
	if (!m->damaged)
		snprintf(m->damage, sizeof(m->damage), "%s", why);
	m->damaged = true;
}

/* every job of the message is done: out of flight (a new message may
 * start), then the bounce, the update and the removal, asynchronously;
 * m may be gone on return */
void
smtpc_q_msg_finish(struct qmsg *m)
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
	q->inflight_bytes -= m->dlen;
	q->ncommitting++;
	if (m->damaged) {
		msg_free_delivery(m);
		quarantine_start(m);
		smtpc_q_kick(q);
		return;
	}
	bounce = bounce_prepare(m);
	msg_free_delivery(m);
	if (bounce)
		bounce_commit(m, bounce);
	else
		write_outcome(m);
	smtpc_q_kick(q);
	smtpc_q_maybe_done(q);
}

/* a job is over: its outcomes into the envelope; the last one finishes */
void
smtpc_q_job_done(struct smtpc_job *sj)
{
	struct qjob *j = (struct qjob *)sj;
	struct qmsg *m = j->m;

	if (j->j.damaged)
		smtpc_q_msg_damaged(m, "message data damaged in the spool: the bytes read while "
		    "sending do not match the envelope's size and CRC");
	for (size_t k = 0; k < j->j.nrcpts; k++) {
		smtpc_q_apply(m, j->idx[k], &j->j.res[k]);
		if (j->j.res[k].done)
			smtpc_observe_delivery(j->dest->level, m->env.rcpts[j->idx[k]].state);
	}
	if (--m->pending == 0)
		smtpc_q_msg_finish(m);
}

