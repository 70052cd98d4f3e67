/* dane.c: the verdict of levels dane and dane-only (RFC 7672, DESIGN.md
 * 13.1) from what DNSSEC said about the MX host and what tls/ found when it
 * matched the server's chain against the TLSA records. Owns the reason
 * words "dane:" (passed), "tlsa-mismatch:", "dane-ta-name:" and
 * "dane-insecure:", and their RFC 8460 result types. Sees no DNS and no
 * certificates, only facts. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

const char *
policy_dane_state_name(enum policy_dane_state s)
{
	switch (s) {
	case POLICY_DANE_INSECURE:	return "no secure TLSA records";
	case POLICY_DANE_UNUSABLE:	return "secure TLSA records, none usable";
	case POLICY_DANE_USABLE:	return "secure TLSA records";
	case POLICY_DANE_FAILED:	return "TLSA lookup failed or bogus";
	}
	return "unknown";
}

/* reason word -> RFC 8460 4.3 result type; first match wins */
static const struct {
	const char	*word;
	const char	*type;
} dane_result_types[] = {
	/* 4.3.2 "tlsa-invalid": none of the records in the RRset was valid
	 * for the server's chain */
	{ "tlsa-mismatch:", "tlsa-invalid" },
	/* 4.3.2 "dnssec-invalid": no valid records from the resolver (bogus,
	 * SERVFAIL, timeout) */
	{ "dnssec-invalid:", "dnssec-invalid" },
	/* 4.3.1: the chain met the TLSA record but not the DANE constraint
	 * on names (RFC 7672 3.2.2) */
	{ "dane-ta-name:", "certificate-host-mismatch" },
	/* 4.3.2 "dane-required": mandatory DANE, no validated TLSA records */
	{ "dane-insecure:", "dane-required" },
	{ "no-tls:", "starttls-not-supported" },
};

const char *
policy_dane_result_type(const char *reason)
{
	size_t i, n;

	for (i = 0; reason != NULL && i < sizeof(dane_result_types) /
	    sizeof(dane_result_types[0]); i++) {
		n = strlen(dane_result_types[i].word);
		if (strncmp(reason, dane_result_types[i].word, n) == 0)
			return dane_result_types[i].type;
	}
	/* 4.3.1 "validation-failure": a failure not matched above (a handshake
	 * that failed at a DANE host, ...) */
	return "validation-failure";
}

/* the TLS handshake is done; judge it by the MX host's TLSA state */
void
policy_judge_dane(const struct policy_dest *d, const struct tls_session_facts *f,
    struct policy_verdict *v)
{
	const struct tls_dane_facts *df = d->dane_facts;
	char host[128], base[128], matched[256];
	const char *usage;

	v->defer = policy_dest_requires_tls(d);
	v->plaintext = false;
	switch (d->dane) {
	case POLICY_DANE_INSECURE:
		if (d->level == LEVEL_DANE_ONLY) {
			policy_verdict_set(v, false, "dane-insecure: no secure TLSA records (level dane-only)");
			return;
		}
		/* RFC 7672 2.2: no secure TLSA RRset, so DANE does not apply */
		policy_verdict_set(v, true, "ok: TLS, peer not authenticated (level dane, no secure TLSA "
		    "records: opportunistic)");
		return;
	case POLICY_DANE_UNUSABLE:
		/* RFC 7672 3.1.3: TLS is still mandatory, but nothing can authenticate */
		policy_verdict_set(v, true, "ok: TLS, peer not authenticated (secure TLSA records, none "
		    "usable: mandatory TLS, RFC 7672 2.2)");
		return;
	case POLICY_DANE_FAILED:
		policy_verdict_set(v, false, "dnssec-invalid: TLSA lookup failed or bogus: this MX host "
		    "is not used");
		return;
	case POLICY_DANE_USABLE:
		break;
	}
	if (df == NULL || df->match < 0 || (size_t)df->match >= df->n) {
		policy_verdict_set(v, false, "tlsa-mismatch: %s", df && df->why[0] ? df->why :
		    "no usable TLSA record matches the server's chain");
		return;
	}
	if (df->depth[df->match] == 0) {
		/* DANE-EE: names and dates are not looked at (RFC 7672 3.1.1) */
		policy_verdict_set(v, true, "dane: DANE-EE record %d matched the server's certificate",
		    df->match + 1);
		return;
	}
	/* DANE-TA(2): the leaf must name the MX host, or the TLSA base domain
	 * after CNAME expansion (RFC 7672 3.2.2) */
	usage = "DANE-TA";
	policy_printable(d->hostname ? d->hostname : "(none)", host, sizeof(host));
	policy_printable(d->dane_base ? d->dane_base : "(none)", base, sizeof(base));
	if (f != NULL && f->peer.present &&
	    ((d->hostname && policy_cert_matches_host(&f->peer.leaf, d->hostname, matched,
	    sizeof(matched))) ||
	    (d->dane_base && policy_cert_matches_host(&f->peer.leaf, d->dane_base, matched,
	    sizeof(matched))))) {
		policy_verdict_set(v, true, "dane: %s record %d matched at depth %d, name %.100s",
		    usage, df->match + 1, df->depth[df->match], matched);
		return;
	}
	policy_verdict_set(v, false, "dane-ta-name: %s record %d matched at depth %d, but the certificate "
	    "names neither %.100s nor %.100s (saw %.120s)", usage, df->match + 1,
	    df->depth[df->match], host, base, v->names[0] ? v->names : "no names");
}
