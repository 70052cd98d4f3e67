/* secmem.c: the per-domain security memory's store (see secmem.h). One
 * file per domain: "level L\nmethod M\nhost H\nseen T\n". */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/owner.h"
#include "common/secmem.h"

#define SECMEM_FILE_MAX	2048

static const char *const level_names[] = { "plaintext", "tls", "authenticated" };

const char *
secmem_level_name(enum secmem_level l)
{
	switch (l) {
	case SECMEM_PLAINTEXT:
		return "plaintext";
	case SECMEM_TLS:
		return "TLS";
	case SECMEM_AUTH:
		return "authenticated TLS";
	}
	return "?";
}

void
secmem_describe(enum secmem_level l, const char *method, char *out, size_t outlen)
{
	if (l == SECMEM_AUTH && method && method[0])
		snprintf(out, outlen, "%s (%s)", secmem_level_name(l), method);
	else
		snprintf(out, outlen, "%s", secmem_level_name(l));
}

/* a domain usable as a file name: [a-z0-9.-_], no leading dot, < 254 */
static int
domain_ok(const char *d, char *out, size_t outlen, struct dsmtp_err *err)
{
	size_t n = strlen(d);

	while (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen || n > 253 || d[0] == '.') {
		dsmtp_err_set(err, "security memory: bad domain \"%.80s\"", d);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_')) {
			dsmtp_err_set(err, "security memory: bad domain \"%.80s\" (A-labels only)", d);
			return -1;
		}
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

bool
secmem_domain_valid(const char *domain)
{
	char name[256];
	struct dsmtp_err err;

	return domain_ok(domain, name, sizeof(name), &err) == 0;
}

/* the memory's directory last made sure of (config_state_path walks and
 * mkdirs every component: dsmtpc asks for each message it delivers);
 * forgotten when a write there finds it gone. The loop thread's. */
static char mem_dir_known[4096];

static int
mem_dir(const struct dsmtp_config *cfg, char *out, size_t outlen, struct dsmtp_err *err)
{
	int n = snprintf(out, outlen, "%s/memory", cfg->state_dir);

	if (n > 0 && (size_t)n < outlen && cfg->state_dir[0] == '/' &&
	    strcmp(out, mem_dir_known) == 0)
		return 0;
	if (config_state_path(cfg, "memory", out, outlen, err) < 0)
		return -1;
	snprintf(mem_dir_known, sizeof(mem_dir_known), "%s", out);
	return 0;
}

/* s into out, cut to fit */
static void
copy_cut(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);

	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* parse one record file's text */
static int
parse(const char *buf, struct secmem_rec *r)
{
	const char *p = buf;
	bool have_level = false;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[300];

		if (len >= sizeof(line))
			return -1;
		memcpy(line, p, len);
		line[len] = '\0';
		if (strncmp(line, "level ", 6) == 0) {
			size_t i;

			for (i = 0; i < 3; i++)
				if (strcmp(line + 6, level_names[i]) == 0)
					break;
			if (i == 3)
				return -1;
			r->level = (enum secmem_level)i;
			have_level = true;
		} else if (strncmp(line, "method ", 7) == 0)
			copy_cut(r->method, sizeof(r->method), line + 7);
		else if (strncmp(line, "host ", 5) == 0)
			copy_cut(r->host, sizeof(r->host), line + 5);
		else if (strncmp(line, "seen ", 5) == 0)
			r->seen = strtoll(line + 5, NULL, 10);
		p += len + (nl ? 1 : 0);
	}
	return have_level ? 0 : -1;
}

