/* sts_parse.c: the MTA-STS texts (RFC 8461): the _mta-sts TXT record
 * (3.1), the policy file (3.2), the mx: pattern match (4.1) and dsmtpc's
 * on-disk cache record of a policy. Pure: bytes in, structs out; every
 * input is hostile (it comes from DNS, from a web server, or from a file
 * an earlier run wrote), so every length is checked. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"

#define STS_WHY(why, whylen, ...) \
	do { if ((why) && (whylen)) snprintf((why), (whylen), __VA_ARGS__); } while (0)

const char *
policy_sts_mode_name(enum policy_sts_mode m)
{
	switch (m) {
	case POLICY_STS_ENFORCE:	return "enforce";
	case POLICY_STS_TESTING:	return "testing";
	case POLICY_STS_NONE:		return "none";
	}
	return "none";
}

int
policy_sts_txt_join(const unsigned char *rdata, size_t len, char *out, size_t outlen)
{
	size_t i = 0, used = 0;

	if (outlen == 0)
		return -1;
	while (i < len) {
		size_t n = rdata[i++];

		if (n > len - i || n >= outlen - used)
			return -1;
		memcpy(out + used, rdata + i, n);
		used += n;
		i += n;
	}
	out[used] = '\0';
	/* a NUL inside makes the text something else than it looks */
	return memchr(out, '\0', used) ? -1 : 0;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int	txt_parse(const char *txt, size_t len, char id[POLICY_STS_ID_MAX + 1],
    char *why, size_t whylen);

int
policy_sts_txt_parse(const char *txt, size_t len, char id[POLICY_STS_ID_MAX + 1], char *why,
    size_t whylen)
{
	int r = txt_parse(txt, len, id, why, whylen);

	if (r != 1)
		id[0] = '\0';	/* a broken record names no id */
	return r;
}

static int
txt_parse(const char *txt, size_t len, char id[POLICY_STS_ID_MAX + 1], char *why,
    size_t whylen)
{
	size_t i = 0;
	bool first = true, have_id = false;

	id[0] = '\0';
	/* 3.1: the record starts with "v=STSv1"; anything else is not ours */
	if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0 || (len > 7 && txt[7] != ';' &&
	    !is_wsp(txt[7])))
		return 0;
	while (i < len) {
		size_t ks, ke, vs, ve;

		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		ks = i;
		while (i < len && txt[i] != '=' && txt[i] != ';')
			i++;
		if (i == len || txt[i] != '=' || i == ks) {
			STS_WHY(why, whylen, "sts-record: malformed field at offset %zu", ks);
			return -1;
		}
		ke = i++;
		vs = i;
		while (i < len && txt[i] != ';')
			i++;
		ve = i;
		while (ve > vs && is_wsp(txt[ve - 1]))
			ve--;
		if (i < len)
			i++;	/* the ';' */
		if (ve == vs) {
			STS_WHY(why, whylen, "sts-record: empty value at offset %zu", vs);
			return -1;
		}
		for (size_t k = ks; k < ke; k++)
			if (!isalnum((unsigned char)txt[k]) && txt[k] != '_' && txt[k] != '.' &&
			    txt[k] != '-') {
				STS_WHY(why, whylen, "sts-record: bad field name at offset %zu", ks);
				return -1;
			}
		for (size_t k = vs; k < ve; k++)
			if ((unsigned char)txt[k] < 0x21 || (unsigned char)txt[k] > 0x7e ||
			    txt[k] == '=') {
				STS_WHY(why, whylen, "sts-record: bad value at offset %zu", vs);
				return -1;
			}
		if (first) {
			first = false;
			continue;	/* v=STSv1, checked above */
		}
		if (ke - ks == 2 && memcmp(txt + ks, "id", 2) == 0 && !have_id) {
			if (ve - vs > POLICY_STS_ID_MAX) {
				STS_WHY(why, whylen, "sts-record: id longer than %d characters",
				    POLICY_STS_ID_MAX);
				return -1;
			}
			for (size_t k = vs; k < ve; k++)
				if (!isalnum((unsigned char)txt[k])) {
					STS_WHY(why, whylen, "sts-record: id is not alphanumeric");
					return -1;
				}
			memcpy(id, txt + vs, ve - vs);
			id[ve - vs] = '\0';
			have_id = true;
		}
		/* unknown fields are ignored (3.1) */
	}
	if (!have_id) {
		STS_WHY(why, whylen, "sts-record: no id field");
		return -1;
	}
	return 1;
}

