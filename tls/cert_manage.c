/* cert_manage.c: the dsmtp-cert commands on a certificate already in the
 * store: pin (its pins, also of any certificate file), enable, disable,
 * remove, and renew (new dates and key, same names and key type). */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "tls/cert_cli.h"

/* dsmtp-cert pin */
int
cert_cmd_pin(int argc, char **argv, const char *config_path)
{
	struct tls_cert_facts f;
	struct dsmtp_err err;
	struct cert_ctx x;
	const char *arg;
	char pin[128];
	bool json;
	int rc, i;

	json = cert_want_json(argc, argv, "pin", "THUMBPRINT|FILE [--json]", &rc, 1);
	if (rc >= 0)
		return rc;
	arg = argv[optind];
	if (access(arg, F_OK) == 0) {
		/* a file: no configuration or store needed */
		if (tls_cert_facts_from_file(arg, &f, &err) < 0)
			return cert_fail(EX_DSMTP_DATAERR, "pin", &err);
	} else {
		if (cert_ctx_open(&x, config_path) < 0)
			return cert_ctx_close(&x, EX_DSMTP_IOERR);
		if ((i = tls_store_lookup(&x.st, arg, &err)) < 0) {
			if (strchr(arg, '/') != NULL || strchr(arg, '.') != NULL)
				dsmtp_err_set(&err, "%s: no such file", arg);
			return cert_ctx_close(&x, cert_fail(EX_DSMTP_DATAERR, "pin", &err));
		}
		if (tls_cert_facts_copy(&f, &x.st.certs[i].facts) < 0) {
			dsmtp_err_set(&err, "out of memory");
			return cert_ctx_close(&x, cert_fail(EX_DSMTP_OSERR, "pin", &err));
		}
		cert_ctx_close(&x, 0);
	}
	cert_pin(&f, pin, sizeof(pin));
	if (json)
		printf("{\"thumbprint\": \"%s\", \"spki\": \"%s\", \"cert\": \"%s\"}\n", f.sha1,
		    f.spki, pin);
	else
		printf("%s\n%s\n", f.spki, pin);
	cert_warn_dates(&f);
	tls_cert_facts_free(&f);
	return 0;
}

/* the shared front of the commands taking one THUMBPRINT: -1 to go on
 * (x open, *idx found), else the exit code */
static int
one_cert(int argc, char **argv, const char *cmd, const char *config_path, struct cert_ctx *x,
    int *idx)
{
	struct dsmtp_err err;

	if (argc != 2 || argv[1][0] == '-' || cert_help_asked)
		return cert_usage_err(cmd, "THUMBPRINT");
	if (cert_ctx_open(x, config_path) < 0)
		return cert_ctx_close(x, EX_DSMTP_IOERR);
	if ((*idx = tls_store_lookup(&x->st, argv[1], &err)) < 0)
		return cert_ctx_close(x, cert_fail(EX_DSMTP_DATAERR, cmd, &err));
	return -1;
}

/* dsmtp-cert enable and disable */
static int
set_enabled(int argc, char **argv, const char *config_path, bool on)
{
	const char *cmd = on ? "enable" : "disable";
	struct dsmtp_err err;
	struct cert_ctx x;
	int i, rc;

	if ((rc = one_cert(argc, argv, cmd, config_path, &x, &i)) >= 0)
		return rc;
	if (x.st.certs[i].enabled == on)
		printf("%s was already %s\n", x.st.certs[i].sha1, on ? "enabled" : "disabled");
	else if (tls_store_set_enabled(&x.st, (size_t)i, on, &err) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_DATAERR, cmd, &err));
	else
		printf("%s %s (%s)\n", on ? "enabled" : "disabled", x.st.certs[i].sha1,
		    x.st.certs[i].facts.subject);
	if (on)
		cert_warn_dates(&x.st.certs[i].facts);
	if (!on && tls_store_enabled_count(&x.st) == 0)
		diag_warnx("no certificate is enabled now; dsmtpd will make a self-signed one at start");
	cert_warn_namespaces(&x.cfg, &x.st);
	return cert_ctx_close(&x, 0);
}

/* dsmtp-cert enable */
int
cert_cmd_enable(int argc, char **argv, const char *config_path)
{
	return set_enabled(argc, argv, config_path, true);
}

/* dsmtp-cert disable */
int
cert_cmd_disable(int argc, char **argv, const char *config_path)
{
	return set_enabled(argc, argv, config_path, false);
}

