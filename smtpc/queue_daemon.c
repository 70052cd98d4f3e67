/* queue_daemon.c: the life of `dsmtpc run` and `dsmtpc once`: options,
 * the start (configuration policy checks, spool, delivery context,
 * metrics process, the first scan), inotify on queue/ (IN_MOVED_TO of
 * ID.e: no polling; IN_CLOSE_WRITE of ID.d: a busy lease let go), SIGHUP
 * (certificates, trust and logs.peers reloaded), SIGTERM and SIGINT (a graceful stop: outcomes written, final replies
 * awaited), and the end of a `once` run. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "metrics/metrics.h"
#include "smtpc/iothread.h"
#include "smtpc/queue_int.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

/* a session ended: once may be done */
static void
ctx_idle(struct smtpc *ctx)
{
	smtpc_q_maybe_done((struct queue *)ctx->arg);
}

/* ---- events ---- */

/* the timer: start what is due */
static void
wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue *q = w->data;

	(void)loop;
	(void)revents;
	smtpc_q_dispatch(q);
	smtpc_q_maybe_done(q);
}

/* inotify: ID.e renamed into queue/ is a new or changed message */
static void
ino_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct queue *q = w->data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)loop;
	(void)revents;
	while ((n = read(q->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			size_t l = e->len ? strlen(e->name) : 0;

			if (l == SPOOL_ID_LEN + 2 && strcmp(e->name + SPOOL_ID_LEN, ".e") == 0) {
				char id[SPOOL_ID_SIZE];

				memcpy(id, e->name, SPOOL_ID_LEN);
				id[SPOOL_ID_LEN] = '\0';
				smtpc_q_learn(q, id);
			}
			/* ID.d closed by its writer: the lease we found busy is free */
			if (l == SPOOL_ID_LEN + 2 && strcmp(e->name + SPOOL_ID_LEN, ".d") == 0)
				(void)smtpc_sched_lease_freed(&q->sched, e->name);
			if (e->mask & IN_Q_OVERFLOW)
				smtpc_q_scan(q);
			p += sizeof(*e) + e->len;
		}
	}
	smtpc_q_dispatch(q);
}

/* DESIGN.md 8 and issue 6: dsmtpc, like dsmtpd, refuses to run a
 * configuration whose policy checks fail, our certificate's coverage of
 * every domain-secure namespace included */
static int
start_checks(struct queue *q)
{
	struct policy_check r = { policy_emit_diag, NULL, 0, 0 };
	const struct tls_cert_facts *ours = tls_creds_local(q->ctx.creds, NULL);

	policy_check_config(&r, &q->cfg);
	if (ours)
		policy_check_certificate(&r, &q->cfg, ours, time(NULL));
	else if (config_domain_secure_used(&q->cfg)) {
		diag_warnx("policy: error: domain security is configured but we have no certificate "
		    "to present (dsmtp-cert new, or certificates: in the configuration)");
		r.errors++;
	}
	if (r.errors)
		diag_warnx("the configuration has %u policy error(s); not starting", r.errors);
	return r.errors ? -1 : 0;
}

/* SIGHUP: our certificate anew, checked as at start. Sessions in flight
 * hold references to the credentials they started with; dropping ours
 * frees the old set when the last of them ends (issue 14: keeping every
 * replaced set grew an idle dsmtpc by 16 MB over 490 reloads). */
static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queue *q = w->data;
	struct policy_check r = { policy_emit_diag, NULL, 0, 0 };
	struct dsmtp_err err = { "" };
	struct tls_creds *nc;
	const struct tls_cert_facts *ours;

	(void)loop;
	(void)revents;
	/* logs.peers: connections from now on take the new levels */
	if (plog_peers_reload(&q->cfg, &q->ctx.plog, PLOG_SEND, &err) < 0)
		diag_warnx("SIGHUP: keeping the old logs.peers: %s", err.msg);
	nc = tls_creds_client(&q->cfg, q->ctx.trust, q->cfg.send.client_cert, &err);
	if (nc == NULL) {
		diag_warnx("SIGHUP: keeping the old certificate: %s", err.msg);
		return;
	}
	if ((ours = tls_creds_local(nc, NULL)) != NULL)
		policy_check_certificate(&r, &q->cfg, ours, time(NULL));
	if (r.errors) {
		diag_warnx("SIGHUP: keeping the old certificate (%u policy error(s))", r.errors);
		tls_creds_free(nc);
		return;
	}
	tls_creds_free(q->ctx.creds);
	q->ctx.creds = nc;
	smtpc_metrics_certs(&q->cfg, q->ctx.creds);
	diag_info("SIGHUP: certificate reloaded%s%s", ours ? ": " : "", ours ? ours->subject : "");
}