int
policy_sts_txt_select(const char *const *txt, const size_t *len, size_t n,
    char id[POLICY_STS_ID_MAX + 1], char *why, size_t whylen)
{
	char one[POLICY_STS_ID_MAX + 1];
	size_t found = 0;

	id[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int r = policy_sts_txt_parse(txt[i], len[i], one, why, whylen);

		if (r < 0) {
			id[0] = '\0';
			return -1;
		}
		if (r == 0)
			continue;
		if (++found > 1) {
			/* 3.1: more than one record: as if there were none */
			STS_WHY(why, whylen, "sts-record: %zu or more STS TXT records (RFC 8461 3.1: "
			    "no policy)", found);
			id[0] = '\0';
			return -1;
		}
		memcpy(id, one, sizeof(one));
	}
	if (found == 0)
		STS_WHY(why, whylen, "no STS TXT record");
	return found == 1 ? 1 : 0;
}

/* an mx: pattern: a host name, or "*." and a host name; lower-cased into out */
static bool
mx_pattern_ok(const char *v, size_t n, char *out, size_t outlen)
{
	size_t i = 0, label = 0;

	if (n >= 2 && v[0] == '*' && v[1] == '.')
		i = 2;
	if (n == i || n >= outlen || n > 253)
		return false;
	for (size_t k = i; k < n; k++) {
		unsigned char c = (unsigned char)v[k];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	/* one trailing dot allowed, not an empty name */
	for (size_t k = 0; k < n; k++)
		out[k] = (char)tolower((unsigned char)v[k]);
	out[n] = '\0';
	if (out[n - 1] == '.')
		out[n - 1] = '\0';
	return out[i] != '\0';
}

static void
sts_text_build(struct policy_sts *p)
{
	size_t used;
	int w;

	w = snprintf(p->text, sizeof(p->text), "version: STSv1\nmode: %s\n",
	    policy_sts_mode_name(p->mode));
	used = w > 0 ? (size_t)w : 0;
	for (size_t i = 0; i < p->nmx && used < sizeof(p->text); i++) {
		w = snprintf(p->text + used, sizeof(p->text) - used, "mx: %s\n", p->mx[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used < sizeof(p->text))
		snprintf(p->text + used, sizeof(p->text) - used, "max_age: %u", p->max_age);
}

int
policy_sts_parse(const char *body, size_t len, struct policy_sts *p, char *why, size_t whylen)
{
	bool have_version = false, have_mode = false, have_age = false;
	size_t i = 0, line = 0;

	p->mode = POLICY_STS_NONE;
	p->max_age = 0;
	p->nmx = 0;
	p->text[0] = '\0';
	if (len > POLICY_STS_BODY_MAX) {
		STS_WHY(why, whylen, "sts-policy: longer than %d bytes", POLICY_STS_BODY_MAX);
		return -1;
	}
	while (i < len) {
		size_t ls = i, le, ks, ke, vs, ve;

		line++;
		while (i < len && body[i] != '\n')
			i++;
		le = i;
		if (i < len)
			i++;
		if (le > ls && body[le - 1] == '\r')
			le--;
		if (le == ls)
			continue;	/* an empty line (the last one, often) */
		ks = ls;
		ke = ks;
		while (ke < le && body[ke] != ':')
			ke++;
		if (ke == le || ke == ks) {
			STS_WHY(why, whylen, "sts-policy: line %zu is not \"key: value\"", line);
			return -1;
		}
		vs = ke + 1;
		while (vs < le && is_wsp(body[vs]))
			vs++;
		ve = le;
		while (ve > vs && is_wsp(body[ve - 1]))
			ve--;
		for (size_t k = ks; k < ke; k++)
			if (!isalnum((unsigned char)body[k]) && body[k] != '_' && body[k] != '-' &&
			    body[k] != '.') {
				STS_WHY(why, whylen, "sts-policy: line %zu: bad key", line);
				return -1;
			}
		for (size_t k = vs; k < ve; k++)
			if ((unsigned char)body[k] < 0x20 || (unsigned char)body[k] == 0x7f) {
				STS_WHY(why, whylen, "sts-policy: line %zu: control character", line);
				return -1;
			}
#define KEY(s)	(ke - ks == sizeof(s) - 1 && memcmp(body + ks, s, sizeof(s) - 1) == 0)
#define VAL(s)	(ve - vs == sizeof(s) - 1 && memcmp(body + vs, s, sizeof(s) - 1) == 0)
		if (KEY("version")) {
			if (have_version)
				continue;	/* the first one counts */
			if (!VAL("STSv1")) {
				STS_WHY(why, whylen, "sts-policy: version is not STSv1");
				return -1;
			}
			have_version = true;
		} else if (KEY("mode")) {
			if (have_mode)
				continue;
			if (VAL("enforce"))
				p->mode = POLICY_STS_ENFORCE;
			else if (VAL("testing"))
				p->mode = POLICY_STS_TESTING;
			else if (VAL("none"))
				p->mode = POLICY_STS_NONE;
			else {
				STS_WHY(why, whylen, "sts-policy: line %zu: unknown mode", line);
				return -1;
			}
			have_mode = true;
		} else if (KEY("max_age")) {
			unsigned long long a = 0;

			if (have_age)
				continue;
			if (ve == vs || ve - vs > 10) {
				STS_WHY(why, whylen, "sts-policy: line %zu: bad max_age", line);
				return -1;
			}
			for (size_t k = vs; k < ve; k++) {
				if (!isdigit((unsigned char)body[k])) {
					STS_WHY(why, whylen, "sts-policy: line %zu: bad max_age", line);
					return -1;
				}
				a = a * 10 + (unsigned)(body[k] - '0');
			}
			if (a > POLICY_STS_MAX_AGE_MAX) {
				STS_WHY(why, whylen, "sts-policy: max_age %llu is more than %u", a,
				    POLICY_STS_MAX_AGE_MAX);
				return -1;
			}
			p->max_age = (unsigned)a;
			have_age = true;
		} else if (KEY("mx")) {
			if (p->nmx == POLICY_STS_MX_MAX) {
				STS_WHY(why, whylen, "sts-policy: more than %d mx patterns",
				    POLICY_STS_MX_MAX);
				return -1;
			}
			if (!mx_pattern_ok(body + vs, ve - vs, p->mx[p->nmx], sizeof(p->mx[0]))) {
				STS_WHY(why, whylen, "sts-policy: line %zu: bad mx pattern", line);
				return -1;
			}
			p->nmx++;
		}
		/* unknown keys are ignored (3.2) */
#undef KEY
#undef VAL
	}
	if (!have_version || !have_mode || !have_age) {
		STS_WHY(why, whylen, "sts-policy: no %s field", !have_version ? "version" :
		    !have_mode ? "mode" : "max_age");
		return -1;
	}
	if (p->mode != POLICY_STS_NONE && p->nmx == 0) {
		STS_WHY(why, whylen, "sts-policy: mode %s without an mx pattern",
		    policy_sts_mode_name(p->mode));
		return -1;
	}
	sts_text_build(p);
	return 0;
}

bool
policy_sts_mx_matches(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl = strlen(pattern);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (hl == 0 || pl == 0)
		return false;
	if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* 4.1: "*." stands for exactly one label, the left-most */
		const char *dot = memchr(host, '.', hl);
		size_t rest;

		if (dot == NULL || dot == host)
			return false;
		rest = hl - (size_t)(dot + 1 - host);
		return rest == pl - 2 && rest > 0 && strncasecmp(dot + 1, pattern + 2, rest) == 0;
	}
	return hl == pl && strncasecmp(host, pattern, hl) == 0;
}

bool
policy_sts_mx_allowed(const struct policy_sts *p, const char *host)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (policy_sts_mx_matches(p->mx[i], host))
			return true;
	return false;
}

bool
policy_sts_expired(const struct policy_sts *p, long long now)
{
	return now >= p->fetched + (long long)p->max_age;
}

/* the cache record: a header, a blank line, the canonical policy */
#define CACHE_MAGIC	"dsmtp-sts-cache 1\n"

int
policy_sts_cache_format(const struct policy_sts *p, const char *domain, char *out,
    size_t outlen)
{
	int w = snprintf(out, outlen, CACHE_MAGIC "domain: %s\nid: %s\nfetched: %lld\n\n%s\n",
	    domain, p->id, p->fetched, p->text);

	return w < 0 || (size_t)w >= outlen ? -1 : w;
}

int
policy_sts_cache_parse(const char *buf, size_t len, struct policy_sts *p, char *domain,
    size_t domainlen, char *why, size_t whylen)
{
	const char *end = buf + len, *q = buf, *nl;
	bool have_domain = false, have_id = false, have_fetched = false;

	if (domainlen == 0)
		return -1;
	domain[0] = '\0';
	if (len < sizeof(CACHE_MAGIC) - 1 || memcmp(buf, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1)) {
		STS_WHY(why, whylen, "sts-cache: not a cache record");
		return -1;
	}
	q += sizeof(CACHE_MAGIC) - 1;
	p->id[0] = '\0';
	p->fetched = 0;
	for (;;) {
		size_t n;

		if (q >= end || (nl = memchr(q, '\n', (size_t)(end - q))) == NULL) {
			STS_WHY(why, whylen, "sts-cache: truncated header");
			return -1;
		}
		n = (size_t)(nl - q);
		if (n == 0) {
			q = nl + 1;
			break;
		}
		if (n > 8 && memcmp(q, "domain: ", 8) == 0 && n - 8 < domainlen && n - 8 < 256) {
			memcpy(domain, q + 8, n - 8);
			domain[n - 8] = '\0';
			have_domain = !memchr(domain, '\0', n - 8) && !memchr(domain, '/', n - 8);
		} else if (n > 4 && n - 4 <= POLICY_STS_ID_MAX && memcmp(q, "id: ", 4) == 0) {
			memcpy(p->id, q + 4, n - 4);
			p->id[n - 4] = '\0';
			have_id = true;
			for (size_t k = 0; k < n - 4; k++)
				if (!isalnum((unsigned char)p->id[k]))
					have_id = false;
		} else if (n > 9 && n - 9 <= 19 && memcmp(q, "fetched: ", 9) == 0) {
			long long t = 0;

			have_fetched = true;
			for (size_t k = 9; k < n; k++) {
				if (!isdigit((unsigned char)q[k])) {
					have_fetched = false;
					break;
				}
				t = t * 10 + (q[k] - '0');
				if (t > 1000000000000LL) {
					have_fetched = false;
					break;
				}
			}
			p->fetched = t;
		} else {
			STS_WHY(why, whylen, "sts-cache: unknown header line");
			return -1;
		}
		q = nl + 1;
	}
	if (!have_domain || !have_id || !have_fetched) {
		STS_WHY(why, whylen, "sts-cache: header incomplete or malformed");
		return -1;
	}
	return policy_sts_parse(q, (size_t)(end - q), p, why, whylen);
}
