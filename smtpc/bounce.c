/* bounce.c: the delivery status notification (RFC 3464) for recipients
 * that failed: a multipart/report with a human-readable part, the
 * message/delivery-status part and the original headers
 * (text/rfc822-headers, RFC 6522). Pure: builds bytes; queue.c spools them
 * with the null sender, so a DSN can never cause another one. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpc/smtpc.h"

struct dsn_buf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

static void	db_printf(struct dsn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
db_add(struct dsn_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *t;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((t = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = t;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
db_printf(struct dsn_buf *b, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	db_add(b, line, (size_t)n);
}

/* printable ASCII only: diagnostics come from remote servers and must not
 * break the DSN's header syntax (no CR/LF injection) */
static void
safe_text(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; in && *in && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[o] = '\0';
}

/* does the text start like an SMTP reply ("550 ...")? */
static bool
is_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
	    s[2] <= '9' && (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

static void
rfc5322_date(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* the length of the header section of a message (up to the empty line) */
static size_t
header_len(const char *m, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (m[i] == '\n' && i + 2 < len && m[i + 1] == '\r' && m[i + 2] == '\n')
			return i + 1;
		if (m[i] == '\n' && m[i + 1] == '\n')
			return i + 1;
	}
	return len;
}

int
smtpc_dsn_build(const struct smtpc_dsn *d, char **out, size_t *outlen)
{
	struct dsn_buf b = { NULL, 0, 0, false };
	char date[64], arrival[64], bnd[96], s1[600], s2[600];
	size_t hl;
	bool delayed = true;

	*out = NULL;
	*outlen = 0;
	if (d->boundary)
		snprintf(bnd, sizeof(bnd), "%s", d->boundary);
	else
		snprintf(bnd, sizeof(bnd), "%s.%lld/dsmtpc", d->queue_id ? d->queue_id : "x",
		    (long long)d->now);
	rfc5322_date(d->now, date, sizeof(date));
	rfc5322_date(d->arrival, arrival, sizeof(arrival));
	for (size_t i = 0; i < d->nrcpts; i++)
		if (d->rcpts[i].status && d->rcpts[i].status[0] != '4')
			delayed = false;
	safe_text(d->sender, s1, sizeof(s1));
	db_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d->reporting_mta);
	db_printf(&b, "To: <%s>\r\n", s1);
	db_printf(&b, "Subject: Undelivered Mail Returned to Sender\r\n");
	db_printf(&b, "Date: %s\r\n", date);
	db_printf(&b, "Message-ID: <%s.dsn@%s>\r\n", d->queue_id ? d->queue_id : "x",
	    d->reporting_mta);
	db_printf(&b, "Auto-Submitted: auto-replied\r\n");
	db_printf(&b, "MIME-Version: 1.0\r\n");
	db_printf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", bnd);
	db_printf(&b, "This is a MIME-encapsulated message.\r\n\r\n");

	/* 1: for people */
	db_printf(&b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", bnd);
	db_printf(&b, "This is the mail system at host %s.\r\n\r\n", d->reporting_mta);
	db_printf(&b, "I'm sorry to have to inform you that your message could not\r\n"
	    "be delivered to one or more recipients.%s\r\n\r\n",
	    delayed ? " It was kept as long as the\r\nretry lifetime allows." : "");
	for (size_t i = 0; i < d->nrcpts; i++) {
		safe_text(d->rcpts[i].addr, s1, sizeof(s1));
		safe_text(d->rcpts[i].diagnostic, s2, sizeof(s2));
		db_printf(&b, "<%s>: %s\r\n", s1, s2);
	}
	db_printf(&b, "\r\n");

	/* 2: RFC 3464 2.2 per-message fields, 2.3 per-recipient fields */
	db_printf(&b, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", bnd);
	db_printf(&b, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->queue_id)
		db_printf(&b, "X-Dsmtp-Queue-ID: %s\r\n", d->queue_id);
	db_printf(&b, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct smtpc_dsn_rcpt *r = &d->rcpts[i];

		safe_text(r->addr, s1, sizeof(s1));
		safe_text(r->diagnostic, s2, sizeof(s2));
		db_printf(&b, "\r\nFinal-Recipient: rfc822; %s\r\n", s1);
		db_printf(&b, "Original-Recipient: rfc822; %s\r\n", s1);
		db_printf(&b, "Action: failed\r\n");
		db_printf(&b, "Status: %s\r\n", r->status && r->status[0] ? r->status : "5.0.0");
		if (r->remote_mta && r->remote_mta[0]) {
			safe_text(r->remote_mta, s1, sizeof(s1));
			db_printf(&b, "Remote-MTA: dns; %s\r\n", s1);
		}
		/* RFC 3464 2.3.6: "smtp" when the text is an SMTP reply */
		db_printf(&b, "Diagnostic-Code: %s; %s\r\n", is_reply(s2) ? "smtp" : "x-dsmtp", s2);
		db_printf(&b, "Last-Attempt-Date: %s\r\n", date);
	}
	db_printf(&b, "\r\n");

	/* 3: the original headers, not the body (privacy, size) */
	db_printf(&b, "--%s\r\nContent-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n\r\n", bnd);
	hl = d->orig ? header_len(d->orig, d->origlen) : 0;
	if (hl > 0) {
		db_add(&b, d->orig, hl);
		if (hl < 2 || d->orig[hl - 1] != '\n')
			db_printf(&b, "\r\n");
	}
	db_printf(&b, "\r\n--%s--\r\n", bnd);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}
