/* log_agg.c: what protocol-log records mean, for every dsmtp-log
 * subcommand: the shared filters, a per-session summary kept only until
 * the session's '-' record (at most LOG_MAX_OPEN open at once), and the
 * bounded tables built from finished sessions: certificates per peer,
 * failures by cause (DANE ones under their RFC 8460 result type).
 * Parsing and file finding live in plog_read.c; printing in the
 * subcommands' files. */
#include "autoconfig.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/diag.h"
#include "logs/log_agg.h"

const char *const log_dir_names[2] = { "receive", "send" };

struct log_agg {
	struct log_filter	 f;
	log_sess_cb		 done;
	void			*arg;
	struct log_sess		**tab;		/* open sessions by id */
	size_t			 nbuckets, nsess;
	struct log_sess		*oldest, *newest;	/* open sessions by arrival */
	struct log_sess		*free;
	unsigned long		 malformed;
};

/* ---- small helpers ---- */

void
log_copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* a then b into dst, truncated */
void
log_copy2(char *dst, size_t dstlen, const char *a, const char *b)
{
	size_t n;

	log_copy(dst, dstlen, a);
	n = strlen(dst);
	log_copy(dst + n, dstlen - n, b);
}

uint64_t
log_hash_str(const char *s, uint64_t h)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t
hash_id(uint64_t id, enum plog_dir dir)
{
	id ^= (uint64_t)dir * 0x9e3779b97f4a7c15ULL;
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	return id ^ (id >> 33);
}

/* 16 hex digits -> id; false if not */
bool
log_parse_id(const char *s, uint64_t *id)
{
	int i, h;

	*id = 0;
	for (i = 0; i < 16; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			h = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			h = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			h = s[i] - 'A' + 10;
		else
			return false;
		*id = *id << 4 | (uint64_t)h;
	}
	return s[16] == '\0';
}

void
log_endpoint_addr(const char *ep, char *out, size_t outlen)
{
	const char *end;
	size_t n;

	if (ep[0] == '[') {
		ep++;
		end = strchr(ep, ']');
	} else {
		end = strrchr(ep, ':');
		/* a bare IPv6 address has several colons and no port */
		if (end != NULL && strchr(ep, ':') != end)
			end = NULL;
	}
	n = end ? (size_t)(end - ep) : strlen(ep);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, ep, n);
	out[n] = '\0';
}

void
log_json_kv(FILE *out, const char *key, const char *val, bool first)
{
	fputs(first ? "{" : ",", out);
	plog_json_string(out, key);
	putc(':', out);
	plog_json_string(out, val);
}

/* --peer: a prefix of the remote address (or of the whole endpoint) */
static bool
peer_matches(const struct log_filter *f, const char *remote)
{
	char addr[64];
	const char *want = f->peer;

	if (want == NULL)
		return true;
	if (want[0] == '[')
		want++;
	log_endpoint_addr(remote, addr, sizeof(addr));
	return strncasecmp(addr, want, strlen(want)) == 0 ||
	    strncasecmp(remote, f->peer, strlen(f->peer)) == 0;
}

bool
log_domain_is(const char *dom, size_t n, const char *d)
{
	size_t dl = strlen(d);

	if (n == dl)
		return strncasecmp(dom, d, n) == 0;
	return n > dl && dom[n - dl - 1] == '.' && strncasecmp(dom + n - dl, d, dl) == 0;
}

/* does the address in "MAIL FROM:<a@d> ..." name domain d? */
static bool
address_mentions(const char *line, const char *d)
{
	const char *lt = strchr(line, '<'), *at, *end;

	if (lt == NULL)
		lt = strchr(line, ':');
	if (lt == NULL)
		return false;
	end = strpbrk(lt + 1, "> ");
	if (end == NULL)
		end = lt + strlen(lt);
	at = memchr(lt, '@', (size_t)(end - lt));
	if (at == NULL)
		return false;
	at++;
	return log_domain_is(at, (size_t)(end - at), d);
}

