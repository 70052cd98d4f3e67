/* spool.h: the durable queue (DESIGN.md section 10). Owns the on-disk
 * format of state_dir/queue/, the group commit that makes a message durable
 * before dsmtpd may answer 250, and the lease that keeps two dsmtpc
 * processes from delivering one message at once. Knows nothing of SMTP,
 * TLS libraries or routing: callers hand in finished envelopes of plain C
 * strings and numbers.
 *
 * Layout of queue/ (see spool_format.c for the record format), spool
 * format version 2 -- one new file (one inode) per accepted message:
 *   ID.d            the message bytes exactly as received, then the
 *                   message's first envelope, then a fixed 48-byte trailer
 *                   giving both lengths; never rewritten
 *   ID.e            the current envelope: typed, length-prefixed records
 *                   ending in an END record with a CRC-32C of everything
 *                   before it; it also holds the length and CRC-32C of the
 *                   message bytes. At first ID.e is a second name (a hard
 *                   link) of ID.d, whose embedded envelope it then means;
 *                   the first update renames a small file of its own over
 *                   it, and later ones replace that (tmp + fsync + rename:
 *                   a crash leaves the old envelope or the new one). An
 *                   update never copies the message bytes.
 *   tmp/            files being written; whatever no live process holds is
 *                   removed by spool_open()
 *   quarantine/     damaged entries moved aside, with ID.why saying why
 * Version 1 (every spool before): ID.d the message bytes alone, ID.e a
 * file of its own. Both versions are read, leased, updated and removed
 * alike, so an upgrade loses nothing; the first line of the envelope
 * ("dsmtp-envelope 1" or "2") says which layout its ID.d has.
 *
 * A message exists when ID.e exists. tmp/ID.d is written (data as it
 * streams, then envelope and trailer at commit), linked to tmp/ID.e,
 * fsync'd, renamed into queue/ (ID.d first, then ID.e) and queue/ is
 * fsync'd; only then is done() told rc 0. A crash may leave, besides whole
 * messages: files in tmp/, and an ID.d without its ID.e (killed between
 * the two renames of a commit that was never acknowledged, or between the
 * two unlinks of a removal). Neither is a message; both are removed by the
 * next spool_open() once no live process holds their lock, so look at the
 * spool through spool_list(), not by globbing *.d.
 *
 * Notification: the rename of ID.e lands in queue/ itself, so dsmtpc sees
 * a new (or updated) message by watching queue/ with inotify for
 * IN_MOVED_TO on names ending in ".e" -- no polling. The committer keeps
 * its lease on the message until queue/ is fsync'd, so spool_lease() may
 * answer "busy" for a few milliseconds after the event: retry shortly.
 *
 * Threads: one struct spool per process (open it after any fork), used
 * from one thread, the loop's. Only the fsyncs of spool_msg_commit,
 * spool_update_async and spool_remove_async run on the spool's worker
 * thread; every other call, and every done(), happens on the caller's
 * thread. */
#ifndef DSMTP_SPOOL_H
#define DSMTP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/diag.h"

struct ev_loop;

/* ids: 14 hex digits of arrival in microseconds, 6 of the writer's pid, 4
 * of a per-process counter: unique, sortable by arrival, filename-safe */
#define SPOOL_ID_LEN	24
#define SPOOL_ID_SIZE	(SPOOL_ID_LEN + 1)

/* one string field of an envelope may not exceed this (bytes) */
#define SPOOL_MAX_STRING	(1024 * 1024)

enum spool_rcpt_state {
	SPOOL_RCPT_PENDING,	/* to be delivered (maybe deferred: see attempts) */
	SPOOL_RCPT_DELIVERED,	/* the next hop said 250 */
	SPOOL_RCPT_FAILED,	/* permanent failure, bounce not queued yet */
	SPOOL_RCPT_BOUNCED,	/* the DSN to the sender is itself queued */
};
const char *spool_rcpt_state_name(enum spool_rcpt_state s);

