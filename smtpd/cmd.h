/* cmd.h: SMTP command-line parsing for dsmtpd: the verb, MAIL/RCPT paths
 * with their parameters, and the address tricks we refuse. Pure functions
 * over one line; no I/O, no state. Unit-tested in tests/unit/check_smtpd.c. */
#ifndef DSMTP_SMTPD_CMD_H
#define DSMTP_SMTPD_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MAX		512	/* RFC 5321 4.5.3.1.4, including CRLF */
#define SMTP_LOCAL_MAX		64	/* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX		255	/* 4.5.3.1.2 */
#define SMTP_PATH_MAX		256	/* 4.5.3.1.3, including the brackets */

/* one parsed reverse-path or forward-path */
struct smtp_path {
	bool	null;			/* <> */
	bool	postmaster;		/* <postmaster> without a domain (RCPT only) */
	bool	domain_literal;		/* [192.0.2.1] or [IPv6:...] */
	bool	utf8;			/* 8-bit bytes seen */
	bool	had_route;		/* @a,@b: was given (and dropped) */
	bool	trick;			/* local part holds %, ! or @: a relay trick */
	char	local[SMTP_LOCAL_MAX + 3];	/* as given, quotes kept */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* lower-cased, trailing dot dropped;
						 * A-labels: what policy judges */
	char	udomain[SMTP_DOMAIN_MAX + 1];	/* a U-label domain as given, or "" */
	char	addr[SMTP_PATH_MAX + 1];	/* local@domain as given (U-labels kept,
						 * RFC 6531), what goes to the spool */
};

struct smtp_mail_params {
	uint64_t	size;		/* SIZE=, 0 if absent */
	bool		has_size;
	bool		body_8bit;	/* BODY=8BITMIME */
	bool		smtputf8;
	bool		requiretls;	/* RFC 8689 REQUIRETLS (the caller checks TLS) */
};

/* "MAIL FROM:<a@b> SIZE=1" -> verb "MAIL", args "FROM:<a@b> SIZE=1";
 * returns the verb length (0 if none); verb is upper-cased into out */
size_t smtp_cmd_verb(const char *line, char *verb, size_t verblen, const char **args);

/* parse "FROM:<path> params" (want "FROM") or "TO:<path> params" ("TO");
 * returns 0, or -1 with an RFC 5321/3463 reply in reply ("501 5.1.7 ...") */
int smtp_cmd_path(const char *args, const char *want, struct smtp_path *p,
    const char **params, char *reply, size_t replylen);
int smtp_cmd_mail_params(const char *params, struct smtp_mail_params *mp, char *reply,
    size_t replylen);
/* RCPT takes no parameters we know (no DSN yet): any is 555 */
int smtp_cmd_rcpt_params(const char *params, char *reply, size_t replylen);

#endif
