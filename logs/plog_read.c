/* plog_read.c: the protocol-log reader: a push parser fed bytes in any
 * split (CSV with its #Fields header, or JSON lines), constant memory per
 * line, records handed to a callback; plus finding and ordering log files.
 * Does not own what the records mean (log_main.c does): fields come out
 * un-quoted but still visibly escaped, so they are safe to print. */
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
#include <strings.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/diag.h"
#include "common/json.h"
#include "logs/plog.h"

#define PLOG_MAX_LINE	(1024 * 1024)	/* longer lines are malformed, skipped */
#define PLOG_MAX_COLS	64
#define PLOG_READ_CHUNK	(256 * 1024)
#define PLOG_MAX_DEPTH	8		/* directory recursion */

struct plog_reader {
	plog_record_cb	 rec;
	plog_error_cb	 errf;
	void		*arg;
	char		*line;		/* a line split across feeds */
	size_t		 len, cap;
	bool		 overlong;	/* dropping the rest of a long line */
	char		*work;		/* un-quoted fields of the current line */
	size_t		 workcap;
	int		 map[PLOG_MAX_COLS];	/* CSV column -> field, -1 ignored */
	size_t		 ncols;
	enum plog_dir	 dir;
	char		 name[PATH_MAX];
	unsigned long	 lineno, errors;
	char		*chunk;		/* plog_read_file's buffer */
};

static int	process_line(struct plog_reader *, const char *, size_t);

struct plog_reader *
plog_reader_new(plog_record_cb rec, plog_error_cb errf, void *arg)
{
	struct plog_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->rec = rec;
	r->errf = errf;
	r->arg = arg;
	plog_reader_begin(r, "-", PLOG_RECEIVE);
	return r;
}

void
plog_reader_free(struct plog_reader *r)
{
	if (r == NULL)
		return;
	free(r->line);
	free(r->work);
	free(r->chunk);
	free(r);
}

/* the standard column order, until a #Fields header says otherwise */
static void
default_columns(struct plog_reader *r)
{
	size_t i;

	for (i = 0; i < PLOG_NFIELDS; i++)
		r->map[i] = (int)i;
	r->ncols = PLOG_NFIELDS;
}

void
plog_reader_begin(struct plog_reader *r, const char *name, enum plog_dir dir)
{
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->dir = dir;
	r->len = 0;
	r->overlong = false;
	r->lineno = 0;
	default_columns(r);
}

unsigned long
plog_reader_errors(const struct plog_reader *r)
{
	return r->errors;
}

static void
report(struct plog_reader *r, const char *why)
{
	r->errors++;
	if (r->errf != NULL)
		r->errf(r->name, r->lineno, why, r->arg);
}

/* grow a buffer to at least need bytes; -1 when out of memory */
static int
ensure(char **p, size_t *cap, size_t need)
{
	char *n;
	size_t c;

	if (need <= *cap)
		return 0;
	for (c = *cap ? *cap : 1024; c < need; c *= 2)
		;
	if ((n = realloc(*p, c)) == NULL)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

/* split bytes into lines: whole lines in buf are parsed in place, a line cut
 * by the end of buf is kept (up to PLOG_MAX_LINE) until its LF arrives */
int
plog_reader_feed(struct plog_reader *r, const char *buf, size_t len)
{
	const char *nl;
	size_t n;
	int rc;

	while (len > 0) {
		nl = memchr(buf, '\n', len);
		n = nl ? (size_t)(nl - buf) : len;
		if (r->overlong) {
			/* the line was reported already; skip to its end */
			if (nl != NULL)
				r->overlong = false;
		} else if (r->len == 0 && nl != NULL && n <= PLOG_MAX_LINE) {
			/* the common case: a whole line in buf, parsed in place */
			if ((rc = process_line(r, buf, n)) != 0)
				return rc;
		} else if (r->len + n > PLOG_MAX_LINE) {
			r->lineno++;
			report(r, "line too long");
			r->len = 0;
			r->overlong = nl == NULL;
		} else {
			if (ensure(&r->line, &r->cap, r->len + n + 1) < 0) {
				r->lineno++;
				report(r, "out of memory");
				r->len = 0;
				r->overlong = nl == NULL;
			} else {
				memcpy(r->line + r->len, buf, n);
				r->len += n;
				if (nl != NULL) {
					n = r->len;
					r->len = 0;
					if ((rc = process_line(r, r->line, n)) != 0)
						return rc;
				}
			}
		}
		if (nl == NULL)
			break;
		len -= (size_t)(nl - buf) + 1;
		buf = nl + 1;
	}
	return 0;
}

int
plog_reader_end(struct plog_reader *r)
{
	size_t n = r->len;

	r->overlong = false;
	if (n == 0)
		return 0;
	r->len = 0;
	return process_line(r, r->line, n);
}

/* copy src[0..n) to *w making it safe: controls and bytes outside valid
 * UTF-8 become \xHH (a hostile or foreign file gets the writer's escape) */
static char *
put_safe(char *w, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, ul;

	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			*w++ = (char)s[i++];
			continue;
		}
		if (s[i] >= 0x80 && (ul = plog_utf8_len(s + i, n - i)) > 0) {
			memcpy(w, s + i, ul);
			w += ul;
			i += ul;
			continue;
		}
		*w++ = '\\';
		*w++ = 'x';
		*w++ = hex[s[i] >> 4];
		*w++ = hex[s[i] & 0xf];
		i++;
	}
	return w;
}

