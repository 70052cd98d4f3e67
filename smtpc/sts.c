/* sts.c: a domain's MTA-STS policy for dsmtpc (RFC 8461 3 and 5, DESIGN.md
 * 13.2). Per lookup: the _mta-sts.DOMAIN TXT record (through dns.c); when
 * its id differs from the cached policy's, or the cached policy is within
 * a quarter of its max_age of expiring (or gone), mta-sts.DOMAIN's
 * addresses (dns.c again) and the HTTPS fetch (sts_fetch.c); a policy
 * that parses goes into memory and onto disk (sts_cache.c). A failed TXT
 * lookup, a missing record or a failed refresh keep a cached policy that
 * has not expired (5.1). Lookups of one domain that overlap share one
 * round; a fetch that failed is not tried again for the same id within a
 * minute. A domain without a policy (nor a recent failure) is forgotten
 * when its round ends. Owns the memory cache and the round; policy/ owns
 * the texts. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define RR_A		1
#define RR_TXT		16
#define RR_AAAA		28
#define STS_MAX_ADDRS	8	/* per family */
#define STS_RETRY_AFTER	60	/* seconds before a failed fetch is tried again */
#define STS_MAX_TXT	16	/* TXT records looked at */

struct sts_dom;

struct smtpc_sts_req {
	struct sts_dom		*dom;
	smtpc_sts_cb		*cb;
	void			*arg;
	struct smtpc_sts_req	*next, *prev;
};

/* one domain: its policy (memory copy of the disk cache) and its round */
struct sts_dom {
	struct smtpc_sts	*st;
	char			 domain[256];
	struct policy_sts	 pol;
	bool			 have;		/* pol holds a policy */
	bool			 disk_tried;
	/* the round in progress */
	bool			 busy;
	struct smtpc_dns_query	*txtq, *aq, *aaaaq;
	struct smtpc_sts_fetch	*fq;
	char			 txt_id[POLICY_STS_ID_MAX + 1];
	char			 addrs[2 * STS_MAX_ADDRS][INET6_ADDRSTRLEN];
	size_t			 naddrs;
	unsigned		 addr_pending;
	/* the last failed fetch, not repeated at once */
	char			 failed_id[POLICY_STS_ID_MAX + 1];
	long long		 failed_at;
	char			 failed_type[32];
	char			 failed_why[300];
	struct smtpc_sts_req	*waiters;
	struct sts_dom		*next;
};

struct smtpc_sts {
	struct ev_loop		*loop;
	const struct dsmtp_config *cfg;
	struct smtpc_dns	*dns;
	struct smtpc_sts_fetcher *fetcher;
	struct sts_dom		*doms;
};

