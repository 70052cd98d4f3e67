/* sts_cache.c: MTA-STS policies on disk, one file per domain under
 * state_dir/sts/ (RFC 8461 5.1: kept across restarts, until max_age after
 * the fetch). The record format is policy/sts_parse.c's; here only the
 * files: a checked file name, a bounded read, and a write to a temporary
 * file that is fsync'd and renamed over the old one, then the directory
 * fsync'd, so a crash leaves the old policy or the new one, never half.
 * The files are small and written once per fetch: plain blocking I/O. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtpc/smtpc.h"

#define CACHE_FILE_MAX	(POLICY_STS_BODY_MAX + 1024)

/* state_dir/sts/DOMAIN; the domain must be a plain host name */
static int
cache_path(const struct dsmtp_config *cfg, const char *domain, char *dir, size_t dirlen,
    char *path, size_t pathlen, struct dsmtp_err *err)
{
	char d[256];
	size_t n = strlen(domain);

	if (n == 0 || n >= sizeof(d) || domain[0] == '.' || domain[0] == '-') {
		dsmtp_err_set(err, "not a domain name for the MTA-STS cache");
		return -1;
	}
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c != '\0' && !isalnum(c) && c != '.' && c != '-' && c != '_') {
			dsmtp_err_set(err, "not a domain name for the MTA-STS cache");
			return -1;
		}
		d[i] = (char)tolower(c);
	}
	if (config_state_path(cfg, "sts", dir, dirlen, err) < 0)
		return -1;
	if (snprintf(path, pathlen, "%s/%s", dir, d) >= (int)pathlen) {
		dsmtp_err_set(err, "MTA-STS cache path too long");
		return -1;
	}
	return 0;
}

int
smtpc_sts_cache_load(const struct dsmtp_config *cfg, const char *domain, struct policy_sts *p,
    struct dsmtp_err *err)
{
	char dir[1024], path[1400], got[256], why[200];
	char *buf;
	ssize_t r;
	size_t len = 0;
	int fd, rc;

	if (cache_path(cfg, domain, dir, sizeof(dir), path, sizeof(path), err) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		dsmtp_err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(CACHE_FILE_MAX + 1)) == NULL) {
		close(fd);
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	while (len < CACHE_FILE_MAX && (r = read(fd, buf + len, CACHE_FILE_MAX - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			dsmtp_err_set(err, "%s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	rc = policy_sts_cache_parse(buf, len, p, got, sizeof(got), why, sizeof(why));
	free(buf);
	if (rc < 0) {
		dsmtp_err_set(err, "%s: %s", path, why);
		return -1;
	}
	if (strcasecmp(got, domain) != 0) {
		dsmtp_err_set(err, "%s: a record for %s", path, got);
		return -1;
	}
	return 0;
}

int
smtpc_sts_cache_store(const struct dsmtp_config *cfg, const char *domain,
    const struct policy_sts *p, struct dsmtp_err *err)
{
	char dir[1024], path[1400], tmp[1500];
	char *buf;
	int n, fd, dfd;
	size_t off = 0;

	if (cache_path(cfg, domain, dir, sizeof(dir), path, sizeof(path), err) < 0)
		return -1;
	if ((buf = malloc(sizeof(p->text) + 1024)) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	if ((n = policy_sts_cache_format(p, domain, buf, sizeof(p->text) + 1024)) < 0) {
		free(buf);
		dsmtp_err_set(err, "MTA-STS cache record too long");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		dsmtp_err_set(err, "%s: %s", tmp, strerror(errno));
		free(buf);
		return -1;
	}
	while (off < (size_t)n) {
		ssize_t w = write(fd, buf + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dsmtp_err_set(err, "%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	free(buf);
	buf = NULL;
	if (fsync(fd) < 0) {
		dsmtp_err_set(err, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		dsmtp_err_set(err, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		dsmtp_err_set(err, "rename %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return -1;
}
