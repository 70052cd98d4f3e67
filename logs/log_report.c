/* log_report.c: dsmtp-log report (DESIGN.md 13.5): a TLS summary per peer
 * domain and direction (sessions, TLS share, versions, ciphers,
 * verification, policy outcomes, failures by cause, certificate changes,
 * the peers' certificates and their expiry), totals and a per-day TLS
 * coverage series, as aligned text (100 columns), JSON, or an HTML page
 * (log_html.c). Streams: finished sessions from log_agg.c are folded into
 * the bounded tables of log_report.h and forgotten.
 *
 * The peer domain of a session is its Policy record's domain; else, for
 * receive, the client's EHLO name (lowercased); else its address in
 * brackets. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "logs/log_report.h"
#include "logs/plog.h"

#define TEXT_COLS	100

int log_report_main(int argc, char **argv, const char *config_path);

/* ---- filling the tables ---- */

static void
tab_add(struct rpt_tab *t, const char *key)
{
	unsigned i;

	for (i = 0; i < t->nv; i++)
		if (strcmp(t->v[i].key, key) == 0) {
			t->v[i].n++;
			return;
		}
	if (t->nv >= RPT_MAX_KEYS) {
		t->other++;
		return;
	}
	log_copy(t->v[t->nv].key, sizeof(t->v[0].key), key);
	t->v[t->nv++].n = 1;
}

static int
cmp_count(const void *x, const void *y)
{
	const struct rpt_count *a = x, *b = y;

	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->key, b->key);
}

static void
peer_name(const struct log_sess *s, char *out, size_t outlen)
{
	char addr[64];
	size_t i;

	if (s->pol_domain[0] != '\0')
		log_copy(out, outlen, s->pol_domain);
	else if (s->dir == PLOG_RECEIVE && s->ehlo[0] != '\0')
		log_copy(out, outlen, s->ehlo);
	else {
		log_endpoint_addr(s->remote, addr, sizeof(addr));
		snprintf(out, outlen, "[%s]", addr);
	}
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	/* a name ending in a dot is the same domain */
	if (i > 1 && out[i - 1] == '.')
		out[i - 1] = '\0';
}

