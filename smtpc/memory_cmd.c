/* memory_cmd.c: "dsmtpc memory [list|forget DOMAIN]": show and clear the
 * per-domain security memory (common/secmem.h, DESIGN.md 13.3). */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "common/secmem.h"
#include "smtpc/smtpc.h"

static void
usage(FILE *out)
{
	fprintf(out, "Usage: dsmtpc [-c FILE] memory [list]\n"
	    "       dsmtpc [-c FILE] memory forget DOMAIN\n"
	    "Show the highest security each destination domain has shown (plaintext,\n"
	    "TLS, authenticated TLS and by what), or forget one domain's, so that its\n"
	    "next delivery may be weaker again.\n");
}

static int
mem_list(const struct dsmtp_config *cfg)
{
	struct secmem_rec *recs;
	struct dsmtp_err err;
	size_t n;

	if (secmem_list(cfg, &recs, &n, &err) < 0) {
		fprintf(stderr, "%s: memory: %s\n", diag_progname(), err.msg);
		return EX_DSMTP_IOERR;
	}
	for (size_t i = 0; i < n; i++) {
		char desc[64], date[32];
		time_t t = (time_t)recs[i].seen;
		struct tm tm;

		secmem_describe(recs[i].level, recs[i].method, desc, sizeof(desc));
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(date, sizeof(date), "?");
		printf("%s  %s  host %s  since %s\n", recs[i].domain, desc, recs[i].host, date);
	}
	printf("-- %zu domain%s remembered%s\n", n, n == 1 ? "" : "s",
	    cfg->send.memory ? "" : " (send.memory is off: not used)");
	free(recs);
	return 0;
}

int
smtpc_cmd_memory(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	const char *verb;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return EX_DSMTP_USAGE;
	}
	verb = optind < argc ? argv[optind] : "list";
	if (strcmp(verb, "list") == 0 && optind + 1 >= argc) {
		smtpc_privsep_load(config_path, &cfg);	/* root: as `user` from here */
		rc = mem_list(&cfg);
		config_free(&cfg);
		return rc;
	}
	if (strcmp(verb, "forget") == 0 && optind + 2 == argc) {
		smtpc_privsep_load(config_path, &cfg);	/* root: as `user` from here */
		rc = secmem_forget(&cfg, argv[optind + 1], &err);
		config_free(&cfg);
		if (rc < 0) {
			fprintf(stderr, "%s: memory: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_IOERR;
		}
		printf("%s: %s\n", argv[optind + 1], rc ? "forgotten" : "nothing remembered");
		return 0;
	}
	usage(stderr);
	return EX_DSMTP_USAGE;
}
