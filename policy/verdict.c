/* verdict.c: the per-level verdicts of DESIGN.md section 6. Send side: one
 * call before STARTTLS (is it offered?) and one after the handshake (do the
 * facts satisfy the level?). Receive side: does a sender on
 * domain_secure.receive arrive domain-secured? Owns the reason words
 * ("no-tls", "handshake-failed", "no-peer-cert", "chain", "hostname-mismatch",
 * "san-mismatch", "pin-mismatch", "no-client-cert") and the 4.7.1 replies. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

static void	verdict_init(struct policy_verdict *v, const struct policy_dest *d);

/* start from "failed closed" for levels that require TLS */
static void
verdict_init(struct policy_verdict *v, const struct policy_dest *d)
{
	memset(v, 0, sizeof(*v));
	v->defer = policy_dest_requires_tls(d);
	snprintf(v->pin, sizeof(v->pin), "none");
}

void
policy_verdict_set(struct policy_verdict *v, bool pass, const char *fmt, ...)
{
	va_list ap;

	v->pass = pass;
	if (pass)
		v->defer = false;
	va_start(ap, fmt);
	(void)vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* the status in words, kept here so policy/ links without tls/ */
static const char *
chain_status_word(enum tls_chain_status s)
{
	switch (s) {
	case TLS_CHAIN_OK:			return "ok";
	case TLS_CHAIN_NO_CERT:			return "no certificate";
	case TLS_CHAIN_EXPIRED:			return "expired";
	case TLS_CHAIN_NOT_YET_VALID:		return "not yet valid";
	case TLS_CHAIN_UNKNOWN_ISSUER:		return "unknown issuer";
	case TLS_CHAIN_BAD_SIGNATURE:		return "bad signature";
	case TLS_CHAIN_REVOKED:			return "revoked";
	case TLS_CHAIN_INSECURE_ALGORITHM:	return "insecure algorithm";
	case TLS_CHAIN_OTHER:			return "not trusted";
	}
	return "not trusted";
}

/* the chain result in words: tls/'s reason if it gave one, else the status */
static void
chain_words(const struct tls_peer_facts *p, char *out, size_t outlen)
{
	if (p->chain_reason[0] != '\0' && strcmp(p->chain_reason, "ok") != 0)
		policy_printable(p->chain_reason, out, outlen);
	else
		snprintf(out, outlen, "%s", chain_status_word(p->chain));
}

/* the references as written in the configuration, "hub,sha256/..." */
static void
pinrefs_format(const struct cfg_pinref *refs, size_t n, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + used, outlen - used, "%s%s", used ? "," : "",
		    refs[i].name ? refs[i].name : "?");

		if (w < 0 || (size_t)w >= outlen - used)
			break;
		used += (size_t)w;
	}
	if (n == 0)
		snprintf(out, outlen, "(none configured)");
}

void
policy_judge_starttls(const struct policy_dest *d, bool offered, struct policy_verdict *v)
{
	char host[128];

	/* the host name may come from DNS: make it printable before logging it */
	policy_printable(d->hostname ? d->hostname : "the next hop", host, sizeof(host));
	verdict_init(v, d);
	if (d->level == LEVEL_NONE) {
		v->plaintext = true;
		policy_verdict_set(v, true, "ok: level none, STARTTLS not used");
	} else if (offered)
		policy_verdict_set(v, true, "ok: STARTTLS offered");
	else if (!policy_dest_requires_tls(d)) {
		v->plaintext = true;
		policy_verdict_set(v, true, "no-tls: STARTTLS not offered by %.120s (opportunistic: "
		    "plaintext)", host);
	} else if (policy_dest_sts(d))
		policy_verdict_set(v, false, "no-tls: STARTTLS not offered by %.120s (MTA-STS policy "
		    "of %.100s, mode enforce: TLS required)", host, d->domain ? d->domain : "-");
	else if (policy_level_dane(d->level))
		policy_verdict_set(v, false, "no-tls: STARTTLS not offered by %.120s (level %s, %s: TLS "
		    "required, RFC 7672 2.2)", host, policy_level_name(d->level),
		    policy_dane_state_name(d->dane));
	else
		policy_verdict_set(v, false, "no-tls: STARTTLS not offered by %.120s (level %s requires "
		    "TLS)", host, policy_level_name(d->level));
	if (!offered && d->level != LEVEL_NONE && policy_dest_sts(d))
		v->sts_result = "starttls-not-supported";
}

