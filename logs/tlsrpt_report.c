/* tlsrpt_report.c: the RFC 8460 (section 4.4) JSON report of one policy
 * domain for one UTC day, aggregated from the '*' records of context "TLS
 * result" in the send logs (one record per delivery attempt; its format:
 * smtpc/tlsrpt.c). Sessions are grouped by policy (type, strings, mx
 * hosts); failures by result type, both IPs, MX name, HELO and reason. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "logs/plog.h"
#include "logs/tlsrpt_report.h"

#define VAL_MAX	2100	/* an encoded list value (smtpc/tlsrpt.h TLSRPT_LIST_MAX) */

struct detail {
	struct detail	*next;
	char		*key[6];	/* result-type, sending-mta-ip, receiving-mx-hostname,
					 * receiving-mx-helo, receiving-ip, reason (encoded) */
	unsigned long	 count;
};

struct policy {
	struct policy	*next;
	char		*type, *strings, *mx;	/* encoded, as recorded */
	unsigned long	 ok, failed;
	struct detail	*details, **dtail;
};

struct domain {
	char		*name;
	struct policy	*policies, **ptail;
};

struct tlsrpt_reports {
	char		 day[11];
	const char	*only;
	struct domain	*v;
	size_t		 n, cap;
	size_t		*idx;		/* open addressing: index + 1 into v, 0 free */
	size_t		 nidx;		/* a power of 2, at least twice n */
	bool		 oom;
};

static const char *const detail_keys[6] = { "result-type", "sending-mta-ip",
    "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "reason" };

int
tlsrpt_day_parse(const char *s, char out[11])
{
	time_t now = time(NULL);
	struct tm tm;

	if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
		if (strcmp(s, "yesterday") == 0)
			now -= 86400;
		if (gmtime_r(&now, &tm) == NULL)
			return -1;
		return strftime(out, 11, "%Y-%m-%d", &tm) == 10 ? 0 : -1;
	}
	if (strlen(s) != 10 || tlsrpt_day_start(s) < 0)
		return -1;
	memcpy(out, s, 11);
	return 0;
}

long long
tlsrpt_day_start(const char *day)
{
	struct tm tm;
	int y, m, d;
	char tail;

	if (sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(day) != 10 ||
	    y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	time_t t = timegm(&tm);
	struct tm back;

	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d)
		return -1;	/* 2026-02-30 */
	return (long long)t;
}

/* %XX-decode in place */
static void
decode(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		unsigned v;

		if (p[0] == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			p += 2;
		} else
			*o++ = *p;
	}
	*o = '\0';
}

static size_t
name_hash(const char *s)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s)) * 1099511628211ULL;
	return h;
}

/* the slot of name in the index: its entry, or the free slot it goes to */
static size_t
slot_of(const struct tlsrpt_reports *r, const char *name)
{
	size_t i = name_hash(name) & (r->nidx - 1);

	while (r->idx[i] != 0 && strcasecmp(r->v[r->idx[i] - 1].name, name) != 0)
		i = (i + 1) & (r->nidx - 1);
	return i;
}

/* the index at twice the domains' count, rebuilt; 0 or -1 */
static int
index_grow(struct tlsrpt_reports *r)
{
	size_t n = r->nidx ? r->nidx * 2 : 64, *old = r->idx;

	if ((r->idx = calloc(n, sizeof(*r->idx))) == NULL) {
		r->idx = old;
		return -1;
	}
	free(old);
	r->nidx = n;
	for (size_t k = 0; k < r->n; k++)
		r->idx[slot_of(r, r->v[k].name)] = k + 1;
	return 0;
}