int
log_parse_when(const char *s, bool upto, char *out, size_t outlen, unsigned long *day)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, n = 0, got;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	p = s + 10;
	got = 0;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
			return -1;
		p += 1 + n;
		got = 1;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &n) != 1 || n != 2)
				return -1;
			p += 3;
			got = 2;
			if (*p == '.') {
				if (sscanf(p + 1, "%3d%n", &ms, &n) != 1 || n < 1)
					return -1;
				for (int k = n; k < 3; k++)
					ms *= 10;
				p += 1 + n;
				while (isdigit((unsigned char)*p))
					p++;
				got = 3;
			}
		}
	}
	if (*p == 'Z')
		p++;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (upto) {
		if (got < 1) {
			h = 23;
			mi = 59;
		}
		if (got < 2)
			sec = 59;
		if (got < 3)
			ms = 999;
	}
	if (snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec,
	    ms) >= (int)outlen)
		return -1;
	*day = (unsigned long)y * 10000 + (unsigned long)mo * 100 + (unsigned long)d;
	return 0;
}

int
log_filter_option(struct log_filter *f, int ch, const char *arg)
{
	switch (ch) {
	case 'p':
		f->peer = arg;
		return 0;
	case 'd':
		f->domain = arg;
		return 0;
	case 's':
	case 'u':
		if (log_parse_when(arg, ch == 'u', ch == 's' ? f->since : f->until,
		    sizeof(f->since), ch == 's' ? &f->since_day : &f->until_day) < 0) {
			fprintf(stderr, "%s: --%s: not an ISO 8601 date or date-time: %s\n",
			    diag_progname(), ch == 's' ? "since" : "until", arg);
			return -1;
		}
		return 0;
	default:
		return 1;
	}
}

int
log_default_dir(const char *config_path, char *out, size_t outlen)
{
	struct dsmtp_config cfg;
	int n;

	config_load_or_exit(config_path, &cfg);
	if (cfg.logs.dir[0] == '/')
		n = snprintf(out, outlen, "%s", cfg.logs.dir);
	else
		n = snprintf(out, outlen, "%s/%s", cfg.state_dir, cfg.logs.dir);
	config_free(&cfg);
	if (n < 0 || (size_t)n >= outlen) {
		fprintf(stderr, "%s: logs path too long\n", diag_progname());
		return -1;
	}
	return 0;
}

bool
log_filter_file(const struct log_filter *f, const char *path)
{
	/* a file holds one UTC day */
	unsigned long day = plog_file_day(path);

	return day == 0 || !((f->since_day && day < f->since_day) ||
	    (f->until_day && day > f->until_day));
}

bool
log_filter_record(const struct log_filter *f, const struct plog_record *r)
{
	if (f->since[0] != '\0' && strcmp(r->f[PLOG_F_TIME], f->since) < 0)
		return false;
	if (f->until[0] != '\0' && strcmp(r->f[PLOG_F_TIME], f->until) > 0)
		return false;
	return peer_matches(f, r->f[PLOG_F_REMOTE]);
}

bool
log_filter_sess(const struct log_filter *f, const struct log_sess *s)
{
	if (f->since[0] != '\0' && strcmp(s->start, f->since) < 0)
		return false;
	if (f->until[0] != '\0' && strcmp(s->start, f->until) > 0)
		return false;
	if (!peer_matches(f, s->remote))
		return false;
	return f->domain == NULL || s->domain_hit;
}

/* ---- sessions table ---- */

struct log_agg *
log_agg_new(const struct log_filter *f, log_sess_cb done, void *arg)
{
	struct log_agg *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->f = *f;
	a->done = done;
	a->arg = arg;
	return a;
}

