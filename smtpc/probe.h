/* probe.h: between smtpc/probe.c (dsmtp-policy probe) and
 * smtpc/probe_sts.c (its MTA-STS lines); dsmtp-policy's entry points are
 * in policy/policy_cmd.h. */
#ifndef DSMTP_SMTPC_PROBE_H
#define DSMTP_SMTPC_PROBE_H

#include "policy/policy.h"
#include "smtpc/smtpc.h"

/* the domain's MTA-STS policy, looked up and cached as dsmtpc does, its
 * lines printed; NULL when none applies or none was found */
const struct policy_sts *smtpc_probe_sts(struct smtpc *ctx, struct ev_loop *loop,
    const struct policy_effective *e);
/* whether p (may be NULL: nothing printed) allows the MX host */
void smtpc_probe_sts_mx(const struct policy_sts *p, const char *host);

#endif
