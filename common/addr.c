/* addr.c: parsing of endpoints, CIDR networks, domain names and next_hop
 * forms, with a reason for every rejection. No I/O. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "common/addr.h"

/* "1".."65535", decimal digits only */
int
addr_parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "A.B.C.D:PORT", "[V6]:PORT", "*:PORT" (all IPv4) */
int
addr_parse_endpoint(const char *s, struct addr_endpoint *ep, struct dsmtp_err *err)
{
	char host[64];
	const char *colon, *portstr;
	size_t hlen;

	memset(ep, 0, sizeof(*ep));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			dsmtp_err_set(err, "\"%s\": expected [IPV6]:PORT", s);
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		portstr = close + 2;
		if (hlen >= sizeof(host)) {
			dsmtp_err_set(err, "\"%s\": address too long", s);
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, ep->addr) != 1) {
			dsmtp_err_set(err, "\"%s\": \"%s\" is not an IPv6 address", s, host);
			return -1;
		}
		ep->family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			dsmtp_err_set(err, "\"%s\": expected ADDRESS:PORT (e.g. 127.0.0.1:2525)", s);
			return -1;
		}
		if (strchr(s, ':') != colon) {
			dsmtp_err_set(err, "\"%s\": IPv6 addresses need brackets, e.g. [::1]:25", s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		portstr = colon + 1;
		if (hlen >= sizeof(host)) {
			dsmtp_err_set(err, "\"%s\": address too long", s);
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		ep->family = AF_INET;
		if (strcmp(host, "*") == 0)
			memset(ep->addr, 0, 4);
		else if (inet_pton(AF_INET, host, ep->addr) != 1) {
			dsmtp_err_set(err, "\"%s\": \"%s\" is not an IPv4 address", s, host);
			return -1;
		}
	}
	if (addr_parse_port(portstr, &ep->port) < 0) {
		dsmtp_err_set(err, "\"%s\": port \"%s\" is not a number from 1 to 65535", s, portstr);
		return -1;
	}
	return 0;
}

void
addr_endpoint_sockaddr(const struct addr_endpoint *ep, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(ep->port);
		memcpy(&s6->sin6_addr, ep->addr, 16);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(ep->port);
		memcpy(&s4->sin_addr, ep->addr, 4);
		*len = sizeof(*s4);
	}
}

void
addr_endpoint_format(const struct addr_endpoint *ep, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(ep->family, ep->addr, a, sizeof(a));
	if (ep->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, ep->port);
	else
		snprintf(buf, len, "%s:%u", a, ep->port);
}

/* "10.0.0.0/8", "::1/128", or a bare address (a host network) */
int
addr_parse_cidr(const char *s, struct addr_cidr *c, struct dsmtp_err *err)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	memset(c, 0, sizeof(*c));
	if (hlen >= sizeof(host)) {
		dsmtp_err_set(err, "\"%s\": not a network", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		dsmtp_err_set(err, "\"%s\": \"%s\" is not an IPv4 or IPv6 address", s, host);
		return -1;
	}
	c->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		unsigned v = 0;

		if (*p == '\0' || strlen(p) > 3)
			goto badprefix;
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p))
				goto badprefix;
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (v > max)
			goto badprefix;
		c->prefix = v;
	}
	/* keep only the network bits, so comparisons are plain memcmp */
	for (unsigned bit = c->prefix; bit < max; bit++)
		c->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
badprefix:
	dsmtp_err_set(err, "\"%s\": prefix length must be 0..%u", s, max);
	return -1;
}

