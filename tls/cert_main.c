/* cert_main.c: dsmtp-cert, the certificate manager (DESIGN.md section 7).
 * Owns the command line and the output (human, or --json for scripts); the
 * work is done by tls/ (store, keygen, facts, pkcs12). Never prints key
 * material or passwords. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "tls/tls_int.h"

#define WARN_DAYS	30
#define DEFAULT_DAYS	365

/* --- output helpers --- */

/* a JSON string literal of s */
static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* a JSON array of the SANs */
static void
json_sans(FILE *out, const struct tls_cert_facts *f)
{
	fputc('[', out);
	for (size_t i = 0; i < f->nsan; i++) {
		if (i)
			fputs(", ", out);
		json_str(out, f->san[i]);
	}
	fputc(']', out);
}

/* the SANs, comma-separated, for people */
static void
print_sans(FILE *out, const struct tls_cert_facts *f)
{
	if (f->nsan == 0)
		fputs("(none)", out);
	for (size_t i = 0; i < f->nsan; i++)
		fprintf(out, "%s%s", i ? ", " : "", f->san[i]);
}

/* "cert-sha256:<hex>", the certificate pin */
static void
cert_pin(const struct tls_cert_facts *f, char *buf, size_t len)
{
	snprintf(buf, len, "cert-sha256:%s", f->sha256);
}

/* stderr warnings about a certificate: expired, expiring within 30 days */
static void
warn_dates(const struct tls_cert_facts *f)
{
	time_t now = time(NULL);
	char when[32];

	tls_time_format(f->not_after, when, sizeof(when));
	if (now > f->not_after)
		diag_warnx("certificate %s (%s) expired on %s", f->sha1, f->subject, when);
	else if (f->not_after - now < (time_t)WARN_DAYS * 86400)
		diag_warnx("certificate %s (%s) expires in %lld days, on %s", f->sha1, f->subject,
		    (long long)((f->not_after - now) / 86400), when);
	else if (now < f->not_before) {
		tls_time_format(f->not_before, when, sizeof(when));
		diag_warnx("certificate %s (%s) is not valid before %s", f->sha1, f->subject, when);
	}
}

/* stderr warnings about our domain-secure namespaces the enabled certificates miss */
static void
warn_namespaces(const struct dsmtp_config *cfg, const struct tls_store *st)
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

/* --- command scaffolding --- */

struct cmd_ctx {
	struct dsmtp_config	cfg;
	struct tls_store	st;
	bool			have_cfg, have_st;
};

/* load the configuration and the store for a command */
static int
ctx_open(struct cmd_ctx *x, const char *config_path)
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

/* free what ctx_open loaded; returns rc */
static int
ctx_close(struct cmd_ctx *x, int rc)
{
	if (x->have_st)
		tls_store_close(&x->st);
	if (x->have_cfg)
		config_free(&x->cfg);
	return rc;
}

/* "dsmtp-cert COMMAND --help": every command's option parser ends in
 * usage_err, which then prints to stdout and succeeds */
static bool help_asked;

/* a subcommand usage line; exit 64 (0 for --help) */
static int
usage_err(const char *cmd, const char *usage)
{
	fprintf(help_asked ? stdout : stderr, "Usage: %s [-c FILE] %s %s\n", diag_progname(), cmd,
	    usage);
	return help_asked ? 0 : EX_DSMTP_USAGE;
}

/* print an error with its context; returns code */
static int
fail(int code, const char *what, const struct dsmtp_err *err)
{
	fprintf(stderr, "%s: %s%s%s\n", diag_progname(), what ? what : "", what ? ": " : "",
	    err->msg);
	return code;
}

/* write a file outside the store (a CSR, a PFX): atomically, with mode */
static int
write_out(const char *path, const void *data, size_t len, mode_t mode, struct dsmtp_err *err)
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
static int
parse_days(const char *s, unsigned *days)
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
static void
print_created(const struct tls_store_cert *c, const char *verb)
{
	char until[32];

	tls_time_format(c->facts.not_after, until, sizeof(until));
	printf("%s %s\n  subject:  %s\n  san:      ", verb, c->sha1, c->facts.subject);
	print_sans(stdout, &c->facts);
	printf("\n  key:      %s %u\n  expires:  %s\n  enabled:  %s\n", c->facts.key_type,
	    c->facts.key_bits, until, c->enabled ? "yes" : "no");
}

