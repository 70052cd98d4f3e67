/* policy.h: the one public header of policy/, dsmtp's judgement library
 * (DESIGN.md sections 5, 6 and 8). It decides, from the loaded configuration
 * and the certificate facts tls/ gathered, whether a link is good enough:
 * the level ladder, RFC 6125 name matching, the domain_secure match modes,
 * pins, the send and receive verdicts, relay authorisation, the effective
 * policy of a destination and our own certificate's coverage.
 *
 * Pure: no sockets, no GnuTLS calls, no file I/O, no DNS. Callers hand in
 * facts and get a verdict with a machine-readable reason back; every reason
 * starts with a fixed word ("no-tls:", "chain:", "san-mismatch:", ...) so
 * logs can be grouped by cause. Text that came from a peer's certificate is
 * made printable (anything outside 0x20..0x7e becomes '?') before it goes
 * into a reason, and never goes into an SMTP reply.
 *
 * Name matching (policy_name_matches):
 *   - a pattern is a DNS-ID SAN, or the subject CN when the certificate has
 *     no DNS-ID SAN at all (RFC 6125 6.4.4);
 *   - ASCII case-insensitive; one trailing dot on either side is ignored;
 *   - a wildcard is only a left-most label that is exactly "*", and it
 *     stands for exactly one non-empty label: "*.example.com" matches
 *     "a.example.com", not "example.com", not "a.b.example.com";
 *   - partial wildcards ("f*.example.com", "*oo.example.com", "a.*.com",
 *     "xn--*.example.com") never match;
 *   - a wildcard needs at least two labels after it: "*.com" never matches
 *     (there is no public-suffix list here, so "*.co.uk" is not caught);
 *   - IDNs are compared as A-labels ("xn--..."): any non-ASCII byte in the
 *     pattern or the name (a U-label) never matches, and the reason says so;
 *   - a name containing '*' is not a host name and never matches.
 *
 * domain_secure.match, "is domain D covered by a certificate":
 *   exact       a certificate name equal to D (wildcard names never count);
 *   wildcard    as exact, or a name that matches D under the rules above
 *               ("*.example.com" covers "contoso.example.com"), or the name
 *               "*.D" itself (a certificate for every host of D vouches for D);
 *   subdomains  as wildcard, or any name that ends in ".D", at any depth
 *               ("mx.contoso.com" and "a.b.contoso.com" cover "contoso.com").
 *
 * Routes (policy_effective): send.routes in order, first match wins; a route
 * domain "D" matches exactly D, "*.D" matches any name ending in ".D" (not D
 * itself), "*" matches everything. */
#ifndef DSMTP_POLICY_H
#define DSMTP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "common/addr.h"
#include "common/config.h"
#include "tls/tls.h"

/* ---- the level ladder (enum dsmtp_level, weakest first, in config.h) ----
 * The order matters: everything from mandatory up fails closed (defer, never
 * plaintext). Above that the ladder branches: verify and domain-secure check
 * the CA chain and names, domain-secure accepts a pin instead of the chain,
 * pinned trusts a pin only and ignores CA and names. */

/* STARTTLS must succeed or the message is deferred (dane: only when a
 * secure TLSA RRset was found, see policy_dest_requires_tls) */
static inline bool
policy_level_requires_tls(enum dsmtp_level l)
{
	return (l >= LEVEL_MANDATORY && l <= LEVEL_PINNED) || l == LEVEL_DANE_ONLY;
}

/* RFC 7672: TLSA records decide, per MX host, what TLS must prove */
static inline bool
policy_level_dane(enum dsmtp_level l)
{
	return l == LEVEL_DANE || l == LEVEL_DANE_ONLY;
}

/* the peer's chain to a trusted CA is consulted */
static inline bool
policy_level_pkix(enum dsmtp_level l)
{
	return l == LEVEL_VERIFY || l == LEVEL_DOMAIN_SECURE;
}

/* the peer's certificate names are matched (next-hop host or recipient domain) */
static inline bool
policy_level_names(enum dsmtp_level l)
{
	return l == LEVEL_VERIFY || l == LEVEL_DOMAIN_SECURE;
}

/* configured pins are consulted (domain-secure: instead of the chain) */
static inline bool
policy_level_pin(enum dsmtp_level l)
{
	return l == LEVEL_DOMAIN_SECURE || l == LEVEL_PINNED;
}

/* only a pin can authenticate the peer */
static inline bool
policy_level_pin_required(enum dsmtp_level l)
{
	return l == LEVEL_PINNED;
}

