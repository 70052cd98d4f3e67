/* main.c: dsmtpd's command line, start-up and signals. Loads and checks
 * the configuration, opens the listeners, runs the loop until SIGTERM. */
#include "autoconfig.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: dsmtpd [-c FILE] [--check-config] [--print-config]\n"
	    "Receive mail over ESMTP with STARTTLS and spool it durably; runs in the\n"
	    "foreground until SIGTERM.\n\n"
	    "Options:\n"
	    "  -c, --config FILE  configuration (default /etc/dsmtp/dsmtp.yaml if it exists,\n"
	    "                     else the embedded defaults)\n"
	    "  -n, --check-config validate the configuration and exit (0 good, 78 bad)\n"
	    "  -p, --print-config print the effective configuration as YAML and exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      version\n");
}

static void
on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct smtpd_server *srv = w->data;

	(void)revents;
	diag_info("%s: stopping", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	srv->stopping = true;
	smtpd_listen_stop(srv);
	ev_break(loop, EVBREAK_ALL);
}

static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	diag_info("SIGHUP: nothing to reload yet (certificates and policy arrive with tls/ and policy/)");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct smtpd_server srv;
	struct dsmtp_err err;
	const char *config_path = NULL;
	bool check = false, print = false;
	char state[4096];
	int ch;

	diag_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:nphV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'n': check = true; break;
		case 'p': print = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': diag_print_version(); return 0;
		default: usage(stderr); return EX_DSMTP_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dsmtpd: unexpected argument '%s' (try --help)\n", argv[optind]);
		return EX_DSMTP_USAGE;
	}
	memset(&srv, 0, sizeof(srv));
	config_load_or_exit(config_path, &srv.cfg);
	if (check || print) {
		if (print)
			config_dump(&srv.cfg, stdout);
		else
			printf("%s: configuration OK\n", srv.cfg.source ? srv.cfg.source : "(embedded defaults)");
		config_free(&srv.cfg);
		return 0;
	}
	if (config_state_path(&srv.cfg, NULL, state, sizeof(state), &err) < 0) {
		diag_warnx("state_dir: %s", err.msg);
		config_free(&srv.cfg);
		return EX_DSMTP_CANTCREAT;
	}
	signal(SIGPIPE, SIG_IGN);
	srv.loop = ev_default_loop(EVFLAG_AUTO);
	if (srv.loop == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "cannot initialise libev");
	if (smtpd_listen_open(&srv, &err) < 0) {
		diag_warnx("%s", err.msg);
		smtpd_listen_close(&srv);
		config_free(&srv.cfg);
		return EX_DSMTP_UNAVAILABLE;
	}
	ev_signal_init(&srv.sigterm, on_stop, SIGTERM);
	ev_signal_init(&srv.sigint, on_stop, SIGINT);
	ev_signal_init(&srv.sighup, on_hup, SIGHUP);
	srv.sigterm.data = srv.sigint.data = srv.sighup.data = &srv;
	ev_signal_start(srv.loop, &srv.sigterm);
	ev_signal_start(srv.loop, &srv.sigint);
	ev_signal_start(srv.loop, &srv.sighup);
	smtpd_listen_start(&srv);
	diag_info("%s, state in %s, config %s", PACKAGE_STRING, state,
	    srv.cfg.source ? srv.cfg.source : "(embedded defaults)");
	for (size_t i = 0; i < srv.nlisteners; i++)
		diag_info("listening on %s", srv.listeners[i].name);
	fflush(stderr);
	ev_run(srv.loop, 0);
	smtpd_listen_close(&srv);
	ev_signal_stop(srv.loop, &srv.sigterm);
	ev_signal_stop(srv.loop, &srv.sigint);
	ev_signal_stop(srv.loop, &srv.sighup);
	ev_loop_destroy(srv.loop);
	config_free(&srv.cfg);
	diag_info("stopped");
	return 0;
}
