/* plog_file.c: the protocol-log writer's files (DESIGN.md section 9).
 * Owns file naming (RECVyyyymmdd-N.LOG, SENDyyyymmdd-N.LOG), opening
 * (O_NOFOLLOW; a new file is created with its header in one step), writing
 * the buffer out (a torn record cut off), size and day rotation, pruning
 * by age, reporting an outage once, and the writer's open, flush and
 * close. The records themselves are plog_write.c's. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/diag.h"
#include "logs/plog_int.h"

#define PLOG_FLUSH_AT	(64 * 1024)	/* flush once this much is buffered */

/* days since the epoch of a yyyymmdd, for pruning */
static long
day_number(long ymd)
{
	struct tm tm = { 0 };

	tm.tm_year = (int)(ymd / 10000) - 1900;
	tm.tm_mon = (int)(ymd / 100 % 100) - 1;
	tm.tm_mday = (int)(ymd % 100);
	return (long)(timegm(&tm) / 86400);
}

static const char *
dir_prefix(enum plog_dir dir)
{
	return dir == PLOG_RECEIVE ? "RECV" : "SEND";
}

/* parse "PREFIXyyyymmdd-N.LOG": 0 and day, n; -1 if not ours */
static int
parse_name(const char *name, const char *prefix, long *day, unsigned *n)
{
	char *end;
	unsigned long v;
	size_t i;

	if (strncmp(name, prefix, 4) != 0)
		return -1;
	for (i = 4; i < 12; i++)
		if (name[i] < '0' || name[i] > '9')
			return -1;
	if (name[12] != '-' || name[13] < '1' || name[13] > '9')
		return -1;
	errno = 0;
	v = strtoul(name + 13, &end, 10);
	if (errno != 0 || v > UINT_MAX || strcmp(end, ".LOG") != 0)
		return -1;
	for (*day = 0, i = 4; i < 12; i++)
		*day = *day * 10 + (name[i] - '0');
	*n = (unsigned)v;
	return 0;
}

/* prune files older than max_age days (if prune) and find the highest N
 * of day: returns it, 0 if none */
static unsigned
scan_dir(struct plog *pl, long day, bool prune)
{
	char p[PATH_MAX + 300];
	struct dirent *de;
	unsigned n, maxn = 0;
	long d, today = day_number(day);
	DIR *dp;

	if ((dp = opendir(pl->path)) == NULL) {
		diag_warn("protocol log: cannot read directory %s", pl->path);
		return 0;
	}
	while ((de = readdir(dp)) != NULL) {
		if (parse_name(de->d_name, dir_prefix(pl->dir), &d, &n) < 0)
			continue;
		if (d == day && n > maxn)
			maxn = n;
		if (prune && pl->max_age > 0 && today - day_number(d) > (long)pl->max_age) {
			snprintf(p, sizeof(p), "%s/%s", pl->path, de->d_name);
			if (unlink(p) != 0 && errno != ENOENT)
				diag_warn("protocol log: cannot remove old file %s", p);
		}
	}
	closedir(dp);
	return maxn;
}

/* write(2) all of it, across EINTR and short writes; -1 with errno and
 * *done the bytes that did get written */
static int
write_all(int fd, const char *p, size_t n, size_t *done)
{
	ssize_t w;

	*done = 0;
	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		*done += (size_t)w;
	}
	return 0;
}

/* the file header: CSV '#' lines, or one JSON object with '#' keys */
static void
make_header(struct plog *pl, struct sbuf *h)
{
	const char *type = pl->dir == PLOG_RECEIVE ? "SMTP Receive Protocol Log" :
	    "SMTP Send Protocol Log";
	char date[40];
	struct timespec ts;
	size_t i;

	plog_now(&ts);
	ts.tv_nsec = 0;
	plog_fmt_time(&ts, date, sizeof(date), NULL);
	if (pl->format == LOG_FORMAT_JSON) {
		sb_adds(h, "{\"#Software\":\"" PACKAGE_NAME " " PACKAGE_VERSION "\",\"#Log-type\":\"");
		sb_adds(h, type);
		sb_adds(h, "\",\"#Date\":\"");
		sb_adds(h, date);
		sb_adds(h, "\",\"#Fields\":\"");
	} else {
		sb_adds(h, "#Software: " PACKAGE_NAME " " PACKAGE_VERSION "\n#Log-type: ");
		sb_adds(h, type);
		sb_adds(h, "\n#Date: ");
		sb_adds(h, date);
		sb_adds(h, "\n#Fields: ");
	}
	for (i = 0; i < PLOG_NFIELDS; i++) {
		if (i > 0)
			sb_addc(h, ',');
		sb_adds(h, plog_field_names[i]);
	}
	sb_adds(h, pl->format == LOG_FORMAT_JSON ? "\"}\n" : "\n");
}

