/* spool_commit.c: writing new messages and making them durable (DESIGN.md
 * section 10), and the asynchronous envelope updates and removals of
 * leased messages: the temporary files, the group commit on one worker
 * thread, and the ev_async that hands results back to the loop. Owns the
 * order of fsyncs and renames that makes "accepted" mean "on disk". Does
 * not own the record format (spool_format.c), reading (spool.c) or the
 * checks before a change (spool_update.c); calls only spool_io.c and
 * spool_format.c.
 *
 * A worker pass takes every job queued since the last one and does:
 *   1. per new message: append its envelope and the trailer to tmp/ID.d
 *      (spool format 2: one file), link it to tmp/ID.e and start its
 *      writeback; per update: write tmp/ID.u likewise;
 *   2. per new message: fsync tmp/ID.d; per update: tmp/ID.u;
 *   3. per new message: rename tmp/ID.d -> ID.d, then tmp/ID.e -> ID.e
 *      (the same inode: the message exists once ID.e does, and dsmtpc's
 *      inotify sees it moved in, as before);
 *      per update: rename tmp/ID.u -> ID.e; per removal: unlink ID.e, ID.d;
 *   4. once: fsync queue/, which makes every rename and unlink durable;
 * then wakes the loop, where each done() runs. A crash before 4 completes
 * loses only changes nobody was told about; ID.d of a new message keeps
 * its flock from creation until after 4, so no other process recovers or
 * leases it meanwhile (updates and removals run under the caller's lease).
 * The jobs that change a message already in queue/ are made, checked and
 * run (now or in the next group) by spool_update.c. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/spool_int.h"

static void	*worker_main(void *arg);
static void	 commit_group(struct spool *sp, struct spool_msg *list);
static void	 submit(struct spool *sp, struct spool_msg *m);
static void	 wake_cb(struct ev_loop *loop, ev_async *w, int revents);

/* the first failure of m, with the errno behind it (0: none): a full
 * disk or quota is told apart by errno, never by the message text */
static void DIAG_PRINTF(3, 0)
msg_failv(struct spool_msg *m, int e, const char *fmt, va_list ap)
{
	if (m->rc < 0)
		return;		/* the first reason is the one that matters */
	m->rc = (e == ENOSPC || e == EDQUOT) ? SPOOL_RC_NOSPACE : -1;
	m->eno = e;
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
}

static void DIAG_PRINTF(2, 3)
msg_fail(struct spool_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_failv(m, 0, fmt, ap);
	va_end(ap);
}

/* msg_fail for a failed system call; e is its errno */
static void DIAG_PRINTF(3, 4)
msg_fail_os(struct spool_msg *m, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_failv(m, e, fmt, ap);
	va_end(ap);
}

/* a write buffer: one kept from an earlier message, or a new one */
static unsigned char *
wbuf_get(struct spool *sp)
{
	if (sp->nwbufs > 0)
		return sp->wbufs[--sp->nwbufs];
	return malloc(SPOOL_WBUF_SIZE);
}

static void
wbuf_put(struct spool *sp, unsigned char *b)
{
	if (b != NULL && sp->nwbufs < SPOOL_WBUF_CACHE)
		sp->wbufs[sp->nwbufs++] = b;
	else
		free(b);
}

/* the kept write buffers (spool_close) */
void
spool_wbufs_free(struct spool *sp)
{
	while (sp->nwbufs > 0)
		free(sp->wbufs[--sp->nwbufs]);
}

static void
msg_free(struct spool_msg *m)
{
	if (m->efd >= 0)
		close(m->efd);
	if (m->dfd >= 0)
		close(m->dfd);
	wbuf_put(m->sp, m->wbuf);
	free(m->env);
	free(m);
}

