/* policy_main.c: dsmtp-policy, checks and explains the TLS policy
 * (DESIGN.md section 8). Owns the command line and the report text (the
 * golden files in tests/golden/ hold its exact shape); judgement lives in
 * libpolicy, the certificate comes from tls/'s store. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "policy/policy.h"
#include "policy/policy_cmd.h"
#include "tls/tls.h"

/* print one finding as a report line: "error: ...", "ok: ..." */
static void
print_finding(void *arg, enum policy_finding kind, const char *text)
{
	(void)arg;
	printf("%s: %s\n", policy_finding_name(kind), text);
}

/* a finding of main's own, counted like the library's */
static void
finding(struct policy_check *r, enum policy_finding kind, const char *text)
{
	if (kind == POLICY_ERROR)
		r->errors++;
	else if (kind == POLICY_WARNING)
		r->warnings++;
	print_finding(NULL, kind, text);
}

#ifdef DSMTP_POLICY_TLS_STORE
/* does any level in use consult the CA chain? */
static bool
pkix_used(const struct dsmtp_config *cfg)
{
	if (policy_level_pkix(cfg->send.tls) || cfg->domain_secure.send.n > 0 ||
	    cfg->domain_secure.receive.n > 0)
		return true;
	for (size_t i = 0; i < cfg->send.nroutes; i++)
		if (cfg->send.routes[i].has_tls && policy_level_pkix(cfg->send.routes[i].tls))
			return true;
	return false;
}

/* trust.ca_file (and crl_file) must load where a level relies on them */
static void
check_trust(const struct dsmtp_config *cfg, struct policy_check *r)
{
	struct tls_trust *t;
	struct dsmtp_err err = { "" };
	char text[768];

	if ((t = tls_trust_load(cfg->trust.ca_file, cfg->trust.crl_file, &err)) != NULL) {
		snprintf(text, sizeof(text), "trust.ca_file: %s loads", cfg->trust.ca_file);
		finding(r, POLICY_OK, text);
		tls_trust_free(t);
		return;
	}
	snprintf(text, sizeof(text), "trust: %s", err.msg);
	finding(r, pkix_used(cfg) ? POLICY_ERROR : POLICY_WARNING, text);
}

/* the certificate a connection would get now (no SNI), judged */
static void
check_certificate(const struct dsmtp_config *cfg, struct policy_check *r)
{
	struct tls_selected sel;
	struct dsmtp_err err = { "" };
	char text[768];

	memset(&sel, 0, sizeof(sel));
	if (tls_store_select(cfg, NULL, &sel, &err) < 0) {
		bool ds = config_domain_secure_used(cfg);

		snprintf(text, sizeof(text), "certificate: none usable (%s); %s", err.msg, ds ?
		    "certificate coverage: not checked" : "dsmtpd makes a self-signed one on "
		    "first start");
		finding(r, ds ? POLICY_ERROR : POLICY_WARNING, text);
		return;
	}
	if (sel.why[0] != '\0')
		printf("certificate chosen: %s\n", sel.why);
	printf("certificate pins: %s cert-sha256:%s\n", sel.facts.spki, sel.facts.sha256);
	policy_check_certificate(r, cfg, &sel.facts, time(NULL));
	tls_selected_free(&sel);
}
#else
static void
check_trust(const struct dsmtp_config *cfg, struct policy_check *r)
{
	(void)cfg;
	(void)r;
}

static void
check_certificate(const struct dsmtp_config *cfg, struct policy_check *r)
{
	/* never claim a pass we could not check */
	finding(r, config_domain_secure_used(cfg) ? POLICY_ERROR : POLICY_WARNING,
	    "certificate coverage: not checked (no certificate store in this build)");
}
#endif

static int
cmd_check(int argc, char **argv, const char *config_path)
{
	struct dsmtp_config cfg;
	struct policy_check r = { print_finding, NULL, 0, 0 };

	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		fprintf(help ? stdout : stderr, "Usage: dsmtp-policy [-c FILE] check\n");
		return help ? 0 : EX_DSMTP_USAGE;
	}
	config_load_or_exit(config_path, &cfg);
	printf("configuration: %s\n", cfg.source ? cfg.source : "(embedded defaults)");
	policy_check_config(&r, &cfg);
	check_trust(&cfg, &r);
	check_certificate(&cfg, &r);
	printf("check: %u error%s, %u warning%s\n", r.errors, r.errors == 1 ? "" : "s",
	    r.warnings, r.warnings == 1 ? "" : "s");
	config_free(&cfg);
	if (fflush(stdout) != 0)
		return EX_DSMTP_IOERR;
	return r.errors ? EX_DSMTP_CONFIG : 0;
}

/* ---- explain ---- */

