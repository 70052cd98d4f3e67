/* main.c: dsmtpd's command line, start-up, workers and signals. Loads and
 * checks the configuration, makes sure a certificate exists, opens the
 * spool, the protocol log and the listeners, runs one libev loop per
 * worker process until SIGTERM. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/privdrop.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "metrics/metrics.h"
#include "policy/policy.h"
#include "smtpd/smtpd.h"

#define SMTPD_GRACE	30.0	/* seconds SIGTERM waits for transactions */

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
on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	diag_info("grace period over: closing the remaining sessions");
	ev_break(loop, EVBREAK_ALL);
}

static void
on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct smtpd_server *srv = w->data;

	(void)revents;
	if (srv->stopping)
		return;
	diag_info("%s: stopping (no new connections; open transactions may finish)",
	    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	srv->stopping = true;
	smtpd_listen_stop(srv);
	smtpd_session_drain(srv);
	if (srv->nsessions == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_init(&srv->grace, on_grace, SMTPD_GRACE, 0);
	ev_timer_start(loop, &srv->grace);
}

/* one descriptor per session (and a few more): lift the soft limit to
 * what max_connections needs, as far as the hard limit allows */
static void
raise_nofile(const struct dsmtp_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->receive.max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		diag_warnx("open files limited to %llu: fewer than max_connections (%u) sessions fit",
		    (unsigned long long)rl.rlim_cur, cfg->receive.max_connections);
}

/* certificates and trust: built anew, swapped in only when whole */
static int
load_tls(struct smtpd_server *srv, struct dsmtp_err *err)
{
	struct tls_trust *trust;
	struct tls_creds *creds;
	const struct tls_cert_facts *f;
	const char *why = NULL;
	char report[2048];

	if (srv->cfg.receive.tls == RECV_TLS_NONE && !config_domain_secure_used(&srv->cfg))
		return 0;
	/* with a key process (DESIGN.md 13.4) only the supervisor makes the
	 * default certificate, in a child of its own */
	switch (!tls_keyproc_active() ? tls_store_ensure_default(&srv->cfg, err) :
	    tls_keyproc_pid() > 0 ? tls_keyproc_ensure_default(&srv->cfg, err) : 0) {
	case 1:
		diag_info("created a self-signed certificate for %s (see dsmtp-cert list)",
		    srv->cfg.hostname);
		break;
	case 0:
		break;
	default:
		return -1;
	}
	if ((trust = tls_trust_load(srv->cfg.trust.ca_file, srv->cfg.trust.crl_file, err)) == NULL)
		return -1;
	if ((creds = tls_creds_server(&srv->cfg, trust, err)) == NULL) {
		tls_trust_free(trust);
		return -1;
	}
	f = tls_creds_local(creds, &why);
	if (f && config_domain_secure_used(&srv->cfg) &&
	    policy_check_coverage(&srv->cfg, f, report, sizeof(report)) != 0) {
		dsmtp_err_set(err, "our certificate does not cover every domain-secure namespace: %s",
		    report);
		tls_creds_free(creds);
		tls_trust_free(trust);
		return -1;
	}
	if (f) {
		/* DESIGN.md 8: the same certificate checks as dsmtp-policy check */
		struct policy_check r = { policy_emit_diag, NULL, 0, 0 };

		policy_check_certificate(&r, &srv->cfg, f, time(NULL));
		if (r.errors) {
			dsmtp_err_set(err, "certificate %s: %u error(s) above (dsmtp-policy check explains)",
			    f->subject, r.errors);
			tls_creds_free(creds);
			tls_trust_free(trust);
			return -1;
		}
	}
	/* drop our references only: sessions and handshakes in flight hold
	 * their own, and the old set is freed when the last of them ends */
	tls_creds_free(srv->creds);
	tls_trust_free(srv->trust);
	srv->creds = creds;
	srv->trust = trust;
	if (f)
		diag_info("serving certificate %s (sha1 %s; %s)", f->subject, f->sha1, why ? why : "");
	smtpd_metrics_certs(srv);
	return 0;
}

static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct smtpd_server *srv = w->data;
	struct dsmtp_err err = { "" };

	(void)loop;
	(void)revents;
	/* sessions keep the credentials they started with (each holds a
	 * reference); new sessions take the new ones */
	if (load_tls(srv, &err) < 0)
		diag_warnx("SIGHUP: keeping the old certificate: %s", err.msg);
	else
		diag_info("SIGHUP: certificates and trust reloaded");
	/* logs.peers: new sessions take the new levels */
	if (plog_peers_reload(&srv->cfg, &srv->plog, PLOG_RECEIVE, &err) < 0)
		diag_warnx("SIGHUP: keeping the old logs.peers: %s", err.msg);
}

