/* config_int.h: what the pieces of the configuration share, for
 * common/config*.c only: the loader's state and the field tables the schema
 * is written in (walked by config_yaml.c, filled in by config_schema.c),
 * the error list, and the list helpers config.c's config_free also uses. */
#ifndef DSMTP_CONFIG_INT_H
#define DSMTP_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "common/config.h"
#include "common/diag.h"

#define CONFIG_MAX_ERRORS	50

/* ---- the loader's state (one walk of one document) ---- */

struct config_loader {
	const char		*name;
	yaml_document_t		*doc;
	struct dsmtp_config	*cfg;
	struct config_errors	*errs;
	unsigned char		*seen;		/* per node: visited (aliases are refused) */
	size_t			 nnodes;
	char			 path[256];	/* "send.routes[1].tls" */
};

/* ---- field tables: a section is an array of these, ended by key NULL ---- */

enum config_ftype {
	CF_STR, CF_PATH, CF_HOSTNAME, CF_BOOL, CF_UINT, CF_U64, CF_ENUM, CF_DOMAINS,
	CF_ROUTE_DOMAINS, CF_CIDRS, CF_ENDPOINTS, CF_PINREFS, CF_WORKERS, CF_METRICS,
	CF_SECTION, CF_CUSTOM
};

typedef int (*config_custom_fn)(struct config_loader *, yaml_node_t *, void *base);

struct config_field {
	const char		*key;
	enum config_ftype	 type;
	size_t			 off;		/* into the section's base */
	const void		*aux;		/* enum names, sub-table, custom fn */
	uint64_t		 min, max;	/* CF_UINT, CF_U64 */
	size_t			 countoff;	/* arrays: where the count lives */
	size_t			 setoff;	/* a bool set when present, or CONFIG_NOSET */
};

#define CONFIG_NOSET	((size_t)-1)

/* config_schema.c: the top-level table */
extern const struct config_field config_schema_top[];

/* ---- config_yaml.c: the walker ---- */

/* parse buf (one YAML document) and walk it with the top table into cfg;
 * 0, or -1 with every error found added to errs */
int config_yaml_load(const char *name, const char *buf, size_t len,
    const struct config_field *top, struct dsmtp_config *cfg, struct config_errors *errs);

/* one error at a node: "FILE:LINE:COLUMN: path: message" */
void config_yaml_error(struct config_loader *ld, const yaml_node_t *n, const char *fmt, ...)
    DIAG_PRINTF(3, 4);
const char *config_yaml_kind(const yaml_node_t *n);	/* "a scalar", "a list"... */
yaml_node_t *config_yaml_node(struct config_loader *ld, int id);
/* mark a node visited; -1 (with the error) if it was: an alias */
int config_yaml_visit(struct config_loader *ld, yaml_node_t *n);
const char *config_yaml_scalar(const yaml_node_t *n);
bool config_yaml_is_null(const yaml_node_t *n);
/* a non-null scalar without NUL or control characters, else -1 with the error */
int config_yaml_want_scalar(struct config_loader *ld, yaml_node_t *n, const char *what);
/* the keys of a mapping, each once, each in fields */
int config_yaml_walk(struct config_loader *ld, yaml_node_t *n, const struct config_field *fields,
    void *base);
/* fn on each scalar of a list (a single scalar is a list of one) */
int config_yaml_each_item(struct config_loader *ld, yaml_node_t *n, const char *what,
    int (*fn)(struct config_loader *, yaml_node_t *, void *), void *arg);
/* fn on each mapping of a list (an empty value is an empty list) */
int config_yaml_each_mapping(struct config_loader *ld, yaml_node_t *n, void *base,
    int (*fn)(struct config_loader *, yaml_node_t *, void *));

/* a domain name (wild: "*" and "*.x" allowed) appended to list, once */
struct config_domain_arg {
	struct cfg_strlist	*list;
	bool			 wild;
};
int config_yaml_domain(struct config_loader *ld, yaml_node_t *n, void *arg);

/* index of s in a NULL-ended names array, or -1 */
int config_enum_lookup(const char *const *names, const char *s);

/* the error list (at most CONFIG_MAX_ERRORS, then "too many errors") */
void config_errs_add(struct config_errors *errs, const char *msg);

/* ---- memory helpers ---- */

int config_set_string(char **dst, const char *s);
void *config_grow(void *arr, size_t n, size_t size);	/* room for n + 1 */
int config_strlist_push(struct cfg_strlist *l, const char *s);
void config_strlist_free(struct cfg_strlist *l);

#endif
