/* smtpd.h: dsmtpd's internal interfaces: the server (config, loop,
 * listeners, sessions, counters), the session, and the transaction. */
#ifndef DSMTP_SMTPD_H
#define DSMTP_SMTPD_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/conn.h"
#include "smtpd/cmd.h"
#include "smtpd/data.h"
#include "smtpd/reqtls.h"
#include "tls/tls.h"

struct spool;
struct spool_msg;
struct plog;
struct tls_creds;
struct tx_commit;

struct smtpd_listener {
	ev_io			 io;
	int			 fd;
	struct addr_endpoint	 ep;
	char			 name[80];
	struct smtpd_server	*srv;
};

struct smtpd_session;
struct smtpd_limits;

struct privdrop_user;

struct smtpd_server {
	struct ev_loop		*loop;
	struct dsmtp_config	 cfg;
	struct smtpd_listener	*listeners;	/* set-major: [set * listen_naddr + address] */
	size_t			 nlisteners;
	size_t			 listen_naddr;	/* receive.listen addresses */
	unsigned		 listen_sets;	/* one set per worker slot (the parent); 1 in a worker */
	struct smtpd_session	*sessions;	/* doubly linked, for drain */
	unsigned		 nsessions;
	struct smtpd_limits	*limits;	/* shared by every worker (limits.c) */
	unsigned		 worker;	/* this process's slot in it */
	bool			 stopping;
	bool			 listen_paused;	/* EMFILE: paused until a session ends */
	ev_signal		 sigterm, sigint, sighup;
	ev_signal		 sigusr1;	/* flush the protocol log now */
	ev_timer		 grace;		/* SIGTERM: force exit after this */
	ev_timer		 logflush;	/* protocol logs flushed every second */
	struct spool		*spool;
	struct plog		*plog;
	struct tls_creds	*creds;		/* NULL: no STARTTLS */
	struct tls_trust	*trust;
	char			 cert_subject[512];
	pid_t			 metrics_pid;	/* the metrics process, 0 = none */
	/* started as root: whom the workers and the metrics process run as */
	const struct privdrop_user *drop_user;
};

enum smtpd_state {
	SMTPD_HELO,		/* greeting sent; EHLO/HELO wanted */
	SMTPD_READY,		/* after EHLO: MAIL wanted */
	SMTPD_RCPT,		/* after MAIL: RCPT, DATA, BDAT */
	SMTPD_DATA,		/* reading the DATA body */
	SMTPD_BDAT,		/* reading a BDAT chunk */
	SMTPD_COMMIT,		/* waiting for the spool's fsync */
	SMTPD_TLS,		/* STARTTLS handshake */
	SMTPD_CLOSING,		/* last reply queued; closing */
};

struct smtpd_rcpt {
	char	addr[SMTP_PATH_MAX + 1];
};

/* one transaction: MAIL .. end of data; NULL outside, so nothing leaks
 * from one message to the next */
struct smtpd_tx {
	unsigned		 n;		/* transaction number in the session */
	struct smtp_path	 from;
	struct smtp_mail_params	 params;
	struct smtpd_rcpt	*rcpt;
	size_t			 nrcpt;
	struct spool_msg	*msg;
	struct smtpd_data	 data;
	bool			 store_failed;
	bool			 bdat;		/* CHUNKING used: DATA no longer allowed */
	bool			 bdat_discard;	/* a chunk is read but not kept */
	bool			 bdat_last;
	int			 bdat_refuse;	/* 1 no MAIL/RCPT, 2 spool refused */
	uint64_t		 bdat_left;
	bool			 domain_secured;	/* sender passed domain_secure.receive */
	char			 ds_domain[SMTP_DOMAIN_MAX + 1];
	struct smtpd_hdrscan	 hdr;		/* RFC 8689 TLS-Required: No */
};

#define SESS_EHLO	0x01	/* EHLO (not HELO) was used */
#define SESS_GREETED	0x02	/* EHLO or HELO done */
#define SESS_TLS	0x04	/* TLS is up */
#define SESS_BADLINE	0x08	/* discarding an over-long command line */

