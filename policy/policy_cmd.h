/* policy_cmd.h: the dsmtp-policy commands policy_main.c dispatches to but
 * does not hold: the memory part of explain (explain_memory.c), and the
 * two that drive dsmtpc's engine and read its MTA-STS cache, so live in
 * smtpc/ and are linked into dsmtp-policy from there: probe
 * (smtpc/probe.c) and explain's "decided by" line (smtpc/probe_sts.c).
 * The dependency points one way: smtpc/ includes this header, nothing in
 * policy/ includes smtpc/. Not part of libpolicy.a. */
#ifndef DSMTP_POLICY_CMD_H
#define DSMTP_POLICY_CMD_H

#include "common/config.h"
#include "policy/policy.h"

/* smtpc/probe.c: dsmtp-policy probe DOMAIN | [HOST]:PORT [--level L]:
 * connect as dsmtpc would, show the chain, DNSSEC, TLSA and MTA-STS facts
 * and the verdict of every level; sends no mail. An exit status. */
int smtpc_probe_cmd(int argc, char **argv, const char *config_path);

/* smtpc/probe_sts.c: which policy decides the destination e: an admin
 * route, DANE, MTA-STS (from dsmtpc's cache; no network) or none */
void smtpc_probe_explain_decider(const struct dsmtp_config *cfg,
    const struct policy_effective *e);

/* explain_memory.c: what the security memory holds for domain */
void policy_explain_memory(const struct dsmtp_config *cfg, const char *domain,
    enum dsmtp_level level);

#endif