bool
policy_cert_purpose_ok(const struct tls_cert_facts *f, bool server)
{
	if (!(f->eku & TLS_EKU_PRESENT) || (f->eku & TLS_EKU_ANY))
		return true;
	return (f->eku & (server ? TLS_EKU_SERVER : TLS_EKU_CLIENT)) != 0;
}

/* verify: a trusted chain, and the next-hop host name among the names */
static void
judge_verify(const struct policy_dest *d, const struct tls_peer_facts *p, struct policy_verdict *v)
{
	char words[160], matched[256], host[128];

	if (p->chain != TLS_CHAIN_OK) {
		chain_words(p, words, sizeof(words));
		policy_verdict_set(v, false, "chain: %s", words);
		return;
	}
	if (!policy_cert_purpose_ok(&p->leaf, true)) {
		policy_verdict_set(v, false, "wrong-purpose: the certificate's extended key usage "
		    "does not include serverAuth");
		return;
	}
	if (d->hostname == NULL || d->hostname[0] == '\0') {
		policy_verdict_set(v, false, "hostname-mismatch: no next-hop host name to verify");
		return;
	}
	if (!policy_cert_matches_host(&p->leaf, d->hostname, matched, sizeof(matched))) {
		policy_printable(d->hostname, host, sizeof(host));
		policy_verdict_set(v, false, "hostname-mismatch: wanted %.100s, saw %.120s", host, v->names);
		return;
	}
	policy_printable(d->hostname, host, sizeof(host));
	policy_verdict_set(v, true, "ok: verified chain and host name %.100s (matched %.100s)", host,
	    matched);
}

/* domain-secure: chain or pin, the recipient domain covered, our client
 * certificate presented */
static void
judge_domain_secure(const struct dsmtp_config *cfg, const struct policy_dest *d,
    const struct tls_session_facts *f, struct policy_verdict *v)
{
	const struct tls_peer_facts *p = &f->peer;
	enum ds_match mode = cfg ? cfg->domain_secure.match : DS_MATCH_EXACT;
	char words[160], matched[256], dom[128];
	bool pin_ok;

	pin_ok = policy_pins_match(cfg, d->pins, d->npins, &p->leaf, v->pin, sizeof(v->pin));
	if (p->chain != TLS_CHAIN_OK && !pin_ok) {
		chain_words(p, words, sizeof(words));
		if (d->npins > 0) {
			char refs[96];

			pinrefs_format(d->pins, d->npins, refs, sizeof(refs));
			policy_verdict_set(v, false, "chain: %s; no pin matched (saw %s, wanted %s)", words,
			    p->leaf.spki[0] ? p->leaf.spki : "no spki", refs);
		} else
			policy_verdict_set(v, false, "chain: %s", words);
		return;
	}
	if (!policy_cert_purpose_ok(&p->leaf, true)) {
		policy_verdict_set(v, false, "wrong-purpose: the certificate's extended key usage "
		    "does not include serverAuth");
		return;
	}
	policy_printable(d->domain, dom, sizeof(dom));
	if (d->domain == NULL || !policy_cert_covers(mode, &p->leaf, d->domain, matched,
	    sizeof(matched))) {
		policy_verdict_set(v, false, "san-mismatch: wanted %.100s (match %s), saw %.120s", dom,
		    config_match_name(mode), v->names);
		return;
	}
	if (policy_level_client_cert(d->level) && f->local == NULL) {
		policy_verdict_set(v, false, "no-client-cert: we presented no client certificate "
		    "(domain-secure is mutual TLS)");
		return;
	}
	policy_verdict_set(v, true, "ok: domain-secure %.100s (name %.80s, trust %s%.60s)", dom, matched,
	    pin_ok ? "pin " : "chain", pin_ok ? v->pin : "");
}

/* pinned: the certificate or its key equals a configured pin; CA ignored.
 * A domain on domain_secure.send keeps its pinned route (the pin is the
 * stronger trust) but must also pass what domain-secure demands beyond
 * trust: the recipient domain among the names, our client certificate. */
