/* check_config.c: unit tests of the YAML loader: defaults, every error
 * class with its line:column, round trips of every key; and of the dump
 * (--print-config, common/config_dump.c) with awkward string values. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <yaml.h>

#include "common/config.h"
#include "tests/unit/unit.h"

static int
load(const char *yaml, struct dsmtp_config *cfg, struct config_errors *errs)
{
	return config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, errs);
}

START_TEST(test_defaults)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };
	char buf[64];

	ck_assert_int_eq(load("", &cfg, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(cfg.receive.nlisten, 1);
	addr_endpoint_format(&cfg.receive.listen[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1:2525");
	ck_assert_int_eq(cfg.receive.tls, RECV_TLS_OPPORTUNISTIC);
	ck_assert(cfg.receive.request_client_cert);
	ck_assert_uint_eq(cfg.receive.accepted_domains.n, 0);
	ck_assert_uint_eq(cfg.receive.nrelay_networks, 2);
	addr_cidr_format(&cfg.receive.relay_networks[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.0/8");
	addr_cidr_format(&cfg.receive.relay_networks[1], buf, sizeof(buf));
	ck_assert_str_eq(buf, "::1/128");
	ck_assert_uint_eq(cfg.receive.max_message_size, 36700160);
	ck_assert_uint_eq(cfg.receive.max_recipients, 100);
	ck_assert_uint_eq(cfg.receive.max_connections, 1000);
	ck_assert_uint_eq(cfg.receive.max_connections_per_ip, 50);
	ck_assert_uint_eq(cfg.receive.timeout_command, 300);
	ck_assert_uint_eq(cfg.receive.timeout_data, 600);
	ck_assert_uint_eq(cfg.receive.timeout_tls_handshake, 30);
	ck_assert_uint_eq(cfg.receive.min_data_rate, 1024);
	ck_assert(cfg.receive.tls_tickets);
	ck_assert_uint_eq(cfg.receive.workers, 0);
	ck_assert(cfg.receive.requiretls);
	ck_assert(cfg.send.memory);
	ck_assert_int_eq(cfg.send.tls, LEVEL_OPPORTUNISTIC);
	ck_assert_uint_eq(cfg.send.nroutes, 0);
	ck_assert(cfg.send.client_cert);
	ck_assert_uint_eq(cfg.send.retry_first, 60);
	ck_assert_uint_eq(cfg.send.retry_max, 3600);
	ck_assert_uint_eq(cfg.send.retry_lifetime, 172800);
	ck_assert_uint_eq(cfg.send.max_parallel, 100);
	ck_assert_str_eq(cfg.logs.dir, "logs");
	ck_assert_int_eq(cfg.logs.level, LOG_LEVEL_VERBOSE);
	ck_assert_int_eq(cfg.logs.format, LOG_FORMAT_CSV);
	ck_assert_uint_eq(cfg.logs.max_file_size, 10485760);
	ck_assert_uint_eq(cfg.logs.max_age_days, 30);
	ck_assert(!cfg.tlsrpt.enabled);
	ck_assert_str_eq(cfg.tlsrpt.organization, "");
	ck_assert_str_eq(cfg.tlsrpt.contact, "");
	ck_assert_str_eq(cfg.tlsrpt.from, "");
	ck_assert_str_eq(cfg.trust.ca_file, "system");
	ck_assert_int_eq(cfg.domain_secure.match, DS_MATCH_EXACT);
	ck_assert_ptr_nonnull(cfg.hostname);
	ck_assert(cfg.state_dir[0] == '/');
	ck_assert(!config_domain_secure_used(&cfg));
	config_free(&cfg);
}
END_TEST

START_TEST(test_absent_file_is_defaults)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };

	/* the default path may be absent: defaults; an explicit -c must exist */
	ck_assert_int_eq(config_load("/nonexistent/dsmtp.yaml", false, &cfg, &errs), 0);
	ck_assert_uint_eq(cfg.receive.max_recipients, 100);
	config_free(&cfg);
	ck_assert_int_eq(config_load("/nonexistent/dsmtp.yaml", true, &cfg, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msg[0], "/nonexistent/dsmtp.yaml: cannot open"));
	config_errors_free(&errs);
	config_free(&cfg);
}
END_TEST

