/* fuzz_tlsa.c: libFuzzer target for the DNS answers of a DANE delivery:
 * the TLSA record parser and matcher (tls/tls_dane.c) and next-hop
 * resolution (smtpc/route.c: MX, A, AAAA and TLSA answers, their DNSSEC
 * status, CNAME targets), with dns.c replaced by a stub that hands route.c
 * answers read from the input. Input: 1 control byte, then a script:
 *  - control bit 0 clear: a TLSA RRset, records of 2-byte length + rdata
 *    (a length past the end takes the rest), matched against a real chain
 *    made at start (a CA and a leaf it signed); bit 1 adds a record that
 *    matches the leaf (DANE-EE) after the fuzzed ones, bit 2 a DANE-TA one
 *    for the CA; bit 3 replaces the chain by the script's own bytes;
 *  - bit 0 set: route.c resolves "MX of fuzz.test" (bit 1: "[fuzz.test]:
 *    PORT") with TLSA wanted; every query route.c sends is answered in turn
 *    from the script: rcode, DNSSEC status, a CNAME flag, a record count
 *    (bytes 0xf0 and up: hundreds of records), then records of 1-byte
 *    length + rdata.
 * Checks: tls_dane_rr_parse accepts exactly 4..TLS_DANE_MAX_DATA+3 octets
 * and copies them; tls_dane_rr_usable is RFC 7672 3.1's rule (usage 2 or 3,
 * selector 0/1, matching type 0/1/2 with the digest's length);
 * tls_dane_rr_format is short and printable; tls_dane_check judges at most
 * TLS_DANE_MAX_RR records, a match is usable and points into the chain,
 * DANE-EE wins, and the added matching records are found when they fit.
 * route.c answers once, from the loop, with at most 32 targets whose host
 * names are lower-case LDH, the port set, TLSA records only on secure
 * usable/unusable hosts (at most TLS_DANE_MAX_RR, each as parsed), a reason
 * on every failed host, and nothing left allocated (LeakSanitizer). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "smtpc/smtpc.h"
#include "tests/fuzz/fuzz.h"

#define MAX_QUERIES	64	/* route.c asks at most 1 + 10 * 4 */
#define MAX_RECORDS	600	/* a huge RRset: past every cap of route.c */

/* ---- the chain the TLSA records are matched against ---- */

static struct {
	bool			 ready;
	gnutls_datum_t		 leaf, ca;	/* DER */
	unsigned char		 leaf_spki256[32];
	unsigned char		 ca_sha256[32];
} pki;

static void	pki_die(const char *what, int rc) __attribute__((noreturn));

static void
pki_die(const char *what, int rc)
{
	fprintf(stderr, "fuzz_tlsa: %s: %s\n", what, gnutls_strerror(rc));
	abort();
}

/* a certificate for key, signed by issuer (NULL: itself) */
static gnutls_x509_crt_t
pki_cert(gnutls_x509_privkey_t key, const char *cn, bool ca, gnutls_x509_crt_t issuer,
    gnutls_x509_privkey_t issuer_key, unsigned serial)
{
	gnutls_x509_crt_t c;
	time_t now = time(NULL);
	unsigned char sn = (unsigned char)serial;
	int rc;

	if ((rc = gnutls_x509_crt_init(&c)) < 0 ||
	    (rc = gnutls_x509_crt_set_key(c, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_version(c, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(c, &sn, 1)) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(c, now - 3600)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(c, now + 86400 * 30)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	    (unsigned)strlen(cn))) < 0 ||
	    (rc = gnutls_x509_crt_set_basic_constraints(c, ca ? 1 : 0, -1)) < 0 ||
	    (ca && (rc = gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN)) < 0) ||
	    (rc = gnutls_x509_crt_sign2(c, issuer ? issuer : c, issuer_key ? issuer_key : key,
	    GNUTLS_DIG_SHA256, 0)) < 0)
		pki_die("certificate", rc);
	return c;
}

