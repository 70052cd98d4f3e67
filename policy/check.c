/* check.c: what dsmtp-policy check (and dsmtpd at start) finds wrong in a
 * configuration and in our certificate: unknown pin names, an open relay,
 * routes whose level cannot work, domain security that can never pass,
 * an expired or expiring certificate, namespaces it does not cover. Each
 * finding goes to the caller's emit function as one line of text; only
 * errors and warnings are counted. Pure: the certificate's facts and the
 * time are handed in. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "policy/policy.h"

/* a certificate expiring sooner than this is worth a warning (DESIGN.md 7) */
#define EXPIRY_WARN_DAYS	30

static void	say(struct policy_check *r, enum policy_finding kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *const finding_names[] = {
	[POLICY_OK] = "ok",
	[POLICY_NOTE] = "note",
	[POLICY_WARNING] = "warning",
	[POLICY_ERROR] = "error",
};

const char *
policy_finding_name(enum policy_finding k)
{
	if ((unsigned)k >= sizeof(finding_names) / sizeof(finding_names[0]))
		return "invalid";
	return finding_names[k];
}

void
policy_emit_diag(void *arg, enum policy_finding kind, const char *text)
{
	(void)arg;
	if (kind == POLICY_ERROR)
		diag_warnx("policy: error: %s", text);
	else if (kind == POLICY_WARNING)
		diag_warnx("policy: %s", text);
}

/* one finding: counted, formatted, handed to the caller */
static void
say(struct policy_check *r, enum policy_finding kind, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (kind == POLICY_ERROR)
		r->errors++;
	else if (kind == POLICY_WARNING)
		r->warnings++;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r->emit != NULL)
		r->emit(r->arg, kind, text);
}

static void
strlist_format(const struct cfg_strlist *l, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	if (l->n == 0) {
		snprintf(out, outlen, "(none)");
		return;
	}
	for (size_t i = 0; i < l->n && used < outlen; i++) {
		int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", l->v[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static bool
is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* pin references must name a trust.pins set (the loader refuses unknown
 * names too; this guards configurations built any other way) */
static void
check_pinrefs(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n,
    const char *where, struct policy_check *r)
{
	for (size_t i = 0; i < n; i++) {
		if (policy_pinref_is_literal(refs[i].name) || config_pinset(cfg, refs[i].name))
			continue;
		say(r, POLICY_ERROR,
		    "%s: unknown pin name \"%s\" (%s:%d:%d; define it under trust.pins)",
		    where, refs[i].name, cfg->source ? cfg->source : "config", refs[i].line,
		    refs[i].column);
	}
}

static bool
pinset_used(const struct dsmtp_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->receive.nrelay_pins; i++)
		if (strcmp(cfg->receive.relay_pins[i].name, name) == 0)
			return true;
	for (size_t i = 0; i < cfg->send.nroutes; i++)
		for (size_t j = 0; j < cfg->send.routes[i].npins; j++)
			if (strcmp(cfg->send.routes[i].pins[j].name, name) == 0)
				return true;
	return false;
}

/* pin references resolve; pin sets are used */
static void
check_pins(const struct dsmtp_config *cfg, struct policy_check *r)
{
	char where[64];

	check_pinrefs(cfg, cfg->receive.relay_pins, cfg->receive.nrelay_pins,
	    "receive.relay.pins", r);
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		snprintf(where, sizeof(where), "send.routes[%zu].pins", i);
		check_pinrefs(cfg, cfg->send.routes[i].pins, cfg->send.routes[i].npins, where, r);
	}
	for (size_t i = 0; i < cfg->trust.npins; i++) {
		const struct cfg_pinset *ps = &cfg->trust.pins[i];

		if (pinset_used(cfg, ps->name))
			say(r, POLICY_OK, "trust.pins.%s: %zu pin%s, in use", ps->name, ps->pins.n,
			    ps->pins.n == 1 ? "" : "s");
		else
			say(r, POLICY_WARNING,
			    "trust.pins.%s: defined but used by no route and not by "
			    "receive.relay.pins", ps->name);
	}
}

