/* fuzz_smtp_reply.c: libFuzzer target for dsmtpc's SMTP reply parser
 * (smtpc/reply.c): smtpc_reply_feed over a server's byte stream, then
 * smtpc_reply_flat, smtpc_reply_status and smtpc_reply_line on each reply.
 * Input: 2 control bytes (chunking seed, split point), then what the
 * server sent. Checks:
 *  - the replies and the error do not depend on how the bytes arrive
 *    (whole, split once, one byte at a time, random chunks);
 *  - a reply is RFC 5321 4.2 shaped: code 200..599, 1..100 lines of at most
 *    510 octets, each starting with the code, "-" on all lines but the
 *    last; feed's byte counts add up to the input;
 *  - flat is printable ASCII and fits, status is "C.S.D" of the reply's
 *    class, smtpc_reply_line gives back every line. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/smtpc.h"
#include "tests/fuzz/fuzz.h"

struct transcript {
	char	*b;
	size_t	 len, cap;
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
tr_num(struct transcript *t, const char *tag, size_t v)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s %zu\n", tag, v);

	tr_add(t, buf, (size_t)n);
}

/* "C.S.D": class 2..5, subject and detail of 1 to 3 digits */
static bool
is_status(const char *s, int cls)
{
	size_t i = 0;

	if (s[0] - '0' != cls || s[1] != '.')
		return false;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;

		while (isdigit((unsigned char)s[i]) && n < 3)
			i++, n++;
		if (n == 0)
			return false;
		if (part == 0 && s[i++] != '.')
			return false;
	}
	return s[i] == '\0';
}

/* one complete reply: its shape, and what the helpers make of it */
static void
check_reply(const struct smtpc_reply *r)
{
	char flat[128], status[32], line[600];
	size_t pos = 0, lines = 0, start = 0;

	FUZZ_CHECK(r->code >= 200 && r->code <= 599, "code %d", r->code);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= SMTPC_REPLY_LINES_MAX, "%zu lines", r->nlines);
	FUZZ_CHECK(r->text != NULL && r->len < r->cap && r->text[r->len] == '\0',
	    "text not terminated at its length");
	/* bounded: 100 lines of 510 octets and their separators, doubled */
	FUZZ_CHECK(r->cap <= 2 * SMTPC_REPLY_LINES_MAX * SMTPC_REPLY_LINE_MAX,
	    "reply buffer of %zu bytes", r->cap);
	for (size_t i = 0; i <= r->len; i++) {
		size_t n;
		const char *l = r->text + start;

		if (i < r->len && r->text[i] != '\n')
			continue;
		n = i - start;
		lines++;
		FUZZ_CHECK(n >= 3 && n <= SMTPC_REPLY_LINE_MAX - 2, "line %zu of %zu octets", lines, n);
		FUZZ_CHECK((l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0') == r->code &&
		    isdigit((unsigned char)l[1]) && isdigit((unsigned char)l[2]),
		    "line %zu does not start with code %d", lines, r->code);
		if (i < r->len)
			FUZZ_CHECK(n > 3 && l[3] == '-', "line %zu is not a continuation", lines);
		else
			FUZZ_CHECK(n == 3 || l[3] == ' ', "the last line continues");
		start = i + 1;
	}
	FUZZ_CHECK(lines == r->nlines, "%zu lines in the text, nlines %zu", lines, r->nlines);

	memset(flat, 'X', sizeof(flat));
	smtpc_reply_flat(r, flat, sizeof(flat));
	FUZZ_CHECK(memchr(flat, '\0', sizeof(flat)) != NULL, "flat not terminated");
	for (size_t i = 0; flat[i]; i++)
		FUZZ_CHECK(flat[i] >= 0x20 && flat[i] < 0x7f, "flat holds byte 0x%02x",
		    (unsigned char)flat[i]);

	smtpc_reply_status(r, status, sizeof(status));
	FUZZ_CHECK(is_status(status, r->code / 100), "status \"%s\" for code %d", status, r->code);

	while (smtpc_reply_line(r, &pos, line, sizeof(line))) {
		FUZZ_CHECK(++lines <= 2 * r->nlines, "smtpc_reply_line does not stop");
		FUZZ_CHECK(strlen(line) < sizeof(line), "line not terminated");
	}
	FUZZ_CHECK(lines == 2 * r->nlines, "smtpc_reply_line gave %zu lines of %zu",
	    lines - r->nlines, r->nlines);
}