/* --- new --- */

/* dsmtp-cert new */
static int
cmd_new(int argc, char **argv, const char *config_path)
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
	unsigned days = DEFAULT_DAYS;
	bool enable = false;
	struct cmd_ctx x;
	struct dsmtp_err err;
	char cn[256], **san = NULL;
	size_t nsan = 0, idx;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': cn_arg = optarg; break;
		case 's': san_arg = optarg; break;
		case 'd':
			if (parse_days(optarg, &days) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'k':
			if (tls_keyalg_parse(optarg, &alg, &err) < 0)
				return fail(EX_DSMTP_USAGE, "new", &err);
			break;
		case 'e': enable = true; break;
		default: return usage_err("new", usage);
		}
	}
	if (optind != argc)
		return usage_err("new", usage);
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
	if (tls_default_names(x.cfg.hostname, cn, sizeof(cn), &san, &nsan, &err) < 0)
		return ctx_close(&x, fail(EX_DSMTP_CONFIG, "new", &err));
	if (cn_arg != NULL)
		snprintf(cn, sizeof(cn), "%s", cn_arg);
	if (san_arg != NULL) {
		tls_strv_free(san, nsan);
		if (tls_san_parse(san_arg, &san, &nsan, &err) < 0)
			return ctx_close(&x, fail(EX_DSMTP_USAGE, "new", &err));
	}
	rc = tls_store_new_selfsigned(&x.st, alg, cn, san, nsan, days, enable, &idx, &err);
	tls_strv_free(san, nsan);
	if (rc < 0)
		return ctx_close(&x, fail(EX_DSMTP_CANTCREAT, "new", &err));
	print_created(&x.st.certs[idx], "created self-signed certificate");
	warn_dates(&x.st.certs[idx].facts);
	warn_namespaces(&x.cfg, &x.st);
	return ctx_close(&x, 0);
}

/* --- request --- */

/* dsmtp-cert request */
static int
cmd_request(int argc, char **argv, const char *config_path)
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
	struct cmd_ctx x;
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
				return fail(EX_DSMTP_USAGE, "request", &err);
			break;
		default: return usage_err("request", usage);
		}
	}
	if (optind != argc || subject == NULL || san_arg == NULL || out == NULL)
		return usage_err("request", usage);
	if (tls_dn_from_x500_order(subject, dn, sizeof(dn), &err) < 0)
		return fail(EX_DSMTP_USAGE, "request", &err);
	if (tls_san_parse(san_arg, &san, &nsan, &err) < 0)
		return fail(EX_DSMTP_USAGE, "request", &err);
	if (ctx_open(&x, config_path) < 0) {
		tls_strv_free(san, nsan);
		return ctx_close(&x, EX_DSMTP_IOERR);
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
	if (write_out(out, pem.data, pem.size, 0644, &err) < 0)
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
		fail(code, "request", &err);
	return ctx_close(&x, code);
}

/* --- import --- */

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
		return fail(EX_DSMTP_DATAERR, file, &err);
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
static int
cmd_import(int argc, char **argv, const char *config_path)
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
	struct cmd_ctx x;
	struct dsmtp_err err;
	size_t idx;
	char pin[52];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': chain_file = optarg; break;
		case 'e': enable = true; break;
		default: return usage_err("import", usage);
		}
	}
	if (optind + 1 != argc)
		return usage_err("import", usage);
	file = argv[optind];
	if (access(file, R_OK) < 0 || (chain_file && access(chain_file, R_OK) < 0)) {
		fprintf(stderr, "%s: import: %s: %s\n", diag_progname(),
		    access(file, R_OK) < 0 ? file : chain_file, strerror(errno));
		return EX_DSMTP_NOINPUT;
	}
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
	if (load_into(file, &list, &n, &err) < 0 ||
	    (chain_file && load_into(chain_file, &list, &n, &err) < 0))
		goto out;
	/* a weak key is refused first, whatever else is wrong: the reason
	 * that matters (the leaf: the first certificate that is not a CA) */
	for (leaf = 0; leaf + 1 < n && gnutls_x509_crt_get_ca_status(list[leaf], NULL) > 0; leaf++)
		;
	if (n > 0) {
		struct tls_cert_facts f;
		char why[sizeof(err.msg)];
		int weak;

		if (tls_cert_facts_from_crt(list[leaf], &f, &err) < 0)
			goto out;
		weak = tls_key_strength_check(&f, &err);
		tls_cert_facts_free(&f);
		if (weak < 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
			dsmtp_err_set(&err, "%s: %s", file, why);
			goto out;
		}
	}
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
	print_created(&x.st.certs[idx], "imported certificate");
	printf("  chain:    %u certificate%s\n", x.st.certs[idx].chain_len,
	    x.st.certs[idx].chain_len == 1 ? "" : "s");
	warn_dates(&x.st.certs[idx].facts);
	warn_namespaces(&x.cfg, &x.st);
	code = 0;
	goto out_quiet;
