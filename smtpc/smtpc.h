/* smtpc.h: dsmtpc's internal interfaces: the reply parser (reply.c), the
 * retry schedule and DSN builder (retry.c, bounce.c), the resolver (dns.c,
 * libunbound), next-hop resolution with DNSSEC and TLSA (route.c), the
 * client SMTP session (client.c, client_tls.c, client_tx.c; its insides in
 * client_int.h) and its destinations (client_dest.c), local delivery
 * (maildir.c), the spool scheduler (queue.c, queue_outcome.c,
 * queue_daemon.c; queue_int.h) with its schedule (sched.c) and the
 * one-shot sender (send.c). Nothing outside smtpc/ includes it. */
#ifndef DSMTP_SMTPC_H
#define DSMTP_SMTPC_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/spool.h"
#include "policy/policy.h"
#include "tls/tls.h"

struct plog;
struct plog_session;
struct spool;
struct smtpc_io;

/* message bytes per read from the spool file while sending (dsmtpc(8)
 * "streamed delivery"): a message this size or smaller is read whole and
 * checked before anything of it is sent */
#define SMTPC_BODY_CHUNK	(64 * 1024)

/* ---- replies (reply.c) ---- */

#define SMTPC_REPLY_LINE_MAX	512	/* RFC 5321 4.5.3.1.5, including CRLF */
#define SMTPC_REPLY_LINES_MAX	100	/* more is a broken or hostile server */

/* one complete reply: every line as received (code included), joined by
 * '\n', without CR LF */
struct smtpc_reply {
	int	 code;		/* 200..599 */
	size_t	 nlines;
	char	*text;
	size_t	 len, cap;
};

struct smtpc_reply_parser {
	char			 line[SMTPC_REPLY_LINE_MAX + 1];
	size_t			 linelen;
	bool			 cr;		/* last byte was CR */
	bool			 complete;	/* r holds a finished reply */
	struct smtpc_reply	 r;		/* the reply being built */
	char			 err[160];
};

void smtpc_reply_init(struct smtpc_reply_parser *p);
void smtpc_reply_reset(struct smtpc_reply_parser *p);	/* forget a partial reply */
void smtpc_reply_free(struct smtpc_reply_parser *p);
/* feed bytes; 1 = a reply is complete in p->r (*used bytes consumed, the
 * rest belongs to the next reply), 0 = all consumed, need more, -1 =
 * malformed or oversized (p->err says why) */
int smtpc_reply_feed(struct smtpc_reply_parser *p, const char *buf, size_t len, size_t *used);
/* the reply on one line ("550 5.1.1 <x>: unknown / second line"),
 * printable, cut to fit */
void smtpc_reply_flat(const struct smtpc_reply *r, char *out, size_t outlen);
/* the enhanced status code of a reply (RFC 3463), or a default derived
 * from the reply code ("5.0.0", "4.0.0") */
void smtpc_reply_status(const struct smtpc_reply *r, char *out, size_t outlen);
/* iterate the lines: *pos starts at 0; returns the line (without code and
 * separator) into out, false when none is left */
bool smtpc_reply_line(const struct smtpc_reply *r, size_t *pos, char *out, size_t outlen);

/* ---- retry schedule (retry.c) ---- */

/* seconds to wait after the attempts-th failed attempt: first, doubling,
 * never more than max */
unsigned smtpc_retry_delay(unsigned first, unsigned max, unsigned attempts);
/* has a message that arrived at arrival outlived lifetime at now? */
bool smtpc_retry_expired(int64_t arrival, unsigned lifetime, int64_t now);

/* ---- delivery status notifications (bounce.c) ---- */

struct smtpc_dsn_rcpt {
	const char	*addr;
	const char	*status;	/* "5.1.1" */
	const char	*diagnostic;	/* the reply or the reason */
	const char	*remote_mta;	/* host name, or NULL */
};

struct smtpc_dsn {
	const char			*reporting_mta;	/* our hostname */
	const char			*sender;	/* the original sender: the DSN's To */
	const char			*queue_id;
	int64_t				 arrival;
	int64_t				 now;
	const struct smtpc_dsn_rcpt	*rcpts;
	size_t				 nrcpts;
	const char			*orig;		/* the original message (CRLF lines) */
	size_t				 origlen;
	const char			*boundary;	/* NULL: derived from queue_id */
};

