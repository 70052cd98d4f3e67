/* tls_dane.c: TLSA records and their match against a server's chain
 * (RFC 6698 2.1, RFC 7671 5, RFC 7672 3.1). Our own matching over GnuTLS
 * certificate data: GnuTLS's libdane checks only the directly certifying CA
 * for DANE-TA. Owns digests of certificates and SPKIs and the DANE-TA chain
 * walk; knows no DNS (records arrive parsed) and judges no names. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "tls/tls_int.h"

#define DANE_MAX_CHAIN	16	/* certificates looked at; a longer chain is cut */

/* the association data length each matching type implies (0: any) */
static size_t
mtype_len(uint8_t mtype)
{
	switch (mtype) {
	case 0:	return 0;
	case 1:	return 32;
	case 2:	return 64;
	}
	return SIZE_MAX;
}

int
tls_dane_rr_parse(const unsigned char *rdata, size_t len, struct tls_dane_rr *rr)
{
	memset(rr, 0, sizeof(*rr));
	/* RFC 6698 2.1: usage, selector, matching type, then at least one
	 * octet of association data */
	if (rdata == NULL || len < 4 || len - 3 > TLS_DANE_MAX_DATA)
		return -1;
	if ((rr->data = malloc(len - 3)) == NULL)
		return -1;
	rr->usage = rdata[0];
	rr->selector = rdata[1];
	rr->mtype = rdata[2];
	rr->len = len - 3;
	memcpy(rr->data, rdata + 3, rr->len);
	return 0;
}

void
tls_dane_rr_free(struct tls_dane_rr *rr)
{
	if (rr == NULL)
		return;
	free(rr->data);
	memset(rr, 0, sizeof(*rr));
}

bool
tls_dane_rr_usable(const struct tls_dane_rr *rr)
{
	size_t want;

	/* RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP */
	if (rr->usage != TLS_DANE_DANE_TA && rr->usage != TLS_DANE_DANE_EE)
		return false;
	if (rr->selector > 1 || rr->mtype > 2 || rr->data == NULL || rr->len == 0)
		return false;
	want = mtype_len(rr->mtype);
	return want == 0 || rr->len == want;
}

const char *
tls_dane_usage_name(unsigned usage)
{
	static const char *const names[] = { "PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE" };

	return usage < 4 ? names[usage] : "usage-unknown";
}

void
tls_dane_rr_format(const struct tls_dane_rr *rr, char *out, size_t outlen)
{
	char hex[2 * 16 + 1], tail[2 * 8 + 1];

	if (rr->len <= 16) {
		tls_hex(rr->data, rr->len, hex);
		snprintf(out, outlen, "%u %u %u %s", rr->usage, rr->selector, rr->mtype, hex);
		return;
	}
	tls_hex(rr->data, 8, hex);
	tls_hex(rr->data + rr->len - 8, 8, tail);
	snprintf(out, outlen, "%u %u %u %s...%s", rr->usage, rr->selector, rr->mtype, hex, tail);
}

/* the association of one certificate for (selector, mtype) into out
 * (malloc'd: the full data for mtype 0); 0 or -1 */
