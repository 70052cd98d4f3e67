/* plog.h: the one public header of logs/, the protocol logs (DESIGN.md
 * section 9): the writer dsmtpd and dsmtpc call per SMTP event, and the
 * streaming reader dsmtp-log is built on. Owns the on-disk log format, file
 * naming, rotation and pruning. Knows nothing of sockets or GnuTLS: it is
 * handed facts (the plain structs of tls/tls_facts.h, nothing else of
 * tls/) and lines, and records them.
 *
 * Rules for callers:
 *  - Message bodies are NEVER passed to plog: between the 354 reply and the
 *    end-of-data "." nothing of the message is logged (nor the "."), only
 *    the reply that ends it. Headers are part of the body.
 *  - plog_received()/plog_sent() take one SMTP line as it crossed the wire,
 *    without CRLF. plog masks AUTH arguments and SASL exchanges with "****"
 *    itself, in both roles; pass nothing else secret (no passwords, keys).
 *  - Every plog_* call is safe with pl == NULL and at level none (no-ops), so
 *    callers need no checks. Writes are buffered in memory; call plog_flush()
 *    at session end and from a 1-second ev_timer. A full disk never stops a
 *    session: the loss is reported once on stderr and writing resumes.
 *
 * Format (one record per physical line, UTF-8, 9 fields):
 *   date-time,connector-id,session-id,sequence-number,local-endpoint,
 *   remote-endpoint,event,data,context
 * Visible escape, applied to every field before the CSV/JSON layer: '\' is
 * written "\\", CR "\r", LF "\n", TAB "\t", any other control byte, C1
 * control and any byte that is not part of valid UTF-8 as "\xHH"; inside a
 * "key=value; ..." value also ';' as "\x3b", so a peer cannot forge keys.
 * CSV then quotes (RFC 4180) a field holding ',' or '"'; JSON writes the same
 * escaped text as JSON strings. */
#ifndef DSMTP_PLOG_H
#define DSMTP_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/diag.h"

struct dsmtp_config;
struct sockaddr;
struct tls_cert_facts;
struct tls_session_facts;

enum plog_dir { PLOG_RECEIVE, PLOG_SEND };

struct plog;	/* one per direction per process */

/* one per SMTP connection, owned by the caller; set id, connector, local and
 * remote, then call plog_connect() (which resets the rest) */
struct plog_session {
	uint64_t	 id;		/* printed as 16 lowercase hex; also in Received: and the spool */
	char		 connector[64];	/* "dsmtpd 127.0.0.1:2525" or the route */
	char		 local[64];	/* "127.0.0.1:2525" / "[::1]:4567" */
	char		 remote[64];
	unsigned	 seq;		/* sequence-number, incremented per record */
	/* plog's own state, reset by plog_connect(): */
	uint64_t	 pend;		/* one bit per command awaiting its reply: 1 = envelope */
	unsigned	 npend;
	bool		 auth;		/* inside an AUTH exchange: mask client lines */
	/* logs.peers: this session's level, set by plog_peer_decide() (not
	 * reset by plog_connect); has_level false: logs.level */
	bool		 has_level;
	int		 level;		/* enum log_level */
};

/* Open the writer for one direction: files under state_dir/logs.dir/receive
 * (RECVyyyymmdd-N.LOG) or .../send (SENDyyyymmdd-N.LOG). Prunes files older
 * than logs.max_age_days. At level none nothing is created and every call is
 * a no-op. NULL with err set on failure. */
struct plog *plog_open(const struct dsmtp_config *cfg, enum plog_dir dir, struct dsmtp_err *err);
void plog_close(struct plog *pl);	/* flushes, frees */
void plog_flush(struct plog *pl);
uint64_t plog_new_session_id(void);	/* random 64-bit, never 0 */

void plog_connect(struct plog *pl, struct plog_session *s);			/* '+' */
/* resets s like plog_connect() but writes nothing: for a next hop judged
 * and given up before any connection (a DANE MX host whose TLSA lookup was
 * bogus), whose '*' records and '-' then stand without a '+' */
void plog_begin(struct plog_session *s);
void plog_disconnect(struct plog *pl, struct plog_session *s, const char *reason);	/* '-' */
void plog_sent(struct plog *pl, struct plog_session *s, const char *line, size_t len);	/* '>' */
void plog_received(struct plog *pl, struct plog_session *s, const char *line, size_t len); /* '<' */
void plog_info(struct plog *pl, struct plog_session *s, const char *context, const char *fmt, ...)
    DIAG_PRINTF(4, 5);								/* '*' */
void plog_local_cert(struct plog *pl, struct plog_session *s, const struct tls_cert_facts *f,
    const char *why);
void plog_tls(struct plog *pl, struct plog_session *s, const struct tls_session_facts *f);
void plog_verification(struct plog *pl, struct plog_session *s, const char *chain,
    const char *names, const char *pin);
void plog_policy(struct plog *pl, struct plog_session *s, const char *level, const char *domain,
    bool pass, const char *reason);