out:
	fail(code, "import", &err);
out_quiet:
	free(chain);
	tls_crt_list_free(list, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return ctx_close(&x, code);
}

/* --- PKCS#12 --- */

/* dsmtp-cert import-pfx */
static int
cmd_import_pfx(int argc, char **argv, const char *config_path)
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
	struct cmd_ctx x;
	struct dsmtp_err err;
	char password[1024];
	size_t idx;
	int ch, code = EX_DSMTP_DATAERR;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': pwfile = optarg; break;
		case 'e': enable = true; break;
		default: return usage_err("import-pfx", usage);
		}
	}
	if (optind + 1 != argc || pwfile == NULL)
		return usage_err("import-pfx", usage);
	file = argv[optind];
	if (tls_password_file(pwfile, password, sizeof(password), &err) < 0)
		return fail(EX_DSMTP_NOINPUT, "import-pfx", &err);
	if (tls_read_file(file, &data, &err) < 0) {
		gnutls_memset(password, 0, sizeof(password));
		return fail(EX_DSMTP_NOINPUT, "import-pfx", &err);
	}
	if (ctx_open(&x, config_path) < 0) {
		gnutls_memset(password, 0, sizeof(password));
		gnutls_free(data.data);
		return ctx_close(&x, EX_DSMTP_IOERR);
	}
	if (tls_pkcs12_import(&data, file, password, &key, &chain, &n, &err) < 0)
		goto out;
	{
		/* a weak key is refused here, as `new` refuses to make one */
		struct tls_cert_facts f;
		char why[sizeof(err.msg)];
		int weak;

		if (tls_cert_facts_from_crt(chain[0], &f, &err) < 0)
			goto out;
		weak = tls_key_strength_check(&f, &err);
		tls_cert_facts_free(&f);
		if (weak < 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
			dsmtp_err_set(&err, "%s: %s", file, why);
			goto out;
		}
	}
	if (tls_store_add(&x.st, chain, n, key, enable, &idx, &err) < 0) {
		code = EX_DSMTP_CANTCREAT;
		goto out;
	}
	print_created(&x.st.certs[idx], "imported certificate");
	printf("  chain:    %u certificate%s\n", n, n == 1 ? "" : "s");
	warn_dates(&x.st.certs[idx].facts);
	warn_namespaces(&x.cfg, &x.st);
	code = 0;
out:
	if (code != 0)
		fail(code, "import-pfx", &err);
	gnutls_memset(password, 0, sizeof(password));
	gnutls_free(data.data);
	tls_crt_list_free(chain, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return ctx_close(&x, code);
}

/* dsmtp-cert export-pfx */
static int
cmd_export_pfx(int argc, char **argv, const char *config_path)
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
	struct cmd_ctx x;
	struct dsmtp_err err;
	char password[1024];
	int ch, i, code = EX_DSMTP_DATAERR;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'p': pwfile = optarg; break;
		default: return usage_err("export-pfx", usage);
		}
	}
	if (optind + 1 != argc || out == NULL || pwfile == NULL) {
		if (optind + 1 == argc && out != NULL)
			fprintf(stderr, "%s: export-pfx: refusing to export a private key without a "
			    "password (--password-file)\n", diag_progname());
		return usage_err("export-pfx", usage);
	}
	if (tls_password_file(pwfile, password, sizeof(password), &err) < 0)
		return fail(EX_DSMTP_NOINPUT, "export-pfx", &err);
	if (password[0] == '\0') {
		fprintf(stderr, "%s: export-pfx: %s: the password is empty; refusing to export a "
		    "private key without one\n", diag_progname(), pwfile);
		return EX_DSMTP_DATAERR;
	}
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
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
	if (write_out(out, der.data, der.size, 0600, &err) < 0) {
		code = EX_DSMTP_CANTCREAT;
		goto out;
	}
	printf("exported %s (%s) and its private key to %s (PKCS#12, PBES2/AES-256, %u "
	    "certificate%s)\n", x.st.certs[i].sha1, x.st.certs[i].facts.subject, out, n,
	    n == 1 ? "" : "s");
	code = 0;
