/* fuzz_plog_read.c: libFuzzer target for the protocol-log reader
 * (logs/plog_read.c): plog_reader_new/begin/feed/end/free over CSV (with
 * #Fields and #Log-type directives) and JSON lines. Input: 2 control bytes
 * (direction and chunking seed; split point), then the log file. Checks:
 *  - the records and errors do not depend on how the bytes arrive (whole,
 *    split once, one byte at a time, random chunks);
 *  - every record has all 9 fields, each NUL-terminated at its length and
 *    safe to print: no C0/C1 control, no DEL, valid UTF-8 (plog.h's escape);
 *  - in a CSV file with the standard columns, a line is a record exactly
 *    when RFC 4180 splits it into 9 fields, and the fields are those;
 *  - memory stays linear in the longest line (malloc hooks measure it).
 * Control byte 0xa5 repeats the body past the reader's 1 MiB line limit,
 * which -max_len never reaches; that input skips the byte-by-byte run. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sanitizer/allocator_interface.h>

#include "logs/plog.h"
#include "tests/fuzz/fuzz.h"

#define READER_LINE_MAX	(1024 * 1024)	/* PLOG_MAX_LINE in plog_read.c */
#define AMPLIFY		0xa5

/* ---- what the reader reported, as one comparable transcript ---- */

struct transcript {
	char	*b;
	size_t	 len, cap;
	size_t	 nrec;
	/* per input line (1-based): 1 if a record came from it */
	unsigned char	*rec_at;
	size_t		 nlines;
	char		**fields_at;	/* the record's fields, for the CSV model */
};

static void
tr_add(struct transcript *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t ncap = (t->len + n) * 2 + 256;
		char *b = realloc(t->b, ncap);

		if (b == NULL)
			abort();
		t->b = b;
		t->cap = ncap;
	}
	memcpy(t->b + t->len, p, n);
	t->len += n;
}

static void
tr_printf(struct transcript *t, const char *fmt, ...) DIAG_PRINTF(2, 3);

static void
tr_printf(struct transcript *t, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tr_add(t, buf, n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- memory accounting, only while the reader runs on this thread ---- */

static _Thread_local bool measuring;
static size_t live, peak, biggest;

static void
on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (!measuring)
		return;
	live += n;
	if (live > peak)
		peak = live;
	if (n > biggest)
		biggest = n;
}

static void
on_free(const volatile void *p)
{
	size_t n;

	if (!measuring || p == NULL)
		return;
	n = __sanitizer_get_allocated_size(p);
	live = n <= live ? live - n : 0;
}

/* ---- the printable-field rule of plog.h ---- */

/* a UTF-8 sequence at s that is not a C1 control: its length, or 0 */
static size_t
utf8_ok(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp < 0xe000) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return len;
}

/* the offset of the first byte that breaks the rule, or n */
static size_t
unsafe_at(const char *f, size_t n)
{
	const unsigned char *s = (const unsigned char *)f;
	size_t i = 0, ul;

	while (i < n) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return i;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((ul = utf8_ok(s + i, n - i)) == 0)
			return i;
		i += ul;
	}
	return n;
}

/* ---- the reader's callbacks ---- */

static int
on_record(const struct plog_record *r, void *arg)
{
	struct transcript *t = arg;
	bool was = measuring;

	measuring = false;
	t->nrec++;
	FUZZ_CHECK(r->line >= 1 && r->line <= t->nlines, "record at line %lu of %zu", r->line,
	    t->nlines);
	FUZZ_CHECK(r->dir == PLOG_RECEIVE || r->dir == PLOG_SEND, "direction %d", r->dir);
	tr_printf(t, "R %lu %d", r->line, r->dir);
	for (int i = 0; i < PLOG_NFIELDS; i++) {
		size_t at;

		FUZZ_CHECK(r->f[i] != NULL, "field %s missing", plog_field_names[i]);
		FUZZ_CHECK(strlen(r->f[i]) == r->len[i], "field %s: length %zu, strlen %zu",
		    plog_field_names[i], r->len[i], strlen(r->f[i]));
		at = unsafe_at(r->f[i], r->len[i]);
		if (at < r->len[i] && fuzz_checking("plog-json-c1"))
			FUZZ_CHECK(0, "line %lu field %s: byte 0x%02x at %zu is not printable text",
			    r->line, plog_field_names[i], (unsigned char)r->f[i][at], at);
		tr_printf(t, " %zu:", r->len[i]);
		tr_add(t, r->f[i], r->len[i]);
	}
	tr_add(t, "\n", 1);
	if (t->rec_at != NULL) {
		t->rec_at[r->line] = 1;
		for (int i = 0; i < PLOG_NFIELDS; i++)
			if ((t->fields_at[r->line * PLOG_NFIELDS + i] = strdup(r->f[i])) == NULL)
				abort();
	}
	measuring = was;
	return 0;
}