static void
pki_init(void)
{
	gnutls_x509_privkey_t cakey, leafkey;
	gnutls_x509_crt_t ca, leaf;
	gnutls_pubkey_t pub;
	gnutls_datum_t spki;
	int rc;

	if (pki.ready)
		return;
	if ((rc = gnutls_x509_privkey_init(&cakey)) < 0 ||
	    (rc = gnutls_x509_privkey_generate(cakey, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
	    (rc = gnutls_x509_privkey_init(&leafkey)) < 0 ||
	    (rc = gnutls_x509_privkey_generate(leafkey, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0)
		pki_die("key", rc);
	ca = pki_cert(cakey, "fuzz CA", true, NULL, NULL, 1);
	leaf = pki_cert(leafkey, "mx.fuzz.test", false, ca, cakey, 2);
	if ((rc = gnutls_x509_crt_export2(leaf, GNUTLS_X509_FMT_DER, &pki.leaf)) < 0 ||
	    (rc = gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_DER, &pki.ca)) < 0 ||
	    (rc = gnutls_pubkey_init(&pub)) < 0 ||
	    (rc = gnutls_pubkey_import_x509(pub, leaf, 0)) < 0 ||
	    (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki)) < 0 ||
	    (rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, pki.leaf_spki256)) < 0 ||
	    (rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, pki.ca.data, pki.ca.size,
	    pki.ca_sha256)) < 0)
		pki_die("export", rc);
	gnutls_free(spki.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(leafkey);
	gnutls_x509_privkey_deinit(cakey);
	pki.ready = true;	/* kept for the whole run: not a leak per input */
}

/* ---- part 1: records and their match ---- */

/* RFC 7672 3.1, written again from the RFC: the model usable() checks */
static bool
model_usable(const unsigned char *rd, size_t len)
{
	size_t dl = len - 3;

	if (rd[0] != 2 && rd[0] != 3)
		return false;
	if (rd[1] > 1)
		return false;
	switch (rd[2]) {
	case 0:	return dl > 0;
	case 1:	return dl == 32;
	case 2:	return dl == 64;
	}
	return false;
}

static void
check_format(const struct tls_dane_rr *rr)
{
	char out[120], pre[16];
	size_t n;

	memset(out, 'X', sizeof(out));
	tls_dane_rr_format(rr, out, sizeof(out));
	n = strnlen(out, sizeof(out));
	FUZZ_CHECK(n < sizeof(out) && n <= 3 * 4 + 2 * 16 + 3, "format of %zu octets", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(isprint((unsigned char)out[i]), "format holds 0x%02x",
		    (unsigned char)out[i]);
	snprintf(pre, sizeof(pre), "%u %u %u ", rr->usage, rr->selector, rr->mtype);
	FUZZ_CHECK(strncmp(out, pre, strlen(pre)) == 0, "format \"%s\" for %s", out, pre);
}

static void
fuzz_records(uint8_t ctl, const uint8_t *p, size_t n)
{
	static struct tls_dane_rr rrs[MAX_RECORDS + 2];
	bool model[MAX_RECORDS + 2];
	struct tls_der chain[2];
	struct tls_dane_facts df;
	size_t nrr = 0, nchain, off = 0;
	int rc;

	pki_init();
	while (off < n && nrr < MAX_RECORDS) {
		size_t len = off + 2 <= n ? ((size_t)p[off] << 8 | p[off + 1]) : 0;
		const unsigned char *rd = p + off + 2;

		if (off + 2 > n)
			break;
		off += 2;
		if (len > n - off)
			len = n - off;
		rc = tls_dane_rr_parse(rd, len, &rrs[nrr]);
		if (len < 4 || len - 3 > TLS_DANE_MAX_DATA) {
			FUZZ_CHECK(rc == -1 && rrs[nrr].data == NULL, "rdata of %zu octets parsed", len);
			off += len;
			continue;
		}
		FUZZ_CHECK(rc == 0, "rdata of %zu octets refused", len);
		FUZZ_CHECK(rrs[nrr].usage == rd[0] && rrs[nrr].selector == rd[1] &&
		    rrs[nrr].mtype == rd[2] && rrs[nrr].len == len - 3 &&
		    memcmp(rrs[nrr].data, rd + 3, len - 3) == 0, "record not copied as sent");
		model[nrr] = model_usable(rd, len);
		FUZZ_CHECK(tls_dane_rr_usable(&rrs[nrr]) == model[nrr], "usable(%u %u %u, %zu "
		    "octets) = %d", rd[0], rd[1], rd[2], len - 3, !model[nrr]);
		check_format(&rrs[nrr]);
		nrr++;
		off += len;
	}
	/* the matching records the caller asked for, after the fuzzed ones */
	if (ctl & 2) {
		unsigned char rd[3 + 32] = { 3, 1, 1 };

		memcpy(rd + 3, pki.leaf_spki256, 32);
		FUZZ_CHECK(tls_dane_rr_parse(rd, sizeof(rd), &rrs[nrr]) == 0, "3 1 1 refused");
		model[nrr++] = true;
	}
	if (ctl & 4) {
		unsigned char rd[3 + 32] = { 2, 0, 1 };

		memcpy(rd + 3, pki.ca_sha256, 32);
		FUZZ_CHECK(tls_dane_rr_parse(rd, sizeof(rd), &rrs[nrr]) == 0, "2 0 1 refused");
		model[nrr++] = true;
	}
	if (ctl & 8) {
		/* a hostile chain: the script's bytes, cut in two certificates */
		size_t half = n / 2;

		chain[0].data = p;
		chain[0].len = half;
		chain[1].data = p + half;
		chain[1].len = n - half;
		nchain = ctl & 16 ? 2 : 1;
	} else {
		chain[0].data = pki.leaf.data;
		chain[0].len = pki.leaf.size;
		chain[1].data = pki.ca.data;
		chain[1].len = pki.ca.size;
		nchain = 2;
	}
	rc = tls_dane_check(rrs, nrr, chain, nchain, &df);
	FUZZ_CHECK(rc == 0 || rc == -1, "tls_dane_check returned %d", rc);
	FUZZ_CHECK(df.n == (nrr < TLS_DANE_MAX_RR ? nrr : TLS_DANE_MAX_RR), "judged %zu of %zu",
	    df.n, nrr);
	FUZZ_CHECK(memchr(df.why, '\0', sizeof(df.why)) != NULL, "why not terminated");
	if (rc == 0) {
		size_t nus = 0;

		for (size_t i = 0; i < df.n; i++) {
			FUZZ_CHECK(df.usable[i] == model[i], "record %zu usable %d", i, df.usable[i]);
			nus += df.usable[i];
			if (!df.matched[i]) {
				FUZZ_CHECK(df.depth[i] == -1, "record %zu depth %d unmatched", i,
				    df.depth[i]);
				continue;
			}
			FUZZ_CHECK(df.usable[i], "unusable record %zu matched", i);
			FUZZ_CHECK(df.depth[i] >= 0 && (size_t)df.depth[i] < nchain,
			    "record %zu matched at depth %d of %zu", i, df.depth[i], nchain);
			/* DANE-EE at the leaf, DANE-TA above it (RFC 7671 5.2.2) */
			FUZZ_CHECK((rrs[i].usage == 3) == (df.depth[i] == 0),
			    "usage %u matched at depth %d", rrs[i].usage, df.depth[i]);
		}
		FUZZ_CHECK(nus == df.nusable, "nusable %zu, counted %zu", df.nusable, nus);
		FUZZ_CHECK(df.match == -1 || ((size_t)df.match < df.n && df.matched[df.match]),
		    "match %d", df.match);
		/* DANE-EE is preferred: it needs no name check */
		for (size_t i = 0; df.match >= 0 && i < df.n; i++)
			FUZZ_CHECK(!(df.matched[i] && df.depth[i] == 0) || df.depth[df.match] == 0,
			    "DANE-EE record %zu matched, but match is DANE-TA %d", i, df.match);
		FUZZ_CHECK(df.match >= 0 || df.why[0] != '\0', "no match and no reason");
		/* the real chain and a record made from it: found if judged */
		if (!(ctl & 8) && (ctl & 6) && nrr <= TLS_DANE_MAX_RR)
			FUZZ_CHECK(df.match >= 0, "the added matching record was not found: %s",
			    df.why);
	} else
		FUZZ_CHECK(ctl & 8, "the real chain could not be parsed: %s", df.why);
	for (size_t i = 0; i < nrr; i++)
		tls_dane_rr_free(&rrs[i]);
}

/* ---- part 2: route.c over a scripted resolver ---- */

/* dns.c's interface, answered from the script */
struct smtpc_dns {
	int	 unused;
};

struct smtpc_dns_query {
	bool		 live;
	int		 type;
	char		 name[300];
	smtpc_dns_cb	*cb;
	void		*arg;
};

static struct smtpc_dns the_dns;
static struct smtpc_dns_query queries[MAX_QUERIES];
static size_t nqueries;

struct smtpc_dns *
smtpc_dns_new(struct ev_loop *loop, const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	(void)loop;
	(void)cfg;
	(void)err;
	return &the_dns;
}

void
smtpc_dns_free(struct smtpc_dns *d)
{
	(void)d;
}

struct smtpc_dns_query *
smtpc_dns_query(struct smtpc_dns *d, const char *name, int rrtype, smtpc_dns_cb *cb, void *arg)
{
	struct smtpc_dns_query *q;

	(void)d;
	FUZZ_CHECK(strlen(name) < sizeof(q->name), "query name of %zu octets", strlen(name));
	if (nqueries >= MAX_QUERIES)
		return NULL;	/* as dns.c does when libunbound refuses */
	q = &queries[nqueries++];
	q->live = true;
	q->type = rrtype;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->cb = cb;
	q->arg = arg;
	return q;
}

void
smtpc_dns_cancel(struct smtpc_dns_query *q)
{
	FUZZ_CHECK(q >= queries && q < queries + nqueries && q->live, "cancel of a dead query");
	q->live = false;
}

struct result {
	unsigned	 calls;
	bool		 hostport;
};

static bool
ldh_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' ||
		    *s == '_' || *s == '.'))
			return false;
	return true;
}

