/* tlsrpt.c: one delivery attempt's TLS outcome as an RFC 8460 event: the
 * policy it ran under (tlsrpt_policy_of) and the '*' record of context
 * "TLS result" that dsmtp-log tlsrpt and the daily reports are made of.
 * Data, every value percent-encoded (tlsrpt_list_add), lists joined by '|':
 *   result-type=T; policy-type=tlsa|sts|no-policy-found; policy-domain=D;
 *   policy-string=S1|S2; mx-host=P1|P2; sending-mta-ip=IP;
 *   receiving-mx-hostname=H; receiving-mx-helo=N; receiving-ip=IP;
 *   reason=TEXT */
#include "autoconfig.h"

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "logs/plog.h"
#include "smtpc/tlsrpt.h"

bool
tlsrpt_list_add(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(out), start = n;

	if (n > 0) {
		if (n + 1 >= outlen)
			return false;
		out[n++] = '|';
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (n + 4 > outlen) {
			out[start] = '\0';
			return false;
		}
		if (*p < '!' || *p > '~' || *p == '%' || *p == '|' || *p == ';' || *p == '=' ||
		    *p == '\\') {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		} else
			out[n++] = (char)*p;
	}
	out[n] = '\0';
	return true;
}

/* a TLSA record in presentation form, in full (RFC 8460 4.4 policy-string);
 * a very long one (a full certificate) shortened as the log does */
static void
tlsa_string(const struct tls_dane_rr *rr, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	int n;

	if (rr->len * 2 + 16 > outlen) {
		tls_dane_rr_format(rr, out, outlen);
		return;
	}
	n = snprintf(out, outlen, "%u %u %u ", rr->usage, rr->selector, rr->mtype);
	for (size_t i = 0; n > 0 && i < rr->len; i++) {
		out[n++] = hex[rr->data[i] >> 4];
		out[n++] = hex[rr->data[i] & 15];
	}
	out[n > 0 ? n : 0] = '\0';
}

void
tlsrpt_policy_of(const struct smtpc_dest *d, const struct smtpc_target *t,
    struct tlsrpt_policy *out)
{
	char rr[600];

	memset(out, 0, sizeof(*out));
	out->type = TLSRPT_NO_POLICY;
	out->domain = d->domain[0] ? d->domain : d->hop.host;
	/* RFC 8461 2: a secure TLSA RRset wins over an MTA-STS policy */
	if (t->dane == POLICY_DANE_USABLE || t->dane == POLICY_DANE_UNUSABLE) {
		out->type = TLSRPT_TLSA;
		for (size_t i = 0; t->tlsa != NULL && i < t->tlsa->n; i++) {
			tlsa_string(&t->tlsa->rr[i], rr, sizeof(rr));
			if (!tlsrpt_list_add(out->strings, sizeof(out->strings), rr))
				break;
		}
		return;
	}
	if (t->dane == POLICY_DANE_FAILED) {
		out->type = TLSRPT_TLSA;	/* dnssec-invalid: no records to show */
		return;
	}
	/* MTA-STS (RFC 8461): the policy applied to this destination, its
	 * canonical lines as policy-string, its mx: patterns as mx-host */
	if (d->sts != NULL && d->sts->mode != POLICY_STS_NONE) {
		const char *l = d->sts->text, *e;

		out->type = TLSRPT_STS;
		while (*l != '\0') {
			e = strchr(l, '\n');
			snprintf(rr, sizeof(rr), "%.*s", (int)(e ? e - l : (ptrdiff_t)strlen(l)), l);
			if (rr[0] != '\0' && !tlsrpt_list_add(out->strings, sizeof(out->strings), rr))
				break;
			l = e ? e + 1 : l + strlen(l);
		}
		for (size_t i = 0; i < d->sts->nmx; i++)
			if (!tlsrpt_list_add(out->mx, sizeof(out->mx), d->sts->mx[i]))
				break;
	}
}

/* "127.0.0.1:2525" / "[::1]:4567" -> the address; "-" unknown */
static void
endpoint_ip(const char *ep, char *out, size_t outlen)
{
	const char *e;

	if (ep[0] == '[' && (e = strchr(ep, ']')) != NULL)
		snprintf(out, outlen, "%.*s", (int)(e - ep - 1), ep + 1);
	else if ((e = strrchr(ep, ':')) != NULL && strchr(ep, ':') == e)
		snprintf(out, outlen, "%.*s", (int)(e - ep), ep);
	else
		snprintf(out, outlen, "%s", ep[0] ? ep : "-");
}

static const char *const policy_type_names[] = { "no-policy-found", "tlsa", "sts" };

void
tlsrpt_record(struct plog *pl, struct plog_session *ls, const struct smtpc_dest *d,
    const struct smtpc_target *t, const char *result_type, const char *helo,
    const char *reason)
{
	struct tlsrpt_policy p;
	char dom[600], host[800], h[800], sip[80], rip[NI_MAXHOST], rs[800];

	tlsrpt_policy_of(d, t, &p);
	/* the MTA-STS lookup itself failed: no policy to show, but reported
	 * under the STS policy type (RFC 8460 4.3.2) */
	if (strncmp(result_type, "sts-", 4) == 0)
		p.type = TLSRPT_STS;
	dom[0] = host[0] = h[0] = rs[0] = '\0';
	(void)tlsrpt_list_add(dom, sizeof(dom), p.domain);
	(void)tlsrpt_list_add(host, sizeof(host), t->host);
	(void)tlsrpt_list_add(h, sizeof(h), helo != NULL && helo[0] ? helo : "-");
	(void)tlsrpt_list_add(rs, sizeof(rs), reason != NULL && reason[0] ? reason : "-");
	endpoint_ip(ls->local, sip, sizeof(sip));
	if (getnameinfo((const struct sockaddr *)&t->ss, t->sslen, rip, sizeof(rip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(rip, sizeof(rip), "-");
	plog_info(pl, ls, "TLS result", "result-type=%s; policy-type=%s; policy-domain=%s; "
	    "policy-string=%s; mx-host=%s; sending-mta-ip=%s; receiving-mx-hostname=%s; "
	    "receiving-mx-helo=%s; receiving-ip=%s; reason=%s", result_type,
	    policy_type_names[p.type], dom, p.strings[0] ? p.strings : "-", p.mx[0] ? p.mx : "-",
	    sip, host, h, rip, rs);
}
