/* log_main.c: dsmtp-log, the protocol-log reader (DESIGN.md section 9).
 * Owns the command line and what the records mean: a per-session summary
 * kept only until the session's '-' record, certificates per peer,
 * failures by cause (DANE ones under their RFC 8460 result type).
 * Parsing and file finding live in plog_read.c. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "logs/plog.h"

#define MAX_FAILS	4	/* failure causes kept per session */
#define MAX_CAUSES	10000	/* distinct causes; the rest count as "other" */
#define MAX_REPORTED	10	/* malformed lines printed, then only counted */

enum cmd { CMD_SESSIONS, CMD_SHOW, CMD_CERTS, CMD_FAILURES };

struct opts {
	enum cmd	 cmd;
	const char	*peer;		/* prefix of the remote address */
	char		 since[32], until[32];	/* normalised date-times, "" = open */
	unsigned long	 since_day, until_day;
	const char	*domain;
	const char	*session;	/* show: id (prefix) */
	bool		 json;
};

/* what one session amounts to, kept from its first record to its '-' */
struct sess {
	struct sess	*next;		/* hash chain / free list */
	uint64_t	 id;
	enum plog_dir	 dir;
	bool		 closed;
	char		 start[32], end[32];
	char		 remote[64], local[64], connector[64];
	char		 ehlo[128];
	char		 version[24], cipher[64];
	bool		 tls, cert, cert_absent;
	char		 subject[256], sha256[65], spki[64], cert_time[32];
	char		 policy[16], pol_level[32], pol_domain[128];
	unsigned	 messages;
	int		 data_state;	/* 1 after DATA, 2 after 354, 3 after BDAT LAST */
	bool		 domain_hit;
	char		 fails[MAX_FAILS][200];
	unsigned	 nfails;
	char		 result_type[40];	/* RFC 8460, from a "TLS result" record */
};

struct certent {
	char		 sha256[65], spki[64], subject[256];
	char		 first[32], last[32];
	unsigned long	 count;
	bool		 changed;
};

struct peer {
	struct peer	*next;
	enum plog_dir	 dir;
	char		 addr[64];
	char		 last_sha[65];
	struct certent	*certs;
	size_t		 ncerts;
};

struct cause {
	struct cause	*next;
	char		 text[200];
	char		 result_type[40];	/* RFC 8460, or "" */
	unsigned long	 count;
	uint64_t	 example;
	char		 example_time[32], example_peer[64];
};

struct state {
	struct opts	 o;
	struct sess	**tab;		/* sessions by id */
	size_t		 nbuckets, nsess;
	struct sess	*free;
	struct peer	**peers;	/* certs: by dir + address */
	size_t		 npeerb, npeers;
	struct cause	**causes;	/* failures: by text */
	size_t		 ncauseb, ncauses;
	unsigned long	 shown, malformed;
};

static int	run_sessions(int, char **, const char *);
static int	run_show(int, char **, const char *);
static int	run_certs(int, char **, const char *);
static int	run_failures(int, char **, const char *);
int		log_tlsrpt_main(int, char **, const char *);	/* log_tlsrpt.c */

static const struct cli_cmd log_cmds[] = {
	{ "sessions", "one line per session", run_sessions },
	{ "show", "every record of one session", run_show },
	{ "certs", "each certificate seen per peer, and changes", run_certs },
	{ "failures", "TLS and policy failures grouped by cause", run_failures },
	{ "tlsrpt", "the RFC 8460 TLS report of each domain for a day", log_tlsrpt_main },
	{ NULL, NULL, NULL }
};

static const char *const dir_names[] = { "receive", "send" };

/* ---- small helpers ---- */

static void
copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* a then b into dst, truncated */
static void
copy2(char *dst, size_t dstlen, const char *a, const char *b)
{
	size_t n;

	copy(dst, dstlen, a);
	n = strlen(dst);
	copy(dst + n, dstlen - n, b);
}

static uint64_t
hash_str(const char *s, uint64_t h)
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
static bool
parse_id(const char *s, uint64_t *id)
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

