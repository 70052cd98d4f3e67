/* config_schema.c: the schema of dsmtp.yaml (DESIGN.md section 5): every
 * key of every section as a row of a field table (key, type, place in
 * struct dsmtp_config, range or names, "was set" flag), the sections with
 * shapes of their own (certificates, routes, pin sets, per-peer log
 * levels, resolvers, TLS-RPT text), the names of the enums, and the pin
 * syntax. config_yaml.c walks these tables; defaults are in config.c. */
#include "autoconfig.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <yaml.h>

#include "common/config.h"
#include "common/config_int.h"

#define NOSET		CONFIG_NOSET
#define FLD(base, member) offsetof(base, member)

/* ---- names of the enums ---- */

static const char *const level_names[] = {
	"none", "opportunistic", "mandatory", "verify", "domain-secure", "pinned", "dane",
	"dane-only", NULL
};
static const char *const dnssec_names[] = { "off", "validate", "trust-ad", NULL };
static const char *const recv_tls_names[] = { "none", "opportunistic", "required", NULL };
static const char *const match_names[] = { "exact", "wildcard", "subdomains", NULL };
static const char *const log_level_names[] = { "none", "basic", "verbose", NULL };
static const char *const log_format_names[] = { "csv", "json", NULL };

const char *config_level_name(enum dsmtp_level l) { return level_names[l]; }
const char *config_recv_tls_name(enum recv_tls t) { return recv_tls_names[t]; }
const char *config_match_name(enum ds_match m) { return match_names[m]; }
const char *config_log_level_name(enum log_level l) { return log_level_names[l]; }
const char *config_log_format_name(enum log_format f) { return log_format_names[f]; }
const char *config_dnssec_name(enum dns_dnssec d) { return dnssec_names[d]; }

int
config_level_parse(const char *s, enum dsmtp_level *l)
{
	int i = config_enum_lookup(level_names, s);

	if (i < 0)
		return -1;
	*l = (enum dsmtp_level)i;
	return 0;
}

/* ---- sections with their own shapes ---- */

