/* log_follow.c: dsmtp-log follow: the live protocol log as dsmtpd and
 * dsmtpc write it, both directions, across daily and size rotation, with
 * the filters of the other subcommands. Owns the inotify loop: the logs
 * directory and its receive/ and send/ subdirectories are watched; a new
 * *.LOG file is read from its start, a written one from where we were, so
 * nothing waits on a timer. The newest FOLLOW_MAX_FILES files per
 * direction stay open (several workers may still append to the previous
 * file for a moment after one of them rotated). SIGINT, SIGTERM and a
 * closed output (SIGPIPE/EPIPE: `| head`) end it with status 0.
 *
 * --peer, --since and --until judge each record; --domain needs a
 * session's MAIL/RCPT or Policy records, so a session's records are held
 * back (at most FOLLOW_MAX_PENDING bytes in all) until it names the domain,
 * then printed, or dropped when it ends without naming it. */
#include "autoconfig.h"

#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "logs/log_agg.h"
#include "logs/plog.h"

#define FOLLOW_MAX_FILES	8		/* files followed per direction */
#define FOLLOW_MAX_PENDING	(16 << 20)	/* bytes held back for --domain */
#define FOLLOW_CHUNK		65536
#define FOLLOW_HEADER		4096		/* where a file's '#' header may be */
#define FOLLOW_PEND_BUCKETS	1024

int log_follow_main(int argc, char **argv, const char *config_path);

struct ffile {
	bool		 used;
	char		 name[NAME_MAX + 1];
	unsigned long	 day, n;	/* sort key, from the name */
	int		 fd;
	bool		 skip_partial;	/* started mid-line: drop up to the first LF */
	struct plog_reader *r;
};

/* --domain: one session's records, held back */
struct pend {
	struct pend	*next;
	uint64_t	 id;
	enum plog_dir	 dir;
	char		*buf;
	size_t		 len;
	unsigned long	 dropped;	/* records not kept (the cap) */
};

struct follow {
	struct log_filter f;
	bool		 json;
	char		 top[PATH_MAX];
	char		 sub[2][PATH_MAX + 16];
	int		 ifd, wd_top, wd_sub[2];
	struct ffile	 files[2][FOLLOW_MAX_FILES];
	char		*chunk;
	struct log_agg	*agg;		/* --domain only */
	struct pend	*pend[FOLLOW_PEND_BUCKETS];
	size_t		 pend_bytes;
	bool		 last_matched;	/* the session the agg just finished */
	bool		 out_closed;	/* EPIPE: stop */
	int		 out_err;	/* another write error */
};

static const char *const sub_names[2] = { "receive", "send" };

/* "RECV20261124-3.LOG" -> day and N; false if not a log file name */
static bool
log_name(const char *name, enum plog_dir dir, unsigned long *day, unsigned long *n)
{
	const char *dash;
	size_t len = strlen(name);
	char *end;

	if (strncmp(name, dir == PLOG_RECEIVE ? "RECV" : "SEND", 4) != 0 || len < 10 ||
	    strcmp(name + len - 4, ".LOG") != 0)
		return false;
	*day = plog_file_day(name);
	if (*day == 0 || (dash = strrchr(name, '-')) == NULL)
		return false;
	*n = strtoul(dash + 1, &end, 10);
	return strcmp(end, ".LOG") == 0;
}

static bool
key_less(unsigned long d1, unsigned long n1, unsigned long d2, unsigned long n2)
{
	return d1 < d2 || (d1 == d2 && n1 < n2);
}

/* ---- output ---- */

static void
out_check(struct follow *fw)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	if (errno == EPIPE)
		fw->out_closed = true;
	else if (fw->out_err == 0)
		fw->out_err = errno ? errno : EIO;
}

static uint64_t
pend_hash(uint64_t id, enum plog_dir dir)
{
	id ^= (uint64_t)dir * 0x9e3779b97f4a7c15ULL;
	id *= 0xff51afd7ed558ccdULL;
	return id ^ (id >> 29);
}

