/* spool.c: the durable queue's directory (DESIGN.md section 10): open and
 * crash recovery, leases, reading and quarantine. Owns queue/ and its
 * layout; the record format is in spool_format.c, the group commit in
 * spool_commit.c, changes to queued messages (update, removal, flush) in
 * spool_update.c, and the syscall wrappers with the test faults, tmp/
 * files and ids in spool_io.c. Knows nothing of SMTP or TLS. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/spool_int.h"

static void	quarantine(struct spool *sp, const char *id, const char *why);

/* open a spool file for reading: regular files only, so a FIFO or a
 * directory planted under a message's name can neither hang a reader nor
 * be taken for data (EBADMSG: the caller treats it as damage) */
static int
open_regular(int dfd, const char *name)
{
	struct stat st;
	int fd, flags, e;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EBADMSG;
		goto fail;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* --- open, recovery, close --- */

static int
open_subdir(int dirfd, const char *name, const char *dir, struct dsmtp_err *err)
{
	int fd;

	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST) {
		dsmtp_err_set(err, "%s/%s: cannot create: %s", dir, name, strerror(errno));
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		dsmtp_err_set(err, "%s/%s: cannot open: %s", dir, name, strerror(errno));
	return fd;
}

/* unlink dfd/name if no live process holds its lock; true if removed.
 * absent: a name that must not exist, checked only once we hold the lock
 * (a committer renames ID.e into place before it lets go of ID.d, so an
 * ID.e seen missing before the lock proves nothing) */
static bool
remove_if_unlocked(int dfd, const char *name, const char *absent)
{
	struct stat a, b;
	bool removed = false;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	/* the name must still be this inode: never unlink a file that
	 * replaced the one we locked */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
	    fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev &&
	    (absent == NULL || faccessat(dfd, absent, F_OK, AT_SYMLINK_NOFOLLOW) < 0) &&
	    unlinkat(dfd, name, 0) == 0)
		removed = true;
	close(fd);
	return removed;
}

/* Crash recovery. tmp/: files of writers that died before their rename.
 * queue/: ID.d without ID.e, left by a crash between the two renames of a
 * commit (never acknowledged) or of a removal (already delivered). Both
 * are removed only when no live process holds their lock. */
static void
recover(struct spool *sp)
{
	size_t ntmp = 0, norphan = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = dup(sp->tmpfd)) >= 0 && (d = fdopendir(fd)) != NULL) {
		rewinddir(d);
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && remove_if_unlocked(sp->tmpfd, de->d_name, NULL))
				ntmp++;
		closedir(d);
	} else if (fd >= 0)
		close(fd);
	if ((fd = dup(sp->dirfd)) >= 0 && (d = fdopendir(fd)) != NULL) {
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			char ename[SPOOL_ID_SIZE + 2];
			size_t l = strlen(de->d_name);

			if (l != SPOOL_ID_LEN + 2 || strcmp(de->d_name + SPOOL_ID_LEN, ".d") != 0)
				continue;
			snprintf(ename, sizeof(ename), "%.*s.e", SPOOL_ID_LEN, de->d_name);
			if (faccessat(sp->dirfd, ename, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			/* locked = a commit or removal in progress elsewhere */
			if (remove_if_unlocked(sp->dirfd, de->d_name, ename))
				norphan++;
		}
		closedir(d);
	} else if (fd >= 0)
		close(fd);
	if (ntmp || norphan)
		diag_info("%s: removed %zu unfinished temporary file(s) and %zu data file(s) "
		    "without an envelope", sp->dir, ntmp, norphan);
	if (norphan && spool_io_dirfsync(sp->dirfd) < 0)
		diag_warn("%s: fsync", sp->dir);
}