static void
judge_pinned(const struct dsmtp_config *cfg, const struct policy_dest *d,
    const struct tls_session_facts *f, struct policy_verdict *v)
{
	const struct tls_peer_facts *p = &f->peer;
	enum ds_match mode = cfg ? cfg->domain_secure.match : DS_MATCH_EXACT;
	char refs[128], matched[256], dom[128];

	if (!policy_pins_match(cfg, d->pins, d->npins, &p->leaf, v->pin, sizeof(v->pin))) {
		pinrefs_format(d->pins, d->npins, refs, sizeof(refs));
		policy_verdict_set(v, false, "pin-mismatch: saw %s, wanted %s",
		    p->leaf.spki[0] ? p->leaf.spki : "no spki", refs);
		return;
	}
	if (cfg == NULL || d->domain == NULL ||
	    !policy_domain_on_list(&cfg->domain_secure.send, d->domain)) {
		policy_verdict_set(v, true, "ok: pinned (pin %.60s)", v->pin);
		return;
	}
	policy_printable(d->domain, dom, sizeof(dom));
	if (!policy_cert_covers(mode, &p->leaf, d->domain, matched, sizeof(matched))) {
		policy_verdict_set(v, false, "san-mismatch: wanted %.100s (match %s; pinned, and on "
		    "domain_secure.send), saw %.120s", dom, config_match_name(mode), v->names);
		return;
	}
	if (f->local == NULL) {
		policy_verdict_set(v, false, "no-client-cert: we presented no client certificate "
		    "(%.100s is on domain_secure.send: mutual TLS)", dom);
		return;
	}
	policy_verdict_set(v, true, "ok: pinned (pin %.60s) and domain-secure %.100s (name %.80s)",
	    v->pin, dom, matched);
}

void
policy_judge_send(const struct dsmtp_config *cfg, const struct policy_dest *d, bool tls_done,
    const struct tls_session_facts *f, struct policy_verdict *v)
{
	verdict_init(v, d);
	if (d->level == LEVEL_NONE) {
		v->plaintext = true;
		policy_verdict_set(v, true, "ok: level none, no TLS");
		return;
	}
	if (!tls_done || f == NULL) {
		if (policy_dest_sts(d))
			v->sts_result = "validation-failure";
		if (policy_dest_sts(d) && d->sts->mode == POLICY_STS_ENFORCE)
			policy_verdict_set(v, false, "handshake-failed: TLS handshake failed (MTA-STS "
			    "policy of %.100s, mode enforce: TLS required)", d->domain ? d->domain : "-");
		else if (!policy_dest_requires_tls(d)) {
			/* DESIGN.md 6: opportunistic retries once in plaintext */
			v->plaintext = true;
			policy_verdict_set(v, false, "handshake-failed: TLS handshake failed "
			    "(opportunistic: retry once in plaintext)");
		} else
			policy_verdict_set(v, false, "handshake-failed: TLS handshake failed (level %s "
			    "requires TLS)", policy_level_name(d->level));
		return;
	}
	if (f->peer.present)
		policy_cert_names_format(&f->peer.leaf, v->names, sizeof(v->names));
	if (policy_level_dane(d->level)) {
		policy_judge_dane(d, f, v);
		policy_judge_sts(d, f, v);
		return;
	}
	if (!policy_level_names(d->level) && !policy_level_pin(d->level)) {
		policy_verdict_set(v, true, "ok: TLS, peer not authenticated (level %s)",
		    policy_level_name(d->level));
		policy_judge_sts(d, f, v);
		return;
	}
	if (!f->peer.present) {
		policy_verdict_set(v, false, "no-peer-cert: the server sent no certificate (level %s "
		    "authenticates the peer)", policy_level_name(d->level));
		return;
	}
	switch (d->level) {
	case LEVEL_VERIFY:
		judge_verify(d, &f->peer, v);
		break;
	case LEVEL_DOMAIN_SECURE:
		judge_domain_secure(cfg, d, f, v);
		break;
	case LEVEL_PINNED:
		judge_pinned(cfg, d, f, v);
		break;
	case LEVEL_NONE:
	case LEVEL_OPPORTUNISTIC:
	case LEVEL_MANDATORY:
	default:
		/* handled above; an unknown level is invalid, and invalid defers */
		v->defer = true;
		policy_verdict_set(v, false, "invalid-level: level %d is unknown", (int)d->level);
		break;
	}
}

void
policy_judge_every_level(const struct dsmtp_config *cfg, const struct policy_dest *d,
    bool offered, bool tls_done, const struct tls_session_facts *f,
    struct policy_verdict out[POLICY_NLEVELS])
{
	for (int l = LEVEL_NONE; l < POLICY_NLEVELS; l++) {
		struct policy_dest dl = *d;

		dl.level = (enum dsmtp_level)l;
		policy_judge_starttls(&dl, offered, &out[l]);
		/* not offered, or never tried: the STARTTLS verdict is the verdict */
		if (!out[l].pass || out[l].plaintext)
			continue;
		policy_judge_send(cfg, &dl, tls_done, f, &out[l]);
	}
}