/* the address part of an endpoint: "[::1]:25" -> "::1", "1.2.3.4:25" -> "1.2.3.4" */
static void
endpoint_addr(const char *ep, char *out, size_t outlen)
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

/* --peer: a prefix of the remote address (or of the whole endpoint) */
static bool
peer_matches(const struct opts *o, const char *remote)
{
	char addr[64];
	const char *want = o->peer;

	if (want == NULL)
		return true;
	if (want[0] == '[')
		want++;
	endpoint_addr(remote, addr, sizeof(addr));
	return strncasecmp(addr, want, strlen(want)) == 0 ||
	    strncasecmp(remote, o->peer, strlen(o->peer)) == 0;
}

/* is dom (or a subdomain of it) the domain d? */
static bool
domain_is(const char *dom, size_t n, const char *d)
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
	return domain_is(at, (size_t)(end - at), d);
}

/* normalise an ISO 8601 date or date-time (UTC) for string comparison;
 * an --until date-only or partial time extends to the end of that period */
static int
parse_when(const char *s, bool upto, char *out, size_t outlen, unsigned long *day)
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

/* ---- sessions table ---- */

/* the session with this id and direction, created (table grown) if asked */
static struct sess *
sess_get(struct state *st, uint64_t id, enum plog_dir dir, bool create)
{
	struct sess *s, **tab, *next;
	size_t i, nb, b;

	if (st->nbuckets > 0)
		for (s = st->tab[hash_id(id, dir) & (st->nbuckets - 1)]; s; s = s->next)
			if (s->id == id && s->dir == dir)
				return s;
	if (!create)
		return NULL;
	if (st->nsess >= st->nbuckets) {
		nb = st->nbuckets ? st->nbuckets * 2 : 1024;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return NULL;
		for (i = 0; i < st->nbuckets; i++)
			for (s = st->tab[i]; s; s = next) {
				next = s->next;
				b = hash_id(s->id, s->dir) & (nb - 1);
				s->next = tab[b];
				tab[b] = s;
			}
		free(st->tab);
		st->tab = tab;
		st->nbuckets = nb;
	}
	if ((s = st->free) != NULL)
		st->free = s->next;
	else if ((s = malloc(sizeof(*s))) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->dir = dir;
	b = hash_id(id, dir) & (st->nbuckets - 1);
	s->next = st->tab[b];
	st->tab[b] = s;
	st->nsess++;
	return s;
}

/* forget a finished session (its memory goes to the free list) */
static void
sess_remove(struct state *st, struct sess *s)
{
	struct sess **pp = &st->tab[hash_id(s->id, s->dir) & (st->nbuckets - 1)];

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	st->nsess--;
	s->next = st->free;
	st->free = s;
}

/* remember one failure cause of the session (a then b) */
static void
sess_fail(struct sess *s, const char *a, const char *b)
{
	if (s->nfails >= MAX_FAILS)
		return;
	copy2(s->fails[s->nfails++], sizeof(s->fails[0]), a, b);
}

/* ---- output per command ---- */

/* key=value for text output, quoted when the value is empty or has spaces */
static void
print_kv_text(const char *key, const char *val)
{
	if (val[0] == '\0' || strpbrk(val, " \"") != NULL) {
		/* values are visibly escaped already: a quote becomes \x22 too */
		printf(" %s=\"", key);
		for (; *val; val++) {
			if (*val == '"')
				fputs("\\x22", stdout);
			else
				putchar(*val);
		}
		putchar('"');
	} else
		printf(" %s=%s", key, val);
}

static void
json_kv(const char *key, const char *val, bool first)
{
	printf(first ? "{" : ",");
	plog_json_string(stdout, key);
	putchar(':');
	plog_json_string(stdout, val);
}

/* sessions: the text line of one session */
static void
out_session(const struct sess *s)
{
	char id[17], sha[17], tls[100], pol[200];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	snprintf(sha, sizeof(sha), "%.16s", s->sha256);
	if (s->tls)
		snprintf(tls, sizeof(tls), "%s/%s", s->version, s->cipher);
	else
		snprintf(tls, sizeof(tls), "none");
	if (s->policy[0] != '\0')
		snprintf(pol, sizeof(pol), "%s %s %s", s->policy, s->pol_level, s->pol_domain);
	else
		pol[0] = '\0';
	printf("%s %s %s %s", s->start, dir_names[s->dir], id, s->remote[0] ? s->remote : "-");
	print_kv_text("ehlo", s->ehlo);
	printf(" tls=%s", tls);
	if (s->cert) {
		print_kv_text("cert", s->subject);
		printf(" sha256=%s", sha);
	} else	/* with TLS, no Remote certificate record means none was sent
		 * (basic keeps that record but not "Remote certificate absent") */
		printf(" cert=%s", s->cert_absent || s->tls ? "absent" : "none");
	if (pol[0] != '\0')
		print_kv_text("policy", pol);
	else
		printf(" policy=none");
	printf(" messages=%u%s\n", s->messages, s->closed ? "" : " open");
}

/* sessions --json: one object per session */
static void
out_session_json(const struct sess *s)
{
	char id[17];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	json_kv("start", s->start, true);
	json_kv("end", s->end, false);
	json_kv("direction", dir_names[s->dir], false);
	json_kv("session", id, false);
	json_kv("connector", s->connector, false);
	json_kv("local", s->local, false);
	json_kv("peer", s->remote, false);
	json_kv("ehlo", s->ehlo, false);
	json_kv("tls_version", s->tls ? s->version : "", false);
	json_kv("tls_cipher", s->tls ? s->cipher : "", false);
	json_kv("cert_subject", s->subject, false);
	json_kv("cert_sha256", s->sha256, false);
	json_kv("policy", s->policy, false);
	json_kv("policy_level", s->pol_level, false);
	json_kv("policy_domain", s->pol_domain, false);
	printf(",\"messages\":%u,\"closed\":%s}\n", s->messages, s->closed ? "true" : "false");
}

/* certs: one observation of a certificate by a peer */
static void
cert_seen(struct state *st, const struct sess *s)
{
	struct peer *p, **tab, *next;
	struct certent *c = NULL, *nc;
	char addr[64];
	size_t i, b, nb;

	/* a client's port is ephemeral; a server's port tells servers on one
	 * address apart (an edge and a hub on one host) */
	if (s->dir == PLOG_RECEIVE)
		endpoint_addr(s->remote, addr, sizeof(addr));
	else
		copy(addr, sizeof(addr), s->remote);
	if (st->npeers >= st->npeerb) {
		nb = st->npeerb ? st->npeerb * 2 : 256;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return;
		for (i = 0; i < st->npeerb; i++)
			for (p = st->peers[i]; p; p = next) {
				next = p->next;
				b = hash_str(p->addr, p->dir + 1) & (nb - 1);
				p->next = tab[b];
				tab[b] = p;
			}
		free(st->peers);
		st->peers = tab;
		st->npeerb = nb;
	}
	b = hash_str(addr, s->dir + 1) & (st->npeerb - 1);
	for (p = st->peers[b]; p; p = p->next)
		if (p->dir == s->dir && strcmp(p->addr, addr) == 0)
			break;
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return;
		p->dir = s->dir;
		copy(p->addr, sizeof(p->addr), addr);
		p->next = st->peers[b];
		st->peers[b] = p;
		st->npeers++;
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
		copy(c->sha256, sizeof(c->sha256), s->sha256);
		copy(c->spki, sizeof(c->spki), s->spki);
		copy(c->subject, sizeof(c->subject), s->subject);
		copy(c->first, sizeof(c->first), s->cert_time);
	}
	/* a different certificate from last time: rotation or interception */
	if (p->last_sha[0] != '\0' && strcmp(p->last_sha, s->sha256) != 0)
		c->changed = true;
	copy(p->last_sha, sizeof(p->last_sha), s->sha256);
	if (strcmp(s->cert_time, c->first) < 0)
		copy(c->first, sizeof(c->first), s->cert_time);
	if (strcmp(s->cert_time, c->last) > 0)
		copy(c->last, sizeof(c->last), s->cert_time);
	c->count++;
}

