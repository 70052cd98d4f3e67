/* tlsrpt_mail.c: the RFC 8460 report as a message (section 5.3): gzip of
 * the JSON, then a multipart/report; report-type="tlsrpt" with the
 * application/tlsrpt+gzip part in base64. Pure: no I/O. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "smtpc/tlsrpt.h"

int
tlsrpt_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream zs;
	uLong cap;
	int rc;

	*out = NULL;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip header and trailer, not zlib's */
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	cap = deflateBound(&zs, (uLong)len) + 32;
	if ((*out = malloc(cap)) == NULL) {
		deflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	rc = deflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

struct sbuf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...) DIAG_PRINTF(2, 3);

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		b->oom = true;	/* no header line of ours is that long */
		return;
	}
	sb_add(b, small, (size_t)n);
}

static void
sb_base64(struct sbuf *b, const unsigned char *d, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		line[o++] = tab[(v >> 18) & 63];
		line[o++] = tab[(v >> 12) & 63];
		line[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		line[o++] = i + 2 < n ? tab[v & 63] : '=';
		if (o == 76) {
			line[o++] = '\r';
			line[o++] = '\n';
			sb_add(b, line, o);
			o = 0;
		}
	}
	if (o > 0) {
		line[o++] = '\r';
		line[o++] = '\n';
		sb_add(b, line, o);
	}
}

int
tlsrpt_mail_build(const struct tlsrpt_mail *m, char **out, size_t *outlen)
{
	struct sbuf b = { NULL, 0, 0, false };
	char date[64], boundary[80];
	time_t now = (time_t)m->now;
	struct tm tm;

	if (m->nto == 0 || gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		return -1;
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%lld_%lld", m->start, m->now);
	sb_printf(&b, "From: <%s>\r\nDate: %s\r\n", m->from, date);
	for (size_t i = 0; i < m->nto; i++)
		sb_printf(&b, "%s<%s>%s\r\n", i == 0 ? "To: " : " ", m->to[i],
		    i + 1 < m->nto ? "," : "");
	sb_printf(&b, "Subject: Report Domain: %s\r\n Submitter: %s\r\n Report-ID: <%s>\r\n",
	    m->domain, m->submitter, m->report_id);
	sb_printf(&b, "Message-ID: <tlsrpt.%lld.%lld.%s@%s>\r\n", m->start, m->now, m->domain,
	    m->submitter);
	sb_printf(&b, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nTLS-Required: No\r\n",
	    m->domain, m->submitter);
	sb_printf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\";"
	    "\r\n boundary=\"%s\"\r\n\r\nThis is a multipart message in MIME format.\r\n\r\n",
	    boundary);
	sb_printf(&b, "--%s\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is an aggregate TLS report (RFC 8460) from %s\r\nfor %s.\r\n\r\n",
	    boundary, m->submitter, m->domain);
	/* RFC 8460 5.1: sender!policy-domain!begin!end.json.gz */
	sb_printf(&b, "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n"
	    " filename=\"%s!%s!%lld!%lld.json.gz\"\r\n\r\n", boundary, m->submitter, m->domain,
	    m->start, m->end);
	sb_base64(&b, m->gz, m->gzlen);
	sb_printf(&b, "\r\n--%s--\r\n", boundary);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}
