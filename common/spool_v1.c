/* spool_v1.c: the writer of spool format version 1 (every spool before
 * the one-file format: ID.d the message bytes alone, ID.e an envelope
 * file of its own), kept only so tests can fill a spool the way an older
 * dsmtpd left it and prove that this one still lists, leases, delivers,
 * updates and removes such messages. Nothing in the programs calls it.
 * Synchronous, no group: the order on disk is the old commit's -- both
 * files written and fsync'd in tmp/, ID.d renamed in, then ID.e, then
 * queue/ fsync'd. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/spool_int.h"

int
spool_test_write_v1(struct spool *sp, const void *data, size_t len,
    const struct spool_envelope *env, char id[SPOOL_ID_SIZE], struct dsmtp_err *err)
{
	char dname[SPOOL_ID_SIZE + 2], ename[SPOOL_ID_SIZE + 2], why[SPOOL_WHY_SIZE];
	struct spool_envelope e = *env;
	char *buf = NULL;
	size_t buflen;
	int dfd = -1, efd = -1, rc = -1;

	spool_make_id(sp, id);
	snprintf(dname, sizeof(dname), "%s.d", id);
	snprintf(ename, sizeof(ename), "%s.e", id);
	if (e.arrival == 0)
		e.arrival = (int64_t)time(NULL);
	if (spool_env_encode_v(1, &e, id, len, spool_crc32c(0, data, len), &buf, &buflen, why,
	    sizeof(why)) < 0) {
		dsmtp_err_set(err, "%s", why);
		errno = EINVAL;
		return -1;
	}
	if ((dfd = spool_tmp_create(sp, dname, false)) < 0 ||
	    (efd = spool_tmp_create(sp, ename, false)) < 0 ||
	    spool_io_write(dfd, data, len) < 0 || spool_io_write(efd, buf, buflen) < 0 ||
	    spool_io_fsync(efd) < 0 || spool_io_fsync(dfd) < 0 ||
	    spool_io_rename(sp->tmpfd, dname, sp->dirfd, dname, true) < 0 ||
	    spool_io_rename(sp->tmpfd, ename, sp->dirfd, ename, true) < 0 ||
	    spool_io_dirfsync(sp->dirfd) < 0) {
		dsmtp_err_set(err, "%s: version 1 write: %s", id, strerror(errno));
		unlinkat(sp->tmpfd, dname, 0);
		unlinkat(sp->tmpfd, ename, 0);
		goto out;
	}
	rc = 0;
out:
	if (efd >= 0)
		close(efd);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return rc;
}
