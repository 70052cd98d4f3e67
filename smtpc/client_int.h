/* client_int.h: the client session's insides, shared by the files that
 * make up dsmtpc's SMTP client and nothing else: the state enum and its
 * table (client_states.c), struct smtpc_session, and the functions one
 * part calls in another: the session core (client.c), TLS and policy
 * (client_tls.c), transactions (client_tx.c), destinations and their job
 * queues (client_dest.c). Nothing outside those files includes it. */
#ifndef DSMTP_SMTPC_CLIENT_INT_H
#define DSMTP_SMTPC_CLIENT_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "logs/plog.h"
#include "smtpc/smtpc.h"

/* RFC 5321 4.5.3.2 timeouts (seconds) */
#define T_CONNECT	30.0
#define T_BANNER	300.0
#define T_COMMAND	300.0
#define T_DATA_INIT	120.0
#define T_DATA_END	600.0
#define T_TLS		60.0
#define T_QUIT		10.0
#define T_STOP		10.0	/* SIGTERM: the wait for a final dot's reply */

#define SMTPC_IN_MAX	(64 * 1024)

/* Where a session is. Every step of the protocol is one of these: what
 * used to be side booleans (a QUIT followed by the next address, the
 * final reply of an empty message read and ignored) are states too. The
 * allowed transitions and what each state reads are client_states.c's
 * table; smtpc_sess_set_state() checks and traces each one. */
enum smtpc_state {
	SC_RESOLVE,	/* waiting for the MTA-STS lookup and the resolver */
	SC_CONNECT,	/* non-blocking connect in progress */
	SC_BANNER,	/* 220 wanted */
	SC_EHLO,
	SC_HELO,
	SC_STARTTLS,	/* 220 to STARTTLS wanted */
	SC_TLS,		/* handshake */
	SC_RSET,	/* between two transactions */
	SC_XFER,	/* MAIL, RCPT..., DATA replies */
	SC_SENDING,	/* the body going out as the connection drains
			 * (client_body.c); no reply is read until the dot */
	SC_BODY,	/* the reply after the final dot */
	SC_IGNORE_FINAL,	/* RFC 2920 3.1: 354 although no recipient was
				 * accepted; an empty message was ended at
				 * once and its final reply is read and ignored */
	SC_QUIT,	/* QUIT sent; the reply (or its absence) ends the session */
	SC_QUIT_NEXT,	/* QUIT sent to an address that will not do; then the next address */
	SC_IDLE,	/* connected, nothing to carry: kept for the next job */
	SC_NSTATES
};

/* client_states.c: the state table */
const char *smtpc_state_name(enum smtpc_state st);
/* the reply a state waits for, for people ("220 greeting"); NULL: it
 * reads none (a reply there is a protocol error) */
const char *smtpc_state_expects(enum smtpc_state st);
/* is from -> to a transition of the table? (a state re-armed, from ==
 * to, is one only where the table lists it) */
bool smtpc_state_next_ok(enum smtpc_state from, enum smtpc_state to);
/* MAIL was sent for the current job and its outcome is not known yet */
bool smtpc_state_in_tx(enum smtpc_state st);

/* what a session learned from the server's EHLO and the transport */
#define F_ESMTP		0x001	/* EHLO worked */
#define F_PIPELINING	0x002
#define F_STARTTLS	0x004	/* offered */
#define F_TLS		0x008	/* TLS is up */
/* the address is being tried again in plaintext after a failed
 * opportunistic handshake (at most once per address: a second failure
 * moves on). Not a state: it holds through banner, EHLO and every
 * transaction of that connection, and says what after_greeting does. */
#define F_NOTLS		0x010
#define F_8BITMIME	0x020
#define F_SIZE		0x040
#define F_REQUIRETLS	0x100	/* RFC 8689 offered */

struct smtpc_session {
	uint64_t		 id;
	enum smtpc_state	 state;
	struct smtpc		*ctx;
	struct smtpc_dest	*dest;
	struct smtpc_resolve_req *rq;
	struct smtpc_sts_req	*sq;		/* MTA-STS lookup in progress (sts.c) */
	const struct policy_sts	*sts;		/* the policy applied, or NULL */
	const char		*sts_fail;	/* a lookup failure to record once, or NULL */
	struct smtpc_target	*targets;
	size_t			 ntargets, ti;
	int			 fd;		/* while connecting */
	ev_io			 cio;
	ev_timer		 ctimer;
	struct conn		*conn;
	struct smtpc_reply_parser rp;
	unsigned		 flags;		/* F_*: connection facts, not states */
	uint64_t		 size_max;
	struct smtpc_job	*job;		/* the transaction in progress */
	struct smtpc_body	*body;		/* its body being sent (client_body.c) */
	size_t			 acked;		/* replies seen: 0 MAIL, 1..n RCPT, n+1 DATA */
	/* data, not a state: with PIPELINING the RCPT and DATA replies
	 * arrive after MAIL's in the same state (SC_XFER); what MAIL said
	 * decides only how they are recorded */
	bool			 mail_ok;
	size_t			 nrcpt_ok;
	bool			*rcpt_ok;	/* by recipient index */
	size_t			*live;		/* the recipients sent, in order */
	size_t			 nlive;
	unsigned		 ntx;		/* transactions on this connection */
	/* an error latch, not a state: output could not be queued (out of
	 * memory); the handler that caused it returns normally and
	 * session_input/session_event drop the session right after */
	bool			 broken;
	struct plog_session	 log;
	/* resources and once-per-connection records, not states: a protocol
	 * log session is open (the DANE skip opens one without connecting),
	 * this connection's TLS result is recorded, facts are held */
	bool			 logging;
	bool			 reported;
	char			 helo[256];	/* the name in the server's EHLO reply */
	struct tls_session_facts tls;
	bool			 has_facts;
	struct tls_creds	*creds;		/* held from STARTTLS on: tls.local points into them */
	struct tls_dane_facts	 dane;		/* the chain against the host's TLSA records */
	bool			 has_dane;
	const char		*auth;		/* what TLS proved (requiretls.h), or NULL */
	char			 peer[320];	/* "host[addr]:port" */
	char			 addr[80];
	/* the current address's failure (for its log line) ... */
	enum smtpc_status	 fail_st;
	char			 fail_status[16];
	char			 fail_text[512];
	/* ... and the one the jobs get when no address works: the last from
	 * a server we reached (a TLS, policy or SMTP refusal), else the last
	 * connect failure. "localhost" is 127.0.0.1 and ::1: the refusal of
	 * the first must not become "::1: Connection refused". */
	enum smtpc_status	 best_st;
	char			 best_status[16];
	char			 best_text[512];
	bool			 best_reached;	/* data: best_* is from a server reached */
	struct smtpc_session	*next, *prev;
};