out:
	if (code != 0)
		fail(code, "export-pfx", &err);
	gnutls_memset(password, 0, sizeof(password));
	gnutls_free(der.data);
	tls_crt_list_free(chain, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return ctx_close(&x, code);
}

/* --- list, show, pin --- */

/* parse [--json] and check the argument count */
static bool
want_json(int argc, char **argv, const char *cmd, const char *usage, int *rc, int nargs)
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
			*rc = usage_err(cmd, usage);
			return false;
		}
		json = true;
	}
	if (argc - optind != nargs || help_asked)
		*rc = usage_err(cmd, usage);
	return json;
}

/* the JSON members every certificate record has */
static void
json_cert_common(FILE *out, const struct tls_cert_facts *f)
{
	char nb[32], na[32];

	tls_time_format(f->not_before, nb, sizeof(nb));
	tls_time_format(f->not_after, na, sizeof(na));
	fprintf(out, "\"thumbprint\": \"%s\", \"subject\": ", f->sha1);
	json_str(out, f->subject);
	fputs(", \"san\": ", out);
	json_sans(out, f);
	fprintf(out, ", \"not_before\": \"%s\", \"not_after\": \"%s\", \"self_signed\": %s",
	    nb, na, f->self_signed ? "true" : "false");
}

/* dsmtp-cert list */
static int
cmd_list(int argc, char **argv, const char *config_path)
{
	struct cmd_ctx x;
	bool json;
	int rc;

	json = want_json(argc, argv, "list", "[--json]", &rc, 0);
	if (rc >= 0)
		return rc;
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
	if (json) {
		printf("{\"store\": ");
		json_str(stdout, x.st.dir);
		printf(", \"certificates\": [");
		for (size_t i = 0; i < x.st.ncerts; i++) {
			printf("%s\n  {", i ? "," : "");
			json_cert_common(stdout, &x.st.certs[i].facts);
			printf(", \"enabled\": %s, \"has_key\": %s}", x.st.certs[i].enabled ? "true" :
			    "false", x.st.certs[i].has_key ? "true" : "false");
		}
		printf("%s], \"pending\": [", x.st.ncerts ? "\n" : "");
		for (size_t i = 0; i < x.st.npending; i++) {
			char when[32];

			tls_time_format(x.st.pending[i].created, when, sizeof(when));
			printf("%s\n  {\"id\": \"%s\", \"subject\": ", i ? "," : "", x.st.pending[i].id);
			json_str(stdout, x.st.pending[i].subject);
			printf(", \"created\": \"%s\"}", when);
		}
		printf("%s]}\n", x.st.npending ? "\n" : "");
	} else {
		if (x.st.ncerts == 0)
			printf("no certificates in %s\n", x.st.dir);
		for (size_t i = 0; i < x.st.ncerts; i++) {
			const struct tls_store_cert *c = &x.st.certs[i];
			char na[32];

			tls_time_format(c->facts.not_after, na, sizeof(na));
			printf("%s%s  expires %s  %s%s%s\n  subject: %s\n  san:     ", i ? "\n" : "",
			    c->sha1, na, c->facts.self_signed ? "self-signed" : "CA-issued",
			    c->enabled ? "  enabled" : "", c->has_key ? "" : "  (no key)",
			    c->facts.subject);
			print_sans(stdout, &c->facts);
			putchar('\n');
		}
		if (x.st.npending > 0)
			printf("\npending requests (dsmtp-cert import the CA's answer):\n");
		for (size_t i = 0; i < x.st.npending; i++) {
			char when[32];

			tls_time_format(x.st.pending[i].created, when, sizeof(when));
			printf("  %s  created %s  subject %s\n", x.st.pending[i].id, when,
			    x.st.pending[i].subject);
		}
	}
	for (size_t i = 0; i < x.st.ncerts; i++)
		if (x.st.certs[i].enabled)
			warn_dates(&x.st.certs[i].facts);
	warn_namespaces(&x.cfg, &x.st);
	return ctx_close(&x, 0);
}

