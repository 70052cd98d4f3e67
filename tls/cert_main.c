/* cert_main.c: dsmtp-cert, the certificate manager (DESIGN.md section 7).
 * Owns the command line; the work is done by tls/. */
#include "autoconfig.h"

#include <stdio.h>

#include "common/cli.h"

static const struct cli_cmd cert_cmds[] = {
	{ "new", "create a self-signed certificate in the store", NULL },
	{ "request", "create a key kept as pending and a CSR for a CA", NULL },
	{ "import", "import a CA-issued certificate, bound to its pending key", NULL },
	{ "import-pfx", "import a PKCS#12 (PFX) file", NULL },
	{ "export-pfx", "export a certificate and key as PKCS#12", NULL },
	{ "list", "list the store's certificates", NULL },
	{ "show", "show everything about one certificate", NULL },
	{ "enable", "use this certificate for SMTP", NULL },
	{ "renew", "new dates and key, same names and key type", NULL },
	{ "remove", "remove a certificate from the store", NULL },
	{ "pin", "print the pins of a certificate", NULL },
	{ NULL, NULL, NULL }
};

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-cert [-c FILE] COMMAND [ARGS]\n"
	    "Manage dsmtp's own certificates in state_dir/certs/.", cert_cmds, NULL);
}