static struct rpt_peer *
peer_get(struct report *rp, enum plog_dir dir, const char *name)
{
	struct rpt_peer *p, **tab, *next;
	size_t i, b, nb;

	if (rp->nb > 0)
		for (p = rp->tab[log_hash_str(name, dir + 1) & (rp->nb - 1)]; p; p = p->next)
			if (p->dir == dir && strcmp(p->name, name) == 0)
				return p;
	if (rp->npeers >= RPT_MAX_PEERS)
		return &rp->other[dir];
	if (rp->npeers >= rp->nb) {
		nb = rp->nb ? rp->nb * 2 : 256;
		if ((tab = calloc(nb, sizeof(*tab))) == NULL)
			return &rp->other[dir];
		for (i = 0; i < rp->nb; i++)
			for (p = rp->tab[i]; p; p = next) {
				next = p->next;
				b = log_hash_str(p->name, p->dir + 1) & (nb - 1);
				p->next = tab[b];
				tab[b] = p;
			}
		free(rp->tab);
		rp->tab = tab;
		rp->nb = nb;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return &rp->other[dir];
	p->dir = dir;
	log_copy(p->name, sizeof(p->name), name);
	b = log_hash_str(name, dir + 1) & (rp->nb - 1);
	p->next = rp->tab[b];
	rp->tab[b] = p;
	rp->npeers++;
	return p;
}

/* the session's certificate: kept per peer; a change is a different
 * certificate from the one the same address showed last time */
static bool
peer_cert(struct rpt_peer *p, const struct log_sess *s)
{
	char addr[64];
	struct rpt_cert *c = NULL;
	bool changed = false;
	unsigned i;

	if (s->dir == PLOG_RECEIVE)
		log_endpoint_addr(s->remote, addr, sizeof(addr));
	else
		log_copy(addr, sizeof(addr), s->remote);
	for (i = 0; i < p->naddrs; i++)
		if (strcmp(p->addrs[i].addr, addr) == 0)
			break;
	if (i == p->naddrs && i < RPT_MAX_ADDRS) {
		log_copy(p->addrs[i].addr, sizeof(p->addrs[i].addr), addr);
		p->naddrs++;
	}
	if (i < p->naddrs) {
		changed = p->addrs[i].sha256[0] != '\0' && strcmp(p->addrs[i].sha256, s->sha256) != 0;
		log_copy(p->addrs[i].sha256, sizeof(p->addrs[i].sha256), s->sha256);
	}
	for (i = 0; i < p->ncerts; i++)
		if (strcmp(p->certs[i].sha256, s->sha256) == 0)
			c = &p->certs[i];
	if (c == NULL && p->ncerts < RPT_MAX_CERTS) {
		c = &p->certs[p->ncerts++];
		log_copy(c->sha256, sizeof(c->sha256), s->sha256);
		log_copy(c->subject, sizeof(c->subject), s->subject);
		log_copy(c->not_after, sizeof(c->not_after), s->not_after);
		log_copy(c->first, sizeof(c->first), s->cert_time);
	}
	if (c == NULL)
		p->certs_more++;
	else {
		if (strcmp(s->cert_time, c->first) < 0)
			log_copy(c->first, sizeof(c->first), s->cert_time);
		if (strcmp(s->cert_time, c->last) > 0)
			log_copy(c->last, sizeof(c->last), s->cert_time);
		c->count++;
	}
	return changed;
}

static void
day_add(struct report *rp, const struct log_sess *s)
{
	unsigned long day;
	size_t lo = 0, hi = rp->ndays, mid;
	int y, m, d;

	if (sscanf(s->start, "%4d-%2d-%2d", &y, &m, &d) != 3)
		return;
	day = (unsigned long)y * 10000 + (unsigned long)m * 100 + (unsigned long)d;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (rp->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == rp->ndays || rp->days[lo].day != day) {
		if (rp->ndays >= RPT_MAX_DAYS) {
			/* full: the oldest day goes, unless this one is older */
			if (lo == 0) {
				rp->days_dropped++;
				return;
			}
			rp->days_dropped += rp->days[0].sessions[0] + rp->days[0].sessions[1];
			memmove(rp->days, rp->days + 1, (lo - 1) * sizeof(*rp->days));
			lo--;
		} else {
			memmove(rp->days + lo + 1, rp->days + lo,
			    (rp->ndays - lo) * sizeof(*rp->days));
			rp->ndays++;
		}
		memset(&rp->days[lo], 0, sizeof(rp->days[lo]));
		rp->days[lo].day = day;
	}
	rp->days[lo].sessions[s->dir]++;
	if (s->tls)
		rp->days[lo].tls[s->dir]++;
}

struct cause_ctx {
	struct report		*rp;
	struct rpt_peer		*p;
	const struct log_sess	*s;
	unsigned		 n;
};

static void
on_cause(const char *text, const char *type, void *arg)
{
	struct cause_ctx *c = arg;

	log_causes_add(&c->rp->causes, text, type, c->s);
	tab_add(&c->p->fails, text);
	c->n++;
}

void
rpt_on_session(const struct log_sess *s, void *arg)
{
	struct report *rp = arg;
	struct rpt_peer *p;
	struct rpt_totals *t = &rp->tot[s->dir];
	struct cause_ctx cc;
	char name[128], key[120];
	bool changed = false;

	peer_name(s, name, sizeof(name));
	p = peer_get(rp, s->dir, name);
	if (p->first[0] == '\0' || strcmp(s->start, p->first) < 0)
		log_copy(p->first, sizeof(p->first), s->start);
	if (strcmp(s->start, p->last) > 0)
		log_copy(p->last, sizeof(p->last), s->start);
	if (rp->first[0] == '\0' || strcmp(s->start, rp->first) < 0)
		log_copy(rp->first, sizeof(rp->first), s->start);
	if (strcmp(s->start, rp->last) > 0)
		log_copy(rp->last, sizeof(rp->last), s->start);
	p->sessions++;
	t->sessions++;
	p->messages += s->messages;
	t->messages += s->messages;
	if (s->tls) {
		p->tls++;
		t->tls++;
		tab_add(&p->versions, s->version[0] ? s->version : "?");
		tab_add(&p->ciphers, s->cipher[0] ? s->cipher : "?");
		/* no "TLS verification" record: nothing to verify, or not logged */
		tab_add(&p->verify, s->chain[0] ? s->chain : !s->cert ? "no certificate" :
		    "not logged");
	}
	if (s->policy[0] != '\0') {
		snprintf(key, sizeof(key), "%s %s", s->policy, s->pol_level);
		tab_add(&p->policy, key);
	}
	if (s->cert && s->sha256[0] != '\0')
		changed = peer_cert(p, s);
	if (changed) {
		p->changes++;
		t->changes++;
	}
	cc.rp = rp;
	cc.p = p;
	cc.s = s;
	cc.n = 0;
	log_sess_causes(s, on_cause, &cc);
	if (cc.n > 0) {
		p->failed++;
		t->failed++;
	}
	day_add(rp, s);
}

/* ---- shared with log_html.c ---- */

static int
cmp_peer(const void *x, const void *y)
{
	const struct rpt_peer *a = *(const struct rpt_peer *const *)x;
	const struct rpt_peer *b = *(const struct rpt_peer *const *)y;

	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	return strcmp(a->name, b->name);
}

const struct rpt_peer **
rpt_peers_sorted(const struct report *rp, size_t *n)
{
	const struct rpt_peer **all, *p;
	size_t i, k;
	int d;

	*n = 0;
	if ((all = malloc((rp->npeers + 2) * sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < rp->nb; i++)
		for (p = rp->tab[i]; p; p = p->next)
			all[(*n)++] = p;
	qsort(all, *n, sizeof(*all), cmp_peer);
	for (d = 0; d < 2; d++) {
		if (rp->other[d].sessions == 0)
			continue;
		/* after the last peer of its direction */
		for (k = 0; k < *n && all[k]->dir <= (enum plog_dir)d; k++)
			;
		memmove(all + k + 1, all + k, (*n - k) * sizeof(*all));
		all[k] = &rp->other[d];
		(*n)++;
	}
	if (*n == 0) {
		free(all);
		return NULL;
	}
	return all;
}

bool
rpt_days_left(const struct report *rp, const char *when, long *days)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(when, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon--;
	if ((t = timegm(&tm)) == (time_t)-1)
		return false;
	/* whole days, rounded down: "0" is "expires within a day" */
	*days = (long)((t - rp->now) >= 0 ? (t - rp->now) / 86400 : -((rp->now - t + 86399) / 86400));
	return true;
}

void
rpt_day_str(unsigned long day, char *out, size_t outlen)
{
	snprintf(out, outlen, "%04lu-%02lu-%02lu", day / 10000 % 10000, day / 100 % 100, day % 100);
}

double
rpt_share(unsigned long part, unsigned long whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- text ---- */

/* print a readable value into buf at most width bytes, "~" marking a cut */
static void
fit(char *buf, size_t buflen, const char *val, size_t width)
{
	size_t n;

	log_readable(val, buf, buflen);
	if (strlen(buf) <= width)
		return;
	n = width > 0 ? width - 1 : 0;
	while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
		n--;
	buf[n] = '~';
	buf[n + 1] = '\0';
}

/* one detail line: "    label  k1 n1, k2 n2, other n" cut at TEXT_COLS */
static void
text_tab(const char *label, const struct rpt_tab *t)
{
	struct rpt_count v[RPT_MAX_KEYS];
	char line[1024], rd[240], num[32];
	size_t len;
	unsigned i;

	if (t->nv == 0 && t->other == 0)
		return;
	memcpy(v, t->v, t->nv * sizeof(v[0]));
	qsort(v, t->nv, sizeof(v[0]), cmp_count);
	len = (size_t)snprintf(line, sizeof(line), "    %-13s", label);
	for (i = 0; i <= t->nv && len < sizeof(line); i++) {
		if (i == t->nv && t->other == 0)
			break;
		log_readable(i < t->nv ? v[i].key : "other", rd, sizeof(rd));
		snprintf(num, sizeof(num), "%lu", i < t->nv ? v[i].n : t->other);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %s", i ? ", " : "", rd,
		    num);
	}
	if (strlen(line) > TEXT_COLS) {
		len = TEXT_COLS - 3;
		while (len > 0 && ((unsigned char)line[len] & 0xc0) == 0x80)
			len--;
		memcpy(line + len, "...", 4);
	}
	printf("%s\n", line);
}

static void
text_expiry(const struct report *rp, const char *not_after, char *out, size_t outlen)
{
	long d;

	if (!rpt_days_left(rp, not_after, &d))
		snprintf(out, outlen, "expiry unknown");
	else if (d < 0)
		snprintf(out, outlen, "EXPIRED %.10s (%ld d ago)", not_after, -d);
	else
		snprintf(out, outlen, "expires %.10s (in %ld d)", not_after, d);
}

static void
text_totals_row(const char *name, const struct rpt_totals *t)
{
	printf("%-10s %10lu %10lu %7.1f%% %10lu %8lu %12lu\n", name, t->sessions, t->tls,
	    rpt_share(t->tls, t->sessions), t->messages, t->failed, t->changes);
}

static void
print_text(const struct report *rp)
{
	const struct rpt_peer **all, *p;
	struct log_cause **causes;
	struct rpt_totals sum;
	char name[64], buf[300], exp[64], day[16];
	size_t n, i, j;

	printf("TLS report: %s .. %s (UTC)\n\n", rp->first[0] ? rp->first : "-",
	    rp->last[0] ? rp->last : "-");
	printf("%-10s %10s %10s %8s %10s %8s %12s\n", "TOTALS", "SESSIONS", "TLS", "SHARE",
	    "MESSAGES", "FAILED", "CERT CHANGES");
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < 2; i++) {
		text_totals_row(log_dir_names[i], &rp->tot[i]);
		sum.sessions += rp->tot[i].sessions;
		sum.tls += rp->tot[i].tls;
		sum.messages += rp->tot[i].messages;
		sum.failed += rp->tot[i].failed;
		sum.changes += rp->tot[i].changes;
	}
	text_totals_row("all", &sum);

	printf("\n%-8s %-38s %9s %8s %7s %8s %7s %7s\n", "PEERS", "DOMAIN", "SESSIONS", "TLS",
	    "SHARE", "MESSAGES", "FAILED", "CHANGES");
	all = rpt_peers_sorted(rp, &n);
	for (i = 0; i < n; i++) {
		p = all[i];
		if (p == &rp->other[p->dir])
			snprintf(name, sizeof(name), "(other peers)");
		else
			fit(name, sizeof(name), p->name, 38);
		printf("%-8s %-38s %9lu %8lu %6.1f%% %8lu %7lu %7lu\n", log_dir_names[p->dir], name,
		    p->sessions, p->tls, rpt_share(p->tls, p->sessions), p->messages, p->failed,
		    p->changes);
		text_tab("versions", &p->versions);
		text_tab("ciphers", &p->ciphers);
		text_tab("verification", &p->verify);
		text_tab("policy", &p->policy);
		text_tab("failures", &p->fails);
		for (j = 0; j < p->ncerts; j++) {
			fit(buf, sizeof(buf), p->certs[j].subject, TEXT_COLS - 18);
			text_expiry(rp, p->certs[j].not_after, exp, sizeof(exp));
			printf("    %-13s%.16s %s, seen %lu\n", "certificate", p->certs[j].sha256,
			    exp, p->certs[j].count);
			printf("    %-13s%s\n", "", buf);
		}
		if (p->certs_more > 0)
			printf("    %-13s%lu sessions with certificates not listed\n", "certificate",
			    p->certs_more);
	}
	free(all);

	printf("\n%-10s %10s %8s %7s %10s %8s %7s\n", "TLS BY DAY", "RECV SESS", "TLS", "SHARE",
	    "SEND SESS", "TLS", "SHARE");
	for (i = 0; i < rp->ndays; i++) {
		rpt_day_str(rp->days[i].day, day, sizeof(day));
		printf("%-10s %10lu %8lu %6.1f%% %10lu %8lu %6.1f%%\n", day, rp->days[i].sessions[0],
		    rp->days[i].tls[0], rpt_share(rp->days[i].tls[0], rp->days[i].sessions[0]),
		    rp->days[i].sessions[1], rp->days[i].tls[1],
		    rpt_share(rp->days[i].tls[1], rp->days[i].sessions[1]));
	}
	if (rp->days_dropped > 0)
		printf("(%lu sessions on older days not shown)\n", rp->days_dropped);

	printf("\n%-8s %s\n", "FAILURES", "CAUSE");
	causes = log_causes_sorted(&rp->causes, &n);
	for (i = 0; i < n; i++) {
		fit(buf, sizeof(buf), causes[i]->text, TEXT_COLS - 9);
		printf("%8lu %s\n", causes[i]->count, buf);
	}
	if (n == 0)
		printf("%8s none\n", "");
	free(causes);
}

/* ---- JSON ---- */

static void
json_tab(const char *key, const struct rpt_tab *t)
{
	unsigned i;

	printf(",");
	plog_json_string(stdout, key);
	printf(":{");
	for (i = 0; i < t->nv; i++) {
		if (i > 0)
			putchar(',');
		plog_json_string(stdout, t->v[i].key);
		printf(":%lu", t->v[i].n);
	}
	if (t->other > 0)
		printf("%s\"other\":%lu", t->nv ? "," : "", t->other);
	putchar('}');
}

static void
json_totals(const char *key, const struct rpt_totals *t, bool first)
{
	printf("%s\"%s\":{\"sessions\":%lu,\"tls\":%lu,\"messages\":%lu,\"failed\":%lu,"
	    "\"cert_changes\":%lu}", first ? "" : ",", key, t->sessions, t->tls, t->messages,
	    t->failed, t->changes);
}

static void
print_json(const struct report *rp)
{
	const struct rpt_peer **all, *p;
	struct log_cause **causes;
	struct rpt_totals sum;
	char day[16];
	size_t n, i, j;
	long d;

	log_json_kv(stdout, "first", rp->first, true);
	log_json_kv(stdout, "last", rp->last, false);
	printf(",\"generated\":%lld,\"totals\":{", (long long)rp->now);
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < 2; i++) {
		json_totals(log_dir_names[i], &rp->tot[i], i == 0);
		sum.sessions += rp->tot[i].sessions;
		sum.tls += rp->tot[i].tls;
		sum.messages += rp->tot[i].messages;
		sum.failed += rp->tot[i].failed;
		sum.changes += rp->tot[i].changes;
	}
	json_totals("all", &sum, false);
	printf("},\"peers\":[");
	all = rpt_peers_sorted(rp, &n);
	for (i = 0; i < n; i++) {
		p = all[i];
		printf("%s", i ? ",\n" : "\n");
		log_json_kv(stdout, "direction", log_dir_names[p->dir], true);
		log_json_kv(stdout, "peer", p == &rp->other[p->dir] ? "" : p->name, false);
		printf(",\"other_peers\":%s", p == &rp->other[p->dir] ? "true" : "false");
		log_json_kv(stdout, "first", p->first, false);
		log_json_kv(stdout, "last", p->last, false);
		printf(",\"sessions\":%lu,\"tls\":%lu,\"messages\":%lu,\"failed\":%lu,"
		    "\"cert_changes\":%lu", p->sessions, p->tls, p->messages, p->failed, p->changes);
		json_tab("versions", &p->versions);
		json_tab("ciphers", &p->ciphers);
		json_tab("verification", &p->verify);
		json_tab("policy", &p->policy);
		json_tab("failures", &p->fails);
		printf(",\"certificates\":[");
		for (j = 0; j < p->ncerts; j++) {
			printf("%s", j ? "," : "");
			log_json_kv(stdout, "sha256", p->certs[j].sha256, true);
			log_json_kv(stdout, "subject", p->certs[j].subject, false);
			log_json_kv(stdout, "not_after", p->certs[j].not_after, false);
			if (rpt_days_left(rp, p->certs[j].not_after, &d))
				printf(",\"days_left\":%ld", d);
			log_json_kv(stdout, "first", p->certs[j].first, false);
			log_json_kv(stdout, "last", p->certs[j].last, false);
			printf(",\"count\":%lu}", p->certs[j].count);
		}
		printf("],\"certificates_not_listed\":%lu}", p->certs_more);
	}
	free(all);
	printf("\n],\"days\":[");
	for (i = 0; i < rp->ndays; i++) {
		rpt_day_str(rp->days[i].day, day, sizeof(day));
		printf("%s{\"day\":\"%s\",\"receive\":{\"sessions\":%lu,\"tls\":%lu},"
		    "\"send\":{\"sessions\":%lu,\"tls\":%lu}}", i ? "," : "", day,
		    rp->days[i].sessions[0], rp->days[i].tls[0], rp->days[i].sessions[1],
		    rp->days[i].tls[1]);
	}
	printf("],\"sessions_on_days_not_listed\":%lu,\"failures\":[", rp->days_dropped);
	causes = log_causes_sorted(&rp->causes, &n);
	for (i = 0; i < n; i++) {
		printf("%s{\"count\":%lu", i ? "," : "", causes[i]->count);
		log_json_kv(stdout, "cause", causes[i]->text, false);
		log_json_kv(stdout, "result_type", causes[i]->result_type, false);
		putchar('}');
	}
	free(causes);
	printf("]}\n");
}

/* ---- the command ---- */

void
rpt_free(struct report *rp)
{
	struct rpt_peer *p, *pn;
	size_t i;

	for (i = 0; i < rp->nb; i++)
		for (p = rp->tab[i]; p; p = pn) {
			pn = p->next;
			free(p);
		}
	free(rp->tab);
	free(rp->days);
	log_causes_free(&rp->causes);
}

static void
usage(FILE *out)
{
	fprintf(out, "Usage: dsmtp-log [-c FILE] report [--since WHEN] [--until WHEN] [--peer ADDR]\n"
	    "       [--domain D] [--json | --html FILE] [FILE|DIR...]\n"
	    "A TLS summary per peer domain and direction, totals, TLS coverage per day and\n"
	    "failures by cause. WHEN is an ISO 8601 date or date-time in UTC.\n"
	    "Default input: the configured state_dir/logs.dir.\n");
}

int
log_report_main(int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct report rp;
	struct plog_files files = { NULL, 0 };
	struct plog_reader *r = NULL;
	struct log_agg *agg = NULL;
	struct dsmtp_err err;
	const char *html = NULL;
	char dflt[PATH_MAX], *dflt_v[1];
	const char *now_env;
	FILE *hf;
	bool json = false;
	size_t i;
	int ch, rc = EX_DSMTP_OK, rrc;

	memset(&rp, 0, sizeof(rp));
	while ((ch = getopt_long(argc, argv, "p:s:u:d:jH:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
		case 's':
		case 'u':
		case 'd':
			if (log_filter_option(&rp.f, ch, optarg) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'j':
			json = true;
			break;
		case 'H':
			html = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_DSMTP_OK;
		default:
			usage(stderr);
			return EX_DSMTP_USAGE;
		}
	}
	if (json && html != NULL) {
		fprintf(stderr, "%s: report: --json and --html exclude each other\n",
		    diag_progname());
		return EX_DSMTP_USAGE;
	}
	if (optind < argc) {
		if (plog_files_collect(argv + optind, (size_t)(argc - optind), &files, &err) < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	} else {
		if (log_default_dir(config_path, dflt, sizeof(dflt)) < 0)
			return EX_DSMTP_USAGE;
		dflt_v[0] = dflt;
		if (plog_files_collect(dflt_v, 1, &files, &err) < 0) {
			fprintf(stderr, "%s: no protocol logs: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	}
	/* the clock expiry is measured against; DSMTP_LOG_NOW (epoch
	 * seconds) pins it for reproducible output */
	rp.now = time(NULL);
	if ((now_env = getenv("DSMTP_LOG_NOW")) != NULL && *now_env != '\0')
		rp.now = (time_t)strtoll(now_env, NULL, 10);
	if ((rp.days = calloc(RPT_MAX_DAYS, sizeof(*rp.days))) == NULL ||
	    (agg = log_agg_new(&rp.f, rpt_on_session, &rp)) == NULL ||
	    (r = plog_reader_new(log_agg_record, log_agg_malformed, agg)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		rc = EX_DSMTP_OSERR;
		goto out;
	}
	for (i = 0; i < files.n; i++) {
		if (!log_filter_file(&rp.f, files.v[i]))
			continue;
		rrc = plog_read_file(r, files.v[i], &err);
		if (rrc < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			rc = EX_DSMTP_NOINPUT;
		} else if (rrc > 0) {
			rc = EX_DSMTP_SOFTWARE;
			goto out;
		}
	}
	log_agg_finish(agg);
	if (html != NULL) {
		if ((hf = fopen(html, "w")) == NULL) {
			fprintf(stderr, "%s: %s: %s\n", diag_progname(), html, strerror(errno));
			rc = EX_DSMTP_CANTCREAT;
			goto out;
		}
		if (rpt_write_html(&rp, hf) < 0 || ferror(hf)) {
			fprintf(stderr, "%s: %s: write failed\n", diag_progname(), html);
			rc = EX_DSMTP_IOERR;
		}
		if (fclose(hf) != 0 && rc == EX_DSMTP_OK) {
			fprintf(stderr, "%s: %s: %s\n", diag_progname(), html, strerror(errno));
			rc = EX_DSMTP_IOERR;
		}
	} else if (json)
		print_json(&rp);
	else
		print_text(&rp);
	if (fflush(stdout) != 0 && rc == EX_DSMTP_OK)
		rc = EX_DSMTP_IOERR;
out:
	plog_reader_free(r);
	log_agg_free(agg);
	plog_files_free(&files);
	rpt_free(&rp);
	return rc;
}