/* we must have presented our client certificate (mutual TLS) */
static inline bool
policy_level_client_cert(enum dsmtp_level l)
{
	return l == LEVEL_DOMAIN_SECURE;
}

/* "none", "opportunistic", ... as in the configuration and the logs */
static inline const char *
policy_level_name(enum dsmtp_level l)
{
	return config_level_name(l);
}

/* ---- names (match.c) ---- */

/* RFC 6125 match of one certificate name (SAN or CN) against a host name */
bool policy_name_matches(const char *pattern, const char *name);
/* the same; on no match, why gets "u-label: ...", "partial-wildcard: ...",
 * "wildcard-too-wide: ...", "wildcard-depth: ...", "malformed: ...",
 * "mismatch: ..." */
bool policy_name_matches_why(const char *pattern, const char *name, char *why, size_t whylen);
/* does this certificate name cover domain under the match mode? */
bool policy_name_covers(enum ds_match mode, const char *pattern, const char *domain);
/* does any of the certificate's names cover domain under mode? the name in
 * matched (may be NULL) */
bool policy_cert_covers(enum ds_match mode, const struct tls_cert_facts *f, const char *domain,
    char *matched, size_t matchedlen);
/* does any of the certificate's names match host (RFC 6125)? */
bool policy_cert_matches_host(const struct tls_cert_facts *f, const char *host, char *matched,
    size_t matchedlen);
/* the certificate's names, printable, comma-separated ("CN=x" on fallback,
 * "(none)" when it has none), cut with "..." to fit */
void policy_cert_names_format(const struct tls_cert_facts *f, char *out, size_t outlen);
/* may the certificate serve this purpose (RFC 5280 4.2.1.12)? No extended
 * key usage, or anyExtendedKeyUsage, allows every purpose; otherwise it
 * must list serverAuth (a server we send to) or clientAuth (a client we
 * judge as domain-secure). */
bool policy_cert_purpose_ok(const struct tls_cert_facts *f, bool server);
/* equal as domain names: ASCII case-insensitive, one trailing dot ignored */
bool policy_domain_eq(const char *a, const char *b);

/* ---- pins (pin.c) ---- */

/* is this pin reference a literal pin rather than a trust.pins name? */
bool policy_pinref_is_literal(const char *ref);
/* one normalised pin ("sha256/B64" or "cert-sha256:hex") against a certificate */
bool policy_pin_matches(const char *pin, const struct tls_cert_facts *f);
/* the references resolved (names through trust.pins, literals as they are)
 * against f; true on a match, with the set name or the literal pin in
 * matched. Unknown names match nothing (dsmtp-policy check reports them). */
bool policy_pins_match(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n,
    const struct tls_cert_facts *f, char *matched, size_t matchedlen);
/* how many configured pins the references stand for (unknown names: 0) */
size_t policy_pins_count(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n);

/* ---- verdicts (verdict.c) ---- */

/* What DNSSEC said about one MX host, for levels dane and dane-only
 * (RFC 7672 2.2). Levels without DANE leave it POLICY_DANE_INSECURE. */
enum policy_dane_state {
	POLICY_DANE_INSECURE,	/* no secure TLSA RRset: dane is opportunistic, dane-only defers */
	POLICY_DANE_UNUSABLE,	/* secure TLSA RRset, no usable record: TLS, unauthenticated */
	POLICY_DANE_USABLE,	/* secure, usable records: TLS authenticated by TLSA only */
	POLICY_DANE_FAILED,	/* bogus or failed lookup: this MX host is not used */
};

/* ---- MTA-STS (sts_parse.c, sts.c; RFC 8461, DESIGN.md 13.2) ---- */

#define POLICY_STS_ID_MAX	32		/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define POLICY_STS_MX_MAX	32		/* more mx: lines make the policy invalid */
#define POLICY_STS_MAX_AGE_MAX	31557600u	/* RFC 8461 3.2: about one year */
#define POLICY_STS_BODY_MAX	(64 * 1024)	/* the HTTPS body cap */

enum policy_sts_mode { POLICY_STS_NONE, POLICY_STS_TESTING, POLICY_STS_ENFORCE };

