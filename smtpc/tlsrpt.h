/* tlsrpt.h: the TLS outcome of one delivery attempt, as an RFC 8460 event
 * in the protocol log (smtpc/tlsrpt.c), and the daily reports made of
 * those events (smtpc/tlsrpt_send.c). dsmtp-log tlsrpt and the report
 * sender read the '*' records of context "TLS result" back
 * (logs/tlsrpt_report.c); the record format is described there. */
#ifndef DSMTP_SMTPC_TLSRPT_H
#define DSMTP_SMTPC_TLSRPT_H

#include <stddef.h>

#include "smtpc/smtpc.h"

struct plog;
struct plog_session;

/* RFC 8460 4.4 policy-type */
enum tlsrpt_policy_type { TLSRPT_NO_POLICY, TLSRPT_TLSA, TLSRPT_STS };

#define TLSRPT_LIST_MAX	2048	/* an encoded list (policy strings, mx hosts) */

/* the policy an attempt ran under */
struct tlsrpt_policy {
	enum tlsrpt_policy_type	 type;
	const char		*domain;	/* policy-domain: the recipient domain */
	/* items percent-encoded (tlsrpt_enc) and joined by '|': the TLSA
	 * records in presentation form, or the STS policy's lines */
	char			 strings[TLSRPT_LIST_MAX];
	char			 mx[TLSRPT_LIST_MAX];	/* sts: the mx: patterns */
};

/* The policy of an attempt to reach target t of destination d: tlsa when
 * the host had a secure TLSA RRset (usable or not) or its TLSA lookup was
 * bogus (dnssec-invalid is reported under tlsa), else no-policy-found.
 * MTA-STS plugs in here (see the comment in tlsrpt.c). */
void tlsrpt_policy_of(const struct smtpc_dest *d, const struct smtpc_target *t,
    struct tlsrpt_policy *out);

/* Record one attempt's TLS outcome: a '*' record of context "TLS result"
 * (kept at level basic). result_type: "success" or an RFC 8460 4.3 result
 * type; helo: the name the receiving MX gave in its EHLO reply, or NULL;
 * reason: our words for a failure (failure-reason-code), or NULL. Written
 * whatever tlsrpt.enabled says: recording is cheap, and dsmtp-log tlsrpt
 * shows the reports without sending them. */
void tlsrpt_record(struct plog *pl, struct plog_session *ls, const struct smtpc_dest *d,
    const struct smtpc_target *t, const char *result_type, const char *helo,
    const char *reason);

/* append s percent-encoded to out (every byte outside '!'..'~', and '%',
 * '|', ';', '=', as %XX); false when it does not fit (out is then cut at
 * an item boundary: unchanged) */
bool tlsrpt_list_add(char *out, size_t outlen, const char *s);

/* ---- the report message (tlsrpt_mail.c) ---- */

/* gzip (RFC 1952) of in into *out (malloc'd); 0 or -1 */
int tlsrpt_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen);

struct tlsrpt_mail {
	const char		*from;		/* our address */
	const char *const	*to;		/* the mailto: rua addresses */
	size_t			 nto;
	const char		*domain;	/* the policy domain */
	const char		*submitter;	/* our host name */
	const char		*report_id;
	long long		 start, end;	/* the day: first and last second */
	long long		 now;		/* Date: */
	const unsigned char	*gz;		/* the gzip'd JSON */
	size_t			 gzlen;
};

/* RFC 8460 5.3: a multipart/report; report-type="tlsrpt" message, a
 * text/plain part and the application/tlsrpt+gzip part (base64), with
 * TLS-Report-Domain, TLS-Report-Submitter and TLS-Required: No (RFC 8689:
 * a report about TLS trouble must not need TLS to arrive). CRLF lines into
 * *out (malloc'd); 0 or -1. */
int tlsrpt_mail_build(const struct tlsrpt_mail *m, char **out, size_t *outlen);

/* ---- sending (tlsrpt_send.c, dsmtpc only) ---- */

struct ev_loop;
/* dsmtpc run: with tlsrpt.enabled, shortly after start and after every
 * UTC midnight, run "dsmtpc tlsrpt-send" (yesterday's reports) as a child
 * process, so the loop never waits for DNS, the spool or HTTPS */
void smtpc_tlsrpt_daemon_start(struct ev_loop *loop, const struct dsmtp_config *cfg,
    const char *config_path);
void smtpc_tlsrpt_daemon_stop(struct ev_loop *loop);
/* dsmtpc tlsrpt-send [--date DAY] */
int smtpc_cmd_tlsrpt_send(int argc, char **argv, const char *config_path);

#endif
