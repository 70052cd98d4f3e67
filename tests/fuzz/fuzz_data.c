/* fuzz_data.c: libFuzzer target for the DATA body state machine
 * (smtpd/data.c): smtpd_data_feed (dot-unstuffing, the CRLF.CRLF end) and
 * smtpd_data_feed_raw (BDAT). Checks that the result does not depend on how
 * the bytes arrive (whole, split once, one byte at a time, random chunks),
 * that the end of data is exactly the first CRLF "." CRLF, and that stored
 * bytes and flags match a separate, simple model of RFC 5321 4.1.1.4 and
 * 4.5.2. Input: 3 control bytes (size limit, split point, store failure),
 * then the body bytes as received after "354". */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/data.h"
#include "tests/fuzz/fuzz.h"

/* where the store callback puts bytes; fails once fail_at bytes are in */
struct sink {
	char	*buf;
	size_t	 len, cap;
	size_t	 fail_at;	/* SIZE_MAX: never fail */
	size_t	 calls;
};

/* one run of the machine over the input, with its outcome */
struct run {
	struct smtpd_data	 d;
	struct sink		 s;
	size_t			 used;
	bool			 failed;
};

/* what the model says the machine must produce */
struct model {
	size_t		 used;		/* bytes consumed */
	bool		 done;		/* CRLF.CRLF found */
	char		*out;		/* unstuffed bytes, before any size limit */
	size_t		 outlen;
	bool		 bare, too_long;
};

static int
sink_store(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	FUZZ_CHECK(n > 0, "store called with 0 bytes");
	s->calls++;
	if (s->len + n > s->fail_at)
		return -1;
	if (s->len + n > s->cap) {
		size_t ncap = (s->len + n) * 2;
		char *b = realloc(s->buf, ncap);

		if (b == NULL)
			abort();
		s->buf = b;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static void
run_init(struct run *r, uint64_t max, size_t fail_at)
{
	memset(r, 0, sizeof(*r));
	smtpd_data_init(&r->d, max);
	r->s.fail_at = fail_at;
}

/* feed p[0..n) in chunks of the given sizes (0 ends the list: the rest) */
static void
run_feed(struct run *r, const char *p, size_t n, const size_t *chunks, bool raw)
{
	size_t off = 0, k = 0;

	while (off < n && (raw || r->d.st != DATA_DONE)) {
		size_t c = chunks[k] ? chunks[k] : n - off, got;

		if (chunks[k])
			k++;
		if (c > n - off)
			c = n - off;
		if (raw) {
			smtpd_data_feed_raw(&r->d, p + off, c, sink_store, &r->s, &r->failed);
			got = c;
		} else {
			got = smtpd_data_feed(&r->d, p + off, c, sink_store, &r->s, &r->failed);
			FUZZ_CHECK(got <= c, "consumed %zu of %zu", got, c);
			FUZZ_CHECK(got == c || r->d.st == DATA_DONE,
			    "consumed %zu of %zu without reaching the end of data", got, c);
		}
		off += got;
		r->used = off;
	}
}

/* RFC 5321 as a reader would write it: the first CRLF "." CRLF ends the
 * data (the DATA command's own CRLF counts as the one before the dot); a
 * line-start dot followed by anything but CR is removed; CR LF is the only
 * line end; a bare CR or LF, or ".\r" without LF, is kept and flagged */
static void
model_data(const char *p, size_t n, struct model *m)
{
	size_t end = n, blen, i = 0, linelen = 0;
	bool bol = true;

	memset(m, 0, sizeof(*m));
	for (size_t k = 0; k + 3 <= n; k++)
		if ((k == 0 || (k >= 2 && p[k - 2] == '\r' && p[k - 1] == '\n')) &&
		    memcmp(p + k, ".\r\n", 3) == 0) {
			end = k + 3;
			m->done = true;
			break;
		}
	m->used = end;
	blen = m->done ? end - 3 : end;
	m->out = malloc(blen + 1);
	if (m->out == NULL)
		abort();
#define PUT(c) (m->out[m->outlen++] = (c))
#define COUNT(k) do { linelen += (k); if (linelen > SMTP_TEXT_LINE_MAX - 2) m->too_long = true; } while (0)
	while (i < blen) {
		char c = p[i];

		if (bol && c == '.') {
			if (i + 1 == blen)
				break;		/* pending: a dot alone so far */
			if (p[i + 1] == '\r') {
				if (i + 2 == blen)
					break;	/* pending: ".\r" */
				PUT('.');
				PUT('\r');
				COUNT(2);
				m->bare = true;
				i += 2;
			} else
				i++;		/* a stuffed dot */
			bol = false;
			continue;
		}
		bol = false;
		if (c == '\r') {
			if (i + 1 == blen)
				break;		/* pending: CR, LF may follow */
			if (p[i + 1] == '\n') {
				PUT('\r');
				PUT('\n');
				linelen = 0;
				bol = true;
				i += 2;
				continue;
			}
			PUT('\r');
			COUNT(1);
			m->bare = true;
			i++;
			continue;
		}
		if (c == '\n')
			m->bare = true;
		else
			COUNT(1);
		PUT(c);
		i++;
	}
#undef PUT
#undef COUNT
}

/* BDAT: the bytes as they are; CR LF is the only line end */
static void
model_raw(const char *p, size_t n, struct model *m)
{
	size_t linelen = 0;

	memset(m, 0, sizeof(*m));
	m->used = n;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 < n && p[i + 1] != '\n')
				m->bare = true;
		} else if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				m->bare = true;
			else
				linelen = 0;
		} else if (++linelen > SMTP_TEXT_LINE_MAX - 2)
			m->too_long = true;
	}
}