/* a new message: its id and its locked temporary data file */
struct spool_msg *
spool_msg_new(struct spool *sp, struct dsmtp_err *err)
{
	struct spool_msg *m;
	char name[SPOOL_ID_SIZE + 2];

	if ((m = calloc(1, sizeof(*m))) == NULL || (m->wbuf = wbuf_get(sp)) == NULL) {
		free(m);
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	m->sp = sp;
	m->efd = -1;
	/* a second id if a recovering process raced us for the first name */
	for (int tries = 0; tries < 2; tries++) {
		spool_make_id(sp, m->id);
		snprintf(name, sizeof(name), "%s.d", m->id);
		if ((m->dfd = spool_tmp_create(sp, name, false)) >= 0)
			return m;
	}
	dsmtp_err_set(err, "%s/tmp/%s: create: %s", sp->dir, name, strerror(errno));
	wbuf_put(sp, m->wbuf);
	free(m);
	return NULL;
}

const char *
spool_msg_id(const struct spool_msg *m)
{
	return m->id;
}

/* write out the buffer; the first error sticks */
static int
wflush(struct spool_msg *m)
{
	if (m->werrno) {
		errno = m->werrno;
		return -1;
	}
	if (m->wlen > 0 && spool_io_write(m->dfd, m->wbuf, m->wlen) < 0) {
		m->werrno = errno;
		return -1;
	}
	m->wlen = 0;
	return 0;
}

/* append message bytes through the buffer; the CRC follows every byte */
int
spool_msg_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->werrno) {
		errno = m->werrno;
		return -1;
	}
	m->crc = spool_crc32c(m->crc, buf, len);
	m->size += len;
	if (len <= SPOOL_WBUF_SIZE - m->wlen) {
		memcpy(m->wbuf + m->wlen, buf, len);
		m->wlen += len;
		return 0;
	}
	if (wflush(m) < 0)
		return -1;
	if (len >= SPOOL_WBUF_SIZE) {
		if (spool_io_write(m->dfd, buf, len) < 0) {
			m->werrno = errno;
			return -1;
		}
		return 0;
	}
	memcpy(m->wbuf, buf, len);
	m->wlen = len;
	return 0;
}

void
spool_msg_abort(struct spool_msg *m)
{
	char name[SPOOL_ID_SIZE + 2];

	if (m == NULL)
		return;
	snprintf(name, sizeof(name), "%s.d", m->id);
	/* unlink before close: while we hold the lock nobody else touches it */
	unlinkat(m->sp->tmpfd, name, 0);
	msg_free(m);
}

/* serialize the envelope now, so the caller may free theirs on return:
 * version 2, followed by the trailer, both to be appended to tmp/ID.d */
static void
msg_encode(struct spool_msg *m, const struct spool_envelope *env)
{
	struct spool_envelope e = *env;
	struct spool_rcpt *r;

	if (env->nrcpts == 0 || env->rcpts == NULL) {
		msg_fail(m, "invalid envelope: no recipient");
		return;
	}
	if ((r = calloc(env->nrcpts, sizeof(*r))) == NULL) {
		msg_fail(m, "out of memory");
		return;
	}
	memcpy(r, env->rcpts, env->nrcpts * sizeof(*r));
	if (e.arrival == 0)
		e.arrival = (int64_t)time(NULL);
	for (size_t i = 0; i < e.nrcpts; i++)
		if (r[i].next_attempt == 0)
			r[i].next_attempt = e.arrival;
	e.rcpts = r;
	if (spool_env_encode_v(2, &e, m->id, m->size, m->crc, &m->env, &m->envlen, m->why,
	    sizeof(m->why)) < 0)
		m->rc = -1;
	free(r);
	if (m->rc == 0) {
		char t[SPOOL_TRAILER_LEN + 1];
		char *p = realloc(m->env, m->envlen + SPOOL_TRAILER_LEN);

		if (p == NULL) {
			msg_fail(m, "out of memory");
			return;
		}
		spool_trailer_format(t, m->size, m->envlen);
		memcpy(p + m->envlen, t, SPOOL_TRAILER_LEN);
		m->env = p;
		m->envlen += SPOOL_TRAILER_LEN;
	}
}

/* done(), then free: the one way a committed message ends */
static void
msg_finish(struct spool_msg *m)
{
	m->done_fn(m->done_arg, m->rc, m->id, m->rc == 0 ? NULL : m->why);
	msg_free(m);
}