static void
explain_names(const struct dsmtp_config *cfg, const struct policy_effective *e)
{
	const char *d = e->domain;
	/* pinned on domain_secure.send matches the names as domain-secure does */
	enum dsmtp_level l = e->level == LEVEL_PINNED && e->send_secure ?
	    LEVEL_DOMAIN_SECURE : e->level;

	switch (l) {
	case LEVEL_VERIFY:
		if (e->hop.kind == HOP_MX)
			printf("names matched: the name of each MX host of %s (RFC 6125: DNS SANs, "
			    "else the CN; one left-most wildcard label)\n", e->hop.host);
		else
			printf("names matched: %s, the next-hop host name (RFC 6125: DNS SANs, else "
			    "the CN; one left-most wildcard label)\n", e->hop.host);
		break;
	case LEVEL_DOMAIN_SECURE:
		switch (cfg->domain_secure.match) {
		case DS_MATCH_EXACT:
			printf("names matched: %s (match exact: a DNS SAN equal to %s)\n", d, d);
			break;
		case DS_MATCH_WILDCARD:
			printf("names matched: %s (match wildcard: a DNS SAN equal to %s, *.%s, or a "
			    "wildcard covering %s)\n", d, d, d, d);
			break;
		case DS_MATCH_SUBDOMAINS:
			printf("names matched: %s (match subdomains: a DNS SAN equal to %s, *.%s, or "
			    "any name under .%s)\n", d, d, d, d);
			break;
		}
		break;
	case LEVEL_DANE:
	case LEVEL_DANE_ONLY:
		printf("names matched: with DANE-TA records, the MX host name or its TLSA base "
		    "domain (RFC 7672 3.2.2); DANE-EE: none\n");
		break;
	case LEVEL_NONE:
	case LEVEL_OPPORTUNISTIC:
	case LEVEL_MANDATORY:
	case LEVEL_PINNED:
		printf("names matched: none (level %s does not match names)\n",
		    policy_level_name(e->level));
		break;
	}
}

static void
explain_pins(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n,
    const char *indent)
{
	for (size_t i = 0; i < n; i++) {
		const struct cfg_pinset *ps;

		if (policy_pinref_is_literal(refs[i].name)) {
			printf("%s%s (literal)\n", indent, refs[i].name);
			continue;
		}
		if ((ps = config_pinset(cfg, refs[i].name)) == NULL) {
			printf("%s%s: unknown pin name (matches nothing)\n", indent, refs[i].name);
			continue;
		}
		for (size_t j = 0; j < ps->pins.n; j++)
			printf("%s%s: %s\n", indent, ps->name, ps->pins.v[j]);
	}
}

static const char *
auth_text(enum dsmtp_level l, size_t npins)
{
	switch (l) {
	case LEVEL_NONE:
		return "none (no TLS)";
	case LEVEL_OPPORTUNISTIC:
	case LEVEL_MANDATORY:
		return "none (the certificate is logged, not judged)";
	case LEVEL_VERIFY:
		return "a chain to a trusted CA (trust.ca_file) and the host name";
	case LEVEL_DOMAIN_SECURE:
		return npins ? "a chain to a trusted CA (trust.ca_file) or one of the pins below, "
		    "and the recipient domain named" : "a chain to a trusted CA (trust.ca_file), "
		    "and the recipient domain named";
	case LEVEL_PINNED:
		return "the certificate's SPKI or SHA-256 equals one of the pins below; CA ignored";
	case LEVEL_DANE:
		return "DNSSEC-secure TLSA records of each MX host (RFC 7672), CA ignored; without "
		    "them none (opportunistic)";
	case LEVEL_DANE_ONLY:
		return "DNSSEC-secure TLSA records of each MX host (RFC 7672), CA ignored; without "
		    "them the message is deferred";
	}
	return "invalid";
}

static const char *
starttls_text(enum dsmtp_level l)
{
	if (l == LEVEL_NONE)
		return "never";
	if (l == LEVEL_DANE)
		return "required where an MX host has secure TLSA records, else if offered";
	if (!policy_level_requires_tls(l))
		return "if offered (not offered: plaintext; handshake failure: one retry in plaintext)";
	return "required (any failure defers the message: 4xx, never plaintext)";
}

