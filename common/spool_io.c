/* spool_io.c: the spool's leaf: the system calls every spool_*.c file
 * makes through the test faults (spool_test_fail_at), EINTR handled; the
 * locked temporary files of tmp/; and message ids. Calls nothing else of
 * the spool, so spool.c, spool_commit.c and spool_update.c can all use it
 * without using each other. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/spool_int.h"

static atomic_uint fault_armed[SPOOL_FAULT_COUNT];

/* --- test faults and syscall wrappers --- */

void
spool_test_fail_at(enum spool_fault point, unsigned nth)
{
	if ((unsigned)point < SPOOL_FAULT_COUNT)
		atomic_store(&fault_armed[point], nth);
}

/* does this call of point fail? (counts down the armed value once) */
static bool
fault(enum spool_fault point)
{
	unsigned v = atomic_load(&fault_armed[point]);

	while (v > 0) {
		if (atomic_compare_exchange_weak(&fault_armed[point], &v, v - 1))
			return v == 1;
	}
	return false;
}

/* write all of buf: a short write on a full disk is an error here */
int
spool_io_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (fault(SPOOL_FAULT_WRITE)) {
			errno = ENOSPC;
			return -1;
		}
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fdatasync: the data and the size, which is all a reader needs */
int
spool_io_fsync(int fd)
{
	if (fault(SPOOL_FAULT_FSYNC)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

int
spool_io_dirfsync(int fd)
{
	if (fault(SPOOL_FAULT_DIRFSYNC)) {
		errno = EIO;
		return -1;
	}
	return fsync(fd);
}

/* rename, by default refusing to replace: an id collision must fail the
 * commit, never overwrite an accepted message */
int
spool_io_rename(int ofd, const char *oname, int nfd, const char *nname, bool noreplace)
{
	if (fault(SPOOL_FAULT_RENAME)) {
		errno = EIO;
		return -1;
	}
	if (noreplace) {
		if (renameat2(ofd, oname, nfd, nname, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		/* a file system without RENAME_NOREPLACE: check, then rename */
		if (faccessat(nfd, nname, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
			return -1;
		}
	}
	return renameat(ofd, oname, nfd, nname);
}

/* a second name for a file (the message file's ID.e, see spool_commit.c) */
int
spool_io_link(int ofd, const char *oname, int nfd, const char *nname)
{
	if (fault(SPOOL_FAULT_LINK)) {
		errno = EIO;
		return -1;
	}
	return linkat(ofd, oname, nfd, nname, 0);
}

int
spool_io_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t got = spool_data_read(fd, buf, len, off);

	if (got < 0)
		return -1;
	if ((size_t)got < len) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

ssize_t
spool_data_read(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;

	if (len > SSIZE_MAX || off > (uint64_t)INT64_MAX - len) {
		errno = EBADMSG;
		return -1;
	}
	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;		/* end of file: short */
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* a new temporary file, locked from birth. Whoever cleans tmp/ locks
 * before unlinking; if it won the race between our open and our flock, it
 * unlinked the file, which nlink == 0 tells us, and we try another name. */
int
spool_tmp_create(struct spool *sp, const char *name, bool replace_stale)
{
	for (int tries = 0; tries < 3; tries++) {
		struct stat st;
		int fd;

		fd = openat(sp->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0600);
		if (fd < 0 && errno == EEXIST && replace_stale && tries == 0) {
			/* a crashed update of ours left it: we hold the lease */
			if (unlinkat(sp->tmpfd, name, 0) < 0 && errno != ENOENT)
				return -1;
			continue;
		}
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

/* 14 hex of microseconds, 6 of pid, 4 of a counter: see spool.h */
void
spool_make_id(struct spool *sp, char id[SPOOL_ID_SIZE])
{
	struct timeval tv;
	uint64_t us;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	snprintf(id, SPOOL_ID_SIZE, "%014" PRIx64 "%06x%04x", us & UINT64_C(0xffffffffffffff),
	    (unsigned)getpid() & 0xffffffu, sp->counter++ & 0xffffu);
}
