/* tls_keyproc.c: the supervisor's side of the key process (DESIGN.md
 * 13.4; the three parts and the frames are described in tls_keyproc.h).
 * Owns starting it (fork, then nothing but the control socket, privileges
 * dropped), the control messages (reading each key file and handing its
 * bytes over, wiped; the commit), a socketpair per worker, a worker's
 * hand-over of its end (tls_keyproc_child), reaping and stopping it, and
 * making the default certificate in a child that exits. The key process
 * itself is tls_keyproc_serve.c; a worker's external keys,
 * tls_keyproc_ext.c. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/privdrop.h"
#include "tls/tls_int.h"
#include "tls/tls_keyproc.h"

#include <gnutls/crypto.h>

/* --- this process's role: the supervisor's view --- */
static bool	kp_on;			/* a key process serves this program */
static pid_t	kp_pid = -1;		/* the supervisor's view */
static int	kp_ctl = -1;		/* the supervisor's end of the control socket */

bool
tls_keyproc_active(void)
{
	return kp_on;
}

int
tls_keyproc_pid(void)
{
	return (int)kp_pid;
}

/* does the priority string enable RSA key exchange (then, and only then,
 * the key process decrypts)? */
static bool
prio_has_rsa_kx(const char *priority)
{
	gnutls_priority_t p;
	const unsigned *list;
	int n;
	bool yes = false;

	if (gnutls_priority_init(&p, priority, NULL) < 0)
		return false;
	n = gnutls_priority_kx_list(p, &list);
	for (int i = 0; i < n; i++)
		if (list[i] == GNUTLS_KX_RSA)
			yes = true;
	gnutls_priority_deinit(p);
	return yes;
}

int
tls_keyproc_start(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err)
{
	bool decrypt = prio_has_rsa_kx(cfg->tls_priority);
	int sv[2];
	pid_t p;

	/* started again after it died: the old control socket goes */
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		dsmtp_err_set(err, "key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if ((p = fork()) < 0) {
		dsmtp_err_set(err, "key process: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (p == 0) {
		struct dsmtp_err e2 = { "" };
		sigset_t all;

		/* nothing but the control socket and stderr: no listener,
		 * no spool, no log */
		close(sv[0]);
		if (dup2(sv[1], 3) < 0)
			_exit(EX_DSMTP_OSERR);
		if (sv[1] != 3)
			close(sv[1]);
		for (int fd = 4; fd < 65536; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				close(fd);
		{
			int nfd = open("/dev/null", O_RDWR);

			if (nfd < 0 || dup2(nfd, 0) < 0 || dup2(nfd, 1) < 0)
				_exit(EX_DSMTP_OSERR);
			if (nfd > 3)
				close(nfd);
		}
		sigemptyset(&all);
		sigaddset(&all, SIGHUP);
		sigaddset(&all, SIGUSR1);
		sigaddset(&all, SIGUSR2);
		sigaddset(&all, SIGINT);
		sigprocmask(SIG_BLOCK, &all, NULL);
		sigemptyset(&all);
		sigaddset(&all, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGTERM, SIG_DFL);
		(void)prctl(PR_SET_NAME, "dsmtp-keys", 0, 0, 0);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || (u && privdrop_to(u, &e2) < 0)) {
			diag_warnx("key process: %s", e2.msg[0] ? e2.msg : strerror(errno));
			_exit(EX_DSMTP_OSERR);
		}
		tls_keyproc_serve(3, decrypt);
	}
	close(sv[1]);
	kp_ctl = sv[0];
	kp_pid = p;
	kp_on = true;
	return 0;
}

/* the supervisor: one control message and its answer */
static int
ctl_call(void *msg, size_t len, int passfd, struct dsmtp_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { msg, len };
	struct msghdr mh = { 0 };
	struct pollfd pfd = { kp_ctl, POLLIN, 0 };
	char ans[256];
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (passfd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	if (kp_ctl < 0 || sendmsg(kp_ctl, &mh, MSG_NOSIGNAL) != (ssize_t)len) {
		dsmtp_err_set(err, "key process: cannot reach it: %s", strerror(errno));
		return -1;
	}
	/* it answers at once; a long wait means it is stuck or gone */
	if (poll(&pfd, 1, 10 * KP_TIMEOUT_MS) <= 0 ||
	    (n = recv(kp_ctl, ans, sizeof(ans) - 1, 0)) <= 0) {
		dsmtp_err_set(err, "key process: no answer");
		return -1;
	}
	ans[n] = '\0';
	if (ans[0] != 0) {
		dsmtp_err_set(err, "key process: %s", n > 1 ? ans + 1 : "refused");
		return -1;
	}
	return 0;
}

/* read one key file and hand its bytes over; the copy is wiped */
static int
send_key_file(const char *path, struct dsmtp_err *err)
{
	unsigned char *buf;
	struct stat sb;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		dsmtp_err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > KP_KEYFILE_MAX) {
		dsmtp_err_set(err, "%s: not a key file of at most %d bytes", path, KP_KEYFILE_MAX);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		dsmtp_err_set(err, "out of memory");
		close(fd);
		return -1;
	}
	buf[0] = 'K';
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + 1 + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)sb.st_size) {
		dsmtp_err_set(err, "%s: short read", path);
		rc = -1;
	} else if ((rc = ctl_call(buf, got + 1, -1, err)) < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		dsmtp_err_set(err, "%s: %s", path, msg);
	}
	gnutls_memset(buf, 0, got + 1);
	free(buf);
	return rc;
}

