/* tls_select.c: which certificate we serve (DESIGN.md section 7): the
 * candidates (configured files, else the store's enabled certificates), their
 * order and the reason logged for the choice; and the default self-signed
 * certificate of dsmtpd's first start. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls_int.h"

#define DEFAULT_DAYS	365

/* ranking keys of one candidate, most important first */
struct rank {
	bool	named;
	bool	valid;
	bool	ca_issued;
	time_t	not_before;
};

/* the ranking keys of one candidate */
static struct rank
rank_of(const struct tls_cert_facts *f, const char *name, time_t now)
{
	struct rank r;

	r.named = tls_cert_facts_names(f, name);
	r.valid = tls_cert_facts_valid_at(f, now);
	r.ca_issued = !f->self_signed;
	r.not_before = f->not_before;
	return r;
}

/* is a better than b? */
static bool
rank_better(const struct rank *a, const struct rank *b)
{
	if (a->named != b->named)
		return a->named;
	if (a->valid != b->valid)
		return a->valid;
	if (a->ca_issued != b->ca_issued)
		return a->ca_issued;
	return a->not_before > b->not_before;
}

/* choose among candidates and say why */
size_t
tls_select_best(const struct tls_cert_facts *const *cand, size_t n, const char *sni,
    const char *hostname, time_t now, char *why, size_t whylen)
{
	const char *name = hostname, *what = "hostname";
	bool sni_missed = false;
	struct rank best, r;
	size_t bi = 0;
	char until[32];

	/* SNI decides when the client sent one that a certificate names */
	if (sni != NULL && sni[0] != '\0') {
		for (size_t i = 0; i < n; i++)
			if (tls_cert_facts_names(cand[i], sni)) {
				name = sni;
				what = "SNI";
				break;
			}
		sni_missed = name != sni;
	}
	best = rank_of(cand[0], name, now);
	for (size_t i = 1; i < n; i++) {
		r = rank_of(cand[i], name, now);
		if (rank_better(&r, &best)) {
			best = r;
			bi = i;
		}
	}
	tls_time_format(cand[bi]->not_after, until, sizeof(until));
	snprintf(why, whylen, "%s%s%s%s %s; %s %s; %s; %zu candidate%s",
	    sni_missed ? "no certificate names SNI " : "", sni_missed ? sni : "",
	    sni_missed ? "; " : "", best.named ? what : "no certificate names", name,
	    best.valid ? "valid until" : "NOT VALID NOW, not_after", until,
	    best.ca_issued ? "CA-issued" : "self-signed", n, n == 1 ? "" : "s");
	return bi;
}

/* free a selection */
void
tls_selected_free(struct tls_selected *s)
{
	if (s != NULL)
		tls_cert_facts_free(&s->facts);
}

struct cand {
	char			cert_path[TLS_PATH_MAX];
	char			key_path[TLS_PATH_MAX];
	struct tls_cert_facts	facts;
};

/* free a candidate list */
static void
cands_free(struct cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tls_cert_facts_free(&c[i].facts);
	free(c);
}

/* the configured certificate files as candidates */
static int
cands_from_config(const struct dsmtp_config *cfg, struct cand **out, size_t *n,
    struct dsmtp_err *err)
{
	struct cand *c = calloc(cfg->ncertificates, sizeof(*c));

	if (c == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->ncertificates; i++) {
		struct dsmtp_err sub;

		snprintf(c[i].cert_path, sizeof(c[i].cert_path), "%s", cfg->certificates[i].cert);
		snprintf(c[i].key_path, sizeof(c[i].key_path), "%s", cfg->certificates[i].key);
		if (tls_cert_facts_from_file(c[i].cert_path, &c[i].facts, &sub) < 0) {
			dsmtp_err_set(err, "certificates[%zu]: %s", i, sub.msg);
			cands_free(c, i);
			return -1;
		}
		if (tls_key_strength_check(&c[i].facts, &sub) < 0) {
			dsmtp_err_set(err, "certificates[%zu]: %s: %s", i, c[i].cert_path, sub.msg);
			cands_free(c, i + 1);
			return -1;
		}
		/* the key is loaded later by the session layer; say now if it cannot be */
		if (!tls_keyproc_active() && access(c[i].key_path, R_OK) < 0) {
			dsmtp_err_set(err, "certificates[%zu]: %s: cannot read the key: %s", i,
			    c[i].key_path, strerror(errno));
			cands_free(c, i + 1);
			return -1;
		}
	}
	*out = c;
	*n = cfg->ncertificates;
	return 0;
}