/* flush, encode the envelope, and hand the message to the worker */
int
spool_msg_commit(struct spool_msg *m, const struct spool_envelope *env, spool_done_fn *done,
    void *arg)
{
	struct spool *sp;

	if (m == NULL || done == NULL || env == NULL) {
		spool_msg_abort(m);
		return -1;
	}
	sp = m->sp;
	m->done_fn = done;
	m->done_arg = arg;
	if (wflush(m) < 0)
		msg_fail_os(m, m->werrno, "write %s/tmp/%s.d: %s", sp->dir, m->id,
		    strerror(m->werrno));
	wbuf_put(sp, m->wbuf);
	m->wbuf = NULL;
	if (m->rc == 0)
		msg_encode(m, env);
	submit(sp, m);
	return 0;
}

/* hand a job to the worker, or do it now without a loop; either way
 * done() runs exactly once, on the loop thread */
static void
submit(struct spool *sp, struct spool_msg *m)
{
	m->next = NULL;
	if (sp->loop == NULL && sp->batching) {
		*sp->batch_tail = m;
		sp->batch_tail = &m->next;
		return;
	}
	if (sp->loop == NULL || sp->stopping) {
		commit_group(sp, m);
		sp->n_groups++;		/* no worker now: nobody else counts */
		sp->n_commits++;
		msg_finish(m);
		return;
	}
	/* keep the loop alive while a job is in flight (the async watcher
	 * itself is unref'ed: an idle spool must not hold ev_run) */
	if (sp->inflight++ == 0)
		ev_ref(sp->loop);
	if (m->rc < 0) {
		/* failed already: clean up here, answer through the loop all
		 * the same, so callers have one path */
		commit_group(sp, m);
		pthread_mutex_lock(&sp->mu);
		*sp->done_tail = m;
		sp->done_tail = &m->next;
		pthread_mutex_unlock(&sp->mu);
		ev_async_send(sp->loop, &sp->wake);
		return;
	}
	pthread_mutex_lock(&sp->mu);
	*sp->todo_tail = m;
	sp->todo_tail = &m->next;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

void
spool_batch_begin(struct spool *sp)
{
	sp->batching = true;
	sp->batch = NULL;
	sp->batch_tail = &sp->batch;
}

/* the held-back jobs as one group: one directory fsync for them all */
void
spool_batch_run(struct spool *sp)
{
	struct spool_msg *list = sp->batch, *m;

	sp->batching = false;
	sp->batch = NULL;
	sp->batch_tail = &sp->batch;
	if (list == NULL)
		return;
	commit_group(sp, list);
	sp->n_groups++;
	while ((m = list) != NULL) {
		list = m->next;
		sp->n_commits++;
		msg_finish(m);
	}
}

/* a job that changes the message id (spool_update.c checks the lease
 * and fills in the envelope): failed at once if id is not an id */
struct spool_msg *
spool_job_new(struct spool *sp, enum spool_job kind, const char *id, spool_done_fn *done,
    void *arg)
{
	struct spool_msg *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->sp = sp;
	m->kind = kind;
	m->dfd = m->efd = -1;
	m->done_fn = done;
	m->done_arg = arg;
	snprintf(m->id, sizeof(m->id), "%s", spool_id_valid(id) ? id : "");
	if (!spool_id_valid(id))
		spool_job_fail(m, EINVAL, "\"%.40s\" is not a message id", id);
	return m;
}

void
spool_job_fail(struct spool_msg *m, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_failv(m, e, fmt, ap);
	va_end(ap);
}

/* the job for the next group (see submit) */
void
spool_job_submit(struct spool_msg *m)
{
	submit(m->sp, m);
}

/* the job as a group of its own, now, on the caller's thread (the worker
 * may be running another group meanwhile: they share no file); its
 * result instead of a done(). Not counted in spool_test_stats. */
int
spool_job_run(struct spool_msg *m, struct dsmtp_err *err)
{
	int e = 0;

	if (m == NULL) {
		dsmtp_err_set(err, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	m->next = NULL;
	commit_group(m->sp, m);
	if (m->rc < 0) {
		dsmtp_err_set(err, "%s", m->why);
		e = m->eno != 0 ? m->eno : EIO;
	}
	msg_free(m);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/* an update's encoded envelope into tmp/ID.SUFFIX (m->efd); -1 with m failed */
static int
write_tmp_envelope(struct spool *sp, struct spool_msg *m, const char *suffix, bool replace)
{
	char name[SPOOL_ID_SIZE + 3];

	snprintf(name, sizeof(name), "%s.%s", m->id, suffix);
	if ((m->efd = spool_tmp_create(sp, name, replace)) < 0) {
		msg_fail_os(m, errno, "create %s/tmp/%s: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	if (spool_io_write(m->efd, m->env, m->envlen) < 0) {
		msg_fail_os(m, errno, "write %s/tmp/%s: %s", sp->dir, name, strerror(errno));
		return -1;
	}
	return 0;
}

/* step 1a for one message: envelope and trailer after its data, one
 * write; the link tmp/ID.e; writeback started */
static void
prepare(struct spool *sp, struct spool_msg *m, bool hint)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];

	if (spool_io_write(m->dfd, m->env, m->envlen) < 0) {
		msg_fail_os(m, errno, "write %s/tmp/%s.d: %s", sp->dir, m->id, strerror(errno));
		return;
	}
	/* the second name before the fsync: the inode then reaches the disk
	 * with its link count already 2 (fdatasync writes the inode for the
	 * new size), so no crash can leave two names on an inode that counts
	 * one (which a later unlink would free under the other) */
	snprintf(dname, sizeof(dname), "%s.d", m->id);
	snprintf(ename, sizeof(ename), "%s.e", m->id);
	if (spool_io_link(sp->tmpfd, dname, sp->tmpfd, ename) < 0) {
		msg_fail_os(m, errno, "link %s/tmp/%s to %s: %s", sp->dir, dname, ename,
		    strerror(errno));
		return;
	}
	m->e_linked = true;
#ifdef SYNC_FILE_RANGE_WRITE
	/* start writeback now (a hint; errors show up in the fsync): blocks
	 * of the whole group get allocated before the first fsync, so one
	 * journal commit covers them all instead of one each. A group of
	 * one has nothing to share: its fsync follows at once */
	if (hint)
		(void)sync_file_range(m->dfd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
	(void)hint;
#endif
}

/* step 1b for one message: the fsync before any rename, so a renamed
 * file never turns out empty or short after a crash */
static void
make_durable(struct spool *sp, struct spool_msg *m)
{
	if (spool_io_fsync(m->dfd) < 0)
		msg_fail_os(m, errno, "fsync %s/tmp/%s.d: %s", sp->dir, m->id, strerror(errno));
}

/* step 2 for one message: into queue/, data first so that an envelope
 * in queue/ always has its data beside it; ID.e is the second link of
 * ID.d made in tmp/ (step 1), so it arrives by rename like any envelope */
static void
publish(struct spool *sp, struct spool_msg *m)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];

	snprintf(dname, sizeof(dname), "%s.d", m->id);
	snprintf(ename, sizeof(ename), "%s.e", m->id);
	if (spool_io_rename(sp->tmpfd, dname, sp->dirfd, dname, true) < 0) {
		msg_fail_os(m, errno, "rename %s/tmp/%s into queue/: %s", sp->dir, dname,
		    strerror(errno));
		return;
	}
	m->d_moved = true;
	if (spool_io_rename(sp->tmpfd, ename, sp->dirfd, ename, true) < 0) {
		msg_fail_os(m, errno, "rename %s/tmp/%s into queue/: %s", sp->dir, ename,
		    strerror(errno));
		return;
	}
	m->e_moved = true;
}

/* take back what a failed message put anywhere; we still hold the flock
 * of ID.d, so no other process has leased or recovered it */
static void
unpublish(struct spool *sp, struct spool_msg *m)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];

	snprintf(dname, sizeof(dname), "%s.d", m->id);
	snprintf(ename, sizeof(ename), "%s.e", m->id);
	if (m->e_moved)
		unlinkat(sp->dirfd, ename, 0);
	else if (m->e_linked)
		unlinkat(sp->tmpfd, ename, 0);
	if (m->d_moved)
		unlinkat(sp->dirfd, dname, 0);
	else
		unlinkat(sp->tmpfd, dname, 0);
	m->d_moved = m->e_moved = m->e_linked = false;
}