/* an RFC 3464 multipart/report into *out (malloc'd, CRLF lines); 0 or -1 */
int smtpc_dsn_build(const struct smtpc_dsn *d, char **out, size_t *outlen);

/* ---- DNS (dns.c) ---- */

/* the DNSSEC status of one answer, as dns.dnssec lets us know it */
enum smtpc_dns_sec { SMTPC_DNS_INSECURE, SMTPC_DNS_SECURE, SMTPC_DNS_BOGUS };

struct smtpc_dns_answer {
	int			 rcode;		/* 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...; -1 no answer */
	bool			 nxdomain;
	enum smtpc_dns_sec	 sec;
	const char		*canon;		/* the name after CNAMEs, or NULL */
	const unsigned char *const *data;	/* n records' rdata, wire format */
	const int		*len;
	size_t			 n;
	const char		*why;		/* bogus, SERVFAIL or failure reason, or NULL */
};

struct smtpc_dns;
struct smtpc_dns_query;
typedef void smtpc_dns_cb(void *arg, const struct smtpc_dns_answer *a);

/* the resolver of cfg->dns, its answers delivered through loop */
struct smtpc_dns *smtpc_dns_new(struct ev_loop *loop, const struct dsmtp_config *cfg,
    struct dsmtp_err *err);
void smtpc_dns_free(struct smtpc_dns *d);
/* one query (class IN); cb runs later from the loop, exactly once unless
 * cancelled, at the latest after a timeout (rcode -1). NULL on failure. */
struct smtpc_dns_query *smtpc_dns_query(struct smtpc_dns *d, const char *name, int rrtype,
    smtpc_dns_cb *cb, void *arg);
void smtpc_dns_cancel(struct smtpc_dns_query *q);

/* ---- resolution (route.c) ---- */

/* the TLSA RRset of one MX host, shared by its addresses' targets */
struct smtpc_tlsa {
	unsigned		 refs;
	size_t			 n;
	struct tls_dane_rr	 rr[TLS_DANE_MAX_RR];
};

struct smtpc_target {
	char			 host[256];	/* name connected to (SNI, verify), or the literal */
	bool			 literal;	/* host is an IP address: no SNI */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	unsigned		 pref;		/* MX preference, 0 for a literal host */
	/* RFC 7672, only when the resolution was asked for DANE */
	enum policy_dane_state	 dane;
	char			 tlsa_base[256];	/* the TLSA base domain, or "" */
	char			 dane_why[200];	/* FAILED: why this host is not used */
	struct smtpc_tlsa	*tlsa;		/* USABLE, UNUSABLE: the records (counted reference) */
	/* what DNSSEC said at each step, for people (dsmtp-policy probe):
	 * "secure", "insecure", "bogus", "failed", or why it was not asked */
	const char		*mx_sec;	/* the MX RRset (or "none: next hop host:port") */
	const char		*addr_sec;	/* the host's A/AAAA records */
	const char		*tlsa_sec;	/* the TLSA RRset */
};

enum smtpc_status { SMTPC_OK, SMTPC_TEMP, SMTPC_PERM };

typedef void smtpc_resolve_cb(void *arg, enum smtpc_status st, const char *why,
    const struct smtpc_target *t, size_t n);

struct smtpc_resolver;
struct smtpc_resolve_req;

struct smtpc_resolver *smtpc_resolver_new(struct ev_loop *loop, const struct dsmtp_config *cfg,
    struct dsmtp_err *err);
void smtpc_resolver_free(struct smtpc_resolver *r);
/* HOP_HOSTPORT: the host's A/AAAA; HOP_MX: its MX hosts in preference
 * order, each with A/AAAA (no MX: the host itself). dane: also each host's
 * TLSA RRset at _port._tcp.HOST where RFC 7672 2.2 says to look. cb runs
 * later, from the loop, exactly once unless cancelled. NULL when out of
 * memory. The targets handed to cb are the resolver's: keep a copy with
 * smtpc_targets_hold (and smtpc_targets_release it). */
struct smtpc_resolve_req *smtpc_resolve(struct smtpc_resolver *r, const struct addr_hop *hop,
    bool dane, smtpc_resolve_cb *cb, void *arg);