static void
resolved(void *arg, enum smtpc_status st, const char *why, const struct smtpc_target *t,
    size_t n)
{
	struct result *res = arg;

	res->calls++;
	FUZZ_CHECK(why != NULL && strlen(why) < 300, "why");
	if (st != SMTPC_OK) {
		FUZZ_CHECK(n == 0 && why[0] != '\0', "failure with %zu targets, why \"%s\"", n, why);
		return;
	}
	FUZZ_CHECK(n >= 1 && n <= 32 && t != NULL, "%zu targets", n);
	for (size_t i = 0; i < n; i++) {
		const struct smtpc_target *x = &t[i];
		unsigned port = ntohs(x->ss.ss_family == AF_INET6 ?
		    ((const struct sockaddr_in6 *)&x->ss)->sin6_port :
		    ((const struct sockaddr_in *)&x->ss)->sin_port);

		FUZZ_CHECK(x->ss.ss_family == AF_INET || x->ss.ss_family == AF_INET6,
		    "family %d", x->ss.ss_family);
		FUZZ_CHECK(port == (res->hostport ? 2525u : 25u), "port %u", port);
		FUZZ_CHECK(ldh_name(x->host), "target host \"%s\"", x->host);
		FUZZ_CHECK(x->mx_sec && x->addr_sec && x->tlsa_sec, "a DNSSEC word missing");
		FUZZ_CHECK(memchr(x->dane_why, '\0', sizeof(x->dane_why)) != NULL, "dane_why");
		FUZZ_CHECK(x->dane != POLICY_DANE_FAILED || x->dane_why[0] != '\0',
		    "a failed host without a reason");
		/* records only where they count (RFC 7672 2.2) */
		FUZZ_CHECK((x->tlsa != NULL) == (x->dane == POLICY_DANE_USABLE ||
		    x->dane == POLICY_DANE_UNUSABLE), "TLSA records %s on a host in DANE state %d",
		    x->tlsa ? "present" : "absent", (int)x->dane);
		if (x->tlsa == NULL)
			continue;
		FUZZ_CHECK(x->tlsa->n <= TLS_DANE_MAX_RR && x->tlsa->refs >= 1, "%zu records",
		    x->tlsa->n);
		{
			size_t us = 0;

			for (size_t k = 0; k < x->tlsa->n; k++) {
				FUZZ_CHECK(x->tlsa->rr[k].data && x->tlsa->rr[k].len >= 1 &&
				    x->tlsa->rr[k].len <= TLS_DANE_MAX_DATA, "record %zu", k);
				us += tls_dane_rr_usable(&x->tlsa->rr[k]);
			}
			FUZZ_CHECK((us > 0) == (x->dane == POLICY_DANE_USABLE),
			    "%zu usable records, DANE state %d", us, (int)x->dane);
		}
		FUZZ_CHECK(x->tlsa_base[0] != '\0', "TLSA records without a base name");
	}
}

