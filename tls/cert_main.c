/* cert_main.c: dsmtp-cert, the certificate manager (DESIGN.md section 7).
 * Owns the table of subcommands and the dispatch; each family of commands
 * has its file (cert_create.c, cert_pkcs12.c, cert_list.c,
 * cert_manage.c), their shared helpers are in cert_cli.c, and the work is
 * done by tls/ (store, keygen, facts, pkcs12). */
#include "autoconfig.h"

#include <getopt.h>
#include <string.h>

#include "common/cli.h"
#include "tls/cert_cli.h"

static const struct cli_cmd cert_cmds[] = {
	{ "new", "create a self-signed certificate in the store", cert_cmd_new },
	{ "request", "create a key kept as pending and a CSR for a CA", cert_cmd_request },
	{ "import", "import a CA-issued certificate, bound to its pending key", cert_cmd_import },
	{ "import-pfx", "import a PKCS#12 (PFX) file", cert_cmd_import_pfx },
	{ "export-pfx", "export a certificate and key as PKCS#12", cert_cmd_export_pfx },
	{ "list", "list the store's certificates", cert_cmd_list },
	{ "show", "show everything about one certificate", cert_cmd_show },
	{ "enable", "use this certificate for SMTP", cert_cmd_enable },
	{ "disable", "stop using this certificate for SMTP", cert_cmd_disable },
	{ "renew", "new dates and key, same names and key type", cert_cmd_renew },
	{ "remove", "remove a certificate from the store", cert_cmd_remove },
	{ "pin", "print the pins of a certificate", cert_cmd_pin },
	{ NULL, NULL, NULL }
};

/* dsmtp-cert: dispatch to the subcommand */
int
main(int argc, char **argv)
{
	/* --help after the command name is the command's help, not an error */
	for (int i = 1, cmd = 0; i < argc; i++) {
		if (cmd && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			cert_help_asked = true;
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