/* the open session with this id and direction, or NULL */
static struct log_sess *
sess_find(const struct log_agg *a, uint64_t id, enum plog_dir dir)
{
	struct log_sess *s;

	if (a->nbuckets > 0)
		for (s = a->tab[hash_id(id, dir) & (a->nbuckets - 1)]; s; s = s->next)
			if (s->id == id && s->dir == dir)
				return s;
	return NULL;
}

/* the session with this id and direction, created (table grown) if asked */
static struct log_sess *
sess_get(struct log_agg *a, uint64_t id, enum plog_dir dir, bool create)
{
	struct log_sess *s, **tab, *next;
	size_t i, nb, b;

	if ((s = sess_find(a, id, dir)) != NULL || !create)
		return s;
	if (a->nsess >= a->nbuckets) {
		nb = a->nbuckets ? a->nbuckets * 2 : 1024;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return NULL;
		for (i = 0; i < a->nbuckets; i++)
			for (s = a->tab[i]; s; s = next) {
				next = s->next;
				b = hash_id(s->id, s->dir) & (nb - 1);
				s->next = tab[b];
				tab[b] = s;
			}
		free(a->tab);
		a->tab = tab;
		a->nbuckets = nb;
	}
	if ((s = a->free) != NULL)
		a->free = s->next;
	else if ((s = malloc(sizeof(*s))) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->dir = dir;
	b = hash_id(id, dir) & (a->nbuckets - 1);
	s->next = a->tab[b];
	a->tab[b] = s;
	s->older = a->newest;
	if (a->newest != NULL)
		a->newest->newer = s;
	else
		a->oldest = s;
	a->newest = s;
	a->nsess++;
	return s;
}

/* forget a finished session (its memory goes to the free list) */
static void
sess_remove(struct log_agg *a, struct log_sess *s)
{
	struct log_sess **pp = &a->tab[hash_id(s->id, s->dir) & (a->nbuckets - 1)];

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	if (s->older != NULL)
		s->older->newer = s->newer;
	else
		a->oldest = s->newer;
	if (s->newer != NULL)
		s->newer->older = s->older;
	else
		a->newest = s->older;
	a->nsess--;
	s->next = a->free;
	a->free = s;
}

const struct log_sess *
log_agg_find(const struct log_agg *a, uint64_t id, enum plog_dir dir)
{
	return sess_find(a, id, dir);
}

unsigned long
log_agg_nmalformed(const struct log_agg *a)
{
	return a->malformed;
}

/* remember one failure cause of the session (a then b) */
static void
sess_fail(struct log_sess *s, const char *a, const char *b)
{
	if (s->nfails >= LOG_MAX_FAILS)
		return;
	log_copy2(s->fails[s->nfails++], sizeof(s->fails[0]), a, b);
}

/* a session is complete (or the input ended): filter, then hand it on */
static void
sess_done(struct log_agg *a, struct log_sess *s)
{
	if (log_filter_sess(&a->f, s))
		a->done(s, a->arg);
}

void
log_sess_causes(const struct log_sess *s, log_cause_cb cb, void *arg)
{
	char text[sizeof(s->fails[0]) + sizeof(s->result_type) + 2];
	unsigned i;

	for (i = 0; i < s->nfails; i++) {
		/* an unverified chain is no failure where the policy passed
		 * (opportunistic, mandatory, pinned) */
		if (strncmp(s->fails[i], "chain: ", 7) == 0 && strcmp(s->policy, "pass") == 0)
			continue;
		if (s->result_type[0] == '\0') {
			cb(s->fails[i], "", arg);
			continue;
		}
		/* a DANE policy failed: DANE authenticates by TLSA, not by
		 * the PKIX chain (RFC 7672 3.1), so the chain status is no
		 * cause; the policy's reason goes under the RFC 8460 result
		 * type */
		if (strncmp(s->fails[i], "chain: ", 7) == 0)
			continue;
		if (strncmp(s->fails[i], "policy ", 7) == 0) {
			log_copy2(text, sizeof(text), s->result_type, ": ");
			log_copy2(text + strlen(text), sizeof(text) - strlen(text), s->fails[i], "");
			cb(text, s->result_type, arg);
		} else
			cb(s->fails[i], "", arg);
	}
}

/* a command line from the client */
static void
on_command(struct log_agg *a, struct log_sess *s, const char *line)
{
	const char *arg;
	size_t n;

	if (strncasecmp(line, "EHLO ", 5) == 0 || strncasecmp(line, "HELO ", 5) == 0 ||
	    strncasecmp(line, "LHLO ", 5) == 0) {
		for (arg = line + 5; *arg == ' '; arg++)
			;
		n = strcspn(arg, " ");
		if (n >= sizeof(s->ehlo))
			n = sizeof(s->ehlo) - 1;
		memcpy(s->ehlo, arg, n);
		s->ehlo[n] = '\0';
	} else if (strncasecmp(line, "MAIL FROM:", 10) == 0 || strncasecmp(line, "RCPT TO:", 8) == 0) {
		if (a->f.domain != NULL && address_mentions(line, a->f.domain))
			s->domain_hit = true;
		if (s->data_state != 0)
			s->data_state = 0;
	} else if (strcasecmp(line, "DATA") == 0)
		s->data_state = 1;
	else if (strcmp(line, ".") == 0)
		;	/* an end of data, if a writer logged it */
	else if (strncasecmp(line, "BDAT ", 5) == 0 && strcasestr(line, " LAST") != NULL)
		s->data_state = 3;
	else if (s->data_state == 2)
		s->data_state = 0;
}

/* a reply line from the server */
static void
on_reply(struct log_sess *s, const char *line, size_t len)
{
	char buf[120];

	if (len >= 4 && line[3] == '-')
		return;
	if (s->data_state == 1 && strncmp(line, "354", 3) == 0)
		s->data_state = 2;
	else if (s->data_state >= 2) {
		if (strncmp(line, "250", 3) == 0)
			s->messages++;
		s->data_state = 0;
	}
	/* RFC 3463: x.7.y is "security or policy status" */
	if (len >= 9 && (line[0] == '4' || line[0] == '5') && line[3] == ' ' &&
	    line[4] == line[0] && line[5] == '.' && line[6] == '7' && line[7] == '.') {
		snprintf(buf, sizeof(buf), "%.100s", line);
		sess_fail(s, "reply: ", buf);
	}
}

/* a '*' record */
static void
on_info(struct log_agg *a, struct log_sess *s, const struct plog_record *r)
{
	const char *ctx = r->f[PLOG_F_CONTEXT], *data = r->f[PLOG_F_DATA];
	char v[200], w[200];

	if (strcmp(ctx, "TLS negotiated") == 0) {
		s->tls = true;
		plog_kv_get(data, "version", s->version, sizeof(s->version));
		plog_kv_get(data, "cipher", s->cipher, sizeof(s->cipher));
	} else if (strcmp(ctx, "Remote certificate") == 0) {
		s->cert = true;
		s->cert_absent = false;
		plog_kv_get(data, "subject", s->subject, sizeof(s->subject));
		plog_kv_get(data, "sha256", s->sha256, sizeof(s->sha256));
		plog_kv_get(data, "spki", s->spki, sizeof(s->spki));
		plog_kv_get(data, "not_after", s->not_after, sizeof(s->not_after));
		log_copy(s->cert_time, sizeof(s->cert_time), r->f[PLOG_F_TIME]);
	} else if (strcmp(ctx, "Remote certificate absent") == 0) {
		s->cert_absent = true;
	} else if (strcmp(ctx, "Policy") == 0) {
		plog_kv_get(data, "result", s->policy, sizeof(s->policy));
		plog_kv_get(data, "level", s->pol_level, sizeof(s->pol_level));
		plog_kv_get(data, "domain", s->pol_domain, sizeof(s->pol_domain));
		if (a->f.domain != NULL && log_domain_is(s->pol_domain, strlen(s->pol_domain),
		    a->f.domain))
			s->domain_hit = true;
		if (strcmp(s->policy, "pass") != 0) {
			plog_kv_get(data, "reason", v, sizeof(v));
			log_copy2(w, sizeof(w), "policy ", s->pol_level);
			if (v[0] != '\0')
				log_copy2(w + strlen(w), sizeof(w) - strlen(w), ": ", v);
			sess_fail(s, w, "");
		}
	} else if (strcmp(ctx, "TLS verification") == 0) {
		if (plog_kv_get(data, "chain", v, sizeof(v))) {
			log_copy(s->chain, sizeof(s->chain), v);
			if (strcmp(v, "ok") != 0)
				sess_fail(s, "chain: ", v);
		}
	} else if (strcmp(ctx, "TLS failure") == 0) {	/* logs before "TLS result" */
		plog_kv_get(data, "result-type", s->result_type, sizeof(s->result_type));
	} else if (strcmp(ctx, "TLS result") == 0) {
		/* a failed policy's RFC 8460 type names its failures' cause;
		 * opportunistic outcomes (no policy, not dane-only) do not */
		plog_kv_get(data, "result-type", v, sizeof(v));
		plog_kv_get(data, "policy-type", w, sizeof(w));
		if (strcmp(v, "success") != 0 && strcmp(s->policy, "pass") != 0 &&
		    (strcmp(w, "no-policy-found") != 0 || strcmp(s->pol_level, "dane-only") == 0))
			log_copy(s->result_type, sizeof(s->result_type), v);
	} else if (strcmp(ctx, "TLS error") == 0) {
		plog_kv_get(data, "reason", v, sizeof(v));
		sess_fail(s, "tls: ", v);
	}
}

int
log_agg_record(const struct plog_record *r, void *arg)
{
	struct log_agg *a = arg;
	const char *data = r->f[PLOG_F_DATA];
	struct log_sess *s;
	uint64_t id;
	char ev = r->f[PLOG_F_EVENT][0];

	if (!log_parse_id(r->f[PLOG_F_SESSION], &id)) {
		a->malformed++;
		if (a->malformed <= LOG_MAX_REPORTED)
			fprintf(stderr, "%s: %s:%lu: bad session-id\n", diag_progname(), r->file,
			    r->line);
		return 0;
	}
	if ((s = sess_get(a, id, r->dir, false)) == NULL) {
		/* too many open at once (sessions whose '-' never came):
		 * the oldest is finished as it stands */
		if (a->nsess >= LOG_MAX_OPEN && a->oldest != NULL) {
			s = a->oldest;
			sess_done(a, s);
			sess_remove(a, s);
		}
		if ((s = sess_get(a, id, r->dir, true)) == NULL) {
			fprintf(stderr, "%s: out of memory\n", diag_progname());
			return 1;
		}
	}
	if (s->start[0] == '\0') {
		log_copy(s->start, sizeof(s->start), r->f[PLOG_F_TIME]);
		log_copy(s->remote, sizeof(s->remote), r->f[PLOG_F_REMOTE]);
		log_copy(s->local, sizeof(s->local), r->f[PLOG_F_LOCAL]);
		log_copy(s->connector, sizeof(s->connector), r->f[PLOG_F_CONNECTOR]);
	}
	switch (ev) {
	case '-':
		log_copy(s->end, sizeof(s->end), r->f[PLOG_F_TIME]);
		s->closed = true;
		sess_done(a, s);
		sess_remove(a, s);
		break;
	case '<':
	case '>':
		if ((r->dir == PLOG_RECEIVE) == (ev == '<'))
			on_command(a, s, data);
		else
			on_reply(s, data, r->len[PLOG_F_DATA]);
		break;
	case '*':
		on_info(a, s, r);
		break;
	default:
		break;
	}
	return 0;
}

static int
cmp_sess_start(const void *x, const void *y)
{
	const struct log_sess *a = *(struct log_sess *const *)x, *b = *(struct log_sess *const *)y;

	return strcmp(a->start, b->start);
}

void
log_agg_finish(struct log_agg *a)
{
	struct log_sess **all, *s;
	size_t i, n = 0;

	if (a->nsess == 0)
		return;
	if ((all = malloc(a->nsess * sizeof(*all))) == NULL)
		return;
	for (s = a->oldest; s; s = s->newer)
		all[n++] = s;
	qsort(all, n, sizeof(*all), cmp_sess_start);
	for (i = 0; i < n; i++)
		sess_done(a, all[i]);
	for (i = 0; i < n; i++)
		sess_remove(a, all[i]);
	free(all);
}

void
log_agg_malformed(const char *file, unsigned long line, const char *why, void *arg)
{
	struct log_agg *a = arg;

	if (++a->malformed <= LOG_MAX_REPORTED)
		fprintf(stderr, "%s: %s:%lu: skipped: %s\n", diag_progname(), file, line, why);
}

void
log_agg_free(struct log_agg *a)
{
	struct log_sess *s, *sn;
	size_t i;

	if (a == NULL)
		return;
	if (a->malformed > LOG_MAX_REPORTED)
		fprintf(stderr, "%s: %lu malformed lines skipped in all\n", diag_progname(),
		    a->malformed);
	for (i = 0; i < a->nbuckets; i++)
		for (s = a->tab[i]; s; s = sn) {
			sn = s->next;
			free(s);
		}
	for (s = a->free; s; s = sn) {
		sn = s->next;
		free(s);
	}
	free(a->tab);
	free(a);
}

/* ---- certificates per peer ---- */

void
log_certs_add(struct log_certs *t, const struct log_sess *s)
{
	struct log_peer *p, **tab, *next;
	struct log_certent *c = NULL, *nc;
	char addr[64];
	size_t i, b, nb;

	/* a client's port is ephemeral; a server's port tells servers on one
	 * address apart (an edge and a hub on one host) */
	if (s->dir == PLOG_RECEIVE)
		log_endpoint_addr(s->remote, addr, sizeof(addr));
	else
		log_copy(addr, sizeof(addr), s->remote);
	if (t->n >= t->nb) {
		nb = t->nb ? t->nb * 2 : 256;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return;
		for (i = 0; i < t->nb; i++)
			for (p = t->tab[i]; p; p = next) {
				next = p->next;
				b = log_hash_str(p->addr, p->dir + 1) & (nb - 1);
				p->next = tab[b];
				tab[b] = p;
			}
		free(t->tab);
		t->tab = tab;
		t->nb = nb;
	}
	b = log_hash_str(addr, s->dir + 1) & (t->nb - 1);
	for (p = t->tab[b]; p; p = p->next)
		if (p->dir == s->dir && strcmp(p->addr, addr) == 0)
			break;
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return;
		p->dir = s->dir;
		log_copy(p->addr, sizeof(p->addr), addr);
		p->next = t->tab[b];
		t->tab[b] = p;
		t->n++;
	}
	for (i = 0; i < p->ncerts; i++)
		if (strcmp(p->certs[i].sha256, s->sha256) == 0)
			c = &p->certs[i];
	if (c == NULL) {
		if ((nc = realloc(p->certs, (p->ncerts + 1) * sizeof(*nc))) == NULL)
			return;
		p->certs = nc;
		c = &p->certs[p->ncerts++];
		memset(c, 0, sizeof(*c));
		log_copy(c->sha256, sizeof(c->sha256), s->sha256);
		log_copy(c->spki, sizeof(c->spki), s->spki);
		log_copy(c->subject, sizeof(c->subject), s->subject);
		log_copy(c->first, sizeof(c->first), s->cert_time);
	}
	/* a different certificate from last time: rotation or interception */
	if (p->last_sha[0] != '\0' && strcmp(p->last_sha, s->sha256) != 0)
		c->changed = true;
	log_copy(p->last_sha, sizeof(p->last_sha), s->sha256);
	if (strcmp(s->cert_time, c->first) < 0)
		log_copy(c->first, sizeof(c->first), s->cert_time);
	if (strcmp(s->cert_time, c->last) > 0)
		log_copy(c->last, sizeof(c->last), s->cert_time);
	c->count++;
}

