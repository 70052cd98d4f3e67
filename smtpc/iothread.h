/* iothread.h: dsmtpc's file I/O off the event loop: jobs whose run()
 * may block (reads of message data, a maildir delivery with its fsyncs)
 * run on two worker threads, and their done() comes back on the loop
 * thread through an ev_async, in the order they finished. */
#ifndef DSMTP_SMTPC_IOTHREAD_H
#define DSMTP_SMTPC_IOTHREAD_H

#include <ev.h>

#include "common/diag.h"

struct smtpc_io;

/* embedded in the caller's own job struct (container_of with offsetof);
 * run() must touch nothing the loop thread uses meanwhile */
struct smtpc_io_job {
	void			(*run)(struct smtpc_io_job *);	/* worker thread */
	void			(*done)(struct smtpc_io_job *);	/* loop thread, once */
	struct smtpc_io_job	*next;
};

struct smtpc_io *smtpc_io_new(struct ev_loop *loop, struct dsmtp_err *err);
/* run j->run() on a worker, then j->done() on the loop; while any job is
 * in flight the loop is kept alive */
void smtpc_io_submit(struct smtpc_io *io, struct smtpc_io_job *j);
/* jobs submitted and not yet done() */
unsigned smtpc_io_pending(const struct smtpc_io *io);
/* let the workers finish what is queued, give every finished job its
 * done(), and stop them; NULL is fine */
void smtpc_io_free(struct smtpc_io *io);

#endif
