/* cmd.c: parsing of SMTP command lines (RFC 5321 4.1 and 4.1.2 syntax,
 * RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8). Strict where
 * strictness protects (paths, lengths, relay tricks), lenient only where
 * real clients need it (a space after "FROM:"). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/utf8.h"
#include "smtpd/cmd.h"

size_t
smtp_cmd_verb(const char *line, char *verb, size_t verblen, const char **args)
{
	size_t n = 0;

	while (isalpha((unsigned char)line[n]) && n + 1 < verblen) {
		verb[n] = (char)toupper((unsigned char)line[n]);
		n++;
	}
	verb[n] = '\0';
	if (line[n] != '\0' && line[n] != ' ')
		return 0;	/* "MAIL:" or a verb too long: not a verb */
	*args = line + n;
	while (**args == ' ')
		(*args)++;
	return n;
}

/* RFC 5321 atext */
static bool
is_atext(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80;
}

/* the local part: dot-string or quoted-string; *pp advances past it */
static int
parse_local(const char **pp, struct smtp_path *p, char *reply, size_t rl)
{
	const char *s = *pp;
	size_t n = 0;

	if (*s == '"') {
		p->local[n++] = *s++;
		for (;;) {
			unsigned char c = (unsigned char)*s;

			if (c == '\0' || c == '\r' || c == '\n') {
				snprintf(reply, rl, "501 5.1.3 Unterminated quoted local part");
				return -1;
			}
			if (n >= SMTP_LOCAL_MAX + 1)
				goto toolong;
			if (c == '\\') {
				if (s[1] < 32 || s[1] > 126) {
					snprintf(reply, rl, "501 5.1.3 Bad quoted pair in local part");
					return -1;
				}
				p->local[n++] = *s++;
				if (s[0] == '@' || s[0] == '%' || s[0] == '!')
					p->trick = true;
				p->local[n++] = *s++;
				continue;
			}
			if (c == '"') {
				p->local[n++] = *s++;
				break;
			}
			if (c < 32 || c == 127) {
				snprintf(reply, rl, "501 5.1.3 Control character in local part");
				return -1;
			}
			if (c == '@' || c == '%' || c == '!')
				p->trick = true;
			if (c >= 0x80)
				p->utf8 = true;
			p->local[n++] = *s++;
		}
	} else {
		bool dot_ok = false;

		while (*s && *s != '@' && *s != '>') {
			unsigned char c = (unsigned char)*s;

			if (c == '.') {
				if (!dot_ok) {
					snprintf(reply, rl, "501 5.1.3 Bad dot in local part");
					return -1;
				}
				dot_ok = false;
			} else if (is_atext(c)) {
				dot_ok = true;
				if (c == '%' || c == '!')
					p->trick = true;
				if (c >= 0x80)
					p->utf8 = true;
			} else {
				snprintf(reply, rl, "501 5.1.3 Character not allowed in local part");
				return -1;
			}
			if (n >= SMTP_LOCAL_MAX)
				goto toolong;
			p->local[n++] = *s++;
		}
		if (n == 0 || !dot_ok) {
			snprintf(reply, rl, "501 5.1.3 Bad local part");
			return -1;
		}
	}
	p->local[n] = '\0';
	*pp = s;
	return 0;
toolong:
	snprintf(reply, rl, "501 5.1.3 Local part longer than 64 octets (RFC 5321 4.5.3.1.1)");
	return -1;
}

/* length of a well-formed UTF-8 character at p that may stand in a domain
 * (utf8_char_len, and not NBSP, the line/paragraph separators or BOM), or 0 */
static size_t
utf8_char(const unsigned char *p)
{
	size_t n = utf8_char_len(p, strlen((const char *)p));

	if (n == 2 && p[0] == 0xc2 && p[1] == 0xa0)
		return 0;
	if (n == 3 && ((p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) ||
	    (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)))
		return 0;
	return n;
}

/* an internationalised domain: labels of letters, digits, '-' and
 * well-formed non-ASCII characters, separated by single dots */
static bool
utf8_domain_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t label = 0;

	while (*p) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			p++;
		} else if (*p >= 0x80) {
			size_t k = utf8_char(p);

			if (k == 0)
				return false;
			p += k;
			label++;
		} else if (isalnum(*p) || *p == '-') {
			p++;
			label++;
		} else
			return false;
	}
	return label > 0 || (p > (const unsigned char *)s && p[-1] == '.');
}

