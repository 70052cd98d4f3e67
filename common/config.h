/* config.h: the one configuration of every dsmtp program (DESIGN.md section 5),
 * as typed structs, loaded from YAML by config.c (with config_yaml.c and
 * config_schema.c). Every key has a default;
 * config_load() on an absent file gives the defaults. */
#ifndef DSMTP_CONFIG_H
#define DSMTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"

#define CONFIG_DEFAULT_PATH	"/etc/dsmtp/dsmtp.yaml"
/* NORMAL with X25519 first (GnuTLS lists P-256 first): the cheaper ECDHE,
 * and what OpenSSL-based peers offer a key share for anyway; between two
 * GnuTLS ends (dsmtpc -> dsmtpd) it is the group chosen. */
#define CONFIG_DEFAULT_PRIORITY	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:" \
	"+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:+GROUP-FFDHE3072:" \
	"+GROUP-FFDHE4096:%SERVER_PRECEDENCE"

/* send-side TLS levels, weakest first: the order is the point (policy/ has
 * the predicates), so never compare their names */
enum dsmtp_level {
	LEVEL_NONE,
	LEVEL_OPPORTUNISTIC,
	LEVEL_MANDATORY,
	LEVEL_VERIFY,
	LEVEL_DOMAIN_SECURE,
	LEVEL_PINNED,
	/* RFC 7672: outside the ladder above, because how strong they are is
	 * decided per MX host by DNSSEC at delivery time (policy/ maps them to
	 * opportunistic, mandatory or DANE-authenticated); appended so the
	 * ladder's numbers stay as they were */
	LEVEL_DANE,
	LEVEL_DANE_ONLY,
};
/* dns.dnssec: how DNSSEC status is learnt (DESIGN.md 13.1) */
enum dns_dnssec { DNSSEC_OFF, DNSSEC_VALIDATE, DNSSEC_TRUST_AD };
enum recv_tls { RECV_TLS_NONE, RECV_TLS_OPPORTUNISTIC, RECV_TLS_REQUIRED };
enum ds_match { DS_MATCH_EXACT, DS_MATCH_WILDCARD, DS_MATCH_SUBDOMAINS };
enum log_level { LOG_LEVEL_NONE, LOG_LEVEL_BASIC, LOG_LEVEL_VERBOSE };
enum log_format { LOG_FORMAT_CSV, LOG_FORMAT_JSON };

const char *config_level_name(enum dsmtp_level l);
const char *config_recv_tls_name(enum recv_tls t);
const char *config_match_name(enum ds_match m);
const char *config_log_level_name(enum log_level l);
const char *config_log_format_name(enum log_format f);
const char *config_dnssec_name(enum dns_dnssec d);
int config_level_parse(const char *s, enum dsmtp_level *l);

struct cfg_strlist {
	char	**v;
	size_t	  n;
};

/* a reference to a pin set by name, or a literal pin, kept with its place */
struct cfg_pinref {
	char	*name;		/* "hub", or a literal "sha256/..." / "cert-sha256:..." */
	int	 line, column;	/* 1-based, for errors found after loading */
};

struct cfg_pinset {
	char			*name;
	struct cfg_strlist	 pins;	/* normalised "sha256/B64" or "cert-sha256:hex" */
};

struct cfg_certfile {
	char	*cert;
	char	*key;
};

struct cfg_route {
	char			*domain;	/* normalised; "*" = everything */
	bool			 has_hop;
	struct addr_hop		 hop;		/* absent: MX lookup of the recipient domain */
	bool			 has_tls;
	enum dsmtp_level	 tls;		/* absent: send.tls */
	struct cfg_pinref	*pins;
	size_t			 npins;
};

/* logs.peers: one peer's protocol log level */
struct cfg_logpeer {
	char			*match;		/* as written (normalised domain, or the network) */
	bool			 is_net;	/* an IP address or CIDR ... */
	struct addr_cidr	 net;
	enum log_level		 level;
};