static void
on_error(const char *file, unsigned long line, const char *why, void *arg)
{
	struct transcript *t = arg;
	bool was = measuring;

	measuring = false;
	FUZZ_CHECK(strcmp(file, "fuzz.LOG") == 0, "error names file \"%s\"", file);
	FUZZ_CHECK(line >= 1 && line <= t->nlines, "error at line %lu of %zu", line, t->nlines);
	tr_printf(t, "E %lu %s\n", line, why);
	measuring = was;
}

/* ---- one run: feed the input in the given pieces ---- */

static void
read_log(const char *p, size_t n, enum plog_dir dir, const size_t *chunks, struct transcript *t)
{
	struct plog_reader *r;
	size_t off = 0, k = 0;

	measuring = true;
	if ((r = plog_reader_new(on_record, on_error, t)) == NULL)
		abort();
	plog_reader_begin(r, "fuzz.LOG", dir);
	while (off < n) {
		size_t c = chunks[k] ? chunks[k++] : n - off;

		if (c > n - off)
			c = n - off;
		FUZZ_CHECK(plog_reader_feed(r, p + off, c) == 0, "feed stopped without a stop");
		off += c;
	}
	FUZZ_CHECK(plog_reader_end(r) == 0, "end stopped without a stop");
	tr_printf(t, "errors %lu\n", plog_reader_errors(r));
	plog_reader_free(r);
	measuring = false;
}

/* ---- RFC 4180 and the escape, written from the spec, for the model ---- */

static char *
esc(char *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, ul;

	while (i < n) {
		if (u[i] >= 0x20 && u[i] != 0x7f && u[i] < 0x80) {
			*w++ = (char)u[i++];
		} else if (u[i] >= 0x80 && (ul = utf8_ok(u + i, n - i)) > 0) {
			memcpy(w, u + i, ul);
			w += ul;
			i += ul;
		} else {
			*w++ = '\\';
			*w++ = 'x';
			*w++ = hex[u[i] >> 4];
			*w++ = hex[u[i] & 15];
			i++;
		}
	}
	return w;
}

/* split one CSV line into at most max fields (escaped, NUL-separated in
 * out); returns the field count, or -1 if the line is not RFC 4180 */
static long
csv_split(const char *p, size_t n, char *out, char **f, long max)
{
	size_t i = 0;
	long nf = 0;
	char *w = out;

	for (;;) {
		char *start = w;

		if (i < n && p[i] == '"') {
			for (i++;;) {
				size_t run = i;

				if (i >= n)
					return -1;
				if (p[i] == '"' && i + 1 < n && p[i + 1] == '"') {
					*w++ = '"';
					i += 2;
					continue;
				}
				if (p[i] == '"') {
					i++;
					break;
				}
				while (run < n && p[run] != '"')
					run++;
				w = esc(w, p + i, run - i);
				i = run;
			}
			if (i < n && p[i] != ',')
				return -1;
		} else {
			size_t run = i;

			while (run < n && p[run] != ',') {
				if (p[run] == '"')
					return -1;
				run++;
			}
			w = esc(w, p + i, run - i);
			i = run;
		}
		*w++ = '\0';
		if (nf < max)
			f[nf] = start;
		nf++;
		if (i >= n)
			return nf;
		i++;	/* the comma */
	}
}

/* every CSV line before any #Fields directive: a record iff 9 fields */
static void
check_csv_model(const char *p, size_t n, const struct transcript *t)
{
	char *out = malloc(4 * n + 16), *f[PLOG_NFIELDS];
	size_t ln = 0, i = 0;

	if (out == NULL)
		abort();
	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
		const char *s = p + i;
		long nf;

		ln++;
		i += len + (nl != NULL);
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len == 0 || s[0] == '{')
			continue;
		if (s[0] == '#') {
			if (len >= 8 && strncasecmp(s, "#Fields:", 8) == 0)
				break;	/* the columns change: the model stops here */
			continue;
		}
		nf = csv_split(s, len, out, f, PLOG_NFIELDS);
		FUZZ_CHECK((nf == PLOG_NFIELDS) == (t->rec_at[ln] != 0),
		    "CSV line %zu has %ld RFC 4180 fields but the reader %s it", ln, nf,
		    t->rec_at[ln] ? "made a record of" : "refused");
		if (nf != PLOG_NFIELDS)
			continue;
		for (int k = 0; k < PLOG_NFIELDS; k++)
			FUZZ_CHECK(strcmp(f[k], t->fields_at[ln * PLOG_NFIELDS + k]) == 0,
			    "CSV line %zu field %s: \"%s\", the reader says \"%s\"", ln,
			    plog_field_names[k], f[k], t->fields_at[ln * PLOG_NFIELDS + k]);
	}
	free(out);
}