struct spool_rcpt {
	char			*addr;		/* without <>; never empty */
	enum spool_rcpt_state	 state;
	unsigned		 attempts;	/* delivery attempts so far */
	int64_t			 next_attempt;	/* unix time (s); commit: 0 = arrival */
	char			*last_error;	/* "" none; e.g. the next hop's reply */
};

/* the TLS facts of the receiving session, as text (tls/ formats them) */
struct spool_tls {
	char	*version;	/* "" = no TLS; e.g. "TLSv1.3" */
	char	*cipher;
	char	*peer_subject;	/* client certificate subject, "" none */
	char	*peer_sha256;	/* of the client certificate, hex */
	char	*verify;	/* verification result, e.g. "ok" or a reason */
	bool	 domain_secured;
	char	*domain;	/* the domain it was secured for */
};

/* message flags (envelope record "flags", written only when not 0, so an
 * envelope without flags reads as before; DESIGN.md 13.3) */
#define SPOOL_F_REQUIRETLS	0x01	/* RFC 8689: MAIL FROM ... REQUIRETLS */
#define SPOOL_F_TLS_OPTIONAL	0x02	/* RFC 8689 "TLS-Required: No" header */
#define SPOOL_F_REQUIRETLS_DSN	0x04	/* a DSN of a REQUIRETLS message: sent
					 * with REQUIRETLS where the next hop
					 * allows it, else without (never bounced
					 * for that) */
#define SPOOL_F_ALL		0x07
/* "requiretls tls-optional" style words for people; "" when none */
void spool_flags_format(unsigned flags, char *out, size_t outlen);

/* Every string may be NULL on input (stored as ""); spool_load() always
 * returns non-NULL strings. Free loaded envelopes with spool_envelope_free. */
struct spool_envelope {
	char			 id[SPOOL_ID_SIZE];	/* set by load; ignored as input */
	int64_t			 arrival;	/* unix time (s); commit: 0 = now */
	char			*client;	/* e.g. "192.0.2.1:4321" */
	char			*ehlo;
	struct spool_tls	 tls;
	uint64_t		 session_id;	/* receiving session, shown as %016llx */
	char			*sender;	/* "" = the null sender <> */
	struct spool_rcpt	*rcpts;
	size_t			 nrcpts;	/* at least 1 */
	unsigned		 flags;		/* SPOOL_F_* */
	/* set by spool_load(), ignored as input: */
	uint64_t		 size;		/* bytes of the message (ID.d) */
	int64_t			 next_attempt;	/* earliest of the pending rcpts;
						 * INT64_MAX when none is pending */
};

void spool_envelope_free(struct spool_envelope *env);	/* the contents, not env */

struct spool;
struct spool_msg;

/* Open queue_dir (which must exist: config_state_path(cfg, "queue", ...)),
 * create tmp/ and quarantine/, and remove the leftovers of crashed
 * writers. loop: the libev loop whose thread gets done() (a worker thread
 * does the fsyncs); NULL: synchronous commits, for tools and dsmtpc. */
struct spool *spool_open(const char *queue_dir, struct ev_loop *loop, struct dsmtp_err *err);
/* Finishes every commit in flight (their done() runs inside), releases
 * every lease, frees. */
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/* --- writing (dsmtpd) --- */

/* a new message: tmp/ID.d created O_EXCL, mode 0600 */
struct spool_msg *spool_msg_new(struct spool *sp, struct dsmtp_err *err);
const char *spool_msg_id(const struct spool_msg *m);
/* Append message bytes (buffered). -1 with errno on failure (ENOSPC: the
 * caller answers 452 4.3.1); the message can then only be aborted or its
 * commit fails. */
int spool_msg_write(struct spool_msg *m, const void *buf, size_t len);

/* rc of a failed job whose cause was a full disk or quota (ENOSPC,
 * EDQUOT): dsmtpd answers 452 4.3.1 rather than 451 */
#define SPOOL_RC_NOSPACE	(-2)

