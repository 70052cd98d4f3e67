/* requiretls.c: RFC 8689 REQUIRETLS and "TLS-Required: No" on the send
 * side, and the per-domain security memory's check and learning (see
 * requiretls.h; the store is common/secmem.c). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/secmem.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "policy/policy.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"

unsigned
smtpc_rt_dest_mode(unsigned spool_flags)
{
	if (spool_flags & (SPOOL_F_REQUIRETLS | SPOOL_F_REQUIRETLS_DSN))
		return SMTPC_DEST_REQUIRETLS;
	if (spool_flags & SPOOL_F_TLS_OPTIONAL)
		return SMTPC_DEST_TLS_OPTIONAL;
	return 0;
}

enum dsmtp_level
smtpc_rt_dest_level(enum dsmtp_level level, unsigned mode)
{
	if (mode & SMTPC_DEST_REQUIRETLS) {
		if (level == LEVEL_NONE || level == LEVEL_OPPORTUNISTIC || level == LEVEL_MANDATORY)
			return LEVEL_DANE;
		return level;
	}
	if ((mode & SMTPC_DEST_TLS_OPTIONAL) && level == LEVEL_DANE)
		return LEVEL_OPPORTUNISTIC;
	return level;
}

const char *
smtpc_rt_tls_auth(const struct dsmtp_config *cfg, const struct policy_dest *pd,
    const struct tls_session_facts *f, const struct policy_verdict *v)
{
	struct policy_dest vd;
	struct policy_verdict vv;

	if (v->pass && policy_level_dane(pd->level) && pd->dane == POLICY_DANE_USABLE)
		return "dane";
	if (v->pass && (pd->level == LEVEL_PINNED ||
	    (pd->level == LEVEL_DOMAIN_SECURE && v->pin[0] && strcmp(v->pin, "none") != 0)))
		return "pin";
	if (v->pass && (pd->level == LEVEL_VERIFY || pd->level == LEVEL_DOMAIN_SECURE))
		return "pkix";
	/* an enforced MTA-STS policy passed: chain and MX name (RFC 8461 4) */
	if (v->pass && policy_dest_sts(pd) && pd->sts->mode == POLICY_STS_ENFORCE &&
	    v->sts_result == NULL)
		return "sts";
	/* on any other route: would it have passed verify? */
	if (pd->hostname == NULL || f == NULL)
		return NULL;
	vd = *pd;
	vd.level = LEVEL_VERIFY;
	vd.dane = POLICY_DANE_INSECURE;
	vd.dane_base = NULL;
	vd.dane_facts = NULL;
	policy_judge_send(cfg, &vd, true, f, &vv);
	return vv.pass ? "pkix" : NULL;
}

bool
smtpc_rt_eligible(enum dsmtp_level level, bool tls, const char *auth, bool sts_enforced,
    char *why, size_t wl)
{
	if (!tls) {
		snprintf(why, wl, "the connection to the next hop is not encrypted");
		return false;
	}
	switch (level) {
	case LEVEL_VERIFY:
	case LEVEL_DOMAIN_SECURE:
	case LEVEL_PINNED:
	case LEVEL_DANE_ONLY:
		/* the route's verdict passed, or we would not be here */
		snprintf(why, wl, "route level %s", config_level_name(level));
		return true;
	default:
		break;
	}
	if (auth != NULL && strcmp(auth, "dane") == 0) {
		snprintf(why, wl, "DANE (DNSSEC-signed TLSA records)");
		return true;
	}
	if (sts_enforced && auth != NULL && (strcmp(auth, "sts") == 0 ||
	    strcmp(auth, "pkix") == 0)) {
		snprintf(why, wl, "enforced MTA-STS policy");
		return true;
	}
	snprintf(why, wl, "the next hop was not found through DNSSEC with DANE or an enforced "
	    "MTA-STS policy, and route level %s is below verify", config_level_name(level));
	return false;
}

/* the ASCII domain of a recipient, lower-cased, or "" */
static void
rcpt_domain(const char *addr, char *out, size_t outlen)
{
	char a[600];
	const char *at;

	out[0] = '\0';
	if (addr_mailbox_to_ascii(addr, a, sizeof(a), NULL) < 0)
		snprintf(a, sizeof(a), "%s", addr);
	if ((at = strrchr(a, '@')) == NULL)
		return;
	snprintf(out, outlen, "%s", at + 1);
	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

static void
set_res(struct smtpc_job *j, size_t i, enum smtpc_status st, const char *status,
    const char *text, const char *mta)
{
	struct smtpc_result *r = &j->res[i];

	r->done = true;
	r->st = st;
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->text, sizeof(r->text), "%s", text);
	snprintf(r->mta, sizeof(r->mta), "%s", mta ? mta : "");
}

/* one recipient for the memory: its domain and index in the job */
struct mem_rcpt {
	char	 dom[256];
	size_t	 i;
};

