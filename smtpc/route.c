/* route.c: next-hop resolution over dns.c (libunbound on the libev loop),
 * so a slow DNS server never blocks a delivery. "[host]:port" is the
 * host's A/AAAA; "host" (or "host:port") is its MX set in preference order
 * (RFC 5321 5.1), each MX host's A/AAAA, the host itself when it has no MX;
 * a null MX (RFC 7505) or a name that does not exist is a permanent
 * failure. For levels dane and dane-only it also finds each host's TLSA
 * records where RFC 7672 2.2 says to look: only when the MX RRset (or the
 * next hop) and the host's address records are DNSSEC-secure, at
 * _port._tcp.HOST after CNAME expansion, then at the original name. A bogus
 * answer makes that host unusable, never plaintext. Routing itself (which
 * hop, which level) is policy_effective()'s; judging is policy/'s. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define RESOLVE_MAX_MX		10	/* MX hosts tried, best first */
#define RESOLVE_MAX_ADDRS	8	/* addresses per host and family */
#define RESOLVE_MAX_TARGETS	32

#define RR_A		1
#define RR_MX		15
#define RR_AAAA		28
#define RR_TLSA		52

struct smtpc_resolver {
	struct ev_loop		*loop;
	struct smtpc_dns	*dns;
	struct smtpc_resolve_req *reqs;	/* every live request */
};

/* one query of a request, so an answer finds its request and host */
struct rq_query {
	struct smtpc_resolve_req *q;
	size_t			 slot;	/* SIZE_MAX: the MX query */
	int			 type;
	struct smtpc_dns_query	*dq;
};

struct slot {
	char			 host[256];
	unsigned		 pref;
	char			 canon[256];	/* after CNAMEs, "" when none */
	struct sockaddr_storage	 addrs[2 * RESOLVE_MAX_ADDRS];
	socklen_t		 addrlens[2 * RESOLVE_MAX_ADDRS];
	size_t			 naddrs;
	unsigned		 addr_pending;	/* A, AAAA */
	bool			 addr_insecure;	/* one address answer was not secure */
	bool			 addr_bogus;
	char			 addr_why[160];
	const char		*tlsa_sec;	/* a word for people, NULL: not asked */
	enum policy_dane_state	 dane;
	char			 tlsa_base[256];
	bool			 tlsa_retry_done;	/* the original name after the CNAME target */
	struct smtpc_tlsa	*tlsa;
	char			 dane_why[200];
	struct rq_query		 qs[3];		/* A, AAAA, TLSA */
};

struct smtpc_resolve_req {
	struct smtpc_resolver	*r;
	smtpc_resolve_cb	*cb;	/* NULL once cancelled */
	void			*arg;
	unsigned		 pending;	/* queries not yet answered */
	uint16_t		 port;
	bool			 dane;		/* TLSA wanted */
	bool			 mx_secure;	/* the MX RRset (or the next hop) is secure */
	const char		*mx_sec;	/* the MX RRset's status, a word for people */
	char			 name[256];
	struct slot		 slots[RESOLVE_MAX_MX];
	size_t			 nslots;
	struct rq_query		 mxq;
	struct smtpc_target	*t;
	size_t			 n;
	enum smtpc_status	 st;	/* the worst address lookup failure */
	char			 why[256];
	bool			 finishing;
	ev_timer		 deliver;	/* cb runs from the loop, never inside smtpc_resolve */
	struct smtpc_resolve_req *next, *prev;
};

static void	req_free(struct smtpc_resolve_req *q);
static void	req_finish(struct smtpc_resolve_req *q);
static void	lookup_addrs(struct smtpc_resolve_req *q, size_t slot);
static void	lookup_tlsa(struct smtpc_resolve_req *q, size_t slot, const char *base);
static smtpc_dns_cb answer_cb;

struct smtpc_resolver *
smtpc_resolver_new(struct ev_loop *loop, const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	struct smtpc_resolver *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	r->loop = loop;
	if ((r->dns = smtpc_dns_new(loop, cfg, err)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* the resolver's DNS handle, for other lookups on the same loop (MTA-STS) */
struct smtpc_dns *
smtpc_resolver_dns(struct smtpc_resolver *r)
{
	return r->dns;
}

void
smtpc_resolver_free(struct smtpc_resolver *r)
{
	if (r == NULL)
		return;
	/* requests left were cancelled by their sessions */
	while (r->reqs)
		req_free(r->reqs);
	smtpc_dns_free(r->dns);
	free(r);
}

/* ---- TLSA sets ---- */

static void
tlsa_unref(struct smtpc_tlsa *ts)
{
	if (ts == NULL || --ts->refs > 0)
		return;
	for (size_t i = 0; i < ts->n; i++)
		tls_dane_rr_free(&ts->rr[i]);
	free(ts);
}

void
smtpc_targets_hold(struct smtpc_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].tlsa)
			t[i].tlsa->refs++;
}

void
smtpc_targets_release(struct smtpc_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tlsa_unref(t[i].tlsa);
		t[i].tlsa = NULL;
	}
}