/* feed p[0..n) in the given pieces (0 ends the list: the rest) */
static void
read_replies(const char *p, size_t n, const size_t *chunks, struct transcript *t)
{
	struct smtpc_reply_parser rp;
	size_t off = 0, k = 0;

	smtpc_reply_init(&rp);
	while (off < n) {
		size_t c = chunks[k] ? chunks[k++] : n - off, end;

		if (c > n - off)
			c = n - off;
		for (end = off + c; off < end;) {
			size_t used = (size_t)-1;
			int rc = smtpc_reply_feed(&rp, p + off, end - off, &used);

			FUZZ_CHECK(used <= end - off, "used %zu of %zu", used, end - off);
			if (rc < 0) {
				FUZZ_CHECK(rp.err[0] != '\0', "an error without a reason");
				tr_num(t, "error at", off + used);
				tr_add(t, rp.err, strlen(rp.err));
				smtpc_reply_free(&rp);
				return;
			}
			if (rc == 0) {
				FUZZ_CHECK(used == end - off, "need more, but used %zu of %zu", used,
				    end - off);
				off = end;
				continue;
			}
			FUZZ_CHECK(rc == 1 && used >= 1 && p[off + used - 1] == '\n',
			    "rc %d, a reply that does not end at LF", rc);
			off += used;
			check_reply(&rp.r);
			tr_num(t, "reply", (size_t)rp.r.code);
			tr_num(t, "lines", rp.r.nlines);
			tr_num(t, "at", off);
			tr_add(t, rp.r.text, rp.r.len);
			tr_add(t, "\n", 1);
		}
	}
	tr_num(t, "pending, end at", off);
	smtpc_reply_free(&rp);
}

static void
check_same(const char *what, const struct transcript *a, const struct transcript *b)
{
	if (a->len == b->len && memcmp(a->b, b->b, a->len) == 0)
		return;
	fprintf(stderr, "--- whole:\n%.*s\n--- %s:\n%.*s\n", (int)a->len, a->b, what, (int)b->len,
	    b->b);
	FUZZ_CHECK(0, "replies differ: whole vs %s", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t c0 = fuzz_byte(&in), c1 = fuzz_byte(&in);
	struct transcript ta = { 0 }, tb = { 0 }, tc = { 0 }, tr = { 0 };
	size_t n = in.n, two[2] = { n ? c1 % (n + 1) : 0, 0 }, *ones, *rnd, k = 0;
	uint32_t seed = (uint32_t)c0 << 8 | c1;
	char *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(p, in.p, n);
	if ((ones = calloc(n + 1, sizeof(*ones))) == NULL ||
	    (rnd = calloc(n + 1, sizeof(*rnd))) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		ones[i] = 1;
	for (size_t left = n; left > 0; k++) {
		size_t c = 1 + fuzz_rand(&seed) % 64;

		rnd[k] = c < left ? c : left;
		left -= rnd[k];
	}
	read_replies(p, n, (size_t[]){ 0 }, &ta);
	read_replies(p, n, two[0] ? two : (size_t[]){ 0 }, &tb);
	check_same("split once", &ta, &tb);
	read_replies(p, n, ones, &tc);
	check_same("byte by byte", &ta, &tc);
	read_replies(p, n, rnd, &tr);
	check_same("random chunks", &ta, &tr);
	free(ta.b);
	free(tb.b);
	free(tc.b);
	free(tr.b);
	free(ones);
	free(rnd);
	free(p);
	return 0;
}