int
tls_keyproc_load(const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	struct tls_store st;
	unsigned sent = 0;

	if (!kp_on)
		return 0;
	if (cfg->ncertificates > 0) {
		for (size_t i = 0; i < cfg->ncertificates; i++)
			if (send_key_file(cfg->certificates[i].key, err) < 0)
				return -1;
	} else if (tls_store_open(cfg, &st, err) == 0) {
		for (size_t i = 0; i < st.ncerts; i++) {
			struct dsmtp_err e2;

			if (!st.certs[i].enabled || !st.certs[i].has_key)
				continue;
			if (send_key_file(st.certs[i].key_path, &e2) < 0)
				diag_warnx("certificate %s: %s (not usable)", st.certs[i].sha1, e2.msg);
			else
				sent++;
		}
		tls_store_close(&st);
	} else {
		return -1;
	}
	{
		char commit[1] = { 'C' };

		return ctl_call(commit, 1, -1, err);
	}
}

int
tls_keyproc_client_new(struct dsmtp_err *err)
{
	char add[1] = { 'S' };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		dsmtp_err_set(err, "key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if (ctl_call(add, 1, sv[1], err) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

void
tls_keyproc_child(int fd)
{
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	kp_pid = -1;
	tls_keyproc_ext_attach(fd);
}

void
tls_keyproc_reaped(void)
{
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	kp_pid = -1;
}

void
tls_keyproc_stop(void)
{
	int status;

	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	if (kp_pid > 0) {
		/* it ends when its control socket closes */
		while (waitpid(kp_pid, &status, 0) < 0 && errno == EINTR)
			;
		kp_pid = -1;
	}
}

int
tls_keyproc_ensure_default(const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	pid_t p;
	int status;

	/* a key made here would leave traces in memory every worker forked
	 * from us inherits: make it in a child that exits */
	if ((p = fork()) < 0) {
		dsmtp_err_set(err, "fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0) {
		struct dsmtp_err e2 = { "" };
		int rc = tls_store_ensure_default(cfg, &e2);

		if (rc < 0)
			diag_warnx("%s", e2.msg);
		_exit(rc < 0 ? 2 : rc);
	}
	while (waitpid(p, &status, 0) < 0)
		if (errno != EINTR) {
			dsmtp_err_set(err, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		dsmtp_err_set(err, "could not make the default certificate (above)");
		return -1;
	}
	return WEXITSTATUS(status);
}