/* ---- requests ---- */

static void
query_cancel(struct rq_query *rq)
{
	if (rq->dq) {
		smtpc_dns_cancel(rq->dq);
		rq->dq = NULL;
	}
}

static void
req_free(struct smtpc_resolve_req *q)
{
	struct smtpc_resolver *r = q->r;

	ev_timer_stop(r->loop, &q->deliver);
	query_cancel(&q->mxq);
	for (size_t i = 0; i < RESOLVE_MAX_MX; i++) {
		for (size_t k = 0; k < 3; k++)
			query_cancel(&q->slots[i].qs[k]);
		tlsa_unref(q->slots[i].tlsa);
	}
	if (q->prev)
		q->prev->next = q->next;
	else
		r->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->t)
		smtpc_targets_release(q->t, q->n);
	free(q->t);
	free(q);
}

/* the answer, from the loop */
static void
deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpc_resolve_req *q = w->data;

	(void)loop;
	(void)revents;
	if (q->cb) {
		if (q->n > 0)
			q->cb(q->arg, SMTPC_OK, "", q->t, q->n);
		else
			q->cb(q->arg, q->st == SMTPC_OK ? SMTPC_TEMP : q->st,
			    q->why[0] ? q->why : "no address found", NULL, 0);
	}
	req_free(q);
}

/* what: "Host or domain name not found", "address lookup failed", ... */
static void
req_fail(struct smtpc_resolve_req *q, enum smtpc_status st, const char *what, const char *name,
    const char *detail)
{
	/* a permanent reason only wins when nothing temporary happened */
	if (q->st == SMTPC_TEMP && st == SMTPC_PERM)
		return;
	q->st = st;
	snprintf(q->why, sizeof(q->why), "%.60s: %.120s (%.60s)", what, name, detail);
}

/* start a query; false when it could not be sent (the request notes why) */
static bool
query_start(struct smtpc_resolve_req *q, struct rq_query *rq, size_t slot, int type,
    const char *name)
{
	rq->q = q;
	rq->slot = slot;
	rq->type = type;
	q->pending++;
	if ((rq->dq = smtpc_dns_query(q->r->dns, name, type, answer_cb, rq)) == NULL) {
		q->pending--;
		req_fail(q, SMTPC_TEMP, "DNS query failed", name, "resolver unavailable");
		return false;
	}
	return true;
}

/* every target of the hosts, in preference then host order */
static void
build_targets(struct smtpc_resolve_req *q)
{
	for (size_t i = 0; i < q->nslots; i++) {
		struct slot *sl = &q->slots[i];
		unsigned char tmp[16];

		for (size_t k = 0; k < sl->naddrs && q->n < RESOLVE_MAX_TARGETS; k++) {
			struct smtpc_target *t = &q->t[q->n++];

			memset(t, 0, sizeof(*t));
			snprintf(t->host, sizeof(t->host), "%s", sl->host);
			t->literal = inet_pton(AF_INET, sl->host, tmp) == 1 ||
			    inet_pton(AF_INET6, sl->host, tmp) == 1;
			memcpy(&t->ss, &sl->addrs[k], sl->addrlens[k]);
			t->sslen = sl->addrlens[k];
			t->pref = sl->pref;
			t->dane = sl->dane;
			snprintf(t->tlsa_base, sizeof(t->tlsa_base), "%s", sl->tlsa_base);
			snprintf(t->dane_why, sizeof(t->dane_why), "%s", sl->dane_why);
			t->tlsa = sl->tlsa;
			if (t->tlsa)
				t->tlsa->refs++;
			t->mx_sec = q->mx_sec ? q->mx_sec : "not looked up";
			t->addr_sec = t->literal ? "none: an address literal" : sl->addr_bogus ?
			    "bogus" : sl->addr_insecure ? "insecure" : "secure";
			t->tlsa_sec = sl->tlsa_sec ? sl->tlsa_sec : !q->dane ?
			    "not looked up (no DANE level)" : t->literal ? "not looked up (an address "
			    "literal)" : "not looked up (MX or address records not secure)";
			if (t->ss.ss_family == AF_INET)
				((struct sockaddr_in *)&t->ss)->sin_port = htons(q->port);
			else
				((struct sockaddr_in6 *)&t->ss)->sin6_port = htons(q->port);
		}
	}
}