static int
mem_rcpt_cmp(const void *a, const void *b)
{
	const struct mem_rcpt *x = a, *y = b;
	int c = strcmp(x->dom, y->dom);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* the memory for one domain (recipients r[0..n-1]): check, else learn */
static void
memory_domain(const struct smtpc_rt_view *v, struct smtpc_job *j, const struct mem_rcpt *r,
    size_t n, enum secmem_level lvl, int64_t now)
{
	const char *dom = r[0].dom;
	char reason[600], text[700];
	struct dsmtp_err err;
	int rc;

	if (!(j->flags & SPOOL_F_TLS_OPTIONAL) &&
	    (rc = secmem_below(v->cfg, dom, lvl, reason, sizeof(reason), &err)) != 0) {
		if (rc < 0)
			snprintf(reason, sizeof(reason), "%s", err.msg);
		snprintf(text, sizeof(text), "451 4.7.5 %s", reason);
		for (size_t k = 0; k < n; k++)
			set_res(j, r[k].i, SMTPC_TEMP, "4.7.5", text, v->peer);
		if (v->plog) {
			char cause[160];

			secmem_cause(v->cfg, dom, lvl, cause, sizeof(cause));
			plog_policy(v->plog, v->log, "memory", dom, false, cause);
			plog_info(v->plog, v->log, "Security memory", "domain=%s; %s", dom, reason);
		}
		diag_info("%s: %zu recipient(s) at %s deferred: %s", v->peer, n, dom, reason);
		return;
	}
	if (lvl == SECMEM_PLAINTEXT)
		return;
	rc = secmem_learn(v->cfg, dom, lvl, v->auth, v->host, now, &err);
	if (rc < 0)
		diag_warnx("%s", err.msg);
	else if (rc > 0 && v->plog) {
		char desc[64];

		secmem_describe(lvl, v->auth, desc, sizeof(desc));
		plog_info(v->plog, v->log, "Security memory", "domain=%s; learnt=%s", dom, desc);
	}
}

/* every recipient's domain once (sorted, so a job of many recipients
 * costs one look-up per domain, not one per recipient) */
static void
gate_memory(const struct smtpc_rt_view *v, struct smtpc_job *j)
{
	enum secmem_level lvl = !v->tls ? SECMEM_PLAINTEXT : v->auth ? SECMEM_AUTH : SECMEM_TLS;
	int64_t now = (int64_t)time(NULL);
	struct mem_rcpt *r;
	size_t n = 0;

	if (j->nrcpts == 0)
		return;
	if ((r = calloc(j->nrcpts, sizeof(*r))) == NULL) {
		for (size_t i = 0; i < j->nrcpts; i++)
			if (!j->res[i].done)
				set_res(j, i, SMTPC_TEMP, "4.3.0",
				    "451 4.3.0 out of memory checking the security memory", v->peer);
		return;
	}
	for (size_t i = 0; i < j->nrcpts; i++) {
		if (j->res[i].done)
			continue;
		rcpt_domain(j->rcpts[i], r[n].dom, sizeof(r[n].dom));
		if (!secmem_domain_valid(r[n].dom))
			continue;	/* an address literal, or no usable name: no memory */
		r[n++].i = i;
	}
	if (n > 1)
		qsort(r, n, sizeof(*r), mem_rcpt_cmp);
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && strcmp(r[b].dom, r[a].dom) == 0; b++)
			;
		memory_domain(v, j, r + a, b - a, lvl, now);
	}
	free(r);
}

void
smtpc_rt_gate(const struct smtpc_rt_view *v, struct smtpc_job *j)
{
	char why[300], text[500];
	bool ok;

	j->mail_requiretls = false;
	if (v->memory)
		gate_memory(v, j);
	if (!(j->flags & (SPOOL_F_REQUIRETLS | SPOOL_F_REQUIRETLS_DSN)))
		return;
	ok = smtpc_rt_eligible(v->level, v->tls, v->auth, v->sts_enforced, why, sizeof(why));
	if (ok && !(v->mode & SMTPC_DEST_REQUIRETLS)) {
		ok = false;
		snprintf(why, sizeof(why), "the connection was not opened for REQUIRETLS");
	}
	if (ok && !v->requiretls_offered) {
		ok = false;
		snprintf(why, sizeof(why), "the next hop %s does not support REQUIRETLS", v->host);
	}
	if (ok) {
		j->mail_requiretls = true;
		if (v->plog)
			plog_info(v->plog, v->log, "REQUIRETLS", "result=pass; reason=%s", why);
		return;
	}
	if (j->flags & SPOOL_F_REQUIRETLS_DSN) {
		/* a DSN about a REQUIRETLS message: with REQUIRETLS where it
		 * can be, else as it is (it carries the headers only) */
		if (v->plog)
			plog_info(v->plog, v->log, "REQUIRETLS", "result=dsn-without; reason=%s",
			    why);
		return;
	}
	snprintf(text, sizeof(text), "550 5.7.30 REQUIRETLS support required: %s", why);
	for (size_t i = 0; i < j->nrcpts; i++)
		if (!j->res[i].done)
			set_res(j, i, SMTPC_PERM, "5.7.30", text, v->peer);
	if (v->plog)
		plog_policy(v->plog, v->log, "requiretls", "-", false, !v->tls ? "no TLS" :
		    !(v->mode & SMTPC_DEST_REQUIRETLS) ? "connection not opened for REQUIRETLS" :
		    !v->requiretls_offered && smtpc_rt_eligible(v->level, v->tls, v->auth,
		    v->sts_enforced, why, sizeof(why)) ? "next hop does not offer REQUIRETLS" :
		    "next hop not authenticated by DANE, MTA-STS or an admin route");
	diag_info("%s: REQUIRETLS message refused before MAIL: %s", v->peer, why);
}