/* answer one query from the script */
static void
answer(struct smtpc_dns_query *q, struct fuzz_in *in)
{
	/* each record in its own allocation of its exact length: a read past
	 * a record's end is an ASan report, not a read of the next one */
	static unsigned char *rdata[MAX_RECORDS];
	static const unsigned char *ptrs[MAX_RECORDS];
	static int lens[MAX_RECORDS];
	uint8_t b0 = fuzz_byte(in), b1 = fuzz_byte(in), cnt = fuzz_byte(in);
	struct smtpc_dns_answer a;
	size_t n = cnt >= 0xf0 ? (size_t)(cnt - 0xef) * 40 : cnt % 24;
	/* libunbound's canonname: presentation form, trailing dot */
	const char *canon_names[] = { "mx.fuzz.test.", "MX-Other.fuzz.test.", "a.b.", "." };

	memset(&a, 0, sizeof(a));
	/* rcode: mostly NOERROR, else SERVFAIL, NXDOMAIN, a timeout, others */
	a.rcode = (b0 & 7) < 4 ? 0 : (b0 & 7) == 4 ? 2 : (b0 & 7) == 5 ? 3 : (b0 & 7) == 6 ? -1 :
	    (int)(b0 >> 3);
	a.nxdomain = a.rcode == 3;
	a.sec = (enum smtpc_dns_sec)(b1 % 3);
	a.canon = (b1 >> 2) & 1 ? canon_names[(b1 >> 3) & 3] : NULL;
	a.why = (b1 >> 5) & 1 ? "scripted reason" : NULL;
	if (n > MAX_RECORDS)
		n = MAX_RECORDS;
	for (size_t i = 0; i < n; i++) {
		size_t len = fuzz_byte(in);

		/* a script that ran out repeats a plausible record */
		if (in->n == 0 && len == 0)
			len = q->type == 1 ? 4 : q->type == 28 ? 16 : 35;
		if ((rdata[i] = malloc(len ? len : 1)) == NULL)
			abort();
		for (size_t k = 0; k < len; k++)
			rdata[i][k] = fuzz_byte(in);
		ptrs[i] = rdata[i];
		lens[i] = (int)len;
	}
	a.data = ptrs;
	a.len = lens;
	a.n = n;
	q->live = false;
	q->cb(q->arg, &a);
	for (size_t i = 0; i < n; i++)
		free(rdata[i]);
}

