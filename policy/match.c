/* match.c: RFC 6125 name matching and the domain_secure match modes: one
 * certificate name against one host or domain, and a certificate's names
 * (DNS SANs, else CN) against the same. Owns nothing else; the rules are
 * spelled out in policy.h. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "policy/policy.h"

/* a name is at most 253 octets plus one trailing dot (RFC 1035 2.3.4) */
#define NAME_MAX_LEN	254

enum norm_rc { NORM_OK, NORM_EMPTY, NORM_MALFORMED, NORM_ULABEL };

static enum norm_rc	 norm(const char *s, char *out, size_t outlen);
static enum norm_rc	 norm_idn(const char *s, char *out, size_t outlen);
static void		 set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* lower-case s into out without its one trailing dot; refuse the empty
 * name, empty labels and non-ASCII (a U-label: we compare A-labels only) */
static enum norm_rc
norm(const char *s, char *out, size_t outlen)
{
	size_t n, i;

	if (s == NULL || s[0] == '\0')
		return NORM_EMPTY;
	n = strlen(s);
	if (s[n - 1] == '.')
		n--;
	if (n == 0)
		return NORM_EMPTY;
	if (n > NAME_MAX_LEN - 1 || n >= outlen)
		return NORM_MALFORMED;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x80)
			return NORM_ULABEL;
		if (ch <= 0x20 || ch == 0x7f)
			return NORM_MALFORMED;
		/* "..", a leading dot or a trailing ".." is an empty label */
		if (ch == '.' && (i == 0 || s[i - 1] == '.' || i == n - 1))
			return NORM_MALFORMED;
		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : (char)ch;
	}
	out[n] = '\0';
	return NORM_OK;
}

/* norm() for a name we were given (a domain, a route, a reference
 * identity): a U-label name is compared as its A-label (IDNA2008).
 * Certificate names go through norm() alone: a dNSName is an IA5String
 * (RFC 5280 4.2.1.6), so a U-label there is malformed, not converted. */
static enum norm_rc
norm_idn(const char *s, char *out, size_t outlen)
{
	char a[NAME_MAX_LEN + 3];
	bool high = false;

	if (s == NULL)
		return NORM_EMPTY;
	for (const char *q = s; *q; q++)
		if ((unsigned char)*q >= 0x80)
			high = true;
	if (!high)
		return norm(s, out, outlen);
	if (strncmp(s, "*.", 2) == 0) {
		if (addr_domain_to_ascii(s + 2, a + 2, sizeof(a) - 2, NULL) < 0)
			return NORM_ULABEL;
		memcpy(a, "*.", 2);
	} else if (addr_domain_to_ascii(s, a, sizeof(a), NULL) < 0)
		return NORM_ULABEL;
	return norm(a, out, outlen);
}

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

