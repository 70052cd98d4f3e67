/* tls.h: the one public header of tls/, the GnuTLS layer: credentials,
 * sessions over non-blocking sockets, certificate facts, the store.
 * Nothing here knows SMTP; policy/ judges the facts, logs/ records them. */
#ifndef DSMTP_TLS_H
#define DSMTP_TLS_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <time.h>

#include "tls/tls_facts.h"	/* the facts structs: plain data, shared with logs/ */

const char *tls_chain_status_name(enum tls_chain_status s);	/* "ok", "expired", ... */
void tls_cert_facts_free(struct tls_cert_facts *f);

struct dsmtp_err;
struct dsmtp_config;

/* Facts of the first certificate in a PEM or DER file. 0, or -1 with err. */
int tls_cert_facts_from_file(const char *path, struct tls_cert_facts *f, struct dsmtp_err *err);
/* is the certificate's key strong enough to use as ours? RSA (and DSA)
 * under 2048 bits is refused, as for keys we generate: 0, or -1 and why */
#define TLS_RSA_MIN_BITS	2048
int tls_key_strength_check(const struct tls_cert_facts *f, struct dsmtp_err *err);
/* Deep copy (the SAN list is duplicated). 0, or -1 on out of memory. */
int tls_cert_facts_copy(struct tls_cert_facts *dst, const struct tls_cert_facts *src);
/* Is the certificate valid at time now (not_before <= now <= not_after)? */
bool tls_cert_facts_valid_at(const struct tls_cert_facts *f, time_t now);
/* Does a DNS SAN of f (or, without DNS SANs, its CN) name host? Case-insensitive,
 * one left-most "*" label. For selection only; policy/ owns RFC 6125 judging. */
bool tls_cert_facts_names(const struct tls_cert_facts *f, const char *host);

/* Trust anchors (and CRLs) to verify peers' chains against. Reference
 * counted: tls_trust_load returns one reference, every credentials set
 * built on the trust holds another, so a SIGHUP may drop the old trust
 * while sessions that started before it still verify against it. */
struct tls_trust;
/* ca_file: "system" (GnuTLS system trust) or a PEM path; crl_file may be NULL */
struct tls_trust *tls_trust_load(const char *ca_file, const char *crl_file, struct dsmtp_err *err);
/* one more reference to t (returns t) */
struct tls_trust *tls_trust_ref(struct tls_trust *t);
/* drop one reference; the last frees (NULL is ignored) */
void tls_trust_free(struct tls_trust *t);
/* how many trust anchors were loaded (0: "system" found none on this host) */
unsigned tls_trust_count(const struct tls_trust *t);

/* Our certificate for a new connection (DESIGN.md section 7). */
struct tls_selected {
	char			cert_path[4096];	/* PEM: leaf then chain */
	char			key_path[4096];
	struct tls_cert_facts	facts;
	char			why[160];		/* the selection reason, for the log */
};
/* all usable certificates for serving (config files, else the store's
 * enabled ones), the best chosen: SNI match if given (sni may be NULL), else
 * SANs include hostname; valid now; CA-issued before self-signed; newest
 * first. 0 with out filled (free with tls_selected_free), or -1 with err
 * (no certificate at all, or a configured file is unreadable). */
int tls_store_select(const struct dsmtp_config *cfg, const char *sni, struct tls_selected *out,
    struct dsmtp_err *err);
/* dsmtpd's first start: when no certificate is configured or enabled, create
 * the default self-signed one (as `dsmtp-cert new`) and enable it.
 * 1 = created, 0 = one existed, -1 = error */
int tls_store_ensure_default(const struct dsmtp_config *cfg, struct dsmtp_err *err);
void tls_selected_free(struct tls_selected *s);

/* The key process (tls_keyproc*.c, DESIGN.md 13.4): started as root, the
 * private keys live only there; every other process signs through it. */
struct privdrop_user;
/* the supervisor, before the start: how many key processes (one per
 * worker slot: each signs one request at a time; at most 16, default 1) */
void tls_keyproc_set_count(unsigned n);
unsigned tls_keyproc_count(void);
/* the supervisor: fork every one not running (each drops to u, or stays
 * when u is NULL) */
int tls_keyproc_start(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err);
/* the supervisor: read the key files cfg names (its certificates, else
 * the store's enabled ones) and hand them over; the copies are wiped.
 * Keys of this and the previous load answer (sessions started before a
 * reload finish). A no-op without a key process. */
int tls_keyproc_load(const struct dsmtp_config *cfg, struct dsmtp_err *err);
/* the supervisor: a new socket to the key process of worker slot slot
 * (the worker is about to be forked); the descriptor, or -1 with err */
int tls_keyproc_client_new(unsigned slot, struct dsmtp_err *err);
/* a forked worker: sign through fd; the control socket is closed */
void tls_keyproc_child(int fd);
/* the supervisor: close the control sockets and reap the key processes */
void tls_keyproc_stop(void);
/* the supervisor reaped key process p (it died): forget it;
 * tls_keyproc_start starts another (new workers need new sockets) */
void tls_keyproc_reaped(pid_t p);
/* is p one of the key processes? */
bool tls_keyproc_is(pid_t p);
/* is there a key process (credentials then use external keys)? */
bool tls_keyproc_active(void);
/* the first one's pid in the supervisor (or key process i's), else -1 */
int tls_keyproc_pid(void);
int tls_keyproc_pid_of(unsigned i);
/* tls_store_ensure_default in a child process (no key material is left
 * in the memory the workers inherit): 1 made, 0 existed, -1 error */
int tls_keyproc_ensure_default(const struct dsmtp_config *cfg, struct dsmtp_err *err);

#include "tls/tls_session.h"
#include "tls/tls_dane.h"

#endif
