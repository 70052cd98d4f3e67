/* cert_pkcs12.c: the dsmtp-cert commands for PKCS#12 (PFX) files:
 * import-pfx and export-pfx (never without a password). The encoding is
 * tls_pkcs12.c's; this file owns the command lines and what they print. */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "tls/cert_cli.h"

/* dsmtp-cert import-pfx */
int
cert_cmd_import_pfx(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "enable", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "FILE --password-file F [--enable]";
	const char *pwfile = NULL, *file;
	gnutls_x509_crt_t *chain = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t data = { NULL, 0 };
	unsigned n = 0;
	bool enable = false;
	struct cert_ctx x;
	struct dsmtp_err err;
	char password[1024];
	size_t idx;
	int ch, code = EX_DSMTP_DATAERR;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': pwfile = optarg; break;
		case 'e': enable = true; break;
		default: return cert_usage_err("import-pfx", usage);
		}
	}
	if (optind + 1 != argc || pwfile == NULL)
		return cert_usage_err("import-pfx", usage);
	file = argv[optind];
	if (tls_password_file(pwfile, password, sizeof(password), &err) < 0)
		return cert_fail(EX_DSMTP_NOINPUT, "import-pfx", &err);
	if (tls_read_file(file, &data, &err) < 0) {
		gnutls_memset(password, 0, sizeof(password));
		return cert_fail(EX_DSMTP_NOINPUT, "import-pfx", &err);
	}
	if (cert_ctx_open(&x, config_path) < 0) {
		gnutls_memset(password, 0, sizeof(password));
		gnutls_free(data.data);
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	}
	if (tls_pkcs12_import(&data, file, password, &key, &chain, &n, &err) < 0)
		goto out;
	/* a weak key is refused here, as `new` refuses to make one */
	if (cert_refuse_weak(chain[0], file, &err) < 0)
		goto out;
	if (tls_store_add(&x.st, chain, n, key, enable, &idx, &err) < 0) {
		code = EX_DSMTP_CANTCREAT;
		goto out;
	}
	cert_print_created(&x.st.certs[idx], "imported certificate");
	printf("  chain:    %u certificate%s\n", n, n == 1 ? "" : "s");
	cert_warn_dates(&x.st.certs[idx].facts);
	cert_warn_namespaces(&x.cfg, &x.st);
	code = 0;
out:
	if (code != 0)
		cert_fail(code, "import-pfx", &err);
	gnutls_memset(password, 0, sizeof(password));
	gnutls_free(data.data);
	tls_crt_list_free(chain, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return cert_ctx_close(&x, code);
}

/* dsmtp-cert export-pfx */
int
cert_cmd_export_pfx(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "THUMBPRINT --out FILE --password-file F";
	const char *pwfile = NULL, *out = NULL;
	gnutls_x509_crt_t *chain = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t der = { NULL, 0 };
	unsigned n = 0;
	struct cert_ctx x;
	struct dsmtp_err err;
	char password[1024];
	int ch, i, code = EX_DSMTP_DATAERR;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'p': pwfile = optarg; break;
		default: return cert_usage_err("export-pfx", usage);
		}
	}
	if (optind + 1 != argc || out == NULL || pwfile == NULL) {
		if (optind + 1 == argc && out != NULL)
			fprintf(stderr, "%s: export-pfx: refusing to export a private key without a "
			    "password (--password-file)\n", diag_progname());
		return cert_usage_err("export-pfx", usage);
	}
	if (tls_password_file(pwfile, password, sizeof(password), &err) < 0)
		return cert_fail(EX_DSMTP_NOINPUT, "export-pfx", &err);
	if (password[0] == '\0') {
		fprintf(stderr, "%s: export-pfx: %s: the password is empty; refusing to export a "
		    "private key without one\n", diag_progname(), pwfile);
		return EX_DSMTP_DATAERR;
	}
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if ((i = tls_store_lookup(&x.st, argv[optind], &err)) < 0)
		goto out;
	if (!x.st.certs[i].has_key) {
		dsmtp_err_set(&err, "certificate %s has no private key in the store", x.st.certs[i].sha1);
		goto out;
	}
	if (tls_chain_load(x.st.certs[i].cert_path, &chain, &n, &err) < 0 ||
	    tls_key_load(x.st.certs[i].key_path, &key, &err) < 0) {
		code = EX_DSMTP_IOERR;
		goto out;
	}
	if (tls_pkcs12_export(chain, n, key, password, &der, &err) < 0) {
		code = EX_DSMTP_SOFTWARE;
		goto out;
	}
	/* the file holds the (encrypted) key: readable by its owner only */
	if (cert_write_out(out, der.data, der.size, 0600, &err) < 0) {
		code = EX_DSMTP_CANTCREAT;
		goto out;
	}
	printf("exported %s (%s) and its private key to %s (PKCS#12, PBES2/AES-256, %u "
	    "certificate%s)\n", x.st.certs[i].sha1, x.st.certs[i].facts.subject, out, n,
	    n == 1 ? "" : "s");
	code = 0;
out:
	if (code != 0)
		cert_fail(code, "export-pfx", &err);
	gnutls_memset(password, 0, sizeof(password));
	gnutls_free(der.data);
	tls_crt_list_free(chain, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return cert_ctx_close(&x, code);
}