static int
cmd_explain(int argc, char **argv, const char *config_path)
{
	struct dsmtp_config cfg;
	struct policy_effective e;
	struct dsmtp_err err;
	char hop[1200], why[256];

	if (argc != 2 || argv[1][0] == '-') {
		bool help = argc == 2 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0);

		fprintf(help ? stdout : stderr, "Usage: dsmtp-policy [-c FILE] explain DOMAIN\n");
		return help ? 0 : EX_DSMTP_USAGE;
	}
	config_load_or_exit(config_path, &cfg);
	if (policy_effective(&cfg, argv[1], &e, &err) < 0) {
		fprintf(stderr, "%s: explain: %s\n", diag_progname(), err.msg);
		config_free(&cfg);
		return EX_DSMTP_DATAERR;
	}
	printf("domain: %s\n", e.domain);
	if (e.route != NULL)
		printf("route: send.routes[%zu] (domain: %s)\n", e.route_index, e.route->domain);
	else
		printf("route: none matches (MX of the domain, send.tls)\n");
	policy_hop_format(&e.hop, hop, sizeof(hop));
	printf("next hop: %s\n", hop);
	switch (e.source) {
	case POLICY_LEVEL_FORCED:
		snprintf(why, sizeof(why), "forced by domain_secure.send; %s says %s",
		    e.route && e.route->has_tls ? "the route" : "send.tls",
		    policy_level_name(e.configured));
		break;
	case POLICY_LEVEL_ROUTE:
		if (e.send_secure && e.level == LEVEL_DOMAIN_SECURE)
			snprintf(why, sizeof(why), "route; domain_secure.send asks the same");
		else if (e.send_secure)
			snprintf(why, sizeof(why), "route; on domain_secure.send: %s is kept, and "
			    "the names and our client certificate are judged too",
			    policy_level_name(e.level));
		else
			snprintf(why, sizeof(why), "route");
		break;
	case POLICY_LEVEL_DEFAULT:
		snprintf(why, sizeof(why), "default: send.tls");
		break;
	}
	printf("level: %s (%s)\n", policy_level_name(e.level), why);
	smtpc_probe_explain_decider(&cfg, &e);	/* smtpc/probe_sts.c */
	printf("starttls: %s\n", starttls_text(e.level));
	printf("peer authentication: %s%s\n", auth_text(e.level, e.npins),
	    e.level == LEVEL_PINNED && e.send_secure ? "; and the recipient domain named" : "");
	explain_names(&cfg, &e);
	if (policy_level_dane(e.level))
		/* explain reads only the configuration: no DNS here */
		printf("dane: per MX host at delivery, from DNSSEC (MX, address and TLSA records "
		    "at _%u._tcp.MXHOST); not looked up here: dsmtp-policy probe %s shows it\n",
		    e.hop.port ? (unsigned)e.hop.port : 25u, e.domain);
	if (e.npins == 0)
		printf("pins: none\n");
	else {
		printf("pins:%s\n", policy_level_pin(e.level) ? "" :
		    " (not consulted at this level)");
		explain_pins(&cfg, e.pins, e.npins, "  ");
	}
	if (policy_level_client_cert(e.level) || e.send_secure)
		printf("client certificate: ours, required (mutual TLS)%s\n", cfg.send.client_cert ?
		    "" : "; but send.client_cert is false: every delivery will defer");
	else if (e.level == LEVEL_NONE)
		printf("client certificate: none (no TLS)\n");
	else
		printf("client certificate: ours when the server asks (send.client_cert: %s)\n",
		    cfg.send.client_cert ? "true" : "false");
	if (e.receive_secure) {
		printf("mail from %s: must arrive domain-secured (domain_secure.receive): TLS, a "
		    "client certificate trusted by a CA%s, naming %s (match %s); otherwise "
		    "451 4.7.1 at MAIL FROM\n", e.domain, e.route && strcmp(e.route->domain, "*") &&
		    e.npins ? " or the pins above" : "", e.domain,
		    config_match_name(cfg.domain_secure.match));
	} else
		printf("mail from %s: no TLS requirement (not on domain_secure.receive)\n", e.domain);
	{
		bool ours = false;

		for (size_t i = 0; i < cfg.receive.accepted_domains.n; i++)
			ours = ours || policy_domain_eq(cfg.receive.accepted_domains.v[i], e.domain);
		printf("mail to %s: %s\n", e.domain, ours ? "accepted from anyone (an accepted "
		    "domain)" : "not an accepted domain: taken only from relay networks and relay "
		    "pins");
	}
	policy_explain_memory(&cfg, e.domain, e.level);	/* explain_memory.c */
	config_free(&cfg);
	return fflush(stdout) == 0 ? 0 : EX_DSMTP_IOERR;
}

static const struct cli_cmd policy_cmds[] = {
	{ "check", "validate the configuration and the certificate's coverage", cmd_check },
	{ "probe", "connect to a destination and judge every TLS level", smtpc_probe_cmd },
	{ "explain", "show the effective route, level, names and pins for a domain", cmd_explain },
	{ NULL, NULL, NULL }
};

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-policy [-c FILE] COMMAND [ARGS]\n"
	    "Check and explain dsmtp's domain-security policy.", policy_cmds, NULL);
}
