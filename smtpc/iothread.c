/* iothread.c: dsmtpc's file I/O threads (iothread.h): a queue of jobs
 * under one mutex, two workers that take them in order (a maildir fsync
 * on one does not hold up the reads that keep sessions sending on the
 * other), and an ev_async that hands finished jobs back to the loop. */
#include "autoconfig.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/iothread.h"

#define SMTPC_IO_THREADS	2

struct smtpc_io {
	struct ev_loop		*loop;
	ev_async		 wake;
	pthread_t		 th[SMTPC_IO_THREADS];
	unsigned		 nth;
	pthread_mutex_t		 mu;	/* guards the two lists and stopping */
	pthread_cond_t		 cv;
	struct smtpc_io_job	*todo, **todo_tail;
	struct smtpc_io_job	*done, **done_tail;
	bool			 stopping;
	unsigned		 pending;	/* loop thread only */
};

static void *
worker(void *arg)
{
	struct smtpc_io *io = arg;

	pthread_mutex_lock(&io->mu);
	for (;;) {
		struct smtpc_io_job *j;

		while (io->todo == NULL && !io->stopping)
			pthread_cond_wait(&io->cv, &io->mu);
		if ((j = io->todo) == NULL)
			break;		/* stopping, and nothing left */
		if ((io->todo = j->next) == NULL)
			io->todo_tail = &io->todo;
		pthread_mutex_unlock(&io->mu);
		j->run(j);
		pthread_mutex_lock(&io->mu);
		j->next = NULL;
		*io->done_tail = j;
		io->done_tail = &j->next;
		pthread_mutex_unlock(&io->mu);
		ev_async_send(io->loop, &io->wake);
		pthread_mutex_lock(&io->mu);
	}
	pthread_mutex_unlock(&io->mu);
	return NULL;
}

/* on the loop thread: every finished job gets its done() */
static void
deliver(struct smtpc_io *io)
{
	struct smtpc_io_job *list, *j;

	pthread_mutex_lock(&io->mu);
	list = io->done;
	io->done = NULL;
	io->done_tail = &io->done;
	pthread_mutex_unlock(&io->mu);
	while ((j = list) != NULL) {
		list = j->next;
		if (--io->pending == 0)
			ev_unref(io->loop);
		j->done(j);
	}
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	deliver(w->data);
}

struct smtpc_io *
smtpc_io_new(struct ev_loop *loop, struct dsmtp_err *err)
{
	struct smtpc_io *io = calloc(1, sizeof(*io));
	sigset_t all, old;
	int rc;

	if (io == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	io->loop = loop;
	io->todo_tail = &io->todo;
	io->done_tail = &io->done;
	if ((rc = pthread_mutex_init(&io->mu, NULL)) != 0 ||
	    (rc = pthread_cond_init(&io->cv, NULL)) != 0) {
		dsmtp_err_set(err, "pthread init: %s", strerror(rc));
		free(io);
		return NULL;
	}
	/* signals are the loop thread's (ev_signal): workers block them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; io->nth < SMTPC_IO_THREADS; io->nth++)
		if ((rc = pthread_create(&io->th[io->nth], NULL, worker, io)) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (io->nth == 0) {
		dsmtp_err_set(err, "pthread_create: %s", strerror(rc));
		pthread_cond_destroy(&io->cv);
		pthread_mutex_destroy(&io->mu);
		free(io);
		return NULL;
	}
	ev_async_init(&io->wake, wake_cb);
	io->wake.data = io;
	ev_async_start(loop, &io->wake);
	ev_unref(loop);		/* an idle pool must not hold ev_run */
	return io;
}

void
smtpc_io_submit(struct smtpc_io *io, struct smtpc_io_job *j)
{
	if (io->pending++ == 0)
		ev_ref(io->loop);
	j->next = NULL;
	pthread_mutex_lock(&io->mu);
	*io->todo_tail = j;
	io->todo_tail = &j->next;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

unsigned
smtpc_io_pending(const struct smtpc_io *io)
{
	return io ? io->pending : 0;
}

void
smtpc_io_free(struct smtpc_io *io)
{
	if (io == NULL)
		return;
	pthread_mutex_lock(&io->mu);
	io->stopping = true;
	pthread_cond_broadcast(&io->cv);
	pthread_mutex_unlock(&io->mu);
	for (unsigned i = 0; i < io->nth; i++)
		pthread_join(io->th[i], NULL);
	deliver(io);
	/* ev_async_stop on an unref'ed watcher: ref it back first (ev.pod) */
	ev_ref(io->loop);
	ev_async_stop(io->loop, &io->wake);
	pthread_cond_destroy(&io->cv);
	pthread_mutex_destroy(&io->mu);
	free(io);
}