/* the domain: a DNS name or an address literal, up to the closing '>' */
static int
parse_domain(const char **pp, struct smtp_path *p, char *reply, size_t rl)
{
	const char *s = *pp, *end = strchr(s, '>');
	char raw[SMTP_DOMAIN_MAX + 2];
	size_t n;
	struct dsmtp_err err;

	if (end == NULL) {
		snprintf(reply, rl, "501 5.1.3 Missing '>'");
		return -1;
	}
	n = (size_t)(end - s);
	if (n == 0 || n > SMTP_DOMAIN_MAX) {
		snprintf(reply, rl, "501 5.1.3 Bad domain length");
		return -1;
	}
	memcpy(raw, s, n);
	raw[n] = '\0';
	if (raw[0] == '[') {
		unsigned char tmp[16];
		char inner[SMTP_DOMAIN_MAX];

		if (raw[n - 1] != ']' || n - 2 >= sizeof(inner)) {
			snprintf(reply, rl, "501 5.1.3 Bad address literal");
			return -1;
		}
		memcpy(inner, raw + 1, n - 2);
		inner[n - 2] = '\0';
		if (!(inet_pton(AF_INET, inner, tmp) == 1 ||
		    (strncasecmp(inner, "IPv6:", 5) == 0 && inet_pton(AF_INET6, inner + 5, tmp) == 1))) {
			snprintf(reply, rl, "501 5.1.3 Bad address literal");
			return -1;
		}
		p->domain_literal = true;
		for (size_t i = 0; i < n; i++)
			p->domain[i] = (char)tolower((unsigned char)raw[i]);
		p->domain[n] = '\0';
	} else {
		bool high = false;

		for (size_t i = 0; i < n; i++)
			if ((unsigned char)raw[i] >= 0x80)
				high = true;
		if (high) {
			/* a U-label domain (RFC 6531): kept as given, never equal to
			 * our ASCII names, but held to the same shape as an ASCII
			 * one, so it cannot smuggle controls or '@' into replies and
			 * headers */
			if (!utf8_domain_ok(raw)) {
				snprintf(reply, rl, "501 5.1.3 Bad domain name");
				return -1;
			}
			/* judged, routed and matched as its A-label; refused now
			 * if it has none, rather than accepted and bounced later */
			if (addr_domain_normalise(raw, p->domain, sizeof(p->domain), false, &err) < 0) {
				snprintf(reply, rl, "553 5.1.3 Domain name is not a valid "
				    "internationalised domain name (IDNA2008)");
				return -1;
			}
			p->utf8 = true;
			for (size_t i = 0; i <= n; i++)
				p->udomain[i] = (char)tolower((unsigned char)raw[i]);
		} else if (addr_domain_normalise(raw, p->domain, sizeof(p->domain), false, &err) < 0) {
			snprintf(reply, rl, "501 5.1.3 Bad domain name");
			return -1;
		}
	}
	*pp = end;
	return 0;
}

int
smtp_cmd_path(const char *args, const char *want, struct smtp_path *p, const char **params,
    char *reply, size_t rl)
{
	size_t wl = strlen(want);
	const char *s = args;

	memset(p, 0, sizeof(*p));
	if (strncasecmp(s, want, wl) != 0 || s[wl] != ':') {
		snprintf(reply, rl, "501 5.5.4 Syntax: %s %s:<address>",
		    strcmp(want, "FROM") == 0 ? "MAIL" : "RCPT", want);
		return -1;
	}
	s += wl + 1;
	while (*s == ' ')	/* not RFC 5321, but common clients send it */
		s++;
	if (*s != '<') {
		snprintf(reply, rl, "501 5.1.3 Address must be in angle brackets");
		return -1;
	}
	s++;
	if (*s == '>') {
		p->null = true;
		s++;
		goto params;
	}
	if (*s == '@') {
		/* a source route, "@a,@b:": RFC 5321 4.1.1.3 says accept and
		 * ignore it; we judge and deliver only the final mailbox */
		const char *colon = strchr(s, ':');

		if (colon == NULL || colon > strchr(s, '>')) {
			snprintf(reply, rl, "501 5.1.3 Bad source route");
			return -1;
		}
		p->had_route = true;
		s = colon + 1;
	}
	if (strncasecmp(s, "postmaster>", 11) == 0) {
		p->postmaster = true;
		snprintf(p->local, sizeof(p->local), "postmaster");
		s += 10;
	} else {
		if (parse_local(&s, p, reply, rl) < 0)
			return -1;
		if (*s != '@') {
			snprintf(reply, rl, "501 5.1.3 Address needs a domain");
			return -1;
		}
		s++;
		if (parse_domain(&s, p, reply, rl) < 0)
			return -1;
	}
	if (*s != '>') {
		snprintf(reply, rl, "501 5.1.3 Missing '>'");
		return -1;
	}
	s++;
	if (p->postmaster)
		snprintf(p->addr, sizeof(p->addr), "postmaster");
	else if ((size_t)snprintf(p->addr, sizeof(p->addr), "%s@%s", p->local,
	    p->udomain[0] ? p->udomain : p->domain) >= SMTP_PATH_MAX - 1) {
		snprintf(reply, rl, "501 5.1.3 Path longer than 256 octets (RFC 5321 4.5.3.1.3)");
		return -1;
	}
params:
	if (*s != '\0' && *s != ' ') {
		snprintf(reply, rl, "501 5.5.4 Garbage after the address");
		return -1;
	}
	while (*s == ' ')
		s++;
	*params = s;
	return 0;
}