static struct pend **
pend_slot(struct follow *fw, uint64_t id, enum plog_dir dir)
{
	struct pend **pp = &fw->pend[pend_hash(id, dir) % FOLLOW_PEND_BUCKETS];

	while (*pp != NULL && !((*pp)->id == id && (*pp)->dir == dir))
		pp = &(*pp)->next;
	return pp;
}

/* print and forget what was held back for the session (print: or drop) */
static void
pend_release(struct follow *fw, uint64_t id, enum plog_dir dir, bool print)
{
	struct pend **pp = pend_slot(fw, id, dir), *p = *pp;

	if (p == NULL)
		return;
	if (print) {
		if (p->dropped > 0)
			printf("(%lu earlier records of session %016" PRIx64 " not kept)\n",
			    p->dropped, id);
		fwrite(p->buf, 1, p->len, stdout);
	}
	*pp = p->next;
	fw->pend_bytes -= p->len;
	free(p->buf);
	free(p);
}

static void
pend_add(struct follow *fw, const struct plog_record *r, uint64_t id)
{
	struct pend **pp = pend_slot(fw, id, r->dir), *p = *pp;
	char *text = NULL, *nb;
	size_t len = 0;
	FILE *ms;

	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return;
		p->id = id;
		p->dir = r->dir;
		*pp = p;
	}
	if ((ms = open_memstream(&text, &len)) == NULL) {
		p->dropped++;
		return;
	}
	log_print_record(ms, r, fw->json);
	if (fclose(ms) != 0 || fw->pend_bytes + len > FOLLOW_MAX_PENDING ||
	    (nb = realloc(p->buf, p->len + len)) == NULL) {
		p->dropped++;
		free(text);
		return;
	}
	memcpy(nb + p->len, text, len);
	p->buf = nb;
	p->len += len;
	fw->pend_bytes += len;
	free(text);
}

/* log_agg's callback: a session ended and passed the filters */
static void
on_session_done(const struct log_sess *s, void *arg)
{
	struct follow *fw = arg;

	(void)s;
	fw->last_matched = true;
}

static int
on_record(const struct plog_record *r, void *arg)
{
	struct follow *fw = arg;
	const struct log_sess *s;
	uint64_t id;

	if (fw->agg == NULL) {
		if (log_filter_record(&fw->f, r)) {
			log_print_record(stdout, r, fw->json);
			out_check(fw);
		}
		return fw->out_closed;
	}
	if (!log_parse_id(r->f[PLOG_F_SESSION], &id))
		return 0;
	fw->last_matched = false;
	if (log_agg_record(r, fw->agg) != 0)
		return 0;
	s = log_agg_find(fw->agg, id, r->dir);
	if (s == NULL || s->domain_hit) {
		/* ended (last_matched says whether it passed) or matching */
		bool show = s != NULL || fw->last_matched;

		pend_release(fw, id, r->dir, show);
		if (show && log_filter_record(&fw->f, r))
			log_print_record(stdout, r, fw->json);
		out_check(fw);
	} else if (log_filter_record(&fw->f, r))
		pend_add(fw, r, id);
	return fw->out_closed;
}

static void
on_malformed(const char *file, unsigned long line, const char *why, void *arg)
{
	(void)arg;
	fprintf(stderr, "%s: %s:%lu: skipped: %s\n", diag_progname(), file, line, why);
}

/* ---- files ---- */

static void
file_close(struct ffile *ff)
{
	if (!ff->used)
		return;
	if (ff->r != NULL) {
		(void)plog_reader_end(ff->r);
		plog_reader_free(ff->r);
	}
	close(ff->fd);
	memset(ff, 0, sizeof(*ff));
	ff->fd = -1;
}