/* failures: count one cause (type: its RFC 8460 result type, or "") */
static void
cause_add(struct state *st, const char *text, const char *type, const struct sess *s)
{
	struct cause *c, **tab, *next;
	size_t i, b, nb;

	if (st->ncauses >= MAX_CAUSES)
		text = "other (too many distinct causes)";
	if (st->ncauses >= st->ncauseb) {
		nb = st->ncauseb ? st->ncauseb * 2 : 64;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return;
		for (i = 0; i < st->ncauseb; i++)
			for (c = st->causes[i]; c; c = next) {
				next = c->next;
				b = hash_str(c->text, 0xcbf29ce484222325ULL) & (nb - 1);
				c->next = tab[b];
				tab[b] = c;
			}
		free(st->causes);
		st->causes = tab;
		st->ncauseb = nb;
	}
	b = hash_str(text, 0xcbf29ce484222325ULL) & (st->ncauseb - 1);
	for (c = st->causes[b]; c; c = c->next)
		if (strcmp(c->text, text) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;
		copy(c->text, sizeof(c->text), text);
		copy(c->result_type, sizeof(c->result_type), type);
		c->example = s->id;
		copy(c->example_time, sizeof(c->example_time), s->start);
		copy(c->example_peer, sizeof(c->example_peer), s->remote);
		c->next = st->causes[b];
		st->causes[b] = c;
		st->ncauses++;
	}
	c->count++;
}

