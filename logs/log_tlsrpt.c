/* log_tlsrpt.c: dsmtp-log tlsrpt [--date DAY] [--domain D] [FILE|DIR...]:
 * the RFC 8460 JSON report of each policy domain for one UTC day (default:
 * yesterday), one JSON object per line, domains in order
 * (logs/tlsrpt_report.c builds them). */
#include "autoconfig.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/diag.h"
#include "logs/tlsrpt_report.h"

int log_tlsrpt_main(int argc, char **argv, const char *config_path);

static void
usage(FILE *out)
{
	fputs("Usage: dsmtp-log [-c FILE] tlsrpt [--date DAY] [--domain D] [FILE|DIR...]\n"
	    "DAY is YYYY-MM-DD (UTC), today or yesterday (default).\n"
	    "Prints one RFC 8460 JSON report per policy domain, one per line.\n"
	    "Default input: the configured state_dir/logs.dir.\n", out);
}

int
log_tlsrpt_main(int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "date", required_argument, NULL, 'D' },
		{ "domain", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tlsrpt_reports *r;
	struct tlsrpt_meta m;
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	const char *domain = NULL;
	char day[11], dir[PATH_MAX], contact[300], *dirv[1];
	int ch, rc = EX_DSMTP_OK;

	if (tlsrpt_day_parse("yesterday", day) < 0)
		return EX_DSMTP_SOFTWARE;
	while ((ch = getopt_long(argc, argv, "D:d:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			if (tlsrpt_day_parse(optarg, day) < 0) {
				fprintf(stderr, "%s: --date: not a day (YYYY-MM-DD, today, "
				    "yesterday): %s\n", diag_progname(), optarg);
				return EX_DSMTP_USAGE;
			}
			break;
		case 'd':
			domain = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_DSMTP_OK;
		default:
			usage(stderr);
			return EX_DSMTP_USAGE;
		}
	}
	config_load_or_exit(config_path, &cfg);
	tlsrpt_meta_from_config(&cfg, &m, contact, sizeof(contact));
	if (optind < argc)
		r = tlsrpt_reports_read(argv + optind, (size_t)(argc - optind), day, domain, &err);
	else if (tlsrpt_logs_dir(&cfg, dir, sizeof(dir)) < 0) {
		dsmtp_err_set(&err, "logs path too long");
		r = NULL;
	} else {
		dirv[0] = dir;
		r = tlsrpt_reports_read(dirv, 1, day, domain, &err);
	}
	if (r == NULL) {
		fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
		config_free(&cfg);
		return EX_DSMTP_NOINPUT;
	}
	for (size_t i = 0; i < tlsrpt_reports_n(r); i++) {
		if (tlsrpt_reports_json(r, i, &m, stdout) < 0)
			break;
		putchar('\n');
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = EX_DSMTP_IOERR;
	tlsrpt_reports_free(r);
	config_free(&cfg);
	return rc;
}