/* read what was appended since last time */
static void
file_read(struct follow *fw, struct ffile *ff)
{
	ssize_t got;
	const char *p;
	size_t len;

	while (!fw->out_closed && (got = read(ff->fd, fw->chunk, FOLLOW_CHUNK)) > 0) {
		p = fw->chunk;
		len = (size_t)got;
		if (ff->skip_partial) {
			const char *lf = memchr(p, '\n', len);

			if (lf == NULL)
				continue;
			ff->skip_partial = false;
			len -= (size_t)(lf + 1 - p);
			p = lf + 1;
		}
		(void)plog_reader_feed(ff->r, p, len);
	}
}

/* feed a file's '#' header lines (#Fields may order the columns) */
static void
file_header(struct follow *fw, struct ffile *ff)
{
	ssize_t got = pread(ff->fd, fw->chunk, FOLLOW_HEADER, 0);
	size_t off = 0, n;
	const char *lf;

	while (got > 0 && off < (size_t)got && fw->chunk[off] == '#') {
		lf = memchr(fw->chunk + off, '\n', (size_t)got - off);
		if (lf == NULL)
			break;
		n = (size_t)(lf + 1 - (fw->chunk + off));
		(void)plog_reader_feed(ff->r, fw->chunk + off, n);
		off += n;
	}
}

