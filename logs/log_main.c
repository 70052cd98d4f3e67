/* log_main.c: dsmtp-log, the protocol-log reader (DESIGN.md section 9).
 * Owns the command line; parsing lives in logs/. */
#include "autoconfig.h"

#include <stdio.h>

#include "common/cli.h"

static const struct cli_cmd log_cmds[] = {
	{ "sessions", "one line per session", NULL },
	{ "show", "every record of one session", NULL },
	{ "certs", "each certificate seen per peer, and changes", NULL },
	{ "failures", "TLS and policy failures grouped by cause", NULL },
	{ NULL, NULL, NULL }
};

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-log [-c FILE] COMMAND [OPTIONS] [FILE|DIR...]\n"
	    "Read dsmtp's protocol logs.", log_cmds, NULL);
}
