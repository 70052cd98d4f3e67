/* dane.c: the verdict of levels dane and dane-only (RFC 7672, DESIGN.md
 * 13.1) from what DNSSEC said about the MX host and what tls/ found when it
 * matched the server's chain against the TLSA records. Owns the reason
 * words "dane:" (passed), "tlsa-mismatch:", "dane-ta-name:" and
 * "dane-insecure:". Sees no DNS and no certificates, only facts. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

static void	dane_set(struct policy_verdict *v, bool pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dane_set(struct policy_verdict *v, bool pass, const char *fmt, ...)
{
	va_list ap;

	v->pass = pass;
	if (pass)
		v->defer = false;
	va_start(ap, fmt);
	(void)vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

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
			dane_set(v, false, "dane-insecure: no secure TLSA records (level dane-only)");
			return;
		}
		/* RFC 7672 2.2: no secure TLSA RRset, so DANE does not apply */
		dane_set(v, true, "ok: TLS, peer not authenticated (level dane, no secure TLSA "
		    "records: opportunistic)");
		return;
	case POLICY_DANE_UNUSABLE:
		/* RFC 7672 3.1.3: TLS is still mandatory, but nothing can authenticate */
		dane_set(v, true, "ok: TLS, peer not authenticated (secure TLSA records, none "
		    "usable: mandatory TLS, RFC 7672 2.2)");
		return;
	case POLICY_DANE_FAILED:
		dane_set(v, false, "dnssec-invalid: TLSA lookup failed or bogus: this MX host "
		    "is not used");
		return;
	case POLICY_DANE_USABLE:
		break;
	}
	if (df == NULL || df->match < 0 || (size_t)df->match >= df->n) {
		dane_set(v, false, "tlsa-mismatch: %s", df && df->why[0] ? df->why :
		    "no usable TLSA record matches the server's chain");
		return;
	}
	if (df->depth[df->match] == 0) {
		/* DANE-EE: names and dates are not looked at (RFC 7672 3.1.1) */
		dane_set(v, true, "dane: DANE-EE record %d matched the server's certificate",
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
		dane_set(v, true, "dane: %s record %d matched at depth %d, name %.100s",
		    usage, df->match + 1, df->depth[df->match], matched);
		return;
	}
	dane_set(v, false, "dane-ta-name: %s record %d matched at depth %d, but the certificate "
	    "names neither %.100s nor %.100s (saw %.120s)", usage, df->match + 1,
	    df->depth[df->match], host, base, v->names[0] ? v->names : "no names");
}