/* update, step 1: the new envelope in tmp/ID.u, writeback started */
static void
prepare_update(struct spool *sp, struct spool_msg *m, bool hint)
{
	/* a tmp/ID.u already there is a crashed update of ours: we hold
	 * the lease, so nobody else writes one */
	if (write_tmp_envelope(sp, m, "u", true) < 0)
		return;
#ifdef SYNC_FILE_RANGE_WRITE
	if (hint)
		(void)sync_file_range(m->efd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
	(void)hint;
#endif
}

/* update, step 2: over the old envelope; a crash leaves one or the other */
static void
publish_update(struct spool *sp, struct spool_msg *m)
{
	char tname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];

	snprintf(tname, sizeof(tname), "%s.u", m->id);
	snprintf(ename, sizeof(ename), "%s.e", m->id);
	if (spool_io_rename(sp->tmpfd, tname, sp->dirfd, ename, false) < 0)
		msg_fail_os(m, errno, "rename %s/tmp/%s into queue/: %s", sp->dir, tname,
		    strerror(errno));
	else
		m->e_moved = true;
}

/* removal: the envelope first (then the message is gone), then its data;
 * a crash between leaves an orphan ID.d that recovery removes */
static void
publish_remove(struct spool *sp, struct spool_msg *m)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];

	snprintf(dname, sizeof(dname), "%s.d", m->id);
	snprintf(ename, sizeof(ename), "%s.e", m->id);
	if (unlinkat(sp->dirfd, ename, 0) < 0) {
		msg_fail_os(m, errno, "unlink %s/%s: %s", sp->dir, ename, strerror(errno));
		return;
	}
	m->e_moved = true;
	if (unlinkat(sp->dirfd, dname, 0) < 0)
		diag_warn("%s/%s: unlink", sp->dir, dname);
	else
		m->d_moved = true;
}