/* dsmtp-cert show */
static int
cmd_show(int argc, char **argv, const char *config_path)
{
	gnutls_x509_crt_t *chain = NULL;
	struct tls_cert_facts *cf = NULL;
	const struct tls_store_cert *c;
	const struct tls_cert_facts *f;
	struct cmd_ctx x;
	struct dsmtp_err err;
	unsigned n = 0;
	char nb[32], na[32], pin[128];
	bool json;
	int rc, i;

	json = want_json(argc, argv, "show", "THUMBPRINT [--json]", &rc, 1);
	if (rc >= 0)
		return rc;
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
	if ((i = tls_store_lookup(&x.st, argv[optind], &err)) < 0)
		return ctx_close(&x, fail(EX_DSMTP_DATAERR, "show", &err));
	c = &x.st.certs[i];
	f = &c->facts;
	if (tls_chain_load(c->cert_path, &chain, &n, &err) < 0)
		return ctx_close(&x, fail(EX_DSMTP_IOERR, "show", &err));
	if ((cf = calloc(n, sizeof(*cf))) == NULL) {
		tls_crt_list_free(chain, n);
		return ctx_close(&x, EX_DSMTP_OSERR);
	}
	for (unsigned k = 0; k < n; k++)
		if (tls_cert_facts_from_crt(chain[k], &cf[k], &err) < 0) {
			for (unsigned j = 0; j < k; j++)
				tls_cert_facts_free(&cf[j]);
			free(cf);
			tls_crt_list_free(chain, n);
			return ctx_close(&x, fail(EX_DSMTP_DATAERR, c->cert_path, &err));
		}
	tls_crt_list_free(chain, n);
	tls_time_format(f->not_before, nb, sizeof(nb));
	tls_time_format(f->not_after, na, sizeof(na));
	cert_pin(f, pin, sizeof(pin));
	if (json) {
		printf("{");
		json_cert_common(stdout, f);
		printf(", \"issuer\": ");
		json_str(stdout, f->issuer);
		printf(", \"cn\": ");
		json_str(stdout, f->cn);
		printf(", \"serial\": \"%s\", \"sha1\": \"%s\", \"sha256\": \"%s\", \"spki\": \"%s\", "
		    "\"cert_pin\": \"%s\", \"key_type\": \"%s\", \"key_bits\": %u, \"enabled\": %s, "
		    "\"has_key\": %s, \"cert_file\": ", f->serial, f->sha1, f->sha256, f->spki, pin,
		    f->key_type, f->key_bits, c->enabled ? "true" : "false",
		    c->has_key ? "true" : "false");
		json_str(stdout, c->cert_path);
		printf(", \"key_file\": ");
		json_str(stdout, c->has_key ? c->key_path : "");
		printf(", \"chain\": [");
		for (unsigned k = 0; k < n; k++) {
			printf("%s{", k ? ", " : "");
			json_cert_common(stdout, &cf[k]);
			printf(", \"issuer\": ");
			json_str(stdout, cf[k].issuer);
			printf(", \"sha256\": \"%s\"}", cf[k].sha256);
		}
		printf("]}\n");
	} else {
		printf("thumbprint:  %s\nsubject:     %s\nissuer:      %s\nserial:      %s\n"
		    "not before:  %s\nnot after:   %s\nsan:         ", f->sha1, f->subject, f->issuer,
		    f->serial, nb, na);
		print_sans(stdout, f);
		printf("\nkey:         %s %u\nself-signed: %s\nenabled:     %s\nsha256:      %s\n"
		    "pins:        %s\n             %s\ncert file:   %s\nkey file:    %s\n"
		    "chain:       %u certificate%s\n", f->key_type, f->key_bits,
		    f->self_signed ? "yes" : "no", c->enabled ? "yes" : "no", f->sha256, f->spki,
		    pin, c->cert_path, c->has_key ? c->key_path : "(none)", n, n == 1 ? "" : "s");
		for (unsigned k = 0; k < n; k++) {
			tls_time_format(cf[k].not_after, na, sizeof(na));
			printf("  %u: %s\n     issuer %s, expires %s, sha256 %s\n", k, cf[k].subject,
			    cf[k].issuer, na, cf[k].sha256);
		}
	}
	warn_dates(f);
	for (unsigned k = 0; k < n; k++)
		tls_cert_facts_free(&cf[k]);
	free(cf);
	return ctx_close(&x, 0);
}

