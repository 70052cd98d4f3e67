/* route.c: the effective policy of a destination: the first matching
 * send.routes entry, its next hop (or MX of the domain), the level (route,
 * else send.tls, raised to domain-secure for domain_secure.send), the pins,
 * and whether mail from the domain must arrive domain-secured. Owns route
 * matching; no DNS: an MX next hop is named, not resolved. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

static const char *const source_names[] = {
	[POLICY_LEVEL_DEFAULT] = "default",
	[POLICY_LEVEL_ROUTE] = "route",
	[POLICY_LEVEL_FORCED] = "forced by domain_secure.send",
};

const char *
policy_level_source_name(enum policy_level_source s)
{
	if ((unsigned)s >= sizeof(source_names) / sizeof(source_names[0]))
		return "invalid";
	return source_names[s];
}

bool
policy_route_matches(const char *route_domain, const char *domain)
{
	size_t rl, dl;

	if (route_domain == NULL || domain == NULL)
		return false;
	if (strcmp(route_domain, "*") == 0)
		return true;
	if (strncmp(route_domain, "*.", 2) != 0)
		return policy_domain_eq(route_domain, domain);
	/* "*.D": any name ending in ".D", at any depth, not D itself; the
	 * domain has been normalised by the caller (lower case, no dot) */
	rl = strlen(route_domain + 1);
	dl = strlen(domain);
	return dl > rl && strcmp(domain + dl - rl, route_domain + 1) == 0;
}

bool
policy_domain_on_list(const struct cfg_strlist *l, const char *d)
{
	for (size_t i = 0; i < l->n; i++)
		if (policy_domain_eq(l->v[i], d))
			return true;
	return false;
}

int
policy_effective(const struct dsmtp_config *cfg, const char *rcpt_domain,
    struct policy_effective *out, struct dsmtp_err *err)
{
	memset(out, 0, sizeof(*out));
	if (rcpt_domain == NULL ||
	    addr_domain_normalise(rcpt_domain, out->domain, sizeof(out->domain), false, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->send.nroutes; i++)
		if (policy_route_matches(cfg->send.routes[i].domain, out->domain)) {
			out->route = &cfg->send.routes[i];
			out->route_index = i;
			break;
		}
	out->level = cfg->send.tls;
	out->source = POLICY_LEVEL_DEFAULT;
	if (out->route != NULL) {
		if (out->route->has_hop)
			out->hop = out->route->hop;
		if (out->route->has_tls) {
			out->level = out->route->tls;
			out->source = POLICY_LEVEL_ROUTE;
		}
		out->pins = out->route->pins;
		out->npins = out->route->npins;
	}
	if (out->route == NULL || !out->route->has_hop) {
		out->hop.kind = HOP_MX;
		snprintf(out->hop.host, sizeof(out->hop.host), "%s", out->domain);
		out->hop.port = 25;
	}
	out->configured = out->level;
	out->send_secure = policy_domain_on_list(&cfg->domain_secure.send, out->domain);
	out->receive_secure = policy_domain_on_list(&cfg->domain_secure.receive, out->domain);
	/* raise, never lower: a pinned route is kept (a pin names one
	 * certificate), and the verdict adds domain-secure's demands to it */
	if (out->send_secure && out->level != LEVEL_DOMAIN_SECURE && out->level != LEVEL_PINNED) {
		out->level = LEVEL_DOMAIN_SECURE;
		out->source = POLICY_LEVEL_FORCED;
	}
	return 0;
}

void
policy_effective_dest(const struct policy_effective *e, const char *hostname,
    struct policy_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->level = e->level;
	d->domain = e->domain;
	d->hostname = hostname;
	d->pins = e->pins;
	d->npins = e->npins;
}

void
policy_hop_format(const struct addr_hop *h, char *out, size_t outlen)
{
	switch (h->kind) {
	case HOP_MX:
		snprintf(out, outlen, "MX of %s (port %u)", h->host, h->port ? (unsigned)h->port : 25u);
		break;
	case HOP_HOSTPORT:
		snprintf(out, outlen, "[%s]:%u (no MX lookup)", h->host, (unsigned)h->port);
		break;
	case HOP_MAILDIR:
		snprintf(out, outlen, "maildir:%s (local delivery)", h->path);
		break;
	case HOP_DISCARD:
		snprintf(out, outlen, "discard");
		break;
	}
}
