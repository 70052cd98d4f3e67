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
/* One key process per worker slot (tls_keyproc_set_count): a key process
 * signs one request at a time, and with RSA-2048 one of them was the
 * whole server's limit (98% of a core while the workers idled). Each
 * worker talks to the one of its slot; all hold the same keys. */
#define KP_MAX		16
static bool	kp_on;			/* key processes serve this program */
static unsigned	kp_n = 1;		/* how many */
static struct {
	pid_t	pid;			/* 0: not running */
	int	ctl;			/* the supervisor's end of its control socket + 1
					 * (0: none), so that the zeroed table is empty */
} kps[KP_MAX];

#define KP_CTL(i)	(kps[i].ctl - 1)

bool
tls_keyproc_active(void)
{
	return kp_on;
}

int
tls_keyproc_pid(void)
{
	return kps[0].pid > 0 ? (int)kps[0].pid : -1;
}

void
tls_keyproc_set_count(unsigned n)
{
	kp_n = n < 1 ? 1 : n > KP_MAX ? KP_MAX : n;
}

unsigned
tls_keyproc_count(void)
{
	return kp_n;
}

int
tls_keyproc_pid_of(unsigned i)
{
	return i < kp_n && kps[i].pid > 0 ? (int)kps[i].pid : -1;
}

bool
tls_keyproc_is(pid_t p)
{
	for (unsigned i = 0; i < kp_n; i++)
		if (p > 0 && kps[i].pid == p)
			return true;
	return false;
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

/* fork key process i */
static int
start_one(unsigned i, bool decrypt, const struct privdrop_user *u, struct dsmtp_err *err)
{
	int sv[2];
	pid_t p;

	/* started again after it died: the old control socket goes */
	if (kps[i].ctl > 0)
		close(KP_CTL(i));
	kps[i].ctl = 0;

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
	kps[i].ctl = sv[0] + 1;
	kps[i].pid = p;
	return 0;
}

int
tls_keyproc_start(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err)
{
	bool decrypt = prio_has_rsa_kx(cfg->tls_priority);

	/* every one not running: all at the first start, the dead one later */
	for (unsigned i = 0; i < kp_n; i++)
		if (kps[i].pid <= 0 && start_one(i, decrypt, u, err) < 0)
			return -1;
	kp_on = true;
	return 0;
}

/* the supervisor: one control message to key process i and its answer */
static int
ctl_call(unsigned i, void *msg, size_t len, int passfd, struct dsmtp_err *err)
{
	int kp_ctl = KP_CTL(i);

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
	int fd, rc = 0;

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
	} else {
		/* the same bytes to every key process */
		for (unsigned i = 0; i < kp_n && rc == 0; i++)
			rc = ctl_call(i, buf, got + 1, -1, err);
		if (rc < 0) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			dsmtp_err_set(err, "%s: %s", path, msg);
		}
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
	for (unsigned i = 0; i < kp_n; i++) {
		char commit[1] = { 'C' };

		if (ctl_call(i, commit, 1, -1, err) < 0)
			return -1;
	}
	return 0;
}

int
tls_keyproc_client_new(unsigned slot, struct dsmtp_err *err)
{
	char add[1] = { 'S' };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		dsmtp_err_set(err, "key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if (ctl_call(slot % kp_n, add, 1, sv[1], err) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

/* every control socket closed (a worker must not hold them) */
static void
close_ctls(void)
{
	for (unsigned i = 0; i < KP_MAX; i++) {
		if (kps[i].ctl > 0)
			close(KP_CTL(i));
		kps[i].ctl = 0;
	}
}

void
tls_keyproc_child(int fd)
{
	close_ctls();
	for (unsigned i = 0; i < KP_MAX; i++)
		kps[i].pid = 0;
	tls_keyproc_ext_attach(fd);
}

void
tls_keyproc_reaped(pid_t p)
{
	for (unsigned i = 0; i < kp_n; i++) {
		if (p <= 0 || kps[i].pid != p)
			continue;
		if (kps[i].ctl > 0)
			close(KP_CTL(i));
		kps[i].ctl = 0;
		kps[i].pid = 0;
	}
}

void
tls_keyproc_stop(void)
{
	int status;

	/* each ends when its control socket closes */
	close_ctls();
	for (unsigned i = 0; i < KP_MAX; i++) {
		if (kps[i].pid > 0)
			while (waitpid(kps[i].pid, &status, 0) < 0 && errno == EINTR)
				;
		kps[i].pid = 0;
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
