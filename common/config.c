/* config.c: the YAML loader (libyaml document API) for struct dsmtp_config.
 * Owns the schema: each section is a table of fields with a type and an
 * offset; the walker rejects unknown keys, wrong types, duplicate keys,
 * aliases and bad values with FILE:LINE:COLUMN, collecting every error
 * before it refuses. Knows nothing of what the values are used for. */
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

#include <yaml.h>

#include "common/config.h"
#include "common/owner.h"

#define CONFIG_MAX_ERRORS	50
#define CONFIG_MAX_FILE		(4u << 20)	/* a config larger than 4 MiB is a mistake */

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

static int
enum_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

int
config_level_parse(const char *s, enum dsmtp_level *l)
{
	int i = enum_lookup(level_names, s);

	if (i < 0)
		return -1;
	*l = (enum dsmtp_level)i;
	return 0;
}

/* ---- the loader's state ---- */

struct loader {
	const char		*name;
	yaml_document_t		*doc;
	struct dsmtp_config	*cfg;
	struct config_errors	*errs;
	unsigned char		*seen;		/* per node: visited (aliases are refused) */
	size_t			 nnodes;
	char			 path[256];	/* "send.routes[1].tls" */
};

static void ld_error(struct loader *, const yaml_node_t *, const char *, ...) DIAG_PRINTF(3, 4);

static void
errs_add(struct config_errors *errs, const char *msg)
{
	char **v;

	if (errs == NULL)
		return;
	if (errs->n == CONFIG_MAX_ERRORS) {
		msg = "too many errors; stopping here";
	} else if (errs->n > CONFIG_MAX_ERRORS)
		return;
	v = realloc(errs->msg, (errs->n + 1) * sizeof(*v));
	if (v == NULL)
		return;
	errs->msg = v;
	errs->msg[errs->n] = strdup(msg);
	if (errs->msg[errs->n] != NULL)
		errs->n++;
}

/* one error at a node: FILE:LINE:COLUMN: path: message (marks are 0-based) */
static void
ld_error(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	char what[768], line[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%zu:%zu: %s%s%s", ld->name,
	    node->start_mark.line + 1, node->start_mark.column + 1,
	    ld->path, ld->path[0] ? ": " : "", what);
	errs_add(ld->errs, line);
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static yaml_node_t *
node_get(struct loader *ld, int id)
{
	return yaml_document_get_node(ld->doc, id);
}

/* visiting a node twice means it was reached through an alias */
static int
node_visit(struct loader *ld, yaml_node_t *n)
{
	size_t idx = (size_t)(n - ld->doc->nodes.start);

	if (idx < ld->nnodes && ld->seen[idx]) {
		ld_error(ld, n, "YAML anchors and aliases are not supported; write the value out");
		return -1;
	}
	if (idx < ld->nnodes)
		ld->seen[idx] = 1;
	return 0;
}

static const char *
scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* a scalar that YAML would read as null: "~", "null", or empty plain */
static bool
scalar_is_null(const yaml_node_t *n)
{
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return n->data.scalar.length == 0 || strcmp(scalar(n), "~") == 0 ||
	    strcmp(scalar(n), "null") == 0;
}

/* C0 and C1 controls, DEL, NEL, the line and paragraph separators and BOM:
 * nothing a path, a name or a pin contains, and what a YAML dump could
 * not write back plainly */
static bool
has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return true;
		if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			return true;
		if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
			return true;
	}
	return false;
}

static int
want_scalar(struct loader *ld, yaml_node_t *n, const char *what)
{
	if (node_visit(ld, n) < 0)
		return -1;
	if (n->type != YAML_SCALAR_NODE) {
		ld_error(ld, n, "expected %s, found %s", what, node_kind(n));
		return -1;
	}
	if (scalar_is_null(n)) {
		ld_error(ld, n, "expected %s, found an empty value", what);
		return -1;
	}
	if (strlen(scalar(n)) != n->data.scalar.length) {
		ld_error(ld, n, "NUL byte in value");
		return -1;
	}
	if (has_control(scalar(n))) {
		ld_error(ld, n, "control character in value (write paths, names and pins as text)");
		return -1;
	}
	return 0;
}

/* ---- field types ---- */

enum ftype {
	F_STR, F_PATH, F_HOSTNAME, F_BOOL, F_UINT, F_U64, F_ENUM, F_DOMAINS, F_ROUTE_DOMAINS,
	F_CIDRS, F_ENDPOINTS, F_PINREFS, F_WORKERS, F_METRICS, F_SECTION, F_CUSTOM
};

struct field;
typedef int (*custom_fn)(struct loader *, yaml_node_t *, void *base);

struct field {
	const char		*key;
	enum ftype		 type;
	size_t			 off;		/* into the section's base */
	const void		*aux;		/* enum names, sub-table, custom fn */
	uint64_t		 min, max;	/* F_UINT, F_U64 */
	size_t			 countoff;	/* arrays: where the count lives */
	size_t			 setoff;	/* a bool set when present, or (size_t)-1 */
};

#define NOSET ((size_t)-1)
#define FLD(base, member) offsetof(base, member)

static int walk_mapping(struct loader *, yaml_node_t *, const struct field *, void *base);