struct smtpd_session {
	uint64_t		 id;		/* in every log record and the Received header */
	enum smtpd_state	 state;
	struct smtpd_server	*srv;
	struct conn		*conn;
	struct smtpd_tx		*tx;
	unsigned		 flags;
	unsigned		 ntx;
	unsigned		 errors;	/* bad commands; too many closes the session */
	char			 helo[256];
	char			 peer_ip[64];
	char			 peer[80];	/* "[127.0.0.1]:4567" style for logs */
	char			 local[80];
	struct tls_session_facts tls;
	bool			 has_tls_facts;
	struct tls_creds	*creds;		/* a reference from STARTTLS on, or NULL */
	bool			 counted;	/* holds a place in srv->limits */
	char			 peer_pin[64];	/* trust.pins set the client certificate matches */
	void			*log;		/* struct plog_session * */
	struct tx_commit	*commit;	/* a spool commit in flight, or NULL */
	bool			 message_end;	/* the next reply ends a message (stats.c) */
	struct smtpd_session	*next, *prev;
};

/* listen.c */
int smtpd_listen_open(struct smtpd_server *srv, unsigned nsets, struct dsmtp_err *err);
void smtpd_listen_keep_set(struct smtpd_server *srv, unsigned set);	/* a worker: its own */
void smtpd_listen_close_set(struct smtpd_server *srv, unsigned set);	/* a slot given up */
void smtpd_listen_start(struct smtpd_server *srv);
void smtpd_listen_stop(struct smtpd_server *srv);
void smtpd_listen_close(struct smtpd_server *srv);

/* limits.c: connection limits for the whole server (every worker) */
enum smtpd_limit { SMTPD_LIMIT_OK, SMTPD_LIMIT_TOTAL, SMTPD_LIMIT_PER_IP };
struct smtpd_limits *smtpd_limits_new(unsigned nworkers, unsigned max_connections,
    struct dsmtp_err *err);
void smtpd_limits_free(struct smtpd_limits *l);
enum smtpd_limit smtpd_limits_acquire(struct smtpd_limits *l, unsigned worker,
    const struct sockaddr_storage *peer, unsigned max_total, unsigned max_per_ip);
void smtpd_limits_release(struct smtpd_limits *l, unsigned worker,
    const struct sockaddr_storage *peer);
void smtpd_limits_forget_worker(struct smtpd_limits *l, unsigned worker);	/* it died */
unsigned smtpd_limits_total(struct smtpd_limits *l);

/* stats.c: receive.metrics; every function a no-op when it is off */
pid_t smtpd_metrics_start(struct smtpd_server *srv, struct dsmtp_err *err);	/* 0 = off */
void smtpd_metrics_certs(struct smtpd_server *srv);
void smtpd_metrics_session_end(struct smtpd_session *s);
void smtpd_metrics_reply(struct smtpd_session *s, const char *line, size_t len);
void smtpd_metrics_tls(struct smtpd_session *s);

/* session.c */
void smtpd_session_accept(struct smtpd_server *srv, int fd);
void smtpd_session_free(struct smtpd_session *s, const char *reason);
void smtpd_session_drain(struct smtpd_server *srv);	/* SIGTERM: close idle sessions */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void smtpd_session_committed(struct smtpd_session *s, int rc, const char *id, const char *why);

/* tx.c: the spool side of a transaction */
bool smtpd_tx_space_ok(struct smtpd_session *s, uint64_t size);
int smtpd_tx_begin(struct smtpd_session *s, char *reply, size_t rl);
int smtpd_tx_store(void *arg, const char *p, size_t n);
void smtpd_tx_commit(struct smtpd_session *s);
void smtpd_tx_free(struct smtpd_session *s);
void smtpd_tx_orphan(struct smtpd_session *s);	/* the session goes; a commit may not */

#endif