/* relay networks of every address make an open relay (DESIGN.md 11) */
static void
check_relay(const struct dsmtp_config *cfg, struct policy_check *r)
{
	char net[64];
	bool open = false;

	for (size_t i = 0; i < cfg->receive.nrelay_networks; i++) {
		if (!addr_cidr_is_everything(&cfg->receive.relay_networks[i]))
			continue;
		addr_cidr_format(&cfg->receive.relay_networks[i], net, sizeof(net));
		say(r, POLICY_ERROR,
		    "receive.relay.networks: %s is every address: an open relay", net);
		open = true;
	}
	if (!open)
		say(r, POLICY_OK,
		    "receive.relay: %zu network%s, %zu pin reference%s, no open relay",
		    cfg->receive.nrelay_networks, cfg->receive.nrelay_networks == 1 ? "" : "s",
		    cfg->receive.nrelay_pins, cfg->receive.nrelay_pins == 1 ? "" : "s");
}

/* a route's level must be possible with what the route and config give it */
static void
check_route(const struct dsmtp_config *cfg, size_t i, struct policy_check *r)
{
	const struct cfg_route *rt = &cfg->send.routes[i];
	enum dsmtp_level l = rt->has_tls ? rt->tls : cfg->send.tls;
	char hop[1200];
	unsigned before = r->errors + r->warnings;
	bool forced = false;

	/* a route for one listed domain runs at least at domain-secure */
	for (size_t j = 0; j < cfg->domain_secure.send.n; j++)
		if (l != LEVEL_DOMAIN_SECURE && l != LEVEL_PINNED &&
		    strcmp(rt->domain, cfg->domain_secure.send.v[j]) == 0) {
			l = LEVEL_DOMAIN_SECURE;
			forced = true;
		}

	if (rt->has_hop)
		policy_hop_format(&rt->hop, hop, sizeof(hop));
	else
		snprintf(hop, sizeof(hop), "MX of the recipient domain");
	if (policy_level_pin_required(l) && policy_pins_count(cfg, rt->pins, rt->npins) == 0)
		say(r, POLICY_ERROR,
		    "send.routes[%zu] (%s): level pinned but no usable pin", i, rt->domain);
	if (policy_level_client_cert(l) && !cfg->send.client_cert)
		say(r, POLICY_ERROR,
		    "send.routes[%zu] (%s): level %s presents our client certificate, "
		    "but send.client_cert is false", i, rt->domain, policy_level_name(l));
	if (rt->has_hop && (rt->hop.kind == HOP_MAILDIR || rt->hop.kind == HOP_DISCARD) &&
	    l != LEVEL_NONE && rt->has_tls)
		say(r, POLICY_WARNING,
		    "send.routes[%zu] (%s): tls: %s has no effect on next hop %s", i,
		    rt->domain, policy_level_name(l), hop);
	if (l == LEVEL_VERIFY && rt->has_hop && rt->hop.kind == HOP_HOSTPORT &&
	    is_ip_literal(rt->hop.host))
		say(r, POLICY_ERROR,
		    "send.routes[%zu] (%s): level verify matches the next-hop host name, "
		    "but %s is an IP address", i, rt->domain, rt->hop.host);
	if (l == LEVEL_DOMAIN_SECURE && strcmp(rt->domain, "*") == 0)
		say(r, POLICY_WARNING, "send.routes[%zu] (*): domain-secure for every domain: each "
		    "recipient domain must be named in the next hop's certificate", i);
	if (policy_level_dane(l) && cfg->dns.dnssec == DNSSEC_OFF)
		say(r, l == LEVEL_DANE_ONLY ? POLICY_ERROR : POLICY_WARNING,
		    "send.routes[%zu] (%s): level %s needs DNSSEC, but dns.dnssec is off: %s", i,
		    rt->domain, policy_level_name(l), l == LEVEL_DANE_ONLY ?
		    "every message would be deferred" : "it behaves as opportunistic");
	if (rt->npins > 0 && !policy_level_pin(l))
		say(r, POLICY_WARNING, "send.routes[%zu] (%s): pins are not consulted at level %s",
		    i, rt->domain, policy_level_name(l));
	if (r->errors + r->warnings == before)
		say(r, POLICY_OK, "send.routes[%zu] (%s): %s%s via %s", i, rt->domain,
		    policy_level_name(l), forced ? " (forced by domain_secure.send)" : "", hop);
}