/* every verdict given to plog_policy(), logged or not (any level, pl
 * NULL too), is also handed to this process-wide observer: the metrics
 * count policy failures there (NULL: none) */
typedef void plog_policy_fn(const char *level, bool pass, const char *reason);
void plog_set_policy_observer(plog_policy_fn *fn);
/* a handshake or TLS I/O failure: context "TLS error", data "reason=..." */
/* (every delivery attempt's RFC 8460 outcome goes in a '*' record of
 * context "TLS result", kept at level basic, written by smtpc/tlsrpt.c:
 * "result-type=tlsa-invalid; policy-type=tlsa; ..."; older logs have
 * "TLS failure" records for failures only) */
void plog_tls_error(struct plog *pl, struct plog_session *s, const char *reason);

/* logs.peers (plog_peer.c): the level of a session with a peer known by
 * its address (sa, or NULL) and names (NULL or "" entries skipped): the
 * first entry of logs.peers matching any of them (a domain matches itself
 * and its subdomains; an IP or CIDR the address) sets s's level, else
 * logs.level does. Call again when more of the peer is known. */
void plog_peer_decide(const struct dsmtp_config *cfg, struct plog_session *s,
    const struct sockaddr *sa, const char *const *names, size_t nnames);
/* SIGHUP: logs.peers read anew from cfg->source into cfg (the rest of cfg
 * unchanged); *pl reopened when logging is now wanted and was off. 0, or
 * -1 with err (the old list kept). */
int plog_peers_reload(struct dsmtp_config *cfg, struct plog **pl, enum plog_dir dir,
    struct dsmtp_err *err);
/* does the writer write at all (logs.level or a logs.peers entry above none)? */
bool plog_enabled(const struct plog *pl);

/* the file being written now ("" before the first), for diagnostics/tests */
const char *plog_current_file(const struct plog *pl);
/* records dropped because of write errors since open */
uint64_t plog_lost(const struct plog *pl);

/* Tests only: the clock every record and file name uses (NULL: the real
 * CLOCK_REALTIME). Process-wide. */
typedef void (*plog_clock_fn)(struct timespec *now);
void plog_set_clock(plog_clock_fn fn);

/* ---- reading ---- */

enum plog_field {
	PLOG_F_TIME, PLOG_F_CONNECTOR, PLOG_F_SESSION, PLOG_F_SEQ, PLOG_F_LOCAL,
	PLOG_F_REMOTE, PLOG_F_EVENT, PLOG_F_DATA, PLOG_F_CONTEXT,
	PLOG_NFIELDS
};
extern const char *const plog_field_names[PLOG_NFIELDS];

/* one record as read: fields are NUL-terminated and un-quoted (CSV/JSON
 * layer undone) but still visibly escaped, so safe to print */
struct plog_record {
	const char	*f[PLOG_NFIELDS];
	size_t		 len[PLOG_NFIELDS];
	enum plog_dir	 dir;		/* from #Log-type, else the file name */
	const char	*file;
	unsigned long	 line;
};

/* return non-zero to stop reading */
typedef int (*plog_record_cb)(const struct plog_record *r, void *arg);
/* a line that is not a record: reported, skipped */
typedef void (*plog_error_cb)(const char *file, unsigned long line, const char *why, void *arg);

struct plog_reader;
struct plog_reader *plog_reader_new(plog_record_cb rec, plog_error_cb errf, void *arg);
void plog_reader_free(struct plog_reader *r);
/* start a new input: name for messages; direction until #Log-type says */
void plog_reader_begin(struct plog_reader *r, const char *name, enum plog_dir dir);
/* feed bytes in any split; returns 1 if the record callback stopped it */
int plog_reader_feed(struct plog_reader *r, const char *buf, size_t len);
int plog_reader_end(struct plog_reader *r);	/* a last line without LF */
/* read a whole file ("-": standard input), streaming, constant memory:
 * 0, 1 = stopped, -1 = error */
int plog_read_file(struct plog_reader *r, const char *path, struct dsmtp_err *err);
unsigned long plog_reader_errors(const struct plog_reader *r);

/* the value of key in "k=v; k2=v2" data, copied (truncated) into out;
 * false if absent */
bool plog_kv_get(const char *data, const char *key, char *out, size_t outlen);

/* log files under paths (files as given, "-" for standard input,
 * directories recursively, *.LOG), sorted by direction, day and N */
struct plog_files {
	char	**v;
	size_t	  n;
};
int plog_files_collect(char *const *paths, size_t npaths, struct plog_files *out,
    struct dsmtp_err *err);
void plog_files_free(struct plog_files *fl);
/* "RECV20261124-3.LOG" -> 20261124, 0 if the name has no date */
unsigned long plog_file_day(const char *path);

/* length of the valid UTF-8 sequence at s (not C1 controls), 0 if none */
size_t plog_utf8_len(const unsigned char *s, size_t n);

/* write s as a JSON string (quoted) */
void plog_json_string(FILE *out, const char *s);

#endif