static void
on_logflush(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpd_server *srv = w->data;

	(void)loop;
	(void)revents;
	plog_flush(srv->plog);
}

/* SIGUSR1: write the protocol log out now, not at the next tick; the
 * line on stderr tells a waiting test (or operator) it is done */
static void
on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct smtpd_server *srv = w->data;

	(void)loop;
	(void)revents;
	plog_flush(srv->plog);
	diag_info("SIGUSR1: protocol log flushed");
}

static unsigned
worker_count(const struct dsmtp_config *cfg)
{
	long n;

	if (cfg->receive.workers)
		return cfg->receive.workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (n > 64 ? 64 : (unsigned)n);
}

/* one worker: its own loop, spool handle and log writer, and its own
 * listening sockets (one per address, in the port's reuseport group) */
static int
worker_run(struct smtpd_server *srv, const char *queue)
{
	struct dsmtp_err err = { "" };
	sigset_t set;

	srv->loop = ev_loop_new(EVFLAG_AUTO);
	if (srv->loop == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "cannot initialise libev");
	if ((srv->spool = spool_open(queue, srv->loop, &err)) == NULL)
		diag_fatalx(EX_DSMTP_CANTCREAT, "spool %s: %s", queue, err.msg);
	if ((srv->plog = plog_open(&srv->cfg, PLOG_RECEIVE, &err)) == NULL)
		diag_warnx("protocol log: %s (continuing without it)", err.msg);
	ev_signal_init(&srv->sigterm, on_stop, SIGTERM);
	ev_signal_init(&srv->sigint, on_stop, SIGINT);
	ev_signal_init(&srv->sighup, on_hup, SIGHUP);
	ev_signal_init(&srv->sigusr1, on_usr1, SIGUSR1);
	srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv->sigusr1.data = srv;
	ev_signal_start(srv->loop, &srv->sigterm);
	ev_signal_start(srv->loop, &srv->sigint);
	ev_signal_start(srv->loop, &srv->sighup);
	ev_signal_start(srv->loop, &srv->sigusr1);
	/* a forked worker starts with these blocked (the parent's mask; main
	 * blocks SIGUSR1 before it listens): a signal sent before here waits
	 * for its watcher instead of killing */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	ev_timer_init(&srv->logflush, on_logflush, 1.0, 1.0);
	srv->logflush.data = srv;
	ev_timer_start(srv->loop, &srv->logflush);
	smtpd_listen_start(srv);
	ev_run(srv->loop, 0);
	/* whatever is left (grace period over) is closed; nothing not yet
	 * answered 250 was accepted, so nothing is lost */
	while (srv->sessions)
		smtpd_session_free(srv->sessions, "shutdown");
	smtpd_listen_close(srv);
	spool_close(srv->spool);
	plog_close(srv->plog);
	ev_timer_stop(srv->loop, &srv->logflush);
	ev_signal_stop(srv->loop, &srv->sigterm);
	ev_signal_stop(srv->loop, &srv->sigint);
	ev_signal_stop(srv->loop, &srv->sighup);
	ev_signal_stop(srv->loop, &srv->sigusr1);
	ev_loop_destroy(srv->loop);
	tls_creds_free(srv->creds);
	tls_trust_free(srv->trust);
	return 0;
}

#define RESPAWN_MAX	5	/* restarts of one worker slot ... */
#define RESPAWN_WINDOW	60	/* ... within this many seconds, then no more */

/* the parent's view of its workers */
struct supervisor {
	struct smtpd_server	*srv;
	struct privdrop_user	*user;		/* started as root: the workers run as it */
	const char		*queue;
	unsigned		 n;
	pid_t			*pids;		/* 0: slot empty */
	unsigned		*restarts;	/* in the current window */
	time_t			*window;	/* when the slot's window began */
};

static void
supervisor_free(struct supervisor *sv)
{
	free(sv->pids);
	free(sv->restarts);
	free(sv->window);
}

