/* tls_verify.c: trust anchors (system or a PEM file, optional CRLs) and the
 * verification of a peer's chain against them, with a precise reason.
 * Checks no names: policy/ matches names and pins against the facts. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

struct tls_trust {
	gnutls_x509_trust_list_t	list;
	unsigned			ncas;
	unsigned			refs;	/* the loader's, plus one per credentials set */
};

/* load trust anchors ("system" or a PEM file) and optional CRLs */
struct tls_trust *
tls_trust_load(const char *ca_file, const char *crl_file, struct dsmtp_err *err)
{
	struct tls_trust *t;
	int rc;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	t->refs = 1;
	if ((rc = gnutls_x509_trust_list_init(&t->list, 0)) < 0) {
		dsmtp_err_set(err, "trust list: %s", gnutls_strerror(rc));
		free(t);
		return NULL;
	}
	if (ca_file == NULL || strcmp(ca_file, "system") == 0) {
		/* a host without CA certificates (no ca-certificates package) still
		 * relays opportunistically and by pin: an empty list, not an error;
		 * tls_trust_count() lets `dsmtp-policy check` say so */
		rc = gnutls_x509_trust_list_add_system_trust(t->list, 0, 0);
		if (rc < 0)
			rc = 0;
		if (crl_file != NULL) {
			int crc = gnutls_x509_trust_list_add_trust_file(t->list, NULL, crl_file,
			    GNUTLS_X509_FMT_PEM, 0, 0);

			if (crc < 0) {
				dsmtp_err_set(err, "%s: cannot load the CRLs: %s", crl_file,
				    gnutls_strerror(crc));
				goto fail;
			}
		}
	} else {
		rc = gnutls_x509_trust_list_add_trust_file(t->list, ca_file, crl_file,
		    GNUTLS_X509_FMT_PEM, 0, 0);
		if (rc < 0) {
			dsmtp_err_set(err, "%s%s%s: cannot load: %s", ca_file,
			    crl_file ? " / " : "", crl_file ? crl_file : "", gnutls_strerror(rc));
			goto fail;
		}
		if (rc == 0) {
			dsmtp_err_set(err, "%s: no CA certificate in this file", ca_file);
			goto fail;
		}
	}
	t->ncas = (unsigned)rc;
	return t;
fail:
	gnutls_x509_trust_list_deinit(t->list, 1);
	free(t);
	return NULL;
}