static void
fuzz_route(uint8_t ctl, const uint8_t *p, size_t n)
{
	struct fuzz_in in = { p, n };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct smtpc_resolver *r;
	struct smtpc_resolve_req *rq;
	struct addr_hop hop;
	struct result res = { 0, (ctl & 2) != 0 };
	struct dsmtp_err err;

	FUZZ_CHECK(loop != NULL, "no libev loop");
	nqueries = 0;
	r = smtpc_resolver_new(loop, NULL, &err);
	FUZZ_CHECK(r != NULL, "resolver: %s", err.msg);
	memset(&hop, 0, sizeof(hop));
	hop.kind = res.hostport ? HOP_HOSTPORT : HOP_MX;
	snprintf(hop.host, sizeof(hop.host), "fuzz.test");
	hop.port = res.hostport ? 2525 : 0;
	rq = smtpc_resolve(r, &hop, true, resolved, &res);
	FUZZ_CHECK(rq != NULL, "smtpc_resolve failed");
	/* every query, in the order sent; answers start new ones */
	for (size_t i = 0; i < nqueries; i++)
		if (queries[i].live)
			answer(&queries[i], &in);
	FUZZ_CHECK(res.calls == 0, "answered inside the DNS callback, not from the loop");
	ev_run(loop, EVRUN_NOWAIT);
	FUZZ_CHECK(res.calls == 1, "answered %u times", res.calls);
	for (size_t i = 0; i < nqueries; i++)
		FUZZ_CHECK(!queries[i].live, "query %zu (%s) left open", i, queries[i].name);
	smtpc_resolver_free(r);
	ev_loop_destroy(loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t ctl = fuzz_byte(&in);

	if (ctl & 1)
		fuzz_route(ctl, in.p, in.n);
	else
		fuzz_records(ctl, in.p, in.n);
	return 0;
}
