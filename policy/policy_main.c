/* policy_main.c: dsmtp-policy, checks and explains the TLS policy
 * (DESIGN.md section 8). Owns the command line; judgement lives in policy/. */
#include "autoconfig.h"

#include <stdio.h>

#include "common/cli.h"

static const struct cli_cmd policy_cmds[] = {
	{ "check", "validate the configuration and the certificate's coverage", NULL },
	{ "probe", "connect to a destination and judge every TLS level", NULL },
	{ "explain", "show the effective route, level, names and pins for a domain", NULL },
	{ NULL, NULL, NULL }
};

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-policy [-c FILE] COMMAND [ARGS]\n"
	    "Check and explain dsmtp's domain-security policy.", policy_cmds, NULL);
}