typedef void spool_done_fn(void *arg, int rc, const char *id, const char *why);
/* Make m durable with envelope env (copied at once; the caller may free
 * env on return). Consumes m. done(arg, 0, id, NULL) once the message is
 * on disk for good, or done(arg, rc < 0, id, reason) with nothing left
 * behind (rc SPOOL_RC_NOSPACE for a full disk, else -1);
 * called exactly once, on the loop thread from the event loop -- or before
 * return when the spool has no loop. Only after rc 0 may dsmtpd say 250.
 * Returns -1 (and frees m, no done()) only for a NULL m, env or done. */
int spool_msg_commit(struct spool_msg *m, const struct spool_envelope *env,
    spool_done_fn *done, void *arg);
/* drop an unfinished message: unlink its temporary file, free */
void spool_msg_abort(struct spool_msg *m);

/* --- reading and updating (dsmtpc) ---
 * Errors return -1 with errno and err set: ENOENT the message is gone (it
 * was delivered and removed meanwhile), EWOULDBLOCK another process holds
 * its lease, EBADMSG it was damaged and has been moved to quarantine/ (a
 * warning naming the reason went to stderr). */

/* every message id, in arrival order; free with spool_ids_free */
int spool_list_ids(struct spool *sp, char ***ids, size_t *n, struct dsmtp_err *err);
void spool_ids_free(char **ids, size_t n);
/* every message's envelope sorted by next attempt, then id; damaged ones
 * are quarantined and left out, vanished ones left out; free with
 * spool_list_free */
int spool_list(struct spool *sp, struct spool_envelope **envs, size_t *n,
    struct dsmtp_err *err);
void spool_list_free(struct spool_envelope *envs, size_t n);

int spool_load(struct spool *sp, const char *id, struct spool_envelope *env,
    struct dsmtp_err *err);
/* An fd (O_RDONLY, positioned at the first message byte) of the file
 * holding the message bytes, after checking their length and CRC against
 * the envelope; the caller closes. The file may go on after the message
 * (version 2: the envelope follows it): read exactly spool_load()'s size
 * bytes, never to end of file. */
int spool_data_open(struct spool *sp, const char *id, struct dsmtp_err *err);
/* where the message bytes are: fd positioned at off, len bytes from there
 * (never read past off + len), crc their CRC-32C per the envelope */
struct spool_data {
	int		fd;
	uint64_t	off;
	uint64_t	len;
	uint32_t	crc;
};
/* spool_data_open with the bounds; verify false skips the read-through,
 * for a caller that checks crc over the bytes as it reads them and, on a
 * mismatch, calls spool_data_damaged (which quarantines the message) */
int spool_data_get(struct spool *sp, const char *id, bool verify, struct spool_data *d,
    struct dsmtp_err *err);
void spool_data_damaged(struct spool *sp, const char *id, const char *why);
/* the bytes a verify-false caller read: len of them with CRC-32C crc
 * (spool_data_crc over them, from 0). 0 when they are d's; else the
 * message is quarantined (spool_data_damaged), err says why, -1 */
uint32_t spool_data_crc(uint32_t crc, const void *buf, size_t len);
/* up to len bytes of fd at off (EINTR retried, any thread): the count,
 * less than len only at the end of the file, or -1 with errno */
ssize_t spool_data_read(int fd, void *buf, size_t len, uint64_t off);
int spool_data_check(struct spool *sp, const char *id, const struct spool_data *d,
    uint64_t len, uint32_t crc, struct dsmtp_err *err);

/* Lease: a non-blocking flock on ID.d, held until spool_release() or
 * spool_close(). 0 = held by sp (also if it already was), 1 = another
 * process (or another struct spool) holds it, -1 = gone or error.
 * Leasing, releasing, loading and reading a message may be done on
 * another thread than the loop's (dsmtpc's I/O threads), one thread per
 * message at a time; everything else is the loop thread's. */
int spool_lease(struct spool *sp, const char *id, struct dsmtp_err *err);
void spool_release(struct spool *sp, const char *id);

