/* cert_cli.c: what the dsmtp-cert commands share: loading the
 * configuration and the locked store, usage and error lines with their
 * exit codes, files written outside the store, and the human and JSON
 * output of a certificate, with the warnings about its dates and the
 * domain-secure namespaces. Never prints key material or passwords. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "common/json.h"
#include "tls/cert_cli.h"

bool cert_help_asked;

/* the SANs, comma-separated, for people */
void
cert_print_sans(FILE *out, const struct tls_cert_facts *f)
{
	if (f->nsan == 0)
		fputs("(none)", out);
	for (size_t i = 0; i < f->nsan; i++)
		fprintf(out, "%s%s", i ? ", " : "", f->san[i]);
}

/* "cert-sha256:<hex>", the certificate pin */
void
cert_pin(const struct tls_cert_facts *f, char *buf, size_t len)
{
	snprintf(buf, len, "cert-sha256:%s", f->sha256);
}

/* stderr warnings about a certificate: expired, expiring within 30 days */
void
cert_warn_dates(const struct tls_cert_facts *f)
{
	time_t now = time(NULL);
	char when[32];

	tls_time_format(f->not_after, when, sizeof(when));
	if (now > f->not_after)
		diag_warnx("certificate %s (%s) expired on %s", f->sha1, f->subject, when);
	else if (f->not_after - now < (time_t)CERT_WARN_DAYS * 86400)
		diag_warnx("certificate %s (%s) expires in %lld days, on %s", f->sha1, f->subject,
		    (long long)((f->not_after - now) / 86400), when);
	else if (now < f->not_before) {
		tls_time_format(f->not_before, when, sizeof(when));
		diag_warnx("certificate %s (%s) is not valid before %s", f->sha1, f->subject, when);
	}
}

/* stderr warnings about our domain-secure namespaces the enabled certificates miss */
void
cert_warn_namespaces(const struct dsmtp_config *cfg, const struct tls_store *st)
{
	const struct cfg_strlist *ns;

	if (!config_domain_secure_used(cfg) || cfg->ncertificates > 0)
		return;
	ns = config_local_namespaces(cfg);
	for (size_t i = 0; i < ns->n; i++) {
		bool covered = false;

		for (size_t k = 0; k < st->ncerts; k++)
			if (st->certs[k].enabled && tls_cert_facts_names(&st->certs[k].facts, ns->v[i]))
				covered = true;
		if (!covered)
			diag_warnx("domain-secure namespace %s is in no enabled certificate's SANs; "
			    "partners will refuse us for it", ns->v[i]);
	}
}

/* load the configuration and the store for a command */
int
cert_ctx_open(struct cert_ctx *x, const char *config_path)
{
	struct dsmtp_err err;

	memset(x, 0, sizeof(*x));
	config_load_or_exit(config_path, &x->cfg);
	x->have_cfg = true;
	if (tls_store_open(&x->cfg, &x->st, &err) < 0) {
		fprintf(stderr, "%s: certificate store: %s\n", diag_progname(), err.msg);
		return -1;
	}
	x->have_st = true;
	/* one dsmtp-cert at a time changes the store (enabled is read-modify-write) */
	if (tls_store_lock(&x->st, &err) < 0) {
		fprintf(stderr, "%s: certificate store: %s\n", diag_progname(), err.msg);
		return -1;
	}
	for (size_t i = 0; i < x->st.nbad; i++)
		diag_warnx("skipped %s", x->st.bad[i]);
	return 0;
}

/* free what cert_ctx_open loaded; returns rc */
int
cert_ctx_close(struct cert_ctx *x, int rc)
{
	if (x->have_st)
		tls_store_close(&x->st);
	if (x->have_cfg)
		config_free(&x->cfg);
	return rc;
}

/* a subcommand usage line; exit 64 (0 for --help) */
int
cert_usage_err(const char *cmd, const char *usage)
{
	fprintf(cert_help_asked ? stdout : stderr, "Usage: %s [-c FILE] %s %s\n", diag_progname(), cmd,
	    usage);
	return cert_help_asked ? 0 : EX_DSMTP_USAGE;
}

/* print an error with its context; returns code */
int
cert_fail(int code, const char *what, const struct dsmtp_err *err)
{
	fprintf(stderr, "%s: %s%s%s\n", diag_progname(), what ? what : "", what ? ": " : "",
	    err->msg);
	return code;
}

/* write a file outside the store (a CSR, a PFX): atomically, with mode */
int
cert_write_out(const char *path, const void *data, size_t len, mode_t mode, struct dsmtp_err *err)
{
	char *d1 = strdup(path), *d2 = strdup(path);
	int rc = -1;

	if (d1 == NULL || d2 == NULL)
		dsmtp_err_set(err, "out of memory");
	else
		rc = tls_store_write_file(dirname(d1), basename(d2), data, len, mode, err);
	free(d1);
	free(d2);
	return rc;
}

/* parse a --days value */
int
cert_parse_days(const char *s, unsigned *days)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > 36500) {
		fprintf(stderr, "%s: --days %s: a number of days from 1 to 36500\n",
		    diag_progname(), s);
		return -1;
	}
	*days = (unsigned)v;
	return 0;
}

/* the summary of a certificate just added */
void
cert_print_created(const struct tls_store_cert *c, const char *verb)
{
	char until[32];

	tls_time_format(c->facts.not_after, until, sizeof(until));
	printf("%s %s\n  subject:  %s\n  san:      ", verb, c->sha1, c->facts.subject);
	cert_print_sans(stdout, &c->facts);
	printf("\n  key:      %s %u\n  expires:  %s\n  enabled:  %s\n", c->facts.key_type,
	    c->facts.key_bits, until, c->enabled ? "yes" : "no");
}

/* parse [--json] and check the argument count */
bool
cert_want_json(int argc, char **argv, const char *cmd, const char *usage, int *rc, int nargs)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	bool json = false;
	int ch;

	*rc = -1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j') {
			*rc = cert_usage_err(cmd, usage);
			return false;
		}
		json = true;
	}
	if (argc - optind != nargs || cert_help_asked)
		*rc = cert_usage_err(cmd, usage);
	return json;
}

/* the JSON members every certificate record has */
void
cert_json_common(FILE *out, const struct tls_cert_facts *f)
{
	char nb[32], na[32];

	tls_time_format(f->not_before, nb, sizeof(nb));
	tls_time_format(f->not_after, na, sizeof(na));
	fprintf(out, "\"thumbprint\": \"%s\", \"subject\": ", f->sha1);
	json_put_string(out, f->subject);
	fputs(", \"san\": ", out);
	json_put_strings(out, f->san, f->nsan);
	fprintf(out, ", \"not_before\": \"%s\", \"not_after\": \"%s\", \"self_signed\": %s",
	    nb, na, f->self_signed ? "true" : "false");
}

/* a certificate read from file whose key is too weak to use (RSA or DSA
 * under 2048 bits): -1 with the file and the reason in err, else 0 */
int
cert_refuse_weak(gnutls_x509_crt_t crt, const char *file, struct dsmtp_err *err)
{
	struct tls_cert_facts f;
	char why[sizeof(err->msg)];
	int weak;

	if (tls_cert_facts_from_crt(crt, &f, err) < 0)
		return -1;
	weak = tls_key_strength_check(&f, err);
	tls_cert_facts_free(&f);
	if (weak < 0) {
		snprintf(why, sizeof(why), "%s", err->msg);
		dsmtp_err_set(err, "%s: %s", file, why);
		return -1;
	}
	return 0;
}
