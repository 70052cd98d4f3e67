/* cli.h: what every program's command line shares: -c/--config, --help,
 * --version, and the subcommand table with "not built yet" rows that exit
 * 64 rather than pretend. */
#ifndef DSMTP_CLI_H
#define DSMTP_CLI_H

#include <stdio.h>

struct cli_cmd {
	const char	*name;
	const char	*summary;
	int		(*run)(int argc, char **argv, const char *config_path);	/* NULL: not built yet */
};

/* Parse "[-c FILE] [--help] [--version] SUBCOMMAND [args]" and dispatch.
 * dflt: the subcommand when none is given (NULL: usage error). */
int cli_dispatch(int argc, char **argv, const char *usage_head, const struct cli_cmd *cmds,
    const char *dflt);
void cli_usage(FILE *out, const char *usage_head, const struct cli_cmd *cmds);

#endif