void smtpc_resolve_cancel(struct smtpc_resolve_req *q);
void smtpc_targets_hold(struct smtpc_target *t, size_t n);
void smtpc_targets_release(struct smtpc_target *t, size_t n);

/* the resolver's DNS handle, for other lookups on its loop (MTA-STS) */
struct smtpc_dns *smtpc_resolver_dns(struct smtpc_resolver *r);

/* ---- MTA-STS (sts_fetch.c, sts_cache.c, sts.c; RFC 8461) ---- */

/* the HTTPS fetch of https://mta-sts.DOMAIN/.well-known/mta-sts.txt */
struct smtpc_sts_fetcher;
struct smtpc_sts_fetch;
/* fail NULL: body (NUL-ended, len bytes) is a 200 text/plain answer; else
 * the RFC 8460 result type (sts-policy-fetch-error, sts-webpki-invalid) and
 * why says what failed. The fetch is gone when cb runs: do not cancel it. */
typedef void smtpc_sts_fetch_cb(void *arg, const char *fail, const char *body, size_t len,
    const char *why);
struct smtpc_sts_fetcher *smtpc_sts_fetcher_new(struct ev_loop *loop,
    const struct dsmtp_config *cfg, struct dsmtp_err *err);
void smtpc_sts_fetcher_free(struct smtpc_sts_fetcher *f);
/* GET the policy of domain from these addresses (numeric, as our resolver
 * found them for mta-sts.DOMAIN); NULL when out of memory */
struct smtpc_sts_fetch *smtpc_sts_fetch(struct smtpc_sts_fetcher *f, const char *domain,
    const char *const *addrs, size_t naddrs, smtpc_sts_fetch_cb *cb, void *arg);
void smtpc_sts_fetch_cancel(struct smtpc_sts_fetch *q);

/* the cache of policies on disk: state_dir/sts/DOMAIN */
/* 0 with p, or -1 (none, unreadable, corrupt: why) */
int smtpc_sts_cache_load(const struct dsmtp_config *cfg, const char *domain,
    struct policy_sts *p, struct dsmtp_err *err);
/* written to a temporary file, fsync'd, renamed; 0 or -1 */
int smtpc_sts_cache_store(const struct dsmtp_config *cfg, const char *domain,
    const struct policy_sts *p, struct dsmtp_err *err);

/* the lookup of a domain's policy: TXT _mta-sts.DOMAIN, the cache, the
 * fetch when the id changed or the cached policy nears its end */
struct smtpc_sts;
struct smtpc_sts_req;
/* what a lookup found: the policy to apply (NULL: none), and when finding
 * it went wrong, the RFC 8460 result type (sts-policy-fetch-error,
 * sts-policy-invalid) and why; state: "fetched", "cached", "cached (refresh
 * failed)", "none", ... for people */
struct smtpc_sts_result {
	const struct policy_sts	*policy;	/* valid until smtpc_sts_free */
	const char		*fail_type;	/* NULL: nothing went wrong */
	const char		*why;
	const char		*state;
	const char		*txt_id;	/* the TXT record's id, or "" */
};
typedef void smtpc_sts_cb(void *arg, const struct smtpc_sts_result *r);
struct smtpc_sts *smtpc_sts_new(struct ev_loop *loop, const struct dsmtp_config *cfg,
    struct smtpc_dns *dns, struct dsmtp_err *err);
void smtpc_sts_free(struct smtpc_sts *st);
/* cb runs later from the loop, exactly once unless cancelled; NULL when
 * out of memory */
struct smtpc_sts_req *smtpc_sts_lookup(struct smtpc_sts *st, const char *domain,
    smtpc_sts_cb *cb, void *arg);
void smtpc_sts_cancel(struct smtpc_sts_req *q);

/* what dsmtpc's sessions do with a policy (sts_log.c) */
struct plog_session;
struct smtpc_dest;
struct smtpc;
/* does MTA-STS apply to this destination: mta_sts.enabled, the MX set of
 * the recipient domain itself (no admin next hop), level opportunistic
 * or dane? */
bool smtpc_sts_wanted(const struct smtpc *ctx, const struct smtpc_dest *d);
/* just connected to t: the policy applied (an "MTA-STS" record); returns
 * the RFC 8460 result type the attempt's "TLS result" record must carry:
 * the failure of the policy lookup (lookup_fail) or, mode testing, an MX
 * host the policy does not name; else NULL */