static int
cert_association(gnutls_x509_crt_t crt, const struct tls_der *der, uint8_t selector,
    uint8_t mtype, unsigned char **out, size_t *outlen)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t spki = { NULL, 0 };
	const unsigned char *sel;
	size_t sellen;
	int rc = -1;

	*out = NULL;
	if (selector == 0) {
		sel = der->data;
		sellen = der->len;
	} else {
		/* the DER SubjectPublicKeyInfo (RFC 6698 2.1.2) */
		if (gnutls_pubkey_init(&pub) < 0)
			return -1;
		if (gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
		    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
			goto done;
		sel = spki.data;
		sellen = spki.size;
	}
	switch (mtype) {
	case 0:
		if ((*out = malloc(sellen ? sellen : 1)) == NULL)
			goto done;
		memcpy(*out, sel, sellen);
		*outlen = sellen;
		break;
	case 1:
	case 2:
		if ((*out = malloc(64)) == NULL)
			goto done;
		if (gnutls_hash_fast(mtype == 1 ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA512, sel, sellen,
		    *out) < 0) {
			free(*out);
			*out = NULL;
			goto done;
		}
		*outlen = mtype == 1 ? 32 : 64;
		break;
	default:
		goto done;
	}
	rc = 0;
done:
	gnutls_free(spki.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return rc;
}

/* does certificate crt match rr's association? */
static bool
cert_matches(gnutls_x509_crt_t crt, const struct tls_der *der, const struct tls_dane_rr *rr)
{
	unsigned char *a;
	size_t alen;
	bool eq;

	if (cert_association(crt, der, rr->selector, rr->mtype, &a, &alen) < 0)
		return false;
	eq = alen == rr->len && memcmp(a, rr->data, alen) == 0;
	free(a);
	return eq;
}

/* DANE-TA: does crts[0..k-1] chain by signatures (and dates) to crts[k],
 * taken as the trust anchor? why gets the failure */
static bool
chain_to_anchor(gnutls_x509_crt_t *crts, size_t k, char *why, size_t whylen)
{
	gnutls_x509_trust_list_t list;
	gnutls_x509_crt_t anchor;
	gnutls_datum_t der = { NULL, 0 }, txt = { NULL, 0 };
	unsigned status = 0;
	int rc;

	if (gnutls_x509_trust_list_init(&list, 0) < 0) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	/* the list owns its anchors: give it a copy of crts[k] */
	if (gnutls_x509_crt_init(&anchor) < 0 ||
	    gnutls_x509_crt_export2(crts[k], GNUTLS_X509_FMT_DER, &der) < 0 ||
	    gnutls_x509_crt_import(anchor, &der, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_free(der.data);
		gnutls_x509_trust_list_deinit(list, 1);
		snprintf(why, whylen, "cannot copy the trust anchor");
		return false;
	}
	gnutls_free(der.data);
	if (gnutls_x509_trust_list_add_cas(list, &anchor, 1, 0) != 1) {
		gnutls_x509_crt_deinit(anchor);
		gnutls_x509_trust_list_deinit(list, 1);
		snprintf(why, whylen, "cannot use the trust anchor");
		return false;
	}
	/* the chain up to and including the anchor: GnuTLS stops at the first
	 * certificate it trusts */
	rc = gnutls_x509_trust_list_verify_crt2(list, crts, (unsigned)k + 1, NULL, 0, 0, &status,
	    NULL);
	gnutls_x509_trust_list_deinit(list, 1);
	if (rc < 0) {
		snprintf(why, whylen, "chain to the DANE-TA anchor at depth %zu: %s", k,
		    gnutls_strerror(rc));
		return false;
	}
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >= 0) {
			snprintf(why, whylen, "chain to the DANE-TA anchor at depth %zu: %s", k,
			    (const char *)txt.data);
			gnutls_free(txt.data);
		} else
			snprintf(why, whylen, "chain to the DANE-TA anchor at depth %zu fails", k);
		return false;
	}
	return true;
}

int
tls_dane_check(const struct tls_dane_rr *rrs, size_t n, const struct tls_der *chain,
    size_t nchain, struct tls_dane_facts *out)
{
	gnutls_x509_crt_t crts[DANE_MAX_CHAIN];
	size_t ncrt = 0;
	int ta_match = -1, rc = 0;

	memset(out, 0, sizeof(*out));
	out->match = -1;
	out->n = n < TLS_DANE_MAX_RR ? n : TLS_DANE_MAX_RR;
	for (size_t i = 0; i < out->n; i++) {
		out->depth[i] = -1;
		out->usable[i] = tls_dane_rr_usable(&rrs[i]);
		if (out->usable[i])
			out->nusable++;
	}
	if (nchain > DANE_MAX_CHAIN)
		nchain = DANE_MAX_CHAIN;
	if (nchain == 0) {
		snprintf(out->why, sizeof(out->why), "the server sent no certificate");
		return 0;
	}
	for (ncrt = 0; ncrt < nchain; ncrt++) {
		/* GnuTLS's datum is not const, but import only reads it */
		gnutls_datum_t d = { (unsigned char *)(uintptr_t)chain[ncrt].data,
		    (unsigned)chain[ncrt].len };

		if (gnutls_x509_crt_init(&crts[ncrt]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[ncrt], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[ncrt]);
			break;
		}
	}
	if (ncrt == 0) {
		snprintf(out->why, sizeof(out->why), "the server's certificate cannot be parsed");
		return -1;
	}
	snprintf(out->why, sizeof(out->why), "no usable TLSA record matches the server's chain");
	for (size_t i = 0; i < out->n; i++) {
		const struct tls_dane_rr *rr = &rrs[i];

		if (!out->usable[i])
			continue;
		if (rr->usage == TLS_DANE_DANE_EE) {
			/* RFC 7672 3.1.1: the leaf alone; names and dates do not matter */
			if (cert_matches(crts[0], &chain[0], rr)) {
				out->matched[i] = true;
				out->depth[i] = 0;
				if (out->match < 0)
					out->match = (int)i;
			}
			continue;
		}
		/* DANE-TA(2): an issuer the server sent (RFC 7671 5.2.2: servers
		 * SHOULD include it); the leaf itself is no trust anchor */
		for (size_t k = 1; k < ncrt; k++) {
			char why[sizeof(out->why)];

			if (!cert_matches(crts[k], &chain[k], rr))
				continue;
			if (chain_to_anchor(crts, k, why, sizeof(why))) {
				out->matched[i] = true;
				out->depth[i] = (int)k;
				if (ta_match < 0)
					ta_match = (int)i;
				break;
			}
			snprintf(out->why, sizeof(out->why), "%s", why);
		}
	}
	/* a DANE-EE match needs no name check: prefer it */
	if (out->match < 0)
		out->match = ta_match;
	if (out->match >= 0)
		out->why[0] = '\0';
	for (size_t k = 0; k < ncrt; k++)
		gnutls_x509_crt_deinit(crts[k]);
	return rc;
}