/* no line end in stored bytes is anything but CR LF */
static bool
only_crlf(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

/* equal byte strings; either pointer may be NULL when its length is 0 */
static bool
same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void
check_same(const char *what, const struct run *a, const struct run *b, bool compare_bytes)
{
	FUZZ_CHECK(a->used == b->used, "%s: consumed %zu vs %zu", what, a->used, b->used);
	FUZZ_CHECK(a->d.st == b->d.st, "%s: state %d vs %d", what, a->d.st, b->d.st);
	FUZZ_CHECK(a->d.bare == b->d.bare, "%s: bare %d vs %d", what, a->d.bare, b->d.bare);
	FUZZ_CHECK(a->d.too_long == b->d.too_long, "%s: too_long %d vs %d", what,
	    a->d.too_long, b->d.too_long);
	FUZZ_CHECK(a->d.too_big == b->d.too_big, "%s: too_big %d vs %d", what,
	    a->d.too_big, b->d.too_big);
	FUZZ_CHECK(a->d.linelen == b->d.linelen, "%s: linelen %zu vs %zu", what,
	    a->d.linelen, b->d.linelen);
	if (compare_bytes) {
		FUZZ_CHECK(a->d.size == b->d.size, "%s: size %llu vs %llu", what,
		    (unsigned long long)a->d.size, (unsigned long long)b->d.size);
		FUZZ_CHECK(same_bytes(a->s.buf, a->s.len, b->s.buf, b->s.len),
		    "%s: different stored bytes (%zu vs %zu)", what, a->s.len, b->s.len);
	}
}

/* one input through one machine (raw or not) in every way */
static void
check_machine(const char *p, size_t n, uint64_t max, size_t split, uint32_t seed,
    size_t fail_at, bool raw)
{
	static const size_t whole[] = { 0 };
	size_t two[] = { split, 0 };
	size_t *ones, *rnd;
	struct run a, b, c, r, f;
	struct model m;
	size_t k = 0;

	if ((ones = calloc(n + 1, sizeof(*ones))) == NULL ||
	    (rnd = calloc(n + 1, sizeof(*rnd))) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		ones[i] = 1;
	for (size_t left = n; left > 0; k++) {
		size_t c = 1 + fuzz_rand(&seed) % 17;

		rnd[k] = c < left ? c : left;
		left -= rnd[k];
	}

	run_init(&a, max, SIZE_MAX);
	run_feed(&a, p, n, whole, raw);
	run_init(&b, max, SIZE_MAX);
	run_feed(&b, p, n, split ? two : whole, raw);
	run_init(&c, max, SIZE_MAX);
	run_feed(&c, p, n, ones, raw);
	run_init(&r, max, SIZE_MAX);
	run_feed(&r, p, n, rnd, raw);
	/* once the size limit is hit, which later pieces still fit depends on
	 * the pieces: only the flag must agree then, not the stored bytes */
	check_same("whole vs split", &a, &b, !a.d.too_big);
	check_same("whole vs byte by byte", &a, &c, !a.d.too_big);
	check_same("whole vs random chunks", &a, &r, !a.d.too_big);

	if (raw)
		model_raw(p, n, &m);
	else
		model_data(p, n, &m);
	if (!raw) {
		FUZZ_CHECK(a.used == m.used, "consumed %zu, the first CRLF.CRLF ends at %zu",
		    a.used, m.used);
		FUZZ_CHECK((a.d.st == DATA_DONE) == m.done, "end of data %d, model %d",
		    a.d.st == DATA_DONE, m.done);
		if (a.d.st == DATA_DONE) {
			/* the smuggling rule, said plainly: only CR LF "." CR LF ends */
			FUZZ_CHECK(a.used >= 3 && memcmp(p + a.used - 3, ".\r\n", 3) == 0 &&
			    (a.used == 3 || (p[a.used - 5] == '\r' && p[a.used - 4] == '\n')),
			    "end of data at %zu is not CRLF.CRLF", a.used);
		}
	} else {
		m.out = NULL;
		m.outlen = n;
	}
	FUZZ_CHECK(a.d.bare == m.bare, "bare %d, model %d", a.d.bare, m.bare);
	FUZZ_CHECK(a.d.too_long == m.too_long, "too_long %d, model %d", a.d.too_long, m.too_long);
	FUZZ_CHECK(a.d.too_big == (m.outlen > max), "too_big %d with %zu bytes, max %llu",
	    a.d.too_big, m.outlen, (unsigned long long)max);
	FUZZ_CHECK(a.d.size <= max, "size %llu over max %llu", (unsigned long long)a.d.size,
	    (unsigned long long)max);
	FUZZ_CHECK(a.d.size == a.s.len, "size %llu, stored %zu", (unsigned long long)a.d.size,
	    a.s.len);
	if (!a.d.too_big) {
		const char *want = raw ? p : m.out;

		FUZZ_CHECK(same_bytes(a.s.buf, a.s.len, want, m.outlen),
		    "stored %zu bytes, model %zu (or different bytes)", a.s.len, m.outlen);
	}
	/* a message without the bare flag carries CR LF line ends only */
	if (!a.d.bare && !a.d.too_big)
		FUZZ_CHECK(only_crlf(a.s.buf, a.s.len) || (raw && a.s.len && a.s.buf[a.s.len - 1] == '\r'),
		    "stored bytes hold a bare CR or LF but the bare flag is not set");

	/* a failing store stops storing, never parsing */
	run_init(&f, max, fail_at);
	run_feed(&f, p, n, rnd, raw);
	check_same("failing store vs whole", &a, &f, false);
	FUZZ_CHECK(f.s.len <= r.s.len && same_bytes(f.s.buf, f.s.len, r.s.buf, f.s.len),
	    "a failing store stored bytes that the good one did not");
	FUZZ_CHECK(f.failed == (f.s.len < r.s.len), "store_failed %d, stored %zu of %zu",
	    f.failed, f.s.len, r.s.len);

	free(m.out);
	free(a.s.buf);
	free(b.s.buf);
	free(c.s.buf);
	free(r.s.buf);
	free(f.s.buf);
	free(ones);
	free(rnd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t lim = fuzz_byte(&in), sp = fuzz_byte(&in), fl = fuzz_byte(&in);
	uint64_t max;
	size_t split, fail_at;
	char *p;

	/* the limit: mostly none, sometimes small enough to be hit */
	max = lim >= 0x80 ? UINT64_MAX : (uint64_t)lim * 8;
	split = in.n ? sp % (in.n + 1) : 0;
	fail_at = fl == 0xff ? SIZE_MAX : (size_t)fl * 4;
	/* an exact-size copy, so ASan sees any read past the end */
	if ((p = malloc(in.n ? in.n : 1)) == NULL)
		abort();
	memcpy(p, in.p, in.n);
	check_machine(p, in.n, max, split, (uint32_t)sp << 8 | fl, fail_at, false);
	check_machine(p, in.n, max, split, (uint32_t)fl << 8 | sp, fail_at, true);
	free(p);
	return 0;
}
