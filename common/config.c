/* config.c: the configuration's entry points (DESIGN.md section 5): the
 * defaults of every key, loading a file or a buffer (through the walker in
 * config_yaml.c and the schema in config_schema.c), the checks across keys
 * made once the whole file is read, freeing, and the lookups and state_dir
 * paths the programs share. The dump (--print-config) is config_dump.c. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netdb.h>
#include <arpa/inet.h>

#include "common/config.h"
#include "common/config_int.h"
#include "common/owner.h"

#define CONFIG_MAX_FILE		(4u << 20)	/* a config larger than 4 MiB is a mistake */

/* ---- checks across keys, after the walk ---- */

/* names used as pins must be pin sets of trust.pins */
static void
check_pinrefs(const char *name, const struct dsmtp_config *cfg, struct config_errors *errs,
    const struct cfg_pinref *refs, size_t n, const char *where)
{
	for (size_t i = 0; i < n; i++) {
		char line[1024];

		if (strncmp(refs[i].name, "sha256/", 7) == 0 ||
		    strncmp(refs[i].name, "cert-sha256:", 12) == 0)
			continue;
		if (config_pinset(cfg, refs[i].name))
			continue;
		snprintf(line, sizeof(line), "%s:%d:%d: %s: unknown pin name \"%s\" (define it under trust.pins)",
		    name, refs[i].line, refs[i].column, where, refs[i].name);
		config_errs_add(errs, line);
	}
}

static void
check_after(const char *name, const struct dsmtp_config *cfg, struct config_errors *errs)
{
	check_pinrefs(name, cfg, errs, cfg->receive.relay_pins, cfg->receive.nrelay_pins,
	    "receive.relay.pins");
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		char where[64];

		snprintf(where, sizeof(where), "send.routes[%zu].pins", i);
		check_pinrefs(name, cfg, errs, cfg->send.routes[i].pins, cfg->send.routes[i].npins,
		    where);
	}
	/* RFC 6698 A.3 / RFC 7672 1.3: an AD bit means something only on a
	 * path nobody else can write to: the resolver must be on this host */
	for (size_t i = 0; cfg->dns.dnssec == DNSSEC_TRUST_AD && i < cfg->dns.nresolvers; i++) {
		const struct addr_endpoint *e = &cfg->dns.resolvers[i];
		static const unsigned char v6lo[16] = { [15] = 1 };
		char line[512], a[80];

		if ((e->family == AF_INET && e->addr[0] == 127) ||
		    (e->family == AF_INET6 && memcmp(e->addr, v6lo, 16) == 0))
			continue;
		addr_endpoint_format(e, a, sizeof(a));
		snprintf(line, sizeof(line), "%s: dns.resolver: %s is not a loopback address "
		    "(dns.dnssec: trust-ad believes the AD bit only from a resolver on this host)",
		    name, a);
		config_errs_add(errs, line);
	}
}

/* ---- entry points ---- */

int
config_load_buffer(const char *name, const char *buf, size_t len, struct dsmtp_config *cfg,
    struct config_errors *errs)
{
	size_t before = errs ? errs->n : 0;
	int rc;

	config_defaults(cfg);
	if ((cfg->source = strdup(name)) == NULL)
		return -1;
	rc = config_yaml_load(name, buf, len, config_schema_top, cfg, errs);
	if (rc == 0)
		check_after(name, cfg, errs);
	if (errs && errs->n > before)
		rc = -1;
	return rc;
}

int
config_load(const char *path, bool must_exist, struct dsmtp_config *cfg, struct config_errors *errs)
{
	FILE *f;
	char *buf;
	size_t len;
	struct stat st;
	int rc;

	if (path == NULL) {
		path = CONFIG_DEFAULT_PATH;
		must_exist = false;
	}
	if ((f = fopen(path, "rb")) == NULL) {
		char line[1024];

		if (errno == ENOENT && !must_exist) {
			config_defaults(cfg);
			return 0;
		}
		snprintf(line, sizeof(line), "%s: cannot open: %s", path, strerror(errno));
		config_errs_add(errs, line);
		config_defaults(cfg);
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > CONFIG_MAX_FILE) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: not a regular file of at most 4 MiB", path);
		config_errs_add(errs, line);
		fclose(f);
		config_defaults(cfg);
		return -1;
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (buf == NULL || fread(buf, 1, len, f) != len) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: cannot read", path);
		config_errs_add(errs, line);
		free(buf);
		fclose(f);
		config_defaults(cfg);
		return -1;
	}
	buf[len] = '\0';
	fclose(f);
	rc = config_load_buffer(path, buf, len, cfg, errs);
	free(buf);
	return rc;
}

