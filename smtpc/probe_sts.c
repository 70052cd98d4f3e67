/* probe_sts.c: MTA-STS in dsmtp-policy's output. probe: the domain's
 * _mta-sts TXT record, its policy (looked up and cached as dsmtpc does,
 * smtpc/sts.c), the cache state and the MX hosts the policy allows.
 * explain (configuration and cache only, no network): which policy
 * decides a destination: an admin route, DANE, MTA-STS, or none. Linked
 * into dsmtp-policy (policy/policy_cmd.h); smtpc/ for dsmtpc's STS code. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "policy/policy.h"
#include "policy/policy_cmd.h"
#include "smtpc/probe.h"
#include "smtpc/smtpc.h"

struct probe_sts_wait {
	struct ev_loop		*loop;
	bool			 done;
	struct smtpc_sts_result	 r;
	char			 why[600], state[80], id[POLICY_STS_ID_MAX + 1], fail[40];
};

static void
sts_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
probe_sts_cb(void *arg, const struct smtpc_sts_result *r)
{
	struct probe_sts_wait *w = arg;

	w->r = *r;
	snprintf(w->why, sizeof(w->why), "%s", r->why ? r->why : "");
	snprintf(w->state, sizeof(w->state), "%s", r->state ? r->state : "");
	snprintf(w->id, sizeof(w->id), "%s", r->txt_id ? r->txt_id : "");
	snprintf(w->fail, sizeof(w->fail), "%s", r->fail_type ? r->fail_type : "");
	w->done = true;
	ev_break(w->loop, EVBREAK_ALL);
}

/* does MTA-STS apply to this effective destination? */
static bool
sts_applies(const struct dsmtp_config *cfg, const struct policy_effective *e)
{
	return cfg->mta_sts.enabled && e->hop.kind == HOP_MX &&
	    policy_domain_eq(e->hop.host, e->domain) &&
	    (e->level == LEVEL_OPPORTUNISTIC || e->level == LEVEL_DANE);
}

const struct policy_sts *
smtpc_probe_sts(struct smtpc *ctx, struct ev_loop *loop, const struct policy_effective *e)
{
	struct probe_sts_wait w;
	struct smtpc_sts_req *q;
	const struct policy_sts *p;
	char fetched[32], until[32];

	if (ctx->sts == NULL) {
		printf("mta-sts: not looked up (mta_sts.enabled is false)\n");
		return NULL;
	}
	if (!sts_applies(ctx->cfg, e)) {
		printf("mta-sts: not applied (only the MX set of the recipient domain at level "
		    "opportunistic or dane; this route says %s)\n", policy_level_name(e->level));
		return NULL;
	}
	memset(&w, 0, sizeof(w));
	w.loop = loop;
	if ((q = smtpc_sts_lookup(ctx->sts, e->domain, probe_sts_cb, &w)) == NULL) {
		printf("mta-sts: lookup failed (out of memory)\n");
		return NULL;
	}
	ev_run(loop, 0);
	if (!w.done) {
		smtpc_sts_cancel(q);
		printf("mta-sts: no answer\n");
		return NULL;
	}
	if (w.id[0])
		printf("mta-sts: TXT _mta-sts.%s: v=STSv1; id=%s\n", e->domain, w.id);
	else
		printf("mta-sts: TXT _mta-sts.%s: no usable STS record\n", e->domain);
	p = w.r.policy;
	if (p == NULL) {
		printf("mta-sts: no policy: %s%s%s%s%s\n", w.state, w.why[0] ? ": " : "", w.why,
		    w.fail[0] ? "; RFC 8460 result type " : "", w.fail);
		return NULL;
	}
	sts_time(p->fetched, fetched, sizeof(fetched));
	sts_time(p->fetched + (long long)p->max_age, until, sizeof(until));
	printf("mta-sts: policy id %s, mode %s, max_age %u, %s (fetched %s, expires %s)%s%s\n",
	    p->id, policy_sts_mode_name(p->mode), p->max_age, w.state, fetched, until,
	    w.why[0] ? ": " : "", w.why);
	for (size_t i = 0; i < p->nmx; i++)
		printf("mta-sts: mx pattern: %s\n", p->mx[i]);
	return p;
}

void
smtpc_probe_sts_mx(const struct policy_sts *p, const char *host)
{
	if (p == NULL)
		return;
	if (policy_sts_mx_allowed(p, host))
		printf("mta-sts: %s: allowed by the policy\n", host);
	else if (p->mode == POLICY_STS_ENFORCE)
		printf("mta-sts: %s: not allowed (mode enforce: dsmtpc skips this MX host)\n",
		    host);
	else
		printf("mta-sts: %s: not allowed (mode %s: recorded, delivered anyway)\n", host,
		    policy_sts_mode_name(p->mode));
}

void
smtpc_probe_explain_decider(const struct dsmtp_config *cfg, const struct policy_effective *e)
{
	struct policy_sts p;
	struct dsmtp_err err = { "" };
	bool sts = sts_applies(cfg, e);
	char until[32];

	if (e->hop.kind == HOP_MAILDIR || e->hop.kind == HOP_DISCARD) {
		printf("decided by: admin route (local delivery, no TLS)\n");
		return;
	}
	if (!sts) {
		if (e->level == LEVEL_DANE_ONLY || e->level == LEVEL_DANE)
			printf("decided by: DANE (level %s; MX hosts without secure TLSA records: "
			    "%s)\n", policy_level_name(e->level), e->level == LEVEL_DANE ?
			    "opportunistic" : "deferred");
		else if (e->route != NULL && (e->route->has_hop || e->route->has_tls))
			printf("decided by: admin route (send.routes[%zu]: level %s)\n",
			    e->route_index, policy_level_name(e->level));
		else if (e->level == LEVEL_OPPORTUNISTIC)
			printf("decided by: none (level opportunistic%s)\n", cfg->mta_sts.enabled ?
			    "" : "; mta_sts.enabled is false");
		else
			printf("decided by: configured level (%s: %s)\n",
			    e->source == POLICY_LEVEL_FORCED ? "domain_secure.send" : "send.tls",
			    policy_level_name(e->level));
		return;
	}
	if (smtpc_sts_cache_load(cfg, e->domain, &p, &err) == 0 &&
	    !policy_sts_expired(&p, (long long)time(NULL))) {
		sts_time(p.fetched + (long long)p.max_age, until, sizeof(until));
		printf("decided by: %sMTA-STS (cached policy id %s, mode %s, until %s)\n",
		    e->level == LEVEL_DANE ? "DANE for MX hosts with secure usable TLSA records, "
		    "else " : "", p.id, policy_sts_mode_name(p.mode), until);
		for (size_t i = 0; i < p.nmx; i++)
			printf("mta-sts: mx pattern: %s\n", p.mx[i]);
	} else
		printf("decided by: %sMTA-STS if %s publishes a policy (none cached; "
		    "dsmtp-policy probe %s looks it up), else none\n", e->level == LEVEL_DANE ?
		    "DANE for MX hosts with secure usable TLSA records, else " : "", e->domain,
		    e->domain);
}