/* follow a file: from its start (new) or from its end (there before us) */
static struct ffile *
file_open(struct follow *fw, enum plog_dir dir, const char *name, bool from_start)
{
	struct ffile *ff = NULL, *old = NULL;
	char path[PATH_MAX * 2];
	unsigned long day, n;
	struct stat st;
	char last;
	size_t i;

	if (!log_name(name, dir, &day, &n))
		return NULL;
	for (i = 0; i < FOLLOW_MAX_FILES; i++) {
		if (fw->files[dir][i].used && strcmp(fw->files[dir][i].name, name) == 0)
			return &fw->files[dir][i];
		if (!fw->files[dir][i].used) {
			if (ff == NULL)
				ff = &fw->files[dir][i];
		} else if (old == NULL || key_less(fw->files[dir][i].day, fw->files[dir][i].n,
		    old->day, old->n))
			old = &fw->files[dir][i];
	}
	if (ff == NULL) {
		/* full: the oldest goes, unless this one is older still */
		if (key_less(day, n, old->day, old->n))
			return NULL;
		file_read(fw, old);
		file_close(old);
		ff = old;
	}
	snprintf(path, sizeof(path), "%s/%s", fw->sub[dir], name);
	if ((ff->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return NULL;
	if (fstat(ff->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (ff->r = plog_reader_new(on_record, on_malformed, fw)) == NULL) {
		close(ff->fd);
		ff->fd = -1;
		return NULL;
	}
	ff->used = true;
	snprintf(ff->name, sizeof(ff->name), "%s", name);
	ff->day = day;
	ff->n = n;
	plog_reader_begin(ff->r, path, dir);
	if (!from_start && st.st_size > 0) {
		file_header(fw, ff);
		ff->skip_partial = pread(ff->fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
		if (lseek(ff->fd, st.st_size, SEEK_SET) < 0) {
			file_close(ff);
			return NULL;
		}
	}
	return ff;
}

static struct ffile *
file_find(struct follow *fw, enum plog_dir dir, const char *name)
{
	size_t i;

	for (i = 0; i < FOLLOW_MAX_FILES; i++)
		if (fw->files[dir][i].used && strcmp(fw->files[dir][i].name, name) == 0)
			return &fw->files[dir][i];
	return NULL;
}

/* watch a direction's directory and take its files: at start the newest
 * ones from their end, later (a directory that appeared) from the start */
static void
sub_scan(struct follow *fw, enum plog_dir dir, bool from_start)
{
	struct dirent *de;
	struct ffile *ff;
	unsigned long day, n;
	DIR *d;

	if (fw->wd_sub[dir] < 0) {
		fw->wd_sub[dir] = inotify_add_watch(fw->ifd, fw->sub[dir], IN_CREATE | IN_MODIFY |
		    IN_MOVED_TO | IN_DELETE | IN_ONLYDIR);
		if (fw->wd_sub[dir] < 0)
			return;	/* not there yet */
	}
	if ((d = opendir(fw->sub[dir])) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (log_name(de->d_name, dir, &day, &n) && file_find(fw, dir, de->d_name) == NULL &&
		    (ff = file_open(fw, dir, de->d_name, from_start)) != NULL)
			file_read(fw, ff);
	closedir(d);
}

static void
on_events(struct follow *fw)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct ffile *ff;
	ssize_t got;
	size_t off;
	int d;

	while (!fw->out_closed && (got = read(fw->ifd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < (size_t)got; off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->mask & IN_Q_OVERFLOW) {
				/* events lost: read everything followed, look for new files */
				for (d = 0; d < 2; d++) {
					for (size_t i = 0; i < FOLLOW_MAX_FILES; i++)
						if (fw->files[d][i].used)
							file_read(fw, &fw->files[d][i]);
					sub_scan(fw, (enum plog_dir)d, true);
				}
				continue;
			}
			if (ev->wd == fw->wd_top) {
				for (d = 0; d < 2; d++)
					if (ev->len > 0 && strcmp(ev->name, sub_names[d]) == 0 &&
					    fw->wd_sub[d] < 0)
						sub_scan(fw, (enum plog_dir)d, true);
				continue;
			}
			for (d = 0; d < 2 && ev->wd != fw->wd_sub[d]; d++)
				;
			if (d == 2)
				continue;
			if (ev->mask & IN_IGNORED) {	/* the directory went away */
				fw->wd_sub[d] = -1;
				continue;
			}
			if (ev->len == 0)
				continue;
			ff = file_find(fw, (enum plog_dir)d, ev->name);
			if (ev->mask & IN_DELETE) {
				if (ff != NULL)
					file_close(ff);
			} else if (ff != NULL)
				file_read(fw, ff);
			else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
				if ((ff = file_open(fw, (enum plog_dir)d, ev->name, true)) != NULL)
					file_read(fw, ff);
			} else if ((ff = file_open(fw, (enum plog_dir)d, ev->name, false)) != NULL)
				file_read(fw, ff);	/* written, unknown: from here on */
		}
	}
}

/* the logs directory and its two subdirectories; -1 if too long */
static int
set_dirs(struct follow *fw, const char *top)
{
	char tmp[PATH_MAX];
	int d;

	if (strlen(top) + sizeof("/receive") > sizeof(tmp))
		return -1;
	memcpy(tmp, top, strlen(top) + 1);
	memcpy(fw->top, tmp, sizeof(fw->top));
	for (d = 0; d < 2; d++)
		if (snprintf(fw->sub[d], sizeof(fw->sub[d]), "%s/%s", tmp, sub_names[d]) >=
		    (int)sizeof(fw->sub[d]))
			return -1;
	return 0;
}

static void
usage(FILE *out)
{
	fprintf(out, "Usage: dsmtp-log [-c FILE] follow [--peer ADDR] [--since WHEN] [--until WHEN]\n"
	    "       [--domain D] [--json] [DIR]\n"
	    "Print protocol-log records as they are written, both directions, across\n"
	    "rotation, until interrupted. DIR: the logs directory (with receive/ and\n"
	    "send/), or a state directory holding logs/; default the configured one.\n");
}

int
log_follow_main(int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct follow *fw;
	struct pollfd pfd[2];
	struct stat st;
	sigset_t mask;
	char alt[PATH_MAX + 8];
	int ch, d, sfd = -1, rc = EX_DSMTP_OK;
	size_t i;

	if ((fw = calloc(1, sizeof(*fw))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		return EX_DSMTP_OSERR;
	}
	fw->ifd = fw->wd_top = fw->wd_sub[0] = fw->wd_sub[1] = -1;
	while ((ch = getopt_long(argc, argv, "p:s:u:d:jh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
		case 's':
		case 'u':
		case 'd':
			if (log_filter_option(&fw->f, ch, optarg) < 0) {
				free(fw);
				return EX_DSMTP_USAGE;
			}
			break;
		case 'j':
			fw->json = true;
			break;
		case 'h':
			usage(stdout);
			free(fw);
			return EX_DSMTP_OK;
		default:
			usage(stderr);
			free(fw);
			return EX_DSMTP_USAGE;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		free(fw);
		return EX_DSMTP_USAGE;
	}
	if (optind < argc)
		snprintf(fw->top, sizeof(fw->top), "%s", argv[optind]);
	else if (log_default_dir(config_path, fw->top, sizeof(fw->top)) < 0) {
		free(fw);
		return EX_DSMTP_USAGE;
	}
	/* a state directory: its logs/ (the default logs.dir) */
	if (set_dirs(fw, fw->top) < 0 || (stat(fw->sub[0], &st) != 0 &&
	    stat(fw->sub[1], &st) != 0 && snprintf(alt, sizeof(alt), "%s/logs", fw->top) > 0 &&
	    stat(alt, &st) == 0 && S_ISDIR(st.st_mode) && set_dirs(fw, alt) < 0)) {
		fprintf(stderr, "%s: follow: %s: path too long\n", diag_progname(), fw->top);
		free(fw);
		return EX_DSMTP_USAGE;
	}
	if (stat(fw->top, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: follow: %s: not a directory\n", diag_progname(), fw->top);
		free(fw);
		return EX_DSMTP_NOINPUT;
	}
	/* a closed pipe is an ordinary end: EPIPE from write, no signal;
	 * SIGINT and SIGTERM arrive through a signalfd, and must not be
	 * ignored for that (a shell starts background commands ignoring
	 * SIGINT, and an ignored signal is discarded, never queued) */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (fw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    (fw->wd_top = inotify_add_watch(fw->ifd, fw->top, IN_CREATE | IN_MOVED_TO |
	    IN_ONLYDIR)) < 0) {
		fprintf(stderr, "%s: follow: %s: %s\n", diag_progname(), fw->top, strerror(errno));
		rc = EX_DSMTP_OSERR;
		goto out;
	}
	signal(SIGINT, SIG_DFL);	/* blocked: they wait for the signalfd */
	signal(SIGTERM, SIG_DFL);
	if ((fw->chunk = malloc(FOLLOW_CHUNK > FOLLOW_HEADER ? FOLLOW_CHUNK : FOLLOW_HEADER)) ==
	    NULL || (fw->f.domain != NULL &&
	    (fw->agg = log_agg_new(&fw->f, on_session_done, fw)) == NULL)) {
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		rc = EX_DSMTP_OSERR;
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (d = 0; d < 2; d++)
		sub_scan(fw, (enum plog_dir)d, false);
	pfd[0].fd = fw->ifd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	while (!fw->out_closed && fw->out_err == 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: follow: poll: %s\n", diag_progname(), strerror(errno));
			rc = EX_DSMTP_OSERR;
			break;
		}
		if (pfd[1].revents & POLLIN)
			break;	/* SIGINT or SIGTERM: an ordinary end */
		if (pfd[0].revents & POLLIN)
			on_events(fw);
	}
	if (fw->out_err != 0 && rc == EX_DSMTP_OK) {
		fprintf(stderr, "%s: follow: standard output: %s\n", diag_progname(),
		    strerror(fw->out_err));
		rc = EX_DSMTP_IOERR;
	}
out:
	for (d = 0; d < 2; d++)
		for (i = 0; i < FOLLOW_MAX_FILES; i++)
			if (fw->files[d][i].used) {
				/* no more output: a partial last line stays unsaid */
				plog_reader_free(fw->files[d][i].r);
				fw->files[d][i].r = NULL;
				file_close(&fw->files[d][i]);
			}
	for (i = 0; i < FOLLOW_PEND_BUCKETS; i++)
		while (fw->pend[i] != NULL) {
			struct pend *p = fw->pend[i];

			fw->pend[i] = p->next;
			free(p->buf);
			free(p);
		}
	log_agg_free(fw->agg);
	if (fw->ifd >= 0)
		close(fw->ifd);
	if (sfd >= 0)
		close(sfd);
	free(fw->chunk);
	free(fw);
	return rc;
}
