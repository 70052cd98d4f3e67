/* cli.c: the shared command-line front: options before the subcommand,
 * help listing every subcommand, honest "not built yet" for missing ones. */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "common/cli.h"
#include "common/diag.h"

void
cli_usage(FILE *out, const char *usage_head, const struct cli_cmd *cmds)
{
	fprintf(out, "%s\n\nOptions:\n"
	    "  -c, --config FILE  configuration (default " "/etc/dsmtp/dsmtp.yaml" " if it exists,\n"
	    "                     else the embedded defaults)\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      version\n\nCommands:\n", usage_head);
	for (const struct cli_cmd *c = cmds; c->name; c++)
		fprintf(out, "  %-12s %s%s\n", c->name, c->summary, c->run ? "" : " (not built yet)");
}

int
cli_dispatch(int argc, char **argv, const char *usage_head, const struct cli_cmd *cmds,
    const char *dflt)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = NULL, *name;
	int ch, argind;

	diag_init(argv[0]);
	/* "+": stop at the first non-option, which is the subcommand */
	while ((ch = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			cli_usage(stdout, usage_head, cmds);
			return 0;
		case 'V':
			diag_print_version();
			return 0;
		default:
			cli_usage(stderr, usage_head, cmds);
			return EX_DSMTP_USAGE;
		}
	}
	argind = optind;
	name = argind < argc ? argv[argind] : dflt;
	if (name == NULL) {
		cli_usage(stderr, usage_head, cmds);
		return EX_DSMTP_USAGE;
	}
	for (const struct cli_cmd *c = cmds; c->name; c++) {
		if (strcmp(c->name, name) != 0)
			continue;
		if (c->run == NULL) {
			fprintf(stderr, "%s: '%s' is not built yet in this version (%s)\n",
			    diag_progname(), name, PACKAGE_VERSION);
			return EX_DSMTP_USAGE;
		}
		/* the subcommand sees argv[0] = its own name and parses afresh */
		optind = 0;
		if (argind < argc)
			return c->run(argc - argind, argv + argind, config_path);
		{
			char *sub[] = { (char *)(uintptr_t)name, NULL };
			return c->run(1, sub, config_path);
		}
	}
	fprintf(stderr, "%s: unknown command '%s' (try --help)\n", diag_progname(), name);
	return EX_DSMTP_USAGE;
}
