/* privsep.c: dsmtpc started as root (DESIGN.md 13.4). The commands that
 * speak SMTP (run, once, send) split in three: a root supervisor that only
 * reads the key files (at start and SIGHUP) and passes signals on, the key
 * process that alone holds the private keys, and the delivering process,
 * which runs as `user` with no way back and signs its client certificate's
 * handshakes through the key process. The other commands (queue, flush,
 * memory, tlsrpt-send) hold no key: they become `user` as soon as their
 * configuration is read, so that whatever they write in state_dir is the
 * user's, never root's. Nothing here speaks SMTP. */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/diag.h"
#include "common/privdrop.h"
#include "smtpc/smtpc.h"
#include "tls/tls.h"

/* the supervisor's loop: signals to the daemon, the daemon's status back */
static int
supervise(const struct dsmtp_config *cfg, pid_t daemon)
{
	struct dsmtp_err err = { "" };
	sigset_t set;
	int sig, status, rc = -1;
	bool failed = false;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	while (rc < 0) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			pid_t p;

			while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
				if (p == daemon)
					rc = WIFEXITED(status) ? WEXITSTATUS(status) : EX_DSMTP_SOFTWARE;
				else if (tls_keyproc_is(p)) {
					/* the daemon cannot sign any more: it stops, and
					 * we exit 70 (a unit's Restart=on-failure starts
					 * all three again) */
					diag_warnx("the key process ended (status %d): stopping", status);
					tls_keyproc_reaped(p);
					kill(daemon, SIGTERM);
					failed = true;
				}
			}
			continue;
		}
		/* the key process has the new keys before the daemon asks */
		if (sig == SIGHUP && tls_keyproc_load(cfg, &err) < 0)
			diag_warnx("SIGHUP: the key process keeps the old keys: %s", err.msg);
		kill(daemon, sig);
	}
	return failed && rc == 0 ? EX_DSMTP_SOFTWARE : rc;
}

/* as root: the user, and state_dir made its own; 0, or -1 (*rc set) */
static int
prepare(const struct dsmtp_config *cfg, struct privdrop_user *user, int *rc)
{
	struct dsmtp_err err = { "" };

	if (privdrop_lookup(cfg->user, user, &err) < 0) {
		diag_warnx("%s", err.msg);
		*rc = EX_DSMTP_CONFIG;
		return -1;
	}
	if (privdrop_prepare_state(cfg, user, &err) < 0) {
		diag_warnx("state_dir: %s", err.msg);
		*rc = EX_DSMTP_CANTCREAT;
		return -1;
	}
	return 0;
}

void
smtpc_privsep_load(const char *config_path, struct dsmtp_config *cfg)
{
	struct privdrop_user user;
	struct dsmtp_err err = { "" };
	int rc = 0;

	config_load_or_exit(config_path, cfg);
	if (!privdrop_wanted())
		return;
	if (prepare(cfg, &user, &rc) < 0) {
		config_free(cfg);
		exit(rc);
	}
	if (privdrop_to(&user, &err) < 0) {
		diag_warnx("%s", err.msg);
		config_free(cfg);
		exit(EX_DSMTP_OSERR);
	}
}

int
smtpc_privsep(const struct dsmtp_config *cfg, int *rc)
{
	struct privdrop_user user;
	struct dsmtp_err err = { "" };
	sigset_t set, old;
	pid_t p;
	int fd;

	if (!privdrop_wanted())
		return 0;
	if (prepare(cfg, &user, rc) < 0)
		return -1;
	/* the signals the supervisor waits for stay blocked from here */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (tls_keyproc_start(cfg, &user, &err) < 0) {
		diag_warnx("%s", err.msg);
		*rc = EX_DSMTP_OSERR;
		return -1;
	}
	if (tls_keyproc_load(cfg, &err) < 0 || (fd = tls_keyproc_client_new(0, &err)) < 0) {
		diag_warnx("TLS: %s", err.msg);
		tls_keyproc_stop();
		*rc = EX_DSMTP_CONFIG;
		return -1;
	}
	if ((p = fork()) < 0) {
		diag_warn("fork");
		close(fd);
		tls_keyproc_stop();
		*rc = EX_DSMTP_OSERR;
		return -1;
	}
	if (p == 0) {
		pid_t parent = getppid();

		tls_keyproc_child(fd);
		if (privdrop_to(&user, &err) < 0)
			diag_fatalx(EX_DSMTP_OSERR, "%s", err.msg);
		/* the supervisor killed (kill -9 of dsmtpc): this goes with it,
		 * never a second deliverer beside a restarted one (set after
		 * the drop, which clears it) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
			_exit(EX_DSMTP_SOFTWARE);
		/* the daemon unblocks what it watches itself */
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	close(fd);
	diag_info("delivery runs as %s (uid %u, pid %ld); private keys only in the key process %d",
	    user.name, (unsigned)user.uid, (long)p, tls_keyproc_pid());
	*rc = supervise(cfg, p);
	tls_keyproc_stop();
	return 1;
}