/* report the first failure of an outage once; errno is the cause */
void
plog_fail(struct plog *pl, const char *what)
{
	if (pl->failing)
		return;
	pl->failing = true;
	diag_warn("protocol log %s: cannot %s; records are lost until it works again",
	    pl->file, what);
}

/* create pl->file with its header in one step, so that with several
 * processes on one log (receive.workers) the header is written once and
 * comes first: written aside, then link(2)ed into place. 0, or -1. */
static int
plog_create_file(struct plog *pl)
{
	char tmp[sizeof(pl->file) + 32];
	struct sbuf h = { 0 };
	int fd, rc = -1, saved;
	size_t done;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", pl->file, (long)getpid()) >= (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640)) < 0)
		return -1;
	make_header(pl, &h);
	if (!h.bad && write_all(fd, h.p, h.len, &done) == 0 &&
	    (link(tmp, pl->file) == 0 || errno == EEXIST))
		rc = 0;
	saved = errno;
	close(fd);
	(void)unlink(tmp);
	sb_free(&h);
	errno = saved;
	return rc;
}

/* open pl->file (appending), creating it with its header if it is new */
static int
plog_open_file(struct plog *pl)
{
	struct sbuf h = { 0 };
	struct stat st;
	size_t done;
	int fd;

	/* O_NOFOLLOW: a symbolic link planted at a log's path (the log
	 * directory may be writable by others than us) must not make the
	 * daemon append to, or create, a file of the link's choosing */
	fd = open(pl->file, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* a failed link falls back to O_CREAT and the header below */
		(void)plog_create_file(pl);
		fd = open(pl->file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	}
	if (fd < 0) {
		plog_fail(pl, "open");
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		plog_fail(pl, "stat");
		close(fd);
		return -1;
	}
	pl->nrec_file = st.st_size > 0;
	if (st.st_size == 0) {
		make_header(pl, &h);
		if (h.bad || write_all(fd, h.p, h.len, &done) < 0) {
			if (!h.bad && ftruncate(fd, 0) != 0)
				errno = EIO;
			plog_fail(pl, "write");
			sb_free(&h);
			close(fd);
			return -1;
		}
		st.st_size = (off_t)h.len;
		sb_free(&h);
	}
	pl->fd = fd;
	pl->size = (uint64_t)st.st_size + pl->out.len;
	return 0;
}

/* move to the file for day: the next N (next) or the highest N of that day
 * that still has room; prunes when the day changes */
void
plog_switch(struct plog *pl, long day, bool next)
{
	struct stat st;
	unsigned n;

	plog_write_out(pl);
	if (pl->fd >= 0) {
		close(pl->fd);
		pl->fd = -1;
	}
	if (day != pl->day) {
		n = scan_dir(pl, day, true);
		pl->pruned_day = day;
		if (n == 0)
			n = 1;
	} else
		n = pl->n + (next ? 1 : 0);
	for (;;) {
		if (snprintf(pl->file, sizeof(pl->file), "%s/%s%08ld-%u.LOG", pl->path,
		    dir_prefix(pl->dir), day % 100000000, n) >= (int)sizeof(pl->file))
			pl->file[0] = '\0';	/* cannot happen: path is < PATH_MAX */
		if (stat(pl->file, &st) != 0 || (uint64_t)st.st_size < pl->max_size || n == UINT_MAX)
			break;
		n++;
	}
	pl->day = day;
	pl->n = n;
	pl->size = 0;
	pl->nrec_file = 0;
	(void)plog_open_file(pl);
}

/* write the buffer; on failure drop it (counted), truncate a torn record */
void
plog_write_out(struct plog *pl)
{
	struct stat st;
	size_t done;
	off_t off;
	int saved;

	if (pl->out.len == 0 && !pl->out.bad)
		return;
	if (pl->fd < 0 && pl->file[0] != '\0')
		(void)plog_open_file(pl);
	if (pl->fd >= 0 && !pl->out.bad) {
		off = lseek(pl->fd, 0, SEEK_END);
		if (write_all(pl->fd, pl->out.p, pl->out.len, &done) == 0) {
			/* the real size: other processes may append too */
			if (off >= 0)
				pl->size = (uint64_t)off + pl->out.len;
			if (pl->failing)
				diag_info("protocol log %s: writing again; %llu records were lost",
				    pl->file, (unsigned long long)pl->lost_now);
			pl->failing = false;
			pl->lost_now = 0;
			pl->out.len = 0;
			pl->nbuffered = 0;
			return;
		}
		/* a partial record would join the next one: cut it off, if no
		 * other process appended since; else end it, a line the reader
		 * reports and skips */
		saved = errno;
		if (done > 0) {
			if (off >= 0 && fstat(pl->fd, &st) == 0 &&
			    (uint64_t)st.st_size == (uint64_t)off + done) {
				if (ftruncate(pl->fd, off) != 0)
					saved = errno;
			} else if (write(pl->fd, "\n", 1) != 1)
				saved = errno;
		}
		errno = saved;
		plog_fail(pl, "write");
	} else if (pl->out.bad) {
		errno = ENOMEM;
		plog_fail(pl, "buffer");
	}
	pl->lost += pl->nbuffered;
	pl->lost_now += pl->nbuffered;
	pl->size -= pl->size >= pl->out.len ? pl->out.len : pl->size;
	pl->out.len = 0;
	pl->out.bad = false;
	pl->nbuffered = 0;
}

/* take the record formatted in pl->rec: into the next file first if it
 * would pass logs.max_file_size (a file holds at least one record), then
 * into the buffer, written out once PLOG_FLUSH_AT bytes wait */
void
plog_buffer(struct plog *pl, long day)
{
	if (pl->nrec_file > 0 && pl->size + pl->rec.len > pl->max_size)
		plog_switch(pl, day, true);
	sb_add(&pl->out, pl->rec.p, pl->rec.len);
	pl->size += pl->rec.len;
	pl->nrec_file++;
	pl->nbuffered++;
	if (pl->out.len >= PLOG_FLUSH_AT || pl->out.bad)
		plog_write_out(pl);
}

/* ---- the API: open, flush, close ---- */

struct plog *
plog_open(const struct dsmtp_config *cfg, enum plog_dir dir, struct dsmtp_err *err)
{
	char sub[PATH_MAX];
	struct timespec ts;
	struct plog *pl;
	char when[40];
	long day;
	int n;

	if ((pl = calloc(1, sizeof(*pl))) == NULL) {
		dsmtp_err_set(err, "protocol log: out of memory");
		return NULL;
	}
	pl->fd = -1;
	pl->dir = dir;
	pl->level = cfg->logs.level;
	pl->enabled = pl->level != LOG_LEVEL_NONE;
	for (size_t i = 0; i < cfg->logs.npeers; i++)
		if (cfg->logs.peers[i].level != LOG_LEVEL_NONE)
			pl->enabled = true;
	pl->format = cfg->logs.format;
	pl->max_size = cfg->logs.max_file_size;
	pl->max_age = cfg->logs.max_age_days;
	if (!pl->enabled)
		return pl;
	n = snprintf(sub, sizeof(sub), "%s/%s", cfg->logs.dir,
	    dir == PLOG_RECEIVE ? "receive" : "send");
	if (n < 0 || (size_t)n >= sizeof(sub)) {
		dsmtp_err_set(err, "protocol log: logs.dir too long");
		free(pl);
		return NULL;
	}
	if (config_state_path(cfg, sub, pl->path, sizeof(pl->path), err) < 0) {
		free(pl);
		return NULL;
	}
	plog_now(&ts);
	plog_fmt_time(&ts, when, sizeof(when), &day);
	/* a failure here is reported through err, not as an outage */
	pl->failing = true;
	plog_switch(pl, day, false);
	if (pl->fd < 0) {
		if (errno == ELOOP)
			dsmtp_err_set(err, "protocol log: %s is a symbolic link: refused, not "
			    "followed", pl->file);
		else
			dsmtp_err_set(err, "protocol log: cannot open %s: %s", pl->file,
			    strerror(errno));
		plog_close(pl);
		return NULL;
	}
	pl->failing = false;
	return pl;
}

/* write what is buffered; on the first flush of a new day, prune even if
 * no record has come yet (the new file waits for its first record) */
void
plog_flush(struct plog *pl)
{
	struct timespec ts;
	char when[40];
	long day;

	if (pl == NULL || !pl->enabled)
		return;
	plog_write_out(pl);
	plog_now(&ts);
	plog_fmt_time(&ts, when, sizeof(when), &day);
	if (day != pl->pruned_day) {
		(void)scan_dir(pl, day, true);
		pl->pruned_day = day;
	}
}

void
plog_close(struct plog *pl)
{
	if (pl == NULL)
		return;
	plog_flush(pl);
	if (pl->fd >= 0 && close(pl->fd) != 0)
		diag_warn("protocol log %s: close", pl->file);
	sb_free(&pl->out);
	sb_free(&pl->data);
	sb_free(&pl->esc);
	sb_free(&pl->rec);
	free(pl);
}

const char *
plog_current_file(const struct plog *pl)
{
	return pl != NULL ? pl->file : "";
}

uint64_t
plog_lost(const struct plog *pl)
{
	return pl != NULL ? pl->lost : 0;
}
