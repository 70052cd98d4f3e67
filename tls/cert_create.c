/* cert_create.c: the dsmtp-cert commands that bring a certificate into
 * the store: new (self-signed), request (a pending key and a CSR for a
 * CA) and import (the CA's answer, bound to its pending key, with its
 * chain put in order). */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "tls/cert_cli.h"

/* dsmtp-cert new */
int
cert_cmd_new(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "cn", required_argument, NULL, 'n' },
		{ "san", required_argument, NULL, 's' },
		{ "days", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "enable", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "[--cn NAME] [--san a,b] [--days 365] "
	    "[--key ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519] [--enable]";
	const char *cn_arg = NULL, *san_arg = NULL;
	enum tls_keyalg alg = TLS_KEY_ECDSA_P256;
	unsigned days = CERT_DEFAULT_DAYS;
	bool enable = false;
	struct cert_ctx x;
	struct dsmtp_err err;
	char cn[256], **san = NULL;
	size_t nsan = 0, idx;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': cn_arg = optarg; break;
		case 's': san_arg = optarg; break;
		case 'd':
			if (cert_parse_days(optarg, &days) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'k':
			if (tls_keyalg_parse(optarg, &alg, &err) < 0)
				return cert_fail(EX_DSMTP_USAGE, "new", &err);
			break;
		case 'e': enable = true; break;
		default: return cert_usage_err("new", usage);
		}
	}
	if (optind != argc)
		return cert_usage_err("new", usage);
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if (tls_default_names(x.cfg.hostname, cn, sizeof(cn), &san, &nsan, &err) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_CONFIG, "new", &err));
	if (cn_arg != NULL)
		snprintf(cn, sizeof(cn), "%s", cn_arg);
	if (san_arg != NULL) {
		tls_strv_free(san, nsan);
		if (tls_san_parse(san_arg, &san, &nsan, &err) < 0)
			return cert_ctx_close(&x, cert_fail(EX_DSMTP_USAGE, "new", &err));
	}
	rc = tls_store_new_selfsigned(&x.st, alg, cn, san, nsan, days, enable, &idx, &err);
	tls_strv_free(san, nsan);
	if (rc < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_CANTCREAT, "new", &err));
	cert_print_created(&x.st.certs[idx], "created self-signed certificate");
	cert_warn_dates(&x.st.certs[idx].facts);
	cert_warn_namespaces(&x.cfg, &x.st);
	return cert_ctx_close(&x, 0);
}

/* dsmtp-cert request */
int
cert_cmd_request(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "subject", required_argument, NULL, 'S' },
		{ "san", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "--subject \"C=US,O=Org,CN=mail.example.com\" --san a,b "
	    "[--key ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519] --out FILE.csr";
	const char *subject = NULL, *san_arg = NULL, *out = NULL;
	enum tls_keyalg alg = TLS_KEY_ECDSA_P256;
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	struct cert_ctx x;
	struct dsmtp_err err;
	char **san = NULL, dn[1024];
	size_t nsan = 0, idx;
	int ch, rc, code = EX_DSMTP_CANTCREAT;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': subject = optarg; break;
		case 's': san_arg = optarg; break;
		case 'o': out = optarg; break;
		case 'k':
			if (tls_keyalg_parse(optarg, &alg, &err) < 0)
				return cert_fail(EX_DSMTP_USAGE, "request", &err);
			break;
		default: return cert_usage_err("request", usage);
		}
	}
	if (optind != argc || subject == NULL || san_arg == NULL || out == NULL)
		return cert_usage_err("request", usage);
	if (tls_dn_from_x500_order(subject, dn, sizeof(dn), &err) < 0)
		return cert_fail(EX_DSMTP_USAGE, "request", &err);
	if (tls_san_parse(san_arg, &san, &nsan, &err) < 0)
		return cert_fail(EX_DSMTP_USAGE, "request", &err);
	if (cert_ctx_open(&x, config_path) < 0) {
		tls_strv_free(san, nsan);
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	}
	if (tls_key_generate(alg, &key, &err) < 0)
		goto out;
	if (tls_csr_make(key, dn, san, nsan, &crq, &err) < 0) {
		code = EX_DSMTP_USAGE;
		goto out;
	}
	if ((rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem)) < 0) {
		dsmtp_err_set(&err, "cannot encode the request: %s", gnutls_strerror(rc));
		goto out;
	}
	/* the pending key first: a CSR whose key is lost is worthless */
	if (tls_store_add_pending(&x.st, key, crq, &idx, &err) < 0) {
		code = EX_DSMTP_IOERR;
		goto out;
	}
	if (cert_write_out(out, pem.data, pem.size, 0644, &err) < 0)
		goto out;
	printf("request written to %s\n  subject:  %s\n  san:      ", out, x.st.pending[idx].subject);
	for (size_t i = 0; i < nsan; i++)
		printf("%s%s", i ? ", " : "", san[i]);
	printf("\n  key:      %s, kept as pending request %s in %s/pending/\n"
	    "Send %s to the CA, then run on this machine: dsmtp-cert import CERT-FILE\n",
	    tls_keyalg_name(alg), x.st.pending[idx].id, x.st.dir, out);
	code = 0;
