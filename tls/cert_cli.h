/* cert_cli.h: what the files of dsmtp-cert share (cert_main.c dispatches,
 * cert_cli.c holds the helpers, cert_create.c, cert_pkcs12.c, cert_list.c
 * and cert_manage.c one family of subcommands each). Private to
 * dsmtp-cert: not part of libtls.a. */
#ifndef DSMTP_CERT_CLI_H
#define DSMTP_CERT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/diag.h"
#include "tls/tls_int.h"

#define CERT_WARN_DAYS		30	/* warn of expiry this many days ahead */
#define CERT_DEFAULT_DAYS	365	/* lifetime of a new self-signed certificate */

/* the configuration and the locked store a command works on */
struct cert_ctx {
	struct dsmtp_config	cfg;
	struct tls_store	st;
	bool			have_cfg, have_st;
};

/* "dsmtp-cert COMMAND --help": every command's option parser ends in
 * cert_usage_err, which then prints to stdout and succeeds */
extern bool cert_help_asked;

/* the subcommands: (argc, argv) from the command name on */
int cert_cmd_new(int argc, char **argv, const char *config_path);		/* cert_create.c */
int cert_cmd_request(int argc, char **argv, const char *config_path);
int cert_cmd_import(int argc, char **argv, const char *config_path);
int cert_cmd_import_pfx(int argc, char **argv, const char *config_path);	/* cert_pkcs12.c */
int cert_cmd_export_pfx(int argc, char **argv, const char *config_path);
int cert_cmd_list(int argc, char **argv, const char *config_path);		/* cert_list.c */
int cert_cmd_show(int argc, char **argv, const char *config_path);
int cert_cmd_pin(int argc, char **argv, const char *config_path);		/* cert_manage.c */
int cert_cmd_enable(int argc, char **argv, const char *config_path);
int cert_cmd_disable(int argc, char **argv, const char *config_path);
int cert_cmd_remove(int argc, char **argv, const char *config_path);
int cert_cmd_renew(int argc, char **argv, const char *config_path);

/* --- cert_cli.c: scaffolding --- */

/* load the configuration and the store, and lock the store; -1 after
 * saying why (close with cert_ctx_close all the same) */
int cert_ctx_open(struct cert_ctx *x, const char *config_path);
/* free what cert_ctx_open loaded; returns rc */
int cert_ctx_close(struct cert_ctx *x, int rc);
/* a subcommand's usage line; returns 64 (0 for --help) */
int cert_usage_err(const char *cmd, const char *usage);
/* print an error with its context (what may be NULL); returns code */
int cert_fail(int code, const char *what, const struct dsmtp_err *err);
/* write a file outside the store (a CSR, a PFX): atomically, with mode */
int cert_write_out(const char *path, const void *data, size_t len, mode_t mode,
    struct dsmtp_err *err);
/* parse a --days value (1..36500); -1 after saying why */
int cert_parse_days(const char *s, unsigned *days);
/* parse [--json] and check the argument count: *rc -1 to go on, else
 * the exit code; returns whether --json was given */
bool cert_want_json(int argc, char **argv, const char *cmd, const char *usage, int *rc,
    int nargs);
/* -1 with the file and the reason in err when crt's key is too weak */
int cert_refuse_weak(gnutls_x509_crt_t crt, const char *file, struct dsmtp_err *err);

/* --- cert_cli.c: output --- */

void cert_print_sans(FILE *out, const struct tls_cert_facts *f);	/* "a, b" or "(none)" */
/* "cert-sha256:<hex>", the certificate pin */
void cert_pin(const struct tls_cert_facts *f, char *buf, size_t len);
/* the summary of a certificate just added, after verb */
void cert_print_created(const struct tls_store_cert *c, const char *verb);
/* stderr: expired, expiring within CERT_WARN_DAYS, not yet valid */
void cert_warn_dates(const struct tls_cert_facts *f);
/* stderr: our domain-secure namespaces no enabled certificate covers */
void cert_warn_namespaces(const struct dsmtp_config *cfg, const struct tls_store *st);
/* the JSON members every certificate record has (no braces) */
void cert_json_common(FILE *out, const struct tls_cert_facts *f);

#endif