static int
item_certificate(struct config_loader *ld, yaml_node_t *n, void *base)
{
	static const struct config_field fields[] = {
		{ "cert", CF_PATH, FLD(struct cfg_certfile, cert), NULL, 0, 0, 0, NOSET },
		{ "key", CF_PATH, FLD(struct cfg_certfile, key), NULL, 0, 0, 0, NOSET },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct cfg_certfile cf = { 0 }, *v;

	if (n->type != YAML_MAPPING_NODE) {
		(void)config_yaml_visit(ld, n);
		config_yaml_error(ld, n, "expected a mapping with cert: and key:, found %s", config_yaml_kind(n));
		return -1;
	}
	if (config_yaml_walk(ld, n, fields, &cf) < 0 || cf.cert == NULL || cf.key == NULL) {
		if (cf.cert == NULL || cf.key == NULL)
			config_yaml_error(ld, n, "both cert: and key: are required");
		free(cf.cert);
		free(cf.key);
		return -1;
	}
	if ((v = config_grow(cfg->certificates, cfg->ncertificates, sizeof(cf))) == NULL) {
		free(cf.cert);
		free(cf.key);
		return -1;
	}
	v[cfg->ncertificates++] = cf;
	cfg->certificates = v;
	return 0;
}

static int
custom_certificates(struct config_loader *ld, yaml_node_t *n, void *base)
{
	return config_yaml_each_mapping(ld, n, base, item_certificate);
}

struct route_tmp {
	char			*domain;
	char			*next_hop;
	enum dsmtp_level	 tls;
	bool			 has_tls;
	struct cfg_pinref	*pins;
	size_t			 npins;
	struct cfg_strlist	 domains;	/* the "domain" key: one normalised name */
};

static int
route_domain(struct config_loader *ld, yaml_node_t *n, void *base)
{
	struct route_tmp *rt = base;
	struct config_domain_arg da = { &rt->domains, true };

	if (n->type != YAML_SCALAR_NODE) {
		(void)config_yaml_visit(ld, n);
		config_yaml_error(ld, n, "expected one domain name (or \"*\"), found %s", config_yaml_kind(n));
		return -1;
	}
	return config_yaml_domain(ld, n, &da);
}

static int
item_route(struct config_loader *ld, yaml_node_t *n, void *base)
{
	static const struct config_field fields[] = {
		{ "domain", CF_CUSTOM, 0, (const void *)(uintptr_t)route_domain, 0, 0, 0, NOSET },
		{ "next_hop", CF_STR, FLD(struct route_tmp, next_hop), NULL, 0, 0, 0, NOSET },
		{ "tls", CF_ENUM, FLD(struct route_tmp, tls), level_names, 0, 0, 0,
		  FLD(struct route_tmp, has_tls) },
		{ "pins", CF_PINREFS, FLD(struct route_tmp, pins), NULL, 0, 0,
		  FLD(struct route_tmp, npins), NOSET },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct route_tmp rt = { 0 };
	struct cfg_route r = { 0 }, *v;
	struct dsmtp_err err;
	int rc = 0;

	if (n->type != YAML_MAPPING_NODE) {
		(void)config_yaml_visit(ld, n);
		config_yaml_error(ld, n, "expected a mapping (domain:, next_hop:, tls:, pins:), found %s",
		    config_yaml_kind(n));
		return -1;
	}
	if (config_yaml_walk(ld, n, fields, &rt) < 0)
		rc = -1;
	else if (rt.domains.n != 1) {
		config_yaml_error(ld, n, "a route needs domain: (a domain name or \"*\")");
		rc = -1;
	}
	if (rc == 0 && rt.next_hop) {
		if (addr_parse_hop(rt.next_hop, &r.hop, &err) < 0) {
			/* point at the value, not the route */
			for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
			    p < n->data.mapping.pairs.top; p++)
				if (strcmp(config_yaml_scalar(config_yaml_node(ld, p->key)), "next_hop") == 0)
					config_yaml_error(ld, config_yaml_node(ld, p->value), "%s", err.msg);
			rc = -1;
		}
		r.has_hop = true;
	}
	if (rc == 0 && rt.has_tls && rt.tls == LEVEL_PINNED && rt.npins == 0) {
		config_yaml_error(ld, n, "tls: pinned needs pins: (a pin name from trust.pins or a pin)");
		rc = -1;
	}
	if (rc == 0) {
		r.domain = rt.domains.v[0];
		rt.domains.v[0] = NULL;
		r.has_tls = rt.has_tls;
		r.tls = rt.tls;
		r.pins = rt.pins;
		r.npins = rt.npins;
		rt.pins = NULL;
		rt.npins = 0;
		if ((v = config_grow(cfg->send.routes, cfg->send.nroutes, sizeof(r))) == NULL) {
			rc = -1;
			free(r.domain);
			free(r.pins);
		} else {
			v[cfg->send.nroutes++] = r;
			cfg->send.routes = v;
		}
	}
	free(rt.next_hop);
	for (size_t i = 0; i < rt.npins; i++)
		free(rt.pins[i].name);
	free(rt.pins);
	config_strlist_free(&rt.domains);
	return rc;
}

static int
custom_routes(struct config_loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, send));

	return config_yaml_each_mapping(ld, n, cfg, item_route);
}

static int
item_pin(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct cfg_strlist *l = arg;
	struct dsmtp_err err;
	char pin[128];

	if (config_yaml_want_scalar(ld, n, "a pin (sha256/BASE64 or cert-sha256:HEX)") < 0)
		return -1;
	if (config_pin_normalise(config_yaml_scalar(n), pin, sizeof(pin), &err) < 0) {
		config_yaml_error(ld, n, "%s", err.msg);
		return -1;
	}
	return config_strlist_push(l, pin);
}