static int
cmp_peer(const void *x, const void *y)
{
	const struct log_peer *a = *(struct log_peer *const *)x, *b = *(struct log_peer *const *)y;

	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	return strcmp(a->addr, b->addr);
}

struct log_peer **
log_certs_sorted(const struct log_certs *t, size_t *n)
{
	struct log_peer **all, *p;
	size_t i;

	*n = 0;
	if (t->n == 0 || (all = malloc(t->n * sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < t->nb; i++)
		for (p = t->tab[i]; p; p = p->next)
			all[(*n)++] = p;
	qsort(all, *n, sizeof(*all), cmp_peer);
	return all;
}

void
log_certs_free(struct log_certs *t)
{
	struct log_peer *p, *pn;
	size_t i;

	for (i = 0; i < t->nb; i++)
		for (p = t->tab[i]; p; p = pn) {
			pn = p->next;
			free(p->certs);
			free(p);
		}
	free(t->tab);
	memset(t, 0, sizeof(*t));
}

/* ---- failures by cause ---- */

void
log_causes_add(struct log_causes *t, const char *text, const char *type, const struct log_sess *s)
{
	struct log_cause *c, **tab, *next;
	size_t i, b, nb;

	if (t->n >= LOG_MAX_CAUSES)
		text = "other (too many distinct causes)";
	if (t->n >= t->nb) {
		nb = t->nb ? t->nb * 2 : 64;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return;
		for (i = 0; i < t->nb; i++)
			for (c = t->tab[i]; c; c = next) {
				next = c->next;
				b = log_hash_str(c->text, 0xcbf29ce484222325ULL) & (nb - 1);
				c->next = tab[b];
				tab[b] = c;
			}
		free(t->tab);
		t->tab = tab;
		t->nb = nb;
	}
	b = log_hash_str(text, 0xcbf29ce484222325ULL) & (t->nb - 1);
	for (c = t->tab[b]; c; c = c->next)
		if (strcmp(c->text, text) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;
		log_copy(c->text, sizeof(c->text), text);
		log_copy(c->result_type, sizeof(c->result_type), type);
		c->example = s->id;
		log_copy(c->example_time, sizeof(c->example_time), s->start);
		log_copy(c->example_peer, sizeof(c->example_peer), s->remote);
		c->next = t->tab[b];
		t->tab[b] = c;
		t->n++;
	}
	c->count++;
}

static int
cmp_cause(const void *x, const void *y)
{
	const struct log_cause *a = *(struct log_cause *const *)x, *b = *(struct log_cause *const *)y;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return strcmp(a->text, b->text);
}

struct log_cause **
log_causes_sorted(const struct log_causes *t, size_t *n)
{
	struct log_cause **all, *c;
	size_t i;

	*n = 0;
	if (t->n == 0 || (all = malloc(t->n * sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < t->nb; i++)
		for (c = t->tab[i]; c; c = c->next)
			all[(*n)++] = c;
	qsort(all, *n, sizeof(*all), cmp_cause);
	return all;
}

void
log_causes_free(struct log_causes *t)
{
	struct log_cause *c, *cn;
	size_t i;

	for (i = 0; i < t->nb; i++)
		for (c = t->tab[i]; c; c = cn) {
			cn = c->next;
			free(c);
		}
	free(t->tab);
	memset(t, 0, sizeof(*t));
}
