/* secmem.h: the per-domain security memory (DESIGN.md 13.3, send.memory):
 * for each destination domain, the highest level a delivery session to it
 * has shown -- plaintext < TLS < authenticated TLS, with what authenticated
 * it (pkix, dane, pin, sts) -- and when. Stored as one small file per
 * domain, state_dir/memory/DOMAIN, replaced atomically (temporary file,
 * fsync, rename, directory fsync) under an exclusive flock on
 * state_dir/memory/.lock, so concurrent dsmtpc processes never lose a
 * raise and a crash leaves the old or the new record, never a torn one.
 * Knows nothing of SMTP or TLS libraries. */
#ifndef DSMTP_SECMEM_H
#define DSMTP_SECMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"

struct dsmtp_config;

enum secmem_level {
	SECMEM_PLAINTEXT,
	SECMEM_TLS,		/* encrypted, the server not authenticated */
	SECMEM_AUTH,		/* authenticated TLS: see method */
};

struct secmem_rec {
	char			 domain[256];	/* lower-case A-labels */
	enum secmem_level	 level;
	char			 method[16];	/* SECMEM_AUTH: pkix, dane, pin, sts; else "" */
	char			 host[256];	/* the MX host that showed it */
	int64_t			 seen;		/* unix time it was first shown */
};

/* can domain have a record (an A-label name: letters, digits, '-', '.',
 * '_')? A recipient domain that cannot is not remembered, nor checked */
bool secmem_domain_valid(const char *domain);
const char *secmem_level_name(enum secmem_level l);	/* "plaintext", "TLS", ... */
/* "authenticated TLS (pkix)" style, for people */
void secmem_describe(enum secmem_level l, const char *method, char *out, size_t outlen);

/* the record for domain: 1 found, 0 none, -1 error (err set) */
int secmem_get(const struct dsmtp_config *cfg, const char *domain, struct secmem_rec *out,
    struct dsmtp_err *err);
/* remember that domain showed level (method, host) now, if that is higher
 * than what is remembered: 1 raised, 0 already as high, -1 error */
int secmem_learn(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    const char *method, const char *host, int64_t now, struct dsmtp_err *err);
/* forget domain: 1 forgotten, 0 there was nothing, -1 error */
int secmem_forget(const struct dsmtp_config *cfg, const char *domain, struct dsmtp_err *err);
/* every record, sorted by domain; free() *recs */
int secmem_list(const struct dsmtp_config *cfg, struct secmem_rec **recs, size_t *n,
    struct dsmtp_err *err);

/* Would a session at level be below what domain showed before? 1 yes
 * (reason says so for the deferral: "security memory: D showed
 * authenticated TLS (pkix) on 2026-12-06, this connection offered only
 * plaintext"), 0 no, -1 could not tell (err; the caller defers too) */
int secmem_below(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    char *reason, size_t rlen, struct dsmtp_err *err);
/* the deferral's cause without date or host, the same for every domain
 * in that situation (dsmtp-log failures groups by it): "authenticated TLS
 * (pkix) shown before, only plaintext now" */
void secmem_cause(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    char *out, size_t outlen);

#endif
