/* cert_list.c: the dsmtp-cert commands that read the store: list (every
 * certificate and pending request) and show (one certificate and its
 * chain), for people or, with --json, for scripts. */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/json.h"
#include "tls/cert_cli.h"

/* dsmtp-cert list */
int
cert_cmd_list(int argc, char **argv, const char *config_path)
{
	struct cert_ctx x;
	bool json;
	int rc;

	json = cert_want_json(argc, argv, "list", "[--json]", &rc, 0);
	if (rc >= 0)
		return rc;
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if (json) {
		printf("{\"store\": ");
		json_put_string(stdout, x.st.dir);
		printf(", \"certificates\": [");
		for (size_t i = 0; i < x.st.ncerts; i++) {
			printf("%s\n  {", i ? "," : "");
			cert_json_common(stdout, &x.st.certs[i].facts);
			printf(", \"enabled\": %s, \"has_key\": %s}", x.st.certs[i].enabled ? "true" :
			    "false", x.st.certs[i].has_key ? "true" : "false");
		}
		printf("%s], \"pending\": [", x.st.ncerts ? "\n" : "");
		for (size_t i = 0; i < x.st.npending; i++) {
			char when[32];

			tls_time_format(x.st.pending[i].created, when, sizeof(when));
			printf("%s\n  {\"id\": \"%s\", \"subject\": ", i ? "," : "", x.st.pending[i].id);
			json_put_string(stdout, x.st.pending[i].subject);
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
			cert_print_sans(stdout, &c->facts);
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
			cert_warn_dates(&x.st.certs[i].facts);
	cert_warn_namespaces(&x.cfg, &x.st);
	return cert_ctx_close(&x, 0);
}

/* dsmtp-cert show */
int
cert_cmd_show(int argc, char **argv, const char *config_path)
{
	gnutls_x509_crt_t *chain = NULL;
	struct tls_cert_facts *cf = NULL;
	const struct tls_store_cert *c;
	const struct tls_cert_facts *f;
	struct cert_ctx x;
	struct dsmtp_err err;
	unsigned n = 0;
	char nb[32], na[32], pin[128];
	bool json;
	int rc, i;

	json = cert_want_json(argc, argv, "show", "THUMBPRINT [--json]", &rc, 1);
	if (rc >= 0)
		return rc;
	if (cert_ctx_open(&x, config_path) < 0)
		return cert_ctx_close(&x, EX_DSMTP_IOERR);
	if ((i = tls_store_lookup(&x.st, argv[optind], &err)) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_DATAERR, "show", &err));
	c = &x.st.certs[i];
	f = &c->facts;
	if (tls_chain_load(c->cert_path, &chain, &n, &err) < 0)
		return cert_ctx_close(&x, cert_fail(EX_DSMTP_IOERR, "show", &err));
	if ((cf = calloc(n, sizeof(*cf))) == NULL) {
		tls_crt_list_free(chain, n);
		return cert_ctx_close(&x, EX_DSMTP_OSERR);
	}
	for (unsigned k = 0; k < n; k++)
		if (tls_cert_facts_from_crt(chain[k], &cf[k], &err) < 0) {
			for (unsigned j = 0; j < k; j++)
				tls_cert_facts_free(&cf[j]);
			free(cf);
			tls_crt_list_free(chain, n);
			return cert_ctx_close(&x, cert_fail(EX_DSMTP_DATAERR, c->cert_path, &err));
		}
	tls_crt_list_free(chain, n);
	tls_time_format(f->not_before, nb, sizeof(nb));
	tls_time_format(f->not_after, na, sizeof(na));
	cert_pin(f, pin, sizeof(pin));
	if (json) {
		printf("{");
		cert_json_common(stdout, f);
		printf(", \"issuer\": ");
		json_put_string(stdout, f->issuer);
		printf(", \"cn\": ");
		json_put_string(stdout, f->cn);
		printf(", \"serial\": \"%s\", \"sha1\": \"%s\", \"sha256\": \"%s\", \"spki\": \"%s\", "
		    "\"cert_pin\": \"%s\", \"key_type\": \"%s\", \"key_bits\": %u, \"enabled\": %s, "
		    "\"has_key\": %s, \"cert_file\": ", f->serial, f->sha1, f->sha256, f->spki, pin,
		    f->key_type, f->key_bits, c->enabled ? "true" : "false",
		    c->has_key ? "true" : "false");
		json_put_string(stdout, c->cert_path);
		printf(", \"key_file\": ");
		json_put_string(stdout, c->has_key ? c->key_path : "");
		printf(", \"chain\": [");
		for (unsigned k = 0; k < n; k++) {
			printf("%s{", k ? ", " : "");
			cert_json_common(stdout, &cf[k]);
			printf(", \"issuer\": ");
			json_put_string(stdout, cf[k].issuer);
			printf(", \"sha256\": \"%s\"}", cf[k].sha256);
		}
		printf("]}\n");
	} else {
		printf("thumbprint:  %s\nsubject:     %s\nissuer:      %s\nserial:      %s\n"
		    "not before:  %s\nnot after:   %s\nsan:         ", f->sha1, f->subject, f->issuer,
		    f->serial, nb, na);
		cert_print_sans(stdout, f);
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
	cert_warn_dates(f);
	for (unsigned k = 0; k < n; k++)
		tls_cert_facts_free(&cf[k]);
	free(cf);
	return cert_ctx_close(&x, 0);
}