/* set the direction from a "#Log-type" value */
static void
log_type(struct plog_reader *r, const char *v, size_t n)
{
	if (n >= 7 && memmem(v, n, "Receive", 7) != NULL)
		r->dir = PLOG_RECEIVE;
	else if (n >= 4 && memmem(v, n, "Send", 4) != NULL)
		r->dir = PLOG_SEND;
}

/* the field index of a column name, -1 if unknown */
static int
field_index(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < PLOG_NFIELDS; i++)
		if (strlen(plog_field_names[i]) == n && strncasecmp(plog_field_names[i], name, n) == 0)
			return (int)i;
	return -1;
}

/* "date-time,connector-id,...": the column map */
static void
fields_header(struct plog_reader *r, const char *v, size_t n)
{
	size_t i = 0, start, end, ncols = 0;
	bool seen[PLOG_NFIELDS] = { false };
	int f;

	while (i <= n && ncols < PLOG_MAX_COLS) {
		for (start = i; start < n && v[start] == ' '; start++)
			;
		for (end = start; end < n && v[end] != ','; end++)
			;
		i = end + 1;
		while (end > start && v[end - 1] == ' ')
			end--;
		f = field_index(v + start, end - start);
		if (f >= 0 && seen[f])
			f = -1;
		if (f >= 0)
			seen[f] = true;
		r->map[ncols++] = f;
	}
	if (!seen[PLOG_F_SESSION] || !seen[PLOG_F_EVENT]) {
		report(r, "#Fields lacks session-id or event; keeping the standard order");
		default_columns(r);
		return;
	}
	r->ncols = ncols;
}

/* a CSV '#' directive line */
static void
csv_directive(struct plog_reader *r, const char *p, size_t n)
{
	if (n >= 8 && strncasecmp(p, "#Fields:", 8) == 0)
		fields_header(r, p + 8, n - 8);
	else if (n >= 10 && strncasecmp(p, "#Log-type:", 10) == 0)
		log_type(r, p + 10, n - 10);
}

/* hand a parsed record to the callback, absent fields as "" */
static int
deliver(struct plog_reader *r, struct plog_record *rec)
{
	size_t i;

	for (i = 0; i < PLOG_NFIELDS; i++)
		if (rec->f[i] == NULL) {
			rec->f[i] = "";
			rec->len[i] = 0;
		}
	rec->dir = r->dir;
	rec->file = r->name;
	rec->line = r->lineno;
	return r->rec != NULL ? (r->rec(rec, r->arg) ? 1 : 0) : 0;
}