bool
addr_cidr_contains(const struct addr_cidr *c, const struct sockaddr *sa)
{
	const unsigned char *a;
	unsigned char mapped[4];
	int fam = sa->sa_family;

	if (fam == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (fam == AF_INET6) {
		a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* ::ffff:a.b.c.d is the IPv4 client a.b.c.d on a dual-stack socket */
		static const unsigned char v4pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (c->family == AF_INET && memcmp(a, v4pfx, 12) == 0) {
			memcpy(mapped, a + 12, 4);
			a = mapped;
			fam = AF_INET;
		}
	} else
		return false;
	if (fam != c->family)
		return false;
	for (unsigned bit = 0; bit < c->prefix; bit++) {
		unsigned char m = (unsigned char)(0x80u >> (bit % 8));
		if ((a[bit / 8] & m) != (c->addr[bit / 8] & m))
			return false;
	}
	return true;
}

void
addr_cidr_format(const struct addr_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

bool
addr_cidr_is_everything(const struct addr_cidr *c)
{
	return c->prefix == 0;
}

/* s holds a byte >= 0x80 */
static bool
has_high(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

int
addr_domain_to_ascii(const char *s, char *out, size_t outlen, struct dsmtp_err *err)
{
	char *ascii = NULL;
	int rc;

	/* IDNA2008 with the UTS #46 non-transitional mapping (RFC 5891, 5895):
	 * case-folds and NFC-normalises, so "BÜCHER.example" and
	 * "bücher.example" are both "xn--bcher-kva.example" */
	rc = idn2_to_ascii_8z(s, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		dsmtp_err_set(err, "\"%s\": not a valid international domain name (%s)", s,
		    idn2_strerror(rc));
		return -1;
	}
	if (strlen(ascii) >= outlen) {
		dsmtp_err_set(err, "\"%s\": its A-label form is too long", s);
		idn2_free(ascii);
		return -1;
	}
	snprintf(out, outlen, "%s", ascii);
	idn2_free(ascii);
	return 0;
}

int
addr_mailbox_to_ascii(const char *addr, char *out, size_t outlen, struct dsmtp_err *err)
{
	const char *at = strrchr(addr, '@');
	char dom[256];
	int n;

	if (at == NULL || !has_high(at + 1)) {
		if ((size_t)snprintf(out, outlen, "%s", addr) >= outlen) {
			dsmtp_err_set(err, "address too long");
			return -1;
		}
		return 0;
	}
	if (addr_domain_to_ascii(at + 1, dom, sizeof(dom), err) < 0)
		return -1;
	n = snprintf(out, outlen, "%.*s@%s", (int)(at - addr), addr, dom);
	if (n < 0 || (size_t)n >= outlen) {
		dsmtp_err_set(err, "address too long in its A-label form");
		return -1;
	}
	return 0;
}

int
addr_domain_normalise(const char *s, char *out, size_t outlen, bool allow_wild,
    struct dsmtp_err *err)
{
	size_t n = strlen(s), label = 0;
	char alabel[256];
	const char *given = s;

	if (allow_wild && strcmp(s, "*") == 0) {
		snprintf(out, outlen, "*");
		return 0;
	}
	if (has_high(s)) {
		/* a U-label name: compared, routed and matched as its A-label;
		 * "*." stays in front of a wildcard */
		bool wild = allow_wild && strncmp(s, "*.", 2) == 0;

		if (addr_domain_to_ascii(wild ? s + 2 : s, wild ? alabel + 2 : alabel,
		    sizeof(alabel) - 2, err) < 0)
			return -1;
		if (wild)
			memcpy(alabel, "*.", 2);
		s = alabel;
		n = strlen(s);
	}
	if (n > 0 && s[n - 1] == '.')
		n--;		/* an absolute name "example.com." is example.com */
	if (n == 0 || n > 253 || n >= outlen) {
		dsmtp_err_set(err, "\"%s\": not a domain name (1 to 253 characters)", given);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '*' && allow_wild && i == 0 && n > 2 && s[1] == '.') {
			out[i] = '*';
			label = 1;
			continue;
		}
		if (ch == '.') {
			if (label == 0) {
				dsmtp_err_set(err, "\"%s\": empty label in domain name", given);
				return -1;
			}
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_') {
			if (++label > 63) {
				dsmtp_err_set(err, "\"%s\": a label is longer than 63 characters", given);
				return -1;
			}
		} else {
			char shown[8];

			diag_char_shown(s + i, shown, sizeof(shown));
			dsmtp_err_set(err, "\"%s\": character '%s' not allowed in a domain name", given,
			    shown);
			return -1;
		}
		out[i] = (char)tolower(ch);
	}
	if (label == 0) {
		dsmtp_err_set(err, "\"%s\": empty label in domain name", given);
		return -1;
	}
	out[n] = '\0';
	return 0;
}

/* "[host]:port", "[host]", "host" (MX lookup), "maildir:/abs/path", "discard" */
int
addr_parse_hop(const char *s, struct addr_hop *hop, struct dsmtp_err *err)
{
	memset(hop, 0, sizeof(*hop));
	if (strcmp(s, "discard") == 0) {
		hop->kind = HOP_DISCARD;
		return 0;
	}
	if (strncmp(s, "maildir:", 8) == 0) {
		const char *p = s + 8;

		if (p[0] != '/' || strlen(p) >= sizeof(hop->path)) {
			dsmtp_err_set(err, "\"%s\": maildir needs an absolute path, e.g. maildir:/var/mail/x", s);
			return -1;
		}
		hop->kind = HOP_MAILDIR;
		snprintf(hop->path, sizeof(hop->path), "%s", p);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		char host[256];
		size_t hlen;
		unsigned char tmp[16];

		if (close == NULL) {
			dsmtp_err_set(err, "\"%s\": missing ']' (forms: [host]:port, host, maildir:/path, discard)", s);
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			dsmtp_err_set(err, "\"%s\": empty or too long host", s);
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, tmp) == 1 || inet_pton(AF_INET, host, tmp) == 1)
			snprintf(hop->host, sizeof(hop->host), "%s", host);
		else if (addr_domain_normalise(host, hop->host, sizeof(hop->host), false, err) < 0)
			return -1;
		hop->kind = HOP_HOSTPORT;
		hop->port = 25;
		if (close[1] == ':') {
			if (addr_parse_port(close + 2, &hop->port) < 0) {
				dsmtp_err_set(err, "\"%s\": port \"%s\" is not a number from 1 to 65535", s, close + 2);
				return -1;
			}
		} else if (close[1] != '\0') {
			dsmtp_err_set(err, "\"%s\": unexpected text after ']'", s);
			return -1;
		}
		return 0;
	}
	/* "host:port": the MX of host, delivered to that port (Postfix's
	 * domain:port; DESIGN.md 13.1) */
	const char *colon = strchr(s, ':');
	char name[256];

	hop->port = 25;
	if (colon != NULL) {
		if (addr_parse_port(colon + 1, &hop->port) < 0) {
			dsmtp_err_set(err, "\"%s\": port \"%s\" is not a number from 1 to 65535", s, colon + 1);
			return -1;
		}
		if ((size_t)(colon - s) >= sizeof(name)) {
			dsmtp_err_set(err, "\"%s\": host name too long", s);
			return -1;
		}
		memcpy(name, s, (size_t)(colon - s));
		name[colon - s] = '\0';
		s = name;
	}
	if (addr_domain_normalise(s, hop->host, sizeof(hop->host), false, err) < 0) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		dsmtp_err_set(err, "%s (next_hop forms: [host]:port, host, host:port, maildir:/path, discard)", why);
		return -1;
	}
	hop->kind = HOP_MX;
	return 0;
}