/* dsmtp-cert pin */
static int
cmd_pin(int argc, char **argv, const char *config_path)
{
	struct tls_cert_facts f;
	struct dsmtp_err err;
	struct cmd_ctx x;
	const char *arg;
	char pin[128];
	bool json;
	int rc, i;

	json = want_json(argc, argv, "pin", "THUMBPRINT|FILE [--json]", &rc, 1);
	if (rc >= 0)
		return rc;
	arg = argv[optind];
	if (access(arg, F_OK) == 0) {
		/* a file: no configuration or store needed */
		if (tls_cert_facts_from_file(arg, &f, &err) < 0)
			return fail(EX_DSMTP_DATAERR, "pin", &err);
	} else {
		if (ctx_open(&x, config_path) < 0)
			return ctx_close(&x, EX_DSMTP_IOERR);
		if ((i = tls_store_lookup(&x.st, arg, &err)) < 0) {
			if (strchr(arg, '/') != NULL || strchr(arg, '.') != NULL)
				dsmtp_err_set(&err, "%s: no such file", arg);
			return ctx_close(&x, fail(EX_DSMTP_DATAERR, "pin", &err));
		}
		if (tls_cert_facts_copy(&f, &x.st.certs[i].facts) < 0) {
			dsmtp_err_set(&err, "out of memory");
			return ctx_close(&x, fail(EX_DSMTP_OSERR, "pin", &err));
		}
		ctx_close(&x, 0);
	}
	cert_pin(&f, pin, sizeof(pin));
	if (json)
		printf("{\"thumbprint\": \"%s\", \"spki\": \"%s\", \"cert\": \"%s\"}\n", f.sha1,
		    f.spki, pin);
	else
		printf("%s\n%s\n", f.spki, pin);
	warn_dates(&f);
	tls_cert_facts_free(&f);
	return 0;
}

/* --- enable, disable, remove, renew --- */

/* the shared front of the commands taking one THUMBPRINT: -1 to go on
 * (x open, *idx found), else the exit code */
static int
one_cert(int argc, char **argv, const char *cmd, const char *config_path, struct cmd_ctx *x,
    int *idx)
{
	struct dsmtp_err err;

	if (argc != 2 || argv[1][0] == '-' || help_asked)
		return usage_err(cmd, "THUMBPRINT");
	if (ctx_open(x, config_path) < 0)
		return ctx_close(x, EX_DSMTP_IOERR);
	if ((*idx = tls_store_lookup(&x->st, argv[1], &err)) < 0)
		return ctx_close(x, fail(EX_DSMTP_DATAERR, cmd, &err));
	return -1;
}

/* dsmtp-cert enable and disable */
static int
set_enabled(int argc, char **argv, const char *config_path, bool on)
{
	const char *cmd = on ? "enable" : "disable";
	struct dsmtp_err err;
	struct cmd_ctx x;
	int i, rc;

	if ((rc = one_cert(argc, argv, cmd, config_path, &x, &i)) >= 0)
		return rc;
	if (x.st.certs[i].enabled == on)
		printf("%s was already %s\n", x.st.certs[i].sha1, on ? "enabled" : "disabled");
	else if (tls_store_set_enabled(&x.st, (size_t)i, on, &err) < 0)
		return ctx_close(&x, fail(EX_DSMTP_DATAERR, cmd, &err));
	else
		printf("%s %s (%s)\n", on ? "enabled" : "disabled", x.st.certs[i].sha1,
		    x.st.certs[i].facts.subject);
	if (on)
		warn_dates(&x.st.certs[i].facts);
	if (!on && tls_store_enabled_count(&x.st) == 0)
		diag_warnx("no certificate is enabled now; dsmtpd will make a self-signed one at start");
	warn_namespaces(&x.cfg, &x.st);
	return ctx_close(&x, 0);
}

/* dsmtp-cert enable */
static int
cmd_enable(int argc, char **argv, const char *config_path)
{
	return set_enabled(argc, argv, config_path, true);
}