/* open queue/, its tmp/ and quarantine/, recover, start the worker */
struct spool *
spool_open(const char *queue_dir, struct ev_loop *loop, struct dsmtp_err *err)
{
	struct spool *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL || (sp->dir = strdup(queue_dir)) == NULL) {
		free(sp);
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	sp->dirfd = sp->tmpfd = sp->quarfd = -1;
	if (pthread_mutex_init(&sp->lease_mu, NULL) != 0) {
		free(sp->dir);
		free(sp);
		dsmtp_err_set(err, "pthread_mutex_init failed");
		return NULL;
	}
	sp->loop = loop;
	sp->group_max = SPOOL_GROUP_MAX;
	sp->dirfd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		dsmtp_err_set(err, "%s: cannot open: %s", queue_dir, strerror(errno));
		goto fail;
	}
	if ((sp->tmpfd = open_subdir(sp->dirfd, "tmp", queue_dir, err)) < 0 ||
	    (sp->quarfd = open_subdir(sp->dirfd, "quarantine", queue_dir, err)) < 0)
		goto fail;
	recover(sp);
	if (loop != NULL && spool_commit_start(sp, err) < 0)
		goto fail;
	return sp;
fail:
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->tmpfd >= 0)
		close(sp->tmpfd);
	if (sp->quarfd >= 0)
		close(sp->quarfd);
	pthread_mutex_destroy(&sp->lease_mu);
	free(sp->dir);
	free(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_commit_stop(sp);
	spool_wbufs_free(sp);
	for (size_t b = 0; b < SPOOL_LEASE_BUCKETS; b++)
		while (sp->leases[b] != NULL)
			spool_release(sp, sp->leases[b]->id);
	close(sp->dirfd);
	close(sp->tmpfd);
	close(sp->quarfd);
	pthread_mutex_destroy(&sp->lease_mu);
	free(sp->dir);
	free(sp);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

/* --- leases --- */

/* the lease list is shared by the loop and dsmtpc's I/O threads, which
 * take leases to load messages off the loop (lease_mu); a lease is only
 * ever released by the thread that holds its message */
/* the bucket of an id: FNV-1a over its characters */
static struct spool_lease **
lease_bucket(struct spool *sp, const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return &sp->leases[h % SPOOL_LEASE_BUCKETS];
}

struct spool_lease *
spool_lease_find(struct spool *sp, const char *id)
{
	struct spool_lease *l;

	pthread_mutex_lock(&sp->lease_mu);
	for (l = *lease_bucket(sp, id); l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			break;
	pthread_mutex_unlock(&sp->lease_mu);
	return l;
}

/* flock ID.d without waiting; then make sure it is still a message */
int
spool_lease(struct spool *sp, const char *id, struct dsmtp_err *err)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2];
	struct spool_lease *l;
	struct stat st;
	int fd;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		dsmtp_err_set(err, "\"%s\" is not a message id", id);
		return -1;
	}
	if (spool_lease_find(sp, id) != NULL)
		return 0;
	snprintf(dname, sizeof(dname), "%s.d", id);
	snprintf(ename, sizeof(ename), "%s.e", id);
	fd = open_regular(sp->dirfd, dname);
	if (fd < 0) {
		dsmtp_err_set(err, "%s: %s", id,
		    errno == ENOENT ? "no such message" : strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			errno = EWOULDBLOCK;
			dsmtp_err_set(err, "%s: busy (another process holds its lease)", id);
			return 1;
		}
		errno = e;
		dsmtp_err_set(err, "%s: lock: %s", id, strerror(e));
		return -1;
	}
	/* locked, but removed meanwhile, or a data file whose envelope never
	 * arrived (the committer held the lock until its rename was done) */
	if (fstat(fd, &st) < 0 || st.st_nlink == 0 ||
	    faccessat(sp->dirfd, ename, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		close(fd);
		errno = ENOENT;
		dsmtp_err_set(err, "%s: no such message", id);
		return -1;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		errno = ENOMEM;
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->fd = fd;
	pthread_mutex_lock(&sp->lease_mu);
	l->next = *lease_bucket(sp, id);
	*lease_bucket(sp, id) = l;
	pthread_mutex_unlock(&sp->lease_mu);
	return 0;
}

void
spool_release(struct spool *sp, const char *id)
{
	struct spool_lease *l = NULL;

	pthread_mutex_lock(&sp->lease_mu);
	for (struct spool_lease **lp = lease_bucket(sp, id); *lp != NULL; lp = &(*lp)->next) {
		if (strcmp((*lp)->id, id) == 0) {
			l = *lp;
			*lp = l->next;
			break;
		}
	}
	pthread_mutex_unlock(&sp->lease_mu);
	if (l != NULL) {
		close(l->fd);
		free(l);
	}
}

/* --- quarantine --- */

/* Move a damaged message aside so nobody trips over it again (no crash
 * loop), keeping every byte for a human: ID.d first, so that a crash in
 * between leaves ID.e behind to be quarantined next time, never ID.d
 * alone (which recovery would delete). */
static void
quarantine(struct spool *sp, const char *id, const char *why)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2], wname[SPOOL_ID_SIZE + 4];
	bool held = spool_lease_find(sp, id) != NULL;
	int fd;

	snprintf(dname, sizeof(dname), "%s.d", id);
	snprintf(ename, sizeof(ename), "%s.e", id);
	snprintf(wname, sizeof(wname), "%s.why", id);
	/* never pull a message from under a process delivering it */
	if (!held && spool_lease(sp, id, NULL) == 1) {
		diag_warnx("%s/%s is damaged (%s) but busy; not quarantined", sp->dir, ename, why);
		return;
	}
	if (spool_io_rename(sp->dirfd, dname, sp->quarfd, dname, false) < 0 && errno != ENOENT) {
		diag_warn("%s/%s is damaged (%s); cannot move it to quarantine/", sp->dir,
		    ename, why);
		goto out;
	}
	if (spool_io_rename(sp->dirfd, ename, sp->quarfd, ename, false) < 0 && errno != ENOENT) {
		diag_warn("%s/%s is damaged (%s); cannot move it to quarantine/", sp->dir,
		    ename, why);
		goto out;
	}
	fd = openat(sp->quarfd, wname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		if (spool_io_write(fd, why, strlen(why)) < 0 || spool_io_write(fd, "\n", 1) < 0)
			diag_warn("%s/quarantine/%s", sp->dir, wname);
		close(fd);
	}
	if (spool_io_dirfsync(sp->quarfd) < 0 || spool_io_dirfsync(sp->dirfd) < 0)
		diag_warn("%s: fsync after quarantine", sp->dir);
	diag_warnx("%s: message %s moved to quarantine/: %s", sp->dir, id, why);