const char *smtpc_sts_on_connect(struct smtpc *ctx, struct plog_session *log,
    const struct smtpc_dest *d, const struct smtpc_target *t, const struct policy_sts *p,
    const char *lookup_fail);
/* mode enforce and an MX host no mx: pattern names: true (the caller
 * skips it), with its own protocol-log records (no connection) and the
 * reason in why */
bool smtpc_sts_skip(struct smtpc *ctx, uint64_t id, const struct smtpc_dest *d,
    const struct smtpc_target *t, const struct policy_sts *p, char *why, size_t whylen);

/* ---- delivery: contexts, destinations, jobs (client_dest.c, client.c) ---- */

/* the outcome for one recipient */
struct smtpc_result {
	enum smtpc_status	 st;		/* OK delivered, TEMP deferred, PERM failed */
	bool			 done;		/* an outcome is known */
	char			 status[16];	/* enhanced status "2.0.0", "4.7.5", ... */
	char			 text[512];	/* the reply or the reason */
	char			 mta[300];	/* host[addr]:port that said it, or "" */
};

struct smtpc_job;
typedef void smtpc_job_done_fn(struct smtpc_job *j);

/* one message to some recipients through one destination */
struct smtpc_job {
	const char		*sender;	/* "" = null sender */
	char			**rcpts;
	size_t			 nrcpts;
	/* the message (CRLF lines, not dot-stuffed): len bytes, of which the
	 * first dlen are in data (all of them when dlen == len, the only case
	 * a job with body_fd < 0 may have). The rest is read as the
	 * connection drains, SMTPC_BODY_CHUNK at a time on ctx->io, from
	 * body_fd at body_off + dlen; data_crc is the CRC-32C of data's dlen
	 * bytes and body_crc must be that of all len, or nothing is ended */
	const char		*data;
	size_t			 dlen;
	size_t			 len;
	int			 body_fd;	/* -1: all in data */
	uint64_t		 body_off;
	uint32_t		 data_crc, body_crc;
	/* set by the session that found it: the bytes read from body_fd did
	 * not match body_crc, or ran short (damaged), or could not be read
	 * (read_error); the message was not ended with the final dot */
	bool			 damaged, read_error;
	struct smtpc_result	*res;		/* nrcpts outcomes, filled by the session */
	smtpc_job_done_fn	*done;		/* every result is set */
	void			*arg;
	struct smtpc_job	*next;		/* in the destination's queue */
	uint64_t		 session_id;	/* the session that carried it */
	unsigned		 flags;		/* the message's SPOOL_F_* */
	bool			 mail_requiretls;	/* MAIL FROM ... REQUIRETLS (the gate's) */
};

/* where jobs go: a next hop with the policy of its recipients */
struct smtpc_dest {
	struct smtpc		*ctx;
	char			 key[1400];
	struct addr_hop		 hop;		/* HOP_HOSTPORT or HOP_MX */
	enum dsmtp_level	 level;
	char			 domain[256];	/* recipient domain (domain-secure) */
	const struct cfg_pinref	*pins;
	size_t			 npins;
	/* RFC 8461: the MTA-STS policy applied to this destination's sessions
	 * (the latest lookup's; NULL: none, not looked up, or not applicable),
	 * owned by ctx->sts; for TLS reports' policy strings too */
	const struct policy_sts	*sts;
	unsigned		 mode;		/* SMTPC_DEST_* (requiretls.h) */
	struct smtpc_job	*head, *tail;
	size_t			 nqueued;
	unsigned		 nsessions;
	struct smtpc_dest	*next;
};