static int
custom_pins(struct config_loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, trust));
	char saved[sizeof(ld->path)];
	int rc = 0;

	if (config_yaml_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && config_yaml_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		config_yaml_error(ld, n, "expected a mapping of name: [pins], found %s", config_yaml_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = config_yaml_node(ld, p->key), *v = config_yaml_node(ld, p->value);
		struct cfg_pinset ps = { 0 }, *arr;
		char name[64];
		struct dsmtp_err err;

		memcpy(ld->path, saved, sizeof(saved));
		if (config_yaml_want_scalar(ld, k, "a pin name") < 0) {
			rc = -1;
			continue;
		}
		/* a pin name is a word, so it cannot be mistaken for a pin */
		if (strlen(config_yaml_scalar(k)) >= sizeof(name) ||
		    addr_domain_normalise(config_yaml_scalar(k), name, sizeof(name), false, &err) < 0 ||
		    strchr(config_yaml_scalar(k), '/') || strchr(config_yaml_scalar(k), ':')) {
			config_yaml_error(ld, k, "pin name \"%s\" must be a word of letters, digits, '-', '_' or '.'",
			    config_yaml_scalar(k));
			rc = -1;
			continue;
		}
		snprintf(ld->path, sizeof(ld->path), "%s.%s", saved, config_yaml_scalar(k));
		if (config_pinset(cfg, name)) {
			config_yaml_error(ld, k, "duplicate key (already set above in this mapping)");
			rc = -1;
			continue;
		}
		if (config_yaml_each_item(ld, v, "pins", item_pin, &ps.pins) < 0) {
			config_strlist_free(&ps.pins);
			rc = -1;
			continue;
		}
		if (ps.pins.n == 0) {
			config_yaml_error(ld, v, "a pin set needs at least one pin");
			rc = -1;
			continue;
		}
		if ((ps.name = strdup(name)) == NULL ||
		    (arr = config_grow(cfg->trust.pins, cfg->trust.npins, sizeof(ps))) == NULL) {
			free(ps.name);
			config_strlist_free(&ps.pins);
			return -1;
		}
		arr[cfg->trust.npins++] = ps;
		cfg->trust.pins = arr;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

/* ---- the schema ---- */

#define C struct dsmtp_config

static const struct config_field trust_fields[] = {
	{ "ca_file", CF_PATH, FLD(C, trust.ca_file) - FLD(C, trust), NULL, 0, 0, 0, NOSET },
	{ "crl_file", CF_PATH, FLD(C, trust.crl_file) - FLD(C, trust), NULL, 0, 0, 0, NOSET },
	{ "pins", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_pins, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define DS(m) (FLD(C, domain_secure.m) - FLD(C, domain_secure))
static const struct config_field ds_fields[] = {
	{ "send", CF_DOMAINS, DS(send), NULL, 0, 0, 0, NOSET },
	{ "receive", CF_DOMAINS, DS(receive), NULL, 0, 0, 0, NOSET },
	{ "local", CF_DOMAINS, DS(local), NULL, 0, 0, 0, DS(local_set) },
	{ "match", CF_ENUM, DS(match), match_names, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define RV(m) (FLD(C, receive.m) - FLD(C, receive))
static const struct config_field timeout_fields[] = {
	{ "command", CF_UINT, RV(timeout_command), NULL, 1, 86400, 0, NOSET },
	{ "data", CF_UINT, RV(timeout_data), NULL, 1, 86400, 0, NOSET },
	{ "tls_handshake", CF_UINT, RV(timeout_tls_handshake), NULL, 1, 3600, 0, NOSET },
	{ "min_data_rate", CF_UINT, RV(min_data_rate), NULL, 0, 1000000000, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct config_field relay_fields[] = {
	{ "networks", CF_CIDRS, RV(relay_networks), NULL, 0, 0, RV(nrelay_networks), NOSET },
	{ "pins", CF_PINREFS, RV(relay_pins), NULL, 0, 0, RV(nrelay_pins), NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct config_field receive_fields[] = {
	{ "listen", CF_ENDPOINTS, RV(listen), NULL, 0, 0, RV(nlisten), NOSET },
	{ "tls", CF_ENUM, RV(tls), recv_tls_names, 0, 0, 0, NOSET },
	{ "request_client_cert", CF_BOOL, RV(request_client_cert), NULL, 0, 0, 0, NOSET },
	{ "accepted_domains", CF_DOMAINS, RV(accepted_domains), NULL, 0, 0, 0, NOSET },
	{ "relay", CF_SECTION, 0, relay_fields, 0, 0, 0, NOSET },
	{ "max_message_size", CF_U64, RV(max_message_size), NULL, 1024, UINT64_C(1) << 40, 0, NOSET },
	{ "max_recipients", CF_UINT, RV(max_recipients), NULL, 1, 100000, 0, NOSET },
	{ "max_connections", CF_UINT, RV(max_connections), NULL, 1, 1000000, 0, NOSET },
	{ "max_connections_per_ip", CF_UINT, RV(max_connections_per_ip), NULL, 1, 1000000, 0, NOSET },
	{ "timeouts", CF_SECTION, 0, timeout_fields, 0, 0, 0, NOSET },
	{ "tls_tickets", CF_BOOL, RV(tls_tickets), NULL, 0, 0, 0, NOSET },
	{ "workers", CF_WORKERS, RV(workers), NULL, 0, 0, 0, NOSET },
	{ "requiretls", CF_BOOL, RV(requiretls), NULL, 0, 0, 0, NOSET },
	{ "metrics", CF_METRICS, RV(metrics), NULL, 0, 0, 0, RV(metrics_set) },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define SD(m) (FLD(C, send.m) - FLD(C, send))
static const struct config_field retry_fields[] = {
	{ "first", CF_UINT, SD(retry_first), NULL, 1, 86400, 0, NOSET },
	{ "max", CF_UINT, SD(retry_max), NULL, 1, 7 * 86400, 0, NOSET },
	{ "lifetime", CF_UINT, SD(retry_lifetime), NULL, 1, 30 * 86400, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct config_field send_fields[] = {
	{ "tls", CF_ENUM, SD(tls), level_names, 0, 0, 0, NOSET },
	{ "routes", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_routes, 0, 0, 0, NOSET },
	{ "client_cert", CF_BOOL, SD(client_cert), NULL, 0, 0, 0, NOSET },
	{ "retry", CF_SECTION, 0, retry_fields, 0, 0, 0, NOSET },
	{ "max_parallel", CF_UINT, SD(max_parallel), NULL, 1, 10000, 0, NOSET },
	{ "connection_cache_time", CF_UINT, SD(connection_cache_time), NULL, 0, 300, 0, NOSET },
	{ "memory", CF_BOOL, SD(memory), NULL, 0, 0, 0, NOSET },
	{ "metrics", CF_METRICS, SD(metrics), NULL, 0, 0, 0, SD(metrics_set) },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* logs.peers[i]: { match: DOMAIN|HOST|IP|CIDR, level: none|basic|verbose } */
struct logpeer_tmp {
	char		*match;
	enum log_level	 level;
	bool		 has_level;
};

static int
item_logpeer(struct config_loader *ld, yaml_node_t *n, void *base)
{
	static const struct config_field fields[] = {
		{ "match", CF_STR, FLD(struct logpeer_tmp, match), NULL, 0, 0, 0, NOSET },
		{ "level", CF_ENUM, FLD(struct logpeer_tmp, level), log_level_names, 0, 0, 0,
		  FLD(struct logpeer_tmp, has_level) },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct logpeer_tmp t = { NULL, LOG_LEVEL_NONE, false };
	struct cfg_logpeer lp, *v;
	struct dsmtp_err err;
	char dom[256];

	if (n->type != YAML_MAPPING_NODE) {
		(void)config_yaml_visit(ld, n);
		config_yaml_error(ld, n, "expected a mapping (match:, level:), found %s", config_yaml_kind(n));
		return -1;
	}
	if (config_yaml_walk(ld, n, fields, &t) < 0) {
		free(t.match);
		return -1;
	}
	if (t.match == NULL || !t.has_level) {
		config_yaml_error(ld, n, "both match: and level: are required");
		free(t.match);
		return -1;
	}
	memset(&lp, 0, sizeof(lp));
	lp.match = t.match;
	lp.level = t.level;
	/* an address or network (anything with ':' or '/', or digits and
	 * dots only), else a domain name */
	if (strpbrk(lp.match, ":/") || strspn(lp.match, "0123456789.") == strlen(lp.match)) {
		if (addr_parse_cidr(lp.match, &lp.net, &err) < 0)
			goto bad;
		lp.is_net = true;
		addr_cidr_format(&lp.net, dom, sizeof(dom));
	} else if (addr_domain_normalise(lp.match, dom, sizeof(dom), false, &err) < 0)
		goto bad;
	free(lp.match);
	if ((lp.match = strdup(dom)) == NULL ||
	    (v = config_grow(cfg->logs.peers, cfg->logs.npeers, sizeof(lp))) == NULL) {
		free(lp.match);
		return -1;
	}
	v[cfg->logs.npeers++] = lp;
	cfg->logs.peers = v;
	return 0;
bad:
	/* point at the value of match: */
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (strcmp(config_yaml_scalar(config_yaml_node(ld, p->key)), "match") == 0)
			config_yaml_error(ld, config_yaml_node(ld, p->value), "%s", err.msg);
	free(lp.match);
	return -1;
}

static int
custom_logpeers(struct config_loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, logs));

	return config_yaml_each_mapping(ld, n, cfg, item_logpeer);
}

#define LG(m) (FLD(C, logs.m) - FLD(C, logs))
static const struct config_field logs_fields[] = {
	{ "dir", CF_PATH, LG(dir), NULL, 0, 0, 0, NOSET },
	{ "level", CF_ENUM, LG(level), log_level_names, 0, 0, 0, NOSET },
	{ "format", CF_ENUM, LG(format), log_format_names, 0, 0, 0, NOSET },
	{ "max_file_size", CF_U64, LG(max_file_size), NULL, 4096, UINT64_C(1) << 40, 0, NOSET },
	{ "max_age_days", CF_UINT, LG(max_age_days), NULL, 1, 36500, 0, NOSET },
	{ "peers", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_logpeers, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* dns.resolver: "system", or a list of "IP" / "IP:port" / "[IPv6]:port" */
static int
item_resolver(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct dsmtp_config *cfg = arg;
	struct addr_endpoint ep, *v;
	struct dsmtp_err err;
	char buf[80];

	if (config_yaml_want_scalar(ld, n, "an address") < 0)
		return -1;
	memset(&ep, 0, sizeof(ep));
	if (inet_pton(AF_INET, config_yaml_scalar(n), ep.addr) == 1) {
		ep.family = AF_INET;
		ep.port = 53;
	} else if (inet_pton(AF_INET6, config_yaml_scalar(n), ep.addr) == 1) {
		ep.family = AF_INET6;
		ep.port = 53;
	} else if (addr_parse_endpoint(config_yaml_scalar(n), &ep, &err) < 0) {
		snprintf(buf, sizeof(buf), "%.60s", config_yaml_scalar(n));
		config_yaml_error(ld, n, "resolver \"%s\": an IP address, IP:port or [IPv6]:port", buf);
		return -1;
	}
	if ((v = config_grow(cfg->dns.resolvers, cfg->dns.nresolvers, sizeof(ep))) == NULL)
		return -1;
	v[cfg->dns.nresolvers++] = ep;
	cfg->dns.resolvers = v;
	return 0;
}

static int
custom_resolver(struct config_loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, dns));

	free(cfg->dns.resolvers);
	cfg->dns.resolvers = NULL;
	cfg->dns.nresolvers = 0;
	if (n->type == YAML_SCALAR_NODE && strcmp(config_yaml_scalar(n), "system") == 0)
		return config_yaml_visit(ld, n);
	return config_yaml_each_item(ld, n, "resolver addresses", item_resolver, cfg);
}

#define DN(m) (FLD(C, dns.m) - FLD(C, dns))
static const struct config_field dns_fields[] = {
	{ "resolver", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_resolver, 0, 0, 0, NOSET },
	{ "dnssec", CF_ENUM, DN(dnssec), dnssec_names, 0, 0, 0, NOSET },
	{ "trust_anchor_file", CF_PATH, DN(trust_anchor_file), NULL, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* tlsrpt.*: text that goes into mail headers and JSON: no control
 * characters, at most 200 bytes; from is an address (local@domain) */
static int
tlsrpt_text(struct config_loader *ld, yaml_node_t *n, char **dst, bool addr)
{
	const unsigned char *p;
	const char *s, *at;

	if (config_yaml_want_scalar(ld, n, "a string") < 0)
		return -1;
	s = config_yaml_scalar(n);
	if (strlen(s) > 200) {
		config_yaml_error(ld, n, "longer than 200 bytes");
		return -1;
	}
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (addr && (*p == ' ' || *p == '<' || *p == '>' ||
		    *p == '"' || *p == ',' || *p >= 0x80))) {
			config_yaml_error(ld, n, addr ? "not a plain address (local@domain)" :
			    "control characters are not allowed");
			return -1;
		}
	at = strchr(s, '@');
	if (addr && s[0] != '\0' && (at == NULL || at == s || at[1] == '\0')) {
		config_yaml_error(ld, n, "not a plain address (local@domain)");
		return -1;
	}
	return config_set_string(dst, s);
}
#define TR(b) ((struct dsmtp_config *)((char *)(b) - offsetof(struct dsmtp_config, tlsrpt)))
static int custom_tlsrpt_org(struct config_loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.organization, false); }
static int custom_tlsrpt_contact(struct config_loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.contact, false); }
static int custom_tlsrpt_from(struct config_loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.from, true); }
#undef TR

#define TL(m) (FLD(C, tlsrpt.m) - FLD(C, tlsrpt))
static const struct config_field tlsrpt_fields[] = {
	{ "enabled", CF_BOOL, TL(enabled), NULL, 0, 0, 0, NOSET },
	{ "organization", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_org, 0, 0, 0, NOSET },
	{ "contact", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_contact, 0, 0, 0, NOSET },
	{ "from", CF_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_from, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* sub-sections walk with base = the section's struct */
static int
custom_section(struct config_loader *ld, yaml_node_t *n, void *base, size_t off,
    const struct config_field *f)
{
	return config_yaml_walk(ld, n, f, (char *)base + off);
}
static int cs_trust(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, trust), trust_fields); }
static int cs_ds(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, domain_secure), ds_fields); }
static int cs_receive(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, receive), receive_fields); }
static int cs_send(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, send), send_fields); }
static int cs_logs(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, logs), logs_fields); }
static int cs_dns(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, dns), dns_fields); }
static int cs_tlsrpt(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, tlsrpt), tlsrpt_fields); }
#define MS(m) (FLD(C, mta_sts.m) - FLD(C, mta_sts))
static const struct config_field mta_sts_fields[] = {
	{ "enabled", CF_BOOL, MS(enabled), NULL, 0, 0, 0, NOSET },
	{ "ca_file", CF_STR, MS(ca_file), NULL, 0, 0, 0, NOSET },
	{ "port", CF_UINT, MS(port), NULL, 1, 65535, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static int cs_mta_sts(struct config_loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, mta_sts), mta_sts_fields); }