/* one parsed policy, with what the TXT record and the fetch said about it */
struct policy_sts {
	enum policy_sts_mode	 mode;
	unsigned		 max_age;	/* seconds */
	size_t			 nmx;
	char			 mx[POLICY_STS_MX_MAX][256];	/* "mx.example.com", "*.example.com" */
	char			 id[POLICY_STS_ID_MAX + 1];	/* the TXT id it was fetched under */
	long long		 fetched;	/* time(2) of the fetch */
	/* the policy in canonical lines ("version: STSv1\nmode: ...\nmx: ...\n
	 * max_age: N"), for people and for TLS reports' policy-string */
	char			 text[POLICY_STS_MX_MAX * 262 + 128];
};

const char *policy_sts_mode_name(enum policy_sts_mode m);	/* "enforce", "testing", "none" */
/* the character-strings of one TXT RR's rdata joined into out (NUL-ended);
 * 0, or -1 when the rdata is malformed or does not fit */
int policy_sts_txt_join(const unsigned char *rdata, size_t len, char *out, size_t outlen);
/* one TXT record's text: 1 = an STS record ("v=STSv1; id=..."), id copied;
 * 0 = not an STS record (ignored); -1 = starts with v=STSv1 but is
 * malformed (why says how) */
int policy_sts_txt_parse(const char *txt, size_t len, char id[POLICY_STS_ID_MAX + 1], char *why,
    size_t whylen);
/* RFC 8461 3.1 over all TXT records of _mta-sts.D: exactly one STS record
 * -> 1 and its id; none -> 0; several, or a malformed one -> -1 (no policy,
 * why says which) */
int policy_sts_txt_select(const char *const *txt, const size_t *len, size_t n,
    char id[POLICY_STS_ID_MAX + 1], char *why, size_t whylen);
/* the policy file (RFC 8461 3.2: LF or CRLF lines "key: value", unknown
 * keys ignored, the first of a repeated non-mx key used); 0, or -1 with
 * why. p->id and p->fetched are left as they were. */
int policy_sts_parse(const char *body, size_t len, struct policy_sts *p, char *why, size_t whylen);
/* does an MX host match one mx: pattern ("*." stands for one label)? */
bool policy_sts_mx_matches(const char *pattern, const char *host);
/* ... any pattern of p? */
bool policy_sts_mx_allowed(const struct policy_sts *p, const char *host);
/* the on-disk cache record of a policy for domain; the number of bytes
 * written (< outlen), or -1 when it does not fit */
int policy_sts_cache_format(const struct policy_sts *p, const char *domain, char *out,
    size_t outlen);
/* read one cache record back: 0 with p and the domain it is for, or -1 */
int policy_sts_cache_parse(const char *buf, size_t len, struct policy_sts *p, char *domain,
    size_t domainlen, char *why, size_t whylen);
/* is the policy past fetched + max_age at now? */
bool policy_sts_expired(const struct policy_sts *p, long long now);

/* What a destination asks for: filled from policy_effective() plus the
 * next-hop host actually connected to. */
struct policy_dest {
	enum dsmtp_level	 level;
	const char		*domain;	/* the recipient domain */
	const char		*hostname;	/* next-hop host name (verify), or NULL */
	const struct cfg_pinref	*pins;		/* the route's pins */
	size_t			 npins;
	enum policy_dane_state	 dane;		/* dane levels: the MX host's TLSA state */
	const char		*dane_base;	/* the TLSA base domain (CNAME-expanded), or NULL */
	const struct tls_dane_facts *dane_facts;	/* after the handshake, USABLE: the match */
	/* the MTA-STS policy of the recipient domain (mode testing or enforce),
	 * or NULL; a DANE host with usable TLSA records ignores it */
	const struct policy_sts	*sts;
};

/* does an MTA-STS policy apply to this host (present, not mode none, not
 * overridden by usable DANE records)? */
static inline bool
policy_dest_sts(const struct policy_dest *d)
{
	return d->sts != NULL && d->sts->mode != POLICY_STS_NONE &&
	    !(policy_level_dane(d->level) && d->dane == POLICY_DANE_USABLE) &&
	    (d->level == LEVEL_OPPORTUNISTIC || d->level == LEVEL_DANE);
}

/* does this destination, with what DNS said, require TLS? */
static inline bool
policy_dest_requires_tls(const struct policy_dest *d)
{
	if (policy_dest_sts(d) && d->sts->mode == POLICY_STS_ENFORCE)
		return true;
	if (policy_level_dane(d->level))
		return d->dane == POLICY_DANE_USABLE || d->dane == POLICY_DANE_UNUSABLE ||
		    d->level == LEVEL_DANE_ONLY;
	return policy_level_requires_tls(d->level);
}

