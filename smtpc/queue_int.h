/* queue_int.h: the delivery scheduler's insides, shared by its three
 * files and nothing else: struct queue (the scheduler of `dsmtpc run`
 * and `dsmtpc once`), a leased message (struct qmsg) and its jobs; the
 * schedule and the start of messages (queue.c), their outcomes, bounces
 * and spool writes (queue_outcome.c), and the daemon's life: start,
 * inotify, signals, reload (queue_daemon.c). */
#ifndef DSMTP_SMTPC_QUEUE_INT_H
#define DSMTP_SMTPC_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "common/config.h"
#include "common/spool.h"
#include "smtpc/smtpc.h"

#define BUSY_RETRY_FIRST 0.001	/* lease held by a committer (until its queue/ fsync): */
#define BUSY_RETRY	0.05	/* look again after 1 ms, doubling up to 50 ms */
#define BUSY_MAX	45	/* once: give up on a message another process holds (~2 s) */
#define INFLIGHT_BYTES	(256u * 1024 * 1024)	/* message bytes held in memory at once
						 * (a big message holds its first chunk) */

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
	/* the message: len bytes, the first dlen of them in data (all of a
	 * message of at most SMTPC_BODY_CHUNK); the rest is read as it is
	 * sent from fd (the leased spool file: the message at off), whose
	 * CRC-32C over all len must be crc (data_crc: over data's dlen) */
	char			*data;
	size_t			 dlen, len;
	int			 fd;		/* -1: all in data */
	uint64_t		 off;
	uint32_t		 data_crc, crc;
	/* a delivery found the spool file's bytes are not the message's:
	 * quarantined when every job is done, no outcome written */
	bool			 damaged;
	char			 damage[300];
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
	unsigned		 nstarting;	/* being leased and read on the I/O thread */
	struct smtpc_sched	 sched;
	bool			 stopping;
	bool			 done;		/* ev_break asked for (maybe before ev_run) */
	pid_t			 metrics_pid;	/* the metrics process, 0 = none */
};

/* ---- the schedule and the start of messages (queue.c) ---- */

double smtpc_q_now(void);		/* wall clock, seconds */
/* know a message, or change when it is due */
void smtpc_q_sched_put(struct queue *q, const char *id, double due);
/* e's fields changed */
void smtpc_q_sched_fix(struct queue *q, struct smtpc_sched_ent *e);
/* when an envelope wants attention */
double smtpc_q_env_due(const struct spool_envelope *env);
/* a message appeared or changed on disk */
void smtpc_q_learn(struct queue *q, const char *id);
/* every message in the spool into the schedule */
void smtpc_q_scan(struct queue *q);
/* how many messages may hold a lease at once */
unsigned smtpc_q_inflight_limit(unsigned max_parallel);
/* look at the schedule again from the loop, soon */
void smtpc_q_kick(struct queue *q);
/* start every due message the limits allow */
void smtpc_q_dispatch(struct queue *q);
/* once: all done? stopping: every outcome written? then ev_break */
void smtpc_q_maybe_done(struct queue *q);

/* ---- outcomes (queue_outcome.c) ---- */

const char *smtpc_q_domain_of(const char *addr);
/* a recipient's last error, replaced */
void smtpc_q_set_error(struct spool_rcpt *r, const char *text);
/* one recipient's outcome into the envelope, logged Postfix-style */
void smtpc_q_apply(struct qmsg *m, size_t i, const struct smtpc_result *res);
/* every job of the message is done: bounce, update, removal (async) */
void smtpc_q_msg_finish(struct qmsg *m);
/* a job's done callback (struct smtpc_job) */
void smtpc_q_job_done(struct smtpc_job *sj);
/* a delivery found the message damaged in the spool: it is quarantined
 * once every job is done, and nothing of its outcome is written */
void smtpc_q_msg_damaged(struct qmsg *m, const char *why);

#endif