out:
	if (!held)
		spool_release(sp, id);
}

/* --- reading --- */

/* read all of fd (bounded) into a malloc'ed buffer */
static int
slurp_fd(int fd, char **out, size_t *outlen)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size > SPOOL_MAX_ENVELOPE) {
		errno = EFBIG;
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		return -1;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

/* a version 2 message file's trailer, checked against its size; returns
 * the data and envelope lengths, or -1 with why */
static int
read_trailer(int fd, uint64_t fsize, uint64_t *dlen, uint64_t *elen, char *why, size_t whylen)
{
	char t[SPOOL_TRAILER_LEN];

	if (fsize < SPOOL_TRAILER_LEN) {
		snprintf(why, whylen, "message file too short for its trailer (%" PRIu64 " bytes)",
		    fsize);
		return -1;
	}
	if (spool_io_pread(fd, t, sizeof(t), fsize - SPOOL_TRAILER_LEN) < 0) {
		snprintf(why, whylen, "cannot read the message file's trailer: %s",
		    strerror(errno));
		return -1;
	}
	if (spool_trailer_parse(t, dlen, elen) < 0) {
		snprintf(why, whylen, "message file has no valid trailer");
		return -1;
	}
	if (*dlen > fsize || *elen > fsize || *dlen + *elen != fsize - SPOOL_TRAILER_LEN) {
		snprintf(why, whylen, "message file has %" PRIu64 " bytes, its trailer says "
		    "%" PRIu64 " + %" PRIu64 " + %d", fsize, *dlen, *elen, SPOOL_TRAILER_LEN);
		return -1;
	}
	return 0;
}

/* The envelope, checked whole and against the layout of ID.d; damage is
 * quarantined (EBADMSG). ID.e is either ID.d itself (a second link: a
 * version 2 message never updated, whose envelope sits after its data)
 * or a file of its own (version 1, or an update of either). Which one is
 * decided by the inode, never by the bytes: the data of a message is the
 * peer's, and could look like anything. */
int
spool_load_env(struct spool *sp, const char *id, struct spool_envelope *env, uint32_t *crc,
    unsigned *version, struct dsmtp_err *err)
{
	char ename[SPOOL_ID_SIZE + 2], dname[SPOOL_ID_SIZE + 2], why[SPOOL_WHY_SIZE];
	struct stat est, dst;
	char *buf = NULL;
	size_t len;
	uint64_t dlen, elen;
	unsigned ver;
	int efd, dfd = -1;

	memset(env, 0, sizeof(*env));
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		dsmtp_err_set(err, "\"%s\" is not a message id", id);
		return -1;
	}
	snprintf(ename, sizeof(ename), "%s.e", id);
	snprintf(dname, sizeof(dname), "%s.d", id);
	if ((efd = open_regular(sp->dirfd, ename)) < 0) {
		int e = errno;

		if (e == EBADMSG) {
			snprintf(why, sizeof(why), "envelope is not a regular file");
			goto damaged;
		}
		dsmtp_err_set(err, "%s: %s", id, e == ENOENT ? "no such message" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(efd, &est) < 0) {
		int e = errno;

		close(efd);
		dsmtp_err_set(err, "%s: %s", id, strerror(e));
		errno = e;
		return -1;
	}
	if (fstatat(sp->dirfd, dname, &dst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(dst.st_mode)) {
		close(efd);
		/* removed between our open and our stat: gone, not damaged */
		if (est.st_nlink == 0 || faccessat(sp->dirfd, ename, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			dsmtp_err_set(err, "%s: no such message", id);
			errno = ENOENT;
			return -1;
		}
		snprintf(why, sizeof(why), "data file missing");
		goto damaged;
	}
	if (est.st_ino == dst.st_ino && est.st_dev == dst.st_dev) {
		/* one file: data, envelope, trailer */
		if (read_trailer(efd, (uint64_t)est.st_size, &dlen, &elen, why, sizeof(why)) < 0)
			goto damaged_fd;
		if (elen > SPOOL_MAX_ENVELOPE) {
			snprintf(why, sizeof(why), "envelope larger than %d bytes", SPOOL_MAX_ENVELOPE);
			goto damaged_fd;
		}
		if ((buf = malloc((size_t)elen + 1)) == NULL) {
			close(efd);
			dsmtp_err_set(err, "out of memory");
			errno = ENOMEM;
			return -1;
		}
		len = (size_t)elen;
		if (spool_io_pread(efd, buf, len, dlen) < 0) {
			snprintf(why, sizeof(why), "cannot read the envelope: %s", strerror(errno));
			goto damaged_fd;
		}
		if (spool_env_decode_v(buf, len, id, env, crc, &ver, why, sizeof(why)) < 0)
			goto damaged_fd;
		if (ver != 2) {
			snprintf(why, sizeof(why), "envelope inside the message file is version %u",
			    ver);
			goto damaged_env;
		}
	} else {
		if (slurp_fd(efd, &buf, &len) < 0) {
			int e = errno;

			if (e == EFBIG) {
				snprintf(why, sizeof(why), "envelope larger than %d bytes",
				    SPOOL_MAX_ENVELOPE);
				goto damaged_fd;
			}
			close(efd);
			dsmtp_err_set(err, "%s: %s", id, strerror(e));
			errno = e;
			return -1;
		}
		if (spool_env_decode_v(buf, len, id, env, crc, &ver, why, sizeof(why)) < 0)
			goto damaged_fd;
		if (ver == 1)
			dlen = (uint64_t)dst.st_size;
		else if ((dfd = open_regular(sp->dirfd, dname)) < 0) {
			snprintf(why, sizeof(why), "cannot open the data file: %s", strerror(errno));
			goto damaged_env;
		} else if (read_trailer(dfd, (uint64_t)dst.st_size, &dlen, &elen, why,
		    sizeof(why)) < 0)
			goto damaged_env;
	}
	free(buf);
	buf = NULL;
	close(efd);
	efd = -1;
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	if (dlen != env->size) {
		snprintf(why, sizeof(why), "data file has %" PRIu64 " bytes of message, the "
		    "envelope says %" PRIu64, dlen, env->size);
		spool_envelope_free(env);
		goto damaged;
	}
	if (version != NULL)
		*version = ver;
	return 0;
damaged_env:
	spool_envelope_free(env);
damaged_fd:
	free(buf);
	if (efd >= 0)
		close(efd);
	if (dfd >= 0)
		close(dfd);
damaged:
	quarantine(sp, id, why);
	dsmtp_err_set(err, "%s: damaged: %s", id, why);
	errno = EBADMSG;
	return -1;
}

int
spool_load(struct spool *sp, const char *id, struct spool_envelope *env, struct dsmtp_err *err)
{
	uint32_t crc;

	return spool_load_env(sp, id, env, &crc, NULL, err);
}

/* the message bytes, proven whole against the envelope first when asked */
int
spool_data_get(struct spool *sp, const char *id, bool verify, struct spool_data *d,
    struct dsmtp_err *err)
{
	struct spool_envelope env;
	char dname[SPOOL_ID_SIZE + 2];
	unsigned char buf[16384];
	uint32_t want, crc = 0;
	uint64_t total = 0;
	int fd, e;

	d->fd = -1;
	if (spool_load_env(sp, id, &env, &want, NULL, err) < 0)
		return -1;
	snprintf(dname, sizeof(dname), "%s.d", id);
	if ((fd = open_regular(sp->dirfd, dname)) < 0) {
		e = errno;
		spool_envelope_free(&env);
		dsmtp_err_set(err, "%s: %s", id, e == ENOENT ? "no such message" : strerror(e));
		errno = e;
		return -1;
	}
	d->off = 0;
	d->len = env.size;
	d->crc = want;
	spool_envelope_free(&env);
	/* read it through once: a flipped bit is found here, before a
	 * single byte goes to the next hop; never past the data (a version
	 * 2 file holds the envelope after it) */
	while (verify && total < d->len) {
		size_t want_n = d->len - total < sizeof(buf) ? (size_t)(d->len - total) : sizeof(buf);
		ssize_t n = pread(fd, buf, want_n, (off_t)(d->off + total));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			dsmtp_err_set(err, "%s: read: %s", id, strerror(e));
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		crc = spool_crc32c(crc, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (verify && spool_data_check(sp, id, d, total, crc, err) < 0) {
		close(fd);
		errno = EBADMSG;
		return -1;
	}
	if (lseek(fd, (off_t)d->off, SEEK_SET) < 0) {
		e = errno;
		close(fd);
		dsmtp_err_set(err, "%s: lseek: %s", id, strerror(e));
		errno = e;
		return -1;
	}
	d->fd = fd;
	return 0;
}

int
spool_data_open(struct spool *sp, const char *id, struct dsmtp_err *err)
{
	struct spool_data d;

	if (spool_data_get(sp, id, true, &d, err) < 0)
		return -1;
	return d.fd;
}

void
spool_data_damaged(struct spool *sp, const char *id, const char *why)
{
	if (spool_id_valid(id))
		quarantine(sp, id, why);
}

uint32_t
spool_data_crc(uint32_t crc, const void *buf, size_t len)
{
	return spool_crc32c(crc, buf, len);
}

int
spool_data_check(struct spool *sp, const char *id, const struct spool_data *d, uint64_t len,
    uint32_t crc, struct dsmtp_err *err)
{
	char why[SPOOL_WHY_SIZE];

	if (len == d->len && crc == d->crc)
		return 0;
	snprintf(why, sizeof(why), "data file checksum mismatch (%" PRIu64 " bytes, "
	    "crc %08" PRIx32 ", the envelope says %" PRIu64 " bytes, crc %08" PRIx32 ")",
	    len, crc, d->len, d->crc);
	spool_data_damaged(sp, id, why);
	dsmtp_err_set(err, "%s: damaged: %s", id, why);
	return -1;
}

static int
cmp_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* every ID.e name in queue/, sorted (= arrival order) */
int
spool_list_ids(struct spool *sp, char ***ids, size_t *n, struct dsmtp_err *err)
{
	char **v = NULL;
	size_t nv = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	*ids = NULL;
	*n = 0;
	if ((fd = dup(sp->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		dsmtp_err_set(err, "%s: %s", sp->dir, strerror(e));
		errno = e;
		return -1;
	}
	/* fdopendir on a dup shares the offset: start from the top */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char *id;

		if (l != SPOOL_ID_LEN + 2 || strcmp(de->d_name + SPOOL_ID_LEN, ".e") != 0)
			continue;
		if ((id = strndup(de->d_name, SPOOL_ID_LEN)) == NULL || !spool_id_valid(id)) {
			if (id == NULL)
				goto oom;
			free(id);
			continue;
		}
		if (nv == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nv2 = realloc(v, ncap * sizeof(*v));

			if (nv2 == NULL) {
				free(id);
				goto oom;
			}
			v = nv2;
			cap = ncap;
		}
		v[nv++] = id;
	}
	closedir(d);
	if (nv > 0)
		qsort(v, nv, sizeof(*v), cmp_ids);
	*ids = v;
	*n = nv;
	return 0;
oom:
	closedir(d);
	spool_ids_free(v, nv);
	dsmtp_err_set(err, "out of memory");
	errno = ENOMEM;
	return -1;
}

void
spool_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static int
cmp_next(const void *a, const void *b)
{
	const struct spool_envelope *x = a, *y = b;

	if (x->next_attempt != y->next_attempt)
		return x->next_attempt < y->next_attempt ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* every loadable envelope, by next attempt; damage quarantined on the way */
int
spool_list(struct spool *sp, struct spool_envelope **envs, size_t *n, struct dsmtp_err *err)
{
	struct spool_envelope *v;
	char **ids;
	size_t nids, nv = 0;

	*envs = NULL;
	*n = 0;
	if (spool_list_ids(sp, &ids, &nids, err) < 0)
		return -1;
	if ((v = calloc(nids ? nids : 1, sizeof(*v))) == NULL) {
		spool_ids_free(ids, nids);
		dsmtp_err_set(err, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < nids; i++) {
		struct dsmtp_err e;

		if (spool_load(sp, ids[i], &v[nv], &e) == 0) {
			nv++;
			continue;
		}
		/* gone: delivered meanwhile; damaged: quarantine said so */
		if (errno == ENOENT || errno == EBADMSG)
			continue;
		dsmtp_err_set(err, "%s", e.msg);
		spool_ids_free(ids, nids);
		spool_list_free(v, nv);
		return -1;
	}
	spool_ids_free(ids, nids);
	if (nv > 0)
		qsort(v, nv, sizeof(*v), cmp_next);
	*envs = v;
	*n = nv;
	return 0;
}

void
spool_list_free(struct spool_envelope *envs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spool_envelope_free(&envs[i]);
	free(envs);
}