/* ---- the session core (client.c) ---- */

/* a new session for the destination, carrying its first queued job */
void smtpc_sess_start(struct smtpc_dest *d);
/* the one way a session ends: watchers, connection, log, job */
void smtpc_sess_free(struct smtpc_session *s, const char *reason);
/* a timeout, capped by DSMTPC_TIMEOUT for tests */
double smtpc_sess_tmo(struct smtpc_session *s, double t);
/* enter a state (traced, checked against the table) and arm its timeout */
void smtpc_sess_set_state(struct smtpc_session *s, enum smtpc_state st, double timeout);
/* one command line, logged, CRLF added; a failure marks s broken */
void smtpc_sess_send_cmd(struct smtpc_session *s, const char *fmt, ...) DIAG_PRINTF(2, 3);
/* queue output bytes; a failure marks the session broken */
void smtpc_sess_put(struct smtpc_session *s, const char *p, size_t n);
/* the reason the current address did not work (we reached its server) */
void smtpc_sess_failure(struct smtpc_session *s, enum smtpc_status st, const char *status,
    const char *fmt, ...) DIAG_PRINTF(4, 5);
/* hand the job back to its owner with whatever results it has */
void smtpc_sess_job_finish(struct smtpc_session *s);
/* close this connection (no more use for it) */
void smtpc_sess_drop_conn(struct smtpc_session *s, const char *reason);
/* connect to the current address, or give up when none is left */
void smtpc_sess_connect_next(struct smtpc_session *s);
/* the job not started goes back to its destination, for another session */
void smtpc_sess_requeue_job(struct smtpc_session *s);
/* this address failed before any mail moved: try the next one */
void smtpc_sess_try_next(struct smtpc_session *s, const char *reason);
/* this address will not do: QUIT, then the next one (0) */
int smtpc_sess_abandon(struct smtpc_session *s, const char *reason);
/* QUIT, and the session ends with the reply */
void smtpc_sess_quit(struct smtpc_session *s);
/* does the session read a reply in this state (its reply table)? */
bool smtpc_sess_reads_reply(enum smtpc_state st);

/* ---- TLS and policy (client_tls.c) ---- */

/* RFC 8460: one attempt's TLS outcome into the protocol log, once per
 * connection */
void smtpc_sess_tls_report(struct smtpc_session *s, const struct smtpc_target *t,
    const char *type, const char *reason);
/* DANE or MTA-STS rule this target out before connecting: true = skip it
 * (the reason remembered and logged) */
bool smtpc_sess_skip_target(struct smtpc_session *s, const struct smtpc_target *t);
/* what the policy judges for the current target */
void smtpc_sess_dest_of(struct smtpc_session *s, struct policy_dest *pd);
/* the handshake is done (0) or failed (-1: the connection is gone) */
int smtpc_sess_tls_ready(struct smtpc_session *s);
int smtpc_sess_tls_failed(struct smtpc_session *s, const char *why);
/* after EHLO/HELO: STARTTLS as the level says, then the first message */
int smtpc_sess_after_greeting(struct smtpc_session *s);
int smtpc_sess_on_starttls(struct smtpc_session *s, const struct smtpc_reply *r);

/* ---- transactions (client_tx.c) ---- */

/* the next job for this connection (RSET first), idle, or QUIT */
void smtpc_sess_next_tx(struct smtpc_session *s);
int smtpc_sess_on_rset(struct smtpc_session *s, const struct smtpc_reply *r);
int smtpc_sess_on_xfer(struct smtpc_session *s, const struct smtpc_reply *r);
int smtpc_sess_on_body(struct smtpc_session *s, const struct smtpc_reply *r);
int smtpc_sess_on_ignore_final(struct smtpc_session *s, const struct smtpc_reply *r);

/* ---- the body (client_body.c) ---- */

/* DATA said 354: send the body as the connection drains, then the final
 * dot and SC_BODY; -1 when the session is gone (a damaged or unreadable
 * message ends it without the dot) */
int smtpc_body_start(struct smtpc_session *s);
/* conn.c's CONN_DRAINED: more of the body; -1 when the session is gone */
int smtpc_body_drained(struct smtpc_session *s);
/* the body's memory goes with the job (a read in flight keeps its own
 * until it comes back) */
void smtpc_body_release(struct smtpc_session *s);

/* ---- destinations (client_dest.c) ---- */

/* the oldest queued job of a destination, or NULL */
struct smtpc_job *smtpc_dest_pop(struct smtpc_dest *d);
/* a job not started goes back to the head of the queue */
void smtpc_dest_push_front(struct smtpc_dest *d, struct smtpc_job *j);

#endif
