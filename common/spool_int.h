/* spool_int.h: what the spool_*.c files share and nobody else may use: the
 * struct spool, the in-flight message, the envelope codec and the I/O
 * wrappers that carry the test faults. Not installed, not for callers. */
#ifndef DSMTP_SPOOL_INT_H
#define DSMTP_SPOOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "common/spool.h"

#define SPOOL_WBUF_SIZE		(64 * 1024)	/* message bytes buffered per write(2) */
#define SPOOL_WBUF_CACHE	16		/* write buffers kept for reuse */
#define SPOOL_LEASE_BUCKETS	256
#define SPOOL_MAX_ENVELOPE	(64 * 1024 * 1024)	/* an ID.e larger is damage */
#define SPOOL_WHY_SIZE		256

/* a lease held by this struct spool: the flock'ed fd of ID.d */
struct spool_lease {
	char			 id[SPOOL_ID_SIZE];
	int			 fd;
	struct spool_lease	*next;
};

/* a group holds its files open from the first write to the directory
 * fsync (one per commit or update): bounded, so a backlog of thousands of updates
 * (dsmtpc once on a big spool, the disk slow) cannot run the process out
 * of descriptors; grouping pays off long before this many */
#define SPOOL_GROUP_MAX	256

struct spool {
	char			*dir;		/* queue/ path, for messages */
	int			 dirfd;		/* queue/ */
	int			 tmpfd;		/* queue/tmp/ */
	int			 quarfd;	/* queue/quarantine/ */
	unsigned		 counter;	/* id uniqueness within a microsecond */
	/* the leases held, by a hash of the id (dsmtpc holds hundreds:
	 * a list's strcmp per look-up showed in its profile); under lease_mu */
	struct spool_lease	*leases[SPOOL_LEASE_BUCKETS];
	pthread_mutex_t		 lease_mu;

	/* commit machinery; NULL loop = synchronous */
	struct ev_loop		*loop;
	ev_async		 wake;		/* worker -> loop: finished commits */
	pthread_t		 worker;
	bool			 worker_up;
	pthread_mutex_t		 mu;		/* guards the fields down to stats */
	pthread_cond_t		 cv;
	struct spool_msg	*todo, **todo_tail;	/* queued for the worker */
	struct spool_msg	*done, **done_tail;	/* finished, for the loop */
	bool			 stopping;
	size_t			 group_max;	/* jobs per group; 0 = no limit (tests) */
	uint64_t		 n_groups, n_commits;
	unsigned		 inflight;	/* loop thread only */
	/* write buffers of finished messages, kept for the next ones (a
	 * fresh 64 KiB per message cost a malloc, page faults and the
	 * heap's trim each time); loop thread only */
	unsigned char		*wbufs[SPOOL_WBUF_CACHE];
	unsigned		 nwbufs;
	/* without a loop: jobs held back to run as one group (flush) */
	bool			 batching;
	struct spool_msg	*batch, **batch_tail;
};

/* what a worker job does: a new message, or a change to a leased one */
enum spool_job { SPOOL_JOB_COMMIT, SPOOL_JOB_UPDATE, SPOOL_JOB_REMOVE };

struct spool_msg {
	struct spool		*sp;
	enum spool_job		 kind;
	char			 id[SPOOL_ID_SIZE];
	int			 dfd;		/* tmp/ID.d, flock'ed until the end */
	int			 efd;		/* update: tmp/ID.u being written */
	unsigned char		*wbuf;
	size_t			 wlen;
	uint64_t		 size;
	uint32_t		 crc;
	int			 werrno;	/* first write error, 0 none */
	char			*env;		/* the serialized envelope (commit:
						 * and the trailer after it) */
	size_t			 envlen;
	bool			 d_moved, e_moved;	/* renamed into (or, for a
							 * removal, out of) queue/ */
	bool			 e_linked;	/* commit: tmp/ID.e made */
	spool_done_fn		*done_fn;
	void			*done_arg;
	int			 rc;
	int			 eno;		/* errno of the failure, 0 none */
	char			 why[SPOOL_WHY_SIZE];
	struct spool_msg	*next;
};

/* spool_commit.c: the write buffers kept for reuse, freed (spool_close) */
void spool_wbufs_free(struct spool *sp);

