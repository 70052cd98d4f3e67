/* spool_update.c: changing a message already in queue/ (DESIGN.md section
 * 10): rewriting its envelope, removing it once it is finished, and
 * flush. Every change is one job of the group commit (spool_commit.c),
 * checked and encoded here under the message's lease (spool.c): the
 * asynchronous calls hand the job to the worker, the synchronous ones run
 * the very same job at once on the caller's thread. So there is one path
 * for both -- the same temporary file, fsyncs, renames and directory
 * fsync -- and the order on disk is spool_commit.c's alone. */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/spool_int.h"

/* run a change under sp's lease, or one taken just for it (*temp) */
static int
with_lease(struct spool *sp, const char *id, bool *temp, struct dsmtp_err *err)
{
	int rc;

	*temp = false;
	if (spool_lease_find(sp, id) != NULL)
		return 0;
	rc = spool_lease(sp, id, err);
	if (rc == 1) {
		errno = EWOULDBLOCK;
		return -1;
	}
	if (rc < 0)
		return -1;
	*temp = true;
	return 0;
}

/* the job that changes the leased message id: checked now and, for an
 * update, encoded now, so the caller may free env on return. A failed
 * check travels in the job (its rc, why and errno), to be answered like
 * any other failure. NULL only without memory. */
static struct spool_msg *
change_new(struct spool *sp, enum spool_job kind, const char *id,
    const struct spool_envelope *env, spool_done_fn *done, void *arg)
{
	struct spool_envelope old;
	struct dsmtp_err err;
	struct spool_msg *m;
	char why[SPOOL_WHY_SIZE];
	uint32_t crc;
	unsigned version;

	if ((m = spool_job_new(sp, kind, id, done, arg)) == NULL || m->rc < 0)
		return m;
	if (spool_lease_find(sp, id) == NULL) {
		spool_job_fail(m, ENOLCK, "%s: not leased by this process (spool_lease first)",
		    id);
		return m;
	}
	if (kind == SPOOL_JOB_REMOVE && env != NULL) {
		/* the caller's envelope, which it has just changed, says every
		 * recipient is done: no need for the one on disk (nor for
		 * writing the caller's first); its own, loaded for this id */
		if (strcmp(env->id, id) != 0) {
			spool_job_fail(m, EINVAL, "%s: the envelope given is %s's", id, env->id);
			return m;
		}
		for (size_t i = 0; i < env->nrcpts; i++) {
			if (env->rcpts[i].state == SPOOL_RCPT_PENDING ||
			    env->rcpts[i].state == SPOOL_RCPT_FAILED) {
				spool_job_fail(m, EBUSY, "%s: recipient %.100s is still %s", id,
				    env->rcpts[i].addr, spool_rcpt_state_name(env->rcpts[i].state));
				break;
			}
		}
		return m;
	}
	/* the data's length and CRC stay those of ID.d, whatever env says;
	 * so does the format version, which says where in ID.d they are */
	if (spool_load_env(sp, id, &old, &crc, &version, &err) < 0) {
		spool_job_fail(m, errno, "%s", err.msg);
		return m;
	}
	if (kind == SPOOL_JOB_UPDATE) {
		if (spool_env_encode_v(version, env, id, old.size, crc, &m->env, &m->envlen, why,
		    sizeof(why)) < 0)
			spool_job_fail(m, EINVAL, "%s", why);
	} else {
		/* removal: only once no recipient waits for delivery or bounce */
		for (size_t i = 0; i < old.nrcpts; i++) {
			if (old.rcpts[i].state == SPOOL_RCPT_PENDING ||
			    old.rcpts[i].state == SPOOL_RCPT_FAILED) {
				spool_job_fail(m, EBUSY, "%s: recipient %.100s is still %s", id,
				    old.rcpts[i].addr, spool_rcpt_state_name(old.rcpts[i].state));
				break;
			}
		}
	}
	spool_envelope_free(&old);
	return m;
}

/* a change made now, on this thread, under sp's lease or one taken for it */
static int
change_now(struct spool *sp, enum spool_job kind, const char *id,
    const struct spool_envelope *env, struct dsmtp_err *err)
{
	bool temp;
	int rc, e;

	if (with_lease(sp, id, &temp, err) < 0)
		return -1;
	rc = spool_job_run(change_new(sp, kind, id, env, NULL, NULL), err);
	e = errno;
	if (temp)
		spool_release(sp, id);
	errno = e;
	return rc;
}

/* a change for the next group; done() answers */
static int
change_async(struct spool *sp, enum spool_job kind, const char *id,
    const struct spool_envelope *env, spool_done_fn *done, void *arg)
{
	struct spool_msg *m;

	if (done == NULL)
		return -1;
	if ((m = change_new(sp, kind, id, env, done, arg)) == NULL) {
		done(arg, -1, id, "out of memory");
		return 0;
	}
	spool_job_submit(m);
	return 0;
}