/* domain security that the rest of the configuration makes impossible */
static void
check_domain_secure(const struct dsmtp_config *cfg, struct policy_check *r)
{
	char list[1024];

	if (!config_domain_secure_used(cfg)) {
		say(r, POLICY_OK, "domain security: not configured");
		return;
	}
	strlist_format(&cfg->domain_secure.send, list, sizeof(list));
	say(r, POLICY_OK, "domain_secure.send: %s", list);
	strlist_format(&cfg->domain_secure.receive, list, sizeof(list));
	say(r, POLICY_OK, "domain_secure.receive: %s", list);
	if (cfg->domain_secure.send.n > 0 && !cfg->send.client_cert)
		say(r, POLICY_ERROR, "domain_secure.send is set, but send.client_cert is false: "
		    "domain-secure links need our client certificate");
	if (cfg->domain_secure.receive.n > 0 && cfg->receive.tls == RECV_TLS_NONE)
		say(r, POLICY_ERROR, "domain_secure.receive is set, but receive.tls is none: those "
		    "senders can never pass");
	if (cfg->domain_secure.receive.n > 0 && !cfg->receive.request_client_cert)
		say(r, POLICY_ERROR,
		    "domain_secure.receive is set, but receive.request_client_cert is "
		    "false: those senders can never present a client certificate");
	for (size_t i = 0; i < cfg->domain_secure.send.n; i++) {
		struct policy_effective e;
		struct dsmtp_err err;

		if (policy_effective(cfg, cfg->domain_secure.send.v[i], &e, &err) < 0)
			continue;
		if (e.level == LEVEL_PINNED)
			say(r, POLICY_OK,
			    "domain_secure.send: %s goes to send.routes[%zu] (%s) at "
			    "level pinned: the pin, the domain among its names and our client "
			    "certificate are all required", e.domain, e.route_index,
			    e.route ? e.route->domain : "?");
		if (e.route != NULL && e.route->has_hop && (e.hop.kind == HOP_MAILDIR ||
		    e.hop.kind == HOP_DISCARD))
			say(r, POLICY_WARNING,
			    "domain_secure.send: %s goes to send.routes[%zu] (%s), which is not a "
			    "TLS next hop", e.domain, e.route_index, e.route->domain);
	}
	strlist_format(config_local_namespaces(cfg), list, sizeof(list));
	if (config_local_namespaces(cfg)->n == 0)
		say(r, POLICY_WARNING, "our namespaces: none (domain_secure.local and "
		    "receive.accepted_domains are empty): partners cannot authenticate us "
		    "by domain");
	else
		say(r, POLICY_OK, "our namespaces (%s): %s; match %s",
		    cfg->domain_secure.local_set ? "domain_secure.local" :
		    "receive.accepted_domains", list, config_match_name(cfg->domain_secure.match));
}

static void
time_format(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

/* our certificate: dates, and coverage of our namespaces */
void
policy_check_certificate(struct policy_check *r, const struct dsmtp_config *cfg,
    const struct tls_cert_facts *f, time_t now)
{
	char names[1024], when[32], cov[4096];
	bool ds = config_domain_secure_used(cfg);

	policy_cert_names_format(f, names, sizeof(names));
	time_format(f->not_after, when, sizeof(when));
	say(r, POLICY_NOTE, "certificate: %s; names %s; expires %s", f->subject, names, when);
	if (f->not_after < now)
		say(r, ds ? POLICY_ERROR : POLICY_WARNING, "certificate: expired on %s", when);
	else if (f->not_after - now < (time_t)EXPIRY_WARN_DAYS * 86400)
		say(r, POLICY_WARNING, "certificate: expires in %lld days (%s)",
		    (long long)((f->not_after - now) / 86400), when);
	if (f->not_before > now) {
		time_format(f->not_before, when, sizeof(when));
		say(r, ds ? POLICY_ERROR : POLICY_WARNING,
		    "certificate: not valid before %s", when);
	}
	if (!ds)
		return;
	(void)policy_check_coverage(cfg, f, cov, sizeof(cov));
	/* one report line per namespace, each judged; the names are a note */
	for (char *save = NULL, *line = strtok_r(cov, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "covered:", 8) == 0)
			say(r, POLICY_OK, "coverage: %s", line);
		else if (strncmp(line, "not covered:", 12) == 0)
			say(r, POLICY_ERROR, "coverage: %s", line);
		else
			say(r, POLICY_NOTE, "coverage: %s", line);
	}
}

void
policy_check_config(struct policy_check *r, const struct dsmtp_config *cfg)
{
	check_pins(cfg, r);
	check_relay(cfg, r);
	say(r, POLICY_OK, "send.tls: %s", policy_level_name(cfg->send.tls));
	if (policy_level_client_cert(cfg->send.tls) && !cfg->send.client_cert)
		say(r, POLICY_ERROR, "send.tls: %s presents our client certificate, but "
		    "send.client_cert is false", policy_level_name(cfg->send.tls));
	for (size_t i = 0; i < cfg->send.nroutes; i++)
		check_route(cfg, i, r);
	check_domain_secure(cfg, r);
}
