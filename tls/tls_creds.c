/* tls_creds.c: GnuTLS credentials for both roles: our certificate and key,
 * the priority cache, the server's session-ticket key, the trust used to
 * judge peers, and the client's per-next-hop session cache. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/diag.h"
#include "tls/tls_int.h"
#include "tls/tls_sess_int.h"

#define TLS_CACHE_MAX	256	/* next hops remembered for resumption */

/* our certificate and its key: the key file itself, or with a key
 * process (DESIGN.md 13.4) an external key it signs for */
static int
creds_set_pair(gnutls_certificate_credentials_t cert, const char *cert_path,
    const char *key_path, struct dsmtp_err *err)
{
	if (tls_keyproc_active())
		return tls_keyproc_set_pair(cert, cert_path, err);
	/* tls_keyfile.c, not GnuTLS, reads the key: no copy of its text stays */
	return tls_cred_add_pair(cert, cert_path, key_path, err);
}

/* The client's certificate, whatever the server asks for. GnuTLS's own
 * choice offers a certificate only when its issuer is among the CAs the
 * server names and, in TLS 1.2, its key type among the certificate types
 * the request lists (which have no entry for Ed25519): an Ed25519
 * certificate went unsent to Postfix and Exim, and a pinned self-signed
 * one to any server that names its CAs. A server that asks gets ours;
 * whether it will do is the server's judgement, as with OpenSSL clients.
 * The pair stays the credentials' (GnuTLS frees nothing it gets here). */
static int
creds_client_cert(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
    const gnutls_pk_algorithm_t *pk, int npk, gnutls_pcert_st **pcert, unsigned *npcert,
    gnutls_privkey_t *key)
{
	const struct tls_creds *cr = gnutls_session_get_ptr(s);

	(void)req_ca, (void)nreq, (void)pk, (void)npk;
	if (cr == NULL || cr->client.key == NULL) {
		*pcert = NULL;
		*npcert = 0;
		*key = NULL;
		return 0;
	}
	*pcert = cr->client.pcerts;
	*npcert = cr->client.n;
	*key = cr->client.key;
	return 0;
}

static int
creds_client_pair(struct tls_creds *cr, struct dsmtp_err *err)
{
	int rc = tls_keyproc_active() ? tls_keyproc_pair(cr->sel.cert_path, &cr->client, err) :
	    tls_pair_load(cr->sel.cert_path, cr->sel.key_path, &cr->client, err);

	if (rc < 0)
		return -1;
	gnutls_certificate_set_retrieve_function2(cr->cert, creds_client_cert);
	return 0;
}

