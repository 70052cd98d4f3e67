/* reqtls.c: dsmtpd's side of RFC 8689: the REQUIRETLS offer and MAIL
 * check, and the "TLS-Required: No" header scanner (see reqtls.h). Pure:
 * no I/O, no session state. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd/reqtls.h"

void
smtpd_hdrscan_init(struct smtpd_hdrscan *h)
{
	memset(h, 0, sizeof(*h));
	h->bol = true;
}

/* one whole (unfolded) field: is it "TLS-Required: No"? RFC 8689 5: the
 * value "No", case-insensitive, whitespace around it allowed */
static void
field_end(struct smtpd_hdrscan *h)
{
	const char *name = "tls-required";
	size_t nl = strlen(name);
	char *v, *e;

	if (!h->overflow && h->len > nl && strncasecmp(h->field, name, nl) == 0) {
		h->field[h->len] = '\0';
		v = h->field + nl;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == ':') {
			v++;
			while (*v == ' ' || *v == '\t')
				v++;
			e = v + strlen(v);
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*e = '\0';
			if (strcasecmp(v, "no") == 0)
				h->tls_optional = true;
		}
	}
	h->len = 0;
	h->overflow = false;
}

/* one octet of the field being collected */
static void
field_add(struct smtpd_hdrscan *h, char c)
{
	if (h->len < SMTPD_HDRSCAN_MAX)
		h->field[h->len++] = c;
	else
		h->overflow = true;
}

void
smtpd_hdrscan_feed(struct smtpd_hdrscan *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !h->done; i++) {
		char c = p[i];

		if (h->cr) {
			h->cr = false;
			if (c == '\n') {
				h->bol = true;	/* CRLF: the line ends */
				continue;
			}
			field_add(h, '\r');	/* a bare CR is part of the line */
		}
		if (h->bol) {
			h->bol = false;
			if (c != ' ' && c != '\t') {
				/* not a folded continuation: the last field is whole */
				if (h->len > 0 || h->overflow)
					field_end(h);
				if (c == '\r' || c == '\n') {
					h->done = true;	/* the empty line */
					continue;
				}
			}
		}
		if (c == '\r') {
			h->cr = true;
			continue;
		}
		if (c == '\n') {
			h->bol = true;	/* a bare LF ends a line too (data.c refuses it) */
			continue;
		}
		field_add(h, c);
	}
}

void
smtpd_hdrscan_end(struct smtpd_hdrscan *h)
{
	if (h->cr && !h->done)
		field_add(h, '\r');
	h->cr = false;
	if (!h->done && (h->len > 0 || h->overflow))
		field_end(h);
	h->done = true;
}

bool
smtpd_reqtls_offer(bool requiretls_on, bool tls)
{
	return requiretls_on && tls;
}

int
smtpd_reqtls_mail(bool requiretls_on, bool tls, char *reply, size_t rl)
{
	if (!requiretls_on) {
		snprintf(reply, rl, "555 5.5.4 Unsupported MAIL parameter REQUIRETLS");
		return -1;
	}
	if (!tls) {
		/* RFC 8689 4: the option is only valid in a TLS session; 5.7.10
		 * is RFC 5248's "encryption needed", 530 RFC 3207's answer */
		snprintf(reply, rl, "530 5.7.10 REQUIRETLS needs a TLS session: issue STARTTLS first");
		return -1;
	}
	return 0;
}