START_TEST(test_every_key)
{
	static const char yaml[] =
	    "hostname: Edge.Example.COM.\n"
	    "state_dir: /tmp/dsmtp-state\n"
	    "tls_priority: \"SECURE256\"\n"
	    "certificates:\n"
	    "  - cert: /etc/dsmtp/edge.pem\n"
	    "    key: /etc/dsmtp/edge.key\n"
	    "trust:\n"
	    "  ca_file: /etc/ssl/ca.pem\n"
	    "  crl_file: /etc/ssl/crl.pem\n"
	    "  pins:\n"
	    "    hub: [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "    partner: \"cert-sha256:AB:CD:ef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"\n"
	    "domain_secure:\n"
	    "  send: [ contoso.com ]\n"
	    "  receive: [ contoso.com, fabrikam.net ]\n"
	    "  local: [ example.com ]\n"
	    "  match: subdomains\n"
	    "receive:\n"
	    "  listen: [ \"127.0.0.1:2526\", \"[::1]:2527\" ]\n"
	    "  tls: required\n"
	    "  request_client_cert: false\n"
	    "  accepted_domains: [ example.com, Example.ORG ]\n"
	    "  relay:\n"
	    "    networks: [ 10.1.2.3/8, \"2001:db8::/32\", 192.0.2.7 ]\n"
	    "    pins: [ hub ]\n"
	    "  max_message_size: 1048576\n"
	    "  max_recipients: 7\n"
	    "  max_connections: 20\n"
	    "  max_connections_per_ip: 3\n"
	    "  timeouts: { command: 30, data: 60, tls_handshake: 5, min_data_rate: 0 }\n"
	    "  tls_tickets: false\n"
	    "  workers: 2\n"
	    "  requiretls: false\n"
	    "send:\n"
	    "  tls: mandatory\n"
	    "  routes:\n"
	    "    - domain: contoso.com\n"
	    "      next_hop: \"[mx.contoso.com]:25\"\n"
	    "      tls: domain-secure\n"
	    "    - domain: \"*.example.net\"\n"
	    "      next_hop: maildir:/var/mail/x\n"
	    "    - domain: \"*\"\n"
	    "      next_hop: \"[127.0.0.1]:2600\"\n"
	    "      tls: pinned\n"
	    "      pins: [ hub, \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "  client_cert: false\n"
	    "  retry: { first: 10, max: 100, lifetime: 1000 }\n"
	    "  max_parallel: 5\n"
	    "  memory: false\n"
	    "logs:\n"
	    "  dir: /var/log/dsmtp\n"
	    "  level: basic\n"
	    "  format: json\n"
	    "  max_file_size: 65536\n"
	    "  max_age_days: 7\n"
	    "tlsrpt:\n"
	    "  enabled: true\n"
	    "  organization: \"Example \\\"Corp\\\"\"\n"
	    "  contact: https://example.com/tls\n"
	    "  from: tlsrpt@example.com\n";
	struct dsmtp_config cfg, again;
	struct config_errors errs = { 0 };
	char buf[64], *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	FILE *f;

	ck_assert_int_eq(load(yaml, &cfg, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_str_eq(cfg.hostname, "edge.example.com");
	ck_assert_str_eq(cfg.state_dir, "/tmp/dsmtp-state");
	ck_assert_str_eq(cfg.tls_priority, "SECURE256");
	ck_assert_uint_eq(cfg.ncertificates, 1);
	ck_assert_str_eq(cfg.certificates[0].key, "/etc/dsmtp/edge.key");
	ck_assert_str_eq(cfg.trust.ca_file, "/etc/ssl/ca.pem");
	ck_assert_str_eq(cfg.trust.crl_file, "/etc/ssl/crl.pem");
	ck_assert_uint_eq(cfg.trust.npins, 2);
	ck_assert_str_eq(config_pinset(&cfg, "partner")->pins.v[0],
	    "cert-sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	ck_assert_uint_eq(cfg.domain_secure.receive.n, 2);
	ck_assert_str_eq(config_local_namespaces(&cfg)->v[0], "example.com");
	ck_assert_int_eq(cfg.domain_secure.match, DS_MATCH_SUBDOMAINS);
	ck_assert(config_domain_secure_used(&cfg));
	ck_assert_uint_eq(cfg.receive.nlisten, 2);
	addr_endpoint_format(&cfg.receive.listen[1], buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:2527");
	ck_assert_int_eq(cfg.receive.tls, RECV_TLS_REQUIRED);
	ck_assert(!cfg.receive.request_client_cert);
	ck_assert_str_eq(cfg.receive.accepted_domains.v[1], "example.org");
	addr_cidr_format(&cfg.receive.relay_networks[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "10.0.0.0/8");
	addr_cidr_format(&cfg.receive.relay_networks[2], buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.7/32");
	ck_assert_str_eq(cfg.receive.relay_pins[0].name, "hub");
	ck_assert_uint_eq(cfg.receive.max_message_size, 1048576);
	ck_assert_uint_eq(cfg.receive.max_recipients, 7);
	ck_assert_uint_eq(cfg.receive.max_connections, 20);
	ck_assert_uint_eq(cfg.receive.max_connections_per_ip, 3);
	ck_assert_uint_eq(cfg.receive.timeout_command, 30);
	ck_assert_uint_eq(cfg.receive.timeout_data, 60);
	ck_assert_uint_eq(cfg.receive.timeout_tls_handshake, 5);
	ck_assert_uint_eq(cfg.receive.min_data_rate, 0);	/* 0 = off */
	ck_assert(!cfg.receive.tls_tickets);
	ck_assert_uint_eq(cfg.receive.workers, 2);
	ck_assert(!cfg.receive.requiretls);
	ck_assert(!cfg.send.memory);
	ck_assert_int_eq(cfg.send.tls, LEVEL_MANDATORY);
	ck_assert_uint_eq(cfg.send.nroutes, 3);
	ck_assert_int_eq(cfg.send.routes[0].tls, LEVEL_DOMAIN_SECURE);
	ck_assert_int_eq(cfg.send.routes[0].hop.kind, HOP_HOSTPORT);
	ck_assert_str_eq(cfg.send.routes[0].hop.host, "mx.contoso.com");
	ck_assert_uint_eq(cfg.send.routes[0].hop.port, 25);
	ck_assert_str_eq(cfg.send.routes[1].domain, "*.example.net");
	ck_assert(!cfg.send.routes[1].has_tls);
	ck_assert_int_eq(cfg.send.routes[1].hop.kind, HOP_MAILDIR);
	ck_assert_str_eq(cfg.send.routes[1].hop.path, "/var/mail/x");
	ck_assert_str_eq(cfg.send.routes[2].domain, "*");
	ck_assert_uint_eq(cfg.send.routes[2].npins, 2);
	ck_assert_uint_eq(cfg.send.routes[2].hop.port, 2600);
	ck_assert(!cfg.send.client_cert);
	ck_assert_uint_eq(cfg.send.retry_first, 10);
	ck_assert_uint_eq(cfg.send.retry_max, 100);
	ck_assert_uint_eq(cfg.send.retry_lifetime, 1000);
	ck_assert_uint_eq(cfg.send.max_parallel, 5);
	ck_assert_str_eq(cfg.logs.dir, "/var/log/dsmtp");
	ck_assert_int_eq(cfg.logs.level, LOG_LEVEL_BASIC);
	ck_assert_int_eq(cfg.logs.format, LOG_FORMAT_JSON);
	ck_assert_uint_eq(cfg.logs.max_file_size, 65536);
	ck_assert_uint_eq(cfg.logs.max_age_days, 7);
	ck_assert(cfg.tlsrpt.enabled);
	ck_assert_str_eq(cfg.tlsrpt.organization, "Example \"Corp\"");
	ck_assert_str_eq(cfg.tlsrpt.contact, "https://example.com/tls");
	ck_assert_str_eq(cfg.tlsrpt.from, "tlsrpt@example.com");

	/* round trip: dump, load the dump, dump again: identical */
	f = open_memstream(&d1, &l1);
	config_dump(&cfg, f);
	fclose(f);
	ck_assert_int_eq(config_load_buffer("dump.yaml", d1, l1, &again, &errs), 0);
	f = open_memstream(&d2, &l2);
	config_dump(&again, f);
	fclose(f);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	config_free(&again);
	config_free(&cfg);
}
END_TEST

START_TEST(test_default_round_trip)
{
	struct dsmtp_config cfg, again;
	struct config_errors errs = { 0 };
	char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	FILE *f;

	ck_assert_int_eq(load("", &cfg, &errs), 0);
	f = open_memstream(&d1, &l1);
	config_dump(&cfg, f);
	fclose(f);
	ck_assert_int_eq(config_load_buffer("dump.yaml", d1, l1, &again, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	f = open_memstream(&d2, &l2);
	config_dump(&again, f);
	fclose(f);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	config_free(&again);
	config_free(&cfg);
}
END_TEST

/* every error class: the exact place and a word of the reason */
static const struct {
	const char *yaml;
	const char *want;	/* the first error must start with this */
	const char *why;	/* and contain this */
} bad[] = {
	{ "nonsense: 1\n", "t.yaml:1:1: nonsense: unknown key", "known here: hostname" },
	{ "receive:\n  listen: [ \"127.0.0.1:2525\" ]\n  bogus: true\n",
	  "t.yaml:3:3: receive.bogus: unknown key", "max_recipients" },
	{ "receive:\n  max_recipients: many\n", "t.yaml:2:19: receive.max_recipients:", "not a whole number" },
	{ "receive:\n  max_recipients: 0\n", "t.yaml:2:19: receive.max_recipients:", "out of range" },
	{ "receive:\n  max_recipients: [1]\n", "t.yaml:2:19: receive.max_recipients:", "found a list" },
	{ "receive:\n  request_client_cert: maybe\n", "t.yaml:2:24:", "not a boolean" },
	{ "receive: 5\n", "t.yaml:1:10: receive:", "expected a mapping" },
	{ "receive:\n  tls: sometimes\n", "t.yaml:2:8: receive.tls:", "(none, opportunistic, required)" },
	{ "send:\n  tls: secure\n", "t.yaml:2:8: send.tls:", "unknown value \"secure\"" },
	{ "receive:\n  listen: [ \"300.0.0.1:25\" ]\n", "t.yaml:2:13: receive.listen[0]:", "not an IPv4 address" },
	{ "receive:\n  listen: [ \"127.0.0.1:0\" ]\n", "t.yaml:2:13: receive.listen[0]:", "port \"0\"" },
	{ "receive:\n  listen: [ \"127.0.0.1:99999\" ]\n", "t.yaml:2:13:", "1 to 65535" },
	{ "receive:\n  listen: \"::1:25\"\n", "t.yaml:2:11: receive.listen:", "need brackets" },
	{ "receive:\n  listen: [ \"127.0.0.1\" ]\n", "t.yaml:2:13:", "expected ADDRESS:PORT" },
	{ "receive:\n  relay:\n    networks: [ 10.0.0.0/33 ]\n", "t.yaml:3:17: receive.relay.networks[0]:", "prefix length" },
	{ "receive:\n  relay:\n    networks: [ 10.0.0.x/8 ]\n", "t.yaml:3:17:", "not an IPv4 or IPv6 address" },
	{ "receive:\n  relay:\n    networks: [ \"::/129\" ]\n", "t.yaml:3:17:", "0..128" },
	{ "receive:\n  accepted_domains: [ \"exa mple.com\" ]\n", "t.yaml:2:23: receive.accepted_domains[0]:", "not allowed" },
	{ "receive:\n  accepted_domains: [ a..b ]\n", "t.yaml:2:23:", "empty label" },
	{ "receive:\n  accepted_domains: [ a.com, A.com ]\n", "t.yaml:2:30:", "listed twice" },
	{ "hostname: a\nhostname: b\n", "t.yaml:2:1: hostname: duplicate key", "" },
	{ "receive:\n  tls: none\n  tls: required\n", "t.yaml:3:3: receive.tls: duplicate key", "" },
	{ "receive: [\n", "t.yaml:2:1: YAML syntax error", "" },
	{ "a: b\n c: d\n", "t.yaml:2:3: YAML syntax error", "mapping values" },
	{ "receive:\n\tlisten: x\n", "t.yaml:2:1: YAML syntax error", "" },
	{ "- a\n- b\n", "t.yaml:1:1:", "expected a mapping of keys, found a list" },
	{ "x: &a 1\ny: *a\n", "t.yaml:1:1: x: unknown key", "" },
	{ "hostname: &h a.com\nstate_dir: *h\n", "t.yaml:1:11: state_dir:", "aliases are not supported" },
	{ "hostname: a\n---\nhostname: b\n", "t.yaml:2:1: only one YAML document", "" },
	{ "trust:\n  pins:\n    hub: [ \"sha256/short=\" ]\n", "t.yaml:3:12: trust.pins.hub[0]:", "44 base64" },
	{ "trust:\n  pins:\n    hub: [ \"sha1:0123\" ]\n", "t.yaml:3:12:", "never accepted as pins" },
	{ "trust:\n  pins:\n    hub: [ \"cert-sha256:12\" ]\n", "t.yaml:3:12:", "64 hex digits" },
	{ "trust:\n  pins:\n    hub: []\n", "t.yaml:3:10: trust.pins.hub:", "at least one pin" },
	{ "receive:\n  relay:\n    pins: [ nosuch ]\n", "t.yaml:3:13: receive.relay.pins:", "unknown pin name \"nosuch\"" },
	{ "send:\n  routes:\n    - domain: a.com\n      tls: pinned\n", "t.yaml:3:7: send.routes[0]:", "needs pins" },
	{ "send:\n  routes:\n    - next_hop: discard\n", "t.yaml:3:7: send.routes[0]:", "needs domain" },
	{ "send:\n  routes:\n    - domain: a.com\n      next_hop: \"[x\"\n", "t.yaml:4:17: send.routes[0]:", "missing ']'" },
	{ "send:\n  routes:\n    - domain: a.com\n      next_hop: \"maildir:rel\"\n", "t.yaml:4:17:", "absolute path" },
	{ "send:\n  routes:\n    - domain: a.com\n      next_hop: \"[h]:0\"\n", "t.yaml:4:17:", "port" },
	{ "send:\n  routes:\n    - domain: a.com\n      colour: blue\n", "t.yaml:4:7: send.routes[0].colour: unknown key", "" },
	{ "send:\n  routes: { domain: a.com }\n", "t.yaml:2:11: send.routes:", "expected a list" },
	{ "send:\n  retry: { first: -1 }\n", "t.yaml:2:19: send.retry.first:", "not a whole number" },
	{ "tlsrpt:\n  enabled: yes please\n", "t.yaml:2:12: tlsrpt.enabled:", "not a boolean" },
	{ "tlsrpt:\n  from: \"a b@c.example\"\n", "t.yaml:2:9: tlsrpt.from:", "plain address" },
	{ "tlsrpt:\n  from: \"@c.example\"\n", "t.yaml:2:9: tlsrpt.from:", "plain address" },
	{ "tlsrpt:\n  from: \"a@c.example>\\r\\nBcc: x\"\n", "t.yaml:2:9: tlsrpt.from:", "control character" },
	{ "tlsrpt:\n  organization: \"a\\r\\nX-Evil: 1\"\n", "t.yaml:2:17: tlsrpt.organization:", "control character" },
	{ "tlsrpt:\n  contact: [ a ]\n", "t.yaml:2:12: tlsrpt.contact:", "found a list" },
	{ "logs:\n  level: loud\n", "t.yaml:2:10: logs.level:", "(none, basic, verbose)" },
	{ "logs:\n  format: xml\n", "t.yaml:2:11: logs.format:", "(csv, json)" },
	{ "domain_secure:\n  match: fuzzy\n", "t.yaml:2:10: domain_secure.match:", "exact, wildcard, subdomains" },
	{ "receive:\n  workers: lots\n", "t.yaml:2:12: receive.workers:", "\"auto\"" },
	{ "certificates:\n  - cert: /a.pem\n", "t.yaml:2:5: certificates[0]:", "both cert: and key:" },
	{ "hostname:\n", "t.yaml:1:10: hostname:", "empty value" },
	{ "? [a]\n: b\n", "t.yaml:1:3:", "a key must be a plain word" },
	/* found by fuzzing: values a dump could not write back */
	{ "state_dir: \"/var/lib/\\x80dsmtp\"\n", "t.yaml:1:12: state_dir:", "control character" },
	{ "logs:\n  dir: \"a\\Nb\"\n", "t.yaml:2:8: logs.dir:", "control character" },
	{ "hostname: a\n\n\nstate_dir: \x01\n", "t.yaml:4:12: YAML syntax error", "control characters" },
};

START_TEST(test_bad)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };

	ck_assert_int_eq(load(bad[_i].yaml, &cfg, &errs), -1);
	ck_assert_msg(errs.n >= 1, "case %d: no error", _i);
	ck_assert_msg(strncmp(errs.msg[0], bad[_i].want, strlen(bad[_i].want)) == 0,
	    "case %d: got \"%s\", want prefix \"%s\"", _i, errs.msg[0], bad[_i].want);
	ck_assert_msg(strstr(errs.msg[0], bad[_i].why) != NULL,
	    "case %d: got \"%s\", want \"%s\" in it", _i, errs.msg[0], bad[_i].why);
	config_errors_free(&errs);
	config_free(&cfg);
}
END_TEST

START_TEST(test_pin_name_round_trip)
{
	struct dsmtp_config cfg, again;
	struct config_errors errs = { 0 };
	char *d = NULL;
	size_t l = 0;
	FILE *f;

	/* a pin set named like a YAML keyword stays a name through a dump */
	ck_assert_int_eq(load("trust:\n  pins:\n    \"null\": [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n",
	    &cfg, &errs), 0);
	f = open_memstream(&d, &l);
	config_dump(&cfg, f);
	fclose(f);
	ck_assert_int_eq(config_load_buffer("dump.yaml", d, l, &again, &errs), 0);
	ck_assert_ptr_nonnull(config_pinset(&again, "null"));
	free(d);
	config_free(&again);
	config_free(&cfg);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };

	ck_assert_int_eq(load("a: 1\nreceive:\n  tls: x\nlogs:\n  level: y\n", &cfg, &errs), -1);
	ck_assert_uint_eq(errs.n, 3);
	ck_assert_ptr_nonnull(strstr(errs.msg[0], "t.yaml:1:1:"));
	ck_assert_ptr_nonnull(strstr(errs.msg[1], "t.yaml:3:8:"));
	ck_assert_ptr_nonnull(strstr(errs.msg[2], "t.yaml:5:10:"));
	config_errors_free(&errs);
	config_free(&cfg);
}
END_TEST

START_TEST(test_empty_sections)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };

	ck_assert_int_eq(load("receive:\nsend:\n  routes: []\n", &cfg, &errs), 0);
	ck_assert_uint_eq(cfg.receive.max_recipients, 100);
	ck_assert_uint_eq(cfg.send.nroutes, 0);
	config_free(&cfg);
}
END_TEST

START_TEST(test_pin_normalise)
{
	char out[128];
	struct dsmtp_err err;

	ck_assert_int_eq(config_pin_normalise("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
	    out, sizeof(out), &err), 0);
	ck_assert_str_eq(out, "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	/* the last character before '=' must leave the low bits zero */
	ck_assert_int_eq(config_pin_normalise("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
	    out, sizeof(out), &err), -1);
	ck_assert_int_eq(config_pin_normalise("cert-sha256:" "00112233445566778899AABBCCDDEEFF"
	    "00112233445566778899aabbccddeeff", out, sizeof(out), &err), 0);
	ck_assert_str_eq(out, "cert-sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	ck_assert_int_eq(config_pin_normalise("md5:00", out, sizeof(out), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a pin"));
}
END_TEST

START_TEST(test_cidr_contains)
{
	struct addr_cidr c;
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };

	ck_assert_int_eq(addr_parse_cidr("10.0.0.0/8", &c, NULL), 0);
	inet_pton(AF_INET, "10.200.1.1", &s4.sin_addr);
	ck_assert(addr_cidr_contains(&c, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "11.0.0.1", &s4.sin_addr);
	ck_assert(!addr_cidr_contains(&c, (struct sockaddr *)&s4));
	/* a v4-mapped client on a dual-stack socket counts as IPv4 */
	inet_pton(AF_INET6, "::ffff:10.9.9.9", &s6.sin6_addr);
	ck_assert(addr_cidr_contains(&c, (struct sockaddr *)&s6));
	ck_assert_int_eq(addr_parse_cidr("2001:db8::/32", &c, NULL), 0);
	inet_pton(AF_INET6, "2001:db8:ffff::1", &s6.sin6_addr);
	ck_assert(addr_cidr_contains(&c, (struct sockaddr *)&s6));
	inet_pton(AF_INET6, "2001:db9::1", &s6.sin6_addr);
	ck_assert(!addr_cidr_contains(&c, (struct sockaddr *)&s6));
	ck_assert_int_eq(addr_parse_cidr("0.0.0.0/0", &c, NULL), 0);
	ck_assert(addr_cidr_is_everything(&c));
}
END_TEST

/* ---- the dump: values YAML would read as something else ---- */

static char *
dump_string(const struct dsmtp_config *cfg)
{
	char *d = NULL;
	size_t l = 0;
	FILE *f = open_memstream(&d, &l);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(config_dump(cfg, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return d;
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	ck_assert_ptr_nonnull(*dst);
}

/* strings a plain scalar would turn into another type, null, or
 * something cut short or not a scalar at all */
static const char *const awkward[] = {
	"", " ", "true", "false", "yes", "No", "on", "OFF", "y", "null", "Null", "~", "123",
	"0x1F", "0o17", "-1.5e3", "1_000", ".inf", "-.NaN", "2001-12-14", "12:30:45", "a: b",
	"a:b", "a #b", "#comment", "  leading", "trailing  ", "- item", "-", "[x]", "{y}", "a, b",
	"&anchor", "*alias", "!tag", "%percent", "@at", "`tick", "'single'", "\"double\"",
	"back\\slash", "? key", "?", ":", "|", ">", "---", "...", "<<", "=",
	"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "a very long value with spaces that an "
	"emitter folding at eighty columns would break across two lines, and then some more"
};

/* every free-text string key set to one awkward value, dumped, loaded and
 * dumped again: the same value everywhere, the same bytes */
START_TEST(test_dump_awkward_strings)
{
	const char *v = awkward[_i];
	struct dsmtp_config cfg, again;
	struct config_errors errs = { 0 };
	char *d1, *d2;

	ck_assert_int_eq(load("certificates:\n  - { cert: /a, key: /b }\n", &cfg, &errs), 0);
	set_str(&cfg.state_dir, v);
	set_str(&cfg.user, v);
	set_str(&cfg.tls_priority, v);
	set_str(&cfg.certificates[0].cert, v);
	set_str(&cfg.certificates[0].key, v);
	set_str(&cfg.trust.ca_file, v);
	set_str(&cfg.dns.trust_anchor_file, v);
	set_str(&cfg.mta_sts.ca_file, v);
	set_str(&cfg.logs.dir, v);
	set_str(&cfg.tlsrpt.organization, v);
	set_str(&cfg.tlsrpt.contact, v);
	cfg.trust.crl_file = strdup(v);
	ck_assert_ptr_nonnull(cfg.trust.crl_file);

	d1 = dump_string(&cfg);
	ck_assert_msg(config_load_buffer("dump.yaml", d1, strlen(d1), &again, &errs) == 0,
	    "value \"%s\": the dump does not load: %s\n%s", v, errs.n ? errs.msg[0] : "", d1);
	ck_assert_str_eq(again.state_dir, v);
	ck_assert_str_eq(again.user, v);
	ck_assert_str_eq(again.tls_priority, v);
	ck_assert_uint_eq(again.ncertificates, 1);
	ck_assert_str_eq(again.certificates[0].cert, v);
	ck_assert_str_eq(again.certificates[0].key, v);
	ck_assert_str_eq(again.trust.ca_file, v);
	ck_assert_str_eq(again.trust.crl_file, v);
	ck_assert_str_eq(again.dns.trust_anchor_file, v);
	ck_assert_str_eq(again.mta_sts.ca_file, v);
	ck_assert_str_eq(again.logs.dir, v);
	ck_assert_str_eq(again.tlsrpt.organization, v);
	ck_assert_str_eq(again.tlsrpt.contact, v);
	/* nothing else moved */
	ck_assert_str_eq(again.hostname, cfg.hostname);
	ck_assert_uint_eq(again.receive.max_recipients, 100);
	ck_assert_int_eq(again.send.tls, LEVEL_OPPORTUNISTIC);
	d2 = dump_string(&again);
	ck_assert_str_eq(d1, d2);
	/* never folded: the value is one line, the next key the next line */
	{
		const char *org = strstr(d1, "\n  organization: \"");

		ck_assert_ptr_nonnull(org);
		ck_assert_ptr_eq(strchr(org + 1, '\n'), strstr(org, "\n  contact: \""));
	}
	free(d1);
	free(d2);
	config_free(&again);
	config_free(&cfg);
}
END_TEST

/* the value of KEY in the mapping node n, or NULL */
static yaml_node_t *
yaml_get(yaml_document_t *doc, yaml_node_t *n, const char *key)
{
	ck_assert_int_eq(n->type, YAML_MAPPING_NODE);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* line breaks and controls, which the loader refuses in every value:
 * the dump still writes YAML that reads back to the exact bytes, each
 * value escaped onto its own line */
static const char *const controls[] = {
	"line1\nline2", "cr\rlf", "tab\there", "nul-less \x01\x1f", "del\x7f", "nel\xc2\x85x",
	"c1 \xc2\x9b", "ls\xe2\x80\xa8ps\xe2\x80\xa9", "bom\xef\xbb\xbf", "\nleading break",
	"trailing break\n",
};

START_TEST(test_dump_controls)
{
	const char *v = controls[_i];
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *tlsrpt, *org;
	size_t lines = 0;
	char *d, *base;

	ck_assert_int_eq(load("", &cfg, &errs), 0);
	base = dump_string(&cfg);
	set_str(&cfg.tlsrpt.organization, v);
	d = dump_string(&cfg);
	/* as many lines as the dump of the defaults: nothing broke a line */
	for (const char *p = d; *p; p++)
		lines += *p == '\n';
	for (const char *p = base; *p; p++)
		lines -= *p == '\n';
	ck_assert_uint_eq(lines, 0);
	ck_assert_ptr_null(strchr(d, '\r'));
	ck_assert_ptr_null(strchr(d, '\t'));
	ck_assert_ptr_null(strstr(d, "\xc2\x85"));
	ck_assert_ptr_null(strstr(d, "\xe2\x80\xa8"));

	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)d, strlen(d));
	ck_assert_msg(yaml_parser_load(&parser, &doc), "the dump is not YAML: %s", parser.problem);
	tlsrpt = yaml_get(&doc, yaml_document_get_root_node(&doc), "tlsrpt");
	ck_assert_ptr_nonnull(tlsrpt);
	org = yaml_get(&doc, tlsrpt, "organization");
	ck_assert_ptr_nonnull(org);
	ck_assert_int_eq(org->type, YAML_SCALAR_NODE);
	ck_assert_uint_eq(org->data.scalar.length, strlen(v));
	ck_assert_str_eq((char *)org->data.scalar.value, v);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);

	/* and the loader refuses it, at its place */
	config_free(&cfg);
	ck_assert_int_eq(config_load_buffer("dump.yaml", d, strlen(d), &cfg, &errs), -1);
	ck_assert_uint_ge(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msg[0], "tlsrpt.organization: control character"));
	config_errors_free(&errs);
	free(d);
	free(base);
	config_free(&cfg);
}
END_TEST

/* pin set names are keys of trust.pins: quoted, so they stay names */
START_TEST(test_dump_pin_set_names)
{
	static const char yaml[] =
	    "trust:\n  pins:\n"
	    "    \"true\": [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "    \"no\": [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "    \"123\": [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "    \"null\": [ \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\" ]\n"
	    "receive:\n  relay:\n    pins: [ \"true\", \"null\" ]\n"
	    "send:\n  routes:\n    - { domain: \"*\", tls: pinned, pins: [ \"123\", \"no\" ] }\n";
	static const char *const names[] = { "true", "no", "123", "null" };
	struct dsmtp_config cfg, again;
	struct config_errors errs = { 0 };
	char *d1, *d2;

	ck_assert_int_eq(load(yaml, &cfg, &errs), 0);
	d1 = dump_string(&cfg);
	ck_assert_msg(config_load_buffer("dump.yaml", d1, strlen(d1), &again, &errs) == 0,
	    "%s\n%s", errs.n ? errs.msg[0] : "", d1);
	ck_assert_uint_eq(again.trust.npins, 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(again.trust.pins[i].name, names[i]);
	ck_assert_str_eq(again.receive.relay_pins[1].name, "null");
	ck_assert_str_eq(again.send.routes[0].pins[0].name, "123");
	d2 = dump_string(&again);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	config_free(&again);
	config_free(&cfg);
}
END_TEST

/* a default that is not UTF-8 (HOME, say) has no YAML form: an error,
 * not a file that does not load */
START_TEST(test_dump_not_utf8)
{
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };
	char *d = NULL;
	size_t l = 0;
	FILE *f;

	ck_assert_int_eq(load("", &cfg, &errs), 0);
	set_str(&cfg.state_dir, "/home/j\xe9r\xf4me/.local/state/dsmtp");
	ck_assert_ptr_nonnull(f = open_memstream(&d, &l));
	ck_assert_int_eq(config_dump(&cfg, f), -1);
	fclose(f);
	free(d);
	config_free(&cfg);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_absent_file_is_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_default_round_trip);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_pin_name_round_trip);
	tcase_add_test(tc, test_empty_sections);
	tcase_add_test(tc, test_pin_normalise);
	tcase_add_test(tc, test_cidr_contains);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	tc = tcase_create("dump");
	tcase_add_loop_test(tc, test_dump_awkward_strings, 0,
	    (int)(sizeof(awkward) / sizeof(awkward[0])));
	tcase_add_loop_test(tc, test_dump_controls, 0, (int)(sizeof(controls) / sizeof(controls[0])));
	tcase_add_test(tc, test_dump_pin_set_names);
	tcase_add_test(tc, test_dump_not_utf8);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(config_suite());
}
