/* config_dump.c: --print-config, the effective configuration as YAML that
 * loads back to the same configuration, written through libyaml's emitter
 * (yaml_emitter_* fed yaml_event_*), in the schema's order.
 *
 * Scalar styles: every string the user or a default chose (paths, names,
 * domains, addresses, pins, free text) is double-quoted, so no value can
 * be read back as another type or as null ("true", "123", "~", "null", ""),
 * lose a leading space, or be cut by ':' or '#'; libyaml escapes what is
 * not printable (line breaks, tabs, C1 controls, NEL, LS, PS, BOM), so each
 * value stays on one line. Keys, enum words, numbers and booleans are plain:
 * the loader reads them by their text. Lines are never folded. */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "common/config.h"
#include "common/diag.h"

struct dump {
	yaml_emitter_t	 em;
	yaml_event_t	 ev;
	bool		 failed;	/* an event could not be made or emitted */
};

/* emit d->ev if made (ok != 0); after a failure, nothing more is emitted */
static void
emit(struct dump *d, int ok)
{
	if (d->failed) {
		if (ok)
			yaml_event_delete(&d->ev);
		return;
	}
	/* the emitter frees the event, even when it fails */
	if (!ok || !yaml_emitter_emit(&d->em, &d->ev))
		d->failed = true;
}

static void
scalar(struct dump *d, const char *s, yaml_scalar_style_t style)
{
	bool plain = style == YAML_PLAIN_SCALAR_STYLE;

	/* no tag: a plain scalar is resolved implicitly, a quoted one is a string */
	emit(d, yaml_scalar_event_initialize(&d->ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s,
	    (int)strlen(s), plain, !plain, style));
}