struct smtpc_sts *
smtpc_sts_new(struct ev_loop *loop, const struct dsmtp_config *cfg, struct smtpc_dns *dns,
    struct dsmtp_err *err)
{
	struct smtpc_sts *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	st->loop = loop;
	st->cfg = cfg;
	st->dns = dns;
	if ((st->fetcher = smtpc_sts_fetcher_new(loop, cfg, err)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

static void
dom_stop(struct sts_dom *d)
{
	smtpc_dns_cancel(d->txtq);
	smtpc_dns_cancel(d->aq);
	smtpc_dns_cancel(d->aaaaq);
	smtpc_sts_fetch_cancel(d->fq);
	d->txtq = d->aq = d->aaaaq = NULL;
	d->fq = NULL;
	d->busy = false;
}

void
smtpc_sts_free(struct smtpc_sts *st)
{
	if (st == NULL)
		return;
	while (st->doms) {
		struct sts_dom *d = st->doms;

		st->doms = d->next;
		dom_stop(d);
		while (d->waiters) {
			struct smtpc_sts_req *q = d->waiters;

			d->waiters = q->next;
			free(q);
		}
		free(d);
	}
	smtpc_sts_fetcher_free(st->fetcher);
	free(st);
}

static bool
valid_now(const struct sts_dom *d, long long now)
{
	return d->have && !policy_sts_expired(&d->pol, now);
}

static void
dom_forget(struct sts_dom *d)
{
	struct sts_dom **pp;

	for (pp = &d->st->doms; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	dom_stop(d);
	free(d);
}

/* the round is over: every waiter hears the same result; the caller
 * must not touch d afterwards (it may be gone) */
static void
dom_finish(struct sts_dom *d, bool use_policy, const char *fail_type, const char *why,
    const char *state)
{
	struct smtpc_sts_result r;

	dom_stop(d);
	memset(&r, 0, sizeof(r));
	r.policy = use_policy && d->have ? &d->pol : NULL;
	r.fail_type = fail_type;
	r.why = why ? why : "";
	r.state = state;
	r.txt_id = d->txt_id;
	if (fail_type || (why && why[0]))
		diag_info("MTA-STS %s: %s%s%s", d->domain, state, why && why[0] ? ": " : "",
		    why ? why : "");
	while (d->waiters) {
		struct smtpc_sts_req *q = d->waiters;

		d->waiters = q->next;
		if (d->waiters)
			d->waiters->prev = NULL;
		q->cb(q->arg, &r);
		free(q);
	}
	/* most domains publish nothing: forget them (nobody points at a
	 * domain without a policy), unless a failed fetch is remembered */
	if (!d->have && !d->busy && d->waiters == NULL && (d->failed_id[0] == '\0' ||
	    (long long)time(NULL) >= d->failed_at + STS_RETRY_AFTER))
		dom_forget(d);
}

/* the refresh went wrong: keep a cached policy that is still valid */
static void
dom_refresh_failed(struct sts_dom *d, const char *type, const char *why)
{
	long long now = (long long)time(NULL);

	snprintf(d->failed_id, sizeof(d->failed_id), "%s", d->txt_id);
	d->failed_at = now;
	snprintf(d->failed_type, sizeof(d->failed_type), "%s", type);
	snprintf(d->failed_why, sizeof(d->failed_why), "%s", why);
	if (valid_now(d, now))
		dom_finish(d, true, NULL, why, "cached (refresh failed)");
	else
		dom_finish(d, false, type, why, "none (fetch failed)");
}

static void
on_fetch(void *arg, const char *fail, const char *body, size_t len, const char *why)
{
	struct sts_dom *d = arg;
	struct policy_sts *np;
	struct dsmtp_err err = { "" };
	char pwhy[200], full[520];

	d->fq = NULL;	/* gone once this runs */
	if (fail) {
		dom_refresh_failed(d, fail, why);
		return;
	}
	if ((np = calloc(1, sizeof(*np))) == NULL) {
		dom_refresh_failed(d, "sts-policy-fetch-error", "out of memory");
		return;
	}
	if (policy_sts_parse(body, len, np, pwhy, sizeof(pwhy)) < 0) {
		free(np);
		snprintf(full, sizeof(full), "%s: %s", why, pwhy);
		dom_refresh_failed(d, "sts-policy-invalid", full);
		return;
	}
	snprintf(np->id, sizeof(np->id), "%s", d->txt_id);
	np->fetched = (long long)time(NULL);
	d->pol = *np;
	free(np);
	d->have = true;
	d->failed_id[0] = '\0';
	if (smtpc_sts_cache_store(d->st->cfg, d->domain, &d->pol, &err) < 0)
		diag_warnx("MTA-STS %s: cache not written: %s", d->domain, err.msg);
	dom_finish(d, true, NULL, NULL, "fetched");
}

static void
start_fetch(struct sts_dom *d)
{
	const char *a[2 * STS_MAX_ADDRS];
	char why[300];

	if (d->naddrs == 0) {
		snprintf(why, sizeof(why), "mta-sts.%s has no address", d->domain);
		dom_refresh_failed(d, "sts-policy-fetch-error", why);
		return;
	}
	for (size_t i = 0; i < d->naddrs; i++)
		a[i] = d->addrs[i];
	d->busy = true;
	if ((d->fq = smtpc_sts_fetch(d->st->fetcher, d->domain, a, d->naddrs, on_fetch, d)) == NULL)
		dom_refresh_failed(d, "sts-policy-fetch-error", "out of memory");
}

static void
on_addr(struct sts_dom *d, int type, const struct smtpc_dns_answer *a)
{
	int af = type == RR_A ? AF_INET : AF_INET6;
	size_t want = type == RR_A ? 4 : 16, added = 0;

	for (size_t i = 0; a->rcode == 0 && i < a->n && added < STS_MAX_ADDRS; i++) {
		if ((size_t)a->len[i] != want)
			continue;
		if (inet_ntop(af, a->data[i], d->addrs[d->naddrs], sizeof(d->addrs[0])) == NULL)
			continue;
		d->naddrs++;
		added++;
	}
	if (--d->addr_pending == 0)
		start_fetch(d);
}

static void
on_a(void *arg, const struct smtpc_dns_answer *a)
{
	struct sts_dom *d = arg;

	d->aq = NULL;
	on_addr(d, RR_A, a);
}

static void
on_aaaa(void *arg, const struct smtpc_dns_answer *a)
{
	struct sts_dom *d = arg;

	d->aaaaq = NULL;
	on_addr(d, RR_AAAA, a);
}

static void
resolve_host(struct sts_dom *d)
{
	char name[300];

	snprintf(name, sizeof(name), "mta-sts.%s", d->domain);
	d->naddrs = 0;
	d->addr_pending = 2;
	d->aq = smtpc_dns_query(d->st->dns, name, RR_A, on_a, d);
	d->aaaaq = smtpc_dns_query(d->st->dns, name, RR_AAAA, on_aaaa, d);
	if (d->aq == NULL || d->aaaaq == NULL)
		dom_refresh_failed(d, "sts-policy-fetch-error", "out of memory");
}

static void
on_txt(void *arg, const struct smtpc_dns_answer *a)
{
	struct sts_dom *d = arg;
	long long now = (long long)time(NULL);
	char texts[STS_MAX_TXT][1024], why[500];
	const char *tp[STS_MAX_TXT];
	size_t tl[STS_MAX_TXT], n = 0;
	int r;

	d->txtq = NULL;
	d->txt_id[0] = '\0';
	if (a->rcode != 0 && !a->nxdomain) {
		snprintf(why, sizeof(why), "TXT _mta-sts.%s: %s", d->domain, a->why ? a->why :
		    "lookup failed");
		dom_finish(d, valid_now(d, now), NULL, why, valid_now(d, now) ?
		    "cached (TXT lookup failed)" : "none (TXT lookup failed)");
		return;
	}
	for (size_t i = 0; a->rcode == 0 && i < a->n && n < STS_MAX_TXT; i++) {
		if (policy_sts_txt_join(a->data[i], (size_t)a->len[i], texts[n],
		    sizeof(texts[n])) < 0)
			continue;
		tp[n] = texts[n];
		tl[n] = strlen(texts[n]);
		n++;
	}
	why[0] = '\0';
	r = policy_sts_txt_select(tp, tl, n, d->txt_id, why, sizeof(why));
	if (r <= 0) {
		/* 5.1: no record (or a broken one) does not cancel a policy */
		dom_finish(d, valid_now(d, now), NULL, r < 0 ? why : NULL, valid_now(d, now) ?
		    "cached (no usable TXT record)" : "none (no STS TXT record)");
		return;
	}
	if (valid_now(d, now) && strcmp(d->pol.id, d->txt_id) == 0 &&
	    now < d->pol.fetched + (long long)d->pol.max_age - (long long)d->pol.max_age / 4) {
		dom_finish(d, true, NULL, NULL, "cached");
		return;
	}
	if (d->failed_id[0] && strcmp(d->failed_id, d->txt_id) == 0 &&
	    now < d->failed_at + STS_RETRY_AFTER) {
		/* it failed a moment ago: the same answer, without asking again */
		if (valid_now(d, now))
			dom_finish(d, true, NULL, d->failed_why, "cached (refresh failed)");
		else
			dom_finish(d, false, d->failed_type[0] ? d->failed_type :
			    "sts-policy-fetch-error", d->failed_why, "none (fetch failed)");
		return;
	}
	resolve_host(d);
}

static struct sts_dom *
dom_get(struct smtpc_sts *st, const char *domain)
{
	struct sts_dom *d;
	struct dsmtp_err err = { "" };

	for (d = st->doms; d; d = d->next)
		if (strcasecmp(d->domain, domain) == 0)
			return d;
	if (strlen(domain) >= sizeof(d->domain) || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->st = st;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	for (char *p = d->domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	/* 5.1: a policy cached by an earlier run still holds */
	if (smtpc_sts_cache_load(st->cfg, d->domain, &d->pol, &err) == 0)
		d->have = true;
	d->disk_tried = true;
	d->next = st->doms;
	st->doms = d;
	return d;
}

struct smtpc_sts_req *
smtpc_sts_lookup(struct smtpc_sts *st, const char *domain, smtpc_sts_cb *cb, void *arg)
{
	struct sts_dom *d;
	struct smtpc_sts_req *q;
	char name[300];

	if ((d = dom_get(st, domain)) == NULL || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->dom = d;
	q->cb = cb;
	q->arg = arg;
	q->next = d->waiters;
	if (d->waiters)
		d->waiters->prev = q;
	d->waiters = q;
	if (d->busy)
		return q;
	snprintf(name, sizeof(name), "_mta-sts.%s", d->domain);
	d->busy = true;
	if ((d->txtq = smtpc_dns_query(st->dns, name, RR_TXT, on_txt, d)) == NULL) {
		d->busy = false;
		d->waiters = q->next;
		if (d->waiters)
			d->waiters->prev = NULL;
		free(q);
		return NULL;
	}
	return q;
}

void
smtpc_sts_cancel(struct smtpc_sts_req *q)
{
	if (q == NULL)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else
		q->dom->waiters = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q);
}