/* one RFC 4180 record line */
static int
csv_record(struct plog_reader *r, const char *p, size_t n)
{
	struct plog_record rec = { { NULL }, { 0 }, PLOG_RECEIVE, NULL, 0 };
	size_t i = 0, col = 0, run;
	char *w, *start;

	w = r->work;
	for (;;) {
		start = w;
		if (i < n && p[i] == '"') {
			i++;
			for (;;) {
				if (i >= n) {
					report(r, "unterminated quoted field");
					return 0;
				}
				if (p[i] == '"') {
					if (i + 1 < n && p[i + 1] == '"') {
						*w++ = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				for (run = i; run < n && p[run] != '"'; run++)
					;
				w = put_safe(w, p + i, run - i);
				i = run;
			}
			if (i < n && p[i] != ',') {
				report(r, "text after a closing quote");
				return 0;
			}
		} else {
			for (run = i; run < n && p[run] != ','; run++)
				;
			if (memchr(p + i, '"', run - i) != NULL) {
				report(r, "quote inside an unquoted field");
				return 0;
			}
			w = put_safe(w, p + i, run - i);
			i = run;
		}
		*w++ = '\0';
		if (col < r->ncols && r->map[col] >= 0) {
			rec.f[r->map[col]] = start;
			rec.len[r->map[col]] = (size_t)(w - 1 - start);
		}
		col++;
		if (i >= n)
			break;
		i++;	/* the comma; a trailing one makes an empty last field */
		if (i == n) {
			*w++ = '\0';
			col++;
			break;
		}
	}
	if (col != r->ncols) {
		char why[80];

		snprintf(why, sizeof(why), "%zu fields, expected %zu", col, r->ncols);
		report(r, why);
		return 0;
	}
	return deliver(r, &rec);
}

/* ---- JSON lines: flat objects of strings and numbers ---- */

static size_t
skip_ws(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

static bool
hex4(const char *p, size_t n, size_t i, unsigned *v)
{
	size_t k;
	int h;

	if (i + 4 > n)
		return false;
	for (*v = 0, k = 0; k < 4; k++) {
		if ((h = hex_value(p[i + k])) < 0)
			return false;
		*v = *v << 4 | (unsigned)h;
	}
	return true;
}

/* a code point as UTF-8, through put_safe: controls (C0, DEL and C1) and
 * lone surrogates come out in the visible escape, as the writer would
 * have written them, so a forged "\u009b" cannot reach a terminal raw */
static char *
put_cp(char *w, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put_safe(w, u, n);
}

/* a JSON string at p[*i] (the opening quote) into w; NULL if malformed */
static char *
json_string(const char *p, size_t n, size_t *ip, char *w)
{
	size_t i = *ip + 1, run;
	unsigned cp, lo;

	for (;;) {
		for (run = i; run < n && p[run] != '"' && p[run] != '\\'; run++)
			;
		w = put_safe(w, p + i, run - i);
		i = run;
		if (i >= n)
			return NULL;
		if (p[i] == '"')
			break;
		if (++i >= n)
			return NULL;
		switch (p[i]) {
		case '"': case '\\': case '/':
			*w++ = p[i++];
			continue;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (!hex4(p, n, i + 1, &cp))
				return NULL;
			i += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < n && p[i + 1] == '\\' &&
			    p[i + 2] == 'u' && hex4(p, n, i + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;	/* a lone surrogate */
			break;
		default:
			return NULL;
		}
		w = put_cp(w, cp);
		i++;
	}
	*ip = i + 1;
	return w;
}

/* one JSON object line: a record, or the header object ('#' keys) */
static int
json_record(struct plog_reader *r, const char *p, size_t n)
{
	struct plog_record rec = { { NULL }, { 0 }, PLOG_RECEIVE, NULL, 0 };
	bool header = false, any = false;
	char *w = r->work, *key, *val;
	size_t i = 1, klen, vlen;
	int f;

	i = skip_ws(p, n, i);
	if (i < n && p[i] == '}')
		i++;
	else
		for (;;) {
			i = skip_ws(p, n, i);
			if (i >= n || p[i] != '"')
				goto bad;
			key = w;
			if ((w = json_string(p, n, &i, w)) == NULL)
				goto bad;
			klen = (size_t)(w - key);
			*w++ = '\0';
			i = skip_ws(p, n, i);
			if (i >= n || p[i] != ':')
				goto bad;
			i = skip_ws(p, n, i + 1);
			val = w;
			if (i < n && p[i] == '"') {
				if ((w = json_string(p, n, &i, w)) == NULL)
					goto bad;
			} else {
				/* a number, true, false or null: kept as text */
				size_t run;

				for (run = i; run < n && (p[run] == '-' || p[run] == '+' || p[run] == '.' ||
				    (p[run] >= '0' && p[run] <= '9') || (p[run] >= 'a' && p[run] <= 'z') ||
				    p[run] == 'E'); run++)
					;
				if (run == i)
					goto bad;
				memcpy(w, p + i, run - i);
				w += run - i;
				i = run;
			}
			vlen = (size_t)(w - val);
			*w++ = '\0';
			if (key[0] == '#') {
				header = true;
				if (strcmp(key, "#Log-type") == 0)
					log_type(r, val, vlen);
			} else if ((f = field_index(key, klen)) >= 0) {
				rec.f[f] = val;
				rec.len[f] = vlen;
				any = true;
			}
			i = skip_ws(p, n, i);
			if (i < n && p[i] == ',') {
				i++;
				continue;
			}
			if (i < n && p[i] == '}') {
				i++;
				break;
			}
			goto bad;
		}
	i = skip_ws(p, n, i);
	if (i != n)
		goto bad;
	if (header)
		return 0;
	if (!any || rec.f[PLOG_F_SESSION] == NULL || rec.f[PLOG_F_EVENT] == NULL) {
		report(r, "JSON object without session-id or event");
		return 0;
	}
	return deliver(r, &rec);
bad:
	report(r, "malformed JSON");
	return 0;
}

/* one complete line, without its LF */
static int
process_line(struct plog_reader *r, const char *p, size_t n)
{
	r->lineno++;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	/* the worst case: every byte becomes \xHH, plus a NUL per field */
	if (ensure(&r->work, &r->workcap, 4 * n + PLOG_MAX_COLS + 16) < 0) {
		report(r, "out of memory");
		return 0;
	}
	if (p[0] == '#') {
		csv_directive(r, p, n);
		return 0;
	}
	if (p[0] == '{')
		return json_record(r, p, n);
	return csv_record(r, p, n);
}

/* stream one file through the reader in fixed-size chunks */
int
plog_read_file(struct plog_reader *r, const char *path, struct dsmtp_err *err)
{
	const char *base = strrchr(path, '/');
	ssize_t got;
	int fd, rc = 0;

	if (r->chunk == NULL && (r->chunk = malloc(PLOG_READ_CHUNK)) == NULL) {
		dsmtp_err_set(err, "%s: out of memory", path);
		return -1;
	}
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;	/* zcat old.LOG.gz | dsmtp-log sessions - */
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		dsmtp_err_set(err, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	base = base ? base + 1 : path;
	plog_reader_begin(r, path, strncmp(base, "SEND", 4) == 0 ? PLOG_SEND : PLOG_RECEIVE);
	for (;;) {
		got = read(fd, r->chunk, PLOG_READ_CHUNK);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			dsmtp_err_set(err, "cannot read %s: %s", path, strerror(errno));
			rc = -1;
			break;
		}
		if (got == 0) {
			rc = plog_reader_end(r);
			break;
		}
		if ((rc = plog_reader_feed(r, r->chunk, (size_t)got)) != 0)
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* find key in "k=v; k=v" data (values cannot hold ';': it is escaped) */
bool
plog_kv_get(const char *data, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), vlen;
	const char *p = data, *end;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			vlen = (size_t)(end - p);
			if (outlen > 0) {
				if (vlen >= outlen)
					vlen = outlen - 1;
				memcpy(out, p, vlen);
				out[vlen] = '\0';
			}
			return true;
		}
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (outlen > 0)
		out[0] = '\0';
	return false;
}

/* ---- files ---- */

/* split "RECV20261124-3.LOG": 0 = RECV, 1 = SEND, 2 = other; day, n */
static int
name_key(const char *path, unsigned long *day, unsigned long *n)
{
	const char *b = strrchr(path, '/');
	char *end;
	size_t i;

	b = b ? b + 1 : path;
	*day = *n = 0;
	if (strncmp(b, "RECV", 4) != 0 && strncmp(b, "SEND", 4) != 0)
		return 2;
	for (i = 4; i < 12; i++) {
		if (b[i] < '0' || b[i] > '9')
			return 2;
		*day = *day * 10 + (unsigned long)(b[i] - '0');
	}
	if (b[12] != '-')
		return 2;
	*n = strtoul(b + 13, &end, 10);
	if (strcasecmp(end, ".LOG") != 0)
		return 2;
	return b[0] == 'R' ? 0 : 1;
}

unsigned long
plog_file_day(const char *path)
{
	unsigned long day, n;

	return name_key(path, &day, &n) == 2 ? 0 : day;
}

/* order log files: receive before send, then day, then N (numerically) */
static int
cmp_files(const void *a, const void *b)
{
	const char *pa = *(char *const *)a, *pb = *(char *const *)b;
	unsigned long da, na, db, nb;
	int ka = name_key(pa, &da, &na), kb = name_key(pb, &db, &nb);

	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (da != db)
		return da < db ? -1 : 1;
	if (na != nb)
		return na < nb ? -1 : 1;
	return strcmp(pa, pb);
}

/* append a copy of path to the list */
static int
files_add(struct plog_files *fl, const char *path, struct dsmtp_err *err)
{
	char **v;

	/* capacity: 16, then doubled whenever n reaches a power of two */
	if (fl->n == 0 || (fl->n >= 16 && (fl->n & (fl->n - 1)) == 0)) {
		size_t cap = fl->n ? fl->n * 2 : 16;

		if ((v = realloc(fl->v, cap * sizeof(*v))) == NULL)
			goto oom;
		fl->v = v;
	}
	if ((fl->v[fl->n] = strdup(path)) == NULL)
		goto oom;
	fl->n++;
	return 0;
oom:
	dsmtp_err_set(err, "out of memory");
	return -1;
}

/* every *.LOG under dir, recursively (receive/, send/, ...) */
static int
files_walk(struct plog_files *fl, const char *dir, int depth, struct dsmtp_err *err)
{
	char p[PATH_MAX];
	struct dirent *de;
	struct stat st;
	size_t len;
	DIR *dp;
	int rc = 0;

	if (depth > PLOG_MAX_DEPTH)
		return 0;
	if ((dp = opendir(dir)) == NULL) {
		dsmtp_err_set(err, "cannot read directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p))
			continue;
		if (stat(p, &st) != 0)
			continue;
		len = strlen(de->d_name);
		if (S_ISDIR(st.st_mode))
			rc = files_walk(fl, p, depth + 1, err);
		else if (S_ISREG(st.st_mode) && len > 4 && strcasecmp(de->d_name + len - 4, ".LOG") == 0)
			rc = files_add(fl, p, err);
	}
	closedir(dp);
	return rc;
}

/* the log files named by the arguments, in reading order */
int
plog_files_collect(char *const *paths, size_t npaths, struct plog_files *out,
    struct dsmtp_err *err)
{
	struct stat st;
	size_t i;

	out->v = NULL;
	out->n = 0;
	for (i = 0; i < npaths; i++) {
		if (strcmp(paths[i], "-") == 0) {
			if (files_add(out, paths[i], err) < 0)
				goto fail;
			continue;
		}
		if (stat(paths[i], &st) != 0) {
			dsmtp_err_set(err, "%s: %s", paths[i], strerror(errno));
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			if (files_walk(out, paths[i], 0, err) < 0)
				goto fail;
		} else if (files_add(out, paths[i], err) < 0)
			goto fail;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(out->v[0]), cmp_files);
	return 0;
fail:
	plog_files_free(out);
	return -1;
}

void
plog_files_free(struct plog_files *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		free(fl->v[i]);
	free(fl->v);
	fl->v = NULL;
	fl->n = 0;
}

/* print s as a JSON string literal: common/json.c's writer (on the
 * reader's fields, visibly escaped already, only '"' and '\' change) */
void
plog_json_string(FILE *out, const char *s)
{
	json_put_string(out, s);
}