/* every lookup answered: build, and answer from the loop */
static void
req_finish(struct smtpc_resolve_req *q)
{
	if (q->pending > 0 || q->finishing)
		return;
	q->finishing = true;
	build_targets(q);
	ev_timer_set(&q->deliver, 0., 0.);
	ev_timer_start(q->r->loop, &q->deliver);
}

/* a domain name in wire format (uncompressed, as libunbound gives rdata)
 * into text, lower case, no trailing dot; "." for the root. Bytes that no
 * host name has are refused. Returns the octets used, or 0. */
static size_t
wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t pos = 0, o = 0;

	if (outlen < 2)
		return 0;
	while (pos < len) {
		size_t l = p[pos++];

		if (l == 0) {
			if (o == 0)
				out[o++] = '.';
			out[o] = '\0';
			return pos;
		}
		if (l > 63 || pos + l > len || o + l + 2 > outlen)
			return 0;	/* a compression pointer, or too long */
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = p[pos + i];

			if (!isalnum(c) && c != '-' && c != '_')
				return 0;
			out[o++] = (char)tolower(c);
		}
		pos += l;
	}
	return 0;
}

/* a name in text, without the trailing dot libunbound's canonname has */
static void
name_copy(char *out, size_t outlen, const char *in)
{
	size_t l;

	snprintf(out, outlen, "%s", in);
	l = strlen(out);
	if (l > 1 && out[l - 1] == '.')
		out[l - 1] = '\0';
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static int
cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref ? 1 : 0;
}

/* the MX RRset is known */
static void
on_mx(struct smtpc_resolve_req *q, const struct smtpc_dns_answer *a)
{
	bool null_mx = false;

	if (a->rcode != 0 && a->rcode != 3) {
		req_fail(q, SMTPC_TEMP, "MX lookup failed", q->name, a->why ? a->why : "error");
		return;
	}
	if (a->sec == SMTPC_DNS_BOGUS) {
		req_fail(q, SMTPC_TEMP, "MX lookup failed", q->name, a->why ? a->why :
		    "DNSSEC bogus");
		return;
	}
	if (a->rcode == 3) {
		req_fail(q, SMTPC_PERM, "Host or domain name not found", q->name, "NXDOMAIN");
		return;
	}
	/* RFC 7672 2.2.1: MX host names from an insecure RRset could be forged:
	 * no TLSA lookups under them */
	q->mx_secure = a->sec == SMTPC_DNS_SECURE;
	q->mx_sec = q->mx_secure ? "secure" : "insecure";
	for (size_t i = 0; i < a->n && q->nslots < RESOLVE_MAX_MX; i++) {
		struct slot *sl = &q->slots[q->nslots];

		if (a->len[i] < 3 || wire_name(a->data[i] + 2, (size_t)a->len[i] - 2, sl->host,
		    sizeof(sl->host)) == 0)
			continue;	/* malformed: as if absent */
		/* RFC 7505: "MX 0 ." says the domain accepts no mail */
		if (strcmp(sl->host, ".") == 0) {
			null_mx = true;
			continue;
		}
		sl->pref = ((unsigned)a->data[i][0] << 8) | a->data[i][1];
		q->nslots++;
	}
	if (q->nslots == 0 && null_mx) {
		q->st = SMTPC_PERM;
		snprintf(q->why, sizeof(q->why), "%.150s publishes a null MX (RFC 7505): it accepts "
		    "no mail", q->name);
		return;
	}
	if (q->nslots == 0) {
		/* RFC 5321 5.1: no MX, the name itself is the implicit MX */
		memset(&q->slots[0], 0, sizeof(q->slots[0]));
		snprintf(q->slots[0].host, sizeof(q->slots[0].host), "%s", q->name);
		q->nslots = 1;
	}
	qsort(q->slots, q->nslots, sizeof(q->slots[0]), cmp_slot);
	for (size_t i = 0; i < q->nslots; i++)
		lookup_addrs(q, i);
}