/* read dir/name into r: 1, 0 absent, -1 error */
static int
read_rec(const char *dir, const char *name, struct secmem_rec *r, struct dsmtp_err *err)
{
	char path[4400], buf[SECMEM_FILE_MAX + 1];
	ssize_t n;
	int fd;

	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		dsmtp_err_set(err, "security memory: %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, SECMEM_FILE_MAX);
	close(fd);
	if (n < 0) {
		dsmtp_err_set(err, "security memory: %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	if (parse(buf, r) < 0) {
		dsmtp_err_set(err, "security memory: %s: damaged record", path);
		return -1;
	}
	return 1;
}

int
secmem_get(const struct dsmtp_config *cfg, const char *domain, struct secmem_rec *out,
    struct dsmtp_err *err)
{
	char dir[4096], name[256];

	if (domain_ok(domain, name, sizeof(name), err) < 0 ||
	    mem_dir(cfg, dir, sizeof(dir), err) < 0)
		return -1;
	return read_rec(dir, name, out, err);
}

/* the exclusive lock of the whole memory: fd to close, or -1 */
static int
lock_dir(const char *dir, struct dsmtp_err *err)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		if (errno == ENOENT)
			mem_dir_known[0] = '\0';	/* removed: made again next time */
		dsmtp_err_set(err, "security memory: %s: %s", path, strerror(errno));
		return -1;
	}
	(void)owner_follow_dir_fd(dir, fd);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			dsmtp_err_set(err, "security memory: lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* write r as dir/name: temporary file, fsync, rename, directory fsync */
static int
write_rec(const char *dir, const char *name, const struct secmem_rec *r, struct dsmtp_err *err)
{
	char tmp[4400], path[4400], buf[SECMEM_FILE_MAX];
	int fd, n;

	n = snprintf(buf, sizeof(buf), "level %s\nmethod %s\nhost %s\nseen %" PRId64 "\n",
	    level_names[r->level], r->method, r->host, r->seen);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		dsmtp_err_set(err, "security memory: record for %s too long", name);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = mkstemp(tmp)) < 0) {
		dsmtp_err_set(err, "security memory: %s: %s", tmp, strerror(errno));
		return -1;
	}
	(void)owner_follow_dir_fd(dir, fd);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
		dsmtp_err_set(err, "security memory: write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		dsmtp_err_set(err, "security memory: rename to %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(dir) < 0) {
		dsmtp_err_set(err, "security memory: fsync %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
secmem_learn(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    const char *method, const char *host, int64_t now, struct dsmtp_err *err)
{
	char dir[4096], name[256];
	struct secmem_rec cur, nr;
	int lk, rc;

	if (domain_ok(domain, name, sizeof(name), err) < 0 ||
	    mem_dir(cfg, dir, sizeof(dir), err) < 0)
		return -1;
	/* the common case, nothing new, without the lock */
	if ((rc = read_rec(dir, name, &cur, err)) < 0)
		return -1;
	if (rc == 1 && cur.level >= level)
		return 0;
	if ((lk = lock_dir(dir, err)) < 0)
		return -1;
	/* again under the lock: another process may have raised it */
	if ((rc = read_rec(dir, name, &cur, err)) < 0 || (rc == 1 && cur.level >= level)) {
		close(lk);
		return rc < 0 ? -1 : 0;
	}
	memset(&nr, 0, sizeof(nr));
	snprintf(nr.domain, sizeof(nr.domain), "%s", name);
	nr.level = level;
	snprintf(nr.method, sizeof(nr.method), "%s", level == SECMEM_AUTH && method ? method : "-");
	snprintf(nr.host, sizeof(nr.host), "%s", host && host[0] ? host : "-");
	for (char *c = nr.host; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			*c = '?';
	nr.seen = now;
	rc = write_rec(dir, name, &nr, err);
	close(lk);
	return rc < 0 ? -1 : 1;
}

int
secmem_forget(const struct dsmtp_config *cfg, const char *domain, struct dsmtp_err *err)
{
	char dir[4096], name[256], path[4400];
	int lk, rc = 1;

	if (domain_ok(domain, name, sizeof(name), err) < 0 ||
	    mem_dir(cfg, dir, sizeof(dir), err) < 0)
		return -1;
	if ((lk = lock_dir(dir, err)) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else {
			dsmtp_err_set(err, "security memory: %s: %s", path, strerror(errno));
			rc = -1;
		}
	} else if (fsync_dir(dir) < 0) {
		dsmtp_err_set(err, "security memory: fsync %s: %s", dir, strerror(errno));
		rc = -1;
	}
	close(lk);
	return rc;
}

static int
rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct secmem_rec *)a)->domain, ((const struct secmem_rec *)b)->domain);
}

int
secmem_list(const struct dsmtp_config *cfg, struct secmem_rec **recs, size_t *n,
    struct dsmtp_err *err)
{
	char dir[4096], name[256];
	struct dirent *de;
	DIR *d;

	*recs = NULL;
	*n = 0;
	if (mem_dir(cfg, dir, sizeof(dir), err) < 0)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		dsmtp_err_set(err, "security memory: %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct secmem_rec r, *nr;
		struct dsmtp_err e2;

		if (de->d_name[0] == '.' || domain_ok(de->d_name, name, sizeof(name), &e2) < 0 ||
		    strcmp(name, de->d_name) != 0)
			continue;
		if (read_rec(dir, name, &r, &e2) != 1) {
			diag_warnx("%s", e2.msg);
			continue;
		}
		if ((nr = realloc(*recs, (*n + 1) * sizeof(*nr))) == NULL) {
			closedir(d);
			free(*recs);
			*recs = NULL;
			*n = 0;
			dsmtp_err_set(err, "out of memory");
			return -1;
		}
		*recs = nr;
		nr[(*n)++] = r;
	}
	closedir(d);
	if (*n > 1)
		qsort(*recs, *n, sizeof(**recs), rec_cmp);
	return 0;
}

int
secmem_below(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    char *reason, size_t rlen, struct dsmtp_err *err)
{
	struct secmem_rec r;
	char was[64], date[32];
	struct tm tm;
	time_t t;
	int rc;

	if ((rc = secmem_get(cfg, domain, &r, err)) <= 0)
		return rc;
	if (level >= r.level)
		return 0;
	secmem_describe(r.level, r.method, was, sizeof(was));
	t = (time_t)r.seen;
	if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
		snprintf(date, sizeof(date), "an earlier date");
	snprintf(reason, rlen, "security memory: %s showed %s on %s (host %s), this connection "
	    "offered only %s", r.domain, was, date, r.host, level == SECMEM_PLAINTEXT ?
	    "plaintext" : "unauthenticated TLS");
	return 1;
}

void
secmem_cause(const struct dsmtp_config *cfg, const char *domain, enum secmem_level level,
    char *out, size_t outlen)
{
	struct secmem_rec r;
	struct dsmtp_err err;
	char was[64];

	if (secmem_get(cfg, domain, &r, &err) != 1) {
		snprintf(out, outlen, "memory unreadable");
		return;
	}
	secmem_describe(r.level, r.method, was, sizeof(was));
	snprintf(out, outlen, "%s shown before, only %s now", was,
	    level == SECMEM_PLAINTEXT ? "plaintext" : "unauthenticated TLS");
}
