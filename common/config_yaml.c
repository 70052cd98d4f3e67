/* config_yaml.c: the YAML walker of the configuration loader. Parses one
 * document with libyaml's document API and walks its nodes along a table
 * of fields (config_int.h), turning each typed value (strings, paths,
 * booleans, numbers, enums, domain, network, address and pin lists) into
 * its place in the struct. Rejects unknown keys, wrong types, duplicate
 * keys, aliases and bad values with FILE:LINE:COLUMN, collecting every
 * error before it refuses. Knows no key names: config_schema.c has those. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/config.h"
#include "common/config_int.h"

/* ---- errors ---- */

void
config_errs_add(struct config_errors *errs, const char *msg)
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
void
config_yaml_error(struct config_loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	char what[768], line[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%zu:%zu: %s%s%s", ld->name,
	    node->start_mark.line + 1, node->start_mark.column + 1,
	    ld->path, ld->path[0] ? ": " : "", what);
	config_errs_add(ld->errs, line);
}

/* ---- memory helpers ---- */

int
config_set_string(char **dst, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

void *
config_grow(void *arr, size_t n, size_t size)
{
	return realloc(arr, (n + 1) * size);
}

int
config_strlist_push(struct cfg_strlist *l, const char *s)
{
	char **v = config_grow(l->v, l->n, sizeof(*v));

	if (v == NULL)
		return -1;
	l->v = v;
	if ((l->v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

void
config_strlist_free(struct cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
config_enum_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* ---- nodes ---- */

const char *
config_yaml_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

yaml_node_t *
config_yaml_node(struct config_loader *ld, int id)
{
	return yaml_document_get_node(ld->doc, id);
}

/* visiting a node twice means it was reached through an alias */
int
config_yaml_visit(struct config_loader *ld, yaml_node_t *n)
{
	size_t idx = (size_t)(n - ld->doc->nodes.start);

	if (idx < ld->nnodes && ld->seen[idx]) {
		config_yaml_error(ld, n, "YAML anchors and aliases are not supported; write the value out");
		return -1;
	}
	if (idx < ld->nnodes)
		ld->seen[idx] = 1;
	return 0;
}

const char *
config_yaml_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* a scalar that YAML would read as null: "~", "null", or empty plain */
bool
config_yaml_is_null(const yaml_node_t *n)
{
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return n->data.scalar.length == 0 || strcmp(config_yaml_scalar(n), "~") == 0 ||
	    strcmp(config_yaml_scalar(n), "null") == 0;
}

/* C0 and C1 controls, DEL, NEL, the line and paragraph separators and BOM:
 * nothing a path, a name or a pin contains */
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

int
config_yaml_want_scalar(struct config_loader *ld, yaml_node_t *n, const char *what)
{
	if (config_yaml_visit(ld, n) < 0)
		return -1;
	if (n->type != YAML_SCALAR_NODE) {
		config_yaml_error(ld, n, "expected %s, found %s", what, config_yaml_kind(n));
		return -1;
	}
	if (config_yaml_is_null(n)) {
		config_yaml_error(ld, n, "expected %s, found an empty value", what);
		return -1;
	}
	if (strlen(config_yaml_scalar(n)) != n->data.scalar.length) {
		config_yaml_error(ld, n, "NUL byte in value");
		return -1;
	}
	if (has_control(config_yaml_scalar(n))) {
		config_yaml_error(ld, n, "control character in value (write paths, names and pins as text)");
		return -1;
	}
	return 0;
}

/* ---- scalar values ---- */

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
field_bool(struct config_loader *ld, yaml_node_t *n, bool *dst)
{
	const char *s;

	if (config_yaml_want_scalar(ld, n, "true or false") < 0)
		return -1;
	s = config_yaml_scalar(n);
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*dst = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*dst = false;
	else {
		config_yaml_error(ld, n, "\"%s\" is not a boolean (true or false)", s);
		return -1;
	}
	return 0;
}

static int
field_number(struct config_loader *ld, yaml_node_t *n, const struct config_field *f, uint64_t *v)
{
	if (config_yaml_want_scalar(ld, n, "a number") < 0)
		return -1;
	if (parse_u64(config_yaml_scalar(n), v) < 0) {
		config_yaml_error(ld, n, "\"%s\" is not a whole number", config_yaml_scalar(n));
		return -1;
	}
	if (*v < f->min || *v > f->max) {
		config_yaml_error(ld, n, "%s is out of range (%llu to %llu)", config_yaml_scalar(n),
		    (unsigned long long)f->min, (unsigned long long)f->max);
		return -1;
	}
	return 0;
}

/* ---- lists ---- */

/* a list of scalars; a single scalar is a list of one */
int
config_yaml_each_item(struct config_loader *ld, yaml_node_t *n, const char *what,
    int (*fn)(struct config_loader *, yaml_node_t *, void *), void *arg)
{
	char saved[sizeof(ld->path)];
	int rc = 0;
	size_t i = 0;

	if (n->type == YAML_SCALAR_NODE)
		return fn(ld, n, arg);
	if (config_yaml_visit(ld, n) < 0)
		return -1;
	if (n->type != YAML_SEQUENCE_NODE) {
		config_yaml_error(ld, n, "expected a list of %s, found %s", what, config_yaml_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		snprintf(ld->path, sizeof(ld->path), "%s[%zu]", saved, i);
		if (fn(ld, config_yaml_node(ld, *it), arg) < 0)
			rc = -1;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

int
config_yaml_each_mapping(struct config_loader *ld, yaml_node_t *n, void *base,
    int (*fn)(struct config_loader *, yaml_node_t *, void *))
{
	char saved[sizeof(ld->path)];
	size_t i = 0;
	int rc = 0;

	if (config_yaml_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && config_yaml_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		config_yaml_error(ld, n, "expected a list, found %s", config_yaml_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		snprintf(ld->path, sizeof(ld->path), "%s[%zu]", saved, i);
		if (fn(ld, config_yaml_node(ld, *it), base) < 0)
			rc = -1;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

int
config_yaml_domain(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct config_domain_arg *da = arg;
	struct dsmtp_err err;
	char dom[256];

	if (config_yaml_want_scalar(ld, n, "a domain name") < 0)
		return -1;
	if (addr_domain_normalise(config_yaml_scalar(n), dom, sizeof(dom), da->wild, &err) < 0) {
		config_yaml_error(ld, n, "%s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < da->list->n; i++)
		if (strcmp(da->list->v[i], dom) == 0) {
			config_yaml_error(ld, n, "\"%s\" is listed twice", dom);
			return -1;
		}
	return config_strlist_push(da->list, dom);
}

struct array_arg {
	void	**arr;
	size_t	 *n;
};

static int
item_cidr(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct addr_cidr c, *v;
	struct dsmtp_err err;

	if (config_yaml_want_scalar(ld, n, "a network (e.g. 10.0.0.0/8)") < 0)
		return -1;
	if (addr_parse_cidr(config_yaml_scalar(n), &c, &err) < 0) {
		config_yaml_error(ld, n, "%s", err.msg);
		return -1;
	}
	if ((v = config_grow(*aa->arr, *aa->n, sizeof(c))) == NULL)
		return -1;
	v[(*aa->n)++] = c;
	*aa->arr = v;
	return 0;
}

static int
item_endpoint(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct addr_endpoint e, *v;
	struct dsmtp_err err;

	if (config_yaml_want_scalar(ld, n, "an ADDRESS:PORT") < 0)
		return -1;
	if (addr_parse_endpoint(config_yaml_scalar(n), &e, &err) < 0) {
		config_yaml_error(ld, n, "%s", err.msg);
		return -1;
	}
	v = *aa->arr;
	for (size_t i = 0; i < *aa->n; i++)
		if (v[i].family == e.family && v[i].port == e.port &&
		    memcmp(v[i].addr, e.addr, 16) == 0) {
			config_yaml_error(ld, n, "\"%s\" is listed twice", config_yaml_scalar(n));
			return -1;
		}
	if ((v = config_grow(*aa->arr, *aa->n, sizeof(e))) == NULL)
		return -1;
	v[(*aa->n)++] = e;
	*aa->arr = v;
	return 0;
}

/* a pin set name (checked after loading) or a literal pin */
static int
item_pinref(struct config_loader *ld, yaml_node_t *n, void *arg)
{
	struct array_arg *aa = arg;
	struct cfg_pinref r = { 0 }, *v;
	struct dsmtp_err err;
	char pin[128];
	const char *s;

	if (config_yaml_want_scalar(ld, n, "a pin name or a pin") < 0)
		return -1;
	s = config_yaml_scalar(n);
	if (strncmp(s, "sha256/", 7) == 0 || strncmp(s, "cert-sha256:", 12) == 0 ||
	    strncmp(s, "sha1", 4) == 0) {
		if (config_pin_normalise(s, pin, sizeof(pin), &err) < 0) {
			config_yaml_error(ld, n, "%s", err.msg);
			return -1;
		}
		s = pin;
	}
	if ((r.name = strdup(s)) == NULL)
		return -1;
	r.line = (int)n->start_mark.line + 1;
	r.column = (int)n->start_mark.column + 1;
	if ((v = config_grow(*aa->arr, *aa->n, sizeof(r))) == NULL) {
		free(r.name);
		return -1;
	}
	v[(*aa->n)++] = r;
	*aa->arr = v;
	return 0;
}

/* ---- one field ---- */

static int
field_value(struct config_loader *ld, yaml_node_t *n, const struct config_field *f, void *base)
{
	void *dst = (char *)base + f->off;
	uint64_t v;
	int i;

	switch (f->type) {
	case CF_STR:
	case CF_PATH:
	case CF_HOSTNAME:
		if (config_yaml_want_scalar(ld, n, f->type == CF_PATH ? "a path" : "a string") < 0)
			return -1;
		if (f->type == CF_HOSTNAME) {
			char host[256];
			struct dsmtp_err err;

			if (addr_domain_normalise(config_yaml_scalar(n), host, sizeof(host), false,
			    &err) < 0) {
				config_yaml_error(ld, n, "%s", err.msg);
				return -1;
			}
			return config_set_string(dst, host);
		}
		return config_set_string(dst, config_yaml_scalar(n));
	case CF_BOOL:
		return field_bool(ld, n, dst);
	case CF_UINT:
		if (field_number(ld, n, f, &v) < 0)
			return -1;
		*(unsigned *)dst = (unsigned)v;
		return 0;
	case CF_U64:
		if (field_number(ld, n, f, &v) < 0)
			return -1;
		*(uint64_t *)dst = v;
		return 0;
	case CF_WORKERS:
		if (config_yaml_want_scalar(ld, n, "\"auto\" or a number") < 0)
			return -1;
		if (strcmp(config_yaml_scalar(n), "auto") == 0) {
			*(unsigned *)dst = 0;
			return 0;
		}
		if (parse_u64(config_yaml_scalar(n), &v) < 0 || v < 1 || v > 256) {
			config_yaml_error(ld, n, "\"%s\": expected \"auto\" or a number from 1 to 256",
			    config_yaml_scalar(n));
			return -1;
		}
		*(unsigned *)dst = (unsigned)v;
		return 0;
	case CF_METRICS: {
		/* "HOST:PORT", or a bare port on loopback */
		struct addr_endpoint *ep = dst;
		const char *s;
		char buf[80];
		struct dsmtp_err err;

		if (config_yaml_want_scalar(ld, n, "ADDRESS:PORT or a port") < 0)
			return -1;
		s = config_yaml_scalar(n);
		snprintf(buf, sizeof(buf), "%s%.60s",
		    strspn(s, "0123456789") == strlen(s) ? "127.0.0.1:" : "", s);
		if (addr_parse_endpoint(buf, ep, &err) < 0) {
			config_yaml_error(ld, n, "%s", err.msg);
			return -1;
		}
		return 0;
	}
	case CF_ENUM: {
		const char *const *names = f->aux;
		char list[256] = "";

		if (config_yaml_want_scalar(ld, n, "a word") < 0)
			return -1;
		if ((i = config_enum_lookup(names, config_yaml_scalar(n))) >= 0) {
			*(int *)dst = i;
			return 0;
		}
		for (int k = 0; names[k]; k++) {
			strncat(list, k ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, names[k], sizeof(list) - strlen(list) - 1);
		}
		config_yaml_error(ld, n, "unknown value \"%s\" (%s)", config_yaml_scalar(n), list);
		return -1;
	}
	case CF_DOMAINS:
	case CF_ROUTE_DOMAINS: {
		struct config_domain_arg da = { dst, f->type == CF_ROUTE_DOMAINS };

		config_strlist_free(dst);
		return config_yaml_each_item(ld, n, "domains", config_yaml_domain, &da);
	}
	case CF_CIDRS:
	case CF_ENDPOINTS:
	case CF_PINREFS: {
		struct array_arg aa = { dst, (size_t *)((char *)base + f->countoff) };

		if (f->type == CF_PINREFS) {
			struct cfg_pinref *r = *aa.arr;
			for (size_t k = 0; k < *aa.n; k++)
				free(r[k].name);
		}
		free(*aa.arr);
		*aa.arr = NULL;
		*aa.n = 0;
		if (f->type == CF_CIDRS)
			return config_yaml_each_item(ld, n, "networks", item_cidr, &aa);
		if (f->type == CF_ENDPOINTS)
			return config_yaml_each_item(ld, n, "ADDRESS:PORT", item_endpoint, &aa);
		return config_yaml_each_item(ld, n, "pin names", item_pinref, &aa);
	}
	case CF_SECTION:
		return config_yaml_walk(ld, n, f->aux, base);
	case CF_CUSTOM:
		return ((config_custom_fn)(uintptr_t)f->aux)(ld, n, base);
	}
	return -1;
}

/* the keys of a mapping, each once, each known */
int
config_yaml_walk(struct config_loader *ld, yaml_node_t *n, const struct config_field *fields,
    void *base)
{
	char saved[sizeof(ld->path)];
	int rc = 0;

	if (config_yaml_visit(ld, n) < 0)
		return -1;
	if (n->type == YAML_SCALAR_NODE && config_yaml_is_null(n))
		return 0;	/* "receive:" with nothing under it: all defaults */
	if (n->type != YAML_MAPPING_NODE) {
		config_yaml_error(ld, n, "expected a mapping of keys, found %s", config_yaml_kind(n));
		return -1;
	}
	memcpy(saved, ld->path, sizeof(saved));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = config_yaml_node(ld, p->key), *v = config_yaml_node(ld, p->value);
		const struct config_field *f;
		const char *key;
		bool dup = false;

		memcpy(ld->path, saved, sizeof(saved));
		if (k->type != YAML_SCALAR_NODE) {
			config_yaml_error(ld, k, "a key must be a plain word, found %s",
			    config_yaml_kind(k));
			rc = -1;
			continue;
		}
		key = config_yaml_scalar(k);
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *qk = config_yaml_node(ld, q->key);
			if (qk->type == YAML_SCALAR_NODE && strcmp(config_yaml_scalar(qk), key) == 0)
				dup = true;
		}
		snprintf(ld->path, sizeof(ld->path), "%s%s%s", saved, saved[0] ? "." : "", key);
		if (dup) {
			config_yaml_error(ld, k, "duplicate key (already set above in this mapping)");
			rc = -1;
			continue;
		}
		for (f = fields; f->key; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL) {
			char list[512] = "";

			for (const struct config_field *g = fields; g->key; g++) {
				strncat(list, g == fields ? "" : ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, g->key, sizeof(list) - strlen(list) - 1);
			}
			config_yaml_error(ld, k, "unknown key (known here: %s)", list);
			rc = -1;
			continue;
		}
		if (field_value(ld, v, f, base) < 0)
			rc = -1;
		else if (f->setoff != CONFIG_NOSET)
			*(bool *)((char *)base + f->setoff) = true;
	}
	memcpy(ld->path, saved, sizeof(saved));
	return rc;
}

/* ---- the document ---- */

static void
syntax_error(const char *name, yaml_parser_t *p, const char *buf, size_t len,
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
	config_errs_add(errs, line);
}

int
config_yaml_load(const char *name, const char *buf, size_t len, const struct config_field *top,
    struct dsmtp_config *cfg, struct config_errors *errs)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct config_loader ld = { 0 };
	int rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		config_errs_add(errs, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(name, &parser, buf, len, errs);
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (root != NULL) {
		/* a second document in one file is a mistake, not something to ignore */
		yaml_document_t doc2;

		if (!yaml_parser_load(&parser, &doc2)) {
			syntax_error(name, &parser, buf, len, errs);
			rc = -1;
		} else {
			if (yaml_document_get_root_node(&doc2) != NULL) {
				char line[512];
				snprintf(line, sizeof(line), "%s:%zu:%zu: only one YAML document is allowed",
				    name, doc2.start_mark.line + 1, doc2.start_mark.column + 1);
				config_errs_add(errs, line);
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
		else if (config_yaml_walk(&ld, root, top, cfg) < 0)
			rc = -1;
		free(ld.seen);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}