/* one address answer of a host */
static void
on_addr(struct smtpc_resolve_req *q, struct slot *sl, int type, const struct smtpc_dns_answer *a)
{
	int family = type == RR_A ? AF_INET : AF_INET6;
	size_t alen = type == RR_A ? 4 : 16, added = 0;

	sl->addr_pending--;
	if (a->sec == SMTPC_DNS_BOGUS) {
		sl->addr_bogus = true;
		snprintf(sl->addr_why, sizeof(sl->addr_why), "%.150s", a->why ? a->why :
		    "DNSSEC bogus");
	} else if (a->sec != SMTPC_DNS_SECURE)
		sl->addr_insecure = true;
	if (a->rcode == 0 && a->sec != SMTPC_DNS_BOGUS) {
		for (size_t i = 0; i < a->n && added < RESOLVE_MAX_ADDRS; i++) {
			struct sockaddr_storage *ss = &sl->addrs[sl->naddrs];

			if ((size_t)a->len[i] != alen || sl->naddrs >= 2 * RESOLVE_MAX_ADDRS)
				continue;
			memset(ss, 0, sizeof(*ss));
			if (family == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)ss;

				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, a->data[i], 4);
				sl->addrlens[sl->naddrs] = sizeof(*sin);
			} else {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, a->data[i], 16);
				sl->addrlens[sl->naddrs] = sizeof(*sin6);
			}
			sl->naddrs++;
			added++;
		}
		if (a->canon && a->n > 0)
			name_copy(sl->canon, sizeof(sl->canon), a->canon);
	} else if (a->rcode == 3)
		req_fail(q, SMTPC_PERM, "Host or domain name not found", sl->host, "NXDOMAIN");
	else
		req_fail(q, SMTPC_TEMP, "address lookup failed", sl->host, a->why ? a->why :
		    a->sec == SMTPC_DNS_BOGUS ? "DNSSEC bogus" : "error");
	if (sl->addr_pending > 0)
		return;
	/* both families answered: DANE needs the whole path secure */
	if (!q->dane || sl->naddrs == 0)
		return;
	if (sl->addr_bogus) {
		char why[sizeof(sl->dane_why)];

		sl->dane = POLICY_DANE_FAILED;
		snprintf(why, sizeof(why), "address records of %.100s are bogus (%.60s)", sl->host,
		    sl->addr_why);
		memcpy(sl->dane_why, why, sizeof(why));
		return;
	}
	if (!q->mx_secure || sl->addr_insecure) {
		sl->dane = POLICY_DANE_INSECURE;
		return;
	}
	/* RFC 7672 2.2.2: the CNAME-expanded name first */
	lookup_tlsa(q, (size_t)(sl - q->slots), sl->canon[0] && strcmp(sl->canon, sl->host) != 0 ?
	    sl->canon : sl->host);
}

/* the TLSA RRset of a host */
static void
on_tlsa(struct smtpc_resolve_req *q, struct slot *sl, const struct smtpc_dns_answer *a)
{
	struct smtpc_tlsa *ts;
	size_t usable = 0;

	if (a->rcode == -1 || a->rcode == 2 || (a->rcode != 0 && a->rcode != 3) ||
	    a->sec == SMTPC_DNS_BOGUS) {
		/* RFC 7672 2.2: a failed or bogus TLSA lookup: the host is unusable */
		char why[sizeof(sl->dane_why)];

		sl->dane = POLICY_DANE_FAILED;
		sl->tlsa_sec = a->sec == SMTPC_DNS_BOGUS ? "bogus" : "failed";
		snprintf(why, sizeof(why), "TLSA lookup at _%u._tcp.%.100s %s (%.50s)",
		    (unsigned)q->port, sl->tlsa_base, a->sec == SMTPC_DNS_BOGUS ? "is DNSSEC bogus" :
		    "failed", a->why ? a->why : "error");
		memcpy(sl->dane_why, why, sizeof(why));
		return;
	}
	if (a->sec != SMTPC_DNS_SECURE) {
		sl->dane = POLICY_DANE_INSECURE;
		sl->tlsa_sec = "insecure";
		return;
	}
	sl->tlsa_sec = a->n == 0 ? "secure, no records" : "secure";
	if (a->n == 0) {
		/* secure denial at the CNAME target: RFC 7672 2.2.2 then asks the
		 * original name */
		if (!sl->tlsa_retry_done && strcmp(sl->tlsa_base, sl->host) != 0) {
			sl->tlsa_retry_done = true;
			lookup_tlsa(q, (size_t)(sl - q->slots), sl->host);
			return;
		}
		sl->dane = POLICY_DANE_INSECURE;
		return;
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		sl->dane = POLICY_DANE_FAILED;
		snprintf(sl->dane_why, sizeof(sl->dane_why), "out of memory");
		return;
	}
	ts->refs = 1;
	for (size_t i = 0; i < a->n && ts->n < TLS_DANE_MAX_RR; i++) {
		/* malformed records are unusable, never fatal (RFC 7671 4) */
		if (a->len[i] < 0 || tls_dane_rr_parse(a->data[i], (size_t)a->len[i],
		    &ts->rr[ts->n]) < 0)
			continue;
		if (tls_dane_rr_usable(&ts->rr[ts->n]))
			usable++;
		ts->n++;
	}
	tlsa_unref(sl->tlsa);
	sl->tlsa = ts;
	sl->dane = usable > 0 ? POLICY_DANE_USABLE : POLICY_DANE_UNUSABLE;
}