/* a session is complete (or the input ended): filter, then use it */
static void
sess_done(struct state *st, struct sess *s)
{
	const struct opts *o = &st->o;
	char text[sizeof(s->fails[0]) + sizeof(s->result_type) + 2];
	unsigned i;

	if (o->since[0] != '\0' && strcmp(s->start, o->since) < 0)
		return;
	if (o->until[0] != '\0' && strcmp(s->start, o->until) > 0)
		return;
	if (!peer_matches(o, s->remote))
		return;
	if (o->domain != NULL && !s->domain_hit)
		return;
	switch (o->cmd) {
	case CMD_SESSIONS:
		if (o->json)
			out_session_json(s);
		else
			out_session(s);
		st->shown++;
		break;
	case CMD_CERTS:
		if (s->cert && s->sha256[0] != '\0')
			cert_seen(st, s);
		break;
	case CMD_FAILURES:
		for (i = 0; i < s->nfails; i++) {
			/* an unverified chain is no failure where the policy passed
			 * (opportunistic, mandatory, pinned) */
			if (strncmp(s->fails[i], "chain: ", 7) == 0 &&
			    strcmp(s->policy, "pass") == 0)
				continue;
			if (s->result_type[0] == '\0') {
				cause_add(st, s->fails[i], "", s);
				continue;
			}
			/* a DANE policy failed: DANE authenticates by TLSA, not
			 * by the PKIX chain (RFC 7672 3.1), so the chain status
			 * is no cause; the policy's reason goes under the RFC
			 * 8460 result type */
			if (strncmp(s->fails[i], "chain: ", 7) == 0)
				continue;
			if (strncmp(s->fails[i], "policy ", 7) == 0) {
				copy2(text, sizeof(text), s->result_type, ": ");
				copy2(text + strlen(text), sizeof(text) - strlen(text), s->fails[i], "");
				cause_add(st, text, s->result_type, s);
			} else
				cause_add(st, s->fails[i], "", s);
		}
		break;
	case CMD_SHOW:
		break;
	}
}