static struct domain *
domain_get(struct tlsrpt_reports *r, const char *name)
{
	struct domain *d;
	size_t slot;

	if (r->nidx == 0 && index_grow(r) < 0)
		return NULL;
	slot = slot_of(r, name);
	if (r->idx[slot] != 0)
		return &r->v[r->idx[slot] - 1];
	if ((r->n + 1) * 2 > r->nidx) {
		if (index_grow(r) < 0)
			return NULL;
		slot = slot_of(r, name);
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct domain *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	d = &r->v[r->n];
	memset(d, 0, sizeof(*d));
	if ((d->name = strdup(name)) == NULL)
		return NULL;
	d->ptail = &d->policies;
	r->idx[slot] = ++r->n;
	return d;
}

static struct policy *
policy_get(struct domain *d, const char *type, const char *strings, const char *mx)
{
	struct policy *p;

	for (p = d->policies; p != NULL; p = p->next)
		if (strcmp(p->type, type) == 0 && strcmp(p->strings, strings) == 0 &&
		    strcmp(p->mx, mx) == 0)
			return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->type = strdup(type);
	p->strings = strdup(strings);
	p->mx = strdup(mx);
	if (p->type == NULL || p->strings == NULL || p->mx == NULL) {
		free(p->type);
		free(p->strings);
		free(p->mx);
		free(p);
		return NULL;
	}
	p->dtail = &p->details;
	*d->ptail = p;
	d->ptail = &p->next;
	return p;
}

static int
detail_add(struct policy *p, char key[6][VAL_MAX])
{
	struct detail *f;
	int i;

	for (f = p->details; f != NULL; f = f->next) {
		for (i = 0; i < 6 && strcmp(f->key[i], key[i]) == 0; i++)
			;
		if (i == 6) {
			f->count++;
			return 0;
		}
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	for (i = 0; i < 6; i++)
		if ((f->key[i] = strdup(key[i])) == NULL) {
			while (i-- > 0)
				free(f->key[i]);
			free(f);
			return -1;
		}
	f->count = 1;
	*p->dtail = f;
	p->dtail = &f->next;
	return 0;
}

static int
on_record(const struct plog_record *rec, void *arg)
{
	struct tlsrpt_reports *r = arg;
	char type[VAL_MAX], strings[VAL_MAX], mx[VAL_MAX], dom[VAL_MAX];
	char key[6][VAL_MAX];
	struct domain *d;
	struct policy *p;

	if (rec->dir != PLOG_SEND || rec->f[PLOG_F_EVENT][0] != '*' ||
	    strcmp(rec->f[PLOG_F_CONTEXT], "TLS result") != 0 ||
	    strncmp(rec->f[PLOG_F_TIME], r->day, 10) != 0)
		return 0;
	if (!plog_kv_get(rec->f[PLOG_F_DATA], "policy-domain", dom, sizeof(dom)) ||
	    !plog_kv_get(rec->f[PLOG_F_DATA], "policy-type", type, sizeof(type)) ||
	    !plog_kv_get(rec->f[PLOG_F_DATA], "result-type", key[0], sizeof(key[0])))
		return 0;
	decode(dom);
	if (dom[0] == '\0' || strcmp(dom, "-") == 0 || (r->only != NULL &&
	    strcasecmp(dom, r->only) != 0))
		return 0;
	if (!plog_kv_get(rec->f[PLOG_F_DATA], "policy-string", strings, sizeof(strings)) ||
	    strcmp(strings, "-") == 0)
		strings[0] = '\0';
	if (!plog_kv_get(rec->f[PLOG_F_DATA], "mx-host", mx, sizeof(mx)) || strcmp(mx, "-") == 0)
		mx[0] = '\0';
	if ((d = domain_get(r, dom)) == NULL || (p = policy_get(d, type, strings, mx)) == NULL) {
		r->oom = true;
		return 1;
	}
	if (strcmp(key[0], "success") == 0) {
		p->ok++;
		return 0;
	}
	p->failed++;
	for (int i = 1; i < 6; i++)
		if (!plog_kv_get(rec->f[PLOG_F_DATA], detail_keys[i], key[i], sizeof(key[i])))
			snprintf(key[i], sizeof(key[i]), "-");
	if (detail_add(p, key) < 0) {
		r->oom = true;
		return 1;
	}
	return 0;
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcasecmp(((const struct domain *)a)->name, ((const struct domain *)b)->name);
}

struct tlsrpt_reports *
tlsrpt_reports_read(char *const *paths, size_t npaths, const char *day, const char *domain,
    struct dsmtp_err *err)
{
	struct tlsrpt_reports *r;
	struct plog_reader *rd = NULL;
	struct plog_files fl = { NULL, 0 };
	unsigned long want;

	if (tlsrpt_day_start(day) < 0) {
		dsmtp_err_set(err, "%s: not a day (YYYY-MM-DD)", day);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	memcpy(r->day, day, 11);
	r->only = domain;
	want = strtoul(day, NULL, 10) * 10000 + strtoul(day + 5, NULL, 10) * 100 +
	    strtoul(day + 8, NULL, 10);
	if (plog_files_collect(paths, npaths, &fl, err) < 0)
		goto fail;
	if ((rd = plog_reader_new(on_record, NULL, r)) == NULL) {
		dsmtp_err_set(err, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < fl.n; i++) {
		unsigned long fday = plog_file_day(fl.v[i]);
		const char *base = strrchr(fl.v[i], '/');

		base = base ? base + 1 : fl.v[i];
		/* files are named by their UTC day; RECV files hold no attempts */
		if ((fday != 0 && fday != want) || strncmp(base, "RECV", 4) == 0)
			continue;
		if (plog_read_file(rd, fl.v[i], err) < 0)
			goto fail;
		if (r->oom) {
			dsmtp_err_set(err, "out of memory");
			goto fail;
		}
	}
	plog_reader_free(rd);
	plog_files_free(&fl);
	free(r->idx);	/* the sort moves the domains: the index is done */
	r->idx = NULL;
	r->nidx = 0;
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(r->v[0]), cmp_domain);
	return r;
fail:
	plog_reader_free(rd);
	plog_files_free(&fl);
	tlsrpt_reports_free(r);
	return NULL;
}

size_t
tlsrpt_reports_n(const struct tlsrpt_reports *r)
{
	return r->n;
}

const char *
tlsrpt_reports_domain(const struct tlsrpt_reports *r, size_t i)
{
	return r->v[i].name;
}

/* a JSON string: UTF-8 kept, anything else escaped or replaced */
static void
jstr(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), l;

	putc('"', out);
	while (n > 0) {
		if (*p == '"' || *p == '\\') {
			putc('\\', out);
			putc(*p, out);
		} else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else if (*p >= 0x80) {
			if ((l = plog_utf8_len(p, n)) == 0)
				fputs("\\ufffd", out);
			else {
				fwrite(p, 1, l, out);
				p += l;
				n -= l;
				continue;
			}
		} else
			putc(*p, out);
		p++;
		n--;
	}
	putc('"', out);
}

/* an encoded value, decoded, as a JSON string */
static void
jval(FILE *out, const char *enc)
{
	char *s = strdup(enc);

	if (s == NULL) {
		jstr(out, "");
		return;
	}
	decode(s);
	jstr(out, s);
	free(s);
}

/* an encoded '|' list as a JSON array */
static void
jlist(FILE *out, const char *enc)
{
	const char *p = enc, *e;
	char item[VAL_MAX];

	putc('[', out);
	while (*p) {
		e = strchr(p, '|');
		snprintf(item, sizeof(item), "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
		if (p != enc)
			putc(',', out);
		jval(out, item);
		if (e == NULL)
			break;
		p = e + 1;
	}
	putc(']', out);
}

/* a key whose value is an encoded string, unless unknown ("-") */
static void
jopt(FILE *out, const char *key, const char *enc)
{
	if (strcmp(enc, "-") == 0 || enc[0] == '\0')
		return;
	fprintf(out, ",\"%s\":", key);
	jval(out, enc);
}

int
tlsrpt_reports_json(const struct tlsrpt_reports *r, size_t i, const struct tlsrpt_meta *m,
    FILE *out)
{
	const struct domain *d = &r->v[i];
	char rid[600];

	snprintf(rid, sizeof(rid), "%sT00:00:00Z_%s_%s", r->day, d->name, m->submitter);
	fputs("{\"organization-name\":", out);
	jstr(out, m->organization);
	fprintf(out, ",\"date-range\":{\"start-datetime\":\"%sT00:00:00Z\","
	    "\"end-datetime\":\"%sT23:59:59Z\"},\"contact-info\":", r->day, r->day);
	jstr(out, m->contact);
	fputs(",\"report-id\":", out);
	jstr(out, rid);
	fputs(",\"policies\":[", out);
	for (const struct policy *p = d->policies; p != NULL; p = p->next) {
		if (p != d->policies)
			putc(',', out);
		fputs("{\"policy\":{\"policy-type\":", out);
		jstr(out, p->type);
		if (p->strings[0]) {
			fputs(",\"policy-string\":", out);
			jlist(out, p->strings);
		}
		fputs(",\"policy-domain\":", out);
		jstr(out, d->name);
		if (p->mx[0]) {
			fputs(",\"mx-host\":", out);
			jlist(out, p->mx);
		}
		fprintf(out, "},\"summary\":{\"total-successful-session-count\":%lu,"
		    "\"total-failure-session-count\":%lu}", p->ok, p->failed);
		if (p->details != NULL) {
			fputs(",\"failure-details\":[", out);
			for (const struct detail *f = p->details; f != NULL; f = f->next) {
				if (f != p->details)
					putc(',', out);
				fputs("{\"result-type\":", out);
				jval(out, f->key[0]);
				jopt(out, "sending-mta-ip", f->key[1]);
				jopt(out, "receiving-mx-hostname", f->key[2]);
				jopt(out, "receiving-mx-helo", f->key[3]);
				jopt(out, "receiving-ip", f->key[4]);
				fprintf(out, ",\"failed-session-count\":%lu", f->count);
				jopt(out, "failure-reason-code", f->key[5]);
				putc('}', out);
			}
			putc(']', out);
		}
		putc('}', out);
	}
	fputs("]}", out);
	return ferror(out) ? -1 : 0;
}

void
tlsrpt_reports_free(struct tlsrpt_reports *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct policy *p, *pn;

		for (p = r->v[i].policies; p != NULL; p = pn) {
			struct detail *f, *fn;

			pn = p->next;
			for (f = p->details; f != NULL; f = fn) {
				fn = f->next;
				for (int k = 0; k < 6; k++)
					free(f->key[k]);
				free(f);
			}
			free(p->type);
			free(p->strings);
			free(p->mx);
			free(p);
		}
		free(r->v[i].name);
	}
	free(r->v);
	free(r->idx);
	free(r);
}

void
tlsrpt_meta_from_config(const struct dsmtp_config *cfg, struct tlsrpt_meta *m, char *buf,
    size_t buflen)
{
	m->submitter = cfg->hostname;
	m->organization = cfg->tlsrpt.organization[0] ? cfg->tlsrpt.organization : cfg->hostname;
	if (cfg->tlsrpt.contact[0])
		m->contact = cfg->tlsrpt.contact;
	else {
		snprintf(buf, buflen, "postmaster@%s", cfg->hostname);
		m->contact = buf;
	}
}

int
tlsrpt_logs_dir(const struct dsmtp_config *cfg, char *out, size_t outlen)
{
	int n;

	if (cfg->logs.dir[0] == '/')
		n = snprintf(out, outlen, "%s", cfg->logs.dir);
	else
		n = snprintf(out, outlen, "%s/%s", cfg->state_dir, cfg->logs.dir);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