/* Rewrite the envelope atomically (tmp + fsync + rename + directory
 * fsync); ID.d is never rewritten. The per-recipient state, attempts,
 * next attempt and last error come from env; so does everything else
 * except the id and the data length and CRC, which stay. Uses sp's lease,
 * or takes one for the call (EWOULDBLOCK if another process has it). */
int spool_update(struct spool *sp, const char *id, const struct spool_envelope *env,
    struct dsmtp_err *err);
/* Remove a finished message (ID.e first: then it is gone, then ID.d).
 * Refused (EBUSY) while a recipient is pending or failed: remove only
 * after every one is delivered or bounced. Leases like spool_update. */
int spool_remove(struct spool *sp, const char *id, struct dsmtp_err *err);
/* The same two, for a process with a loop (dsmtpc run): the fsyncs and
 * the directory fsync run on the worker thread, grouped with every other
 * commit, update and removal queued meanwhile, and done(arg, rc, id, why)
 * comes on the loop thread like a commit's (before return without a
 * loop). They need sp's lease on id (spool_lease), kept until done(): the
 * lease is what keeps every other writer off the message meanwhile. The
 * envelope is checked and encoded at the call; an invalid one, a missing
 * lease, or (for removal) a recipient still pending or failed answer
 * through done() with rc -1 and nothing changed. If the group's directory
 * fsync fails, done() says -1 although the change may have been made:
 * load the message again to see. Return -1 (no done()) only for a NULL
 * done. */
int spool_update_async(struct spool *sp, const char *id, const struct spool_envelope *env,
    spool_done_fn *done, void *arg);
int spool_remove_async(struct spool *sp, const char *id, spool_done_fn *done, void *arg);
/* The removal of a message whose every recipient env (the caller's
 * envelope, just changed) shows delivered or bounced, checked against env
 * instead of the envelope on disk: the outcome is not written first. A
 * crash before the removal is durable brings the message back with its
 * old envelope, to be delivered again (DESIGN.md 10: at most twice), as a
 * crash before a written outcome would. Otherwise spool_remove_async. */
int spool_remove_finished_async(struct spool *sp, const char *id,
    const struct spool_envelope *env, spool_done_fn *done, void *arg);
/* Make every pending recipient whose next attempt is later than now due
 * now. *flushed: messages changed; *busy: skipped because another process
 * holds their lease (being delivered right now). */
int spool_flush_all(struct spool *sp, size_t *flushed, size_t *busy, struct dsmtp_err *err);

/* --- tests only (compiled always, used only by tests/unit) --- */
enum spool_fault {
	SPOOL_FAULT_WRITE,	/* write(2) to a spool file: ENOSPC */
	SPOOL_FAULT_FSYNC,	/* fsync of a file: EIO */
	SPOOL_FAULT_RENAME,	/* rename into queue/ or quarantine/: EIO */
	SPOOL_FAULT_DIRFSYNC,	/* fsync of a directory: EIO */
	SPOOL_FAULT_LINK,	/* link(2) of tmp/ID.d to tmp/ID.e: EIO */
	SPOOL_FAULT_COUNT
};
/* the nth call (1 = the next) of that operation in this process fails,
 * once; 0 disarms */
void spool_test_fail_at(enum spool_fault point, unsigned nth);
/* at most max commits per worker pass (0 = no limit; 1 = one fsync group
 * per message, for comparing); counters of passes and commits done */
void spool_test_group_max(struct spool *sp, size_t max);
void spool_test_stats(const struct spool *sp, uint64_t *groups, uint64_t *commits);
/* a message written as spool format version 1 (ID.d the data alone, ID.e
 * its own file), as an older dsmtpd left it: synchronously, id set; for
 * the upgrade tests (spool_v1.c) */
int spool_test_write_v1(struct spool *sp, const void *data, size_t len,
    const struct spool_envelope *env, char id[SPOOL_ID_SIZE], struct dsmtp_err *err);

#endif