/* steps 1-3 for a list of jobs (see the file header) */
static void
commit_group(struct spool *sp, struct spool_msg *list)
{
	struct spool_msg *m;
	bool moved = false, hint;
	size_t nsync = 0;

	for (m = list; m != NULL; m = m->next)
		if (m->rc == 0 && m->kind != SPOOL_JOB_REMOVE)
			nsync++;
	hint = nsync > 1;
	for (m = list; m != NULL; m = m->next) {
		if (m->rc < 0)
			continue;
		if (m->kind == SPOOL_JOB_COMMIT)
			prepare(sp, m, hint);
		else if (m->kind == SPOOL_JOB_UPDATE)
			prepare_update(sp, m, hint);
	}
	for (m = list; m != NULL; m = m->next) {
		if (m->rc < 0)
			continue;
		if (m->kind == SPOOL_JOB_COMMIT)
			make_durable(sp, m);
		else if (m->kind == SPOOL_JOB_UPDATE && spool_io_fsync(m->efd) < 0)
			msg_fail_os(m, errno, "fsync %s/tmp/%s.u: %s", sp->dir, m->id, strerror(errno));
	}
	for (m = list; m != NULL; m = m->next) {
		if (m->rc == 0) {
			if (m->kind == SPOOL_JOB_COMMIT)
				publish(sp, m);
			else if (m->kind == SPOOL_JOB_UPDATE)
				publish_update(sp, m);
			else
				publish_remove(sp, m);
		}
		moved |= m->d_moved || m->e_moved;
	}
	/* one directory fsync for the whole group: the point of grouping */
	if (moved && spool_io_dirfsync(sp->dirfd) < 0) {
		int e = errno;

		for (m = list; m != NULL; m = m->next) {
			if (!m->d_moved && !m->e_moved)
				continue;
			if (m->kind == SPOOL_JOB_COMMIT)
				msg_fail_os(m, e, "fsync %s: %s", sp->dir, strerror(e));
			else	/* no way back: the old envelope is gone */
				msg_fail_os(m, e, "fsync %s: %s (the change may not be durable)",
				    sp->dir, strerror(e));
		}
	}
	for (m = list; m != NULL; m = m->next) {
		if (m->kind == SPOOL_JOB_COMMIT && m->rc < 0)
			unpublish(sp, m);
		if (m->kind == SPOOL_JOB_UPDATE && !m->e_moved && m->efd >= 0) {
			char tname[SPOOL_ID_SIZE + 2];

			snprintf(tname, sizeof(tname), "%s.u", m->id);
			unlinkat(sp->tmpfd, tname, 0);
		}
		/* closing ID.d releases its flock: from here dsmtpc may lease it */
		if (m->efd >= 0)
			close(m->efd);
		if (m->dfd >= 0)
			close(m->dfd);
		m->efd = m->dfd = -1;
	}
}