out:
	gnutls_free(pem.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (key)
		gnutls_x509_privkey_deinit(key);
	tls_strv_free(san, nsan);
	if (code != 0)
		cert_fail(code, "request", &err);
	return cert_ctx_close(&x, code);
}

/* append every certificate of path to *list */
static int
load_into(const char *path, gnutls_x509_crt_t **list, unsigned *n, struct dsmtp_err *err)
{
	gnutls_x509_crt_t *more, *nl;
	unsigned nmore;

	if (tls_chain_load(path, &more, &nmore, err) < 0)
		return -1;
	if ((nl = gnutls_realloc(*list, (*n + nmore) * sizeof(*nl))) == NULL) {
		tls_crt_list_free(more, nmore);
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	memcpy(nl + *n, more, nmore * sizeof(*nl));
	gnutls_free(more);
	*list = nl;
	*n += nmore;
	return 0;
}

/* SPKI pin of a certificate */
static int
crt_spki(gnutls_x509_crt_t crt, char pin[52], struct dsmtp_err *err)
{
	gnutls_pubkey_t pub;
	int rc;

	if ((rc = gnutls_pubkey_init(&pub)) < 0 || (rc = gnutls_pubkey_import_x509(pub, crt, 0)) < 0) {
		if (rc != GNUTLS_E_MEMORY_ERROR)
			gnutls_pubkey_deinit(pub);
		dsmtp_err_set(err, "public key: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = tls_spki_pin_of_pubkey(pub, pin, err);
	gnutls_pubkey_deinit(pub);
	return rc;
}

/* order list[leaf] and the certificates that issued it into chain (leaf
 * first); self-signed roots are left out: the peer has them or not */
static unsigned
chain_order(gnutls_x509_crt_t *list, unsigned n, unsigned leaf, gnutls_x509_crt_t *chain)
{
	unsigned len = 0, cur = leaf;

	chain[len++] = list[leaf];
	while (len < n) {
		unsigned next = n;

		for (unsigned i = 0; i < n; i++) {
			bool used = false;

			for (unsigned k = 0; k < len; k++)
				used |= chain[k] == list[i];
			if (!used && gnutls_x509_crt_check_issuer(list[cur], list[i])) {
				next = i;
				break;
			}
		}
		if (next == n || gnutls_x509_crt_check_issuer(list[next], list[next]))
			break;
		chain[len++] = list[next];
		cur = next;
	}
	return len;
}

/* the import error when no key here matches: the key lives where `request` ran */
static int
no_key_here(const struct tls_store *st, const char *file, gnutls_x509_crt_t leaf)
{
	struct tls_cert_facts f;
	struct dsmtp_err err;
	char when[32];

	if (tls_cert_facts_from_crt(leaf, &f, &err) < 0)
		return cert_fail(EX_DSMTP_DATAERR, file, &err);
	fprintf(stderr, "%s: import: %s: certificate %s (%s) matches no pending key in %s.\n"
	    "The private key was created on the machine where `dsmtp-cert request` ran; import "
	    "the certificate there (then move both with export-pfx and import-pfx if needed).\n",
	    diag_progname(), file, f.sha1, f.subject, st->dir);
	if (st->npending == 0)
		fprintf(stderr, "This store has no pending requests.\n");
	else
		fprintf(stderr, "This store's pending requests:\n");
	for (size_t i = 0; i < st->npending; i++) {
		tls_time_format(st->pending[i].created, when, sizeof(when));
		fprintf(stderr, "  %s  created %s  subject %s\n", st->pending[i].id, when,
		    st->pending[i].subject);
	}
	tls_cert_facts_free(&f);
	return EX_DSMTP_DATAERR;
}

/* dsmtp-cert import */
int
cert_cmd_import(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "chain", required_argument, NULL, 'C' },
		{ "enable", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "FILE [--chain FILE] [--enable]";
	const char *file, *chain_file = NULL;
	gnutls_x509_crt_t *list = NULL, *chain = NULL;
	gnutls_x509_privkey_t key = NULL;
	unsigned n = 0, nchain, leaf = 0;
	int ch, pi = -1, si = -1, code = EX_DSMTP_DATAERR;
	bool enable = false;
	struct cert_ctx x;
	struct dsmtp_err err;
	size_t idx;
	char pin[52];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': chain_file = optarg; break;
		case 'e': enable = true; break;
		default: return cert_usage_err("import", usage);
		}
	}
	if (optind + 1 != argc)
		return cert_usage_err("import", usage);
	file = argv[optind];
	if (access(file, R_OK) < 0 || (chain_file && access(chain_file, R_OK) < 0)) {
		fprintf(stderr, "%s: import: %s: %s\n", diag_progname(),
		    access(file, R_OK) < 0 ? file : chain_file, strerror(errno));
		return EX_DSMTP_NOINPUT;
	}
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if (load_into(file, &list, &n, &err) < 0 ||
	    (chain_file && load_into(chain_file, &list, &n, &err) < 0))
		goto out;
	/* a weak key is refused first, whatever else is wrong: the reason
	 * that matters (the leaf: the first certificate that is not a CA) */
	for (leaf = 0; leaf + 1 < n && gnutls_x509_crt_get_ca_status(list[leaf], NULL) > 0; leaf++)
		;
	if (n > 0 && cert_refuse_weak(list[leaf], file, &err) < 0)
		goto out;
	leaf = 0;
	/* the leaf is the certificate of FILE whose key is pending here (or,
	 * for a re-issue, the key of a certificate already in the store) */
	for (unsigned i = 0; i < n && pi < 0 && si < 0; i++) {
		if (crt_spki(list[i], pin, &err) < 0)
			goto out;
		if ((pi = tls_store_pending_find(&x.st, pin)) >= 0) {
			leaf = i;
			break;
		}
		for (size_t k = 0; k < x.st.ncerts; k++)
			if (x.st.certs[k].has_key && strcmp(x.st.certs[k].facts.spki, pin) == 0) {
				si = (int)k;
				leaf = i;
			}
	}
	if (pi < 0 && si < 0) {
		/* name the leaf, not the CA a bundle may start with */
		for (leaf = 0; leaf + 1 < n && gnutls_x509_crt_get_ca_status(list[leaf], NULL) > 0; leaf++)
			;
		code = no_key_here(&x.st, file, list[leaf]);
		goto out_quiet;
	}
	if (tls_key_load(pi >= 0 ? x.st.pending[pi].key_path : x.st.certs[si].key_path, &key,
	    &err) < 0)
		goto out;
	if ((chain = calloc(n, sizeof(*chain))) == NULL) {
		dsmtp_err_set(&err, "out of memory");
		goto out;
	}
	nchain = chain_order(list, n, leaf, chain);
	{
		struct tls_cert_facts f;
		bool dup = false;

		if (tls_cert_facts_from_crt(chain[0], &f, &err) < 0)
			goto out;
		if (tls_key_strength_check(&f, &err) < 0) {
			char why[sizeof(err.msg)];

			snprintf(why, sizeof(why), "%s", err.msg);
			dsmtp_err_set(&err, "%s: %s", file, why);
			tls_cert_facts_free(&f);
			goto out;
		}
		for (size_t k = 0; k < x.st.ncerts; k++)
			dup |= strcmp(x.st.certs[k].sha1, f.sha1) == 0;
		if (dup)
			dsmtp_err_set(&err, "%s: certificate %s (%s) is already in the store", file,
			    f.sha1, f.subject);
		tls_cert_facts_free(&f);
		if (dup)
			goto out;
	}
	if (tls_store_add(&x.st, chain, nchain, key, enable, &idx, &err) < 0) {
		code = EX_DSMTP_CANTCREAT;
		goto out;
	}
	/* the key now lives beside its certificate; the pending copy goes */
	if (pi >= 0) {
		char id[17];
		int k;

		memcpy(id, x.st.pending[pi].id, sizeof(id));
		for (k = 0; k < (int)x.st.npending && strcmp(x.st.pending[k].id, id) != 0; k++)
			;
		if (k < (int)x.st.npending && tls_store_pending_remove(&x.st, (size_t)k, &err) < 0) {
			code = EX_DSMTP_IOERR;
			goto out;
		}
	}
	/* the removal reloaded the store: find the new certificate again */
	{
		struct tls_cert_facts f;

		if (tls_cert_facts_from_crt(chain[0], &f, &err) < 0)
			goto out;
		for (idx = 0; idx < x.st.ncerts && strcmp(x.st.certs[idx].sha1, f.sha1) != 0; idx++)
			;
		tls_cert_facts_free(&f);
	}
	if (idx == x.st.ncerts) {
		dsmtp_err_set(&err, "the imported certificate vanished from %s", x.st.dir);
		goto out;
	}
	cert_print_created(&x.st.certs[idx], "imported certificate");
	printf("  chain:    %u certificate%s\n", x.st.certs[idx].chain_len,
	    x.st.certs[idx].chain_len == 1 ? "" : "s");
	cert_warn_dates(&x.st.certs[idx].facts);
	cert_warn_namespaces(&x.cfg, &x.st);
	code = 0;
	goto out_quiet;
out:
	cert_fail(code, "import", &err);
out_quiet:
	free(chain);
	tls_crt_list_free(list, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return cert_ctx_close(&x, code);
}