/* spool_format.c */
uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len);
/* the same with the tables whatever the CPU offers (unit test) */
uint32_t spool_test_crc32c_soft(uint32_t crc, const void *buf, size_t len);
/* serialize env (with the data length and CRC) into a malloc'ed buffer,
 * as spool format version (1: ID.d is the data alone; 2: ID.d is the data,
 * its first envelope and the trailer); -1 with why on an invalid envelope
 * or no memory. spool_env_encode: version 1. */
int spool_env_encode_v(unsigned version, const struct spool_envelope *env, const char *id,
    uint64_t size, uint32_t crc, char **out, size_t *outlen, char *why, size_t whylen);
int spool_env_encode(const struct spool_envelope *env, const char *id, uint64_t size,
    uint32_t crc, char **out, size_t *outlen, char *why, size_t whylen);
/* parse and check a whole envelope of either version; -1 with why (damage) */
int spool_env_decode_v(const char *buf, size_t len, const char *id, struct spool_envelope *env,
    uint32_t *crc, unsigned *version, char *why, size_t whylen);
int spool_env_decode(const char *buf, size_t len, const char *id, struct spool_envelope *env,
    uint32_t *crc, char *why, size_t whylen);
/* the last SPOOL_TRAILER_LEN bytes of a version 2 ID.d: "dsmtp-spool 2 "
 * + 16 hex of the data length + " " + 16 hex of the envelope's + "\n" */
#define SPOOL_TRAILER_LEN	48
void spool_trailer_format(char out[SPOOL_TRAILER_LEN + 1], uint64_t data_len, uint64_t env_len);
int spool_trailer_parse(const char *buf, uint64_t *data_len, uint64_t *env_len);
bool spool_id_valid(const char *s);

/* spool_io.c: syscalls with the test faults and EINTR handled */
int spool_io_write(int fd, const void *buf, size_t len);
int spool_io_fsync(int fd);
int spool_io_dirfsync(int fd);
int spool_io_rename(int ofd, const char *oname, int nfd, const char *nname, bool noreplace);
int spool_io_link(int ofd, const char *oname, int nfd, const char *nname);
/* exactly len bytes at off (a short file: EBADMSG) */
int spool_io_pread(int fd, void *buf, size_t len, uint64_t off);
/* create tmp/name O_EXCL 0600 and flock it, so spool_open() elsewhere
 * never removes a file a live process is writing; replace_stale: a file
 * of that name is a crashed earlier try of ours (we hold the lease) */
int spool_tmp_create(struct spool *sp, const char *name, bool replace_stale);
void spool_make_id(struct spool *sp, char id[SPOOL_ID_SIZE]);

/* spool.c */
struct spool_lease *spool_lease_find(struct spool *sp, const char *id);
/* spool_load, plus the data's CRC from the envelope and the spool format
 * version of the message (1: old two-file, 2: one file; NULL: not wanted) */
int spool_load_env(struct spool *sp, const char *id, struct spool_envelope *env,
    uint32_t *crc, unsigned *version, struct dsmtp_err *err);

/* spool_commit.c */
int spool_commit_start(struct spool *sp, struct dsmtp_err *err);
/* without a loop: from spool_batch_begin on, jobs wait; spool_batch_run
 * runs them as one group and calls their done() */
void spool_batch_begin(struct spool *sp);
void spool_batch_run(struct spool *sp);
void spool_commit_stop(struct spool *sp);
/* a job changing the message id (SPOOL_JOB_UPDATE: the caller puts the
 * encoded envelope in m->env, m->envlen); NULL without memory */
struct spool_msg *spool_job_new(struct spool *sp, enum spool_job kind, const char *id,
    spool_done_fn *done, void *arg);
/* the job's first failure: rc SPOOL_RC_NOSPACE for e ENOSPC or EDQUOT,
 * else -1; e is kept for spool_job_run's errno */
void spool_job_fail(struct spool_msg *m, int e, const char *fmt, ...) DIAG_PRINTF(3, 4);
/* consume m: for the worker's next group, done() on the loop thread (now,
 * without a loop) ... */
void spool_job_submit(struct spool_msg *m);
/* ... or run now on this thread, no done(): 0, or -1 with err and errno
 * (m NULL: ENOMEM) */
int spool_job_run(struct spool_msg *m, struct dsmtp_err *err);

#endif