/* a command line from the client */
static void
on_command(struct state *st, struct sess *s, const char *line)
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
		if (st->o.domain != NULL && address_mentions(line, st->o.domain))
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
on_reply(struct sess *s, const char *line, size_t len)
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
on_info(struct state *st, struct sess *s, const struct plog_record *r)
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
		copy(s->cert_time, sizeof(s->cert_time), r->f[PLOG_F_TIME]);
	} else if (strcmp(ctx, "Remote certificate absent") == 0) {
		s->cert_absent = true;
	} else if (strcmp(ctx, "Policy") == 0) {
		plog_kv_get(data, "result", s->policy, sizeof(s->policy));
		plog_kv_get(data, "level", s->pol_level, sizeof(s->pol_level));
		plog_kv_get(data, "domain", s->pol_domain, sizeof(s->pol_domain));
		if (st->o.domain != NULL && domain_is(s->pol_domain, strlen(s->pol_domain),
		    st->o.domain))
			s->domain_hit = true;
		if (strcmp(s->policy, "pass") != 0) {
			plog_kv_get(data, "reason", v, sizeof(v));
			copy2(w, sizeof(w), "policy ", s->pol_level);
			if (v[0] != '\0')
				copy2(w + strlen(w), sizeof(w) - strlen(w), ": ", v);
			sess_fail(s, w, "");
		}
	} else if (strcmp(ctx, "TLS verification") == 0) {
		if (plog_kv_get(data, "chain", v, sizeof(v)) && strcmp(v, "ok") != 0)
			sess_fail(s, "chain: ", v);
	} else if (strcmp(ctx, "TLS failure") == 0) {	/* logs before "TLS result" */
		plog_kv_get(data, "result-type", s->result_type, sizeof(s->result_type));
	} else if (strcmp(ctx, "TLS result") == 0) {
		/* a failed policy's RFC 8460 type names its failures' cause;
		 * opportunistic outcomes (no policy, not dane-only) do not */
		plog_kv_get(data, "result-type", v, sizeof(v));
		plog_kv_get(data, "policy-type", w, sizeof(w));
		if (strcmp(v, "success") != 0 && strcmp(s->policy, "pass") != 0 &&
		    (strcmp(w, "no-policy-found") != 0 || strcmp(s->pol_level, "dane-only") == 0))
			copy(s->result_type, sizeof(s->result_type), v);
	} else if (strcmp(ctx, "TLS error") == 0) {
		plog_kv_get(data, "reason", v, sizeof(v));
		sess_fail(s, "tls: ", v);
	}
}