/* the machine's name, fully qualified if the resolver knows it */
static char *
default_hostname(void)
{
	char host[256] = "localhost";
	struct addrinfo hints = { 0 }, *res = NULL;
	char *out;

	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (strchr(host, '.') == NULL) {
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(host, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
		    strchr(res->ai_canonname, '.'))
			snprintf(host, sizeof(host), "%s", res->ai_canonname);
		if (res)
			freeaddrinfo(res);
	}
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	out = strdup(host);
	return out;
}

static char *
default_state_dir(void)
{
	char buf[PATH_MAX];
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *sd = getenv("STATE_DIRECTORY");

	/* systemd's StateDirectory= (the units run as the dsmtp user): the
	 * first of its colon-separated absolute paths */
	if (sd && sd[0] == '/') {
		size_t n = strcspn(sd, ":");

		if (n < sizeof(buf)) {
			memcpy(buf, sd, n);
			buf[n] = '\0';
			return strdup(buf);
		}
	}
	if (geteuid() == 0)
		return strdup("/var/lib/dsmtp");
	if (xdg && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/dsmtp", xdg);
	else {
		if (home == NULL || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : "/tmp";
		}
		snprintf(buf, sizeof(buf), "%s/.local/state/dsmtp", home);
	}
	return strdup(buf);
}

void
config_defaults(struct dsmtp_config *cfg)
{
	struct addr_cidr c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = default_hostname();
	cfg->state_dir = default_state_dir();
	/* DSMTP_USER: the test harness's default (tests/t/lib.sh) */
	cfg->user = strdup(getenv("DSMTP_USER") && getenv("DSMTP_USER")[0] ? getenv("DSMTP_USER") :
	    "dsmtp");
	cfg->tls_priority = strdup(CONFIG_DEFAULT_PRIORITY);
	cfg->trust.ca_file = strdup("system");
	cfg->domain_secure.match = DS_MATCH_EXACT;

	cfg->receive.listen = calloc(1, sizeof(*cfg->receive.listen));
	if (cfg->receive.listen) {
		(void)addr_parse_endpoint("127.0.0.1:2525", cfg->receive.listen, NULL);
		cfg->receive.nlisten = 1;
	}
	cfg->receive.tls = RECV_TLS_OPPORTUNISTIC;
	cfg->receive.request_client_cert = true;
	cfg->receive.relay_networks = calloc(2, sizeof(c));
	if (cfg->receive.relay_networks) {
		(void)addr_parse_cidr("127.0.0.0/8", &cfg->receive.relay_networks[0], NULL);
		(void)addr_parse_cidr("::1/128", &cfg->receive.relay_networks[1], NULL);
		cfg->receive.nrelay_networks = 2;
	}
	cfg->receive.max_message_size = 36700160;
	cfg->receive.max_recipients = 100;
	cfg->receive.max_connections = 1000;
	cfg->receive.max_connections_per_ip = 50;
	cfg->receive.timeout_command = 300;
	cfg->receive.timeout_data = 600;
	cfg->receive.timeout_tls_handshake = 30;
	cfg->receive.min_data_rate = 1024;
	cfg->receive.tls_tickets = true;
	cfg->receive.workers = 0;

	cfg->send.tls = LEVEL_OPPORTUNISTIC;
	cfg->send.client_cert = true;
	cfg->send.retry_first = 60;
	cfg->send.retry_max = 3600;
	cfg->send.retry_lifetime = 172800;
	cfg->send.max_parallel = 100;
	cfg->send.connection_cache_time = 2;
	cfg->send.memory = true;
	cfg->receive.requiretls = true;

	cfg->dns.dnssec = DNSSEC_OFF;
	cfg->dns.trust_anchor_file = strdup("/usr/share/dns/root.key");

	cfg->mta_sts.enabled = false;
	cfg->mta_sts.ca_file = strdup("trust");
	cfg->mta_sts.port = 443;

	cfg->logs.dir = strdup("logs");
	cfg->logs.level = LOG_LEVEL_VERBOSE;
	cfg->logs.format = LOG_FORMAT_CSV;
	cfg->logs.max_file_size = 10485760;
	cfg->logs.max_age_days = 30;

	cfg->tlsrpt.organization = strdup("");
	cfg->tlsrpt.contact = strdup("");
	cfg->tlsrpt.from = strdup("");
}

static void
pinrefs_free(struct cfg_pinref *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].name);
	free(r);
}

