/* reqtls.h: dsmtpd's side of RFC 8689 (DESIGN.md 13.3): whether the EHLO
 * reply offers REQUIRETLS, what MAIL FROM ... REQUIRETLS outside TLS gets,
 * and a scanner that finds "TLS-Required: No" in the header of a message
 * as its bytes stream into the spool, so dsmtpc never parses it again. */
#ifndef DSMTP_SMTPD_REQTLS_H
#define DSMTP_SMTPD_REQTLS_H

#include <stdbool.h>
#include <stddef.h>

/* one header field is collected up to this many octets (unfolded); the
 * value we look for is tiny, a longer field is simply not it */
#define SMTPD_HDRSCAN_MAX	128

struct smtpd_hdrscan {
	bool	 done;		/* the empty line that ends the header was seen */
	bool	 bol;		/* at the start of a line */
	bool	 cr;		/* a CR is pending: a line end if LF follows */
	bool	 overflow;	/* the current field is longer than the buffer */
	bool	 tls_optional;	/* "TLS-Required: No" was found */
	size_t	 len;
	char	 field[SMTPD_HDRSCAN_MAX + 1];
};

void smtpd_hdrscan_init(struct smtpd_hdrscan *h);
/* feed message octets (CRLF lines, as stored); stops looking at the end
 * of the header */
void smtpd_hdrscan_feed(struct smtpd_hdrscan *h, const char *p, size_t n);
/* the end of the message: a header without a body ends here too */
void smtpd_hdrscan_end(struct smtpd_hdrscan *h);

/* REQUIRETLS in the EHLO reply: only inside TLS (RFC 8689 4), and only
 * while receive.requiretls is on */
bool smtpd_reqtls_offer(bool requiretls_on, bool tls);
/* MAIL FROM with REQUIRETLS: 0 allowed, -1 with the reply to send */
int smtpd_reqtls_mail(bool requiretls_on, bool tls, char *reply, size_t rl);

#endif