/* one more holder of t (credentials built on it) */
struct tls_trust *
tls_trust_ref(struct tls_trust *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

/* drop one reference; the trust anchors go with the last */
void
tls_trust_free(struct tls_trust *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	gnutls_x509_trust_list_deinit(t->list, 1);
	free(t);
}

/* how many trust anchors were loaded */
unsigned
tls_trust_count(const struct tls_trust *t)
{
	return t->ncas;
}

/* the GnuTLS trust list, for the session layer */
gnutls_x509_trust_list_t
tls_trust_list(const struct tls_trust *t)
{
	return t->list;
}

/* the reason for a time failure of any certificate in the chain, or 0 */
static enum tls_chain_status
time_reason(gnutls_x509_crt_t *crts, unsigned n, time_t now, char *reason, size_t len)
{
	for (unsigned i = 0; i < n; i++) {
		time_t nb = gnutls_x509_crt_get_activation_time(crts[i]);
		time_t na = gnutls_x509_crt_get_expiration_time(crts[i]);
		char when[32], who[300] = "";

		if (i > 0) {
			gnutls_datum_t dn = { NULL, 0 };

			if (gnutls_x509_crt_get_dn3(crts[i], &dn, 0) >= 0)
				snprintf(who, sizeof(who), " (chain certificate %.*s)",
				    (int)(dn.size > 200 ? 200 : dn.size), (const char *)dn.data);
			gnutls_free(dn.data);
		}
		if (na != (time_t)-1 && now > na) {
			tls_time_format(na, when, sizeof(when));
			snprintf(reason, len, "expired: not_after %s%s", when, who);
			return TLS_CHAIN_EXPIRED;
		}
		if (nb != (time_t)-1 && now < nb) {
			tls_time_format(nb, when, sizeof(when));
			snprintf(reason, len, "not yet valid: not_before %s%s", when, who);
			return TLS_CHAIN_NOT_YET_VALID;
		}
	}
	return TLS_CHAIN_OK;
}

/* the issuer DN of the chain's last certificate that the peer sent */
static void
top_issuer(gnutls_x509_crt_t *crts, unsigned n, char *buf, size_t len)
{
	gnutls_datum_t dn = { NULL, 0 };
	unsigned top = n - 1;

	/* walk from the leaf while the next certificate issued the current one */
	for (unsigned i = 0; i + 1 < n; i++)
		if (!gnutls_x509_crt_check_issuer(crts[i], crts[i + 1])) {
			top = i;
			break;
		}
	if (gnutls_x509_crt_get_issuer_dn3(crts[top], &dn, 0) < 0) {
		snprintf(buf, len, "(unreadable issuer)");
		return;
	}
	snprintf(buf, len, "%.*s", (int)dn.size, (const char *)dn.data);
	gnutls_free(dn.data);
}

/* verify a DER chain against t and explain the result */
int
tls_verify_chain(const struct tls_trust *t, const gnutls_datum_t *chain, unsigned n,
    struct tls_peer_facts *out)
{
	gnutls_x509_crt_t *crts = NULL;
	struct dsmtp_err err;
	unsigned got = 0, status = 0;
	char issuer[256];
	int rc, ret = 0;

	memset(out, 0, sizeof(*out));
	out->chain_len = n;
	if (n == 0 || chain == NULL) {
		out->present = false;
		out->chain = TLS_CHAIN_NO_CERT;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "no certificate");
		return 0;
	}
	out->present = true;
	if ((crts = calloc(n, sizeof(*crts))) == NULL)
		goto nomem;
	for (got = 0; got < n; got++) {
		if ((rc = gnutls_x509_crt_init(&crts[got])) < 0)
			goto nomem;
		if ((rc = gnutls_x509_crt_import(crts[got], &chain[got], GNUTLS_X509_FMT_DER)) < 0) {
			got++;
			out->chain = TLS_CHAIN_OTHER;
			snprintf(out->chain_reason, sizeof(out->chain_reason),
			    "unparsable certificate %u of %u: %s", got, n, gnutls_strerror(rc));
			goto done;
		}
	}
	if (tls_cert_facts_from_crt(crts[0], &out->leaf, &err) < 0) {
		out->chain = TLS_CHAIN_OTHER;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "%.159s", err.msg);
		goto done;
	}
	if (t == NULL) {
		out->chain = TLS_CHAIN_UNKNOWN_ISSUER;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "no trust anchors configured");
		goto done;
	}
	rc = gnutls_x509_trust_list_verify_crt2(t->list, crts, n, NULL, 0, 0, &status, NULL);
	if (rc < 0) {
		out->chain = TLS_CHAIN_OTHER;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "verification failed: %s",
		    gnutls_strerror(rc));
		goto done;
	}
	/* most specific first: what the operator has to fix */
	if (status & GNUTLS_CERT_REVOKED) {
		out->chain = TLS_CHAIN_REVOKED;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "revoked: serial %s",
		    out->leaf.serial);
	} else if (status & GNUTLS_CERT_SIGNATURE_FAILURE) {
		out->chain = TLS_CHAIN_BAD_SIGNATURE;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "bad signature");
	} else if ((out->chain = time_reason(crts, n, time(NULL), out->chain_reason,
	    sizeof(out->chain_reason))) != TLS_CHAIN_OK) {
		/* dates are checked here whatever GnuTLS reports, to name the date */
	} else if (status & GNUTLS_CERT_EXPIRED) {
		out->chain = TLS_CHAIN_EXPIRED;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "expired: a trust anchor");
	} else if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		out->chain = TLS_CHAIN_NOT_YET_VALID;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "not yet valid: a trust anchor");
	} else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
		out->chain = TLS_CHAIN_INSECURE_ALGORITHM;
		snprintf(out->chain_reason, sizeof(out->chain_reason),
		    "insecure algorithm in the chain's signatures");
	} else if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		out->chain = TLS_CHAIN_UNKNOWN_ISSUER;
		top_issuer(crts, n, issuer, sizeof(issuer));
		snprintf(out->chain_reason, sizeof(out->chain_reason), "unknown issuer: %.115s%s", issuer,
		    t->ncas == 0 ? " (no trust anchors loaded)" :
		    out->leaf.self_signed && n == 1 ? " (self-signed)" : "");
	} else if (status != 0) {
		gnutls_datum_t txt = { NULL, 0 };

		out->chain = TLS_CHAIN_OTHER;
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >= 0)
			snprintf(out->chain_reason, sizeof(out->chain_reason), "%.*s",
			    (int)txt.size, (const char *)txt.data);
		else
			snprintf(out->chain_reason, sizeof(out->chain_reason), "status 0x%x", status);
		gnutls_free(txt.data);
	} else {
		out->chain = TLS_CHAIN_OK;
		snprintf(out->chain_reason, sizeof(out->chain_reason), "ok");
	}
	goto done;
nomem:
	out->chain = TLS_CHAIN_OTHER;
	snprintf(out->chain_reason, sizeof(out->chain_reason), "out of memory");
	ret = -1;
done:
	if (crts) {
		for (unsigned i = 0; i < got && i < n; i++)
			if (crts[i])
				gnutls_x509_crt_deinit(crts[i]);
		free(crts);
	}
	return ret;
}
