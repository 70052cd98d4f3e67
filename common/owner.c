/* owner.c: what root creates in a state directory owned by the service
 * user takes that directory's owner (see owner.h). The rule is by
 * directory, not by configuration: an administrator who runs dsmtp-cert
 * as root on /var/lib/dsmtp (owned by dsmtp, the units' User=) leaves
 * files the service can read, and nothing changes for root's own dirs.
 * Private keys do not follow: they stay root's 0600, for the root parent
 * and its key process only (tls_store.c, key_write; DESIGN.md 13.4). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/owner.h"

/* chown the entry name of dir (name NULL: the open file fd) to dir's
 * owner when we are root and dir is not root's */
static int
follow(const char *dir, const char *name, int fd)
{
	struct stat st;
	int dfd, rc;

	if (geteuid() != 0)
		return 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(dfd, &st) < 0)
		rc = -1;
	else if (st.st_uid == 0)
		rc = 0;
	else if (name == NULL)
		rc = fchown(fd, st.st_uid, st.st_gid);
	else
		rc = fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	if (close(dfd) < 0 && rc == 0)
		rc = -1;
	return rc;
}

int
owner_follow_dir(const char *dir, const char *name)
{
	return follow(dir, name, -1);
}

int
owner_follow_dir_fd(const char *dir, int fd)
{
	return follow(dir, NULL, fd);
}