/* one record into the session summaries */
static int
on_record_summary(const struct plog_record *r, void *arg)
{
	struct state *st = arg;
	const char *data = r->f[PLOG_F_DATA];
	struct sess *s;
	uint64_t id;
	char ev = r->f[PLOG_F_EVENT][0];

	if (!parse_id(r->f[PLOG_F_SESSION], &id)) {
		st->malformed++;
		if (st->malformed <= MAX_REPORTED)
			fprintf(stderr, "%s: %s:%lu: bad session-id\n", diag_progname(), r->file,
			    r->line);
		return 0;
	}
	if ((s = sess_get(st, id, r->dir, true)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		return 1;
	}
	if (s->start[0] == '\0') {
		copy(s->start, sizeof(s->start), r->f[PLOG_F_TIME]);
		copy(s->remote, sizeof(s->remote), r->f[PLOG_F_REMOTE]);
		copy(s->local, sizeof(s->local), r->f[PLOG_F_LOCAL]);
		copy(s->connector, sizeof(s->connector), r->f[PLOG_F_CONNECTOR]);
	}
	switch (ev) {
	case '-':
		copy(s->end, sizeof(s->end), r->f[PLOG_F_TIME]);
		s->closed = true;
		sess_done(st, s);
		sess_remove(st, s);
		break;
	case '<':
	case '>':
		if ((r->dir == PLOG_RECEIVE) == (ev == '<'))
			on_command(st, s, data);
		else
			on_reply(s, data, r->len[PLOG_F_DATA]);
		break;
	case '*':
		on_info(st, s, r);
		break;
	default:
		break;
	}
	return 0;
}

static int
cmp_sess_start(const void *a, const void *b)
{
	const struct sess *x = *(struct sess *const *)a, *y = *(struct sess *const *)b;

	return strcmp(x->start, y->start);
}

/* the input ended: sessions without '-' are reported as open */
static void
finish_open_sessions(struct state *st)
{
	struct sess **all, *s;
	size_t i, n = 0;

	if (st->nsess == 0)
		return;
	if ((all = malloc(st->nsess * sizeof(*all))) == NULL)
		return;
	for (i = 0; i < st->nbuckets; i++)
		for (s = st->tab[i]; s; s = s->next)
			all[n++] = s;
	qsort(all, n, sizeof(*all), cmp_sess_start);
	for (i = 0; i < n; i++)
		sess_done(st, all[i]);
	for (i = 0; i < n; i++)
		sess_remove(st, all[i]);
	free(all);
}

/* show: print every record of the wanted session */
static int
on_record_show(const struct plog_record *r, void *arg)
{
	struct state *st = arg;
	const struct opts *o = &st->o;
	size_t i;

	if (strncasecmp(r->f[PLOG_F_SESSION], o->session, strlen(o->session)) != 0)
		return 0;
	if (o->since[0] != '\0' && strcmp(r->f[PLOG_F_TIME], o->since) < 0)
		return 0;
	if (o->until[0] != '\0' && strcmp(r->f[PLOG_F_TIME], o->until) > 0)
		return 0;
	if (!peer_matches(o, r->f[PLOG_F_REMOTE]))
		return 0;
	st->shown++;
	if (o->json) {
		json_kv("direction", dir_names[r->dir], true);
		for (i = 0; i < PLOG_NFIELDS; i++)
			json_kv(plog_field_names[i], r->f[i], false);
		printf("}\n");
		return 0;
	}
	printf("%s %s %s %s %s %s %s", r->f[PLOG_F_TIME], dir_names[r->dir], r->f[PLOG_F_SESSION],
	    r->f[PLOG_F_SEQ], r->f[PLOG_F_REMOTE], r->f[PLOG_F_EVENT], r->f[PLOG_F_DATA]);
	if (r->f[PLOG_F_CONTEXT][0] != '\0')
		printf(" [%s]", r->f[PLOG_F_CONTEXT]);
	putchar('\n');
	return 0;
}

static int
cmp_peer(const void *a, const void *b)
{
	const struct peer *x = *(struct peer *const *)a, *y = *(struct peer *const *)b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

/* certs: one line per certificate per peer, peers sorted */
static void
print_certs(struct state *st)
{
	struct peer **all, *p;
	const struct certent *c;
	size_t i, j, n = 0;

	if (st->npeers == 0 || (all = malloc(st->npeers * sizeof(*all))) == NULL)
		return;
	for (i = 0; i < st->npeerb; i++)
		for (p = st->peers[i]; p; p = p->next)
			all[n++] = p;
	qsort(all, n, sizeof(*all), cmp_peer);
	for (i = 0; i < n; i++) {
		p = all[i];
		for (j = 0; j < p->ncerts; j++) {
			c = &p->certs[j];
			st->shown++;
			if (st->o.json) {
				json_kv("direction", dir_names[p->dir], true);
				json_kv("peer", p->addr, false);
				json_kv("sha256", c->sha256, false);
				json_kv("spki", c->spki, false);
				json_kv("subject", c->subject, false);
				json_kv("first", c->first, false);
				json_kv("last", c->last, false);
				printf(",\"count\":%lu,\"changed\":%s}\n", c->count,
				    c->changed ? "true" : "false");
				continue;
			}
			printf("%s %s sha256=%.16s first=%s last=%s count=%lu", dir_names[p->dir],
			    p->addr, c->sha256, c->first, c->last, c->count);
			print_kv_text("subject", c->subject);
			if (c->changed)
				printf(" CHANGED%s", j > 0 && strcmp(c->spki, p->certs[0].spki) == 0 ?
				    " (same key)" : "");
			putchar('\n');
		}
	}
	free(all);
}

static int
cmp_cause(const void *a, const void *b)
{
	const struct cause *x = *(struct cause *const *)a, *y = *(struct cause *const *)b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->text, y->text);
}

/* failures: causes by count, most frequent first */
static void
print_failures(struct state *st)
{
	struct cause **all, *c;
	char id[17];
	size_t i, n = 0;

	if (st->ncauses == 0 || (all = malloc(st->ncauses * sizeof(*all))) == NULL)
		return;
	for (i = 0; i < st->ncauseb; i++)
		for (c = st->causes[i]; c; c = c->next)
			all[n++] = c;
	qsort(all, n, sizeof(*all), cmp_cause);
	for (i = 0; i < n; i++) {
		c = all[i];
		snprintf(id, sizeof(id), "%016" PRIx64, c->example);
		st->shown++;
		if (st->o.json) {
			printf("{\"count\":%lu", c->count);
			json_kv("cause", c->text, false);
			if (c->result_type[0] != '\0')
				json_kv("result_type", c->result_type, false);
			json_kv("example_session", id, false);
			json_kv("example_time", c->example_time, false);
			json_kv("example_peer", c->example_peer, false);
			printf("}\n");
		} else
			printf("%lu %s (e.g. session %s, %s, %s)\n", c->count, c->text, id,
			    c->example_peer, c->example_time);
	}
	free(all);
}

/* free every table */
static void
state_free(struct state *st)
{
	struct sess *s, *sn;
	struct peer *p, *pn;
	struct cause *c, *cn;
	size_t i;

	for (i = 0; i < st->nbuckets; i++)
		for (s = st->tab[i]; s; s = sn) {
			sn = s->next;
			free(s);
		}
	for (s = st->free; s; s = sn) {
		sn = s->next;
		free(s);
	}
	for (i = 0; i < st->npeerb; i++)
		for (p = st->peers[i]; p; p = pn) {
			pn = p->next;
			free(p->certs);
			free(p);
		}
	for (i = 0; i < st->ncauseb; i++)
		for (c = st->causes[i]; c; c = cn) {
			cn = c->next;
			free(c);
		}
	free(st->tab);
	free(st->peers);
	free(st->causes);
}

/* the reader skipped a line: say so (the first MAX_REPORTED times) */
static void
on_malformed(const char *file, unsigned long line, const char *why, void *arg)
{
	struct state *st = arg;

	if (++st->malformed <= MAX_REPORTED)
		fprintf(stderr, "%s: %s:%lu: skipped: %s\n", diag_progname(), file, line, why);
}

static void
usage(FILE *out, const char *name)
{
	fprintf(out, "Usage: dsmtp-log [-c FILE] %s%s [--peer ADDR] [--since WHEN] [--until WHEN]\n"
	    "       [--domain D] [--json] [FILE|DIR...]\n"
	    "WHEN is an ISO 8601 date or date-time in UTC (2026-11-24, 2026-11-24T11:44:46Z).\n"
	    "Default input: the configured state_dir/logs.dir.\n", name,
	    strcmp(name, "show") == 0 ? " SESSION" : "");
}

/* the shared front of every subcommand: options, inputs, the read loop */
static int
run(enum cmd cmd, int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct state st;
	struct plog_files files = { NULL, 0 };
	struct plog_reader *r = NULL;
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	char dflt[PATH_MAX], *dflt_v[1];
	unsigned long day;
	size_t i;
	int ch, rc = EX_DSMTP_OK, rrc;

	memset(&st, 0, sizeof(st));
	st.o.cmd = cmd;
	while ((ch = getopt_long(argc, argv, "p:s:u:d:jh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			st.o.peer = optarg;
			break;
		case 's':
		case 'u':
			if (parse_when(optarg, ch == 'u', ch == 's' ? st.o.since : st.o.until,
			    sizeof(st.o.since), ch == 's' ? &st.o.since_day : &st.o.until_day) < 0) {
				fprintf(stderr, "%s: --%s: not an ISO 8601 date or date-time: %s\n",
				    diag_progname(), ch == 's' ? "since" : "until", optarg);
				return EX_DSMTP_USAGE;
			}
			break;
		case 'd':
			st.o.domain = optarg;
			break;
		case 'j':
			st.o.json = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return EX_DSMTP_OK;
		default:
			usage(stderr, argv[0]);
			return EX_DSMTP_USAGE;
		}
	}
	if (cmd == CMD_SHOW) {
		if (optind >= argc || argv[optind][0] == '\0' ||
		    strspn(argv[optind], "0123456789abcdefABCDEF") != strlen(argv[optind])) {
			fprintf(stderr, "%s: show needs a session id (hex)\n", diag_progname());
			usage(stderr, argv[0]);
			return EX_DSMTP_USAGE;
		}
		st.o.session = argv[optind++];
	}
	if (optind < argc) {
		if (plog_files_collect(argv + optind, (size_t)(argc - optind), &files, &err) < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	} else {
		config_load_or_exit(config_path, &cfg);
		if (cfg.logs.dir[0] == '/')
			i = (size_t)snprintf(dflt, sizeof(dflt), "%s", cfg.logs.dir);
		else
			i = (size_t)snprintf(dflt, sizeof(dflt), "%s/%s", cfg.state_dir, cfg.logs.dir);
		config_free(&cfg);
		if (i >= sizeof(dflt)) {
			fprintf(stderr, "%s: logs path too long\n", diag_progname());
			return EX_DSMTP_USAGE;
		}
		dflt_v[0] = dflt;
		if (plog_files_collect(dflt_v, 1, &files, &err) < 0) {
			fprintf(stderr, "%s: no protocol logs: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	}
	r = plog_reader_new(cmd == CMD_SHOW ? on_record_show : on_record_summary, on_malformed, &st);
	if (r == NULL) {
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		plog_files_free(&files);
		return EX_DSMTP_OSERR;
	}
	for (i = 0; i < files.n; i++) {
		/* a file holds one UTC day: skip days outside the window */
		day = plog_file_day(files.v[i]);
		if (day != 0 && ((st.o.since_day && day < st.o.since_day) ||
		    (st.o.until_day && day > st.o.until_day)))
			continue;
		rrc = plog_read_file(r, files.v[i], &err);
		if (rrc < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			rc = EX_DSMTP_NOINPUT;
		} else if (rrc > 0) {
			rc = EX_DSMTP_SOFTWARE;
			break;
		}
	}
	if (cmd != CMD_SHOW)
		finish_open_sessions(&st);
	if (cmd == CMD_CERTS)
		print_certs(&st);
	else if (cmd == CMD_FAILURES)
		print_failures(&st);
	if (st.malformed > MAX_REPORTED)
		fprintf(stderr, "%s: %lu malformed lines skipped in all\n", diag_progname(),
		    st.malformed);
	if (cmd == CMD_SHOW && st.shown == 0 && rc == EX_DSMTP_OK) {
		fprintf(stderr, "%s: no records of session %s\n", diag_progname(), st.o.session);
		rc = 1;
	}
	if (fflush(stdout) != 0 && rc == EX_DSMTP_OK)
		rc = EX_DSMTP_IOERR;
	plog_reader_free(r);
	plog_files_free(&files);
	state_free(&st);
	return rc;
}

static int
run_sessions(int argc, char **argv, const char *config_path)
{
	return run(CMD_SESSIONS, argc, argv, config_path);
}

static int
run_show(int argc, char **argv, const char *config_path)
{
	return run(CMD_SHOW, argc, argv, config_path);
}

static int
run_certs(int argc, char **argv, const char *config_path)
{
	return run(CMD_CERTS, argc, argv, config_path);
}

static int
run_failures(int argc, char **argv, const char *config_path)
{
	return run(CMD_FAILURES, argc, argv, config_path);
}

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-log [-c FILE] COMMAND [OPTIONS] [FILE|DIR...]\n"
	    "Read dsmtp's protocol logs.", log_cmds, NULL);
}