/* fork a worker into slot i; the child never returns */
static pid_t
spawn(struct supervisor *sv, unsigned i)
{
	struct dsmtp_err err = { "" };
	int kfd = -1;
	pid_t p;

	/* its own socket to its slot's key process, made before it exists */
	if (tls_keyproc_active() && (kfd = tls_keyproc_client_new(i, &err)) < 0) {
		diag_warnx("worker %u: %s", i, err.msg);
		return -1;
	}
	if ((p = fork()) < 0) {
		diag_warn("fork");
		if (kfd >= 0)
			close(kfd);
		return -1;
	}
	if (p == 0) {
		if (kfd >= 0)
			tls_keyproc_child(kfd);
		/* DESIGN.md 13.4: a process that parses SMTP is never root */
		if (sv->user && privdrop_to(sv->user, &err) < 0)
			diag_fatalx(EX_DSMTP_OSERR, "worker %u: %s", i, err.msg);
		sv->srv->worker = i;
		/* its own slot's sockets only: the kernel spreads the port's
		 * connections over the slots */
		smtpd_listen_keep_set(sv->srv, i);
		supervisor_free(sv);
		(void)worker_run(sv->srv, sv->queue);
		config_free(&sv->srv->cfg);
		_exit(0);
	}
	if (kfd >= 0)
		close(kfd);
	sv->pids[i] = p;
	return p;
}

/* a worker died while we were not stopping: replace it, unless its slot
 * keeps dying (RESPAWN_MAX times in RESPAWN_WINDOW s: a crash loop) */
static bool
respawn(struct supervisor *sv, unsigned i)
{
	time_t now = time(NULL);

	if (now - sv->window[i] > RESPAWN_WINDOW) {
		sv->window[i] = now;
		sv->restarts[i] = 0;
	}
	if (sv->restarts[i] >= RESPAWN_MAX) {
		diag_warnx("worker slot %u died %u times in %d s: not restarted", i,
		    sv->restarts[i] + 1, RESPAWN_WINDOW);
		smtpd_listen_close_set(sv->srv, i);
		return false;
	}
	sv->restarts[i]++;
	if (spawn(sv, i) < 0) {
		smtpd_listen_close_set(sv->srv, i);
		return false;
	}
	diag_warnx("worker %ld started in its place", (long)sv->pids[i]);
	return true;
}

/* the key process died (killed, out of memory): a new one with the keys,
 * and every worker in turn, since each one's socket went with the old one
 * (they finish their sessions, as at SIGTERM, and are replaced). Without
 * a new one nothing could sign: stop. */
static void
keyproc_restart(struct supervisor *sv, int status)
{
	struct dsmtp_err err = { "" };

	diag_warnx("the key process ended (status %d): starting another; the workers are replaced",
	    status);
	if (tls_keyproc_start(&sv->srv->cfg, sv->user, &err) < 0 ||
	    tls_keyproc_load(&sv->srv->cfg, &err) < 0) {
		diag_warnx("%s: stopping", err.msg);
		kill(getpid(), SIGTERM);
		return;
	}
	for (unsigned k = 0; k < sv->n; k++)
		if (sv->pids[k] > 0)
			kill(sv->pids[k], SIGTERM);
}

/* the parent of several workers: forwards signals, reaps, replaces a
 * worker that dies, exits 0 (70 when a worker died and was not replaced) */