/* the process-wide delivery context */
struct smtpc {
	struct ev_loop		*loop;
	struct smtpc_io		*io;		/* file reads off the loop (iothread.h);
						 * NULL: every job's body is in memory */
	const struct dsmtp_config *cfg;
	struct tls_creds	*creds;		/* NULL: TLS unavailable */
	struct tls_trust	*trust;
	struct plog		*plog;
	struct smtpc_resolver	*resolver;
	struct smtpc_sts	*sts;		/* NULL: mta_sts.enabled is false */
	struct smtpc_dest	*dests;
	struct smtpc_session	*sessions;
	unsigned		 nsessions;
	unsigned		 max_parallel;
	unsigned		 dest_max;	/* sessions per destination */
	bool			 stopping;
	bool			 print_facts;	/* dsmtpc send: facts to stdout */
	bool			 no_memory;	/* dsmtpc send: the security memory is
						 * neither consulted nor taught */
	double			 timeout_cap;	/* 0, or every timeout at most this */
	/* run: a session with nothing to carry stays connected this long
	 * (seconds) for the next message to its destination; 0 = QUIT at once */
	double			 idle_keep;
	ev_timer		 logflush;	/* protocol log flushed every second */
	ev_signal		 flushsig;	/* SIGUSR1: ... and at once */
	void			(*idle)(struct smtpc *);	/* a session ended */
	/* dsmtp-policy probe: a session stops after STARTTLS (or its absence
	 * or failure), hands over what it saw, and never sends MAIL */
	void			(*probe)(struct smtpc *ctx, const char *peer, bool offered,
				    const struct tls_session_facts *f, const char *why,
				    const struct smtpc_target *t, const struct tls_dane_facts *df);
	void			*arg;
};

/* TLS credentials, trust, protocol log and resolver for ctx; 0 or -1 */
int smtpc_ctx_init(struct smtpc *ctx, struct ev_loop *loop, const struct dsmtp_config *cfg,
    bool with_cert, struct dsmtp_err *err);
void smtpc_ctx_free(struct smtpc *ctx);
/* the destination with this hop and policy (made on first use) */
struct smtpc_dest *smtpc_dest_get(struct smtpc *ctx, const struct addr_hop *hop,
    enum dsmtp_level level, const char *domain, const struct cfg_pinref *pins, size_t npins);
/* the same for messages of a mode (SMTPC_DEST_*, requiretls.h): its own
 * destination, with the level smtpc_rt_dest_level gives */
struct smtpc_dest *smtpc_dest_get_mode(struct smtpc *ctx, const struct addr_hop *hop,
    enum dsmtp_level level, const char *domain, const struct cfg_pinref *pins, size_t npins,
    unsigned mode);
/* queue a job; sessions start as limits allow */
void smtpc_dest_submit(struct smtpc_dest *d, struct smtpc_job *j);
/* every idle session (kept for the next job) says QUIT */
void smtpc_ctx_quit_idle(struct smtpc *ctx);
/* start sessions for queued jobs wherever limits now allow */
void smtpc_ctx_kick(struct smtpc *ctx);
/* SIGTERM: every session closes at once and its job, like every queued
 * one, finishes with its results unset (not attempted); with grace, a
 * session that has sent the final dot first waits (10 s at most) for the
 * reply, so that a message taken is not sent again */
void smtpc_ctx_abort(struct smtpc *ctx, bool grace);
/* set every unset result of j */
void smtpc_job_fail(struct smtpc_job *j, enum smtpc_status st, const char *status,
    const char *text, const char *mta);

/* ---- local delivery (maildir.c) ---- */

/* deliver one copy for rcpt into the maildir at path (tmp/ then new/,
 * fsync'd): the message is body's (data, dlen, len, body_fd, body_off,
 * data_crc, body_crc: nothing else of it is read). Blocks: dsmtpc runs it
 * on the I/O thread. 0, or -1 with the reason, and *damaged set when the
 * spool file's bytes are not the message's (nothing is left in the
 * maildir then) */
int smtpc_maildir_deliver(const char *path, const char *hostname, const char *sender,
    const char *rcpt, const struct smtpc_job *body, bool *damaged, struct dsmtp_err *err);

/* ---- the schedule of known messages (sched.c) ---- */

/* one message the scheduler knows. The caller may change due, not_before,
 * busy, inflight and tried, then must call smtpc_sched_fix. */
struct smtpc_sched_ent {
	char			 id[SPOOL_ID_SIZE];
	double			 due;		/* wall clock; 1e300 when nothing is pending */
	double			 not_before;	/* busy lease: not before this */
	unsigned		 busy;		/* lease attempts that found it busy */
	bool			 inflight;	/* leased by us: never started twice */
	bool			 tried;		/* once: attempted in this run */
	/* sched.c's own */
	size_t			 hpos;		/* index in the heap, SIZE_MAX: not in it */
	bool			 counted;	/* in npending */
	struct smtpc_sched_ent	*hnext;		/* hash chain */
};