/* SIGTERM/SIGINT: abandon sessions, write what is known, stop */
static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queue *q = w->data;

	(void)revents;
	if (q->stopping)
		return;
	diag_info("%s: stopping (sessions that sent a message wait for its reply, the "
	    "others are abandoned; nothing not delivered is marked delivered)",
	    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	q->stopping = true;
	ev_timer_stop(loop, &q->wake);
	if (q->ino_fd >= 0)
		ev_io_stop(loop, &q->ino);
	smtpc_ctx_abort(&q->ctx, true);
	/* the loop ends when the last message in flight is written */
	smtpc_q_maybe_done(q);
}

/* is anything still waiting in the spool? */
static bool
anything_pending(struct queue *q)
{
	struct spool_envelope *envs;
	struct dsmtp_err err;
	size_t n;
	bool pending = false;

	if (spool_list(q->sp, &envs, &n, &err) < 0)
		return true;
	for (size_t i = 0; i < n && !pending; i++)
		for (size_t r = 0; r < envs[i].nrcpts; r++)
			if (envs[i].rcpts[r].state == SPOOL_RCPT_PENDING ||
			    envs[i].rcpts[r].state == SPOOL_RCPT_FAILED)
				pending = true;
	spool_list_free(envs, n);
	return pending;
}

/* run and once: open everything, deliver, close everything */
static int
queue_main(int argc, char **argv, const char *config_path, bool once)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct queue *q;
	struct dsmtp_err err = { "" };
	char qdir[4096];
	sigset_t sigs;
	int ch, rc = 0, ps;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("Usage: dsmtpc [-c FILE] %s\n%s\n", once ? "once" : "run",
			    once ? "Deliver everything due now and exit (0 done, 75 something is "
			    "still deferred)." : "Watch the spool and deliver until SIGTERM.");
			return 0;
		}
		return EX_DSMTP_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", diag_progname(), argv[optind]);
		return EX_DSMTP_USAGE;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return EX_DSMTP_OSERR;
	q->ino_fd = -1;
	q->once = once;
	config_load_or_exit(config_path, &q->cfg);
	signal(SIGPIPE, SIG_IGN);
	/* a SIGHUP or SIGTERM before its watcher is up waits for it instead
	 * of killing us (a reload hook racing the start); threads started
	 * from here on (the spool's, the resolver's) keep them blocked */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (config_state_path(&q->cfg, "queue", qdir, sizeof(qdir), &err) < 0) {
		diag_warnx("state_dir: %s", err.msg);
		rc = EX_DSMTP_CANTCREAT;
		goto out_cfg;
	}
	/* DESIGN.md 13.4: started as root, this process only supervises and
	 * a child delivers as `user` (smtpc/privsep.c) */
	if ((ps = smtpc_privsep(&q->cfg, &rc)) != 0) {
		once = ps > 0 || once;	/* no second "stopped" */
		goto out_cfg;
	}
	/* the metrics process next (forked by the delivering process, so it
	 * runs as `user` too), while this one has no thread yet */
	if (!once && (q->metrics_pid = smtpc_metrics_start(&q->cfg, qdir, &err)) < 0) {
		diag_warnx("%s", err.msg);
		rc = EX_DSMTP_UNAVAILABLE;
		goto out_cfg;
	}
	q->loop = ev_loop_new(EVFLAG_AUTO);
	if (q->loop == NULL) {
		rc = EX_DSMTP_OSERR;
		goto out_cfg;
	}
	/* with the loop: updates and removals are fsync'd on the spool's
	 * worker thread, in groups, never on the loop */
	if ((q->sp = spool_open(qdir, q->loop, &err)) == NULL) {
		diag_warnx("spool %s: %s", qdir, err.msg);
		rc = EX_DSMTP_CANTCREAT;
		goto out_loop;
	}
	if (smtpc_ctx_init(&q->ctx, q->loop, &q->cfg, true, &err) < 0) {
		diag_warnx("%s", err.msg);
		rc = EX_DSMTP_CONFIG;
		goto out_spool;
	}
	/* message reads and maildir deliveries: never on the loop */
	if ((q->ctx.io = smtpc_io_new(q->loop, &err)) == NULL) {
		diag_warnx("%s", err.msg);
		smtpc_ctx_free(&q->ctx);
		rc = EX_DSMTP_OSERR;
		goto out_spool;
	}
	/* message reads and maildir deliveries: never on the loop */
	if ((q->ctx.io = smtpc_io_new(q->loop, &err)) == NULL) {
		diag_warnx("%s", err.msg);
		smtpc_ctx_free(&q->ctx);
		rc = EX_DSMTP_OSERR;
		goto out_spool;
	}
	smtpc_metrics_certs(&q->cfg, q->ctx.creds);
	if (start_checks(q) < 0) {
		smtpc_io_free(q->ctx.io);
		smtpc_ctx_free(&q->ctx);
		rc = EX_DSMTP_CONFIG;
		goto out_spool;
	}
	q->ctx.idle = ctx_idle;
	q->ctx.arg = q;
	q->max_leases = smtpc_q_inflight_limit(q->ctx.max_parallel);
	/* a finished session waits a moment for the next message to its
	 * destination, as Postfix's connection cache does; once ends the idle
	 * ones when nothing is left */
	q->ctx.idle_keep = (double)q->cfg.send.connection_cache_time;
	ev_init(&q->wake, wake_cb);
	q->wake.data = q;
	ev_signal_init(&q->sighup, hup_cb, SIGHUP);
	q->sighup.data = q;
	ev_signal_start(q->loop, &q->sighup);
	ev_signal_init(&q->sigterm, stop_cb, SIGTERM);
	ev_signal_init(&q->sigint, stop_cb, SIGINT);
	q->sigterm.data = q->sigint.data = q;
	ev_signal_start(q->loop, &q->sigterm);
	ev_signal_start(q->loop, &q->sigint);
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);
	if (!once) {
		/* before the scan: a message committed in between is not missed */
		q->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (q->ino_fd < 0 || inotify_add_watch(q->ino_fd, qdir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
			diag_warn("inotify on %s", qdir);
			rc = EX_DSMTP_OSERR;
			goto out_ctx;
		}
		ev_io_init(&q->ino, ino_cb, q->ino_fd, EV_READ);
		q->ino.data = q;
		ev_io_start(q->loop, &q->ino);
		diag_info("%s: delivering from %s (max_parallel %u)", PACKAGE_STRING, qdir,
		    q->ctx.max_parallel);
		smtpc_tlsrpt_daemon_start(q->loop, &q->cfg, config_path);	/* RFC 8460 */
	}
	q->start = smtpc_q_now();
	if (smtpc_sched_init(&q->sched, once, q->start) < 0) {
		diag_warnx("out of memory");
		rc = EX_DSMTP_OSERR;
		goto out_ctx;
	}
	smtpc_q_scan(q);
	smtpc_q_dispatch(q);
	smtpc_q_maybe_done(q);
	if (!q->done)
		ev_run(q->loop, 0);
	if (q->stopping) {
		/* nothing may still hold a job of a message finished here:
		 * the sessions go, then what the I/O threads hold comes back
		 * (reads of sessions gone, starts, maildir deliveries) */
		smtpc_ctx_abort(&q->ctx, false);
		while (smtpc_io_pending(q->ctx.io) > 0)
			ev_run(q->loop, EVRUN_ONCE);
		while (q->inflight)
			smtpc_q_msg_finish(q->inflight);
	}
	/* outcomes still being written keep their lease until written:
	 * wait for every one (nothing lost, nothing sent twice) */
	while (q->ncommitting > 0 || smtpc_io_pending(q->ctx.io) > 0)
		ev_run(q->loop, EVRUN_ONCE);
	if (once)
		rc = anything_pending(q) ? EX_DSMTP_TEMPFAIL : 0;
out_ctx:
	smtpc_tlsrpt_daemon_stop(q->loop);
	ev_signal_stop(q->loop, &q->sigterm);
	ev_signal_stop(q->loop, &q->sigint);
	ev_signal_stop(q->loop, &q->sighup);
	ev_timer_stop(q->loop, &q->wake);
	if (q->ino_fd >= 0) {
		ev_io_stop(q->loop, &q->ino);
		close(q->ino_fd);
	}
	smtpc_io_free(q->ctx.io);
	smtpc_ctx_free(&q->ctx);
out_spool:
	spool_close(q->sp);
out_loop:
	ev_loop_destroy(q->loop);
out_cfg:
	metrics_child_stop(q->metrics_pid);
	config_free(&q->cfg);
	smtpc_sched_free(&q->sched);
	free(q);
	if (!once && rc == 0)
		diag_info("stopped");
	return rc;
}

int
smtpc_cmd_run(int argc, char **argv, const char *config_path)
{
	return queue_main(argc, argv, config_path, false);
}

int
smtpc_cmd_once(int argc, char **argv, const char *config_path)
{
	return queue_main(argc, argv, config_path, true);
}