/* A decision. pass: go on (over TLS, or in plaintext when plaintext is set).
 * !pass && defer: 4xx for every recipient on this link, never plaintext.
 * !pass && !defer && plaintext: opportunistic handshake failure, reconnect
 * once without STARTTLS. */
struct policy_verdict {
	bool	pass;
	bool	defer;
	bool	plaintext;
	char	reason[256];	/* "ok: ...", "no-tls: ...", "chain: ...", "san-mismatch: ..." */
	char	names[256];	/* the certificate names the decision used, or "" */
	char	pin[64];	/* the pin set (or literal) that matched, or "none" */
	char	reply[160];	/* receive side: the SMTP reply on failure, else "" */
	/* MTA-STS: the RFC 8460 result type when the policy's checks failed
	 * (enforce: the verdict failed too; testing: it did not), else NULL */
	const char *sts_result;
};

/* set a verdict's outcome and its reason (a pass clears defer); the one
 * writer of verdicts for verdict.c and dane.c */
void policy_verdict_set(struct policy_verdict *v, bool pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* before STARTTLS: is it offered, and what if not? (none: never STARTTLS) */
void policy_judge_starttls(const struct policy_dest *d, bool offered, struct policy_verdict *v);
/* after the handshake (tls_done false: it failed; f may then be NULL) */
void policy_judge_send(const struct dsmtp_config *cfg, const struct policy_dest *d, bool tls_done,
    const struct tls_session_facts *f, struct policy_verdict *v);
/* dane levels after the handshake (dane.c; policy_judge_send calls it):
 * USABLE passes on a DANE-EE match, or a DANE-TA match whose leaf names
 * the MX host or the TLSA base domain (RFC 7672 3.2.2); UNUSABLE passes
 * any TLS; INSECURE is opportunistic for dane and fails dane-only */
void policy_judge_dane(const struct policy_dest *d, const struct tls_session_facts *f,
    struct policy_verdict *v);
/* MTA-STS after the handshake (sts.c; policy_judge_send calls it once the
 * level's own checks passed): a trusted chain and the MX host name among
 * the certificate's names; sets v->sts_result on failure and, in mode
 * enforce, fails the verdict */
void policy_judge_sts(const struct policy_dest *d, const struct tls_session_facts *f,
    struct policy_verdict *v);
/* "dane: ..." words for a state ("secure TLSA, usable", ...) */
const char *policy_dane_state_name(enum policy_dane_state s);
/* RFC 8460 4.3: the result type of a failed verdict under a DANE policy,
 * from its reason word: tlsa-invalid (no usable record matched),
 * dnssec-invalid (bogus or failed TLSA lookup), certificate-host-mismatch
 * (DANE-TA matched, name did not), dane-required (dane-only, no secure
 * TLSA), starttls-not-supported, else validation-failure */
const char *policy_dane_result_type(const char *reason);

/* every level, none..pinned, dane, dane-only (indexed by enum
 * dsmtp_level), judged for one destination and one connection: STARTTLS
 * offered?, handshake done?, its facts; the dane levels by d->dane and
 * d->dane_facts. d->level is ignored. For dsmtp-policy probe. */
#define POLICY_NLEVELS	(LEVEL_DANE_ONLY + 1)
void policy_judge_every_level(const struct dsmtp_config *cfg, const struct policy_dest *d,
    bool offered, bool tls_done, const struct tls_session_facts *f,
    struct policy_verdict out[POLICY_NLEVELS]);
/* must mail from this sender domain arrive domain-secured (domain_secure.receive)? */
bool policy_receive_requires(const struct dsmtp_config *cfg, const char *sender_domain);
/* receive side, at MAIL FROM: pass, or fail with a 4.7.x reply naming what
 * failed (no TLS, no client certificate, chain, names, pin). client may be
 * NULL when there is no TLS. Trust is the CA chain or a pin of the route to
 * that domain (a route whose domain is not "*"): the partner is trusted the
 * same way in both directions. */
void policy_judge_receive_sender(const struct dsmtp_config *cfg, const char *sender_domain,
    bool tls_done, const struct tls_peer_facts *client, struct policy_verdict *v);

/* ---- relay (relay.c) ---- */

enum policy_relay {
	POLICY_RELAY_DENIED,
	POLICY_RELAY_ACCEPTED_DOMAIN,	/* the recipient domain is ours */
	POLICY_RELAY_NETWORK,		/* the client address is in receive.relay.networks */
	POLICY_RELAY_PIN,		/* the client certificate matches receive.relay.pins */
};

const char *policy_relay_name(enum policy_relay r);	/* "denied", "accepted-domain", ... */
/* May this client send to this recipient domain? rcpt_domain is the domain
 * part the caller already parsed out of the recipient (source routes, '%'
 * and '!' tricks are the caller's to refuse); it matches an accepted domain
 * exactly (no subdomains). client_cert may be NULL. why gets the reason. */
enum policy_relay policy_relay_check(const struct dsmtp_config *cfg, const struct sockaddr *client,
    const struct tls_peer_facts *client_cert, const char *rcpt_domain, char *why, size_t whylen);

/* ---- effective policy of a destination (route.c) ---- */

enum policy_level_source {
	POLICY_LEVEL_DEFAULT,	/* send.tls, no route matched or the route has no tls: */
	POLICY_LEVEL_ROUTE,	/* the route's tls: */
	POLICY_LEVEL_FORCED,	/* raised to domain-secure by domain_secure.send */
};

struct policy_effective {
	char			 domain[256];	/* the recipient domain, normalised */
	const struct cfg_route	*route;		/* the first matching route, or NULL */
	size_t			 route_index;
	struct addr_hop		 hop;		/* the route's, else MX of the domain */
	enum dsmtp_level	 level;
	enum dsmtp_level	 configured;	/* before domain_secure.send forcing */
	enum policy_level_source source;
	bool			 send_secure;	/* on domain_secure.send */
	bool			 receive_secure;	/* on domain_secure.receive */
	const struct cfg_pinref	*pins;		/* the route's pins (may be none) */
	size_t			 npins;
};

const char *policy_level_source_name(enum policy_level_source s);	/* "route", ... */
/* does a route domain ("D", "*.D", "*") match this recipient domain? */
bool policy_route_matches(const char *route_domain, const char *domain);
/* is the domain on a domain_secure list (case-insensitive, trailing dot ignored)? */
bool policy_domain_on_list(const struct cfg_strlist *l, const char *domain);
/* the effective route, next hop, level and pins for mail to rcpt_domain;
 * 0, or -1 when rcpt_domain is not a domain name (why in err) */
int policy_effective(const struct dsmtp_config *cfg, const char *rcpt_domain,
    struct policy_effective *out, struct dsmtp_err *err);
/* the same as a policy_dest (hostname: the host connected to, or NULL) */
void policy_effective_dest(const struct policy_effective *e, const char *hostname,
    struct policy_dest *d);

/* "MX of D (port 25)", "[host]:port (no MX lookup)", "maildir:/p (local
 * delivery)", "discard" */
void policy_hop_format(const struct addr_hop *h, char *out, size_t outlen);

/* ---- our own certificate (coverage.c) ---- */

/* For each namespace of config_local_namespaces(cfg): does our certificate
 * cover it under domain_secure.match? report gets one line per namespace
 * ("covered: D (by NAME)" / "not covered: D") and, when any is missing, the
 * names the certificate does have. Returns how many are not covered. */
int policy_check_coverage(const struct dsmtp_config *cfg, const struct tls_cert_facts *ours,
    char *report, size_t len);

/* ---- configuration and certificate checks (check.c) ---- */

enum policy_finding { POLICY_OK, POLICY_NOTE, POLICY_WARNING, POLICY_ERROR };

/* one check run: the caller sets emit (may be NULL) and reads the counts;
 * an error means the configuration must not be used (dsmtpd refuses to
 * start), a warning does not */
struct policy_check {
	void		(*emit)(void *arg, enum policy_finding kind, const char *text);
	void		 *arg;
	unsigned	  errors, warnings;
};

const char *policy_finding_name(enum policy_finding k);	/* "ok", "note", "warning", "error" */
/* pins, open relay, routes, domain security: what the configuration alone shows */
void policy_check_config(struct policy_check *r, const struct dsmtp_config *cfg);
/* an emit for the daemons: warnings and errors on stderr as "policy: ...",
 * notes and oks quiet */
void policy_emit_diag(void *arg, enum policy_finding kind, const char *text);
/* our certificate at time now: expired or within 30 days of it, not yet
 * valid, and (when domain security is used) coverage of our namespaces */
void policy_check_certificate(struct policy_check *r, const struct dsmtp_config *cfg,
    const struct tls_cert_facts *ours, time_t now);

/* ---- helpers shared inside policy/ and with callers ---- */

/* copy s into out, anything outside 0x20..0x7e as '?', cut with "..." */
void policy_printable(const char *s, char *out, size_t outlen);

#endif
