/* sts_log.c: what dsmtpc's sessions do with an MTA-STS policy (RFC 8461
 * 4 and 5, DESIGN.md 13.2) besides the verdict (policy/sts.c): which
 * destinations get one, the MX hosts mode enforce leaves out, and the
 * protocol-log records: "MTA-STS" (the policy applied); the failures'
 * RFC 8460 result types go into the one "TLS result" record per attempt
 * (smtpc/tlsrpt.c), from which TLS reports are counted. */
#include "autoconfig.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "common/conn.h"
#include "common/diag.h"
#include "logs/plog.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

bool
smtpc_sts_wanted(const struct smtpc *ctx, const struct smtpc_dest *d)
{
	/* "the MX set of the recipient domain": no next_hop, or the domain
	 * itself (D or D:PORT) as next_hop */
	/* RFC 8689 5: "TLS-Required: No" ignores MTA-STS */
	return ctx->sts != NULL && ctx->probe == NULL && d->hop.kind == HOP_MX &&
	    !(d->mode & SMTPC_DEST_TLS_OPTIONAL) &&
	    d->domain[0] != '\0' && policy_domain_eq(d->hop.host, d->domain) &&
	    (d->level == LEVEL_OPPORTUNISTIC || d->level == LEVEL_DANE);
}

const char *
smtpc_sts_on_connect(struct smtpc *ctx, struct plog_session *log, const struct smtpc_dest *d,
    const struct smtpc_target *t, const struct policy_sts *p, const char *lookup_fail)
{
	if (p == NULL)
		return lookup_fail;
	plog_info(ctx->plog, log, "MTA-STS", "policy-domain=%s; id=%s; mode=%s; max_age=%u; "
	    "mx-allowed=%s%s", d->hop.host, p->id, policy_sts_mode_name(p->mode), p->max_age,
	    p->mode == POLICY_STS_NONE || policy_sts_mx_allowed(p, t->host) ? "yes" : "no",
	    t->dane == POLICY_DANE_USABLE ? "; dane-usable: DANE applies instead" : "");
	/* testing: the MX host is used anyway, the mismatch goes on record */
	if (lookup_fail)
		return lookup_fail;
	if (p->mode == POLICY_STS_TESTING && t->dane != POLICY_DANE_USABLE &&
	    !policy_sts_mx_allowed(p, t->host))
		return "validation-failure";
	return NULL;
}

bool
smtpc_sts_skip(struct smtpc *ctx, uint64_t id, const struct smtpc_dest *d,
    const struct smtpc_target *t, const struct policy_sts *p, char *why, size_t whylen)
{
	struct plog_session log;
	char a[80];

	if (p == NULL || p->mode != POLICY_STS_ENFORCE || t->dane == POLICY_DANE_USABLE ||
	    policy_sts_mx_allowed(p, t->host))
		return false;
	snprintf(why, whylen, "MTA-STS: MX host %s is not allowed by the policy of %s "
	    "(mode enforce, id %s)", t->host, d->hop.host, p->id);
	/* a session of '*' records and a '-' without a '+', as a DANE host
	 * given up before connecting */
	memset(&log, 0, sizeof(log));
	log.id = id;
	snprintf(log.connector, sizeof(log.connector), "dsmtpc %.55s", d->hop.host);
	snprintf(log.local, sizeof(log.local), "-");
	conn_format_addr(&t->ss, a, sizeof(a));
	snprintf(log.remote, sizeof(log.remote), "%.63s", a);
	plog_begin(&log);
	plog_info(ctx->plog, &log, "Next hop", "host=%s; level=%s; domain=%s", t->host,
	    config_level_name(d->level), d->domain);
	plog_info(ctx->plog, &log, "MTA-STS", "policy-domain=%s; id=%s; mode=enforce; "
	    "max_age=%u; mx-allowed=no", d->hop.host, p->id, p->max_age);
	plog_policy(ctx->plog, &log, config_level_name(d->level), d->domain, false,
	    "sts: MX host not named by the MTA-STS policy (mode enforce): not used");
	tlsrpt_record(ctx->plog, &log, d, t, "validation-failure", NULL,
	    "MX host not named by the MTA-STS policy (mode enforce): not used");
	plog_disconnect(ctx->plog, &log, "MTA-STS: MX host not used, not connected");
	return true;
}