static int
set_string(char **dst, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

static int
field_bool(struct loader *ld, yaml_node_t *n, bool *dst)
{
	const char *s;

	if (want_scalar(ld, n, "true or false") < 0)
		return -1;
	s = scalar(n);
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*dst = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*dst = false;
	else {
		ld_error(ld, n, "\"%s\" is not a boolean (true or false)", s);
		return -1;
	}
	return 0;
}

static int
field_number(struct loader *ld, yaml_node_t *n, const struct field *f, uint64_t *v)
{
	if (want_scalar(ld, n, "a number") < 0)
		return -1;
	if (parse_u64(scalar(n), v) < 0) {
		ld_error(ld, n, "\"%s\" is not a whole number", scalar(n));
		return -1;
	}
	if (*v < f->min || *v > f->max) {
		ld_error(ld, n, "%s is out of range (%llu to %llu)", scalar(n),
		    (unsigned long long)f->min, (unsigned long long)f->max);
		return -1;
	}
	return 0;
}

/* a list of scalars; a single scalar is a list of one */
static int
for_each_item(struct loader *ld, yaml_node_t *n, const char *what,
    int (*fn)(struct loader *, yaml_node_t *, void *), void *arg)
{
	char saved[sizeof(ld->path)];
	int rc = 0;
	size_t i = 0;

	if (n->type == YAML_SCALAR_NODE)
		return fn(ld, n, arg);
	if (node_visit(ld, n) < 0)
		return -1;
	if (n->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, n, "expected a list of %s, found %s", what, node_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		snprintf(ld->path, sizeof(ld->path), "%s[%zu]", saved, i);
		if (fn(ld, node_get(ld, *it), arg) < 0)
			rc = -1;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

static void *
grow(void *arr, size_t n, size_t size)
{
	return realloc(arr, (n + 1) * size);
}

static int
strlist_push(struct cfg_strlist *l, const char *s)
{
	char **v = grow(l->v, l->n, sizeof(*v));

	if (v == NULL)
		return -1;
	l->v = v;
	if ((l->v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static void
strlist_free(struct cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

struct domain_arg {
	struct cfg_strlist	*list;
	bool			 wild;
};

static int
item_domain(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct domain_arg *da = arg;
	struct dsmtp_err err;
	char dom[256];

	if (want_scalar(ld, n, "a domain name") < 0)
		return -1;
	if (addr_domain_normalise(scalar(n), dom, sizeof(dom), da->wild, &err) < 0) {
		ld_error(ld, n, "%s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < da->list->n; i++)
		if (strcmp(da->list->v[i], dom) == 0) {
			ld_error(ld, n, "\"%s\" is listed twice", dom);
			return -1;
		}
	return strlist_push(da->list, dom);
}

struct array_arg {
	void	**arr;
	size_t	 *n;
};

static int
item_cidr(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct addr_cidr c, *v;
	struct dsmtp_err err;

	if (want_scalar(ld, n, "a network (e.g. 10.0.0.0/8)") < 0)
		return -1;
	if (addr_parse_cidr(scalar(n), &c, &err) < 0) {
		ld_error(ld, n, "%s", err.msg);
		return -1;
	}
	if ((v = grow(*aa->arr, *aa->n, sizeof(c))) == NULL)
		return -1;
	v[(*aa->n)++] = c;
	*aa->arr = v;
	return 0;
}

static int
item_endpoint(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct addr_endpoint e, *v;
	struct dsmtp_err err;

	if (want_scalar(ld, n, "an ADDRESS:PORT") < 0)
		return -1;
	if (addr_parse_endpoint(scalar(n), &e, &err) < 0) {
		ld_error(ld, n, "%s", err.msg);
		return -1;
	}
	v = *aa->arr;
	for (size_t i = 0; i < *aa->n; i++)
		if (v[i].family == e.family && v[i].port == e.port &&
		    memcmp(v[i].addr, e.addr, 16) == 0) {
			ld_error(ld, n, "\"%s\" is listed twice", scalar(n));
			return -1;
		}
	if ((v = grow(*aa->arr, *aa->n, sizeof(e))) == NULL)
		return -1;
	v[(*aa->n)++] = e;
	*aa->arr = v;
	return 0;
}

/* a pin set name (checked after loading) or a literal pin */
static int
item_pinref(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct cfg_pinref r = { 0 }, *v;
	struct dsmtp_err err;
	char pin[128];
	const char *s;

	if (want_scalar(ld, n, "a pin name or a pin") < 0)
		return -1;
	s = scalar(n);
	if (strncmp(s, "sha256/", 7) == 0 || strncmp(s, "cert-sha256:", 12) == 0 ||
	    strncmp(s, "sha1", 4) == 0) {
		if (config_pin_normalise(s, pin, sizeof(pin), &err) < 0) {
			ld_error(ld, n, "%s", err.msg);
			return -1;
		}
		s = pin;
	}
	if ((r.name = strdup(s)) == NULL)
		return -1;
	r.line = (int)n->start_mark.line + 1;
	r.column = (int)n->start_mark.column + 1;
	if ((v = grow(*aa->arr, *aa->n, sizeof(r))) == NULL) {
		free(r.name);
		return -1;
	}
	v[(*aa->n)++] = r;
	*aa->arr = v;
	return 0;
}

static int
field_value(struct loader *ld, yaml_node_t *n, const struct field *f, void *base)
{
	void *dst = (char *)base + f->off;
	uint64_t v;
	int i;

	switch (f->type) {
	case F_STR:
	case F_PATH:
	case F_HOSTNAME:
		if (want_scalar(ld, n, f->type == F_PATH ? "a path" : "a string") < 0)
			return -1;
		if (f->type == F_HOSTNAME) {
			char host[256];
			struct dsmtp_err err;

			if (addr_domain_normalise(scalar(n), host, sizeof(host), false, &err) < 0) {
				ld_error(ld, n, "%s", err.msg);
				return -1;
			}
			return set_string(dst, host);
		}
		return set_string(dst, scalar(n));
	case F_BOOL:
		return field_bool(ld, n, dst);
	case F_UINT:
		if (field_number(ld, n, f, &v) < 0)
			return -1;
		*(unsigned *)dst = (unsigned)v;
		return 0;
	case F_U64:
		if (field_number(ld, n, f, &v) < 0)
			return -1;
		*(uint64_t *)dst = v;
		return 0;
	case F_WORKERS:
		if (want_scalar(ld, n, "\"auto\" or a number") < 0)
			return -1;
		if (strcmp(scalar(n), "auto") == 0) {
			*(unsigned *)dst = 0;
			return 0;
		}
		if (parse_u64(scalar(n), &v) < 0 || v < 1 || v > 256) {
			ld_error(ld, n, "\"%s\": expected \"auto\" or a number from 1 to 256", scalar(n));
			return -1;
		}
		*(unsigned *)dst = (unsigned)v;
		return 0;
	case F_METRICS: {
		/* "HOST:PORT", or a bare port on loopback */
		struct addr_endpoint *ep = dst;
		char buf[80];
		struct dsmtp_err err;

		if (want_scalar(ld, n, "ADDRESS:PORT or a port") < 0)
			return -1;
		snprintf(buf, sizeof(buf), "%s%.60s",
		    strspn(scalar(n), "0123456789") == strlen(scalar(n)) ? "127.0.0.1:" : "",
		    scalar(n));
		if (addr_parse_endpoint(buf, ep, &err) < 0) {
			ld_error(ld, n, "%s", err.msg);
			return -1;
		}
		return 0;
	}
	case F_ENUM: {
		const char *const *names = f->aux;
		char list[256] = "";

		if (want_scalar(ld, n, "a word") < 0)
			return -1;
		if ((i = enum_lookup(names, scalar(n))) >= 0) {
			*(int *)dst = i;
			return 0;
		}
		for (int k = 0; names[k]; k++) {
			strncat(list, k ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, names[k], sizeof(list) - strlen(list) - 1);
		}
		ld_error(ld, n, "unknown value \"%s\" (%s)", scalar(n), list);
		return -1;
	}
	case F_DOMAINS:
	case F_ROUTE_DOMAINS: {
		struct domain_arg da = { dst, f->type == F_ROUTE_DOMAINS };

		strlist_free(dst);
		return for_each_item(ld, n, "domains", item_domain, &da);
	}
	case F_CIDRS:
	case F_ENDPOINTS:
	case F_PINREFS: {
		struct array_arg aa = { dst, (size_t *)((char *)base + f->countoff) };

		if (f->type == F_PINREFS) {
			struct cfg_pinref *r = *aa.arr;
			for (size_t k = 0; k < *aa.n; k++)
				free(r[k].name);
		}
		free(*aa.arr);
		*aa.arr = NULL;
		*aa.n = 0;
		if (f->type == F_CIDRS)
			return for_each_item(ld, n, "networks", item_cidr, &aa);
		if (f->type == F_ENDPOINTS)
			return for_each_item(ld, n, "ADDRESS:PORT", item_endpoint, &aa);
		return for_each_item(ld, n, "pin names", item_pinref, &aa);
	}
	case F_SECTION:
		return walk_mapping(ld, n, f->aux, base);
	case F_CUSTOM:
		return ((custom_fn)(uintptr_t)f->aux)(ld, n, base);
	}
	return -1;
}

/* the keys of a mapping, each once, each known */
static int
walk_mapping(struct loader *ld, yaml_node_t *n, const struct field *fields, void *base)
{
	char saved[sizeof(ld->path)];
	int rc = 0;

	if (node_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && scalar_is_null(n))
		return 0;	/* "receive:" with nothing under it: all defaults */
	if (n->type != YAML_MAPPING_NODE) {
		ld_error(ld, n, "expected a mapping of keys, found %s", node_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		const struct field *f;
		const char *key;
		bool dup = false;

		memcpy(ld->path, saved, sizeof(saved));
		if (k->type != YAML_SCALAR_NODE) {
			ld_error(ld, k, "a key must be a plain word, found %s", node_kind(k));
			rc = -1;
			continue;
		}
		key = scalar(k);
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *qk = node_get(ld, q->key);
			if (qk->type == YAML_SCALAR_NODE && strcmp(scalar(qk), key) == 0)
				dup = true;
		}
		snprintf(ld->path, sizeof(ld->path), "%s%s%s", saved, saved[0] ? "." : "", key);
		if (dup) {
			ld_error(ld, k, "duplicate key (already set above in this mapping)");
			rc = -1;
			continue;
		}
		for (f = fields; f->key; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL) {
			char list[512] = "";

			for (const struct field *g = fields; g->key; g++) {
				strncat(list, g == fields ? "" : ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, g->key, sizeof(list) - strlen(list) - 1);
			}
			ld_error(ld, k, "unknown key (known here: %s)", list);
			rc = -1;
			continue;
		}
		if (field_value(ld, v, f, base) < 0)
			rc = -1;
		else if (f->setoff != NOSET)
			*(bool *)((char *)base + f->setoff) = true;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

/* ---- sections with their own shapes ---- */

static int
item_certificate(struct loader *ld, yaml_node_t *n, void *base)
{
	static const struct field fields[] = {
		{ "cert", F_PATH, FLD(struct cfg_certfile, cert), NULL, 0, 0, 0, NOSET },
		{ "key", F_PATH, FLD(struct cfg_certfile, key), NULL, 0, 0, 0, NOSET },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct cfg_certfile cf = { 0 }, *v;

	if (n->type != YAML_MAPPING_NODE) {
		(void)node_visit(ld, n);
		ld_error(ld, n, "expected a mapping with cert: and key:, found %s", node_kind(n));
		return -1;
	}
	if (walk_mapping(ld, n, fields, &cf) < 0 || cf.cert == NULL || cf.key == NULL) {
		if (cf.cert == NULL || cf.key == NULL)
			ld_error(ld, n, "both cert: and key: are required");
		free(cf.cert);
		free(cf.key);
		return -1;
	}
	if ((v = grow(cfg->certificates, cfg->ncertificates, sizeof(cf))) == NULL) {
		free(cf.cert);
		free(cf.key);
		return -1;
	}
	v[cfg->ncertificates++] = cf;
	cfg->certificates = v;
	return 0;
}

static int
sequence_of_mappings(struct loader *ld, yaml_node_t *n, void *base,
    int (*fn)(struct loader *, yaml_node_t *, void *))
{
	char saved[sizeof(ld->path)];
	size_t i = 0;
	int rc = 0;

	if (node_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && scalar_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, n, "expected a list, found %s", node_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		snprintf(ld->path, sizeof(ld->path), "%s[%zu]", saved, i);
		if (fn(ld, node_get(ld, *it), base) < 0)
			rc = -1;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

static int
custom_certificates(struct loader *ld, yaml_node_t *n, void *base)
{
	return sequence_of_mappings(ld, n, base, item_certificate);
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
route_domain(struct loader *ld, yaml_node_t *n, void *base)
{
	struct route_tmp *rt = base;
	struct domain_arg da = { &rt->domains, true };

	if (n->type != YAML_SCALAR_NODE) {
		(void)node_visit(ld, n);
		ld_error(ld, n, "expected one domain name (or \"*\"), found %s", node_kind(n));
		return -1;
	}
	return item_domain(ld, n, &da);
}

static int
item_route(struct loader *ld, yaml_node_t *n, void *base)
{
	static const struct field fields[] = {
		{ "domain", F_CUSTOM, 0, (const void *)(uintptr_t)route_domain, 0, 0, 0, NOSET },
		{ "next_hop", F_STR, FLD(struct route_tmp, next_hop), NULL, 0, 0, 0, NOSET },
		{ "tls", F_ENUM, FLD(struct route_tmp, tls), level_names, 0, 0, 0,
		  FLD(struct route_tmp, has_tls) },
		{ "pins", F_PINREFS, FLD(struct route_tmp, pins), NULL, 0, 0,
		  FLD(struct route_tmp, npins), NOSET },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct route_tmp rt = { 0 };
	struct cfg_route r = { 0 }, *v;
	struct dsmtp_err err;
	int rc = 0;

	if (n->type != YAML_MAPPING_NODE) {
		(void)node_visit(ld, n);
		ld_error(ld, n, "expected a mapping (domain:, next_hop:, tls:, pins:), found %s",
		    node_kind(n));
		return -1;
	}
	if (walk_mapping(ld, n, fields, &rt) < 0)
		rc = -1;
	else if (rt.domains.n != 1) {
		ld_error(ld, n, "a route needs domain: (a domain name or \"*\")");
		rc = -1;
	}
	if (rc == 0 && rt.next_hop) {
		if (addr_parse_hop(rt.next_hop, &r.hop, &err) < 0) {
			/* point at the value, not the route */
			for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
			    p < n->data.mapping.pairs.top; p++)
				if (strcmp(scalar(node_get(ld, p->key)), "next_hop") == 0)
					ld_error(ld, node_get(ld, p->value), "%s", err.msg);
			rc = -1;
		}
		r.has_hop = true;
	}
	if (rc == 0 && rt.has_tls && rt.tls == LEVEL_PINNED && rt.npins == 0) {
		ld_error(ld, n, "tls: pinned needs pins: (a pin name from trust.pins or a pin)");
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
		if ((v = grow(cfg->send.routes, cfg->send.nroutes, sizeof(r))) == NULL) {
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
	strlist_free(&rt.domains);
	return rc;
}

static int
custom_routes(struct loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, send));

	return sequence_of_mappings(ld, n, cfg, item_route);
}

static int
item_pin(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct cfg_strlist *l = arg;
	struct dsmtp_err err;
	char pin[128];

	if (want_scalar(ld, n, "a pin (sha256/BASE64 or cert-sha256:HEX)") < 0)
		return -1;
	if (config_pin_normalise(scalar(n), pin, sizeof(pin), &err) < 0) {
		ld_error(ld, n, "%s", err.msg);
		return -1;
	}
	return strlist_push(l, pin);
}

static int
custom_pins(struct loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, trust));
	char saved[sizeof(ld->path)];
	int rc = 0;

	if (node_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && scalar_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		ld_error(ld, n, "expected a mapping of name: [pins], found %s", node_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		struct cfg_pinset ps = { 0 }, *arr;
		char name[64];
		struct dsmtp_err err;

		memcpy(ld->path, saved, sizeof(saved));
		if (want_scalar(ld, k, "a pin name") < 0) {
			rc = -1;
			continue;
		}
		/* a pin name is a word, so it cannot be mistaken for a pin */
		if (strlen(scalar(k)) >= sizeof(name) ||
		    addr_domain_normalise(scalar(k), name, sizeof(name), false, &err) < 0 ||
		    strchr(scalar(k), '/') || strchr(scalar(k), ':')) {
			ld_error(ld, k, "pin name \"%s\" must be a word of letters, digits, '-', '_' or '.'",
			    scalar(k));
			rc = -1;
			continue;
		}
		snprintf(ld->path, sizeof(ld->path), "%s.%s", saved, scalar(k));
		if (config_pinset(cfg, name)) {
			ld_error(ld, k, "duplicate key (already set above in this mapping)");
			rc = -1;
			continue;
		}
		if (for_each_item(ld, v, "pins", item_pin, &ps.pins) < 0) {
			strlist_free(&ps.pins);
			rc = -1;
			continue;
		}
		if (ps.pins.n == 0) {
			ld_error(ld, v, "a pin set needs at least one pin");
			rc = -1;
			continue;
		}
		if ((ps.name = strdup(name)) == NULL ||
		    (arr = grow(cfg->trust.pins, cfg->trust.npins, sizeof(ps))) == NULL) {
			free(ps.name);
			strlist_free(&ps.pins);
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
#define U(key, member, lo, hi) { key, F_UINT, FLD(C, member), NULL, lo, hi, 0, NOSET }

static const struct field trust_fields[] = {
	{ "ca_file", F_PATH, FLD(C, trust.ca_file) - FLD(C, trust), NULL, 0, 0, 0, NOSET },
	{ "crl_file", F_PATH, FLD(C, trust.crl_file) - FLD(C, trust), NULL, 0, 0, 0, NOSET },
	{ "pins", F_CUSTOM, 0, (const void *)(uintptr_t)custom_pins, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define DS(m) (FLD(C, domain_secure.m) - FLD(C, domain_secure))
static const struct field ds_fields[] = {
	{ "send", F_DOMAINS, DS(send), NULL, 0, 0, 0, NOSET },
	{ "receive", F_DOMAINS, DS(receive), NULL, 0, 0, 0, NOSET },
	{ "local", F_DOMAINS, DS(local), NULL, 0, 0, 0, DS(local_set) },
	{ "match", F_ENUM, DS(match), match_names, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define RV(m) (FLD(C, receive.m) - FLD(C, receive))
static const struct field timeout_fields[] = {
	{ "command", F_UINT, RV(timeout_command), NULL, 1, 86400, 0, NOSET },
	{ "data", F_UINT, RV(timeout_data), NULL, 1, 86400, 0, NOSET },
	{ "tls_handshake", F_UINT, RV(timeout_tls_handshake), NULL, 1, 3600, 0, NOSET },
	{ "min_data_rate", F_UINT, RV(min_data_rate), NULL, 0, 1000000000, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct field relay_fields[] = {
	{ "networks", F_CIDRS, RV(relay_networks), NULL, 0, 0, RV(nrelay_networks), NOSET },
	{ "pins", F_PINREFS, RV(relay_pins), NULL, 0, 0, RV(nrelay_pins), NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct field receive_fields[] = {
	{ "listen", F_ENDPOINTS, RV(listen), NULL, 0, 0, RV(nlisten), NOSET },
	{ "tls", F_ENUM, RV(tls), recv_tls_names, 0, 0, 0, NOSET },
	{ "request_client_cert", F_BOOL, RV(request_client_cert), NULL, 0, 0, 0, NOSET },
	{ "accepted_domains", F_DOMAINS, RV(accepted_domains), NULL, 0, 0, 0, NOSET },
	{ "relay", F_SECTION, 0, relay_fields, 0, 0, 0, NOSET },
	{ "max_message_size", F_U64, RV(max_message_size), NULL, 1024, UINT64_C(1) << 40, 0, NOSET },
	{ "max_recipients", F_UINT, RV(max_recipients), NULL, 1, 100000, 0, NOSET },
	{ "max_connections", F_UINT, RV(max_connections), NULL, 1, 1000000, 0, NOSET },
	{ "max_connections_per_ip", F_UINT, RV(max_connections_per_ip), NULL, 1, 1000000, 0, NOSET },
	{ "timeouts", F_SECTION, 0, timeout_fields, 0, 0, 0, NOSET },
	{ "tls_tickets", F_BOOL, RV(tls_tickets), NULL, 0, 0, 0, NOSET },
	{ "workers", F_WORKERS, RV(workers), NULL, 0, 0, 0, NOSET },
	{ "requiretls", F_BOOL, RV(requiretls), NULL, 0, 0, 0, NOSET },
	{ "metrics", F_METRICS, RV(metrics), NULL, 0, 0, 0, RV(metrics_set) },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

#define SD(m) (FLD(C, send.m) - FLD(C, send))
static const struct field retry_fields[] = {
	{ "first", F_UINT, SD(retry_first), NULL, 1, 86400, 0, NOSET },
	{ "max", F_UINT, SD(retry_max), NULL, 1, 7 * 86400, 0, NOSET },
	{ "lifetime", F_UINT, SD(retry_lifetime), NULL, 1, 30 * 86400, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static const struct field send_fields[] = {
	{ "tls", F_ENUM, SD(tls), level_names, 0, 0, 0, NOSET },
	{ "routes", F_CUSTOM, 0, (const void *)(uintptr_t)custom_routes, 0, 0, 0, NOSET },
	{ "client_cert", F_BOOL, SD(client_cert), NULL, 0, 0, 0, NOSET },
	{ "retry", F_SECTION, 0, retry_fields, 0, 0, 0, NOSET },
	{ "max_parallel", F_UINT, SD(max_parallel), NULL, 1, 10000, 0, NOSET },
	{ "connection_cache_time", F_UINT, SD(connection_cache_time), NULL, 0, 300, 0, NOSET },
	{ "memory", F_BOOL, SD(memory), NULL, 0, 0, 0, NOSET },
	{ "metrics", F_METRICS, SD(metrics), NULL, 0, 0, 0, SD(metrics_set) },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* logs.peers[i]: { match: DOMAIN|HOST|IP|CIDR, level: none|basic|verbose } */
struct logpeer_tmp {
	char		*match;
	enum log_level	 level;
	bool		 has_level;
};

static int
item_logpeer(struct loader *ld, yaml_node_t *n, void *base)
{
	static const struct field fields[] = {
		{ "match", F_STR, FLD(struct logpeer_tmp, match), NULL, 0, 0, 0, NOSET },
		{ "level", F_ENUM, FLD(struct logpeer_tmp, level), log_level_names, 0, 0, 0,
		  FLD(struct logpeer_tmp, has_level) },
		{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
	};
	struct dsmtp_config *cfg = base;
	struct logpeer_tmp t = { NULL, LOG_LEVEL_NONE, false };
	struct cfg_logpeer lp, *v;
	struct dsmtp_err err;
	char dom[256];

	if (n->type != YAML_MAPPING_NODE) {
		(void)node_visit(ld, n);
		ld_error(ld, n, "expected a mapping (match:, level:), found %s", node_kind(n));
		return -1;
	}
	if (walk_mapping(ld, n, fields, &t) < 0) {
		free(t.match);
		return -1;
	}
	if (t.match == NULL || !t.has_level) {
		ld_error(ld, n, "both match: and level: are required");
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
	    (v = grow(cfg->logs.peers, cfg->logs.npeers, sizeof(lp))) == NULL) {
		free(lp.match);
		return -1;
	}
	v[cfg->logs.npeers++] = lp;
	cfg->logs.peers = v;
	return 0;
bad:
	/* point at the value of match: */
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (strcmp(scalar(node_get(ld, p->key)), "match") == 0)
			ld_error(ld, node_get(ld, p->value), "%s", err.msg);
	free(lp.match);
	return -1;
}

static int
custom_logpeers(struct loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, logs));

	return sequence_of_mappings(ld, n, cfg, item_logpeer);
}

#define LG(m) (FLD(C, logs.m) - FLD(C, logs))
static const struct field logs_fields[] = {
	{ "dir", F_PATH, LG(dir), NULL, 0, 0, 0, NOSET },
	{ "level", F_ENUM, LG(level), log_level_names, 0, 0, 0, NOSET },
	{ "format", F_ENUM, LG(format), log_format_names, 0, 0, 0, NOSET },
	{ "max_file_size", F_U64, LG(max_file_size), NULL, 4096, UINT64_C(1) << 40, 0, NOSET },
	{ "max_age_days", F_UINT, LG(max_age_days), NULL, 1, 36500, 0, NOSET },
	{ "peers", F_CUSTOM, 0, (const void *)(uintptr_t)custom_logpeers, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* dns.resolver: "system", or a list of "IP" / "IP:port" / "[IPv6]:port" */
static int
item_resolver(struct loader *ld, yaml_node_t *n, void *arg)
{
	struct dsmtp_config *cfg = arg;
	struct addr_endpoint ep, *v;
	struct dsmtp_err err;
	char buf[80];

	if (want_scalar(ld, n, "an address") < 0)
		return -1;
	memset(&ep, 0, sizeof(ep));
	if (inet_pton(AF_INET, scalar(n), ep.addr) == 1) {
		ep.family = AF_INET;
		ep.port = 53;
	} else if (inet_pton(AF_INET6, scalar(n), ep.addr) == 1) {
		ep.family = AF_INET6;
		ep.port = 53;
	} else if (addr_parse_endpoint(scalar(n), &ep, &err) < 0) {
		snprintf(buf, sizeof(buf), "%.60s", scalar(n));
		ld_error(ld, n, "resolver \"%s\": an IP address, IP:port or [IPv6]:port", buf);
		return -1;
	}
	if ((v = grow(cfg->dns.resolvers, cfg->dns.nresolvers, sizeof(ep))) == NULL)
		return -1;
	v[cfg->dns.nresolvers++] = ep;
	cfg->dns.resolvers = v;
	return 0;
}

static int
custom_resolver(struct loader *ld, yaml_node_t *n, void *base)
{
	struct dsmtp_config *cfg = (struct dsmtp_config *)((char *)base - offsetof(struct dsmtp_config, dns));

	free(cfg->dns.resolvers);
	cfg->dns.resolvers = NULL;
	cfg->dns.nresolvers = 0;
	if (n->type == YAML_SCALAR_NODE && strcmp(scalar(n), "system") == 0)
		return node_visit(ld, n);
	return for_each_item(ld, n, "resolver addresses", item_resolver, cfg);
}

#define DN(m) (FLD(C, dns.m) - FLD(C, dns))
static const struct field dns_fields[] = {
	{ "resolver", F_CUSTOM, 0, (const void *)(uintptr_t)custom_resolver, 0, 0, 0, NOSET },
	{ "dnssec", F_ENUM, DN(dnssec), dnssec_names, 0, 0, 0, NOSET },
	{ "trust_anchor_file", F_PATH, DN(trust_anchor_file), NULL, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* tlsrpt.*: text that goes into mail headers and JSON: no control
 * characters, at most 200 bytes; from is an address (local@domain) */
static int
tlsrpt_text(struct loader *ld, yaml_node_t *n, char **dst, bool addr)
{
	const unsigned char *p;

	if (want_scalar(ld, n, "a string") < 0)
		return -1;
	if (strlen(scalar(n)) > 200) {
		ld_error(ld, n, "longer than 200 bytes");
		return -1;
	}
	for (p = (const unsigned char *)scalar(n); *p; p++)
		if (*p < 0x20 || *p == 0x7f || (addr && (*p == ' ' || *p == '<' || *p == '>' ||
		    *p == '"' || *p == ',' || *p >= 0x80))) {
			ld_error(ld, n, addr ? "not a plain address (local@domain)" :
			    "control characters are not allowed");
			return -1;
		}
	if (addr && scalar(n)[0] != '\0' && (strchr(scalar(n), '@') == NULL ||
	    strchr(scalar(n), '@') == scalar(n) || strchr(scalar(n), '@')[1] == '\0')) {
		ld_error(ld, n, "not a plain address (local@domain)");
		return -1;
	}
	return set_string(dst, scalar(n));
}
#define TR(b) ((struct dsmtp_config *)((char *)(b) - offsetof(struct dsmtp_config, tlsrpt)))
static int custom_tlsrpt_org(struct loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.organization, false); }
static int custom_tlsrpt_contact(struct loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.contact, false); }
static int custom_tlsrpt_from(struct loader *ld, yaml_node_t *n, void *b) { return tlsrpt_text(ld, n, &TR(b)->tlsrpt.from, true); }
#undef TR

#define TL(m) (FLD(C, tlsrpt.m) - FLD(C, tlsrpt))
static const struct field tlsrpt_fields[] = {
	{ "enabled", F_BOOL, TL(enabled), NULL, 0, 0, 0, NOSET },
	{ "organization", F_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_org, 0, 0, 0, NOSET },
	{ "contact", F_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_contact, 0, 0, 0, NOSET },
	{ "from", F_CUSTOM, 0, (const void *)(uintptr_t)custom_tlsrpt_from, 0, 0, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};

/* sub-sections walk with base = the section's struct */
static int
custom_section(struct loader *ld, yaml_node_t *n, void *base, size_t off, const struct field *f)
{
	return walk_mapping(ld, n, f, (char *)base + off);
}
static int cs_trust(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, trust), trust_fields); }
static int cs_ds(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, domain_secure), ds_fields); }
static int cs_receive(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, receive), receive_fields); }
static int cs_send(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, send), send_fields); }
static int cs_logs(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, logs), logs_fields); }
static int cs_dns(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, dns), dns_fields); }
static int cs_tlsrpt(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, tlsrpt), tlsrpt_fields); }
#define MS(m) (FLD(C, mta_sts.m) - FLD(C, mta_sts))
static const struct field mta_sts_fields[] = {
	{ "enabled", F_BOOL, MS(enabled), NULL, 0, 0, 0, NOSET },
	{ "ca_file", F_STR, MS(ca_file), NULL, 0, 0, 0, NOSET },
	{ "port", F_UINT, MS(port), NULL, 1, 65535, 0, NOSET },
	{ NULL, 0, 0, NULL, 0, 0, 0, 0 }
};
static int cs_mta_sts(struct loader *ld, yaml_node_t *n, void *b) { return custom_section(ld, n, b, FLD(C, mta_sts), mta_sts_fields); }
#define CS(key, fn) { key, F_CUSTOM, 0, (const void *)(uintptr_t)fn, 0, 0, 0, NOSET }

static const struct field top_fields[] = {
	{ "hostname", F_HOSTNAME, FLD(C, hostname), NULL, 0, 0, 0, NOSET },
	{ "state_dir", F_PATH, FLD(C, state_dir), NULL, 0, 0, 0, NOSET },
	{ "user", F_STR, FLD(C, user), NULL, 0, 0, 0, NOSET },
	{ "tls_priority", F_STR, FLD(C, tls_priority), NULL, 0, 0, 0, NOSET },
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

/* after the walk: names used as pins must exist, paths must be absolute */
static void
check_pinrefs(struct loader *ld, const struct cfg_pinref *refs, size_t n, const char *where)
{
	for (size_t i = 0; i < n; i++) {
		char line[1024];

		if (strncmp(refs[i].name, "sha256/", 7) == 0 ||
		    strncmp(refs[i].name, "cert-sha256:", 12) == 0)
			continue;
		if (config_pinset(ld->cfg, refs[i].name))
			continue;
		snprintf(line, sizeof(line), "%s:%d:%d: %s: unknown pin name \"%s\" (define it under trust.pins)",
		    ld->name, refs[i].line, refs[i].column, where, refs[i].name);
		errs_add(ld->errs, line);
	}
}

static void
check_after(struct loader *ld)
{
	struct dsmtp_config *cfg = ld->cfg;

	check_pinrefs(ld, cfg->receive.relay_pins, cfg->receive.nrelay_pins, "receive.relay.pins");
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		char where[64];

		snprintf(where, sizeof(where), "send.routes[%zu].pins", i);
		check_pinrefs(ld, cfg->send.routes[i].pins, cfg->send.routes[i].npins, where);
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
		    ld->name, a);
		errs_add(ld->errs, line);
	}
}

/* ---- entry points ---- */

static void
yaml_syntax_error(const char *name, yaml_parser_t *p, const char *buf, size_t len,
    struct config_errors *errs)
{
	char line[1024];
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
	size_t lno = m->line, col = m->column;

	if (p->error == YAML_READER_ERROR) {
		/* the reader (bad UTF-8, control characters) gives only an
		 * offset: count lines and columns ourselves */
		lno = col = 0;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				lno++;
				col = 0;
			} else
				col++;
		}
	}
	snprintf(line, sizeof(line), "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
	    lno + 1, col + 1, p->problem ? p->problem : "unknown problem",
	    p->context ? " " : "", p->context ? p->context : "");
	errs_add(errs, line);
}

int
config_load_buffer(const char *name, const char *buf, size_t len, struct dsmtp_config *cfg,
    struct config_errors *errs)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct loader ld = { 0 };
	size_t before = errs ? errs->n : 0;
	int rc = 0;

	config_defaults(cfg);
	if ((cfg->source = strdup(name)) == NULL)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		errs_add(errs, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_syntax_error(name, &parser, buf, len, errs);
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (root != NULL) {
		/* a second document in one file is a mistake, not something to ignore */
		yaml_document_t doc2;

		if (!yaml_parser_load(&parser, &doc2)) {
			yaml_syntax_error(name, &parser, buf, len, errs);
			rc = -1;
		} else {
			if (yaml_document_get_root_node(&doc2) != NULL) {
				char line[512];
				snprintf(line, sizeof(line), "%s:%zu:%zu: only one YAML document is allowed",
				    name, doc2.start_mark.line + 1, doc2.start_mark.column + 1);
				errs_add(errs, line);
				rc = -1;
			}
			yaml_document_delete(&doc2);
		}
		ld.name = name;
		ld.doc = &doc;
		ld.cfg = cfg;
		ld.errs = errs;
		ld.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
		ld.seen = calloc(ld.nnodes + 1, 1);
		if (ld.seen == NULL)
			rc = -1;
		else if (walk_mapping(&ld, root, top_fields, cfg) < 0)
			rc = -1;
		if (rc == 0)
			check_after(&ld);
		free(ld.seen);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
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
		errs_add(errs, line);
		config_defaults(cfg);
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > CONFIG_MAX_FILE) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: not a regular file of at most 4 MiB", path);
		errs_add(errs, line);
		fclose(f);
		config_defaults(cfg);
		return -1;
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (buf == NULL || fread(buf, 1, len, f) != len) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: cannot read", path);
		errs_add(errs, line);
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
		strlist_free(&cfg->trust.pins[i].pins);
	}
	free(cfg->trust.pins);
	strlist_free(&cfg->domain_secure.send);
	strlist_free(&cfg->domain_secure.receive);
	strlist_free(&cfg->domain_secure.local);
	free(cfg->receive.listen);
	strlist_free(&cfg->receive.accepted_domains);
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

/* ---- dump: YAML that loads back to the same configuration ---- */

static void
dump_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void
dump_strlist(FILE *out, const struct cfg_strlist *l)
{
	fputs("[", out);
	for (size_t i = 0; i < l->n; i++) {
		fputs(i ? ", " : " ", out);
		dump_str(out, l->v[i]);
	}
	fputs(l->n ? " ]\n" : "]\n", out);
}

static void
dump_pinrefs(FILE *out, const struct cfg_pinref *r, size_t n)
{
	fputs("[", out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : " ", out);
		dump_str(out, r[i].name);
	}
	fputs(n ? " ]\n" : "]\n", out);
}

static void
dump_hop(FILE *out, const struct addr_hop *h)
{
	char buf[1100];

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
	dump_str(out, buf);
}

void
config_dump(const struct dsmtp_config *cfg, FILE *out)
{
	char buf[128];

	fputs("hostname: ", out); dump_str(out, cfg->hostname); fputc('\n', out);
	fputs("state_dir: ", out); dump_str(out, cfg->state_dir); fputc('\n', out);
	fputs("user: ", out); dump_str(out, cfg->user); fputc('\n', out);
	fputs("tls_priority: ", out); dump_str(out, cfg->tls_priority); fputc('\n', out);
	fputs("certificates:", out);
	if (cfg->ncertificates == 0)
		fputs(" []\n", out);
	else
		fputc('\n', out);
	for (size_t i = 0; i < cfg->ncertificates; i++) {
		fputs("  - cert: ", out); dump_str(out, cfg->certificates[i].cert);
		fputs("\n    key: ", out); dump_str(out, cfg->certificates[i].key);
		fputc('\n', out);
	}
	fputs("trust:\n  ca_file: ", out); dump_str(out, cfg->trust.ca_file); fputc('\n', out);
	if (cfg->trust.crl_file) {
		fputs("  crl_file: ", out); dump_str(out, cfg->trust.crl_file); fputc('\n', out);
	}
	fputs(cfg->trust.npins ? "  pins:\n" : "  pins: {}\n", out);
	for (size_t i = 0; i < cfg->trust.npins; i++) {
		/* quoted, so a set named "null" or "true" stays a name */
		fputs("    ", out);
		dump_str(out, cfg->trust.pins[i].name);
		fputs(": ", out);
		dump_strlist(out, &cfg->trust.pins[i].pins);
	}
	fputs("domain_secure:\n  send: ", out); dump_strlist(out, &cfg->domain_secure.send);
	fputs("  receive: ", out); dump_strlist(out, &cfg->domain_secure.receive);
	if (cfg->domain_secure.local_set) {
		fputs("  local: ", out); dump_strlist(out, &cfg->domain_secure.local);
	}
	fprintf(out, "  match: %s\n", config_match_name(cfg->domain_secure.match));
	fputs("receive:\n  listen: [", out);
	for (size_t i = 0; i < cfg->receive.nlisten; i++) {
		addr_endpoint_format(&cfg->receive.listen[i], buf, sizeof(buf));
		fputs(i ? ", " : " ", out);
		dump_str(out, buf);
	}
	fputs(cfg->receive.nlisten ? " ]\n" : "]\n", out);
	fprintf(out, "  tls: %s\n", config_recv_tls_name(cfg->receive.tls));
	fprintf(out, "  request_client_cert: %s\n", cfg->receive.request_client_cert ? "true" : "false");
	fputs("  accepted_domains: ", out); dump_strlist(out, &cfg->receive.accepted_domains);
	fputs("  relay:\n    networks: [", out);
	for (size_t i = 0; i < cfg->receive.nrelay_networks; i++) {
		addr_cidr_format(&cfg->receive.relay_networks[i], buf, sizeof(buf));
		fputs(i ? ", " : " ", out);
		dump_str(out, buf);
	}
	fputs(cfg->receive.nrelay_networks ? " ]\n" : "]\n", out);
	fputs("    pins: ", out); dump_pinrefs(out, cfg->receive.relay_pins, cfg->receive.nrelay_pins);
	fprintf(out, "  max_message_size: %llu\n", (unsigned long long)cfg->receive.max_message_size);
	fprintf(out, "  max_recipients: %u\n", cfg->receive.max_recipients);
	fprintf(out, "  max_connections: %u\n", cfg->receive.max_connections);
	fprintf(out, "  max_connections_per_ip: %u\n", cfg->receive.max_connections_per_ip);
	fprintf(out, "  timeouts: { command: %u, data: %u, tls_handshake: %u, min_data_rate: %u }\n",
	    cfg->receive.timeout_command, cfg->receive.timeout_data, cfg->receive.timeout_tls_handshake,
	    cfg->receive.min_data_rate);
	fprintf(out, "  tls_tickets: %s\n", cfg->receive.tls_tickets ? "true" : "false");
	if (cfg->receive.workers)
		fprintf(out, "  workers: %u\n", cfg->receive.workers);
	else
		fputs("  workers: auto\n", out);
	fprintf(out, "  requiretls: %s\n", cfg->receive.requiretls ? "true" : "false");
	if (cfg->receive.metrics_set) {
		addr_endpoint_format(&cfg->receive.metrics, buf, sizeof(buf));
		fputs("  metrics: ", out); dump_str(out, buf); fputc('\n', out);
	}
	fprintf(out, "send:\n  tls: %s\n", config_level_name(cfg->send.tls));
	fputs(cfg->send.nroutes ? "  routes:\n" : "  routes: []\n", out);
	for (size_t i = 0; i < cfg->send.nroutes; i++) {
		const struct cfg_route *r = &cfg->send.routes[i];

		fputs("    - domain: ", out); dump_str(out, r->domain); fputc('\n', out);
		if (r->has_hop) {
			fputs("      next_hop: ", out); dump_hop(out, &r->hop); fputc('\n', out);
		}
		if (r->has_tls)
			fprintf(out, "      tls: %s\n", config_level_name(r->tls));
		if (r->npins) {
			fputs("      pins: ", out); dump_pinrefs(out, r->pins, r->npins);
		}
	}
	fprintf(out, "  client_cert: %s\n", cfg->send.client_cert ? "true" : "false");
	fprintf(out, "  retry: { first: %u, max: %u, lifetime: %u }\n",
	    cfg->send.retry_first, cfg->send.retry_max, cfg->send.retry_lifetime);
	fprintf(out, "  max_parallel: %u\n", cfg->send.max_parallel);
	fprintf(out, "  connection_cache_time: %u\n", cfg->send.connection_cache_time);
	fprintf(out, "  memory: %s\n", cfg->send.memory ? "true" : "false");
	if (cfg->send.metrics_set) {
		addr_endpoint_format(&cfg->send.metrics, buf, sizeof(buf));
		fputs("  metrics: ", out); dump_str(out, buf); fputc('\n', out);
	}
	fputs("dns:\n  resolver: ", out);
	if (cfg->dns.nresolvers == 0)
		fputs("system\n", out);
	else {
		fputc('[', out);
		for (size_t i = 0; i < cfg->dns.nresolvers; i++) {
			addr_endpoint_format(&cfg->dns.resolvers[i], buf, sizeof(buf));
			fputs(i ? ", " : " ", out);
			dump_str(out, buf);
		}
		fputs(" ]\n", out);
	}
	fprintf(out, "  dnssec: %s\n", config_dnssec_name(cfg->dns.dnssec));
	fputs("  trust_anchor_file: ", out); dump_str(out, cfg->dns.trust_anchor_file); fputc('\n', out);
	fprintf(out, "mta_sts:\n  enabled: %s\n", cfg->mta_sts.enabled ? "true" : "false");
	fputs("  ca_file: ", out); dump_str(out, cfg->mta_sts.ca_file); fputc('\n', out);
	fprintf(out, "  port: %u\n", cfg->mta_sts.port);
	fputs("logs:\n  dir: ", out); dump_str(out, cfg->logs.dir); fputc('\n', out);
	fprintf(out, "  level: %s\n", config_log_level_name(cfg->logs.level));
	fprintf(out, "  format: %s\n", config_log_format_name(cfg->logs.format));
	fprintf(out, "  max_file_size: %llu\n", (unsigned long long)cfg->logs.max_file_size);
	fprintf(out, "  max_age_days: %u\n", cfg->logs.max_age_days);
	fputs(cfg->logs.npeers ? "  peers:\n" : "  peers: []\n", out);
	for (size_t i = 0; i < cfg->logs.npeers; i++) {
		fputs("    - { match: ", out); dump_str(out, cfg->logs.peers[i].match);
		fprintf(out, ", level: %s }\n", config_log_level_name(cfg->logs.peers[i].level));
	}
	fprintf(out, "tlsrpt:\n  enabled: %s\n", cfg->tlsrpt.enabled ? "true" : "false");
	fputs("  organization: ", out); dump_str(out, cfg->tlsrpt.organization); fputc('\n', out);
	fputs("  contact: ", out); dump_str(out, cfg->tlsrpt.contact); fputc('\n', out);
	fputs("  from: ", out); dump_str(out, cfg->tlsrpt.from); fputc('\n', out);
}