/* tmp/ID.u + fsync + rename over ID.e + directory fsync: a crash leaves
 * the old envelope or the new one, never half of either. For a version 2
 * message the first update replaces ID.e, until then a second name of
 * ID.d, by a file of its own: one small file per deferred message rather
 * than a copy of the message bytes per attempt (rewriting ID.d in place
 * could not be made crash-safe without such a copy). */
int
spool_update(struct spool *sp, const char *id, const struct spool_envelope *env,
    struct dsmtp_err *err)
{
	return change_now(sp, SPOOL_JOB_UPDATE, id, env, err);
}

int
spool_update_async(struct spool *sp, const char *id, const struct spool_envelope *env,
    spool_done_fn *done, void *arg)
{
	return change_async(sp, SPOOL_JOB_UPDATE, id, env, done, arg);
}

/* unlink ID.e (then the message is gone), ID.d, fsync queue/ */
int
spool_remove(struct spool *sp, const char *id, struct dsmtp_err *err)
{
	return change_now(sp, SPOOL_JOB_REMOVE, id, NULL, err);
}

int
spool_remove_async(struct spool *sp, const char *id, spool_done_fn *done, void *arg)
{
	return change_async(sp, SPOOL_JOB_REMOVE, id, NULL, done, arg);
}

int
spool_remove_finished_async(struct spool *sp, const char *id, const struct spool_envelope *env,
    spool_done_fn *done, void *arg)
{
	if (env == NULL) {
		if (done != NULL)
			done(arg, -1, id, "no envelope");
		return done ? 0 : -1;
	}
	return change_async(sp, SPOOL_JOB_REMOVE, id, env, done, arg);
}

#define FLUSH_GROUP	256	/* envelopes per directory fsync */

struct flush_ctx {
	size_t			 flushed;
	int			 rc;
	struct dsmtp_err	*err;
};

static void
flush_done(void *arg, int rc, const char *id, const char *why)
{
	struct flush_ctx *c = arg;

	if (rc == 0)
		c->flushed++;
	else if (c->rc == 0) {
		c->rc = -1;
		dsmtp_err_set(c->err, "%s", why);
	}
}

/* Without a loop the rewritten envelopes go out in groups of FLUSH_GROUP
 * with one directory fsync each (thousands of deferred messages after an
 * outage must not cost thousands of directory fsyncs); with a loop, one
 * by one, synchronously. */
int
spool_flush_all(struct spool *sp, size_t *flushed, size_t *busy, struct dsmtp_err *err)
{
	struct flush_ctx ctx = { .err = err };
	char **ids;
	size_t nids, first = 0, ngroup = 0;
	int64_t now = (int64_t)time(NULL);
	bool *temp;

	*flushed = *busy = 0;
	if (spool_list_ids(sp, &ids, &nids, err) < 0)
		return -1;
	if ((temp = calloc(nids ? nids : 1, sizeof(*temp))) == NULL) {
		spool_ids_free(ids, nids);
		dsmtp_err_set(err, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	if (sp->loop == NULL)
		spool_batch_begin(sp);
	for (size_t i = 0; i < nids && ctx.rc == 0; i++) {
		struct spool_envelope env;
		struct dsmtp_err e;
		bool changed = false;

		if (with_lease(sp, ids[i], &temp[i], &e) < 0) {
			if (errno == EWOULDBLOCK)
				(*busy)++;
			continue;
		}
		if (spool_load(sp, ids[i], &env, &e) == 0) {
			for (size_t r = 0; r < env.nrcpts; r++) {
				if (env.rcpts[r].state == SPOOL_RCPT_PENDING &&
				    env.rcpts[r].next_attempt > now) {
					env.rcpts[r].next_attempt = now;
					changed = true;
				}
			}
			if (changed && sp->loop == NULL) {
				/* the lease stays until the group has run */
				spool_update_async(sp, ids[i], &env, flush_done, &ctx);
				ngroup++;
			} else if (changed && spool_update(sp, ids[i], &env, &e) < 0) {
				ctx.rc = -1;
				dsmtp_err_set(err, "%s", e.msg);
			} else if (changed)
				ctx.flushed++;
			spool_envelope_free(&env);
		}
		if (sp->loop == NULL && (ngroup == FLUSH_GROUP || i + 1 == nids)) {
			spool_batch_run(sp);
			for (; first <= i; first++)
				if (temp[first])
					spool_release(sp, ids[first]);
			ngroup = 0;
			if (i + 1 < nids)
				spool_batch_begin(sp);
		} else if (sp->loop != NULL && temp[i])
			spool_release(sp, ids[i]);
	}
	/* stopped early on an error: run what is queued, let go of the rest */
	if (sp->loop == NULL) {
		spool_batch_run(sp);
		for (; first < nids; first++)
			if (temp[first])
				spool_release(sp, ids[first]);
	}
	free(temp);
	spool_ids_free(ids, nids);
	*flushed = ctx.flushed;
	return ctx.rc;
}