void
policy_printable(const char *s, char *out, size_t outlen)
{
	size_t i, n = 0;

	if (outlen == 0)
		return;
	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && n + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[n++] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
	}
	out[n] = '\0';
	/* cut: say so rather than pass a truncated name off as a whole one */
	if (s[i] != '\0' && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

bool
policy_domain_eq(const char *a, const char *b)
{
	char na[NAME_MAX_LEN + 1], nb[NAME_MAX_LEN + 1];

	return norm_idn(a, na, sizeof(na)) == NORM_OK && norm_idn(b, nb, sizeof(nb)) == NORM_OK &&
	    strcmp(na, nb) == 0;
}

/* is the normalised pattern a well-formed wildcard "*.x.y" (at least two
 * labels after the '*')? Fills why when it is a wildcard but not a good one. */
static bool
wildcard_ok(const char *p, char *why, size_t whylen)
{
	if (strcmp(p, "*") == 0) {
		set_why(why, whylen, "wildcard-too-wide: \"*\" alone would match any name");
		return false;
	}
	if (strncmp(p, "*.", 2) != 0 || strchr(p + 1, '*') != NULL) {
		set_why(why, whylen, "partial-wildcard: \"%.200s\" (only a whole left-most \"*\" "
		    "label is a wildcard)", p);
		return false;
	}
	if (strchr(p + 2, '.') == NULL) {
		set_why(why, whylen, "wildcard-too-wide: \"%.200s\" (a wildcard needs two labels "
		    "after it)", p);
		return false;
	}
	return true;
}

bool
policy_name_matches_why(const char *pattern, const char *name, char *why, size_t whylen)
{
	char p[NAME_MAX_LEN + 1], n[NAME_MAX_LEN + 1], pp[NAME_MAX_LEN + 1], pn[NAME_MAX_LEN + 1];
	enum norm_rc rp, rn;
	const char *dot;

	policy_printable(pattern, pp, sizeof(pp));
	policy_printable(name, pn, sizeof(pn));
	rp = norm(pattern, p, sizeof(p));
	rn = norm_idn(name, n, sizeof(n));
	if (rp == NORM_ULABEL || rn == NORM_ULABEL) {
		set_why(why, whylen, rp == NORM_ULABEL ? "u-label: \"%.200s\" is not ASCII; "
		    "certificate names are A-labels (xn--...)" : "u-label: \"%.200s\" is not a "
		    "valid international domain name (IDNA2008)", rp == NORM_ULABEL ? pp : pn);
		return false;
	}
	if (rp != NORM_OK || rn != NORM_OK) {
		set_why(why, whylen, "malformed: \"%.200s\" is not a DNS name",
		    rp != NORM_OK ? pp : pn);
		return false;
	}
	if (strchr(n, '*') != NULL) {
		set_why(why, whylen, "malformed: \"%.200s\" is a pattern, not a host name", pn);
		return false;
	}
	if (strchr(p, '*') == NULL) {
		if (strcmp(p, n) == 0)
			return true;
		set_why(why, whylen, "mismatch: \"%.120s\" is not \"%.120s\"", pp, pn);
		return false;
	}
	if (!wildcard_ok(p, why, whylen))
		return false;
	/* RFC 6125 6.4.3: "*" stands for exactly one whole label */
	dot = strchr(n, '.');
	if (dot != NULL && strcmp(dot + 1, p + 2) == 0)
		return true;
	if (dot != NULL) {
		size_t nl = strlen(n), rl = strlen(p + 1);

		if (nl > rl && strcmp(n + nl - rl, p + 1) == 0) {
			set_why(why, whylen, "wildcard-depth: \"%.120s\" stands for one label, "
			    "\"%.120s\" has more", pp, pn);
			return false;
		}
	}
	set_why(why, whylen, "mismatch: \"%.120s\" does not match \"%.120s\"", pp, pn);
	return false;
}

bool
policy_name_matches(const char *pattern, const char *name)
{
	return policy_name_matches_why(pattern, name, NULL, 0);
}

bool
policy_name_covers(enum ds_match mode, const char *pattern, const char *domain)
{
	char p[NAME_MAX_LEN + 1], d[NAME_MAX_LEN + 1];
	size_t pl, dl;

	if (norm(pattern, p, sizeof(p)) != NORM_OK || norm_idn(domain, d, sizeof(d)) != NORM_OK)
		return false;
	if (strchr(d, '*') != NULL)
		return false;
	if (strchr(p, '*') == NULL && strcmp(p, d) == 0)
		return true;
	if (mode == DS_MATCH_EXACT)
		return false;
	/* wildcard: RFC 6125 matching, or "*.D" standing for the domain D */
	if (strchr(p, '*') != NULL) {
		if (!wildcard_ok(p, NULL, 0))
			return false;
		if (strcmp(p + 2, d) == 0 || policy_name_matches(p, d))
			return true;
	}
	if (mode == DS_MATCH_WILDCARD)
		return false;
	/* subdomains: any name under D, at any depth ("x.D", "*.x.D") */
	pl = strlen(p);
	dl = strlen(d);
	return pl > dl + 1 && p[pl - dl - 1] == '.' && strcmp(p + pl - dl, d) == 0;
}

/* calls fn on each name the certificate is matched by: its DNS SANs, or
 * its CN when it has no DNS SAN (RFC 6125 6.4.4); stops when fn says so */
static bool
each_name(const struct tls_cert_facts *f, bool (*fn)(const char *, void *), void *arg)
{
	if (f == NULL)
		return false;
	if (f->nsan > 0) {
		for (size_t i = 0; i < f->nsan; i++)
			if (f->san != NULL && f->san[i] != NULL && fn(f->san[i], arg))
				return true;
		return false;
	}
	return f->cn[0] != '\0' && fn(f->cn, arg);
}

struct name_arg {
	enum ds_match	 mode;
	const char	*target;
	bool		 host;		/* RFC 6125 host match rather than coverage */
	char		*matched;
	size_t		 matchedlen;
};

static bool
name_try(const char *name, void *arg)
{
	struct name_arg *a = arg;
	bool ok;

	ok = a->host ? policy_name_matches(name, a->target) :
	    policy_name_covers(a->mode, name, a->target);
	if (ok && a->matched != NULL && a->matchedlen > 0)
		policy_printable(name, a->matched, a->matchedlen);
	return ok;
}

bool
policy_cert_covers(enum ds_match mode, const struct tls_cert_facts *f, const char *domain,
    char *matched, size_t matchedlen)
{
	struct name_arg a = { mode, domain, false, matched, matchedlen };

	return each_name(f, name_try, &a);
}

bool
policy_cert_matches_host(const struct tls_cert_facts *f, const char *host, char *matched,
    size_t matchedlen)
{
	struct name_arg a = { DS_MATCH_EXACT, host, true, matched, matchedlen };

	return each_name(f, name_try, &a);
}

struct fmt_arg {
	char	*out;
	size_t	 outlen, used;
	bool	 cut, cn;
};

static bool
fmt_one(const char *name, void *arg)
{
	struct fmt_arg *a = arg;
	char pn[NAME_MAX_LEN + 1];
	int w;

	if (a->cut)
		return true;
	policy_printable(name, pn, sizeof(pn));
	w = snprintf(a->out + a->used, a->outlen - a->used, "%s%s%s", a->used ? "," : "",
	    a->cn ? "CN=" : "", pn);
	if (w < 0 || (size_t)w >= a->outlen - a->used) {
		a->cut = true;
		return true;
	}
	a->used += (size_t)w;
	return false;
}

void
policy_cert_names_format(const struct tls_cert_facts *f, char *out, size_t outlen)
{
	struct fmt_arg a = { out, outlen, 0, false, false };

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (f == NULL || (f->nsan == 0 && f->cn[0] == '\0')) {
		snprintf(out, outlen, "(none)");
		return;
	}
	a.cn = f->nsan == 0;
	(void)each_name(f, fmt_one, &a);
	if (a.cut && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}