bool
policy_receive_requires(const struct dsmtp_config *cfg, const char *sender_domain)
{
	if (cfg == NULL || sender_domain == NULL)
		return false;
	for (size_t i = 0; i < cfg->domain_secure.receive.n; i++)
		if (policy_domain_eq(cfg->domain_secure.receive.v[i], sender_domain))
			return true;
	return false;
}

/* the pins that authenticate a partner: those of the first route matching
 * its domain, unless that route is the catch-all "*" */
static const struct cfg_route *
partner_route(const struct dsmtp_config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		const struct cfg_route *r = &cfg->send.routes[i];

		if (!policy_route_matches(r->domain, domain))
			continue;
		return strcmp(r->domain, "*") == 0 ? NULL : r;
	}
	return NULL;
}

/* fail at MAIL FROM: reason for the log, a 4.7.1 reply naming what failed */
static void
receive_fail(struct policy_verdict *v, const char *dom, const char *what)
{
	v->defer = true;
	snprintf(v->reply, sizeof(v->reply), "451 4.7.1 Mail from %.64s must arrive domain-secured: "
	    "%s", dom, what);
}

void
policy_judge_receive_sender(const struct dsmtp_config *cfg, const char *sender_domain,
    bool tls_done, const struct tls_peer_facts *client, struct policy_verdict *v)
{
	const struct cfg_route *r;
	enum ds_match mode;
	char dom[128], words[160], matched[256];
	bool pin_ok = false;
	const struct policy_dest ds = { .level = LEVEL_DOMAIN_SECURE };

	verdict_init(v, &ds);
	if (!policy_receive_requires(cfg, sender_domain)) {
		policy_verdict_set(v, true, "ok: sender domain not on domain_secure.receive");
		return;
	}
	/* the configured spelling, never the peer's */
	for (size_t i = 0; i < cfg->domain_secure.receive.n; i++)
		if (policy_domain_eq(cfg->domain_secure.receive.v[i], sender_domain))
			policy_printable(cfg->domain_secure.receive.v[i], dom, sizeof(dom));
	mode = cfg->domain_secure.match;
	if (!tls_done) {
		policy_verdict_set(v, false, "no-tls: mail from %s needs TLS with a client certificate", dom);
		receive_fail(v, dom, "no TLS (use STARTTLS)");
		return;
	}
	if (client == NULL || !client->present) {
		policy_verdict_set(v, false, "no-client-cert: mail from %s needs a client certificate", dom);
		receive_fail(v, dom, "no client certificate");
		return;
	}
	policy_cert_names_format(&client->leaf, v->names, sizeof(v->names));
	if ((r = partner_route(cfg, dom)) != NULL)
		pin_ok = policy_pins_match(cfg, r->pins, r->npins, &client->leaf, v->pin,
		    sizeof(v->pin));
	if (client->chain != TLS_CHAIN_OK && !pin_ok) {
		chain_words(client, words, sizeof(words));
		if (r != NULL && r->npins > 0) {
			policy_verdict_set(v, false, "chain: %s; no pin matched (saw %s)", words,
			    client->leaf.spki[0] ? client->leaf.spki : "no spki");
			receive_fail(v, dom, "client certificate not trusted (chain or pin)");
		} else {
			policy_verdict_set(v, false, "chain: %s", words);
			receive_fail(v, dom, "client certificate not trusted (chain)");
		}
		return;
	}
	if (!policy_cert_purpose_ok(&client->leaf, false)) {
		policy_verdict_set(v, false, "wrong-purpose: the client certificate's extended key usage "
		    "does not include clientAuth");
		receive_fail(v, dom, "client certificate lacks clientAuth");
		return;
	}
	if (!policy_cert_covers(mode, &client->leaf, dom, matched, sizeof(matched))) {
		policy_verdict_set(v, false, "san-mismatch: wanted %s (match %s), saw %.120s", dom,
		    config_match_name(mode), v->names);
		receive_fail(v, dom, "client certificate does not name the domain");
		return;
	}
	policy_verdict_set(v, true, "ok: domain-secure sender %s (name %.80s, trust %s%.60s)", dom,
	    matched, pin_ok ? "pin " : "chain", pin_ok ? v->pin : "");
}
