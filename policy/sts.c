/* sts.c: the MTA-STS verdict (RFC 8461 4.2, DESIGN.md 13.2) of one TLS
 * connection to an MX host of a domain with a policy: a chain to a trusted
 * CA and the MX host name among the certificate's names. Owns the reason
 * word "sts:" and the RFC 8460 result types of those failures. Facts in,
 * verdict out; the caller (dsmtpc) has already skipped MX hosts that no
 * mx: pattern allows. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

void
policy_judge_sts(const struct policy_dest *d, const struct tls_session_facts *f,
    struct policy_verdict *v)
{
	const struct tls_peer_facts *p = &f->peer;
	const char *type = NULL;
	char what[300], host[128], matched[256];
	bool enforce;

	if (!policy_dest_sts(d))
		return;
	enforce = d->sts->mode == POLICY_STS_ENFORCE;
	policy_printable(d->hostname ? d->hostname : "", host, sizeof(host));
	if (!p->present) {
		type = "certificate-not-trusted";
		snprintf(what, sizeof(what), "the server sent no certificate");
	} else if (p->chain != TLS_CHAIN_OK) {
		/* RFC 8460 4.3.1 */
		type = p->chain == TLS_CHAIN_EXPIRED || p->chain == TLS_CHAIN_NOT_YET_VALID ?
		    "certificate-expired" : "certificate-not-trusted";
		policy_printable(p->chain_reason[0] ? p->chain_reason : "not trusted", matched,
		    sizeof(matched));
		snprintf(what, sizeof(what), "chain: %.150s", matched);
	} else if (d->hostname == NULL || !policy_cert_matches_host(&p->leaf, d->hostname,
	    matched, sizeof(matched))) {
		type = "certificate-host-mismatch";
		snprintf(what, sizeof(what), "hostname-mismatch: wanted %.100s, saw %.80s", host,
		    v->names[0] ? v->names : "(none)");
	}
	if (type == NULL) {
		if (v->pass)
			policy_verdict_set(v, true, "ok: sts %s: verified chain and MX host name "
			    "%.100s", policy_sts_mode_name(d->sts->mode), host);
		return;
	}
	v->sts_result = type;
	if (enforce) {
		v->defer = true;
		v->plaintext = false;
		policy_verdict_set(v, false, "sts: MTA-STS policy of %.100s (mode enforce): %s",
		    d->domain ? d->domain : "-", what);
		v->defer = true;
	} else if (v->pass) {
		size_t n = strlen(v->reason);

		snprintf(v->reason + n, sizeof(v->reason) - n, " (sts testing: %s)", what);
	}
}