static int
supervise(struct supervisor *sv)
{
	struct smtpd_server *srv = sv->srv;
	struct dsmtp_err err = { "" };
	sigset_t set;
	int sig, status, rc = 0;
	unsigned alive = 0;
	bool stopping = false;

	for (unsigned i = 0; i < sv->n; i++)
		if (sv->pids[i] > 0)
			alive++;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	while (alive > 0) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			pid_t p;

			while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
				unsigned i;

				if (tls_keyproc_is(p)) {
					tls_keyproc_reaped(p);
					if (!stopping)
						keyproc_restart(sv, status);
					continue;
				}
				for (i = 0; i < sv->n && sv->pids[i] != p; i++)
					;
				if (i == sv->n) {
					if (p == srv->metrics_pid) {
						if (!stopping)
							diag_warnx("metrics process %ld ended (status %d); "
							    "no metrics until a restart", (long)p, status);
						srv->metrics_pid = 0;	/* not signalled again */
					}
					continue;
				}
				alive--;
				sv->pids[i] = 0;
				/* its sessions are gone with it: no longer counted */
				smtpd_limits_forget_worker(srv->limits, i);
				if (stopping && WIFEXITED(status) && WEXITSTATUS(status) == 0)
					continue;
				diag_warnx("worker %ld ended abnormally (status %d)", (long)p, status);
				if (!stopping && respawn(sv, i))
					alive++;
				else
					rc = EX_DSMTP_SOFTWARE;
			}
			continue;
		}
		if (sig == SIGUSR1) {
			/* the workers hold the protocol logs: each flushes its own */
		} else if (sig == SIGHUP) {
			/* a worker started later gets what the others reload; the
			 * key process has the new keys before any worker asks */
			if (load_tls(srv, &err) < 0)
				diag_warnx("SIGHUP: the parent keeps the old certificate: %s", err.msg);
			else if (tls_keyproc_load(&srv->cfg, &err) < 0)
				diag_warnx("SIGHUP: the key process keeps the old keys: %s", err.msg);
			if (plog_peers_reload(&srv->cfg, &srv->plog, PLOG_RECEIVE, &err) < 0)
				diag_warnx("SIGHUP: the parent keeps the old logs.peers: %s", err.msg);
		} else if (!stopping) {
			/* no new connections wait for workers that are leaving */
			stopping = true;
			smtpd_listen_close(srv);
		}
		for (unsigned i = 0; i < sv->n; i++)
			if (sv->pids[i] > 0)
				kill(sv->pids[i], sig == SIGINT ? SIGTERM : sig);
	}
	return rc;
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
	struct dsmtp_err err = { "" };
	const char *config_path = NULL;
	bool check = false, print = false;
	char state[4096], queue[4096];
	unsigned nworkers;
	struct supervisor sv;
	struct privdrop_user user;
	bool drop = false;
	sigset_t set;
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
		int rc = 0;

		/* a value YAML cannot carry (config_dump said which) is no dump */
		if (print && config_dump(&srv.cfg, stdout) < 0)
			rc = EX_DSMTP_CONFIG;
		else if (!print)
			printf("%s: configuration OK\n", srv.cfg.source ? srv.cfg.source : "(embedded defaults)");
		config_free(&srv.cfg);
		return rc;
	}
	if (config_state_path(&srv.cfg, NULL, state, sizeof(state), &err) < 0 ||
	    config_state_path(&srv.cfg, "queue", queue, sizeof(queue), &err) < 0) {
		diag_warnx("state_dir: %s", err.msg);
		config_free(&srv.cfg);
		return EX_DSMTP_CANTCREAT;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file-size limit is a write error, not death */
	/* a signal before its watcher (a worker's ev_signal, the parent's
	 * sigwait) is up waits for it instead of killing us: a SIGHUP from a
	 * certificate hook racing the start, a SIGUSR1 (flush the protocol
	 * log) from a test once we listen */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		diag_warn("sigprocmask");
	raise_nofile(&srv.cfg);
	{
		/* DESIGN.md 8: dsmtpd runs dsmtp-policy's checks and refuses to
		 * start on errors (open relay, unknown pins, unusable routes) */
		struct policy_check r = { policy_emit_diag, NULL, 0, 0 };

		policy_check_config(&r, &srv.cfg);
		if (r.errors) {
			diag_warnx("the configuration has %u policy error(s); not starting", r.errors);
			config_free(&srv.cfg);
			return EX_DSMTP_CONFIG;
		}
	}
	/* DESIGN.md 13.4: started as root, we stay root only to supervise;
	 * the keys go to a key process, the workers run as `user` */
	if (privdrop_wanted()) {
		if (privdrop_lookup(srv.cfg.user, &user, &err) < 0) {
			diag_warnx("%s", err.msg);
			config_free(&srv.cfg);
			return EX_DSMTP_CONFIG;
		}
		if (privdrop_prepare_state(&srv.cfg, &user, &err) < 0) {
			diag_warnx("state_dir: %s", err.msg);
			config_free(&srv.cfg);
			return EX_DSMTP_CANTCREAT;
		}
		/* one key process per worker slot: signatures on every core */
		tls_keyproc_set_count(worker_count(&srv.cfg));
		if (tls_keyproc_start(&srv.cfg, &user, &err) < 0) {
			diag_warnx("%s", err.msg);
			tls_keyproc_stop();
			config_free(&srv.cfg);
			return EX_DSMTP_OSERR;
		}
		drop = true;
		srv.drop_user = &user;
	}
	if (load_tls(&srv, &err) < 0 || tls_keyproc_load(&srv.cfg, &err) < 0) {
		diag_warnx("TLS: %s", err.msg);
		tls_creds_free(srv.creds);
		tls_trust_free(srv.trust);
		tls_keyproc_stop();
		config_free(&srv.cfg);
		return EX_DSMTP_CONFIG;
	}
	nworkers = worker_count(&srv.cfg);
	/* one socket per address for each worker slot, bound here, while
	 * still root; a restarted worker takes its slot's sockets again */
	if (smtpd_listen_open(&srv, nworkers, &err) < 0) {
		diag_warnx("%s", err.msg);
		srv.loop = NULL;
		smtpd_listen_close(&srv);
		tls_creds_free(srv.creds);
		tls_trust_free(srv.trust);
		tls_keyproc_stop();
		config_free(&srv.cfg);
		return EX_DSMTP_UNAVAILABLE;
	}
	/* made before the fork: every worker counts in the same table */
	if ((srv.limits = smtpd_limits_new(nworkers, srv.cfg.receive.max_connections, &err)) == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "%s", err.msg);
	diag_info("%s, state in %s, config %s, %u worker%s", PACKAGE_STRING, state,
	    srv.cfg.source ? srv.cfg.source : "(embedded defaults)", nworkers, nworkers == 1 ? "" : "s");
	for (size_t i = 0; i < srv.listen_naddr; i++)
		diag_info("listening on %s (STARTTLS %s; %u socket%s, one per worker)",
		    srv.listeners[i].name, srv.creds ? config_recv_tls_name(srv.cfg.receive.tls) : "off",
		    nworkers, nworkers == 1 ? "" : "s");
	/* the metrics process, forked like the workers (and after the same
	 * start-up steps): it reads the counters the workers add to */
	if ((srv.metrics_pid = smtpd_metrics_start(&srv, &err)) < 0)
		diag_fatalx(EX_DSMTP_UNAVAILABLE, "%s", err.msg);
	if (srv.metrics_pid > 0) {
		char ep[80];

		addr_endpoint_format(&srv.cfg.receive.metrics, ep, sizeof(ep));
		diag_info("metrics on http://%s/metrics (process %ld)", ep, (long)srv.metrics_pid);
	}
	fflush(stderr);
	if (drop) {
		char kl[160];
		size_t o = 0;

		kl[0] = '\0';
		for (unsigned i = 0; i < tls_keyproc_count() && o < sizeof(kl); i++) {
			int w = snprintf(kl + o, sizeof(kl) - o, "%s%d", i ? ", " : "",
			    tls_keyproc_pid_of(i));

			if (w < 0)
				break;
			o += (size_t)w;
		}
		diag_info("workers run as %s (uid %u); private keys only in the key process%s %s",
		    user.name, (unsigned)user.uid, tls_keyproc_count() > 1 ? "es" : "", kl);
	}
	if (nworkers == 1 && !drop) {
		(void)worker_run(&srv, queue);
		metrics_child_stop(srv.metrics_pid);
		smtpd_limits_free(srv.limits);
		config_free(&srv.cfg);
		diag_info("stopped");
		return 0;
	}
	/* each worker takes its slot's listening sockets; the parent only
	 * supervises (the signals stay blocked: it takes them with sigwait) */
	sv.srv = &srv;
	sv.user = drop ? &user : NULL;
	sv.queue = queue;
	sv.n = nworkers;
	sv.pids = calloc(nworkers, sizeof(*sv.pids));
	sv.restarts = calloc(nworkers, sizeof(*sv.restarts));
	sv.window = calloc(nworkers, sizeof(*sv.window));
	if (sv.pids == NULL || sv.restarts == NULL || sv.window == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "out of memory");
	for (unsigned i = 0; i < nworkers; i++) {
		sv.window[i] = time(NULL);
		if (spawn(&sv, i) < 0) {
			/* no worker for the slots left: nor sockets */
			for (unsigned k = i; k < nworkers; k++)
				smtpd_listen_close_set(&srv, k);
			break;
		}
	}
	/* the parent keeps every slot's sockets (never accepting on them) for
	 * the workers it may have to start again: what the kernel queued on a
	 * dead worker's socket waits for its replacement, not reset; closed
	 * at SIGTERM, and a slot's when it is given up */
	ch = supervise(&sv);
	metrics_child_stop(srv.metrics_pid);
	supervisor_free(&sv);
	smtpd_limits_free(srv.limits);
	smtpd_listen_close(&srv);
	tls_creds_free(srv.creds);
	tls_trust_free(srv.trust);
	tls_keyproc_stop();
	config_free(&srv.cfg);
	diag_info("stopped");
	return ch;
}