/* the store's enabled certificates (with keys) as candidates */
static int
cands_from_store(const struct dsmtp_config *cfg, struct cand **out, size_t *n,
    struct dsmtp_err *err)
{
	struct tls_store st;
	struct cand *c;
	size_t k = 0;

	if (tls_store_open(cfg, &st, err) < 0)
		return -1;
	if ((c = calloc(st.ncerts + 1, sizeof(*c))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		tls_store_close(&st);
		return -1;
	}
	for (size_t i = 0; i < st.ncerts; i++) {
		if (!st.certs[i].enabled || !st.certs[i].has_key)
			continue;
		snprintf(c[k].cert_path, sizeof(c[k].cert_path), "%s", st.certs[i].cert_path);
		snprintf(c[k].key_path, sizeof(c[k].key_path), "%s", st.certs[i].key_path);
		if (tls_cert_facts_copy(&c[k].facts, &st.certs[i].facts) < 0) {
			dsmtp_err_set(err, "out of memory");
			cands_free(c, k);
			tls_store_close(&st);
			return -1;
		}
		k++;
	}
	if (k == 0)
		dsmtp_err_set(err, "no certificate: none configured (certificates:) and none "
		    "enabled in %s (dsmtp-cert new, or dsmtp-cert enable THUMBPRINT)", st.dir);
	tls_store_close(&st);
	*out = c;
	*n = k;
	return 0;
}

/* the certificate to serve now, and why */
int
tls_store_select(const struct dsmtp_config *cfg, const char *sni, struct tls_selected *out,
    struct dsmtp_err *err)
{
	const struct tls_cert_facts **facts;
	struct cand *c = NULL;
	size_t n = 0, bi;
	bool configured = cfg->ncertificates > 0;
	char why[160];

	memset(out, 0, sizeof(*out));
	if ((configured ? cands_from_config(cfg, &c, &n, err) :
	    cands_from_store(cfg, &c, &n, err)) < 0)
		return -1;
	if (n == 0) {
		cands_free(c, n);
		return -1;
	}
	if ((facts = calloc(n, sizeof(*facts))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		cands_free(c, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		facts[i] = &c[i].facts;
	bi = tls_select_best(facts, n, sni, cfg->hostname, time(NULL), why, sizeof(why));
	free(facts);
	snprintf(out->cert_path, sizeof(out->cert_path), "%s", c[bi].cert_path);
	snprintf(out->key_path, sizeof(out->key_path), "%s", c[bi].key_path);
	snprintf(out->why, sizeof(out->why), "%s%.147s", configured ? "configured; " : "", why);
	/* hand the chosen facts over instead of copying them */
	out->facts = c[bi].facts;
	memset(&c[bi].facts, 0, sizeof(c[bi].facts));
	cands_free(c, n);
	return 0;
}

/* make the first-start certificate when there is none */
int
tls_store_ensure_default(const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	struct tls_store st;
	char cn[256], **san = NULL;
	size_t nsan = 0, idx;
	int rc;

	if (cfg->ncertificates > 0)
		return 0;
	if (tls_store_open(cfg, &st, err) < 0)
		return -1;
	/* the usual case needs no lock (nor a writable store) */
	if (tls_store_enabled_count(&st) > 0) {
		tls_store_close(&st);
		return 0;
	}
	/* locked, and looked at again: two starting daemons (or a dsmtp-cert)
	 * must not both make one */
	if (tls_store_lock(&st, err) < 0) {
		tls_store_close(&st);
		return -1;
	}
	if (tls_store_enabled_count(&st) > 0) {
		tls_store_close(&st);
		return 0;
	}
	rc = tls_default_names(cfg->hostname, cn, sizeof(cn), &san, &nsan, err);
	if (rc == 0)
		rc = tls_store_new_selfsigned(&st, TLS_KEY_ECDSA_P256, cn, san, nsan, DEFAULT_DAYS,
		    true, &idx, err);
	tls_strv_free(san, nsan);
	tls_store_close(&st);
	return rc < 0 ? -1 : 1;
}