/* every answer of a request arrives here */
static void
answer_cb(void *arg, const struct smtpc_dns_answer *a)
{
	struct rq_query *rq = arg;
	struct smtpc_resolve_req *q = rq->q;

	rq->dq = NULL;	/* answered: nothing left to cancel */
	q->pending--;
	if (rq->slot == SIZE_MAX)
		on_mx(q, a);
	else if (rq->type == RR_TLSA)
		on_tlsa(q, &q->slots[rq->slot], a);
	else
		on_addr(q, &q->slots[rq->slot], rq->type, a);
	req_finish(q);
}

/* A and AAAA of one host (an address literal needs no DNS) */
static void
lookup_addrs(struct smtpc_resolve_req *q, size_t slot)
{
	struct slot *sl = &q->slots[slot];
	struct sockaddr_in *sin = (struct sockaddr_in *)&sl->addrs[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sl->addrs[0];

	memset(&sl->addrs[0], 0, sizeof(sl->addrs[0]));
	if (inet_pton(AF_INET, sl->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sl->addrlens[0] = sizeof(*sin);
		sl->naddrs = 1;
		sl->dane = POLICY_DANE_INSECURE;
		return;
	}
	if (inet_pton(AF_INET6, sl->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sl->addrlens[0] = sizeof(*sin6);
		sl->naddrs = 1;
		sl->dane = POLICY_DANE_INSECURE;
		return;
	}
	/* IPv4 first: its answer fills the first targets */
	sl->addr_pending = 2;
	if (!query_start(q, &sl->qs[0], slot, RR_A, sl->host))
		sl->addr_pending--;
	if (!query_start(q, &sl->qs[1], slot, RR_AAAA, sl->host))
		sl->addr_pending--;
}

static void
lookup_tlsa(struct smtpc_resolve_req *q, size_t slot, const char *base)
{
	struct slot *sl = &q->slots[slot];
	char name[300];

	snprintf(sl->tlsa_base, sizeof(sl->tlsa_base), "%s", base);
	snprintf(name, sizeof(name), "_%u._tcp.%s", (unsigned)q->port, base);
	if (!query_start(q, &sl->qs[2], slot, RR_TLSA, name)) {
		sl->dane = POLICY_DANE_FAILED;
		snprintf(sl->dane_why, sizeof(sl->dane_why), "TLSA lookup at %.150s could not start",
		    name);
	}
}

struct smtpc_resolve_req *
smtpc_resolve(struct smtpc_resolver *r, const struct addr_hop *hop, bool dane,
    smtpc_resolve_cb *cb, void *arg)
{
	struct smtpc_resolve_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->t = calloc(RESOLVE_MAX_TARGETS, sizeof(*q->t))) == NULL) {
		free(q);
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->dane = dane;
	q->port = hop->port ? hop->port : 25;
	snprintf(q->name, sizeof(q->name), "%s", hop->host);
	ev_init(&q->deliver, deliver_cb);
	q->deliver.data = q;
	q->next = r->reqs;
	if (r->reqs)
		r->reqs->prev = q;
	r->reqs = q;
	if (hop->kind == HOP_HOSTPORT) {
		/* no MX lookup: the next hop is as secure as its address records */
		q->mx_secure = true;
		q->mx_sec = "none: next hop host:port";
		snprintf(q->slots[0].host, sizeof(q->slots[0].host), "%s", hop->host);
		q->nslots = 1;
		lookup_addrs(q, 0);
	} else
		(void)query_start(q, &q->mxq, SIZE_MAX, RR_MX, hop->host);
	req_finish(q);
	return q;
}

void
smtpc_resolve_cancel(struct smtpc_resolve_req *q)
{
	if (q)
		q->cb = NULL;
}