struct dsmtp_config {
	char			*source;	/* file it came from, or NULL for defaults */
	char			*hostname;
	char			*state_dir;
	char			*user;		/* started as root: run as this user (DESIGN.md 13.4) */
	char			*tls_priority;
	struct cfg_certfile	*certificates;
	size_t			 ncertificates;
	struct {
		char			*ca_file;	/* "system" or a PEM path */
		char			*crl_file;	/* NULL: none */
		struct cfg_pinset	*pins;
		size_t			 npins;
	} trust;
	struct {
		struct cfg_strlist	 send, receive, local;
		bool			 local_set;	/* false: local = receive.accepted_domains */
		enum ds_match		 match;
	} domain_secure;
	struct {
		struct addr_endpoint	*listen;
		size_t			 nlisten;
		enum recv_tls		 tls;
		bool			 request_client_cert;
		struct cfg_strlist	 accepted_domains;
		struct addr_cidr	*relay_networks;
		size_t			 nrelay_networks;
		struct cfg_pinref	*relay_pins;
		size_t			 nrelay_pins;
		uint64_t		 max_message_size;
		unsigned		 max_recipients;
		unsigned		 max_connections;
		unsigned		 max_connections_per_ip;
		unsigned		 timeout_command, timeout_data, timeout_tls_handshake;
		unsigned		 min_data_rate;	/* octets/s in DATA/BDAT; 0 = off */
		bool			 tls_tickets;
		unsigned		 workers;	/* 0 = auto (one per core) */
		bool			 requiretls;	/* advertise RFC 8689 inside TLS */
		bool			 metrics_set;	/* false: no metrics server */
		struct addr_endpoint	 metrics;
	} receive;
	struct {
		enum dsmtp_level	 tls;
		struct cfg_route	*routes;
		size_t			 nroutes;
		bool			 client_cert;
		unsigned		 retry_first, retry_max, retry_lifetime;
		unsigned		 max_parallel;
		unsigned		 connection_cache_time;	/* s an idle session is kept */
		bool			 memory;	/* per-domain security memory (DESIGN 13.3) */
		bool			 metrics_set;	/* false: no metrics server */
		struct addr_endpoint	 metrics;
	} send;
	struct {
		struct addr_endpoint	*resolvers;	/* none: "system" (/etc/resolv.conf) */
		size_t			 nresolvers;
		enum dns_dnssec		 dnssec;
		char			*trust_anchor_file;	/* DS or DNSKEY records (validate) */
	} dns;
	struct {	/* RFC 8461 (DESIGN.md 13.2) */
		bool			 enabled;
		char			*ca_file;	/* HTTPS trust: "trust" = trust.ca_file,
							 * "system", or a PEM path */
		unsigned		 port;		/* the policy host's port: 443 (tests only) */
	} mta_sts;
	struct {
		char			*dir;		/* relative to state_dir unless absolute */
		enum log_level		 level;
		enum log_format		 format;
		uint64_t		 max_file_size;
		unsigned		 max_age_days;
		struct cfg_logpeer	*peers;		/* per-peer overrides of level */
		size_t			 npeers;
	} logs;
	struct {
		bool			 enabled;	/* send daily RFC 8460 reports (recording is always on) */
		char			*organization;	/* organization-name; "" = hostname */
		char			*contact;	/* contact-info; "" = postmaster@hostname */
		char			*from;		/* the report mail's sender; "" = postmaster@hostname */
	} tlsrpt;
};

/* every problem found, each "FILE:LINE:COLUMN: what is wrong" */
struct config_errors {
	char	**msg;
	size_t	  n;
};

/* Load path into cfg (defaults first). path NULL: DESIGN.md's rule (the
 * default file if it exists, else defaults). must_exist: an explicit -c.
 * Returns 0, or -1 with errs filled (every error in the file, not just one). */
int config_load(const char *path, bool must_exist, struct dsmtp_config *cfg,
    struct config_errors *errs);
/* the same from a buffer; name is used in messages */
int config_load_buffer(const char *name, const char *buf, size_t len,
    struct dsmtp_config *cfg, struct config_errors *errs);
void config_defaults(struct dsmtp_config *cfg);
void config_free(struct dsmtp_config *cfg);
void config_errors_print(const struct config_errors *errs);
void config_errors_free(struct config_errors *errs);

/* the namespaces partners authenticate us by (local, or accepted_domains) */
const struct cfg_strlist *config_local_namespaces(const struct dsmtp_config *cfg);
/* the pin set with this name, or NULL */
const struct cfg_pinset *config_pinset(const struct dsmtp_config *cfg, const char *name);
/* is any domain-secure link configured? */
bool config_domain_secure_used(const struct dsmtp_config *cfg);

/* print the effective configuration as YAML that loads back to the same
 * (config_dump.c); -1 (with a warning) if a value has no YAML form (not
 * UTF-8) or out cannot be written */
int config_dump(const struct dsmtp_config *cfg, FILE *out);

/* state_dir (and sub, if not NULL) created 0700 if missing; path in out */
int config_state_path(const struct dsmtp_config *cfg, const char *sub, char *out,
    size_t outlen, struct dsmtp_err *err);

/* the shared -c handling: load or print errors and exit 78 */
void config_load_or_exit(const char *path, struct dsmtp_config *cfg);

/* pin syntax: "sha256/<base64 of 32 bytes>" or "cert-sha256:<64 hex>" (colons
 * allowed, case-insensitive); normalised into out. SHA-1 is refused. */
int config_pin_normalise(const char *in, char *out, size_t outlen, struct dsmtp_err *err);

#endif