#define CS(key, fn) { key, CF_CUSTOM, 0, (const void *)(uintptr_t)fn, 0, 0, 0, NOSET }

const struct config_field config_schema_top[] = {
	{ "hostname", CF_HOSTNAME, FLD(C, hostname), NULL, 0, 0, 0, NOSET },
	{ "state_dir", CF_PATH, FLD(C, state_dir), NULL, 0, 0, 0, NOSET },
	{ "user", CF_STR, FLD(C, user), NULL, 0, 0, 0, NOSET },
	{ "tls_priority", CF_STR, FLD(C, tls_priority), NULL, 0, 0, 0, NOSET },
	CS("certificates", custom_certificates),
	CS("trust", cs_trust),
	CS("domain_secure", cs_ds),
	CS("receive", cs_receive),
	CS("send", cs_send),
	CS("logs", cs_logs),
	CS("dns", cs_dns),
	CS("tlsrpt", cs_tlsrpt),
	CS("mta_sts", cs_mta_sts),
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
#undef C

/* base64 alphabet value, or -1 */
static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int
config_pin_normalise(const char *in, char *out, size_t outlen, struct dsmtp_err *err)
{
	if (strncmp(in, "sha256/", 7) == 0) {
		const char *b = in + 7;

		/* 32 bytes are 43 base64 characters and one '=' */
		if (strlen(b) != 44 || b[43] != '=') {
			dsmtp_err_set(err, "\"%s\": an SPKI pin is sha256/ and 44 base64 characters "
			    "(print one with: dsmtp-cert pin)", in);
			return -1;
		}
		for (int i = 0; i < 43; i++)
			if (b64val((unsigned char)b[i]) < 0) {
				char shown[8];

				diag_char_shown(b + i, shown, sizeof(shown));
				dsmtp_err_set(err, "\"%s\": '%s' is not a base64 character", in, shown);
				return -1;
			}
		if (b64val((unsigned char)b[42]) & 3) {
			dsmtp_err_set(err, "\"%s\": not a canonical base64 encoding of 32 bytes", in);
			return -1;
		}
		snprintf(out, outlen, "%s", in);
		return 0;
	}
	if (strncmp(in, "cert-sha256:", 12) == 0) {
		char hex[65];
		size_t n = 0;

		for (const char *p = in + 12; *p; p++) {
			if (*p == ':')
				continue;
			if (!isxdigit((unsigned char)*p) || n == 64) {
				dsmtp_err_set(err, "\"%s\": a certificate pin is cert-sha256: and 64 hex digits", in);
				return -1;
			}
			hex[n++] = (char)tolower((unsigned char)*p);
		}
		if (n != 64) {
			dsmtp_err_set(err, "\"%s\": a certificate pin is cert-sha256: and 64 hex digits", in);
			return -1;
		}
		hex[64] = '\0';
		snprintf(out, outlen, "cert-sha256:%s", hex);
		return 0;
	}
	if (strncmp(in, "sha1", 4) == 0) {
		dsmtp_err_set(err, "\"%s\": SHA-1 thumbprints identify certificates but are never "
		    "accepted as pins; use sha256/... or cert-sha256:...", in);
		return -1;
	}
	dsmtp_err_set(err, "\"%s\": not a pin (sha256/BASE64 or cert-sha256:HEX)", in);
	return -1;
}