/* one "KEY[=VALUE]" from params; returns the next position; *eq says
 * whether a '=' was given (so "SMTPUTF8=" is not "SMTPUTF8") */
static const char *
next_param(const char *s, char *key, size_t kl, char *val, size_t vl, bool *eq)
{
	size_t n = 0;

	while (*s == ' ')
		s++;
	while (*s && *s != ' ' && *s != '=') {
		if (n + 1 < kl)
			key[n++] = (char)toupper((unsigned char)*s);
		s++;
	}
	key[n] = '\0';
	n = 0;
	val[0] = '\0';
	*eq = *s == '=';
	if (*s == '=') {
		s++;
		while (*s && *s != ' ') {
			if (n + 1 < vl)
				val[n++] = *s;
			s++;
		}
		val[n] = '\0';
	}
	return s;
}

int
smtp_cmd_mail_params(const char *params, struct smtp_mail_params *mp, char *reply, size_t rl)
{
	const char *s = params;

	memset(mp, 0, sizeof(*mp));
	while (*s) {
		char key[32], val[64];
		bool eq;

		s = next_param(s, key, sizeof(key), val, sizeof(val), &eq);
		if (key[0] == '\0') {
			if (!eq && *s == '\0')
				break;	/* trailing spaces */
			/* RFC 5321 4.1.2: esmtp-keyword is (ALPHA / DIGIT) *(...) */
			snprintf(reply, rl, "501 5.5.4 Bad MAIL parameter syntax");
			return -1;
		}
		for (const char *k = key; *k; k++)
			if (!isalnum((unsigned char)*k) && *k != '-') {
				snprintf(reply, rl, "501 5.5.4 Bad MAIL parameter syntax");
				return -1;
			}
		if (strcmp(key, "SIZE") == 0) {
			uint64_t v = 0;

			if (val[0] == '\0' || strlen(val) > 19) {
				snprintf(reply, rl, "501 5.5.4 Bad SIZE value");
				return -1;
			}
			for (const char *d = val; *d; d++) {
				if (!isdigit((unsigned char)*d)) {
					snprintf(reply, rl, "501 5.5.4 Bad SIZE value");
					return -1;
				}
				v = v * 10 + (uint64_t)(*d - '0');
			}
			mp->size = v;
			mp->has_size = true;
		} else if (strcmp(key, "BODY") == 0) {
			if (strcasecmp(val, "8BITMIME") == 0)
				mp->body_8bit = true;
			else if (strcasecmp(val, "7BIT") != 0) {
				snprintf(reply, rl, "501 5.5.4 Unknown BODY value");
				return -1;
			}
		} else if (strcmp(key, "SMTPUTF8") == 0 && !eq) {
			mp->smtputf8 = true;
		} else if (strcmp(key, "REQUIRETLS") == 0 && !eq && !mp->requiretls) {
			mp->requiretls = true;	/* RFC 8689 4.1: no value */
		} else {
			snprintf(reply, rl, "555 5.5.4 Unsupported MAIL parameter %s", key);
			return -1;
		}
	}
	return 0;
}

int
smtp_cmd_rcpt_params(const char *params, char *reply, size_t rl)
{
	if (*params == '\0')
		return 0;
	snprintf(reply, rl, "555 5.5.4 Unsupported RCPT parameter");
	return -1;
}