static int
creds_common(struct tls_creds *cr, const struct dsmtp_config *cfg, struct tls_trust *trust,
    bool with_cert, struct dsmtp_err *err)
{
	const char *errpos = NULL;
	int rc;

	cr->trust = tls_trust_ref(trust);
	if ((rc = gnutls_certificate_allocate_credentials(&cr->cert)) < 0) {
		dsmtp_err_set(err, "TLS credentials: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_priority_init(&cr->prio, cfg->tls_priority, &errpos)) < 0) {
		dsmtp_err_set(err, "tls_priority \"%s\": %s near \"%s\"", cfg->tls_priority,
		    gnutls_strerror(rc), errpos ? errpos : "");
		return -1;
	}
	if (!with_cert)
		return 0;
	if (tls_store_select(cfg, NULL, &cr->sel, err) < 0)
		return -1;
	cr->has_sel = true;
	if (!cr->server)
		return creds_client_pair(cr, err);
	return creds_set_pair(cr->cert, cr->sel.cert_path, cr->sel.key_path, err);
}

/* DESIGN.md 7: a client that sends SNI gets the enabled certificate that
 * names it. The selected one was loaded first, so it stays the answer for
 * clients without SNI; GnuTLS picks among the rest by the SNI name. */
static void
creds_add_sni_candidates(struct tls_creds *cr, const struct dsmtp_config *cfg)
{
	struct tls_store st;
	struct dsmtp_err err;

	if (cfg->ncertificates > 0) {
		for (size_t i = 0; i < cfg->ncertificates; i++)
			if (strcmp(cfg->certificates[i].cert, cr->sel.cert_path) != 0 &&
			    creds_set_pair(cr->cert, cfg->certificates[i].cert, cfg->certificates[i].key,
			    &err) < 0)
				diag_warnx("certificate %s: not usable for SNI, skipped",
				    cfg->certificates[i].cert);
		return;
	}
	if (tls_store_open(cfg, &st, &err) < 0)
		return;
	for (size_t i = 0; i < st.ncerts; i++) {
		const struct tls_store_cert *c = &st.certs[i];

		if (!c->enabled || !c->has_key || strcmp(c->cert_path, cr->sel.cert_path) == 0 ||
		    !tls_cert_facts_valid_at(&c->facts, time(NULL)))
			continue;
		if (creds_set_pair(cr->cert, c->cert_path, c->key_path, &err) < 0)
			diag_warnx("certificate %s: not usable for SNI, skipped", c->sha1);
	}
	tls_store_close(&st);
}

struct tls_creds *
tls_creds_server(const struct dsmtp_config *cfg, struct tls_trust *trust, struct dsmtp_err *err)
{
	struct tls_creds *cr = calloc(1, sizeof(*cr));
	int rc;

	if (cr == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	cr->refs = 1;
	cr->server = true;
	if (creds_common(cr, cfg, trust, true, err) < 0)
		goto fail;
	creds_add_sni_candidates(cr, cfg);
	cr->tickets = cfg->receive.tls_tickets;
	if (cr->tickets && (rc = gnutls_session_ticket_key_generate(&cr->ticket_key)) < 0) {
		dsmtp_err_set(err, "session ticket key: %s", gnutls_strerror(rc));
		goto fail;
	}
	return cr;
fail:
	tls_creds_free(cr);
	return NULL;
}

struct tls_creds *
tls_creds_client(const struct dsmtp_config *cfg, struct tls_trust *trust, bool with_cert,
    struct dsmtp_err *err)
{
	struct tls_creds *cr = calloc(1, sizeof(*cr));

	if (cr == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	cr->refs = 1;
	if (creds_common(cr, cfg, trust, with_cert, err) < 0) {
		tls_creds_free(cr);
		return NULL;
	}
	return cr;
}

/* one more holder of cr: a session for its lifetime */
struct tls_creds *
tls_creds_ref(struct tls_creds *cr)
{
	if (cr != NULL)
		cr->refs++;
	return cr;
}

unsigned
tls_creds_refs(const struct tls_creds *cr)
{
	return cr ? cr->refs : 0;
}

/* drop one reference; with the last, free everything and drop the trust */
void
tls_creds_free(struct tls_creds *cr)
{
	if (cr == NULL || --cr->refs > 0)
		return;
	tls_trust_free(cr->trust);
	if (cr->cert)
		gnutls_certificate_free_credentials(cr->cert);
	if (cr->prio)
		gnutls_priority_deinit(cr->prio);
	if (cr->ticket_key.data) {
		gnutls_memset(cr->ticket_key.data, 0, cr->ticket_key.size);
		gnutls_free(cr->ticket_key.data);
	}
	if (cr->has_sel)
		tls_selected_free(&cr->sel);
	tls_pair_free(&cr->client);
	for (size_t i = 0; i < cr->ncache; i++) {
		free(cr->cache[i].key);
		gnutls_free(cr->cache[i].data.data);
	}
	free(cr->cache);
	free(cr);
}

const struct tls_cert_facts *
tls_creds_local(const struct tls_creds *cr, const char **why)
{
	if (!cr->has_sel)
		return NULL;
	if (why)
		*why = cr->sel.why;
	return &cr->sel.facts;
}

/* the client's remembered session for a next hop, or NULL */
const gnutls_datum_t *
tls_creds_cache_get(struct tls_creds *cr, const char *key)
{
	for (size_t i = 0; i < cr->ncache; i++)
		if (strcmp(cr->cache[i].key, key) == 0)
			return &cr->cache[i].data;
	return NULL;
}

/* remember (or replace) the session for a next hop; the oldest goes first */
void
tls_creds_cache_put(struct tls_creds *cr, const char *key, gnutls_datum_t *data)
{
	struct tls_cache_entry *v;
	size_t i;

	for (i = 0; i < cr->ncache; i++)
		if (strcmp(cr->cache[i].key, key) == 0)
			break;
	if (i < cr->ncache) {
		gnutls_free(cr->cache[i].data.data);
		cr->cache[i].data = *data;
		return;
	}
	if (cr->ncache == TLS_CACHE_MAX) {
		free(cr->cache[0].key);
		gnutls_free(cr->cache[0].data.data);
		memmove(cr->cache, cr->cache + 1, (cr->ncache - 1) * sizeof(*cr->cache));
		cr->ncache--;
	}
	if ((v = realloc(cr->cache, (cr->ncache + 1) * sizeof(*v))) == NULL) {
		gnutls_free(data->data);
		return;
	}
	cr->cache = v;
	if ((v[cr->ncache].key = strdup(key)) == NULL) {
		gnutls_free(data->data);
		return;
	}
	v[cr->ncache++].data = *data;
}
