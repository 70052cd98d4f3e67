/* reply.c: the SMTP reply parser of the client (RFC 5321 4.2): multi-line
 * replies, any split of the input, and bounds (a line over 512 octets or a
 * reply over 100 lines is an error, not a reason to buffer without end).
 * Pure: bytes in, replies out; knows nothing of sockets. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/smtpc.h"

void
smtpc_reply_init(struct smtpc_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void
smtpc_reply_reset(struct smtpc_reply_parser *p)
{
	p->linelen = 0;
	p->cr = false;
	p->r.code = 0;
	p->r.nlines = 0;
	p->r.len = 0;
	p->complete = false;
	if (p->r.text)
		p->r.text[0] = '\0';
	p->err[0] = '\0';
}

void
smtpc_reply_free(struct smtpc_reply_parser *p)
{
	free(p->r.text);
	memset(p, 0, sizeof(*p));
}

/* append one line to the reply text, '\n'-separated */
static int
reply_append(struct smtpc_reply *r, const char *line, size_t n)
{
	size_t need = r->len + n + 2;

	if (need > r->cap) {
		size_t cap = r->cap ? r->cap : 256;
		char *t;

		while (cap < need)
			cap *= 2;
		if ((t = realloc(r->text, cap)) == NULL)
			return -1;
		r->text = t;
		r->cap = cap;
	}
	if (r->len > 0)
		r->text[r->len++] = '\n';
	memcpy(r->text + r->len, line, n);
	r->len += n;
	r->text[r->len] = '\0';
	return 0;
}

/* one complete line (without CRLF): 1 = last line of the reply, 0 = more
 * lines follow, -1 = malformed */
static int
reply_line(struct smtpc_reply_parser *p, const char *line, size_t n)
{
	int code;

	/* Reply-code [ SP / "-" textstring ]: three digits, 2..5 first */
	if (n < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2])) {
		snprintf(p->err, sizeof(p->err), "malformed reply line (no reply code)");
		return -1;
	}
	if (n > 3 && line[3] != ' ' && line[3] != '-') {
		snprintf(p->err, sizeof(p->err), "malformed reply line (bad separator)");
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->r.nlines > 0 && code != p->r.code) {
		/* RFC 5321 4.2.1: every line of a reply has the same code */
		snprintf(p->err, sizeof(p->err), "reply code changed inside a multi-line reply "
		    "(%d then %d)", p->r.code, code);
		return -1;
	}
	if (p->r.nlines >= SMTPC_REPLY_LINES_MAX) {
		snprintf(p->err, sizeof(p->err), "reply longer than %d lines",
		    SMTPC_REPLY_LINES_MAX);
		return -1;
	}
	p->r.code = code;
	p->r.nlines++;
	if (reply_append(&p->r, line, n) < 0) {
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	return (n > 3 && line[3] == '-') ? 0 : 1;
}

int
smtpc_reply_feed(struct smtpc_reply_parser *p, const char *buf, size_t len, size_t *used)
{
	size_t i;

	if (p->complete) {
		/* a new reply starts: forget the previous one */
		p->complete = false;
		p->r.nlines = 0;
		p->r.code = 0;
		p->r.len = 0;
		if (p->r.text)
			p->r.text[0] = '\0';
	}
	for (i = 0; i < len; i++) {
		char c = buf[i];
		int rc;

		if (c != '\n') {
			if (p->cr) {
				/* a CR not followed by LF is part of the text */
				if (p->linelen >= SMTPC_REPLY_LINE_MAX - 2)
					goto too_long;
				p->line[p->linelen++] = '\r';
				p->cr = false;
			}
			if (c == '\r') {
				p->cr = true;
				continue;
			}
			/* RFC 5321 4.5.3.1.5: 512 octets including CRLF */
			if (p->linelen >= SMTPC_REPLY_LINE_MAX - 2)
				goto too_long;
			p->line[p->linelen++] = c;
			continue;
		}
		/* LF ends a line; a bare LF is accepted as a line end */
		p->cr = false;
		rc = reply_line(p, p->line, p->linelen);
		p->linelen = 0;
		if (rc < 0) {
			*used = i + 1;
			return -1;
		}
		if (rc == 1) {
			*used = i + 1;
			p->complete = true;	/* the next feed starts a new reply */
			return 1;
		}
	}
	*used = len;
	return 0;
too_long:
	snprintf(p->err, sizeof(p->err), "reply line longer than %d octets", SMTPC_REPLY_LINE_MAX);
	*used = i;
	return -1;
}

bool
smtpc_reply_line(const struct smtpc_reply *r, size_t *pos, char *out, size_t outlen)
{
	const char *s, *e;
	size_t n;

	if (r->text == NULL || *pos >= r->len)
		return false;
	s = r->text + *pos;
	e = memchr(s, '\n', r->len - *pos);
	if (e == NULL)
		e = r->text + r->len;
	*pos = (size_t)(e - r->text) + 1;
	n = (size_t)(e - s);
	if (n >= 4) {
		s += 4;
		n -= 4;
	} else {
		s += n;
		n = 0;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

void
smtpc_reply_flat(const struct smtpc_reply *r, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; r->text && i < r->len && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c == '\n') {
			/* "250-a\n250 b" -> "250-a / b": the code once is enough */
			if (o + 4 >= outlen)
				break;
			memcpy(out + o, " / ", 3);
			o += 3;
			i += (i + 4 < r->len && (r->text[i + 4] == ' ' || r->text[i + 4] == '-')) ?
			    4 : 3;
			continue;
		}
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

void
smtpc_reply_status(const struct smtpc_reply *r, char *out, size_t outlen)
{
	int cls = r->code / 100;

	/* RFC 3463: class "." subject "." detail, 1-3 digits each, the class
	 * that of the reply code */
	if (r->text && r->len > 4 && (r->text[3] == ' ' || r->text[3] == '-') &&
	    r->text[4] - '0' == cls) {
		const char *s = r->text + 4;
		size_t i = 1, n;

		for (int part = 0; part < 2; part++) {
			if (s[i] != '.')
				goto dflt;
			i++;
			for (n = 0; isdigit((unsigned char)s[i]) && n < 3; n++)
				i++;
			if (n == 0)
				goto dflt;
		}
		if ((s[i] == ' ' || s[i] == '\0' || s[i] == '\n') && i < outlen) {
			memcpy(out, s, i);
			out[i] = '\0';
			return;
		}
	}
dflt:
	snprintf(out, outlen, "%d.0.0", cls >= 2 && cls <= 5 ? cls : 4);
}