struct smtpc_sched {
	bool			 once;		/* each message due at start once */
	double			 start;
	struct smtpc_sched_ent	**buckets;	/* by id; nbuckets a power of 2 */
	size_t			 nbuckets, n;
	struct smtpc_sched_ent	**heap;		/* startable entries, earliest ready first */
	size_t			 nheap, capheap;
	size_t			 npending;	/* once: untried and due at start */
};

/* An entry is startable when not in flight and, in once mode, not tried
 * and due at start (due <= start). 0, or -1 out of memory. */
int smtpc_sched_init(struct smtpc_sched *sc, bool once, double start);
void smtpc_sched_free(struct smtpc_sched *sc);
struct smtpc_sched_ent *smtpc_sched_find(const struct smtpc_sched *sc, const char *id);
/* know a message, or change when it is due; NULL when out of memory (then
 * the message is not known) */
struct smtpc_sched_ent *smtpc_sched_put(struct smtpc_sched *sc, const char *id, double due);
void smtpc_sched_drop(struct smtpc_sched *sc, struct smtpc_sched_ent *e);
/* e's fields changed: its place in the heap and the count anew; -1 when
 * out of memory (it is then not startable until the next fix) */
int smtpc_sched_fix(struct smtpc_sched *sc, struct smtpc_sched_ent *e);
/* the startable entry ready first, or NULL; ready at smtpc_sched_ready_at,
 * the later of due and not_before */
struct smtpc_sched_ent *smtpc_sched_top(const struct smtpc_sched *sc);
double smtpc_sched_ready_at(const struct smtpc_sched_ent *e);
/* once: entries untried and due at start (0 = every one was tried) */
size_t smtpc_sched_pending(const struct smtpc_sched *sc);
size_t smtpc_sched_count(const struct smtpc_sched *sc);
/* NAME ("ID.d") was closed after writing: its lease is free; true when a
 * busy entry was waiting for it (it may start now) */
bool smtpc_sched_lease_freed(struct smtpc_sched *sc, const char *name);

/* ---- observability (stats.c): send.metrics and logs.peers ---- */

/* the metrics process (send.metrics set): its pid, 0 = off, -1 with err */
pid_t smtpc_metrics_start(const struct dsmtp_config *cfg, const char *queue_dir,
    struct dsmtp_err *err);
void smtpc_metrics_certs(const struct dsmtp_config *cfg, const struct tls_creds *creds);
/* a connection is up: its protocol log level (logs.peers) */
void smtpc_observe_connect(const struct dsmtp_config *cfg, struct plog_session *log,
    const struct smtpc_target *t, const struct smtpc_dest *d, const struct smtpc_job *j);
void smtpc_observe_tls(const struct smtpc_target *t, const struct tls_session_facts *f);
void smtpc_observe_end(const struct tls_session_facts *f);	/* NULL: plaintext */
void smtpc_observe_delivery(enum dsmtp_level level, enum spool_rcpt_state st);

/* ---- commands (queue_daemon.c, send.c) ---- */

int smtpc_cmd_run(int argc, char **argv, const char *config_path);
/* privsep.c: started as root, fork the key process and the delivering
 * child (which drops to cfg->user): 0 in that child (or when not root),
 * 1 in the supervisor once the child ended (*rc its exit code), -1 on
 * error (*rc set) */
struct dsmtp_config;
int smtpc_privsep(const struct dsmtp_config *cfg, int *rc);
/* privsep.c: the configuration (config_load_or_exit), then, started as
 * root, state_dir made the user's and the process the user for good; any
 * failure exits (78 no such user, 73 state_dir, 71 the drop). For the
 * commands that hold no private key: queue, flush, memory, tlsrpt-send. */
void smtpc_privsep_load(const char *config_path, struct dsmtp_config *cfg);
int smtpc_cmd_once(int argc, char **argv, const char *config_path);
int smtpc_cmd_send(int argc, char **argv, const char *config_path);
int smtpc_cmd_memory(int argc, char **argv, const char *config_path);	/* memory_cmd.c */

#endif