void
config_free(struct dsmtp_config *cfg)
{
	free(cfg->source);
	free(cfg->hostname);
	free(cfg->state_dir);
	free(cfg->user);
	free(cfg->tls_priority);
	for (size_t i = 0; i < cfg->ncertificates; i++) {
		free(cfg->certificates[i].cert);
		free(cfg->certificates[i].key);
	}
	free(cfg->certificates);
	free(cfg->trust.ca_file);
	free(cfg->trust.crl_file);
	for (size_t i = 0; i < cfg->trust.npins; i++) {
		free(cfg->trust.pins[i].name);
		config_strlist_free(&cfg->trust.pins[i].pins);
	}
	free(cfg->trust.pins);
	config_strlist_free(&cfg->domain_secure.send);
	config_strlist_free(&cfg->domain_secure.receive);
	config_strlist_free(&cfg->domain_secure.local);
	free(cfg->receive.listen);
	config_strlist_free(&cfg->receive.accepted_domains);
	free(cfg->receive.relay_networks);
	pinrefs_free(cfg->receive.relay_pins, cfg->receive.nrelay_pins);
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		free(cfg->send.routes[i].domain);
		pinrefs_free(cfg->send.routes[i].pins, cfg->send.routes[i].npins);
	}
	free(cfg->send.routes);
	free(cfg->dns.resolvers);
	free(cfg->dns.trust_anchor_file);
	free(cfg->mta_sts.ca_file);
	free(cfg->logs.dir);
	free(cfg->tlsrpt.organization);
	free(cfg->tlsrpt.contact);
	free(cfg->tlsrpt.from);
	for (size_t i = 0; i < cfg->logs.npeers; i++)
		free(cfg->logs.peers[i].match);
	free(cfg->logs.peers);
	memset(cfg, 0, sizeof(*cfg));
}

void
config_errors_print(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
}

void
config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

const struct cfg_strlist *
config_local_namespaces(const struct dsmtp_config *cfg)
{
	return cfg->domain_secure.local_set ? &cfg->domain_secure.local :
	    &cfg->receive.accepted_domains;
}

const struct cfg_pinset *
config_pinset(const struct dsmtp_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->trust.npins; i++)
		if (strcmp(cfg->trust.pins[i].name, name) == 0)
			return &cfg->trust.pins[i];
	return NULL;
}

bool
config_domain_secure_used(const struct dsmtp_config *cfg)
{
	if (cfg->domain_secure.send.n || cfg->domain_secure.receive.n)
		return true;
	for (size_t i = 0; i < cfg->send.nroutes; i++)
		if (cfg->send.routes[i].has_tls && cfg->send.routes[i].tls == LEVEL_DOMAIN_SECURE)
			return true;
	return cfg->send.tls == LEVEL_DOMAIN_SECURE;
}

static int
mkdir_safe(const char *path, struct dsmtp_err *err)
{
	struct stat st;
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (mkdir(path, 0700) == 0) {
		/* made by root under a dir of the service user's: the user's */
		if (slash && slash != path && (size_t)(slash - path) < sizeof(parent)) {
			memcpy(parent, path, (size_t)(slash - path));
			parent[slash - path] = '\0';
			if (owner_follow_dir(parent, slash + 1) < 0) {
				dsmtp_err_set(err, "cannot give %s its parent's owner: %s", path,
				    strerror(errno));
				return -1;
			}
		}
		return 0;
	}
	if (errno != EEXIST) {
		dsmtp_err_set(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		dsmtp_err_set(err, "%s exists and is not a directory", path);
		return -1;
	}
	return 0;
}

/* mkdir -p with 0700 for what it creates */
static int
mkdir_parents(const char *path, struct dsmtp_err *err)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		dsmtp_err_set(err, "path too long: %s", path);
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir_safe(buf, err) < 0)
			return -1;
		*p = '/';
	}
	return mkdir_safe(buf, err);
}

int
config_state_path(const struct dsmtp_config *cfg, const char *sub, char *out, size_t outlen,
    struct dsmtp_err *err)
{
	int n;

	if (cfg->state_dir[0] != '/') {
		dsmtp_err_set(err, "state_dir must be an absolute path, not \"%s\"", cfg->state_dir);
		return -1;
	}
	if (sub == NULL || sub[0] == '\0')
		n = snprintf(out, outlen, "%s", cfg->state_dir);
	else if (sub[0] == '/')
		n = snprintf(out, outlen, "%s", sub);
	else
		n = snprintf(out, outlen, "%s/%s", cfg->state_dir, sub);
	if (n < 0 || (size_t)n >= outlen) {
		dsmtp_err_set(err, "path too long under %s", cfg->state_dir);
		return -1;
	}
	if (mkdir_parents(cfg->state_dir, err) < 0)
		return -1;
	return mkdir_parents(out, err);
}

void
config_load_or_exit(const char *path, struct dsmtp_config *cfg)
{
	struct config_errors errs = { 0 };

	if (config_load(path, path != NULL, cfg, &errs) < 0) {
		if (errs.n == 0)
			fprintf(stderr, "%s: out of memory loading the configuration\n", diag_progname());
		config_errors_print(&errs);
		config_errors_free(&errs);
		config_free(cfg);
		exit(EX_DSMTP_CONFIG);
	}
	config_errors_free(&errs);
}