/* dsmtp-cert disable */
static int
cmd_disable(int argc, char **argv, const char *config_path)
{
	return set_enabled(argc, argv, config_path, false);
}

/* dsmtp-cert remove */
static int
cmd_remove(int argc, char **argv, const char *config_path)
{
	struct dsmtp_err err;
	struct cmd_ctx x;
	char sha1[41], subject[512];
	bool was_enabled;
	int i, rc;

	if ((rc = one_cert(argc, argv, "remove", config_path, &x, &i)) >= 0)
		return rc;
	memcpy(sha1, x.st.certs[i].sha1, sizeof(sha1));
	snprintf(subject, sizeof(subject), "%s", x.st.certs[i].facts.subject);
	was_enabled = x.st.certs[i].enabled;
	if (tls_store_remove(&x.st, (size_t)i, &err) < 0)
		return ctx_close(&x, fail(EX_DSMTP_IOERR, "remove", &err));
	printf("removed %s (%s) and its key\n", sha1, subject);
	if (was_enabled && tls_store_enabled_count(&x.st) == 0)
		diag_warnx("no certificate is enabled now; dsmtpd will make a self-signed one at start");
	return ctx_close(&x, 0);
}

/* dsmtp-cert renew */
static int
cmd_renew(int argc, char **argv, const char *config_path)
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
	struct cmd_ctx x;
	const char *out = NULL;
	unsigned days = 0;
	size_t idx;
	bool was_enabled;
	int ch, i, rc, code = EX_DSMTP_CANTCREAT;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (parse_days(optarg, &days) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'o': out = optarg; break;
		default: return usage_err("renew", usage);
		}
	}
	if (optind + 1 != argc)
		return usage_err("renew", usage);
	if (ctx_open(&x, config_path) < 0)
		return ctx_close(&x, EX_DSMTP_IOERR);
	if ((i = tls_store_lookup(&x.st, argv[optind], &err)) < 0)
		return ctx_close(&x, fail(EX_DSMTP_DATAERR, "renew", &err));
	if (tls_cert_facts_copy(&old, &x.st.certs[i].facts) < 0)
		return ctx_close(&x, EX_DSMTP_OSERR);
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
		print_created(&x.st.certs[idx], "renewed as");
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
		if (write_out(out, pem.data, pem.size, 0644, &err) < 0)
			goto out;
		printf("%s is CA-issued: new %s key kept as pending request %s; request for %s "
		    "written to %s\nSend it to the CA, then: dsmtp-cert import CERT-FILE\n", old.sha1,
		    tls_keyalg_name(alg), x.st.pending[idx].id, old.subject, out);
	}
	code = 0;
out:
	if (code != 0)
		fail(code, "renew", &err);
	gnutls_free(pem.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	tls_cert_facts_free(&old);
	return ctx_close(&x, code);
}

static const struct cli_cmd cert_cmds[] = {
	{ "new", "create a self-signed certificate in the store", cmd_new },
	{ "request", "create a key kept as pending and a CSR for a CA", cmd_request },
	{ "import", "import a CA-issued certificate, bound to its pending key", cmd_import },
	{ "import-pfx", "import a PKCS#12 (PFX) file", cmd_import_pfx },
	{ "export-pfx", "export a certificate and key as PKCS#12", cmd_export_pfx },
	{ "list", "list the store's certificates", cmd_list },
	{ "show", "show everything about one certificate", cmd_show },
	{ "enable", "use this certificate for SMTP", cmd_enable },
	{ "disable", "stop using this certificate for SMTP", cmd_disable },
	{ "renew", "new dates and key, same names and key type", cmd_renew },
	{ "remove", "remove a certificate from the store", cmd_remove },
	{ "pin", "print the pins of a certificate", cmd_pin },
	{ NULL, NULL, NULL }
};

/* dsmtp-cert: dispatch to the subcommand */
int
main(int argc, char **argv)
{
	/* --help after the command name is the command's help, not an error */
	for (int i = 1, cmd = 0; i < argc; i++) {
		if (cmd && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			help_asked = true;
			opterr = 0;
		}
		if (argv[i][0] != '-')
			cmd = 1;
		else if (!cmd && (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0))
			i++;
	}
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-cert [-c FILE] COMMAND [ARGS]\n"
	    "Manage dsmtp's own certificates in state_dir/certs/.", cert_cmds, NULL);
}