static void
tr_free(struct transcript *t)
{
	if (t->fields_at != NULL)
		for (size_t i = 0; i < (t->nlines + 1) * PLOG_NFIELDS; i++)
			free(t->fields_at[i]);
	free(t->fields_at);
	free(t->rec_at);
	free(t->b);
}

static void
check_same(const char *what, const struct transcript *a, const struct transcript *b,
    bool amplified)
{
	if (a->len == b->len && memcmp(a->b, b->b, a->len) == 0)
		return;
	if (amplified && !fuzz_checking("plog-line-limit"))
		return;
	fprintf(stderr, "--- whole:\n%.*s--- %s:\n%.*s", (int)(a->len > 4000 ? 4000 : a->len),
	    a->b, what, (int)(b->len > 4000 ? 4000 : b->len), b->b);
	FUZZ_CHECK(0, "records or errors differ: whole vs %s", what);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t c0 = fuzz_byte(&in), c1 = fuzz_byte(&in);
	enum plog_dir dir = (c0 & 1) ? PLOG_SEND : PLOG_RECEIVE;
	bool amplify = c0 == AMPLIFY && in.n > 0;
	struct transcript ta = { 0 }, tb = { 0 }, tc = { 0 }, tr = { 0 };
	size_t n = in.n, longest = 0, cur = 0, two[2], *ones, *rnd, k = 0;
	uint32_t seed = (uint32_t)c0 << 8 | c1;
	char *p;

	if (amplify) {
		/* the first line, again and again, to just past the line limit,
		 * then the rest of the body from its LF on */
		const uint8_t *lf = memchr(in.p, '\n', in.n);
		size_t first = lf ? (size_t)(lf - in.p) : in.n, reps;

		if (first == 0)
			first = 1;
		reps = READER_LINE_MAX / first + 2;
		n = reps * first + (in.n - first);
		if ((p = malloc(n)) == NULL)
			abort();
		for (size_t r = 0; r < reps; r++)
			memcpy(p + r * first, in.p, first);
		memcpy(p + reps * first, in.p + first, in.n - first);
	} else {
		if ((p = malloc(n ? n : 1)) == NULL)
			abort();
		memcpy(p, in.p, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			cur = 0;
			continue;
		}
		if (++cur > longest)
			longest = cur;
	}
	ta.nlines = tb.nlines = tc.nlines = tr.nlines = 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n')
			ta.nlines = tb.nlines = tc.nlines = ++tr.nlines;
	if (!amplify) {
		if ((ta.rec_at = calloc(ta.nlines + 1, 1)) == NULL ||
		    (ta.fields_at = calloc((ta.nlines + 1) * PLOG_NFIELDS, sizeof(char *))) == NULL)
			abort();
	}

	two[0] = n ? c1 % (n + 1) : 0;
	two[1] = 0;
	if ((ones = calloc(amplify ? 1 : n + 1, sizeof(*ones))) == NULL ||
	    (rnd = calloc(n + 1, sizeof(*rnd))) == NULL)
		abort();
	for (size_t i = 0; i < n && !amplify; i++)
		ones[i] = 1;
	for (size_t left = n; left > 0; k++) {
		size_t c = 1 + fuzz_rand(&seed) % (amplify ? 300000 : 40);

		rnd[k] = c < left ? c : left;
		left -= rnd[k];
	}

	live = peak = biggest = 0;
	read_log(p, n, dir, (size_t[]){ 0 }, &ta);
	/* memory: the reader's own struct, one line, its un-quoted copy */
	FUZZ_CHECK(peak <= 16384 + 16 * longest, "peak %zu bytes for lines of %zu", peak, longest);
	FUZZ_CHECK(biggest <= 8192 + 8 * longest, "one allocation of %zu bytes for lines of %zu",
	    biggest, longest);
	read_log(p, n, dir, two[0] ? two : (size_t[]){ 0 }, &tb);
	check_same("split once", &ta, &tb, amplify);
	if (!amplify) {
		read_log(p, n, dir, ones, &tc);
		check_same("byte by byte", &ta, &tc, false);
	}
	read_log(p, n, dir, rnd, &tr);
	check_same("random chunks", &ta, &tr, amplify);
	if (!amplify)
		check_csv_model(p, n, &ta);

	tr_free(&ta);
	tr_free(&tb);
	tr_free(&tc);
	tr_free(&tr);
	free(ones);
	free(rnd);
	free(p);
	return 0;
}