/* text of any content: double-quoted (see the top of the file) */
static void
str(struct dump *d, const char *s)
{
	scalar(d, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

/* a key, an enum word or a number: plain */
static void
word(struct dump *d, const char *s)
{
	scalar(d, s, YAML_PLAIN_SCALAR_STYLE);
}

static void
boolean(struct dump *d, bool b)
{
	word(d, b ? "true" : "false");
}

static void
number(struct dump *d, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	word(d, buf);
}

static void
map_start(struct dump *d, bool flow)
{
	emit(d, yaml_mapping_start_event_initialize(&d->ev, NULL, NULL, 1,
	    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE));
}

static void
map_end(struct dump *d)
{
	emit(d, yaml_mapping_end_event_initialize(&d->ev));
}

/* an empty block sequence is written "[]" by the emitter */
static void
seq_start(struct dump *d, bool flow)
{
	emit(d, yaml_sequence_start_event_initialize(&d->ev, NULL, NULL, 1,
	    flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

static void
seq_end(struct dump *d)
{
	emit(d, yaml_sequence_end_event_initialize(&d->ev));
}

/* ---- values with a shape ---- */

static void
key_str(struct dump *d, const char *key, const char *s)
{
	word(d, key);
	str(d, s);
}

static void
key_word(struct dump *d, const char *key, const char *s)
{
	word(d, key);
	word(d, s);
}

static void
key_bool(struct dump *d, const char *key, bool b)
{
	word(d, key);
	boolean(d, b);
}

static void
key_number(struct dump *d, const char *key, uint64_t v)
{
	word(d, key);
	number(d, v);
}

static void
strseq(struct dump *d, const struct cfg_strlist *l)
{
	seq_start(d, true);
	for (size_t i = 0; i < l->n; i++)
		str(d, l->v[i]);
	seq_end(d);
}

static void
strlist(struct dump *d, const char *key, const struct cfg_strlist *l)
{
	word(d, key);
	strseq(d, l);
}

static void
pinrefs(struct dump *d, const char *key, const struct cfg_pinref *r, size_t n)
{
	word(d, key);
	seq_start(d, true);
	for (size_t i = 0; i < n; i++)
		str(d, r[i].name);
	seq_end(d);
}

static void
endpoints(struct dump *d, const char *key, const struct addr_endpoint *e, size_t n)
{
	char buf[128];

	word(d, key);
	seq_start(d, true);
	for (size_t i = 0; i < n; i++) {
		addr_endpoint_format(&e[i], buf, sizeof(buf));
		str(d, buf);
	}
	seq_end(d);
}

static void
endpoint(struct dump *d, const char *key, const struct addr_endpoint *e)
{
	char buf[128];

	addr_endpoint_format(e, buf, sizeof(buf));
	key_str(d, key, buf);
}

static void
hop(struct dump *d, const char *key, const struct addr_hop *h)
{
	char buf[1100] = "";

	switch (h->kind) {
	case HOP_DISCARD: snprintf(buf, sizeof(buf), "discard"); break;
	case HOP_MAILDIR: snprintf(buf, sizeof(buf), "maildir:%s", h->path); break;
	case HOP_MX:
		if (h->port != 25)
			snprintf(buf, sizeof(buf), "%s:%u", h->host, h->port);
		else
			snprintf(buf, sizeof(buf), "%s", h->host);
		break;
	case HOP_HOSTPORT: snprintf(buf, sizeof(buf), "[%s]:%u", h->host, h->port); break;
	}
	key_str(d, key, buf);
}

/* ---- the sections, in the schema's order ---- */

static void
dump_top(struct dump *d, const struct dsmtp_config *cfg)
{
	key_str(d, "hostname", cfg->hostname);
	key_str(d, "state_dir", cfg->state_dir);
	key_str(d, "user", cfg->user);
	key_str(d, "tls_priority", cfg->tls_priority);
	word(d, "certificates");
	seq_start(d, false);
	for (size_t i = 0; i < cfg->ncertificates; i++) {
		map_start(d, false);
		key_str(d, "cert", cfg->certificates[i].cert);
		key_str(d, "key", cfg->certificates[i].key);
		map_end(d);
	}
	seq_end(d);
}

static void
dump_trust(struct dump *d, const struct dsmtp_config *cfg)
{
	word(d, "trust");
	map_start(d, false);
	key_str(d, "ca_file", cfg->trust.ca_file);
	if (cfg->trust.crl_file)
		key_str(d, "crl_file", cfg->trust.crl_file);
	word(d, "pins");
	map_start(d, false);
	for (size_t i = 0; i < cfg->trust.npins; i++) {
		/* the name quoted too, so a set named "null" or "true" stays a name */
		str(d, cfg->trust.pins[i].name);
		strseq(d, &cfg->trust.pins[i].pins);
	}
	map_end(d);
	map_end(d);
}

static void
dump_domain_secure(struct dump *d, const struct dsmtp_config *cfg)
{
	word(d, "domain_secure");
	map_start(d, false);
	strlist(d, "send", &cfg->domain_secure.send);
	strlist(d, "receive", &cfg->domain_secure.receive);
	if (cfg->domain_secure.local_set)
		strlist(d, "local", &cfg->domain_secure.local);
	key_word(d, "match", config_match_name(cfg->domain_secure.match));
	map_end(d);
}

static void
dump_receive(struct dump *d, const struct dsmtp_config *cfg)
{
	char buf[128];

	word(d, "receive");
	map_start(d, false);
	endpoints(d, "listen", cfg->receive.listen, cfg->receive.nlisten);
	key_word(d, "tls", config_recv_tls_name(cfg->receive.tls));
	key_bool(d, "request_client_cert", cfg->receive.request_client_cert);
	strlist(d, "accepted_domains", &cfg->receive.accepted_domains);
	word(d, "relay");
	map_start(d, false);
	word(d, "networks");
	seq_start(d, true);
	for (size_t i = 0; i < cfg->receive.nrelay_networks; i++) {
		addr_cidr_format(&cfg->receive.relay_networks[i], buf, sizeof(buf));
		str(d, buf);
	}
	seq_end(d);
	pinrefs(d, "pins", cfg->receive.relay_pins, cfg->receive.nrelay_pins);
	map_end(d);
	key_number(d, "max_message_size", cfg->receive.max_message_size);
	key_number(d, "max_recipients", cfg->receive.max_recipients);
	key_number(d, "max_connections", cfg->receive.max_connections);
	key_number(d, "max_connections_per_ip", cfg->receive.max_connections_per_ip);
	word(d, "timeouts");
	map_start(d, true);
	key_number(d, "command", cfg->receive.timeout_command);
	key_number(d, "data", cfg->receive.timeout_data);
	key_number(d, "tls_handshake", cfg->receive.timeout_tls_handshake);
	key_number(d, "min_data_rate", cfg->receive.min_data_rate);
	map_end(d);
	key_bool(d, "tls_tickets", cfg->receive.tls_tickets);
	if (cfg->receive.workers)
		key_number(d, "workers", cfg->receive.workers);
	else
		key_word(d, "workers", "auto");
	key_bool(d, "requiretls", cfg->receive.requiretls);
	if (cfg->receive.metrics_set)
		endpoint(d, "metrics", &cfg->receive.metrics);
	map_end(d);
}

static void
dump_send(struct dump *d, const struct dsmtp_config *cfg)
{
	word(d, "send");
	map_start(d, false);
	key_word(d, "tls", config_level_name(cfg->send.tls));
	word(d, "routes");
	seq_start(d, false);
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		const struct cfg_route *r = &cfg->send.routes[i];

		map_start(d, false);
		key_str(d, "domain", r->domain);
		if (r->has_hop)
			hop(d, "next_hop", &r->hop);
		if (r->has_tls)
			key_word(d, "tls", config_level_name(r->tls));
		if (r->npins)
			pinrefs(d, "pins", r->pins, r->npins);
		map_end(d);
	}
	seq_end(d);
	key_bool(d, "client_cert", cfg->send.client_cert);
	word(d, "retry");
	map_start(d, true);
	key_number(d, "first", cfg->send.retry_first);
	key_number(d, "max", cfg->send.retry_max);
	key_number(d, "lifetime", cfg->send.retry_lifetime);
	map_end(d);
	key_number(d, "max_parallel", cfg->send.max_parallel);
	key_number(d, "connection_cache_time", cfg->send.connection_cache_time);
	key_bool(d, "memory", cfg->send.memory);
	if (cfg->send.metrics_set)
		endpoint(d, "metrics", &cfg->send.metrics);
	map_end(d);
}

static void
dump_rest(struct dump *d, const struct dsmtp_config *cfg)
{
	word(d, "dns");
	map_start(d, false);
	if (cfg->dns.nresolvers == 0)
		key_word(d, "resolver", "system");
	else
		endpoints(d, "resolver", cfg->dns.resolvers, cfg->dns.nresolvers);
	key_word(d, "dnssec", config_dnssec_name(cfg->dns.dnssec));
	key_str(d, "trust_anchor_file", cfg->dns.trust_anchor_file);
	map_end(d);

	word(d, "mta_sts");
	map_start(d, false);
	key_bool(d, "enabled", cfg->mta_sts.enabled);
	key_str(d, "ca_file", cfg->mta_sts.ca_file);
	key_number(d, "port", cfg->mta_sts.port);
	map_end(d);

	word(d, "logs");
	map_start(d, false);
	key_str(d, "dir", cfg->logs.dir);
	key_word(d, "level", config_log_level_name(cfg->logs.level));
	key_word(d, "format", config_log_format_name(cfg->logs.format));
	key_number(d, "max_file_size", cfg->logs.max_file_size);
	key_number(d, "max_age_days", cfg->logs.max_age_days);
	word(d, "peers");
	seq_start(d, false);
	for (size_t i = 0; i < cfg->logs.npeers; i++) {
		map_start(d, true);
		key_str(d, "match", cfg->logs.peers[i].match);
		key_word(d, "level", config_log_level_name(cfg->logs.peers[i].level));
		map_end(d);
	}
	seq_end(d);
	map_end(d);

	word(d, "tlsrpt");
	map_start(d, false);
	key_bool(d, "enabled", cfg->tlsrpt.enabled);
	key_str(d, "organization", cfg->tlsrpt.organization);
	key_str(d, "contact", cfg->tlsrpt.contact);
	key_str(d, "from", cfg->tlsrpt.from);
	map_end(d);
}

int
config_dump(const struct dsmtp_config *cfg, FILE *out)
{
	struct dump d;
	int rc;

	memset(&d, 0, sizeof(d));
	if (!yaml_emitter_initialize(&d.em)) {
		diag_warnx("cannot print the configuration: out of memory");
		return -1;
	}
	yaml_emitter_set_output_file(&d.em, out);
	yaml_emitter_set_unicode(&d.em, 1);	/* UTF-8 as it is, not \u escapes */
	yaml_emitter_set_width(&d.em, -1);	/* one line per value */
	yaml_emitter_set_indent(&d.em, 2);

	emit(&d, yaml_stream_start_event_initialize(&d.ev, YAML_UTF8_ENCODING));
	emit(&d, yaml_document_start_event_initialize(&d.ev, NULL, NULL, NULL, 1));
	map_start(&d, false);
	dump_top(&d, cfg);
	dump_trust(&d, cfg);
	dump_domain_secure(&d, cfg);
	dump_receive(&d, cfg);
	dump_send(&d, cfg);
	dump_rest(&d, cfg);
	map_end(&d);
	emit(&d, yaml_document_end_event_initialize(&d.ev, 1));
	emit(&d, yaml_stream_end_event_initialize(&d.ev));

	rc = d.failed || !yaml_emitter_flush(&d.em) ? -1 : 0;
	if (rc < 0)
		/* a value that is not UTF-8 (a default from the environment)
		 * has no YAML form */
		diag_warnx("cannot print the configuration: %s",
		    d.em.problem ? d.em.problem : "a value is not valid UTF-8");
	yaml_emitter_delete(&d.em);
	return rc;
}
