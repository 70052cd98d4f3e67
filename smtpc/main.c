/* main.c: dsmtpc, the send component (DESIGN.md section 4). Owns the
 * command line; delivery lives in the other smtpc/ files. */
#include "autoconfig.h"

#include <stdio.h>

#include "common/cli.h"

static const struct cli_cmd smtpc_cmds[] = {
	{ "run", "the delivery daemon: watch the spool and deliver (default)", NULL },
	{ "once", "deliver everything due now and exit", NULL },
	{ "queue", "list the spool", NULL },
	{ "flush", "make every deferred message due now", NULL },
	{ "send", "send one message from stdin now, without the spool", NULL },
	{ NULL, NULL, NULL }
};

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtpc [-c FILE] [COMMAND] [ARGS]\n"
	    "Deliver mail from the dsmtp spool.", smtpc_cmds, "run");
}