/* the worker: everything queued since the last pass is one group */
static void *
worker_main(void *arg)
{
	struct spool *sp = arg;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		struct spool_msg *list, *m, **tail;
		size_t k = 0;

		while (sp->todo == NULL && !sp->stopping)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->todo == NULL)
			break;		/* stopping, and nothing left to commit */
		list = sp->todo;
		for (tail = &list; *tail != NULL && (sp->group_max == 0 || k < sp->group_max);
		    tail = &(*tail)->next)
			k++;
		sp->todo = *tail;
		if (sp->todo == NULL)
			sp->todo_tail = &sp->todo;
		*tail = NULL;
		pthread_mutex_unlock(&sp->mu);

		commit_group(sp, list);

		pthread_mutex_lock(&sp->mu);
		for (m = list; m != NULL; m = m->next) {
			*sp->done_tail = m;
			sp->done_tail = &m->next;
		}
		sp->n_groups++;
		sp->n_commits += k;
		pthread_mutex_unlock(&sp->mu);
		ev_async_send(sp->loop, &sp->wake);
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* on the loop thread: every finished commit gets its done() */
static void
deliver_done(struct spool *sp)
{
	struct spool_msg *list, *m;

	pthread_mutex_lock(&sp->mu);
	list = sp->done;
	sp->done = NULL;
	sp->done_tail = &sp->done;
	pthread_mutex_unlock(&sp->mu);
	while ((m = list) != NULL) {
		list = m->next;
		if (--sp->inflight == 0)
			ev_unref(sp->loop);
		msg_finish(m);
	}
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	deliver_done(w->data);
}

/* the worker thread and the ev_async it wakes the loop with */
int
spool_commit_start(struct spool *sp, struct dsmtp_err *err)
{
	sigset_t all, old;
	int rc;

	sp->todo_tail = &sp->todo;
	sp->done_tail = &sp->done;
	if ((rc = pthread_mutex_init(&sp->mu, NULL)) != 0) {
		dsmtp_err_set(err, "pthread_mutex_init: %s", strerror(rc));
		return -1;
	}
	if ((rc = pthread_cond_init(&sp->cv, NULL)) != 0) {
		pthread_mutex_destroy(&sp->mu);
		dsmtp_err_set(err, "pthread_cond_init: %s", strerror(rc));
		return -1;
	}
	/* signals are the loop thread's business (ev_signal): the worker is
	 * born with all of them blocked */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&sp->worker, NULL, worker_main, sp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&sp->cv);
		pthread_mutex_destroy(&sp->mu);
		dsmtp_err_set(err, "pthread_create: %s", strerror(rc));
		return -1;
	}
	sp->worker_up = true;
	ev_async_init(&sp->wake, wake_cb);
	sp->wake.data = sp;
	ev_async_start(sp->loop, &sp->wake);
	ev_unref(sp->loop);
	return 0;
}

/* drain the worker, answer every job, and detach from the loop */
void
spool_commit_stop(struct spool *sp)
{
	if (!sp->worker_up)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stopping = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	/* the worker drains the queue before it leaves */
	pthread_join(sp->worker, NULL);
	sp->worker_up = false;
	deliver_done(sp);
	/* ev_async_stop on an unref'ed watcher: ref it back first (ev.pod) */
	ev_ref(sp->loop);
	ev_async_stop(sp->loop, &sp->wake);
	pthread_cond_destroy(&sp->cv);
	pthread_mutex_destroy(&sp->mu);
}

void
spool_test_group_max(struct spool *sp, size_t max)
{
	if (sp->worker_up)
		pthread_mutex_lock(&sp->mu);
	sp->group_max = max;
	if (sp->worker_up)
		pthread_mutex_unlock(&sp->mu);
}

void
spool_test_stats(const struct spool *sp, uint64_t *groups, uint64_t *commits)
{
	struct spool *w = (struct spool *)(uintptr_t)sp;

	if (sp->worker_up)
		pthread_mutex_lock(&w->mu);
	*groups = sp->n_groups;
	*commits = sp->n_commits;
	if (sp->worker_up)
		pthread_mutex_unlock(&w->mu);
}