/* dsmtp-cert remove */
int
cert_cmd_remove(int argc, char **argv, const char *config_path)
{
	struct dsmtp_err err;
	struct cert_ctx x;
	char sha1[41], subject[512];
	bool was_enabled;
	int i, rc;

	if ((rc = one_cert(argc, argv, "remove", config_path, &x, &i)) >= 0)
		return rc;
	memcpy(sha1, x.st.certs[i].sha1, sizeof(sha1));
	snprintf(subject, sizeof(subject), "%s", x.st.certs[i].facts.subject);
	was_enabled = x.st.certs[i].enabled;
	if (tls_store_remove(&x.st, (size_t)i, &err) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_IOERR, "remove", &err));
	printf("removed %s (%s) and its key\n", sha1, subject);
	if (was_enabled && tls_store_enabled_count(&x.st) == 0)
		diag_warnx("no certificate is enabled now; dsmtpd will make a self-signed one at start");
	return cert_ctx_close(&x, 0);
}

/* dsmtp-cert renew */
int
cert_cmd_renew(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	static const char usage[] = "THUMBPRINT [--days N] [--out FILE.csr (CA-issued)]";
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	struct tls_cert_facts old;
	enum tls_keyalg alg;
	struct dsmtp_err err;
	struct cert_ctx x;
	const char *out = NULL;
	unsigned days = 0;
	size_t idx;
	bool was_enabled;
	int ch, i, rc, code = EX_DSMTP_CANTCREAT;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (cert_parse_days(optarg, &days) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'o': out = optarg; break;
		default: return cert_usage_err("renew", usage);
		}
	}
	if (optind + 1 != argc)
		return cert_usage_err("renew", usage);
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if ((i = tls_store_lookup(&x.st, argv[optind], &err)) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_DATAERR, "renew", &err));
	if (tls_cert_facts_copy(&old, &x.st.certs[i].facts) < 0)
		return cert_ctx_close(&x, EX_DSMTP_OSERR);
	was_enabled = x.st.certs[i].enabled;
	if (tls_keyalg_of_facts(&old, &alg, &err) < 0) {
		code = EX_DSMTP_DATAERR;
		goto out;
	}
	if (!old.self_signed && out == NULL) {
		dsmtp_err_set(&err, "%s is CA-issued: renew makes a new key and request; "
		    "give --out FILE.csr for the CA", old.sha1);
		code = EX_DSMTP_USAGE;
		goto out;
	}
	if (days == 0) {
		/* the same lifetime as the old certificate, in whole days */
		time_t life = old.not_after - old.not_before;

		days = life > 86400 ? (unsigned)((life + 43200) / 86400) : 1;
		if (days > 36500)
			days = 36500;
	}
	if (tls_key_generate(alg, &key, &err) < 0)
		goto out;
	if (old.self_signed) {
		if (tls_selfsigned_make(key, old.subject, old.san, old.nsan, days, &crt, &err) < 0)
			goto out;
		if (tls_store_add(&x.st, &crt, 1, key, was_enabled, &idx, &err) < 0)
			goto out;
		/* set_enabled does not reload: idx stays the new certificate's */
		if (was_enabled && (i = tls_store_lookup(&x.st, old.sha1, &err)) >= 0 &&
		    tls_store_set_enabled(&x.st, (size_t)i, false, &err) < 0)
			goto out;
		cert_print_created(&x.st.certs[idx], "renewed as");
		printf("  replaces: %s%s (still in the store: dsmtp-cert remove %s)\n", old.sha1,
		    was_enabled ? ", now disabled" : "", old.sha1);
	} else {
		if (tls_csr_make(key, old.subject, old.san, old.nsan, &crq, &err) < 0 ||
		    tls_store_add_pending(&x.st, key, crq, &idx, &err) < 0)
			goto out;
		if ((rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem)) < 0) {
			dsmtp_err_set(&err, "cannot encode the request: %s", gnutls_strerror(rc));
			goto out;
		}
		if (cert_write_out(out, pem.data, pem.size, 0644, &err) < 0)
			goto out;
		printf("%s is CA-issued: new %s key kept as pending request %s; request for %s "
		    "written to %s\nSend it to the CA, then: dsmtp-cert import CERT-FILE\n", old.sha1,
		    tls_keyalg_name(alg), x.st.pending[idx].id, old.subject, out);
	}
	code = 0;
out:
	if (code != 0)
		cert_fail(code, "renew", &err);
	gnutls_free(pem.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	tls_cert_facts_free(&old);
	return cert_ctx_close(&x, code);
}
